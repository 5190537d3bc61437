"""Which transcript segments to keep: low confidence and likely hallucinations.

A segment is marked dropped (never deleted: ``kept=False`` with a reason, so thresholds can
change without re-running ASR) for any of:

- ``low_confidence_run``: it holds a run of at least ``low_run`` consecutive words whose
  score is below ``min_score``;
- ``repeated_ngram``: one n-gram (1 to ``ngram_max_n`` words) repeated back to back at
  least ``ngram_repeats`` times, the repeats covering at least ``ngram_min_share`` of its
  words: the signature of Whisper looping ("thank you thank you thank you");
- ``outside_vad``: at least ``max_outside_share`` of its words lie where the VAD heard no
  speech (no overlap with a speech region widened by ``vad_tolerance_s``), i.e. text
  placed on silence or music.

Reasons are joined with ``;`` in that order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

LOW_CONFIDENCE_RUN = "low_confidence_run"
REPEATED_NGRAM = "repeated_ngram"
OUTSIDE_VAD = "outside_vad"


MIN_WORD_SCORE = 0.4
"""A word whose alignment score is below this is low-confidence: the one default of the
transcript quality marks, the low_confidence_words check, the shard rules and the previews."""


@dataclass(frozen=True, kw_only=True)
class QualitySettings:
    """Thresholds of the segment drop logic.

    Attributes:
        min_score: A word scoring below this is low-confidence, 0 to 1.
            Env: ``VIDEO_ASSETS_MIN_WORD_SCORE``.
        low_run: Consecutive low words that drop a segment, 1 to 100.
            Env: ``VIDEO_ASSETS_LOW_WORD_RUN``.
        ngram_max_n: Longest n-gram examined for repetition, 1 to 10.
        ngram_repeats: Back-to-back repeats of one n-gram that make a loop, 2 to 100.
        ngram_min_share: Share of the segment's words the repeats must cover, 0 to 1.
        vad_tolerance_s: Widening of speech regions before testing overlap, 0 to 5 s.
        max_outside_share: Share of words outside speech that drops a segment, 0 to 1
            (exclusive of 0).
    """

    min_score: float = MIN_WORD_SCORE
    low_run: int = 3
    ngram_max_n: int = 4
    ngram_repeats: int = 3
    ngram_min_share: float = 0.5
    vad_tolerance_s: float = 0.1
    max_outside_share: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        if not 1 <= self.low_run <= 100:
            raise ValueError(f"low_run must be in [1, 100], got {self.low_run}")
        if not 1 <= self.ngram_max_n <= 10:
            raise ValueError(f"ngram_max_n must be in [1, 10], got {self.ngram_max_n}")
        if not 2 <= self.ngram_repeats <= 100:
            raise ValueError(f"ngram_repeats must be in [2, 100], got {self.ngram_repeats}")
        if not 0.0 <= self.ngram_min_share <= 1.0:
            raise ValueError(f"ngram_min_share must be in [0, 1], got {self.ngram_min_share}")
        if not 0.0 <= self.vad_tolerance_s <= 5.0:
            raise ValueError(
                f"vad_tolerance_s must be in [0, 5] seconds, got {self.vad_tolerance_s}"
            )
        if not 0.0 < self.max_outside_share <= 1.0:
            raise ValueError(f"max_outside_share must be in (0, 1], got {self.max_outside_share}")


@dataclass
class SegmentVerdict:
    """Why a segment is kept or dropped."""

    kept: bool
    reasons: list[str]
    low_words: int
    longest_low_run: int
    outside_vad_words: int
    repeated_ngram: str | None

    @property
    def drop_reason(self) -> str | None:
        return ";".join(self.reasons) if self.reasons else None


def longest_low_run(scores: Sequence[float], min_score: float) -> int:
    """Length of the longest run of consecutive scores below ``min_score``."""
    best = run = 0
    for s in scores:
        run = run + 1 if s < min_score else 0
        best = max(best, run)
    return best


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def repeated_ngram(words: Sequence[str], max_n: int, repeats: int, min_share: float) -> str | None:
    """The n-gram looping through ``words``, or None.

    A loop is one n-gram repeated back to back at least ``repeats`` times, the repeats
    covering at least ``min_share`` of the words (so "so so so" opening a long sentence, or
    an enumeration repeating "and the", is not one). Longer n-grams are tried first.
    """
    toks = [t for t in (_norm(w) for w in words) if t]
    for n in range(min(max_n, len(toks) // max(repeats, 1)), 0, -1):
        for i in range(len(toks) - n * repeats + 1):
            gram = toks[i : i + n]
            k = 1
            while toks[i + k * n : i + (k + 1) * n] == gram:
                k += 1
            if k >= repeats and k * n / len(toks) >= min_share:
                return " ".join(gram)
    return None


def outside_speech(
    starts: Sequence[float],
    ends: Sequence[float],
    regions: Sequence[tuple[float, float]],
    tolerance: float,
) -> np.ndarray:
    """Boolean per word: True when [start, end] overlaps no speech region (widened)."""
    s = np.asarray(starts, dtype=float)
    e = np.asarray(ends, dtype=float)
    if s.size == 0:
        return np.zeros(0, dtype=bool)
    if not regions:
        return np.ones(s.size, dtype=bool)
    r = np.asarray(sorted(regions), dtype=float)
    lo, hi = r[:, 0] - tolerance, r[:, 1] + tolerance
    # overlap with region k: s < hi_k and e > lo_k; check the regions around each word
    idx = np.searchsorted(lo, e, side="left")  # regions starting before the word ends
    inside = np.zeros(s.size, dtype=bool)
    for j in range(s.size):
        k = idx[j]
        if k > 0:
            inside[j] = bool(np.any(hi[:k] > s[j]))
    return ~inside


def judge_segment(
    words: Sequence[str],
    starts: Sequence[float],
    ends: Sequence[float],
    scores: Sequence[float],
    speech_regions: Sequence[tuple[float, float]] | None,
    settings: QualitySettings,
) -> SegmentVerdict:
    """Decide whether one segment is kept, and why not.

    Args:
        words, starts, ends, scores: The segment's words in order.
        speech_regions: VAD speech regions, or None to skip the outside-speech test.
        settings: Thresholds.
    """
    reasons: list[str] = []
    scores = [float(x) if x == x else 0.0 for x in scores]  # NaN counts as no confidence
    low = sum(1 for x in scores if x < settings.min_score)
    run = longest_low_run(scores, settings.min_score)
    if words and run >= settings.low_run:
        reasons.append(LOW_CONFIDENCE_RUN)
    gram = repeated_ngram(
        words, settings.ngram_max_n, settings.ngram_repeats, settings.ngram_min_share
    )
    if gram is not None:
        reasons.append(REPEATED_NGRAM)
    outside = 0
    if speech_regions is not None and words:
        outside = int(outside_speech(starts, ends, speech_regions, settings.vad_tolerance_s).sum())
        if outside / len(words) >= settings.max_outside_share:
            reasons.append(OUTSIDE_VAD)
    return SegmentVerdict(
        kept=not reasons,
        reasons=reasons,
        low_words=low,
        longest_low_run=run,
        outside_vad_words=outside,
        repeated_ngram=gram,
    )


def mark_tables(
    words: pd.DataFrame,
    segments: pd.DataFrame,
    speech_regions: Sequence[tuple[float, float]] | None,
    settings: QualitySettings | None = None,
) -> pd.DataFrame:
    """Recompute ``kept`` and ``drop_reason`` of a ``segments`` table from its ``words``.

    Args:
        words: Columns ``segment, word, start, end, score`` (one video).
        segments: Columns ``segment`` and any others; returned with ``kept``/``drop_reason``
            replaced.
        speech_regions: VAD speech regions, or None to skip that test.
        settings: Thresholds.

    Returns:
        A copy of ``segments`` with the verdicts.
    """
    settings = settings or QualitySettings()
    out = segments.copy()
    kept, why = [], []
    by_seg = {k: g.sort_values("start") for k, g in words.groupby("segment")}
    for seg in out["segment"]:
        g = by_seg.get(seg)
        if g is None or g.empty:
            verdict = judge_segment([], [], [], [], speech_regions, settings)
        else:
            verdict = judge_segment(
                g["word"].tolist(),
                g["start"].tolist(),
                g["end"].tolist(),
                g["score"].tolist(),
                speech_regions,
                settings,
            )
        kept.append(verdict.kept)
        why.append(verdict.drop_reason)
    out["kept"] = kept
    out["drop_reason"] = pd.Series(why, index=out.index, dtype="object")
    return out
