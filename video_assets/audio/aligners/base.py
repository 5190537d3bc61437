"""The interface every word aligner implements, and what they all return.

An aligner receives the transcript's segments (times from the VAD chunks, text from
Whisper) and the 16 kHz mono audio, and returns the segments with one timed, scored word
per word of the text. Whatever the backend, every word leaves with a start, an end, a
score in [0, 1] and the name of what timed it: a word the backend could not place is given
an even share of the gap between its placed neighbours, a score of 0 and the aligner
:data:`INTERPOLATED`, and counted in ``unaligned_words`` (:mod:`.fallback` then retries
such words before their interpolated times are kept).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from video_assets.audio.extract import Samples

SAMPLE_RATE = 16000
INTERPOLATED = "interpolated"
"""The ``aligner`` of a word no backend could time: evenly spread over its gap, score 0."""


@dataclass
class TextSegment:
    """A stretch of transcript to align: its time span in the audio and its text."""

    start: float
    end: float
    text: str
    avg_logprob: float | None = None


@dataclass
class AlignedWord:
    """A word placed in time, with the aligner's confidence."""

    word: str
    start: float
    end: float
    score: float
    """In [0, 1]; how it is derived depends on the aligner (see docs/audio.md)."""
    speaker: str | None = None
    aligner: str = ""
    """What timed the word: a backend's name (``pocketsphinx``, ``whisper``...) or
    :data:`INTERPOLATED`."""


@dataclass
class AlignedSegment:
    """A segment after alignment: its span is that of its words when it has any."""

    start: float
    end: float
    text: str
    words: list[AlignedWord] = field(default_factory=list)
    speaker: str | None = None
    avg_logprob: float | None = None


class Aligner(ABC):
    """Places the words of known text in the audio.

    Attributes:
        name: Backend name recorded in results (``wav2vec2``, ``pocketsphinx``, ``whisper``).
        model: The model it uses (a folder, a package model), for the metadata.
        unaligned_words: Words the last :meth:`align` call could not place (given score 0).
    """

    name: str
    model: str
    unaligned_words: int = 0

    @abstractmethod
    def align(self, segments: Sequence[TextSegment], audio: Samples) -> list[AlignedSegment]:
        """Align every segment's text to ``audio`` (float32 mono, 16 kHz)."""

    def close(self) -> None:  # noqa: B027 - optional hook: backends holding no model need not override it
        """Release the model. The aligner is unusable afterwards."""

    def __enter__(self) -> Aligner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split_words(text: str) -> list[str]:
    """The words of a segment as the tables store them.

    Whitespace-separated tokens with their punctuation (``"Hello,"``); tokens without a
    letter or digit (a lone dash) are not words and are left out.
    """
    return [t for t in text.split() if any(ch.isalnum() for ch in t)]


def clamp_score(value: float | None) -> float:
    """A score forced into [0, 1]; NaN or None become 0."""
    if value is None or not math.isfinite(value):
        return 0.0
    return float(min(1.0, max(0.0, value)))


def fill_unplaced(
    words: list[str],
    starts: list[float | None],
    ends: list[float | None],
    scores: list[float | None],
    seg_start: float,
    seg_end: float,
    aligner: str = "",
) -> tuple[list[AlignedWord], int]:
    """Build AlignedWords, giving unplaced words an even share of the gap they sit in.

    Args:
        aligner: The name recorded on the placed words; unplaced ones get
            :data:`INTERPOLATED`.

    Returns:
        The words and how many had no placement (their score is 0).
    """
    n = len(words)
    placed = [
        s is not None and e is not None and math.isfinite(s) and math.isfinite(e)
        for s, e in zip(starts, ends, strict=True)
    ]
    out: list[AlignedWord] = []
    missing = 0
    i = 0
    while i < n:
        if placed[i]:
            s, e = float(starts[i]), float(ends[i])  # type: ignore[arg-type]
            out.append(AlignedWord(words[i], s, max(s, e), clamp_score(scores[i]), aligner=aligner))
            i += 1
            continue
        j = i
        while j < n and not placed[j]:
            j += 1
        lo = out[-1].end if out else seg_start
        hi = float(starts[j]) if j < n else seg_end  # type: ignore[arg-type]
        hi = max(lo, hi)
        step = (hi - lo) / (j - i)
        for k in range(i, j):
            out.append(
                AlignedWord(
                    words[k],
                    lo + (k - i) * step,
                    lo + (k - i + 1) * step,
                    0.0,
                    aligner=INTERPOLATED,
                )
            )
        missing += j - i
        i = j
    return out, missing


def finish_segment(seg: TextSegment, words: list[AlignedWord]) -> AlignedSegment:
    """An AlignedSegment whose span covers its words (or the input span when it has none)."""
    if words:
        return AlignedSegment(
            start=min(w.start for w in words),
            end=max(w.end for w in words),
            text=seg.text.strip(),
            words=words,
            avg_logprob=seg.avg_logprob,
        )
    return AlignedSegment(
        start=seg.start, end=seg.end, text=seg.text.strip(), words=[], avg_logprob=seg.avg_logprob
    )
