"""English forced alignment with CMU Sphinx, using the model shipped in the pocketsphinx wheel.

The wheel carries the en-us continuous acoustic model and the CMU pronouncing dictionary.
``Decoder.set_align_text`` turns the decoder into a forced aligner: it searches only the
given word sequence (with optional silences between words), and ``seg()`` returns each
word's first and last 10 ms frame and its acoustic score.

Score: pocketsphinx reports a word's acoustic score as its likelihood relative to the best
scoring senone of every frame, so ``ln(ascore) / frames`` is a per-frame log-likelihood
ratio (0 when the aligned states are the best possible, very negative when the text does
not match the sound). The score is ``exp(ratio / 4)``. The temperature of 4 nats per frame
was set on espeak speech: correctly transcribed words have a median ratio of -1.65 (score
0.66, 5th percentile 0.49), words replaced by a random dictionary word -7.1 (score 0.17);
a score below 0.4 means a ratio below -3.7.

Words the dictionary lacks get a pronunciation: numbers are spelled out (years as pairs),
anything else gets a crude letter-to-sound guess; a wrong guess shows as a low score.
A forced aligner must give every frame to a word or to silence, and music under a pause
fits a word's first or last phone better than the silence model: a sentence-initial "The"
then starts up to 0.8 s early, a sentence-final word ends late. A word longer than
:data:`SECONDS_PER_PHONE` per phone plus :data:`STRETCH_SLACK_S` (longer than any word of
the espeak truth) is tightened to the loudest stretch of sound inside it (10 ms frames
above a third of the way from the span's quietest tenth to its peak, gaps under 100 ms
bridged), and only where that stretch stands out by :data:`MIN_CONTRAST_DB`; a boundary
moves only by more than :data:`MIN_MOVE_S`, and a word of normal length is never moved.

Exact digital silence breaks the decoder's features (it then fails to reach the end of the
text), so the audio gets seeded noise at -60 dBFS before decoding: inaudible, deterministic.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from video_assets.audio.aligners.base import (
    SAMPLE_RATE,
    AlignedSegment,
    Aligner,
    TextSegment,
    fill_unplaced,
    finish_segment,
    split_words,
)
from video_assets.audio.aligners.text import dictionary_words, guess_phones
from video_assets.audio.extract import Samples, as_samples

SCORE_TEMPERATURE = 4.0
"""Nats per frame: score = exp(per-frame log-likelihood ratio / SCORE_TEMPERATURE)."""
DITHER_RMS = 1e-3
FRAME_S = 0.01
LANGUAGES = ("en",)
_FILLERS = ("<", "[", "+")
SECONDS_PER_PHONE = 0.1
STRETCH_SLACK_S = 0.2
"""A word is stretched beyond ``SECONDS_PER_PHONE * phones + STRETCH_SLACK_S``; on espeak
speech the longest true word exceeds ``0.1 s * phones`` by 0.15 s."""
MIN_CONTRAST_DB = 10.0
MAX_GAP_FRAMES = 10
MIN_MOVE_S = 0.15
"""A boundary moves only by more than this: a weak first or last consonant (f, h, th) sits
below the loudness threshold for up to about 0.1 s and must keep the aligner's boundary."""


def tighten(audio: Samples, start: float, end: float, phones: int) -> tuple[float, float]:
    """``(start, end)`` of a word in ``audio`` (16 kHz, times in seconds from its first
    sample), shrunk to its loudest stretch of sound when the span is implausibly long for
    ``phones`` phones and that stretch stands out from the rest; else unchanged."""
    if end - start <= SECONDS_PER_PHONE * phones + STRETCH_SLACK_S:
        return start, end
    hop = int(FRAME_S * SAMPLE_RATE)
    lo = max(0, int(round(start * SAMPLE_RATE)))
    span = np.asarray(audio[lo : int(round(end * SAMPLE_RATE))], dtype=np.float64)
    n = len(span) // hop
    if n < 3:
        return start, end
    power = np.mean(span[: n * hop].reshape(n, hop) ** 2, axis=1)
    db = 10.0 * np.log10(power + 1e-12)
    floor, peak = float(np.percentile(db, 10)), float(db.max())
    if peak - floor < MIN_CONTRAST_DB:
        return start, end
    active = np.flatnonzero(db >= floor + (peak - floor) / 3.0)
    # Runs of active frames with gaps under 100 ms bridged; keep the one holding most energy.
    breaks = np.flatnonzero(np.diff(active) > MAX_GAP_FRAMES)
    runs = np.split(active, breaks + 1)
    best = max(runs, key=lambda r: float(power[r[0] : r[-1] + 1].sum()))
    first, last = int(best[0]), int(best[-1]) + 1
    a, b = (lo + first * hop) / SAMPLE_RATE, (lo + last * hop) / SAMPLE_RATE
    return (a if a - start > MIN_MOVE_S else start), (b if end - b > MIN_MOVE_S else end)


def _import_pocketsphinx() -> Any:
    try:
        import pocketsphinx
    except ImportError as exc:  # pragma: no cover - pocketsphinx is a declared dependency
        raise ImportError(
            f"the pocketsphinx aligner needs the pocketsphinx package ({exc})"
        ) from exc
    return pocketsphinx


def model_paths() -> tuple[str, str]:
    """The acoustic model folder and dictionary shipped in the pocketsphinx wheel."""
    ps = _import_pocketsphinx()
    root = ps.get_model_path("en-us")
    return os.path.join(root, "en-us"), os.path.join(root, "cmudict-en-us.dict")


class PocketsphinxAligner(Aligner):
    """Forced alignment of English text with the CMU Sphinx en-us model.

    Args:
        pad_s: Audio added on both sides of a segment before aligning it (0 to 2 s), so a
            word cut by the VAD chunk's edge can still be placed.
        beam: Decoder beam (pocketsphinx ``-beam``); a failed alignment is retried once
            with a beam 1e-32 times wider.
        seed: Seed of the dither noise.
    """

    name = "pocketsphinx"

    def __init__(self, *, pad_s: float = 0.3, beam: float = 1e-48, seed: int = 0):
        if not 0.0 <= pad_s <= 2.0:
            raise ValueError(f"pad_s must be in [0, 2] seconds, got {pad_s}")
        if not 0.0 < beam < 1.0:
            raise ValueError(f"beam must be in (0, 1), got {beam}")
        self.pad_s = pad_s
        self.beam = beam
        self.seed = seed
        self.hmm, self.dict_path = model_paths()
        self.model = f"pocketsphinx en-us ({self.hmm})"
        self._decoders: dict[float, Any] = {}
        self.unaligned_words = 0
        self.guessed_words: list[str] = []

    def _decoder(self, beam: float) -> Any:
        if beam not in self._decoders:
            ps = _import_pocketsphinx()
            self._decoders[beam] = ps.Decoder(
                hmm=self.hmm,
                dict=self.dict_path,
                lm=None,
                samprate=SAMPLE_RATE,
                loglevel="FATAL",
                beam=beam,
                pbeam=beam,
                wbeam=min(0.5, beam * 1e20),
            )
        return self._decoders[beam]

    def _pronounceable(self, words: list[str]) -> list[str]:
        """Make sure every dictionary word has a pronunciation (adding guesses) and return them."""
        decoder = self._decoder(self.beam)
        for w in words:
            if decoder.lookup_word(w) is None:
                decoder.add_word(w, guess_phones(w), True)
                self.guessed_words.append(w)
        return words

    def _phones(self, words: list[str]) -> int:
        decoder = self._decoder(self.beam)
        return sum(len((decoder.lookup_word(w) or guess_phones(w)).split()) for w in words)

    def _run(
        self, beam: float, pcm: bytes, words: list[str]
    ) -> list[tuple[int, int, float]] | None:
        decoder = self._decoder(beam)
        for w in words:  # a decoder made for a retry needs the guessed words too
            if decoder.lookup_word(w) is None:
                decoder.add_word(w, guess_phones(w), True)
        decoder.set_align_text(" ".join(words))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        segs = [s for s in (decoder.seg() or []) if not s.word.startswith(_FILLERS)]
        if len(segs) != len(words):
            return None
        out = []
        for s in segs:
            frames = s.end_frame - s.start_frame + 1
            llr = math.log(s.ascore) / frames if s.ascore > 0 else -math.inf
            out.append((s.start_frame, s.end_frame + 1, min(0.0, llr)))
        return out

    def align(self, segments: Sequence[TextSegment], audio: Samples) -> list[AlignedSegment]:
        audio = as_samples(audio)
        duration = len(audio) / SAMPLE_RATE
        self.unaligned_words = 0
        result = []
        for k, seg in enumerate(segments):
            tokens = split_words(seg.text)
            spoken = [dictionary_words(t) for t in tokens]
            flat = self._pronounceable([w for ws in spoken for w in ws])
            starts: list[float | None] = [None] * len(tokens)
            ends: list[float | None] = [None] * len(tokens)
            scores: list[float | None] = [None] * len(tokens)
            if flat:
                lo = max(0.0, seg.start - self.pad_s)
                hi = min(duration, seg.end + self.pad_s)
                chunk = audio[int(lo * SAMPLE_RATE) : int(hi * SAMPLE_RATE)]
                rng = np.random.default_rng([self.seed, k])
                noisy = chunk + rng.normal(0.0, DITHER_RMS, chunk.shape).astype(np.float32)
                pcm = (np.clip(noisy, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
                placed = (
                    self._run(self.beam, pcm, flat) if len(chunk) >= SAMPLE_RATE // 10 else None
                )
                if placed is None and len(chunk) >= SAMPLE_RATE // 10:
                    placed = self._run(self.beam * 1e-32, pcm, flat)
                if placed is not None:
                    pos = 0
                    for i, ws in enumerate(spoken):
                        if not ws:
                            continue
                        parts = placed[pos : pos + len(ws)]
                        pos += len(ws)
                        frames = sum(e - s for s, e, _ in parts)
                        llr = sum(r * (e - s) for s, e, r in parts) / frames
                        a, b = tighten(
                            chunk, parts[0][0] * FRAME_S, parts[-1][1] * FRAME_S, self._phones(ws)
                        )
                        starts[i], ends[i] = lo + a, lo + b
                        scores[i] = math.exp(llr / SCORE_TEMPERATURE) if math.isfinite(llr) else 0.0
            words, missing = fill_unplaced(
                tokens, starts, ends, scores, seg.start, seg.end, self.name
            )
            self.unaligned_words += missing
            result.append(finish_segment(seg, words))
        return result

    def close(self) -> None:
        self._decoders.clear()
