"""Decoding a few frames of a video by frame number, cheaply.

Targets are visited in order. For each one the decoder either runs on from where it is or
seeks to the keyframe at or before the target, whichever decodes fewer frames: it seeks
only when that keyframe lies past the frames already decoded. A handful of targets spread
over a long video then costs a GOP each at most, and targets close together cost one
forward pass. Frames are numbered by looking their timestamps up in the keyframe index, as
the scene detector does, and scaled by libswscale straight to the requested size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import av
import numpy as np

from video_assets.errors import MediaError
from video_assets.keyframes import KeyframeIndex, build_index, first_video_stream, open_input
from video_assets.scenes.frames import DecodeStats


def display_size(stream: av.video.stream.VideoStream) -> tuple[int, int]:
    """Width and height as shown: the coded size with the sample aspect ratio applied."""
    cc = stream.codec_context
    w, h = cc.width, cc.height
    sar = stream.sample_aspect_ratio
    if sar and sar.numerator > 0 and sar.denominator > 0 and sar != 1:
        w = max(1, round(w * sar.numerator / sar.denominator))
    return w, h


def scaled_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    """``(target_width, h)`` keeping the aspect ratio, ``h`` even and at least 2."""
    h = max(2, round(target_width * height / max(width, 1) / 2) * 2)
    return target_width, h


def grab_frames(
    path: str | Path,
    frames: Iterable[int],
    *,
    width: int,
    index: KeyframeIndex | None = None,
    stats: DecodeStats | None = None,
) -> dict[int, np.ndarray]:
    """RGB frames of ``path`` at the given frame numbers, scaled to ``width`` pixels wide.

    Args:
        path: A video file.
        frames: Frame numbers in presentation order (duplicates and order do not matter).
        width: Output width; the height keeps the display aspect ratio.
        index: The file's keyframe index if already built.
        stats: Counter of decoded frames and seeks, updated as frames are decoded.

    Returns:
        ``{frame: (h, width, 3) uint8 array}`` for every requested frame.

    Raises:
        ValueError: a frame number is outside the video, or ``width`` is below 2.
        MediaError: the file cannot be read, or a requested frame was not decoded.
    """
    if width < 2:
        raise ValueError(f"width must be >= 2, got {width}")
    index = index or build_index(path)
    targets = sorted(set(int(f) for f in frames))
    if targets and not (targets[0] >= 0 and targets[-1] < index.frame_count):
        raise ValueError(
            f"frame numbers must be in [0, {index.frame_count - 1}] for {path}, got {targets[0]}..{targets[-1]}"
        )
    stats = stats if stats is not None else DecodeStats()
    out: dict[int, np.ndarray] = {}
    if not targets:
        return out
    with open_input(path) as container:
        stream = first_video_stream(container, path)
        stream.thread_type = "AUTO"
        tb = float(stream.time_base) if stream.time_base else 0.0
        start_s = (container.start_time / 1_000_000) if container.start_time is not None else 0.0
        size = scaled_size(*display_size(stream), width)

        def number(frame: av.VideoFrame, fallback: int) -> int:
            if frame.pts is None or tb == 0.0 or index.timestamps == "index":
                return fallback
            n = index.frame_at(frame.pts * tb - start_s)
            return fallback if n is None else n

        def decode() -> Iterator[av.VideoFrame]:
            try:
                for packet in container.demux(stream):
                    yield from packet.decode()
            except av.error.FFmpegError as exc:
                raise MediaError(path, f"cannot be decoded ({exc})") from None

        frames_it: Iterator[av.VideoFrame] | None = None
        pos = -1  # the last frame decoded
        for target in targets:
            kf = index.keyframe_at_or_before(target) or 0
            if frames_it is None or kf > pos + 1 or target <= pos:
                if kf > 0 or frames_it is not None:
                    seek_to = index.pts_s[kf] + start_s
                    container.seek(
                        int(round(seek_to / tb)) if tb else 0,
                        stream=stream,
                        backward=True,
                        any_frame=False,
                    )
                    stats.seeks += 1
                frames_it = decode()
                pos = kf - 1
            for frame in frames_it:
                n = number(frame, pos + 1)
                pos = n
                stats.frames_decoded += 1
                if n >= target:
                    # n > target only when timestamps disagree with the index; the frame
                    # decoded at the target's place is the honest picture to show.
                    w, h = size
                    out[target] = frame.to_ndarray(
                        width=w, height=h, format="rgb24", interpolation="AREA"
                    )
                    break
            else:
                raise MediaError(
                    path, f"frame {target} could not be decoded (stream ended at frame {pos})"
                )
    return out
