"""Scene detection: a cheap keyframe-level pass, then PySceneDetect only where needed."""

from video_assets.scenes.detect import (
    CascadeSettings,
    Scene,
    SceneResult,
    detect_scenes,
    scenes_from_cuts,
)
from video_assets.scenes.detectors import Detector, DetectorSettings, detector_for

__all__ = [
    "CascadeSettings",
    "Detector",
    "DetectorSettings",
    "Scene",
    "SceneResult",
    "detect_scenes",
    "detector_for",
    "scenes_from_cuts",
]
