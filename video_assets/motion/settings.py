"""The settings of the motion stage: every threshold the stage, its checks and the shard
exclusion use is declared here, once (the Dagster resource derives its defaults from it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

Method = Literal["auto", "vectors", "framediff"]


def _check(name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")


@dataclass(frozen=True)
class MotionSettings:
    """How motion is measured and judged.

    Every motion figure is in pixels per frame at the analysis resolution: the clip scaled
    to ``analysis_width`` pixels wide, its aspect ratio kept, so one threshold serves every
    source resolution (1 px at 320 wide is 4 px at 1280).

    Args:
        method: ``auto`` (the codec's motion vectors where its decoder exports them, frame
            differences otherwise), ``vectors`` (as auto: a stream without vectors still
            falls back) or ``framediff`` (always frame differences).
        analysis_width: Width in pixels the figures are stated at (64 to 3840).
        thumb_width: Width of the grey thumbnails consecutive frames are compared at (16 to 256).
        patches: The per-patch figures use a ``patches`` x ``patches`` grid (1 to 16).
        threads: Decoder threads per clip; 0 lets FFmpeg choose (0 to 64). The vectors
            are read with slice threads only (frame threads made them change from run to
            run), frame differences with frame threads too.
        workers: Clips measured at once by :func:`~video_assets.motion.measure_clips`,
            the ``clip_motion`` table and the CLI, each in its own thread (decoding and
            OpenCV release the GIL); 1 measures them one after another, 0 (the default)
            as many as there are CPUs, at most 2 (0 to 64). The figures and their order do
            not depend on it. One clip's decoding keeps only some of two cores busy; two
            clips in flight fill the gaps; each more holds another decoder's frame buffers
            (not measured beyond 2). Two at once ran 1.91x as fast as one at a time
            (``bench/motion.py``).
        skip_loop_filter: Skip H.264's deblocking filter while decoding: faster, and the
            pixels are only looked at as thumbnails (the vectors are not affected).
        skip_nonref: Read H.264 with its non-reference frames left undecoded (FFmpeg's
            ``skip_frame=noref``; half the frames of a B-pyramid, a quarter of the decoding
            time): the vectors come from P-frames, which never reference them, and the
            consistency profile bridges each one-frame gap. A clip is decoded again in full
            where that is not enough to place a transition (anything that looks like a cut
            or a flash, or a non-reference frame much larger than its neighbours).
        static_frame_px: A frame in which no patch moves this much is near-static (0 to 10).
        min_motion_px: A clip whose mean motion is below this, with no patch moving at
            ``min_patch_motion_px`` or more, is static (0 to 10).
        min_patch_motion_px: See ``min_motion_px`` (0 to 50).
        max_static_share: A clip with at least this share of near-static frames is static,
            or a slideshow when a cut lies inside it (0 to 1).
        camera_min_px: Camera motion (the fitted model's translation, or its zoom or roll at
            the frame's side edge) slower than this counts as a static camera (0 to 10).
        min_inliers: When less than this share of the vectors agrees with the fitted camera
            model, a moving frame is ``complex`` (0 to 1).
        cut_similarity: A transition between consecutive frames whose similarity (0 to 1)
            is below this ...
        min_drop: ... and at least this far below the similarity of its neighbouring
            transitions looks like a cut or a flash (0 to 1).
        flash_frames: When the picture comes back within this many frames it was a flash,
            else a cut (1 to 25).
    """

    method: Method = "auto"
    analysis_width: int = 320
    thumb_width: int = 64
    patches: int = 8
    threads: int = 0
    workers: int = 0
    skip_loop_filter: bool = True
    skip_nonref: bool = True
    static_frame_px: float = 0.1
    min_motion_px: float = 0.25
    min_patch_motion_px: float = 0.5
    max_static_share: float = 0.8
    camera_min_px: float = 0.3
    min_inliers: float = 0.5
    cut_similarity: float = 0.5
    min_drop: float = 0.3
    flash_frames: int = 3

    def __post_init__(self) -> None:
        if self.method not in ("auto", "vectors", "framediff"):
            raise ValueError(f"method must be auto, vectors or framediff, got {self.method!r}")
        _check("analysis_width", self.analysis_width, 64, 3840)
        _check("thumb_width", self.thumb_width, 16, 256)
        _check("patches", self.patches, 1, 16)
        _check("threads", self.threads, 0, 64)
        _check("workers", self.workers, 0, 64)
        _check("static_frame_px", self.static_frame_px, 0.0, 10.0)
        _check("min_motion_px", self.min_motion_px, 0.0, 10.0)
        _check("min_patch_motion_px", self.min_patch_motion_px, 0.0, 50.0)
        _check("max_static_share", self.max_static_share, 0.0, 1.0)
        _check("camera_min_px", self.camera_min_px, 0.0, 10.0)
        _check("min_inliers", self.min_inliers, 0.0, 1.0)
        _check("cut_similarity", self.cut_similarity, 0.0, 1.0)
        _check("min_drop", self.min_drop, 0.0, 1.0)
        _check("flash_frames", self.flash_frames, 1, 25)

    def worker_count(self, clips: int) -> int:
        """Threads measuring ``clips`` clips at once: ``workers``, or for 0 the CPUs this
        process may run on, at most 2; never more than the clips, never less than 1."""
        workers = self.workers or min(2, _cpus())
        return max(1, min(workers, clips))


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
