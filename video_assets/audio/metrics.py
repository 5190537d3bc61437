"""Metrics against ground truth: word error rate, word onset error, SI-SDR, DER, word speakers."""

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


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio of ``estimate`` against ``reference``, in dB.

    Both are 1-D and of the same length; the reference is scaled to best fit the estimate
    (Le Roux et al., 2019), so a louder or quieter stem is not penalised.
    """
    est = np.asarray(estimate, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if est.shape != ref.shape or est.ndim != 1:
        raise ValueError(
            f"estimate and reference must be 1-D of one length, got {est.shape}, {ref.shape}"
        )
    target = ref * (np.dot(est, ref) / (np.dot(ref, ref) + 1e-12))
    noise = est - target
    return float(10 * np.log10((np.sum(target**2) + 1e-12) / (np.sum(noise**2) + 1e-12)))


def matched_onset_errors(truth: Sequence[Any], words: Sequence[_Timed]) -> np.ndarray:
    """Absolute onset errors (s) of hypothesis words matched to truth words by text, in order.

    Args:
        truth: Ground-truth words with ``word``, ``start`` and ``has_event`` (only words with
            their own onset count), e.g. :class:`video_assets.generate.speech.SpeechWord`.
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


def ordered_onset_errors(truth: Sequence[Any], words: Sequence[_Timed]) -> np.ndarray:
    """Like :func:`matched_onset_errors`, but words are paired by a minimum edit alignment.

    Difflib pairs the longest common run first, which on repeated text (one utterance
    looped) can pair a hypothesis word with the same word one repetition away; the
    Levenshtein alignment pairs the words in order, as a word error count would.
    """
    return np.array(
        [abs(words[h].start - truth[t].start) for t, h in ordered_onset_pairs(truth, words)],
        dtype=float,
    )


def ordered_onset_pairs(truth: Sequence[Any], words: Sequence[_Timed]) -> list[tuple[int, int]]:
    """``(truth index, hypothesis index)`` of the words paired with the same text by a
    minimum edit alignment, in order; truth words without their own onset are left out."""
    ref = [re.sub(r"[^a-z0-9']", "", w.word.lower()) for w in truth]
    hyp = [re.sub(r"[^a-z0-9']", "", w.word.lower()) for w in words]
    n, m = len(ref), len(hyp)
    # Edit cost 1 per substitution, insertion or deletion; a pair of equal words costs its
    # onset distance / 10 s (at most 0.5), so among equal edit counts the pairing in time wins.
    starts = np.array([w.start for w in words], dtype=float)
    hyp_arr = np.array(hyp, dtype=object)
    cost = np.zeros((n + 1, m + 1))
    cost[:, 0] = np.arange(n + 1)
    cost[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        same = hyp_arr == ref[i - 1]
        pair = np.where(same, np.minimum(np.abs(starts - truth[i - 1].start), 5.0) / 10.0, 1.0)
        row = np.minimum(cost[i - 1, 1:] + 1, cost[i - 1, :-1] + pair)
        prev = float(cost[i, 0])
        for j in range(m):  # insertions run along the row
            prev = row[j] = min(row[j], prev + 1)
        cost[i, 1:] = row
    pairs = []
    i, j = n, m
    while i > 0 and j > 0:
        dt = min(abs(starts[j - 1] - truth[i - 1].start), 5.0) / 10.0
        if ref[i - 1] == hyp[j - 1] and np.isclose(cost[i, j], cost[i - 1, j - 1] + dt):
            if getattr(truth[i - 1], "has_event", True):
                pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif np.isclose(cost[i, j], cost[i - 1, j - 1] + 1):
            i, j = i - 1, j - 1
        elif np.isclose(cost[i, j], cost[i - 1, j] + 1):
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


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


class _Turn(Protocol):
    start: float
    end: float
    speaker: str


def diarization_error_rate(
    reference: Sequence[_Turn], hypothesis: Sequence[_Turn], *, collar: float = 0.25
) -> float:
    """Diarization error rate: (missed + false alarm + confusion) / reference speech time.

    Computed by ``pyannote.metrics`` with the speakers mapped one to one for the lowest error.
    ``collar`` seconds on each side of every reference boundary are not scored (NIST's
    forgiveness collar; pyannote's own ``collar`` is the total width, twice this);
    overlapping speech is scored.
    """
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    def annotation(turns: Sequence[_Turn]) -> Annotation:
        out = Annotation()
        for i, t in enumerate(turns):
            out[Segment(t.start, t.end), i] = t.speaker
        return out

    metric = DiarizationErrorRate(collar=2 * collar, skip_overlap=False)
    return float(metric(annotation(reference), annotation(hypothesis)))


class _SpokenWord(Protocol):
    word: str
    start: float
    speaker: str | None


def word_speaker_accuracy(truth: Sequence[_SpokenWord], words: Sequence[_SpokenWord]) -> float:
    """Share of the truth words whose matched hypothesis word has the right speaker.

    Hypothesis words are matched to truth words by text, in order (as
    :func:`matched_onset_errors` does); hypothesis speaker labels are mapped one to one onto
    the truth's so that the most matched words agree. A truth word without a match, or
    matched to a word without a speaker, counts as wrong.
    """
    from scipy.optimize import linear_sum_assignment

    if not truth:
        return float("nan")
    ref = [re.sub(r"[^a-z0-9']", "", w.word.lower()) for w in truth]
    hyp = [re.sub(r"[^a-z0-9']", "", w.word.lower()) for w in words]
    pairs = []
    for block in SequenceMatcher(a=ref, b=hyp, autojunk=False).get_matching_blocks():
        pairs += [
            (truth[block.a + k].speaker, words[block.b + k].speaker) for k in range(block.size)
        ]
    ref_labels = sorted({str(t.speaker) for t in truth})
    hyp_labels = sorted({h for _, h in pairs if h is not None})
    if not hyp_labels:
        return 0.0
    counts = np.zeros((len(ref_labels), len(hyp_labels)))
    for r, h in pairs:
        if h is not None:
            counts[ref_labels.index(str(r)), hyp_labels.index(h)] += 1
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(truth))
