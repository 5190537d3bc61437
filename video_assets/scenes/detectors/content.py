"""PySceneDetect's ContentDetector: a cut where the mean HSV distance to the previous frame
reaches the threshold, at least ``min_scene_len`` frames after the last one."""

from __future__ import annotations

from scenedetect.common import FrameTimecode
from scenedetect.detector import FlashFilter, SceneDetector
from scenedetect.detectors import ContentDetector

from video_assets.scenes.detectors.base import Detector


class Content(Detector):
    """ContentDetector with PySceneDetect's defaults (threshold 27, 15 frames)."""

    name = "content"
    default_threshold = 27.0
    default_min_scene_len = 15
    looks_back_only = True

    @property
    def keyframe_score(self) -> float:
        return self.threshold

    def build(self, min_scene_len: int, frame_count: int) -> SceneDetector:
        return ContentDetector(
            threshold=self.threshold, min_scene_len=min_scene_len, luma_only=self.settings.luma_only
        )

    def filter_cuts(self, raw_cuts: list[int], frame_count: int) -> list[int]:
        """ContentDetector's FlashFilter (merge mode) replayed over the whole video."""
        cuts = sorted(set(raw_cuts))
        msl = self.min_scene_len
        if msl <= 0:
            return cuts
        flt = FlashFilter(mode=FlashFilter.Mode.MERGE, length=msl)
        above = set(cuts)
        out: list[int] = []
        for f in range(frame_count):  # cheap: no decoding, only the filter's state machine
            for tc in flt.filter(FrameTimecode(f, 1000.0), f in above):
                out.append(tc.frame_num)
        return out
