"""Decoding frames at detection resolution with PyAV.

Frames are scaled and converted to BGR by libswscale in one pass (cheaper than converting
at full resolution and resizing in OpenCV), decoded with frame threading, and numbered by
looking their timestamps up in the keyframe index, so variable-rate material keeps exact
frame numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from video_assets.errors import MediaError
from video_assets.keyframes import KeyframeIndex, open_input

DETECTION_WIDTH = 256
"""Frames are scaled to at least this width, as PySceneDetect's auto-downscale does."""


def detection_size(width: int, height: int, min_width: int = DETECTION_WIDTH) -> tuple[int, int]:
    """Width and height frames are scaled to for detection (PySceneDetect's default factor)."""
    if width <= min_width:
        return width, height
    factor = width / float(min_width)
    return max(2, round(width / factor)), max(2, round(height / factor))


@dataclass
class DecodeStats:
    """How many frames were decoded, for honest reporting."""

    frames_decoded: int = 0
    seeks: int = 0


class FrameReader:
    """Decodes a video stream at detection resolution.

    Args:
        index: The keyframe index of the file (used to number frames by timestamp).
        stats: Counter updated with every decoded frame.
        threads: Decoder threads (0 lets FFmpeg choose).
    """

    def __init__(self, index: KeyframeIndex, stats: DecodeStats | None = None, threads: int = 0):
        self.index = index
        self.stats = stats if stats is not None else DecodeStats()
        self.threads = threads
        self._container = open_input(index.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._stream.codec_context.thread_count = threads
        self.size = detection_size(
            self._stream.codec_context.width, self._stream.codec_context.height
        )
        tb = float(self._stream.time_base) if self._stream.time_base else 0.0
        self._tb = tb
        start = self._container.start_time
        self._start_s = (start / 1_000_000) if start is not None else 0.0

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _frame_number(self, frame: av.VideoFrame, fallback: int) -> int:
        if frame.pts is None or self._tb == 0.0 or self.index.timestamps == "index":
            return fallback
        t = frame.pts * self._tb - self._start_s
        i = int(np.searchsorted(self.index.pts_s, t - 1e-6))
        if i < self.index.frame_count and abs(self.index.pts_s[i] - t) < 1e-4:
            return i
        return fallback

    def _to_bgr(self, frame: av.VideoFrame) -> np.ndarray:
        w, h = self.size
        return frame.to_ndarray(width=w, height=h, format="bgr24")

    def keyframes(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(frame_number, bgr)`` for keyframes only; other frames are not decoded."""
        self._stream.codec_context.skip_frame = "NONKEY"
        try:
            if self.stats.frames_decoded or self.stats.seeks:
                self._container.seek(0, stream=self._stream)
                self.stats.seeks += 1
            k = 0
            for frame in self._decode():
                n = self._frame_number(
                    frame,
                    int(self.index.keyframe_frames[min(k, len(self.index.keyframe_frames) - 1)]),
                )
                k += 1
                self.stats.frames_decoded += 1
                yield n, self._to_bgr(frame)
        finally:
            self._stream.codec_context.skip_frame = "DEFAULT"

    def frames(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(frame_number, bgr)`` for frames in ``[start, stop)``.

        Decoding starts at the keyframe at or before ``start``; frames decoded before
        ``start`` are counted in ``frames_decoded`` but not yielded.
        """
        kf = self.index.keyframe_at_or_before(start)
        kf = 0 if kf is None else kf
        if kf > 0 or self.stats.frames_decoded or self.stats.seeks:
            target = self.index.pts_s[kf] + self._start_s
            self._container.seek(
                int(round(target / self._tb)) if self._tb else 0,
                stream=self._stream,
                backward=True,
                any_frame=False,
            )
            self.stats.seeks += 1
        expected = kf
        for frame in self._decode():
            n = self._frame_number(frame, expected)
            expected = n + 1
            self.stats.frames_decoded += 1
            if n >= stop:
                break
            if n >= start:
                yield n, self._to_bgr(frame)

    def _decode(self) -> Iterator[av.VideoFrame]:
        try:
            for packet in self._container.demux(self._stream):
                yield from packet.decode()
        except av.error.FFmpegError as exc:
            raise MediaError(self.index.path, f"cannot be decoded ({exc})") from None
