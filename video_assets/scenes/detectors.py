"""Detector settings and construction of the PySceneDetect detectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from scenedetect.detector import FlashFilter, SceneDetector
from scenedetect.detectors import AdaptiveDetector, ContentDetector

DetectorName = Literal["hybrid", "content", "adaptive", "transnetv2"]
DEFAULT_THRESHOLDS: dict[str, float] = {
    "hybrid": 27.0,
    "content": 27.0,
    "adaptive": 3.0,
    "transnetv2": 0.5,
}
DEFAULT_MIN_SCENE_LEN: dict[str, int] = {
    "hybrid": 3,
    "content": 15,
    "adaptive": 15,
    "transnetv2": 3,
}
"""PySceneDetect's 15 frames for its own detectors; 3 where flashes are told apart otherwise."""


@dataclass(frozen=True)
class DetectorSettings:
    """Which shot detector runs and with what parameters.

    Args:
        detector: ``hybrid`` (the default: ContentDetector candidates at any spacing with
            flashes and strobes removed by looking at both sides, see
            :mod:`video_assets.scenes.hybrid`), ``content`` (PySceneDetect's
            ContentDetector), ``adaptive`` (AdaptiveDetector) or ``transnetv2`` (the
            TransNetV2 network with its packaged weights).
        threshold: ContentDetector ``threshold`` (hybrid and content), AdaptiveDetector
            ``adaptive_threshold``, or TransNetV2's transition probability; None takes the
            default (27.0, 27.0, 3.0, 0.5).
        min_scene_len: Minimum scene length in frames; None takes the detector's default
            (3 for hybrid and transnetv2, PySceneDetect's 15 for content and adaptive).
        max_flash_frames: Hybrid only: the longest flash (a run of frames after which
            the picture returns to the one before it).
        min_content_val: AdaptiveDetector ``min_content_val``.
        window_width: AdaptiveDetector ``window_width``.
        luma_only: Compare luma only.
    """

    detector: DetectorName = "hybrid"
    threshold: float | None = None
    min_scene_len: int | None = None
    max_flash_frames: int = 2
    min_content_val: float = 15.0
    window_width: int = 2
    luma_only: bool = False

    def __post_init__(self) -> None:
        if self.detector not in DEFAULT_THRESHOLDS:
            raise ValueError(
                f"detector must be one of {sorted(DEFAULT_THRESHOLDS)}, got {self.detector!r}"
            )
        top = 1.0 if self.detector == "transnetv2" else 255.0
        if self.threshold is not None and not (0.0 < self.threshold <= top):
            raise ValueError(f"threshold must be in (0, {top:g}], got {self.threshold}")
        if self.min_scene_len is not None and self.min_scene_len < 0:
            raise ValueError(f"min_scene_len must be >= 0 frames, got {self.min_scene_len}")
        if not 0 <= self.max_flash_frames <= 12:
            raise ValueError(f"max_flash_frames must be in [0, 12], got {self.max_flash_frames}")
        if self.window_width < 1:
            raise ValueError(f"window_width must be >= 1, got {self.window_width}")

    @property
    def effective_threshold(self) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.detector]

    @property
    def effective_min_scene_len(self) -> int:
        if self.min_scene_len is not None:
            return self.min_scene_len
        return DEFAULT_MIN_SCENE_LEN[self.detector]

    @property
    def context_frames(self) -> tuple[int, int]:
        """Frames a detector must see before and after a frame to judge it the way a full
        pass does (the cascade widens its decode ranges by these)."""
        if self.detector == "adaptive":
            return 0, self.window_width
        if self.detector == "hybrid":
            return 0, self.max_flash_frames
        if self.detector == "transnetv2":
            return 75, 75  # a whole TransNetV2 window on either side
        return 0, 0

    @property
    def keyframe_score(self) -> float:
        """The content score at which level 1 takes two keyframes for different shots: the
        detector's own threshold where it is a content score, else ContentDetector's."""
        if self.detector == "adaptive":
            return self.min_content_val
        if self.detector == "transnetv2":
            return DEFAULT_THRESHOLDS["content"]
        return self.effective_threshold

    @property
    def looks_back_only(self) -> bool:
        """Whether a frame's verdict needs no frame more than a few ahead, so level 2 may
        leave a GOP early (AdaptiveDetector's rolling average and TransNetV2's windows look
        further ahead)."""
        return self.detector in ("content", "hybrid")

    def build(self, min_scene_len: int | None = None, frame_count: int = 0) -> SceneDetector:
        """A fresh detector; ``min_scene_len`` overrides the setting, ``frame_count`` is the
        length of the whole video (TransNetV2 pads its last window only there)."""
        msl = self.effective_min_scene_len if min_scene_len is None else min_scene_len
        if self.detector == "hybrid":
            from video_assets.scenes.hybrid import HybridDetector

            return HybridDetector(
                threshold=self.effective_threshold,
                min_scene_len=msl,
                max_flash_frames=self.max_flash_frames,
                luma_only=self.luma_only,
            )
        if self.detector == "transnetv2":
            from video_assets.scenes.transnet import TransNetV2Detector

            return TransNetV2Detector(
                threshold=self.effective_threshold, min_scene_len=msl, frame_count=frame_count
            )
        if self.detector == "content":
            return ContentDetector(
                threshold=self.effective_threshold, min_scene_len=msl, luma_only=self.luma_only
            )
        return AdaptiveDetector(
            adaptive_threshold=self.effective_threshold,
            min_scene_len=msl,
            window_width=self.window_width,
            min_content_val=self.min_content_val,
            luma_only=self.luma_only,
        )

    def filter_cuts(self, raw_cuts: list[int], frame_count: int) -> list[int]:
        """Apply the detector's minimum-scene-length filter to unfiltered cut frames.

        Replays exactly what the detector does over the whole video when every frame that
        is not in ``raw_cuts`` is below threshold: ContentDetector's FlashFilter (merge mode),
        or for the others a cut kept only that many frames after the last kept one.
        """
        cuts = sorted(set(raw_cuts))
        msl = self.effective_min_scene_len
        if msl <= 0:
            return cuts
        if self.detector != "content":
            from video_assets.scenes.hybrid import keep_spaced

            return keep_spaced(cuts, msl)
        from scenedetect.common import FrameTimecode

        flt = FlashFilter(mode=FlashFilter.Mode.MERGE, length=msl)
        above = set(cuts)
        out: list[int] = []
        for f in range(frame_count):  # cheap: no decoding, only the filter's state machine
            for tc in flt.filter(FrameTimecode(f, 1000.0), f in above):
                out.append(tc.frame_num)
        return out


def frame_score_hsv(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HSV planes as ContentDetector computes them."""
    h, s, v = cv2.split(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV))
    return h, s, v


def content_distance(a: np.ndarray, b: np.ndarray, luma_only: bool = False) -> float:
    """ContentDetector's frame score between two BGR images (mean HSV distance)."""
    ha, sa, va = frame_score_hsv(a)
    hb, sb, vb = frame_score_hsv(b)

    def mpd(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.abs(x.astype(np.int32) - y.astype(np.int32)).mean())

    if luma_only:
        return mpd(va, vb)
    return (mpd(ha, hb) + mpd(sa, sb) + mpd(va, vb)) / 3.0


def hsv_histogram(bgr: np.ndarray) -> np.ndarray:
    """Normalised 16x4x4-bin HSV histogram of a BGR image."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [16, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
    return hist / max(float(hist.sum()), 1.0)
