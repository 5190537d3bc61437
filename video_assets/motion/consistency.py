"""Temporal consistency: how alike consecutive frames are, and the worst transition.

Frames are compared as small grey thumbnails by a global SSIM (luminance times
contrast-structure), so a flash (a jump in brightness and a loss of structure) scores low
as well as a cut, while a pan of a few pixels barely moves the score. A transition looks
like a cut or a flash when its similarity is low in itself and well below that of the
transitions around it (a fast pan is uniformly dissimilar; a cut stands out). It is a flash
when the picture after it comes back, within a few frames, to the picture before it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Literal

import numpy as np

_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_WINDOW = 5
"""Transitions on each side that a transition is compared with."""

Kind = Literal["cut", "flash"]


@dataclass
class Transition:
    """A cut or a flash inside a clip.

    Attributes:
        frame: The first frame after the transition (the clip's first frame is 0).
        similarity: Similarity of that frame to the one before it (0 to 1).
        drop: How far that is below the neighbouring transitions' median similarity.
        kind: ``cut`` or ``flash``.
        frames: For a flash, how many frames it lasted; 0 for a cut.
    """

    frame: int
    similarity: float
    drop: float
    kind: Kind
    frames: int = 0


@dataclass
class Consistency:
    """The temporal-consistency profile of a clip.

    Attributes:
        similarity: Similarity of each frame to the one before it (``similarity[i]`` is
            between frames ``i`` and ``i + 1``).
        mean_similarity: Their mean, or None for a clip of one frame.
        worst_frame: The first frame after the worst transition (the one standing out
            most from its neighbours), or None.
        worst_similarity: Its similarity.
        transitions: Every transition that looks like a cut or a flash, in frame order.
    """

    similarity: np.ndarray
    mean_similarity: float | None
    worst_frame: int | None
    worst_similarity: float | None
    transitions: list[Transition]

    @property
    def worst(self) -> Transition | None:
        """The cut or flash at ``worst_frame``, when the worst transition is one."""
        return next((t for t in self.transitions if t.frame == self.worst_frame), None)

    @property
    def cuts(self) -> int:
        return sum(t.kind == "cut" for t in self.transitions)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Global SSIM of two grey images of one size, clipped to 0..1."""
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    ma, mb = float(a.mean()), float(b.mean())
    da, db = a - ma, b - mb
    va, vb = float((da * da).mean()), float((db * db).mean())
    cov = float((da * db).mean())
    lum = (2 * ma * mb + _C1) / (ma * ma + mb * mb + _C1)
    cs = (2 * cov + _C2) / (va + vb + _C2)
    return max(0.0, lum * cs)


_CHUNK = 256
"""Thumbnails compared per vectorised step (bounds the float copies to a few MB)."""


def similarities(thumbs: list[np.ndarray]) -> np.ndarray:
    """:func:`similarity` of each thumbnail to the one before it, all at once (one
    vectorised pass over the stack instead of a few numpy calls per pair)."""
    n = len(thumbs)
    out = np.empty(max(0, n - 1), np.float64)
    for start in range(0, n - 1, _CHUNK):
        stop = min(n, start + _CHUNK + 1)  # the chunk's pairs: start..stop-1
        stack = np.stack(thumbs[start:stop]).reshape(stop - start, -1).astype(np.float32)
        mean = stack.mean(axis=1, dtype=np.float64)
        dev = stack - mean[:, None].astype(np.float32)
        size = stack.shape[1]
        var = (dev * dev).sum(axis=1, dtype=np.float64) / size
        cov = (dev[:-1] * dev[1:]).sum(axis=1, dtype=np.float64) / size
        ma, mb, va, vb = mean[:-1], mean[1:], var[:-1], var[1:]
        lum = (2 * ma * mb + _C1) / (ma * ma + mb * mb + _C1)
        cs = (2 * cov + _C2) / (va + vb + _C2)
        out[start : stop - 1] = np.maximum(0.0, lum * cs)
    return out


def profile(
    thumbs: list[np.ndarray | None],
    *,
    cut_similarity: float,
    min_drop: float,
    flash_frames: int,
) -> Consistency | None:
    """The consistency profile of a clip's thumbnails (one per frame, in display order).

    A frame that was not decoded (a non-reference frame the fast pass skipped) has None.
    The similarity across such a gap of ``g`` transitions is shared out over them as
    ``1 - (1 - s) / g**2`` each: for the small displacements between frames, a picture's
    dissimilarity to its moved copy grows with the square of the displacement (on the
    720p bench clips this gives the full decode's mean similarity within 0.001, where
    ``1 - (1 - s) / g`` is 0.01 to 0.02 low). That is only sound where nothing happens in
    the gap, so where any transition, across a gap or filled in, looks like a cut or a
    flash, or the first or last frame is missing, the answer is None: every frame must be
    decoded to place it.

    Args:
        thumbs: Grey thumbnails, all of one size, or None for a frame not decoded.
        cut_similarity: A transition below this similarity ...
        min_drop: ... and this far below its neighbours' median is a cut or flash.
        flash_frames: A cut whose picture returns within this many frames is a flash.
    """
    have = [i for i, t in enumerate(thumbs) if t is not None]
    decoded = [t for t in thumbs if t is not None]
    if len(decoded) == len(thumbs):
        return _judge(similarities(decoded), decoded, cut_similarity, min_drop, flash_frames)
    if not have or have[0] != 0 or have[-1] != len(thumbs) - 1:
        return None
    across = similarities(decoded)
    if _judge(across, None, cut_similarity, min_drop, flash_frames) is None:
        return None
    sims = np.empty(len(thumbs) - 1, np.float64)
    for a, b, value in zip(have[:-1], have[1:], across.tolist(), strict=True):
        sims[a:b] = 1.0 - (1.0 - value) / (b - a) ** 2
    return _judge(sims, None, cut_similarity, min_drop, flash_frames)


def _judge(
    sims: np.ndarray,
    thumbs: list[np.ndarray] | None,
    cut_similarity: float,
    min_drop: float,
    flash_frames: int,
) -> Consistency | None:
    """The profile from the similarities; None when a transition looks like a cut or a
    flash and there are no ``thumbs`` to tell which."""
    if not len(sims):
        return Consistency(sims, None, None, None, [])
    drops = np.empty_like(sims)
    values = sims.tolist()
    for i, value in enumerate(values):
        around = values[max(0, i - _WINDOW) : i] + values[i + 1 : i + 1 + _WINDOW]
        drops[i] = (statistics.median(around) if around else 1.0) - value
    transitions: list[Transition] = []
    i = 0
    while i < len(sims):
        frame = i + 1
        if sims[i] < cut_similarity and drops[i] >= min_drop:
            if thumbs is None:
                return None
            # Back to the picture before it, allowing for the motion over a few frames?
            level = max(cut_similarity, (sims[i] + (sims[i] + drops[i])) / 2)
            back = _returns_within(thumbs, frame, flash_frames, level)
            if back:
                drop = float(drops[i : i + back + 1].max())
                transitions.append(Transition(frame, float(sims[i]), drop, "flash", back))
                i += back + 1  # the way back out of the flash is the same event
                continue
            transitions.append(Transition(frame, float(sims[i]), float(drops[i]), "cut"))
        i += 1
    if transitions:
        event = max(transitions, key=lambda t: (t.drop, -t.similarity))
        worst_frame, worst_similarity = event.frame, event.similarity
    else:
        # The largest drop; among equal drops the lowest similarity.
        worst = int(np.lexsort((sims, -drops))[0])
        worst_frame, worst_similarity = worst + 1, float(sims[worst])
    return Consistency(
        similarity=sims,
        mean_similarity=float(sims.mean()),
        worst_frame=worst_frame,
        worst_similarity=worst_similarity,
        transitions=transitions,
    )


def _returns_within(thumbs: list[np.ndarray], frame: int, limit: int, level: float) -> int:
    """How many frames after ``frame - 1`` the picture is again like frame ``frame - 1``
    (at least ``level`` similar), up to ``limit``; 0 when it is not."""
    before = thumbs[frame - 1]
    for k in range(1, limit + 1):
        if frame + k >= len(thumbs):
            break
        if similarity(before, thumbs[frame + k]) >= level:
            return k
    return 0
