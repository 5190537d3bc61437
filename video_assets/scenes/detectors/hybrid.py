"""The default shot detector: ContentDetector's candidates at any spacing, flashes removed.

PySceneDetect's ``min_scene_len`` (15 frames by default) is what keeps a camera flash from
becoming two cuts, and it is also what drops every real shot shorter than that. This
detector takes ContentDetector's candidates with no minimum length and looks at the
pictures on both sides of each one instead: a flash (or a strobe, one flash after another)
is a run of at most ``max_flash_frames`` frames after which the picture returns to what it
was before; a short shot is not followed by the picture before it. What is left goes
through a plain minimum length (3 frames by default), the shortest shot an editor cuts.

The verdict on a candidate needs the ``max_flash_frames`` frames after it, so cuts come
out that many frames late; :attr:`HybridDetector.busy` says a verdict is pending.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scenedetect.common import FrameTimecode
from scenedetect.detector import SceneDetector
from scenedetect.detectors import ContentDetector

from video_assets.scenes.detectors.base import Detector, content_distance


@dataclass
class _Candidate:
    frame: int
    before: np.ndarray
    """The last frame before the candidate: a flash returns to it."""


class HybridDetector(SceneDetector):
    """ContentDetector candidates, minus flashes and strobes, down to ``min_scene_len`` frames.

    Args:
        threshold: ContentDetector threshold a frame must reach to be a candidate.
        min_scene_len: Shortest scene kept, in frames (applied after flashes are removed).
        max_flash_frames: Longest flash: a candidate followed, within this many frames, by a
            frame that looks like the one before it is a flash, not a cut.
        luma_only: Compare luma only.
    """

    def __init__(
        self,
        threshold: float = 27.0,
        min_scene_len: int = 3,
        max_flash_frames: int = 2,
        luma_only: bool = False,
    ):
        self._content = ContentDetector(threshold=threshold, min_scene_len=0, luma_only=luma_only)
        self._threshold = threshold
        self._luma_only = luma_only
        self._min_len = min_scene_len
        self._max_flash = max_flash_frames
        self._pending: list[_Candidate] = []
        self._previous: np.ndarray | None = None
        self._flash_until = -1
        self._last_cut = 0

    @property
    def busy(self) -> bool:
        """A candidate still waits for the frames that decide it."""
        return bool(self._pending)

    def _alike(self, a: np.ndarray, b: np.ndarray) -> bool:
        return content_distance(a, b, self._luma_only) < self._threshold

    def _emit(self, frame: int) -> list[int]:
        if frame - self._last_cut < self._min_len:
            return []
        self._last_cut = frame
        return [frame]

    def process_frame(self, timecode: FrameTimecode, frame_img: np.ndarray) -> list[FrameTimecode]:
        n = timecode.frame_num
        out: list[int] = []
        still: list[_Candidate] = []
        for cand in self._pending:
            if n <= self._flash_until and cand.frame <= self._flash_until:
                continue  # inside a flash already recognised
            if self._alike(cand.before, frame_img):
                self._flash_until = n  # back to the picture before: a flash, cut nowhere
            elif n - cand.frame >= self._max_flash:
                out += self._emit(cand.frame)
            else:
                still.append(cand)
        self._pending = [c for c in still if c.frame > self._flash_until]
        if (
            self._content.process_frame(timecode, frame_img)
            and n > self._flash_until
            and self._previous is not None
        ):
            if self._max_flash > 0:
                self._pending.append(_Candidate(n, self._previous))
            else:
                out += self._emit(n)
        self._previous = frame_img
        return [FrameTimecode(f, timecode.frame_rate) for f in out]

    def post_process(self, timecode: FrameTimecode) -> list[FrameTimecode]:
        # The video (or the decoded range) ends before a verdict: nothing came back.
        out: list[int] = []
        for cand in self._pending:
            out += self._emit(cand.frame)
        self._pending = []
        return [FrameTimecode(f, timecode.frame_rate) for f in out]

    def get_metrics(self) -> list[str]:
        return self._content.get_metrics()


class Hybrid(Detector):
    """The default detector (:class:`HybridDetector`: threshold 27, 3 frames).

    Its verdict on a candidate needs the ``max_flash_frames`` frames after it; it looks no
    further ahead, so the cascade may leave a GOP early.
    """

    name = "hybrid"
    default_threshold = 27.0
    default_min_scene_len = 3
    looks_back_only = True

    @property
    def context_frames(self) -> tuple[int, int]:
        return 0, self.settings.max_flash_frames

    @property
    def keyframe_score(self) -> float:
        return self.threshold

    def build(self, min_scene_len: int, frame_count: int) -> SceneDetector:
        return HybridDetector(
            threshold=self.threshold,
            min_scene_len=min_scene_len,
            max_flash_frames=self.settings.max_flash_frames,
            luma_only=self.settings.luma_only,
        )
