"""Whisper's own word timestamps as an aligner (faster-whisper, any language).

This is the mechanism behind faster-whisper's ``word_timestamps=True``: the segment's
audio is encoded, the transcript's tokens are forced through the decoder, and dynamic time
warping over the alignment heads' cross-attention gives each token a time
(``WhisperModel.find_alignment``). It is applied here to the given transcript text rather
than to a fresh decoding, so the words are the transcript's. It needs no extra model, but
its resolution is 20 ms and cross-attention is a loose proxy for timing: on espeak speech
tiny.en lands a median of about 86 ms from the true onsets.

Score: the word's probability, the mean probability Whisper gives to the word's tokens
when forced through the decoder (faster-whisper's ``Word.probability``).

Segments longer than Whisper's 30 s window are aligned in 30 s pieces cut at the
window boundary.
"""

from __future__ import annotations

import gc
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
from video_assets.audio.extract import Samples, as_samples

WINDOW_S = 30.0


class WhisperAligner(Aligner):
    """Word timings from Whisper cross-attention (faster-whisper ``find_alignment``).

    Args:
        model_path: A faster-whisper model folder (CTranslate2) or a cached model name.
        language: ISO code of the transcript.
        device: ``cpu`` or ``cuda[:N]``.
        compute_type: CTranslate2 compute type (``int8``, ``float16``, ``float32``...).
        threads: CPU threads for CTranslate2 (0: its default).
        local_files_only: Never download (a name must already be cached).
    """

    name = "whisper"

    def __init__(
        self,
        *,
        model_path: str,
        language: str,
        device: str = "cpu",
        compute_type: str = "int8",
        threads: int = 0,
        local_files_only: bool = True,
    ):
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        dev, index = (device.split(":") + ["0"])[:2] if device.startswith("cuda") else (device, "0")
        self._model: Any = WhisperModel(
            model_path,
            device=dev,
            device_index=int(index),
            compute_type=compute_type,
            cpu_threads=threads,
            local_files_only=local_files_only,
        )
        multilingual = self._model.model.is_multilingual
        if not multilingual and language != "en":
            raise ValueError(
                f"the Whisper model {model_path} is English-only; it cannot align {language!r}"
            )
        self._tokenizer = Tokenizer(
            self._model.hf_tokenizer, multilingual, task="transcribe", language=language
        )
        self.model = model_path
        self.language = language
        self.device = device
        self.unaligned_words = 0

    def _align_piece(self, audio: np.ndarray, text: str) -> list[dict]:
        from faster_whisper.audio import pad_or_trim

        model = self._model
        features = model.feature_extractor(audio)
        frames = min(features.shape[-1] - 1, model.feature_extractor.nb_max_frames)
        if frames <= 0:
            return []
        encoder_output = model.encode(pad_or_trim(features[:, :frames]))
        tokens = self._tokenizer.encode(" " + text.strip())
        if not tokens:
            return []
        return model.find_alignment(self._tokenizer, [tokens], encoder_output, frames)[0]

    def align(self, segments: Sequence[TextSegment], audio: Samples) -> list[AlignedSegment]:
        if self._model is None:
            raise RuntimeError("the aligner was closed")
        audio = as_samples(audio)
        self.unaligned_words = 0
        out = []
        for seg in segments:
            tokens = split_words(seg.text)
            starts: list[float | None] = [None] * len(tokens)
            ends: list[float | None] = [None] * len(tokens)
            scores: list[float | None] = [None] * len(tokens)
            if tokens:
                pieces = _window_pieces(seg, tokens)
                for (p0, p1), idx in pieces:
                    chunk = audio[int(p0 * SAMPLE_RATE) : int(p1 * SAMPLE_RATE)]
                    found = self._align_piece(chunk, " ".join(tokens[i] for i in idx))
                    for i, (s, e, p) in zip(
                        idx, _per_token(found, [tokens[i] for i in idx]), strict=True
                    ):
                        if s is not None and e is not None:
                            starts[i], ends[i], scores[i] = p0 + s, p0 + e, p
            words, missing = fill_unplaced(
                tokens, starts, ends, scores, seg.start, seg.end, self.name
            )
            self.unaligned_words += missing
            out.append(finish_segment(seg, words))
        return out

    def close(self) -> None:
        model, self._model = self._model, None
        del model
        gc.collect()


def _window_pieces(
    seg: TextSegment, tokens: list[str]
) -> list[tuple[tuple[float, float], list[int]]]:
    """Cut a segment into <= 30 s pieces, sharing its words out by character position."""
    duration = max(0.0, seg.end - seg.start)
    if duration <= WINDOW_S:
        return [((seg.start, seg.end), list(range(len(tokens))))]
    n_pieces = int(np.ceil(duration / WINDOW_S))
    total = sum(len(t) + 1 for t in tokens)
    pieces: list[list[int]] = [[] for _ in range(n_pieces)]
    pos = 0
    for i, tok in enumerate(tokens):
        pieces[min(n_pieces - 1, int(pos / total * n_pieces))].append(i)
        pos += len(tok) + 1
    out = []
    for k, idx in enumerate(pieces):
        if idx:
            p0 = seg.start + k * WINDOW_S
            out.append(((p0, min(seg.end, p0 + WINDOW_S)), idx))
    return out


def _per_token(
    words: list[dict], tokens: list[str]
) -> list[tuple[float | None, float | None, float | None]]:
    """Fold Whisper's words (split on its own token boundaries) back onto our tokens.

    Whisper's words concatenate to ``" " + " ".join(tokens)``; each of its words belongs to
    the token where its first non-space character falls.
    """
    spans = []
    pos = 1  # the leading space
    for tok in tokens:
        spans.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    acc: list[list[dict]] = [[] for _ in tokens]
    pos = 0
    for w in words:
        text = str(w["word"])
        first = pos + (len(text) - len(text.lstrip()))
        pos += len(text)
        k = next((i for i, (a, b) in enumerate(spans) if a <= first < b), None)
        if k is not None:
            acc[k].append(w)
    out: list[tuple[float | None, float | None, float | None]] = []
    for ws in acc:
        if not ws:
            out.append((None, None, None))
        else:
            out.append(
                (
                    float(ws[0]["start"]),
                    float(ws[-1]["end"]),
                    float(np.mean([w["probability"] for w in ws])),
                )
            )
    return out
