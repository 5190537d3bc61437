"""Scene detection: a cheap keyframe-level pass, then PySceneDetect only where needed."""

from video_assets.scenes.detect import (
    CascadeSettings,
    Scene,
    SceneResult,
    detect_scenes,
    scenes_from_cuts,
)
from video_assets.scenes.detectors import DetectorSettings

__all__ = [
    "CascadeSettings",
    "DetectorSettings",
    "Scene",
    "SceneResult",
    "detect_scenes",
    "scenes_from_cuts",
]
