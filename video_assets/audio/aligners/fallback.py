"""Word timings that degrade gracefully: retry on smaller pieces, then the next backend.

A forced aligner fails on a whole segment at once: pocketsphinx must fit every word of the
text into the audio or returns nothing, and one loud stretch of music in a 30 s segment of
speech that never pauses is enough. :class:`FallbackAligner` wraps the chosen aligner and
keeps every word it placed; for each run of words it could not place (their ``aligner`` is
:data:`~video_assets.audio.aligners.base.INTERPOLATED`) it tries, in order:

1. **the next backend's times** (Whisper's word timestamps, :mod:`.whisper`), computed once
   for the failed segment's whole text. They are coarse (tens of ms) but rarely far off,
   so they say where each word roughly is;
2. **smaller pieces**: the run is cut after sentence ends, after commas once a piece holds
   :attr:`FallbackAligner.clause_words` words, at pauses (a gap of more than
   :attr:`FallbackAligner.pause_s` between the next backend's words, or a VAD region
   boundary), and into at most :attr:`FallbackAligner.max_piece_words` words. Each piece is
   aligned again by the same aligner on its own stretch of audio: the next backend's span
   widened by :attr:`FallbackAligner.margin_s`, never reaching back before the last placed
   word nor past the next one, silence around it (so neighbouring speech cannot pull the
   edge words out). A piece that fails again is halved, down to two words;
3. **the next backend's time** for each word still unplaced, clipped to the gap between its
   placed neighbours (``aligner`` = the backend's name, its score that backend's);
4. **interpolation** only where no backend has a time: an even share of the gap, score 0.

The next backend is loaded only when a word needs it, and closed with this aligner. When
the chosen aligner is that backend itself, steps 1 and 3 are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from video_assets.audio.aligners.base import (
    INTERPOLATED,
    SAMPLE_RATE,
    AlignedSegment,
    AlignedWord,
    Aligner,
    TextSegment,
)
from video_assets.audio.extract import Samples, as_samples

MAX_WORDS_PER_S = 8.0
"""Faster than any speech (fast talkers reach about 5 words a second)."""
PILE_WORDS = 4
"""Consecutive words over which :data:`MAX_WORDS_PER_S` is tested."""
_SENTENCE_END = re.compile(r"[.!?…]['\")\]]*$")
_CLAUSE_END = re.compile(r"[,;:—–]['\")\]]*$")


@dataclass
class FallbackCounts:
    """What the last :meth:`FallbackAligner.align` call did beyond the first aligner."""

    failed_words: int = 0
    """Words the first aligner could not place."""
    pieces: int = 0
    """Pieces aligned again (halves of failed pieces included)."""
    placed_on_pieces: int = 0
    """Of the failed words, those the first aligner placed on a smaller piece."""
    from_next_backend: int = 0
    """Of the failed words, those timed by the next backend."""
    interpolated: int = 0
    """Words no backend could time."""


class FallbackAligner(Aligner):
    """The chosen aligner, with failed words retried on pieces and then timed by the next backend.

    Args:
        primary: The aligner chosen for the language (it is closed with this one).
        next_backend: Builds the next backend (Whisper's word timestamps) when a word needs
            it; None when there is none (the primary is already Whisper).
        speech_regions: Where the VAD heard speech (seconds); their boundaries cut pieces.
        margin_s: Audio kept on each side of a piece beyond the next backend's span, 0 to 2 s.
        pause_s: A gap between the next backend's words that cuts a piece, 0.05 to 5 s.
        max_piece_words: Most words in one piece, 2 to 100.
        clause_words: A comma cuts a piece once it holds this many words, 1 to 100.
        tolerance_s: How far outside the gap between its placed neighbours a word's time
            from the next backend may lie and still be taken (clipped), 0 to 2 s.

    Attributes:
        counts: What the last ``align`` call retried, and how each failed word was timed.
        next_model: The next backend's model, once loaded.
        notes: Why the next backend could not be used, when it could not.
    """

    def __init__(
        self,
        primary: Aligner,
        *,
        next_backend: Callable[[], Aligner] | None,
        speech_regions: Sequence[tuple[float, float]] | None = None,
        margin_s: float = 0.25,
        pause_s: float = 0.3,
        max_piece_words: int = 10,
        clause_words: int = 4,
        tolerance_s: float = 0.1,
    ):
        if not 0.0 <= margin_s <= 2.0:
            raise ValueError(f"margin_s must be in [0, 2] seconds, got {margin_s}")
        if not 0.05 <= pause_s <= 5.0:
            raise ValueError(f"pause_s must be in [0.05, 5] seconds, got {pause_s}")
        if not 2 <= max_piece_words <= 100:
            raise ValueError(f"max_piece_words must be in [2, 100], got {max_piece_words}")
        if not 1 <= clause_words <= 100:
            raise ValueError(f"clause_words must be in [1, 100], got {clause_words}")
        if not 0.0 <= tolerance_s <= 2.0:
            raise ValueError(f"tolerance_s must be in [0, 2] seconds, got {tolerance_s}")
        self.primary = primary
        self.name = primary.name
        self.model = primary.model
        self._build_next = next_backend
        self._next: Aligner | None = None
        self._next_failed = False
        self.next_model: str | None = None
        self.speech_regions = sorted(speech_regions or [])
        self.margin_s = margin_s
        self.pause_s = pause_s
        self.max_piece_words = max_piece_words
        self.clause_words = clause_words
        self.tolerance_s = tolerance_s
        self.counts = FallbackCounts()
        self.notes: list[str] = []
        self.unaligned_words = 0

    @property
    def sentence_splitter(self) -> str | None:
        """The primary's sentence splitter (wav2vec2 cuts its output into sentences)."""
        return getattr(self.primary, "sentence_splitter", None)

    def align(self, segments: Sequence[TextSegment], audio: Samples) -> list[AlignedSegment]:
        audio = as_samples(audio)
        self.counts = FallbackCounts()
        aligned = self.primary.align(segments, audio)
        duration = len(audio) / SAMPLE_RATE
        out = []
        for k, seg in enumerate(aligned):
            failed = sum(w.aligner == INTERPOLATED for w in seg.words)
            if not failed:
                out.append(seg)
                continue
            self.counts.failed_words += failed
            floor = _last_end(out, 0.0)
            ceiling = _first_start(aligned[k + 1 :], duration)
            out.append(self._repair(seg, audio, floor, ceiling))
        self.counts.interpolated = sum(w.aligner == INTERPOLATED for s in out for w in s.words)
        self.unaligned_words = self.counts.interpolated
        return out

    def _next_aligner(self) -> Aligner | None:
        if self._next is None and self._build_next is not None and not self._next_failed:
            try:
                self._next = self._build_next()
                self.next_model = f"{self._next.name}: {self._next.model}"
            except Exception as exc:  # noqa: BLE001 - any load failure leaves interpolation
                self._next_failed = True
                self.notes.append(
                    f"the next aligner could not be loaded ({type(exc).__name__}: {exc}); "
                    "failed words keep interpolated times"
                )
        return self._next

    def _repair(
        self, seg: AlignedSegment, audio: Samples, floor: float, ceiling: float
    ) -> AlignedSegment:
        words = list(seg.words)
        lo = max(floor, seg.start - self.margin_s)
        hi = min(ceiling, seg.end + self.margin_s)
        coarse = self._coarse_times(seg.text, len(words), audio, lo, hi)
        for i, j in _interpolated_runs(words):
            self._retry_run(words, i, j, coarse, audio, lo, hi)
        # Second round: the words placed so far are anchors; the next backend times each run
        # left between them on that stretch alone (a shorter text is timed more reliably).
        for i, j in _interpolated_runs(words):
            left = _placed_end_before(words, i, lo)
            right = _placed_start_after(words, j - 1, hi)
            if (i, j) == (0, len(words)) or right <= left:
                continue
            text = " ".join(w.word for w in words[i:j])
            coarse[i:j] = self._coarse_times(text, j - i, audio, left, right)
            self._retry_run(words, i, j, coarse, audio, lo, hi)
        for i, j in _interpolated_runs(words):
            self._take_next_times(words, i, j, coarse, lo, hi)
        for i, j in _interpolated_runs(words):
            _interpolate(words, i, j, max(floor, seg.start), min(ceiling, seg.end))
        return AlignedSegment(
            start=min(w.start for w in words),
            end=max(w.end for w in words),
            text=seg.text,
            words=words,
            speaker=seg.speaker,
            avg_logprob=seg.avg_logprob,
        )

    def _coarse_times(
        self, text: str, n: int, audio: Samples, lo: float, hi: float
    ) -> list[AlignedWord | None]:
        """The next backend's time for each of the ``n`` words of ``text`` on ``[lo, hi]``.

        None where it has none, and where its words pile up faster than
        :data:`MAX_WORDS_PER_S` (cross-attention that lost the speech under loud music
        crowds the rest of the text into a moment).
        """
        nxt = self._next_aligner() if self._build_next is not None else None
        if nxt is None or hi <= lo:
            return [None] * n
        found = [w for s in nxt.align([TextSegment(lo, hi, text)], audio) for w in s.words]
        if len(found) != n:
            return [None] * n
        out: list[AlignedWord | None] = [w if w.aligner != INTERPOLATED else None for w in found]
        k = PILE_WORDS
        for m in range(n - k + 1):
            span = found[m + k - 1].end - found[m].start
            if span < k / MAX_WORDS_PER_S:
                out[m : m + k] = [None] * k
        return out

    def _pieces(self, words: list[AlignedWord], idx: list[int], coarse: list) -> list[list[int]]:
        """Cut a run of word indices at sentence ends, clauses, pauses and VAD boundaries."""
        pieces: list[list[int]] = [[]]
        for n, i in enumerate(idx):
            piece = pieces[-1]
            piece.append(i)
            if n == len(idx) - 1:
                break
            text, nxt = words[i].word, idx[n + 1]
            cut = (
                bool(_SENTENCE_END.search(text))
                or (bool(_CLAUSE_END.search(text)) and len(piece) >= self.clause_words)
                or len(piece) >= self.max_piece_words
            )
            a, b = coarse[i], coarse[nxt]
            if a is not None and b is not None:
                cut = cut or b.start - a.end > self.pause_s
                cut = cut or any(a.end <= e <= b.start for _, e in self.speech_regions)
            if cut:
                pieces.append([])
        return [p for p in pieces if p]

    def _retry_run(
        self,
        words: list[AlignedWord],
        i: int,
        j: int,
        coarse: list[AlignedWord | None],
        audio: Samples,
        lo: float,
        hi: float,
    ) -> None:
        queue = [(p, 0) for p in self._pieces(words, list(range(i, j)), coarse)]
        while queue:
            piece, depth = queue.pop(0)
            left = _placed_end_before(words, piece[0], lo)
            right = _placed_start_after(words, piece[-1], hi)
            # Without the next backend's times, the evenly spread ones are a loose guess.
            a, b = coarse[piece[0]], coarse[piece[-1]]
            start = max(left, a.start - self.margin_s if a else words[piece[0]].start - 1.0)
            end = min(right, b.end + self.margin_s if b else words[piece[-1]].end + 1.0)
            if end - start < 0.05 * len(piece):
                continue
            self.counts.pieces += 1
            placed = self._align_piece(audio, start, end, " ".join(words[k].word for k in piece))
            if placed is not None and len(placed) == len(piece):
                for k, w in zip(piece, placed, strict=True):
                    if w.aligner != INTERPOLATED:
                        words[k] = _with_speaker(w, words[k].speaker)
                        self.counts.placed_on_pieces += 1
            rest = [k for k in piece if words[k].aligner == INTERPOLATED]
            if rest == piece and len(piece) > 2 and depth < 2:
                half = len(piece) // 2
                queue[:0] = [(piece[:half], depth + 1), (piece[half:], depth + 1)]

    def _align_piece(
        self, audio: Samples, start: float, end: float, text: str
    ) -> list[AlignedWord] | None:
        """Align ``text`` on ``audio[start:end]`` with silence around it; absolute times."""
        pad = int(round(self.margin_s * SAMPLE_RATE)) + SAMPLE_RATE // 2
        a = max(0, int(round(start * SAMPLE_RATE)))
        b = max(a, min(len(audio), int(round(end * SAMPLE_RATE))))
        excerpt = np.zeros(b - a + 2 * pad, np.float32)
        excerpt[pad : pad + b - a] = audio[a:b]
        offset = a / SAMPLE_RATE - pad / SAMPLE_RATE
        seg = TextSegment(pad / SAMPLE_RATE, (pad + b - a) / SAMPLE_RATE, text)
        out = [w for s in self.primary.align([seg], excerpt) for w in s.words]
        for w in out:
            w.start = min(end, max(start, w.start + offset))
            w.end = min(end, max(w.start, w.end + offset))
        return out

    def _take_next_times(
        self,
        words: list[AlignedWord],
        i: int,
        j: int,
        coarse: list[AlignedWord | None],
        lo: float,
        hi: float,
    ) -> None:
        right = _placed_start_after(words, j - 1, hi)
        for k in range(i, j):
            c = coarse[k]
            if c is None:
                continue
            left = _placed_end_before(words, k, lo)
            if c.end < left - self.tolerance_s or c.start > right + self.tolerance_s:
                continue
            start = min(right, max(left, c.start))
            words[k] = AlignedWord(
                words[k].word,
                start,
                min(right, max(start, c.end)),
                c.score,
                speaker=words[k].speaker,
                aligner=c.aligner,
            )
            self.counts.from_next_backend += 1

    def close(self) -> None:
        self.primary.close()
        if self._next is not None:
            self._next.close()
            self._next = None


def _with_speaker(word: AlignedWord, speaker: str | None) -> AlignedWord:
    word.speaker = speaker
    return word


def _interpolated_runs(words: list[AlignedWord]) -> list[tuple[int, int]]:
    runs, i = [], 0
    while i < len(words):
        if words[i].aligner != INTERPOLATED:
            i += 1
            continue
        j = i
        while j < len(words) and words[j].aligner == INTERPOLATED:
            j += 1
        runs.append((i, j))
        i = j
    return runs


def _placed_end_before(words: list[AlignedWord], k: int, default: float) -> float:
    return next(
        (words[m].end for m in range(k - 1, -1, -1) if words[m].aligner != INTERPOLATED), default
    )


def _placed_start_after(words: list[AlignedWord], k: int, default: float) -> float:
    return next(
        (words[m].start for m in range(k + 1, len(words)) if words[m].aligner != INTERPOLATED),
        default,
    )


def _interpolate(words: list[AlignedWord], i: int, j: int, lo: float, hi: float) -> None:
    left = _placed_end_before(words, i, lo)
    right = max(left, _placed_start_after(words, j - 1, hi))
    step = (right - left) / (j - i)
    for n, k in enumerate(range(i, j)):
        w = words[k]
        w.start, w.end, w.score = left + n * step, left + (n + 1) * step, 0.0


def _last_end(segments: Sequence[AlignedSegment], default: float) -> float:
    for seg in reversed(segments):
        placed = [w.end for w in seg.words if w.aligner != INTERPOLATED]
        if placed:
            return max(placed)
    return default


def _first_start(segments: Sequence[AlignedSegment], default: float) -> float:
    for seg in segments:
        placed = [w.start for w in seg.words if w.aligner != INTERPOLATED]
        if placed:
            return min(placed)
    return default
