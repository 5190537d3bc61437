"""Detector settings and construction of the PySceneDetect detectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from scenedetect.detector import FlashFilter, SceneDetector
from scenedetect.detectors import AdaptiveDetector, ContentDetector

DetectorName = Literal["content", "adaptive"]
DEFAULT_THRESHOLDS: dict[str, float] = {"content": 27.0, "adaptive": 3.0}


@dataclass(frozen=True)
class DetectorSettings:
    """Which PySceneDetect detector runs and with what parameters.

    Args:
        detector: ``content`` (ContentDetector) or ``adaptive`` (AdaptiveDetector).
        threshold: ContentDetector ``threshold`` or AdaptiveDetector ``adaptive_threshold``;
            None takes PySceneDetect's default (27.0 or 3.0).
        min_scene_len: Minimum scene length in frames (PySceneDetect ``min_scene_len``).
        min_content_val: AdaptiveDetector ``min_content_val``.
        window_width: AdaptiveDetector ``window_width``.
        luma_only: Compare luma only.
    """

    detector: DetectorName = "content"
    threshold: float | None = None
    min_scene_len: int = 15
    min_content_val: float = 15.0
    window_width: int = 2
    luma_only: bool = False

    def __post_init__(self) -> None:
        if self.detector not in DEFAULT_THRESHOLDS:
            raise ValueError(
                f"detector must be one of {sorted(DEFAULT_THRESHOLDS)}, got {self.detector!r}"
            )
        if self.threshold is not None and not (0.0 < self.threshold <= 255.0):
            raise ValueError(f"threshold must be in (0, 255], got {self.threshold}")
        if self.min_scene_len < 0:
            raise ValueError(f"min_scene_len must be >= 0 frames, got {self.min_scene_len}")
        if self.window_width < 1:
            raise ValueError(f"window_width must be >= 1, got {self.window_width}")

    @property
    def effective_threshold(self) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.detector]

    def build(self, min_scene_len: int | None = None) -> SceneDetector:
        """A fresh PySceneDetect detector; ``min_scene_len`` overrides the setting."""
        msl = self.min_scene_len if min_scene_len is None else min_scene_len
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
        is not in ``raw_cuts`` is below threshold: ContentDetector's FlashFilter (merge mode)
        or AdaptiveDetector's suppression.
        """
        cuts = sorted(set(raw_cuts))
        if self.min_scene_len <= 0:
            return cuts
        if self.detector == "adaptive":
            kept: list[int] = []
            last = 0
            for c in cuts:
                if c - last >= self.min_scene_len:
                    kept.append(c)
                    last = c
            return kept
        from scenedetect.common import FrameTimecode

        flt = FlashFilter(mode=FlashFilter.Mode.MERGE, length=self.min_scene_len)
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
