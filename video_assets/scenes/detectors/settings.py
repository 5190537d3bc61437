"""Which shot detector runs and with what parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DetectorName = Literal["hybrid", "content", "adaptive", "transnetv2"]


@dataclass(frozen=True)
class DetectorSettings:
    """Which shot detector runs and with what parameters.

    Args:
        detector: ``hybrid`` (the default: ContentDetector candidates at any spacing with
            flashes and strobes removed by looking at both sides, see
            :mod:`video_assets.scenes.detectors.hybrid`), ``content`` (PySceneDetect's
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
        from video_assets.scenes.detectors import DETECTORS

        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {sorted(DETECTORS)}, got {self.detector!r}")
        top = DETECTORS[self.detector].max_threshold
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
        from video_assets.scenes.detectors import detector_for

        return detector_for(self).threshold

    @property
    def effective_min_scene_len(self) -> int:
        from video_assets.scenes.detectors import detector_for

        return detector_for(self).min_scene_len
