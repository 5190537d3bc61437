"""Clips of every codec ffmpeg can make here, in its usual container, with and without audio;
damaged frames; the same bytes from every run.

Each source is three solid-colour shots (40, 35 and 50 frames at 25 fps, 160x120) with a
white square moving over them, cut at frames 40 and 75, a keyframe every 20 frames, and a
tone whose pitch changes with the shot. The true scenes are passed to ``split_video``: what is
tested is the cutting, not the detection. Every clip must hold only frames of its own shot
(by colour), exactly as many as it claims, in the container its method allows, with its
audio starting at its first frame (by timestamp, and by the pitch of its first samples).

``pytest -rP tests/test_clip_codecs.py -k "every_codec or table"`` prints the
measured table (codec, container in, containers out, method of each clip).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import av
import numpy as np
import pytest

from video_assets.clips import MP4_COPY_CODECS, Clip, ClipSettings, split_video
from video_assets.keyframes import build_index
from video_assets.scenes import scenes_from_cuts

FPS = 25
SIZE = (160, 120)
SHOTS = (40, 35, 50)
CUTS = (40, 75)
GOP = 20
COLOURS = ((200, 40, 40), (40, 190, 40), (50, 60, 210))
TONES = (440.0, 660.0, 990.0)
"""Hz of each shot's tone: a clip's first samples must be its own shot's pitch."""
SETTINGS = ClipSettings(min_duration_s=1.0)


@dataclass(frozen=True)
class Source:
    """One codec in its usual container."""

    codec: str
    """ffmpeg's name of the codec (what the clip cutter sees)."""
    ext: str
    video: tuple[str, ...]
    audio: tuple[str, ...]
    encoder: str
    """The ffmpeg encoder that must exist for the case to run."""


G = ("-g", str(GOP))
SOURCES = {
    "msmpeg4v3-avi": Source("msmpeg4v3", "avi", ("-c:v", "msmpeg4", *G), ("-c:a", "libmp3lame"), "msmpeg4"),
    "msmpeg4v2-avi": Source("msmpeg4v2", "avi", ("-c:v", "msmpeg4v2", *G), ("-c:a", "libmp3lame"), "msmpeg4v2"),
    "wmv2-wmv": Source("wmv2", "wmv", ("-c:v", "wmv2", *G), ("-c:a", "wmav2"), "wmv2"),
    "mpeg1video-mpg": Source("mpeg1video", "mpg", ("-c:v", "mpeg1video", *G), ("-c:a", "mp2"), "mpeg1video"),
    "mpeg2video-mpg": Source("mpeg2video", "mpg", ("-c:v", "mpeg2video", *G), ("-c:a", "ac3"), "mpeg2video"),
    "mpeg2video-ts": Source("mpeg2video", "ts", ("-c:v", "mpeg2video", *G), ("-c:a", "aac"), "mpeg2video"),
    "mpeg4-avi": Source("mpeg4", "avi", ("-c:v", "mpeg4", *G), ("-c:a", "libmp3lame"), "mpeg4"),
    "h264-mp4": Source("h264", "mp4", ("-c:v", "libx264", "-preset", "veryfast", *G), ("-c:a", "aac"), "libx264"),
    "hevc-mkv": Source(
        "hevc", "mkv", ("-c:v", "libx265", "-preset", "ultrafast", "-x265-params", f"keyint={GOP}:log-level=error"),
        ("-c:a", "ac3"), "libx265",
    ),
    "vp8-webm": Source("vp8", "webm", ("-c:v", "libvpx", "-deadline", "realtime", *G), ("-c:a", "libvorbis"), "libvpx"),
    "vp9-webm": Source(
        "vp9", "webm", ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", *G), ("-c:a", "libopus"),
        "libvpx-vp9",
    ),
    "av1-mkv": Source("av1", "mkv", ("-c:v", "libsvtav1", "-preset", "12", *G), ("-c:a", "libopus"), "libsvtav1"),
    "theora-ogv": Source("theora", "ogv", ("-c:v", "libtheora", *G), ("-c:a", "libvorbis"), "libtheora"),
    "mjpeg-avi": Source("mjpeg", "avi", ("-c:v", "mjpeg", "-q:v", "3"), ("-c:a", "pcm_s16le"), "mjpeg"),
    "prores-mov": Source("prores", "mov", ("-c:v", "prores_ks", "-profile:v", "0"), ("-c:a", "pcm_s16le"), "prores_ks"),
    "ffv1-mkv": Source("ffv1", "mkv", ("-c:v", "ffv1", *G), ("-c:a", "flac"), "ffv1"),
}  # fmt: skip


@cache
def encoders() -> frozenset[str]:
    out = subprocess.run(
        ["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, check=True
    ).stdout
    listed = out.split("------", 1)[-1].splitlines()
    return frozenset(line.split()[1] for line in listed if len(line.split()) > 1)


def make_source(out: Path, src: Source, *, audio: bool) -> Path:
    """Render the three shots with ``src``'s codec into ``out`` (its container by extension)."""
    w, h = SIZE
    parts = [
        f"color=c=0x{r:02x}{g:02x}{b:02x}:s={w}x{h}:r={FPS},trim=end_frame={n},setpts=N/({FPS}*TB)[s{k}]"
        for k, ((r, g, b), n) in enumerate(zip(COLOURS, SHOTS, strict=True))
    ]
    graph = ";".join(parts) + (
        ";[s0][s1][s2]concat=n=3:v=1:a=0[bg];"
        f"color=c=white:s=16x16:r={FPS}[box];"
        "[bg][box]overlay=x='mod(t*70,W-w)':y='mod(t*45,H-h)':shortest=1,format=yuv420p[v]"
    )
    total = sum(SHOTS)
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    if audio:
        t1, t2 = CUTS[0] / FPS, CUTS[1] / FPS
        pitch = f"if(lt(t,{t1}),{TONES[0]},if(lt(t,{t2}),{TONES[1]},{TONES[2]}))"
        args += ["-f", "lavfi", "-i", f"aevalsrc='0.4*sin(2*PI*{pitch}*t)':s=48000:d={total / FPS}"]
    args += ["-filter_complex", graph, "-map", "[v]", *src.video, "-frames:v", str(total)]
    if audio:
        args += ["-map", "0:a", *src.audio]
    proc = subprocess.run([*args, str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Sources built on first use and shared by the module's tests."""
    folder = tmp_path_factory.mktemp("codecs")
    built: dict[tuple[str, bool], Path] = {}

    def get(case: str, audio: bool) -> Path:
        src = SOURCES[case]
        if src.encoder not in encoders():
            pytest.skip(f"this ffmpeg has no {src.encoder} encoder")
        if (case, audio) not in built:
            name = f"{case}{'' if audio else '-silent'}.{src.ext}"
            built[case, audio] = make_source(folder / name, src, audio=audio)
        return built[case, audio]

    return get


def decode_rgb(path: str | Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def shot_of(frame: np.ndarray) -> int:
    """The shot whose colour a frame's median pixel is nearest to (the moving square aside)."""
    median = np.median(frame.reshape(-1, 3), axis=0)
    return int(np.argmin([np.abs(median - np.array(c)).sum() for c in COLOURS]))


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def audio_start(path: str | Path, *, from_video: bool) -> float:
    """Time of the first decoded audio sample, from the first video frame (``from_video``) or
    on the keyframe index's timeline (the container's start time is 0)."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        if from_video:
            zero = float(v.start_time * v.time_base) if v.start_time is not None else 0.0
        else:
            zero = (c.start_time or 0) / 1_000_000
        first = next(c.decode(audio=0))
        return float(first.pts * first.time_base) - zero


def check_audio(clip: Clip, shot: int, source_audio_start: float) -> None:
    """The clip's audio starts at its first frame (or, where the source's audio starts later
    than the clip, as late as there), and its first 0.1 s has the pitch of the clip's shot."""
    want_offset = max(0.0, source_audio_start - clip.start_s)
    # Matroska stores milliseconds; a copy starts its video half a millisecond early.
    got = audio_start(clip.path, from_video=True)
    assert abs(got - want_offset) <= 0.0015, (clip.clip_id, got, want_offset)
    with av.open(clip.path) as c:
        assert len(c.streams.audio) == 1, clip.clip_id
        rate = c.streams.audio[0].codec_context.sample_rate
        chunks: list[np.ndarray] = []
        for frame in c.decode(audio=0):
            chunks.append(frame.to_ndarray()[0])  # mono: planar or packed, one row
            if sum(map(len, chunks)) >= rate // 10:
                break
    first = np.concatenate(chunks)[: rate // 10].astype(np.float64)
    hz = dominant_hz(first, rate)
    want = TONES[shot]
    assert abs(hz - want) < 0.05 * want, (clip.clip_id, hz, want)


def check_clips(
    clips: list[Clip], source: Path, codec: str, audio: bool, settings: ClipSettings
) -> None:
    source_audio_start = audio_start(source, from_video=False) if audio else 0.0
    index_scenes = {c.scene_index for c in clips}
    assert index_scenes == {0, 1, 2}, index_scenes  # every shot is longer than 1 s
    for clip in clips:
        shot = clip.scene_index
        lo = 0 if shot == 0 else CUTS[shot - 1]
        hi = CUTS[shot] if shot < len(CUTS) else sum(SHOTS)
        assert (clip.scene_start_frame, clip.scene_end_frame) == (lo, hi)
        assert lo <= clip.start_frame < clip.end_frame <= hi and clip.leaked_frames == 0
        assert clip.damaged_frames == 0
        assert clip.lost_frames == (hi - lo) - (clip.end_frame - clip.start_frame)
        if clip.method == "copy":
            want = "mkv" if settings.container == "mkv" or codec not in MP4_COPY_CODECS else "mp4"
        else:
            want = "mkv" if settings.container == "mkv" else "mp4"
        assert clip.container == want and Path(clip.path).suffix == f".{want}", clip
        frames = decode_rgb(clip.path)
        assert len(frames) == clip.frame_count, (clip.clip_id, len(frames), clip.frame_count)
        shots = [shot_of(f) for f in frames]
        assert shots == [shot] * len(frames), (clip.clip_id, shots)
        if audio:
            check_audio(clip, shot, source_audio_start)
        else:
            with av.open(clip.path) as c:
                assert not c.streams.audio


ROWS: dict[str, str] = {}


@pytest.mark.parametrize(
    "audio", [pytest.param(True, id="audio"), pytest.param(False, id="silent")]
)
@pytest.mark.parametrize("case", [pytest.param(k, id=k) for k in SOURCES])
def test_every_codec_gets_its_clips(case, audio, sources, tmp_path):
    src = SOURCES[case]
    path = sources(case, audio)
    index = build_index(path)
    scenes = scenes_from_cuts(list(CUTS), index)
    clips = split_video(path, scenes, tmp_path / "copy", settings=SETTINGS, index=index)
    check_clips(clips, path, src.codec, audio, SETTINGS)
    ROWS[f"{case}-{'audio' if audio else 'silent'}"] = (
        f"{src.codec} | {src.ext} | {'/'.join(sorted({c.container for c in clips}))} | "
        + ", ".join(f"{c.method}->{c.container}" for c in clips)
    )


@pytest.mark.parametrize(
    "case,settings",
    [
        pytest.param("msmpeg4v3-avi", ClipSettings(min_duration_s=1.0, container="mp4"), id="divx3-only-mp4"),
        pytest.param("h264-mp4", ClipSettings(min_duration_s=1.0, container="mkv"), id="h264-only-mkv"),
        pytest.param("vp8-webm", ClipSettings(mode="reencode", min_duration_s=1.0), id="vp8-reencode"),
        pytest.param("wmv2-wmv", ClipSettings(mode="reencode", min_duration_s=1.0, container="mkv"), id="wmv2-reencode-mkv"),
    ],
)  # fmt: skip
def test_container_asked_for(case, settings, sources, tmp_path):
    path = sources(case, True)
    clips = split_video(
        path, scenes_from_cuts(list(CUTS), build_index(path)), tmp_path, settings=settings
    )
    check_clips(clips, path, SOURCES[case].codec, True, settings)
    if settings.container == "mp4" and SOURCES[case].codec not in MP4_COPY_CODECS:
        assert {c.method for c in clips} == {"reencode"}
    if settings.mode == "reencode":
        assert {c.method for c in clips} == {"reencode"}


def test_table(request):
    """Prints the codec table the parametrized test measured (run it after them, with -rP)."""
    if not ROWS:
        pytest.skip("run with the codec cases")
    print("\ncase | codec | container in | containers out | clips (method->container)")
    for case, row in ROWS.items():
        print(f"{case} | {row}")


def damage(src: Path, out: Path, frame: int, where: str) -> Path:
    """A copy of ``src`` with one video packet overwritten: its first bytes (``header``: the
    MPEG-4 VOP start code, so the decoder rejects the frame) or 32 bytes in its middle
    (``middle``: the decoder conceals the damage and still returns the frame)."""
    with av.open(str(src)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    pos, size = packets[frame]  # AVI without B-frames: file order is presentation order
    data = bytearray(src.read_bytes())
    at, n, byte = (pos, 6, 0x00) if where == "header" else (pos + size // 2, 32, 0xFF)
    data[at : at + n] = bytes([byte]) * n
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize(
    "frame,where,mode,want",
    [
        # Frame 50 lies inside scene 1 (40..75), between the keyframes at 40 and 60: the copy
        # fails its decode check, the re-encode keeps the other 34 frames with a gap.
        pytest.param(50, "header", "copy", {1: (40, 75, 1, 1)}, id="mid-scene-copy"),
        pytest.param(50, "header", "reencode", {1: (40, 75, 1, 1)}, id="mid-scene-reencode"),
        # The first frame of scene 2 (75..125) lost: frames 76..79 would be decoded from
        # frame 74, of scene 1, so the clip starts at the next keyframe, 80.
        pytest.param(75, "header", "reencode", {2: (80, 125, 0, 5)}, id="first-frame-lost"),
        # Damage the decoder conceals costs no frame: nothing is lost, the copy stands.
        pytest.param(50, "middle", "copy", {1: (40, 75, 0, 0)}, id="concealed"),
    ],
)  # fmt: skip
def test_damaged_frame_costs_that_frame(frame, where, mode, want, sources, tmp_path):
    """``want``: scene -> (start_frame, end_frame, damaged_frames, lost_frames)."""
    path = damage(sources("mpeg4-avi", True), tmp_path / "damaged.avi", frame, where)
    settings = ClipSettings(mode=mode, min_duration_s=1.0)
    index = build_index(path)
    clips = split_video(
        path, scenes_from_cuts(list(CUTS), index), tmp_path / "out", settings=settings, index=index
    )
    assert [c.scene_index for c in clips] == [0, 1, 2]
    source_audio_start = audio_start(path, from_video=False)
    for clip in clips:
        shot = clip.scene_index
        assert clip.leaked_frames == 0
        assert clip.scene_start_frame <= clip.start_frame < clip.end_frame <= clip.scene_end_frame
        if shot in want:
            a, b, damaged, lost = want[shot]
            got = (clip.start_frame, clip.end_frame, clip.damaged_frames, clip.lost_frames)
            assert got == (a, b, damaged, lost), clip
            if damaged or lost:
                assert clip.method == "reencode"
        else:
            assert clip.damaged_frames == 0
        frames = decode_rgb(clip.path)
        assert (
            len(frames)
            == clip.frame_count
            == clip.end_frame - clip.start_frame - clip.damaged_frames
        )
        assert [shot_of(f) for f in frames] == [shot] * len(frames), clip.clip_id
        check_audio(clip, shot, source_audio_start)
        if clip.damaged_frames:
            # The lost frame leaves a gap: the frames after it keep their times (and sync).
            with av.open(clip.path) as c:
                v = c.streams.video[0]
                times = sorted(float(p.pts * v.time_base) for p in c.demux(v) if p.size)
            steps = np.round(np.diff(times) * FPS).astype(int).tolist()
            gap = frame - clip.start_frame - 1
            assert steps == [1] * gap + [2] + [1] * (len(steps) - gap - 1), steps


def test_same_input_same_bytes(sources, tmp_path):
    """Every clip file is bit-identical across runs, in both modes, in MP4 and Matroska, even
    when the second run may use fewer CPUs (x264's output follows its thread count, which it
    otherwise takes from the CPUs the process may use)."""
    files = {
        "divx3": sources("msmpeg4v3-avi", True),  # copies to Matroska, one scene re-encoded
        "h264": sources("h264-mp4", True),
    }

    def run(tag: str) -> dict[str, str]:
        digests = {}
        for name, path in files.items():
            for mode in ("copy", "reencode"):
                index = build_index(path)
                clips = split_video(
                    path,
                    scenes_from_cuts(list(CUTS), index),
                    tmp_path / tag / name / mode,
                    settings=ClipSettings(mode=mode, min_duration_s=1.0),
                    index=index,
                )
                for c in clips:
                    digests[f"{name}/{mode}/{Path(c.path).name}"] = hashlib.sha256(
                        Path(c.path).read_bytes()
                    ).hexdigest()
        return digests

    first = run("first")
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        if cpus is not None and len(cpus) > 1:
            os.sched_setaffinity(0, {min(cpus)})  # ffmpeg inherits it
        second = run("second")
    finally:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
    assert first == second
    assert {k.rsplit(".", 1)[1] for k in first} == {"mp4", "mkv"}
    assert any("/copy/" in k for k in first) and any("/reencode/" in k for k in first)
