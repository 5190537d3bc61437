"""Where a frame's motion comes from: the interface both backends implement.

A source sees every decoded frame once, in display order, and returns the frame's
:class:`~video_assets.motion.field.VectorField` when it has one. The decoding loop
(:mod:`video_assets.motion.measure`) is shared; a source only says which decoder options it
wants and turns frames into fields.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import av
import cv2
import numpy as np
from av.video.codeccontext import VideoCodecContext

from video_assets.motion.field import VectorField

_PLANAR_8BIT = {
    "yuv420p",
    "yuvj420p",
    "yuv422p",
    "yuvj422p",
    "yuv444p",
    "yuvj444p",
    "yuv411p",
    "yuv410p",
    "yuv440p",
    "yuvj440p",
    "gray",
    "nv12",
    "nv21",
}


def luma(frame: av.VideoFrame) -> np.ndarray:
    """The frame's luma as a 2-D uint8 array.

    For 8-bit YUV (nearly every decoder's output) this is a view of the decoder's own
    plane, not a copy or a colour conversion; other formats go through swscale.
    """
    if frame.format.name in _PLANAR_8BIT:
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), np.uint8, count=plane.line_size * frame.height)
        return rows.reshape(frame.height, plane.line_size)[:, : frame.width]
    return frame.to_ndarray(format="gray")


def shrink(gray: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average ``gray`` down to ``width`` x ``height`` (striding first when it is far
    larger, which keeps the cost of a 4K frame near that of a small one)."""
    step = max(1, min(gray.shape[1] // (2 * width), gray.shape[0] // (2 * height)))
    if step > 1:
        gray = gray[::step, ::step]
    return cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)


class MotionSource(ABC):
    """Turns decoded frames into motion fields.

    Attributes:
        method: What the clip's result records (``vectors`` or ``framediff``).
        width: Analysis width, pixels.
        height: Analysis height, pixels.
    """

    method: str

    def __init__(self, width: int, height: int):
        self.width = width
        self.height = height

    @property
    def picture_size(self) -> tuple[int, int]:
        """Size of the grey picture :meth:`field` is handed (default: the analysis
        resolution). A source that needs only a smaller one says so: scaling a decoded frame
        down is the largest cost per frame after decoding it."""
        return self.width, self.height

    def open(self, ctx: VideoCodecContext) -> dict[str, str]:
        """Called once with the stream's decoder before the first packet; returns the
        FFmpeg decoder options this source needs."""
        return {}

    def packet(self, packet: av.Packet) -> None:  # noqa: B027 - optional hook
        """Sees each packet, in decoding order, before it is decoded (default: nothing)."""

    @abstractmethod
    def field(self, frame: av.VideoFrame, small: np.ndarray, index: int) -> VectorField | None:
        """The motion of frame ``index``, or None when it has none.

        Args:
            frame: The decoded frame.
            small: Its luma at :attr:`picture_size` (by default the analysis resolution).
            index: Its position in display order.
        """
