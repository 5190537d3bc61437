"""PySceneDetect's AdaptiveDetector: a frame's content score against the rolling average of
the ``window_width`` frames on either side."""

from __future__ import annotations

from scenedetect.detector import SceneDetector
from scenedetect.detectors import AdaptiveDetector

from video_assets.scenes.detectors.base import Detector


class Adaptive(Detector):
    """AdaptiveDetector (``adaptive_threshold`` 3, 15 frames).

    Its verdict on a frame needs ``window_width`` frames after it, and its rolling average
    reaches back over the keyframe, so the cascade decodes from one GOP earlier and never
    leaves a GOP early.
    """

    name = "adaptive"
    default_threshold = 3.0
    default_min_scene_len = 15
    gops_before = 1

    @property
    def context_frames(self) -> tuple[int, int]:
        return 0, self.settings.window_width

    @property
    def keyframe_score(self) -> float:
        return self.settings.min_content_val

    def build(self, min_scene_len: int, frame_count: int) -> SceneDetector:
        s = self.settings
        return AdaptiveDetector(
            adaptive_threshold=self.threshold,
            min_scene_len=min_scene_len,
            window_width=s.window_width,
            min_content_val=s.min_content_val,
            luma_only=s.luma_only,
        )
