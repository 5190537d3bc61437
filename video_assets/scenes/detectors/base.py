"""The interface every shot detector implements, and the frame scores they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar

import cv2
import numpy as np
from scenedetect.common import FrameTimecode
from scenedetect.detector import SceneDetector

if TYPE_CHECKING:
    from video_assets.scenes.detectors.settings import DetectorSettings

__all__ = ["Detector", "content_distance", "hsv_histogram", "keep_spaced"]


class Detector(ABC):
    """One shot detector: what it needs decoded, and its cuts over a run of frames.

    A subclass names itself and its defaults as class attributes and builds the
    frame-by-frame PySceneDetect detector (:meth:`build`); :meth:`cuts` drives it over
    frames, the way both the full pass and the cascade's level 2 run it.

    Attributes:
        name: The ``DetectorSettings.detector`` value that selects this detector.
        default_threshold: The threshold when none is set.
        max_threshold: The largest valid threshold (a content score, or 1 for a probability).
        default_min_scene_len: Minimum scene length in frames when none is set.
        looks_back_only: A frame's verdict needs no frame more than a few ahead, so the
            cascade's level 2 may leave a GOP early.
        gops_before: Whole GOPs a decode range must start earlier than the GOP it judges
            (AdaptiveDetector's rolling average reaches back over the keyframe).
    """

    name: ClassVar[str]
    default_threshold: ClassVar[float]
    max_threshold: ClassVar[float] = 255.0
    default_min_scene_len: ClassVar[int]
    looks_back_only: ClassVar[bool] = False
    gops_before: ClassVar[int] = 0

    def __init__(self, settings: DetectorSettings):
        self.settings = settings

    @property
    def threshold(self) -> float:
        t = self.settings.threshold
        return self.default_threshold if t is None else t

    @property
    def min_scene_len(self) -> int:
        m = self.settings.min_scene_len
        return self.default_min_scene_len if m is None else m

    @property
    def context_frames(self) -> tuple[int, int]:
        """Frames the detector must see before and after a frame to judge it the way a full
        pass does (the cascade widens its decode ranges by these)."""
        return 0, 0

    @property
    def keyframe_score(self) -> float:
        """The content score at which level 1 takes two keyframes for different shots: the
        detector's own threshold where it is a content score, else ContentDetector's."""
        from video_assets.scenes.detectors.content import Content

        return Content.default_threshold

    @abstractmethod
    def build(self, min_scene_len: int, frame_count: int) -> SceneDetector:
        """A fresh frame-by-frame detector; ``frame_count`` is the length of the whole video."""

    def filter_cuts(self, raw_cuts: list[int], frame_count: int) -> list[int]:
        """Apply the minimum-scene-length filter to unfiltered cut frames, as the detector
        does over the whole video when every frame not in ``raw_cuts`` is below threshold:
        a cut is kept only that many frames after the last kept one."""
        return keep_spaced(raw_cuts, self.min_scene_len)

    def cuts(
        self,
        frames: Iterable[tuple[int, np.ndarray]],
        fps: float,
        *,
        min_scene_len: int | None = None,
        frame_count: int = 0,
        on_frame: Callable[[int], None] | None = None,
        leave: Callable[[int, np.ndarray], bool] | None = None,
    ) -> list[int]:
        """Cut frames over ``(frame_number, bgr)`` pairs in order.

        Args:
            frames: The frames, numbered.
            fps: Frame rate, for the detector's timecodes.
            min_scene_len: Overrides the setting (0 gives raw cuts for :meth:`filter_cuts`).
            frame_count: Frames in the whole video.
            on_frame: Called with 1 after each frame.
            leave: ``leave(n, img)`` True after frame ``n`` ends the run early; asked only
                while no verdict is pending.
        """
        msl = self.min_scene_len if min_scene_len is None else min_scene_len
        detector = self.build(msl, frame_count)
        found: list[int] = []
        last = 0
        for n, img in frames:
            found.extend(tc.frame_num for tc in detector.process_frame(FrameTimecode(n, fps), img))
            last = n
            if on_frame is not None:
                on_frame(1)
            if leave is not None and not getattr(detector, "busy", False) and leave(n, img):
                break
        found.extend(tc.frame_num for tc in detector.post_process(FrameTimecode(last, fps)))
        return found


def keep_spaced(cuts: list[int], min_len: int) -> list[int]:
    """Cuts at least ``min_len`` frames after the previous kept cut (and the video start)."""
    kept: list[int] = []
    last = 0
    for c in sorted(set(cuts)):
        if c - last >= min_len:
            kept.append(c)
            last = c
    return kept


def _hsv_planes(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HSV planes as ContentDetector computes them."""
    h, s, v = cv2.split(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV))
    return h, s, v


def content_distance(a: np.ndarray, b: np.ndarray, luma_only: bool = False) -> float:
    """ContentDetector's frame score between two BGR images (mean HSV distance)."""
    ha, sa, va = _hsv_planes(a)
    hb, sb, vb = _hsv_planes(b)

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
