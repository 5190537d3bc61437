"""Motion from the decoded pictures, for streams whose decoder exports no vectors.

Intra-only codecs (MJPEG, ProRes, DNxHD, intra MPEG-2), HEVC, VP9, AV1 and streams whose
vectors are missing: consecutive frames, scaled to the analysis resolution, are compared by
OpenCV's DIS optical flow (its ultrafast preset: a coarse-to-fine patch search, about a
millisecond a frame at 320x180), and the flow is averaged over 8x8-pixel blocks to make a
field like the codec's. Where the decoder can decode at a reduced resolution (MJPEG's
``lowres``), it does.
"""

from __future__ import annotations

import math

import av
import cv2
import numpy as np
from av.video.codeccontext import VideoCodecContext

from video_assets.motion.field import VectorField
from video_assets.motion.source import MotionSource

LOWRES_CODECS = frozenset({"mjpeg"})
"""Decoders with FFmpeg's ``lowres`` option (1/2, 1/4, 1/8 size while decoding)."""

_BLOCK = 8


class FrameDifference(MotionSource):
    """Fields from dense optical flow between consecutive analysis frames."""

    method = "framediff"

    def __init__(self, width: int, height: int):
        super().__init__(width, height)
        self._previous: np.ndarray | None = None
        self._flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        bw, bh = width // _BLOCK, height // _BLOCK
        ys, xs = np.mgrid[0:bh, 0:bw]
        self._x = ((xs + 0.5) * _BLOCK).ravel().astype(np.float32)
        self._y = ((ys + 0.5) * _BLOCK).ravel().astype(np.float32)
        self._w = np.ones(bw * bh, np.float32)
        self._shape = (bh, bw)
        self._buffer = np.zeros((height, width, 2), np.float32)

    def open(self, ctx: VideoCodecContext) -> dict[str, str]:
        if ctx.name in LOWRES_CODECS and ctx.width > self.width:
            level = min(3, int(math.log2(ctx.width / self.width)))
            if level > 0:
                return {"lowres": str(level)}
        return {}

    def field(self, frame: av.VideoFrame, small: np.ndarray, index: int) -> VectorField | None:
        previous, self._previous = self._previous, small
        if previous is None:
            return None
        flow = self._flow.calc(previous, small, self._buffer)
        bh, bw = self._shape
        blocks = flow[: bh * _BLOCK, : bw * _BLOCK].reshape(bh, _BLOCK, bw, _BLOCK, 2)
        mean = blocks.mean(axis=(1, 3)).reshape(-1, 2)
        return VectorField(
            index=index,
            span=1,
            x=self._x,
            y=self._y,
            u=mean[:, 0].copy(),
            v=mean[:, 1].copy(),
            w=self._w,
        )
