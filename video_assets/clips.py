"""Shot-pure clips: one file per scene, cut by ffmpeg stream copy where that is exact.

A stream-copied clip must start on a keyframe (an MP4 that starts elsewhere hides frames
behind an edit list that many loaders ignore), so its start moves forward to the first
keyframe inside the scene. Its end is the longest run of packets, in decode order from that
keyframe, whose frames all lie before the next scene and form a contiguous run in
presentation order: no B-frame of the clip refers to a frame of the next shot, and no frame
of the next shot is in the file. Every copied clip is verified by demuxing it: its packet
sizes must equal the source's for the frames it claims to hold. Where a scene holds no
keyframe, where the copy would be shorter than the minimum clip length, or where
re-encoding is asked for, the scene is re-encoded frame-exactly.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from video_assets.errors import VideoAssetsError
from video_assets.keyframes import KeyframeIndex, build_index
from video_assets.scenes import Scene
from video_assets.store import sweep_dead_temps, tmp_name
from video_assets.tools import ffmpeg_base, media_arg, run_tool, timeout_for

SplitMode = Literal["copy", "reencode"]
AudioCodec = Literal["alac", "aac"]
AUDIO_CODEC_ARGS: dict[str, list[str]] = {
    "alac": ["-c:a", "alac", "-sample_fmt", "s16p"],
    "aac": ["-c:a", "aac", "-b:a", "128k"],
}


@dataclass(frozen=True)
class ClipSettings:
    """How scenes become clip files.

    Args:
        mode: ``copy`` (stream copy, re-encoding only where copy cannot be exact) or
            ``reencode`` (every clip re-encoded frame-exactly).
        min_duration_s: Scenes shorter than this are not cut (they stay in the scene table,
            flagged); a copy that would come out shorter is re-encoded instead.
        crf: x264 quality of re-encoded clips.
        preset: x264 preset of re-encoded clips.
        audio_codec: How a clip's audio is written. It is always re-encoded, so it starts
            at the sample of the clip's first frame rather than at the nearest copied
            audio frame. ``alac`` (the default) is lossless 16-bit Apple Lossless in the
            MP4: no second lossy generation, and about a third of the time of ``aac``
            (128 kb/s AAC, for players without ALAC, such as Chrome and Firefox).
    """

    mode: SplitMode = "copy"
    min_duration_s: float = 3.0
    crf: int = 18
    preset: str = "veryfast"
    audio_codec: AudioCodec = "alac"

    def __post_init__(self) -> None:
        if self.mode not in ("copy", "reencode"):
            raise ValueError(f"mode must be 'copy' or 'reencode', got {self.mode!r}")
        if not 0.0 <= self.min_duration_s <= 3600.0:
            raise ValueError(f"min_duration_s must be in [0, 3600], got {self.min_duration_s}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in [0, 51], got {self.crf}")
        if self.audio_codec not in AUDIO_CODEC_ARGS:
            raise ValueError(
                f"audio_codec must be one of {sorted(AUDIO_CODEC_ARGS)}, got {self.audio_codec!r}"
            )


@dataclass(frozen=True)
class Clip:
    """One clip file and the source frames it holds."""

    clip_id: str
    path: str
    scene_index: int
    scene_start_frame: int
    scene_end_frame: int
    start_frame: int
    """First source frame in the clip."""
    end_frame: int
    """One past the last source frame in the clip."""
    start_s: float
    end_s: float
    method: str
    leaked_frames: int
    """Frames in the clip that lie outside its scene (must be 0)."""
    lost_frames: int
    """Frames of the scene that are not in the clip."""
    bytes: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_json(self) -> dict:
        return asdict(self)


def copy_span(index: KeyframeIndex, start: int, end: int) -> tuple[int, int] | None:
    """The frames ``[a, b)`` a stream copy of scene ``[start, end)`` can hold exactly.

    ``a`` is the first keyframe at or after ``start``; ``b`` ends the longest decode-order
    run of packets from ``a`` that holds exactly the frames ``a..b-1``, all before ``end``.
    Returns None when no such run exists (no keyframe inside the scene, or an open GOP
    whose leading frames belong before the keyframe).
    """
    a = index.keyframe_at_or_after(start)
    if a is None or a >= end:
        return None
    decode_pos = index.decode_order  # decode position of each frame (presentation order)
    frame_at = np.empty_like(decode_pos)
    frame_at[decode_pos] = np.arange(index.frame_count)  # frame of each decode position
    pos = int(decode_pos[a])
    best = None
    hi = a - 1
    count = 0
    for p in range(pos, index.frame_count):
        f = int(frame_at[p])
        if f >= end or f < a:
            break
        count += 1
        hi = max(hi, f)
        if hi == a + count - 1:  # the packets so far hold exactly frames a..hi
            best = hi + 1
    return None if best is None else (a, best)


def _verify_copy(index: KeyframeIndex, clip: Path, a: int, b: int) -> None:
    """Demux the clip and check that it holds exactly the source's frames a..b-1."""
    got = build_index(clip)
    want = index.sizes[a:b]
    if got.frame_count != b - a or not np.array_equal(got.sizes, want) or not got.is_key[0]:
        raise VideoAssetsError(
            f"stream copy of frames {a}..{b - 1} into {clip} is not exact "
            f"({got.frame_count} frames, first is keyframe: {bool(got.is_key[0])})"
        )


def _run_copy(
    src: Path,
    out: Path,
    index: KeyframeIndex,
    a: int,
    b: int,
    has_audio: bool,
    settings: ClipSettings,
) -> None:
    t0 = index.frame_time(a)
    dur = index.frame_time(b) - t0
    # fmt: off
    args = [
        *ffmpeg_base(),
        # Half a millisecond past the keyframe: the demuxer seeks to the keyframe at or
        # before it, which is `a` itself whatever the rounding of the decimal time.
        "-ss", f"{t0 + 0.0005:.6f}", "-i", media_arg(src),
        "-map", "0:v:0", *(["-map", "0:a:0"] if has_audio else []),
        # Video packets are copied; audio is re-encoded so it is trimmed to the sample at
        # the clip's first frame instead of to the nearest copied audio frame.
        "-c:v", "copy", *AUDIO_CODEC_ARGS[settings.audio_codec], "-frames:v", str(b - a), "-t", f"{dur:.6f}",
        "-avoid_negative_ts", "make_zero", "-map_metadata", "-1",
        "-movflags", "+faststart", "-f", "mp4", media_arg(out),
    ]
    # fmt: on
    run_tool(args, timeout_s=timeout_for(dur), what=f"stream-copying frames {a}..{b - 1} of {src}")


def _run_reencode(
    src: Path,
    out: Path,
    index: KeyframeIndex,
    a: int,
    b: int,
    has_audio: bool,
    settings: ClipSettings,
) -> None:
    t0 = index.frame_time(a)
    dur = index.frame_time(b) - t0
    # Accurate seek decodes from the keyframe before and drops frames earlier than -ss;
    # a quarter frame before frame `a` keeps `a` and drops `a - 1` whatever the rounding.
    quarter = 0.25 / index.fps if index.fps > 0 else 0.001
    # fmt: off
    args = [
        *ffmpeg_base(),
        # -noautorotate: keep the coded orientation and the display matrix, as a stream copy does.
        "-noautorotate", "-ss", f"{max(0.0, t0 - quarter):.6f}", "-i", media_arg(src),
        "-map", "0:v:0", *(["-map", "0:a:0"] if has_audio else []),
        "-frames:v", str(b - a), "-t", f"{dur:.6f}", "-fps_mode", "passthrough",
        # 4:2:0 needs even sizes: an odd width or height loses its last column or row.
        "-vf", "crop=trunc(iw/2)*2:trunc(ih/2)*2:0:0",
        "-c:v", "libx264", "-preset", settings.preset, "-crf", str(settings.crf),
        "-pix_fmt", "yuv420p", *AUDIO_CODEC_ARGS[settings.audio_codec],
        "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", media_arg(out),
    ]
    # fmt: on
    run_tool(
        args,
        timeout_s=timeout_for(dur, per_media_second=20.0),
        what=f"re-encoding frames {a}..{b - 1} of {src}",
    )


def split_video(
    path: str | Path,
    scenes: list[Scene],
    out_dir: str | Path,
    *,
    settings: ClipSettings | None = None,
    index: KeyframeIndex | None = None,
    clip_prefix: str = "",
    has_audio: bool | None = None,
    on_clip: Callable[[Clip, float], None] | None = None,
) -> list[Clip]:
    """Cut one clip per scene of at least ``min_duration_s`` into ``out_dir``.

    Args:
        path: Source video (read only).
        scenes: Scenes covering the video (from :func:`video_assets.scenes.detect_scenes`).
        out_dir: Folder the clips are written to (``<clip_prefix><scene:05d>.mp4``).
        settings: Split mode and thresholds.
        index: The source's keyframe index if already built.
        clip_prefix: Prefix of clip ids (the video id in the pipeline).
        has_audio: Whether to carry the first audio stream; probed when None.
        on_clip: Called after each clip is staged with the clip and the seconds it took
            (cutting and checking); for progress and per-clip timing.

    Returns:
        One :class:`Clip` per clip written, with leaked and lost frame counts measured on
        the written file.
    """
    from video_assets.probe import probe

    settings = settings or ClipSettings()
    src = Path(path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = index or build_index(src)
    if has_audio is None:
        has_audio = bool(probe(src).audio)
    clips: list[Clip] = []
    # Clips are written into a hidden folder and moved into out_dir only once all of them
    # are done, so a failure (or a kill) leaves out_dir as it was.
    sweep_dead_temps(out_dir)  # what a killed earlier split left behind
    stage = out_dir / tmp_name("split")
    stage.mkdir()
    try:
        for scene in scenes:
            t0 = time.perf_counter()
            clip = _split_scene(src, scene, stage, out_dir, index, settings, clip_prefix, has_audio)
            if clip is not None:
                clips.append(clip)
                if on_clip is not None:
                    on_clip(clip, time.perf_counter() - t0)
        for clip in clips:
            os.replace(stage / Path(clip.path).name, clip.path)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return clips


def _split_scene(
    src: Path,
    scene: Scene,
    stage: Path,
    out_dir: Path,
    index: KeyframeIndex,
    settings: ClipSettings,
    clip_prefix: str,
    has_audio: bool,
) -> Clip | None:
    """Cut one scene into ``stage``; the returned clip's path is its place in ``out_dir``."""
    if scene.duration_s < settings.min_duration_s:
        return None
    clip_id = f"{clip_prefix}{scene.index:05d}"
    out = stage / f"{clip_id}.mp4"
    span = copy_span(index, scene.start_frame, scene.end_frame) if settings.mode == "copy" else None
    method = "copy"
    if (
        span is not None
        and index.frame_time(span[1]) - index.frame_time(span[0]) < settings.min_duration_s
    ):
        span = None  # the copy would lose too much of the scene
    if span is not None:
        a, b = span
        _run_copy(src, out, index, a, b, has_audio, settings)
        try:
            _verify_copy(index, out, a, b)
        except VideoAssetsError:
            span = None  # fall through to an exact re-encode
    if span is None:
        method = "reencode"
        a, b = scene.start_frame, scene.end_frame
        _run_reencode(src, out, index, a, b, has_audio, settings)
        got = build_index(out)
        if got.frame_count != b - a:
            raise VideoAssetsError(
                f"re-encoding frames {a}..{b - 1} of {src} gave {got.frame_count} frames, expected {b - a}"
            )
    leaked = max(0, scene.start_frame - a) + max(0, b - scene.end_frame)
    lost = (scene.end_frame - scene.start_frame) - (
        min(b, scene.end_frame) - max(a, scene.start_frame)
    )
    return Clip(
        clip_id=clip_id,
        path=str(out_dir / out.name),
        scene_index=scene.index,
        scene_start_frame=scene.start_frame,
        scene_end_frame=scene.end_frame,
        start_frame=a,
        end_frame=b,
        start_s=index.frame_time(a),
        end_s=index.frame_time(b),
        method=method,
        leaked_frames=leaked,
        lost_frames=lost,
        bytes=out.stat().st_size,
    )
