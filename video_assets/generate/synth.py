"""Synthetic videos with shot cuts at known frames, made with ffmpeg lavfi sources.

Used by the tests, the benchmarks and the sample job. Every shot is a different lavfi
source, hue and motion, so a detector has something real to find; the cut frames are known
exactly because every shot is trimmed to an exact frame count before concatenation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from video_assets.tools import ffmpeg_base, media_arg, run_tool

Encoding = Literal["scenecut", "fixed_gop"]

# Backgrounds: mostly still, as in interviews, lectures and vlogs; each shot adds a moving
# object and sensor-like noise on top, so frames inside a shot change a little and a cut
# changes everything.
_BACKGROUNDS = [
    "smptehdbars=s={w}x{h}:r={fps}",
    "color=c=0x{c0}:s={w}x{h}:r={fps},drawgrid=w={g}:h={g}:t=2:c=0x{c1}",
    "rgbtestsrc=s={w}x{h}:r={fps}",
    "gradients=s={w}x{h}:r={fps}:c0=0x{c0}:c1=0x{c1}:speed=0.002:seed={seed}",
    "pal100bars=s={w}x{h}:r={fps}",
    "color=c=0x{c1}:s={w}x{h}:r={fps},drawbox=x={bx}:y={by}:w={bw}:h={bh}:c=0x{c0}:t=fill",
    "testsrc=s={w}x{h}:r={fps}",
    "gradients=s={w}x{h}:r={fps}:c0=0x{c1}:c1=0x{c0}:type=radial:speed=0.002:seed={seed}",
]


@dataclass
class SyntheticVideo:
    """A generated video and its ground truth."""

    path: Path
    fps: int
    frame_count: int
    cuts: list[int]
    """First frame of every shot after the first."""
    shot_hues: list[int] = field(default_factory=list)
    encoding: str = "scenecut"

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps


def _shot_source(
    k: int, frames: int, w: int, h: int, fps: int, rng: random.Random
) -> tuple[str, int]:
    """A lavfi graph for shot ``k``: background, a moving object, noise, exact frame count."""
    c0 = f"{rng.randrange(1 << 24):06x}"
    c1 = f"{rng.randrange(1 << 24):06x}"
    bg = _BACKGROUNDS[k % len(_BACKGROUNDS)].format(
        w=w,
        h=h,
        fps=fps,
        c0=c0,
        c1=c1,
        seed=rng.randrange(1 << 30),
        g=max(8, w // 16),
        bx=w // 5,
        by=h // 5,
        bw=w // 3,
        bh=h // 3,
    )
    hue = (k * 137) % 360  # consecutive shots differ by a large hue step
    ow, oh = max(16, w // 4 // 2 * 2), max(16, h // 4 // 2 * 2)
    phase = rng.uniform(0, 6.28)
    graph = (
        f"{bg},format=yuv420p,hue=h={hue}[bg];"
        f"testsrc2=s={ow}x{oh}:r={fps}[fg];"
        f"[bg][fg]overlay=x='(W-w)/2+(W-w)/3*sin(t*0.6+{phase:.2f})':"
        f"y='(H-h)/2+(H-h)/3*cos(t*0.4+{phase:.2f})',"
        f"noise=alls=5:allf=t,trim=end_frame={frames},setpts=N/({fps}*TB)"
    )
    return graph, hue


def make_shots_video(
    out: str | Path,
    shot_frames: list[int],
    *,
    size: tuple[int, int] = (320, 180),
    fps: int = 25,
    encoding: Encoding = "scenecut",
    gop: int = 250,
    audio: Literal["tone", "none"] | Path = "tone",
    fade_frames: int = 0,
    crf: int = 23,
    preset: str = "veryfast",
    seed: int = 0,
    shot_styles: list[int] | None = None,
    flashes: list[tuple[int, int]] | None = None,
) -> SyntheticVideo:
    """Render shots of the given frame counts, concatenated, as H.264 MP4.

    Args:
        out: Output path.
        shot_frames: Frame count of each shot.
        size: Width and height.
        fps: Frame rate.
        encoding: ``scenecut`` lets x264 put keyframes on cuts (its default); ``fixed_gop``
            places a keyframe every ``gop`` frames only, so most cuts fall mid-GOP.
        gop: Maximum (scenecut) or exact (fixed_gop) keyframe interval.
        audio: ``tone`` (a tone whose pitch changes with every shot), ``none``, or a WAV to mux.
        fade_frames: When > 0, the transition into the second shot is a cross-fade of
            this many frames instead of a cut (cuts[0] is then the fade's middle frame).
        crf: x264 quality.
        preset: x264 preset (``veryfast`` keeps B-frames and scene-cut detection on).
        seed: Makes colours and motion reproducible.
        shot_styles: Look of each shot (background, colours, hue); equal numbers give
            lookalike shots, as in shot/reverse-shot footage. Default: every shot differs.
        flashes: ``(first frame, frame count)`` of each camera flash: those frames are
            washed out towards white (brightened, colour pulled to grey) and the picture
            returns afterwards. Flashes are not cuts (``cuts`` does not list them).
    """
    out = Path(out)
    args = ffmpeg_base()
    inputs, graph, hues = _shots_graph(shot_frames, size, fps, seed, shot_styles, fade_frames)
    args += inputs
    if flashes:
        lit = "+".join(f"between(n,{a},{a + k - 1})" for a, k in flashes)
        graph = graph.removesuffix("[v]") + (
            f"[cv];[cv]lutyuv=y='val/3+170':u='(val-128)/4+128':v='(val-128)/4+128'"
            f":enable='{lit}'[v]"
        )
    total, cuts = _shot_cuts(shot_frames, fade_frames)
    audio_in, amap = _audio_args(audio, cuts, total, fps, len(shot_frames))
    args += audio_in
    x264 = ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
    if encoding == "fixed_gop":
        x264 += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    else:
        x264 += ["-g", str(gop)]
    # fmt: off
    args += ["-filter_complex", graph, "-map", "[v]", *amap, *x264, "-frames:v", str(total),
             "-movflags", "+faststart", media_arg(out)]
    # fmt: on
    run_tool(args, timeout_s=120 + total / fps * 10, what=f"rendering {out}")
    return SyntheticVideo(
        path=out, fps=fps, frame_count=total, cuts=cuts, shot_hues=hues, encoding=encoding
    )


def _shots_graph(
    shot_frames: list[int],
    size: tuple[int, int],
    fps: int,
    seed: int,
    shot_styles: list[int] | None,
    fade_frames: int,
) -> tuple[list[str], str, list[int]]:
    """The lavfi inputs of the shots, the filter graph joining them into ``[v]`` (a
    cross-fade into the second shot when ``fade_frames``), and each shot's hue."""
    w, h = size
    rng = random.Random(seed)
    inputs: list[str] = []
    parts: list[str] = []
    hues: list[int] = []
    for k, frames in enumerate(shot_frames):
        style = k if shot_styles is None else shot_styles[k]
        shot_rng = rng if shot_styles is None else random.Random(seed * 1000 + style)
        graph, hue = _shot_source(style, frames, w, h, fps, shot_rng)
        hues.append(hue)
        inputs += ["-f", "lavfi", "-i", graph]
        parts.append(f"[{k}:v]null[s{k}]")
    n = len(shot_frames)
    if fade_frames and n >= 2:
        offset = (shot_frames[0] - fade_frames) / fps
        graph = ";".join(parts) + (
            f";[s0][s1]xfade=transition=fade:duration={fade_frames / fps}:offset={offset}[x01]"
        )
        rest = "".join(f"[s{k}]" for k in range(2, n))
        graph += f";[x01]{rest}concat=n={n - 1}:v=1:a=0[v]"
    else:
        graph = (
            ";".join(parts)
            + ";"
            + "".join(f"[s{k}]" for k in range(n))
            + f"concat=n={n}:v=1:a=0[v]"
        )
    return inputs, graph, hues


def _shot_cuts(shot_frames: list[int], fade_frames: int) -> tuple[int, list[int]]:
    """The video's frame count and the first frame of each shot after the first."""
    n = len(shot_frames)
    total = sum(shot_frames) - (fade_frames if fade_frames and n >= 2 else 0)
    cuts: list[int] = []
    acc = 0
    for frames in shot_frames[:-1]:
        acc += frames
        cuts.append(acc)
    if fade_frames and n >= 2:
        # xfade overlaps the first two shots by fade_frames; later cuts shift back.
        cuts = [shot_frames[0] - fade_frames // 2] + [c - fade_frames for c in cuts[1:]]
    return total, cuts


def _audio_args(
    audio: Literal["tone", "none"] | Path, cuts: list[int], total: int, fps: int, index: int
) -> tuple[list[str], list[str]]:
    """The audio input (input number ``index``) and its mapping: a tone stepping in pitch
    with each shot, none, or a WAV."""
    if audio == "tone":
        # Pitch steps with each shot so a clip's audio can be checked against its video.
        bounds = [0, *cuts, total]
        expr = "+".join(
            f"(between(t,{a / fps},{b / fps})*sin(2*PI*{220 + 55 * (i % 8)}*t))"
            for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
        )
        return (
            ["-f", "lavfi", "-i", f"aevalsrc='0.3*({expr})':s=48000:d={total / fps}"],
            ["-map", f"{index}:a", "-c:a", "aac", "-b:a", "96k"],
        )
    if audio != "none":
        return (
            ["-i", media_arg(audio)],
            ["-map", f"{index}:a", "-c:a", "aac", "-b:a", "96k", "-shortest"],
        )
    return [], []


def random_shot_lengths(
    total_s: float, min_s: float, max_s: float, fps: int, seed: int = 0
) -> list[int]:
    """Shot lengths in frames, uniform in [min_s, max_s], summing to about ``total_s``."""
    rng = random.Random(seed)
    frames: list[int] = []
    remaining = int(total_s * fps)
    while remaining > 0:
        f = int(rng.uniform(min_s, max_s) * fps)
        f = min(f, remaining)
        if remaining - f < int(min_s * fps):
            f = remaining
        frames.append(f)
        remaining -= f
    return frames


def transcode(src: str | Path, out: str | Path, video_args: list[str], audio: bool = False) -> Path:
    """Re-encode the video of ``src`` into ``out`` with ``video_args`` (codec, GOP, flags);
    the container follows ``out``'s extension. Frame count and timing are kept."""
    out = Path(out)
    audio_args = ["-c:a", "mp2" if out.suffix in (".mpg", ".ts") else "aac"] if audio else ["-an"]
    # fmt: off
    args = [*ffmpeg_base(), "-i", media_arg(src), "-map", "0:v:0", *(["-map", "0:a:0?"] if audio else []),
            *video_args, *audio_args, "-map_metadata", "-1", media_arg(out)]
    # fmt: on
    run_tool(args, timeout_s=300, what=f"transcoding {src} to {out}")
    return out


def damage_frames(src: str | Path, out: str | Path, frames: list[int], seed: int = 0) -> Path:
    """Copy ``src`` to ``out`` with random bytes over the second half of the video packets
    of ``frames`` (presentation order): damage a decoder conceals, as in real archives."""
    import av

    out = Path(out)
    with av.open(str(src)) as c:
        stream = c.streams.video[0]
        packets = sorted(
            (
                (p.pts if p.pts is not None else p.dts or 0, p.pos, p.size)
                for p in c.demux(stream)
                if p.size
            ),
        )
    rng = random.Random(seed)
    data = bytearray(Path(src).read_bytes())
    for f in frames:
        _, pos, size = packets[f]
        if pos is None or pos < 0:
            raise ValueError(f"frame {f} of {src} has no byte position")
        start = pos + size // 2
        data[start : start + max(8, size // 4)] = bytes(
            rng.randrange(256) for _ in range(max(8, size // 4))
        )
    out.write_bytes(bytes(data))
    return out


_MPEG2 = ("-c:v", "mpeg2video", "-g", "12", "-bf", "2", "-q:v", "3")
_XVID = ("-c:v", "mpeg4", "-vtag", "XVID", "-g", "12", "-bf", "2", "-q:v", "3")
CONTAINER_MATRIX: dict[str, tuple[str, tuple[str, ...], tuple[int, ...]]] = {
    "mpeg2-ps": ("mpg", _MPEG2, ()),
    "mpeg2-ts": ("ts", (*_MPEG2, "-f", "mpegts"), ()),
    "mpeg2-ts-interlaced": (
        "ts",
        (*_MPEG2, "-flags", "+ilme+ildct", "-top", "1", "-f", "mpegts"),
        (),
    ),
    "mpeg4-part2-avi": ("avi", _XVID, ()),
    "msmpeg4v3-avi": ("avi", ("-c:v", "msmpeg4", "-g", "12", "-q:v", "3"), ()),
    "vp9-webm": (
        "webm",
        (
            "-c:v",
            "libvpx-vp9",
            "-g",
            "24",
            "-b:v",
            "600k",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
        ),
        (),
    ),
    "hevc-mkv": (
        "mkv",
        ("-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none:keyint=24"),
        (),
    ),
    "h264-open-gop-mp4": (
        "mp4",
        ("-c:v", "libx264", "-preset", "veryfast", "-x264-params", "open-gop=1:keyint=24"),
        (),
    ),
    "h264-vfr-mkv": (
        "mkv",
        (
            "-vf",
            "setpts='N/25/TB+0.012*sin(N)/TB'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
            "-g",
            "24",
        ),
        (),
    ),
    "mpeg4-avi-damaged": ("avi", _XVID, (48, 58, 61, 104, 106, 186)),
    "mpeg2-ps-damaged": ("mpg", _MPEG2, (30, 58, 104, 200)),
}
"""Containers and codecs of real archives, made from one H.264 video: name -> (extension,
ffmpeg video arguments, frames to damage). With 25 fps shots of 60, 45, 80, 30, 70 and 90
frames the first cut (60) falls on a keyframe of the 12-frame MPEG GOPs."""
CONTAINER_MATRIX_SHOTS = [60, 45, 80, 30, 70, 90]


def make_container_case(base: str | Path, name: str, folder: str | Path) -> Path:
    """One case of :data:`CONTAINER_MATRIX` made from ``base`` into ``folder``."""
    ext, video_args, damaged = CONTAINER_MATRIX[name]
    folder = Path(folder)
    path = transcode(base, folder / f"{name}.{ext}", list(video_args))
    if damaged:
        path = damage_frames(path, folder / f"{name}-hit.{ext}", list(damaged))
    return path
