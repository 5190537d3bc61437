"""Transcript metrics against ground truth: word error rate and word onset error."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Protocol

import numpy as np


class _Timed(Protocol):
    word: str
    start: float


def norm_words(text: str) -> list[str]:
    """Lower-case words without punctuation, for comparing transcripts."""
    return [w for w in (re.sub(r"[^a-z0-9']", "", t.lower()) for t in text.split()) if w]


def word_error_rate(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    """Word-level Levenshtein distance divided by the reference length."""
    d = np.arange(len(hypothesis) + 1)
    for i, r in enumerate(reference, 1):
        prev = d.copy()
        d[0] = i
        for j, h in enumerate(hypothesis, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r != h))
    return float(d[-1]) / max(1, len(reference))


def matched_onset_errors(truth: Sequence[Any], words: Sequence[_Timed]) -> np.ndarray:
    """Absolute onset errors (s) of hypothesis words matched to truth words by text, in order.

    Args:
        truth: Ground-truth words with ``word``, ``start`` and ``has_event`` (only words with
            their own onset count), e.g. :class:`video_assets.speech.SpeechWord`.
        words: Hypothesis words with ``word`` and ``start``; words the transcript got wrong
            have no match and are left out.
    """
    ref = [re.sub(r"[^a-z0-9']", "", w.word.lower()) for w in truth]
    hyp = [re.sub(r"[^a-z0-9']", "", w.word.lower()) for w in words]
    errors = []
    for block in SequenceMatcher(a=ref, b=hyp, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            t, h = truth[block.a + k], words[block.b + k]
            if getattr(t, "has_event", True):
                errors.append(abs(h.start - t.start))
    return np.array(errors, dtype=float)


@dataclass
class OnsetStats:
    """Summary of onset errors."""

    words: int
    mean_ms: float
    median_ms: float
    within_50ms: float
    within_100ms: float

    @classmethod
    def of(cls, errors: np.ndarray) -> OnsetStats:
        if errors.size == 0:
            return cls(0, float("nan"), float("nan"), float("nan"), float("nan"))
        return cls(
            words=int(errors.size),
            mean_ms=float(errors.mean() * 1000),
            median_ms=float(np.median(errors) * 1000),
            within_50ms=float(np.mean(errors <= 0.05)),
            within_100ms=float(np.mean(errors <= 0.1)),
        )
