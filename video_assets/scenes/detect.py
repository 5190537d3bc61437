"""Two-level scene detection.

Level 1 reads what is free or nearly free: keyframe placement and packet sizes from the
index (no decoding), and the keyframes themselves, decoded alone. It marks every GOP that
may hold a cut: consecutive keyframes that differ by the detector's own frame score, or a
non-key packet much larger than the packets before it (an encoder that meets a cut inside a
GOP codes the new shot's first frame nearly intra, so its packet jumps in size even when
both neighbouring keyframes look alike, as in shot/reverse-shot footage).

Level 2 runs the same PySceneDetect detector over the marked GOPs only, decoding each run
of marked GOPs once from its keyframe, and replays the detector's minimum-scene-length
filter over the whole video so the result equals a full pass. With ContentDetector a
marked GOP is left early once nothing can remain in it: every packet-size jump of the GOP
lies behind, and the frame just decoded already looks like the keyframe that ends the GOP
(the same two tests level 1 uses, so a cut still ahead would have marked it). When the keyframe layout
carries no information (one keyframe, or a keyframe every few frames) or the marked GOPs
cover most of the video, level 2 simply becomes a full pass. Level 1 stops as soon as that
is certain or likely (projected from the keyframes compared so far), so fast-cut footage
costs the full pass and little more.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from video_assets.keyframes import KeyframeIndex, build_index
from video_assets.scenes.detectors import (
    Detector,
    DetectorSettings,
    content_distance,
    detector_for,
    hsv_histogram,
)
from video_assets.scenes.frames import DecodeStats, FrameReader, SeekUnreliable

Mode = Literal["cascade", "full"]
ProgressFn = Callable[[int, int], None]
"""Called with (frames done, frames total) as detection proceeds."""


@dataclass(frozen=True)
class Scene:
    """One scene: frames ``[start_frame, end_frame)`` and their times."""

    index: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def frame_count(self) -> int:
        return self.end_frame - self.start_frame


@dataclass(frozen=True)
class CascadeSettings:
    """Level-1 sensitivity of the cascade.

    Args:
        keyframe_ratio: A GOP is marked when its two keyframes differ by at least this
            fraction of the detector threshold (content score). Lower finds more, costs more.
        hist_threshold: A GOP is marked when the HSV histograms of its two keyframes differ
            by at least this total-variation distance (0..1). Histograms ignore where things
            are, so motion inside a shot barely moves them while a cut moves them a lot.
        size_ratio: A GOP is marked when one of its non-key packets is at least this many
            times larger than the largest of the ``size_window`` non-key packets before it.
        size_window: Number of preceding non-key packets the size jump is measured against.
        early_stop: Leave a marked GOP before its end once every size jump in it has been
            decoded and the current frame already matches the GOP's closing keyframe
            (ContentDetector only; AdaptiveDetector looks ahead, so it decodes whole GOPs).
        min_mean_gop: Below this mean GOP length (frames) the layout carries no information
            and a full pass runs instead.
        max_coverage: When marked GOPs cover more than this share of frames, a full pass
            runs instead. Level 2 costs about what a full pass costs per frame it decodes,
            and leaves many marked GOPs early, so it pays off up to a high coverage: on
            fast-cut footage with 81% covered it decoded 67% of the frames at 0.70x the full
            pass's CPU time (``bench/scenes.py``).
        probe_share: Level 1 stops as soon as a full pass is certain (the GOPs marked so far
            already cover more than ``max_coverage``) or likely: once it has compared the
            keyframes of at least this share of the frames (and ``probe_gops`` GOPs), the
            share of those frames it marked, projected over the GOPs still ahead, exceeds
            ``max_coverage``. The keyframes it does not decode are the cost it saves.
        probe_gops: The fewest GOPs level 1 compares before it projects.
    """

    keyframe_ratio: float = 1.0
    hist_threshold: float = 0.35
    size_ratio: float = 3.0
    size_window: int = 8
    early_stop: bool = True
    min_mean_gop: float = 4.0
    max_coverage: float = 0.9
    probe_share: float = 0.1
    probe_gops: int = 16

    def __post_init__(self) -> None:
        if not 0.0 < self.keyframe_ratio <= 4.0:
            raise ValueError(f"keyframe_ratio must be in (0, 4], got {self.keyframe_ratio}")
        if not 0.0 < self.hist_threshold <= 1.0:
            raise ValueError(f"hist_threshold must be in (0, 1], got {self.hist_threshold}")
        if self.size_ratio <= 1.0:
            raise ValueError(f"size_ratio must be > 1, got {self.size_ratio}")
        if self.size_window < 1:
            raise ValueError(f"size_window must be >= 1, got {self.size_window}")
        if not 0.0 < self.max_coverage <= 1.0:
            raise ValueError(f"max_coverage must be in (0, 1], got {self.max_coverage}")
        if not 0.0 < self.probe_share <= 1.0:
            raise ValueError(f"probe_share must be in (0, 1], got {self.probe_share}")
        if self.probe_gops < 1:
            raise ValueError(f"probe_gops must be >= 1, got {self.probe_gops}")


@dataclass
class SceneResult:
    """Scenes of one video and how they were found."""

    path: str
    fps: float
    frame_count: int
    duration_s: float
    mode: str
    """``full``, ``cascade``, or ``cascade->full`` when the cascade fell back to a full pass."""
    detector: DetectorSettings
    scenes: list[Scene]
    frames_decoded: int
    elapsed_s: float
    level1: dict = field(default_factory=dict)
    damaged_frames: list[int] = field(default_factory=list)
    """Frames the decoder flagged as corrupt: left out of detection, not taken for cuts."""
    decoded_runs: list[tuple[int, int]] = field(default_factory=list)
    """What was decoded, as :attr:`DecodeStats.runs` (not in :meth:`to_json`)."""

    @property
    def cuts(self) -> list[int]:
        return [s.start_frame for s in self.scenes[1:]]

    def to_json(self) -> dict:
        return {
            "fps": self.fps,
            "frame_count": self.frame_count,
            "duration_s": self.duration_s,
            "mode": self.mode,
            "detector": asdict(self.detector),
            "frames_decoded": self.frames_decoded,
            "elapsed_s": self.elapsed_s,
            "level1": self.level1,
            "damaged_frames": self.damaged_frames,
            "scenes": [
                {
                    "start_frame": s.start_frame,
                    "end_frame": s.end_frame,
                    "start_s": round(s.start_s, 6),
                    "end_s": round(s.end_s, 6),
                }
                for s in self.scenes
            ],
        }


def scenes_from_cuts(cuts: list[int], index: KeyframeIndex) -> list[Scene]:
    """Scenes covering the whole video, in order, from the first frame of each new scene."""
    bounds = [0, *[c for c in sorted(set(cuts)) if 0 < c < index.frame_count], index.frame_count]
    return [
        Scene(i, a, b, index.frame_time(a), index.frame_time(b))
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
    ]


def _run_detector(
    reader: FrameReader,
    det: Detector,
    start: int,
    stop: int,
    fps: float,
    min_scene_len: int | None,
    progress: Callable[[int], None] | None,
    leave: Callable[[int, np.ndarray], bool] | None = None,
    exact: bool = False,
    report: tuple[int, int] | None = None,
) -> list[int]:
    """Raw cut frames in ``[start, stop)``; ``leave(n, img)`` True after frame ``n`` ends the run.

    ``exact`` asks the reader to prove that the frames equal a sequential pass's
    (:class:`SeekUnreliable` otherwise), as level 2 must. ``report`` keeps only the cuts
    in that range: the frames around it are context the detector needs to judge it.
    """
    cuts = det.cuts(
        reader.frames(start, stop, exact=exact),
        fps,
        min_scene_len=min_scene_len,
        frame_count=reader.index.frame_count,
        on_frame=progress,
        leave=leave,
    )
    if report is not None:
        cuts = [c for c in cuts if report[0] <= c < report[1]]
    return cuts


@dataclass
class _Level1:
    """What level 1 found, kept for level 2."""

    marked: np.ndarray
    """One flag per GOP (keyframe i to keyframe i+1, the last one to the end)."""
    jumps: list[np.ndarray]
    """Per GOP, the frames whose packets jumped in size (sorted)."""
    closing: dict[int, tuple[np.ndarray, np.ndarray]]
    """For each marked GOP that ends on a keyframe: that keyframe's histogram and image."""
    stats: dict
    stopped: str | None = None
    """Why level 1 stopped before the last keyframe: a full pass is certain or likely."""


def _looks_alike(
    a_img: np.ndarray,
    a_hist: np.ndarray,
    b_img: np.ndarray,
    b_hist: np.ndarray,
    det: Detector,
    cascade: CascadeSettings,
) -> bool:
    """The negation of level 1's keyframe test: no sign of a cut between two frames."""
    if 0.5 * float(np.abs(a_hist - b_hist).sum()) >= cascade.hist_threshold:
        return False
    threshold = cascade.keyframe_ratio * det.keyframe_score
    return content_distance(a_img, b_img, det.settings.luma_only) < threshold


def _mark_gops(
    index: KeyframeIndex, reader: FrameReader, det: Detector, cascade: CascadeSettings
) -> _Level1:
    """Level 1: which GOPs may hold a cut, and what level 2 needs to leave them early."""
    kfs = index.keyframe_frames
    n_gops = len(kfs)  # the last GOP runs from the last keyframe to the end
    marked = np.zeros(n_gops, dtype=bool)

    # Packet-size jumps: no decoding at all.
    sizes = index.sizes.astype(np.float64)
    nonkey = np.flatnonzero(~index.is_key)
    hit_frames = np.zeros(0, dtype=np.int64)
    if len(nonkey) > cascade.size_window:
        s = sizes[nonkey]
        w = cascade.size_window
        windows = np.lib.stride_tricks.sliding_window_view(s, w)[:-1]  # the w packets before each
        prev_max = windows.max(axis=1)
        jump = s[w:] >= cascade.size_ratio * np.maximum(prev_max, 1.0)
        hit_frames = nonkey[w:][jump]
        # the first `w` non-key packets have no full window: compare with what precedes them
        for j in range(min(w, len(s))):
            if j > 0 and s[j] >= cascade.size_ratio * max(s[:j].max(), 1.0):
                hit_frames = np.append(hit_frames, nonkey[j])
        hit_frames = np.sort(hit_frames)
    gop_of = np.searchsorted(kfs, hit_frames, side="right") - 1
    marked[gop_of[gop_of >= 0]] = True
    jumps = [hit_frames[gop_of == g] for g in range(n_gops)]
    stats = {"size_jumps": int(len(hit_frames)), "keyframe_changes": 0}
    covered = sum(b - a for a, b in _regions(index, marked, det))
    if covered > cascade.max_coverage * index.frame_count:
        # Size jumps alone already send level 2 to a full pass: decoding the keyframes
        # would only add to its cost.
        stats["keyframes_skipped"] = True
        return _Level1(marked=marked, jumps=jumps, closing={}, stats=stats)

    # Keyframe comparisons: decode keyframes only. A keyframe the decoder does not give
    # back (damage, an open-GOP I-frame a decoder will not decode alone) cannot vouch for
    # either GOP beside it, so both are marked. The last GOP has no closing keyframe to
    # compare with: it is always marked.
    closing: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    prev: tuple[int, np.ndarray, np.ndarray] | None = None
    kf_hits = 0
    missing = 0
    probe = _Probe(index, marked, cascade)
    for n, img in reader.keyframes():
        k = int(np.searchsorted(kfs, n))
        hist = hsv_histogram(img)
        if prev is None or prev[0] != k - 1:
            first = 0 if prev is None else prev[0]
            marked[first:k] = True
            missing += k - first - (0 if prev is None else 1)
        elif not _looks_alike(prev[2], prev[1], img, hist, det, cascade):
            marked[k - 1] = True
            kf_hits += 1
        if k > 0 and marked[k - 1]:
            closing[k - 1] = (hist, img)
        prev = (k, hist, img)
        stopped = probe.full_pass_expected(marked, k)
        if stopped is not None:
            stats.update(keyframe_changes=kf_hits, keyframes_missing=missing, stopped_at_gop=k)
            return _Level1(marked, jumps, closing, stats, stopped=stopped)
    last_seen = -1 if prev is None else prev[0]
    missing += n_gops - 1 - last_seen
    marked[max(last_seen, 0) :] = True
    stats["keyframe_changes"] = kf_hits
    stats["keyframes_missing"] = missing
    return _Level1(marked=marked, jumps=jumps, closing=closing, stats=stats)


class _Probe:
    """Level 1's running estimate of the share of frames level 2 will have to decode.

    After keyframe ``k`` the GOPs before it are judged; the GOPs ahead are marked already
    where a packet-size jump or the end of the video marks them, and the rest are projected
    to be marked as often, by frames, as the judged GOPs that no size jump had marked.
    """

    def __init__(self, index: KeyframeIndex, jump_marked: np.ndarray, cascade: CascadeSettings):
        self.lens = np.diff(np.append(index.keyframe_frames, index.frame_count)).astype(np.int64)
        self.ahead_marked = jump_marked.copy()
        self.ahead_marked[-1] = True  # the last GOP has no closing keyframe: always marked
        self.total = max(int(self.lens.sum()), 1)
        self.cascade = cascade
        self.min_frames = cascade.probe_share * self.total

    def full_pass_expected(self, marked: np.ndarray, k: int) -> str | None:
        """Why a full pass is certain or likely once GOPs ``[0, k)`` are judged, or None."""
        limit = self.cascade.max_coverage * self.total
        lens = self.lens
        known = int(lens[:k][marked[:k]].sum()) + int(lens[k:][self.ahead_marked[k:]].sum())
        if known > limit:
            return f"GOPs marked by then already cover {known / self.total:.0%} of frames"
        seen = int(lens[:k].sum())
        if k < self.cascade.probe_gops or seen < self.min_frames:
            return None
        open_ = ~self.ahead_marked[:k]  # judged GOPs no size jump had marked
        open_frames = int(lens[:k][open_].sum())
        rate = int(lens[:k][open_ & marked[:k]].sum()) / open_frames if open_frames else 1.0
        projected = known + rate * int(lens[k:][~self.ahead_marked[k:]].sum())
        if projected > limit:
            return (
                f"marked GOPs would cover {projected / self.total:.0%} of frames "
                f"(projected from the first {seen / self.total:.0%})"
            )
        return None


class _GopExit:
    """Says when level 2 may leave the marked GOP it is in before its closing keyframe.

    Only once every size jump of the GOP is behind; then a cut still ahead would make the
    current frame differ from the closing keyframe (level 1's own test), and a frame that
    matches that keyframe also rules out a cut on the keyframe itself. After leaving,
    decoding resumes at that closing keyframe (``resume``) if the next GOP is marked too.
    """

    def __init__(
        self,
        index: KeyframeIndex,
        level1: _Level1,
        det: Detector,
        cascade: CascadeSettings,
    ):
        self.kfs = index.keyframe_frames
        self.level1 = level1
        self.det, self.cascade = det, cascade
        self.resume: int | None = None
        self.left = 0

    def __call__(self, n: int, img: np.ndarray) -> bool:
        g = int(np.searchsorted(self.kfs, n, side="right")) - 1
        if g not in self.level1.closing:
            return False
        jumps = self.level1.jumps[g]
        end_kf = int(self.kfs[g + 1])
        if (len(jumps) and n <= int(jumps[-1])) or n >= end_kf - 1:
            return False
        kf_hist, kf_img = self.level1.closing[g]
        if not _looks_alike(img, hsv_histogram(img), kf_img, kf_hist, self.det, self.cascade):
            return False
        self.resume = end_kf
        self.left += 1
        return True


def _level2(
    reader: FrameReader,
    index: KeyframeIndex,
    level1: _Level1,
    regions: list[tuple[int, int]],
    det: Detector,
    cascade: CascadeSettings,
    tick: Callable[[int], None],
) -> tuple[list[int], int]:
    """Raw cuts inside ``regions`` (the marked GOPs'), and how many GOPs were left early.

    A region is a run of marked GOPs widened by the detector's context; it is decoded in
    one go from its first keyframe. With ContentDetector and the hybrid detector a GOP is
    left early (see :class:`_GopExit`) and decoding resumes, with a fresh detector, at the
    next keyframe of the region: a fresh detector reports nothing on its first frame, and
    that keyframe looks like the frame just left, so no cut lies across the gap.
    """
    n = index.frame_count
    before, after = det.context_frames
    early = cascade.early_stop and det.looks_back_only
    exit_ = _GopExit(index, level1, det, cascade) if early else None
    raw: list[int] = []
    for a, b in regions:
        # The marked frames of the region, without the context it was widened by.
        core = (a + before if a > 0 else 0, b - after if b < n else n)
        pos: int | None = a
        while pos is not None and pos < core[1] - 1:
            if exit_ is not None:
                exit_.resume = None
            raw += _run_detector(
                reader, det, pos, b, index.fps, 0, tick, exit_, exact=True, report=core
            )
            pos = exit_.resume if exit_ is not None else None
    return raw, exit_.left if exit_ is not None else 0


def _cascade(
    index: KeyframeIndex,
    reader: FrameReader,
    det: Detector,
    cascade: CascadeSettings,
    level1: dict,
    tick: Callable[[int], None],
) -> list[int] | None:
    """Cuts found by the two levels, or None where a full pass is the better way.

    ``level1`` receives what level 1 found and, on a fallback, why.
    """
    n = index.frame_count
    gops = len(index.keyframe_frames)
    mean_gop = n / gops
    if gops < 2 or mean_gop < cascade.min_mean_gop:
        level1["fallback"] = (
            f"keyframe layout carries no information ({gops} keyframes, "
            f"mean GOP {mean_gop:.1f} frames)"
        )
        return None
    found = _mark_gops(index, reader, det, cascade)
    level1.update(found.stats)
    if found.stopped is not None:
        level1.update(gops=gops, keyframes_decoded=reader.stats.frames_decoded)
        level1["fallback"] = (
            f"level 1 stopped at keyframe {found.stats['stopped_at_gop']}: {found.stopped}"
        )
        return None
    regions = _regions(index, found.marked, det)
    covered = sum(b - a for a, b in regions)
    level1.update(
        gops=gops,
        marked_gops=int(found.marked.sum()),
        regions=len(regions),
        coverage=round(covered / n, 4),
        keyframes_decoded=reader.stats.frames_decoded,
    )
    if covered / n > cascade.max_coverage:
        level1["fallback"] = f"marked GOPs cover {covered / n:.0%} of frames"
        return None
    raw, left_early = _level2(reader, index, found, regions, det, cascade, tick)
    level1["gops_left_early"] = left_early
    return det.filter_cuts(raw, n)


def detect_scenes(
    path: str,
    *,
    mode: Mode = "cascade",
    detector: DetectorSettings | None = None,
    cascade: CascadeSettings | None = None,
    index: KeyframeIndex | None = None,
    progress: ProgressFn | None = None,
) -> SceneResult:
    """Detect scenes in ``path``.

    Args:
        path: A video file.
        mode: ``cascade`` (two levels, the default) or ``full`` (every frame).
        detector: Which PySceneDetect detector and its parameters.
        cascade: Level-1 sensitivity.
        index: A keyframe index of ``path`` if one is already built.
        progress: Callback receiving (frames done, frames total).

    Returns:
        Scenes covering the whole video, frame-exact, with ``end_frame`` exclusive.
    """
    if mode not in ("cascade", "full"):
        raise ValueError(f"mode must be 'cascade' or 'full', got {mode!r}")
    settings = detector or DetectorSettings()
    det = detector_for(settings)
    cascade = cascade or CascadeSettings()
    t0 = time.perf_counter()
    index = index or build_index(path)
    n = index.frame_count
    stats = DecodeStats()
    done = 0

    def tick(k: int) -> None:
        nonlocal done
        done += k
        if progress is not None and (done % 250 == 0):
            progress(done, n)

    level1: dict = {}
    with FrameReader(index, stats) as reader:
        cuts: list[int] | None = None
        if mode == "cascade":
            try:
                cuts = _cascade(index, reader, det, cascade, level1, tick)
            except SeekUnreliable as exc:
                # Level 2 could not prove that a GOP decoded after a seek equals what a
                # sequential pass decodes: the whole file gets the sequential pass.
                level1["fallback"] = f"decoding after a seek cannot be trusted: {exc}"
        used_mode = mode if cuts is not None or mode == "full" else "cascade->full"
        if cuts is None:
            cuts = _run_detector(reader, det, 0, n, index.fps, None, tick)
    if progress is not None:
        progress(n, n)
    return SceneResult(
        path=str(path),
        fps=index.fps,
        frame_count=n,
        duration_s=index.duration_s,
        mode=used_mode,
        detector=settings,
        scenes=scenes_from_cuts(cuts, index),
        frames_decoded=stats.frames_decoded,
        elapsed_s=time.perf_counter() - t0,
        level1=level1,
        damaged_frames=sorted(stats.damaged),
        decoded_runs=stats.runs,
    )


def _regions(index: KeyframeIndex, marked: np.ndarray, det: Detector) -> list[tuple[int, int]]:
    """Frame ranges ``[start, stop)`` to decode for the marked GOPs.

    A marked GOP i spans keyframe i to keyframe i+1 inclusive (a cut on keyframe i+1 needs
    the frame before it), widened by the frames the detector must see around a frame to
    judge it (:attr:`Detector.context_frames`), and started :attr:`Detector.gops_before`
    GOPs earlier (AdaptiveDetector's rolling average reaches back over the keyframe).
    """
    kfs = index.keyframe_frames
    n = index.frame_count
    before, after = det.context_frames
    spans: list[tuple[int, int]] = []
    for i in np.flatnonzero(marked):
        start = int(kfs[i])
        if det.gops_before:
            start = int(kfs[i - det.gops_before]) if i >= det.gops_before else 0
        stop = int(kfs[i + 1]) + 1 if i + 1 < len(kfs) else n
        spans.append((max(start - before, 0), min(stop + after, n)))
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        # Overlapping or touching ranges are decoded in one go (no second seek).
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
