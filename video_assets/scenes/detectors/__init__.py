"""Shot detectors: one module per detector behind one small interface (:class:`Detector`).

:func:`detector_for` gives the detector a :class:`DetectorSettings` names. Heavy
dependencies (TransNetV2's torch) load only when a detector first runs.
"""

from __future__ import annotations

from video_assets.scenes.detectors.adaptive import Adaptive
from video_assets.scenes.detectors.base import (
    Detector,
    content_distance,
    hsv_histogram,
    keep_spaced,
)
from video_assets.scenes.detectors.content import Content
from video_assets.scenes.detectors.hybrid import Hybrid
from video_assets.scenes.detectors.settings import DetectorName, DetectorSettings
from video_assets.scenes.detectors.transnetv2 import TransNetV2

DETECTORS: dict[str, type[Detector]] = {d.name: d for d in (Hybrid, Content, Adaptive, TransNetV2)}
"""Every detector by the name ``DetectorSettings.detector`` selects it with."""
DEFAULT_THRESHOLDS: dict[str, float] = {n: d.default_threshold for n, d in DETECTORS.items()}
DEFAULT_MIN_SCENE_LEN: dict[str, int] = {n: d.default_min_scene_len for n, d in DETECTORS.items()}


def detector_for(settings: DetectorSettings) -> Detector:
    """The detector ``settings`` names, configured by them."""
    return DETECTORS[settings.detector](settings)


__all__ = [
    "DEFAULT_MIN_SCENE_LEN",
    "DEFAULT_THRESHOLDS",
    "DETECTORS",
    "Detector",
    "DetectorName",
    "DetectorSettings",
    "content_distance",
    "detector_for",
    "hsv_histogram",
    "keep_spaced",
]
