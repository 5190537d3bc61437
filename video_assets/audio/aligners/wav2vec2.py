"""WhisperX's own forced alignment: a wav2vec2 CTC model from a local folder.

``whisperx.load_align_model`` loads the folder (``Wav2Vec2Processor`` +
``Wav2Vec2ForCTC``), ``whisperx.align`` computes the frame-wise character log-probabilities,
finds the best CTC path through the transcript's characters and splits each segment into
sentences (NLTK Punkt, see :mod:`video_assets.audio.punkt`).

Score: WhisperX's, the mean over a word's characters of the probability of that character
on its aligned frames (the path's frame-wise posterior), which is in [0, 1] already.

Model folder: ``align_model_dir`` may be a wav2vec2 folder (``config.json`` inside), used
for whatever language it is given, or a folder of such folders named by language code
(``en/``, ``de/``...).
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Sequence
from pathlib import Path
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
from video_assets.audio.extract import Samples, SparseTimeline
from video_assets.audio.punkt import ensure_punkt_tab
from video_assets.errors import ConfigError

SETTING = "VIDEO_ASSETS_ALIGN_MODEL_DIR"


def wav2vec2_folder(align_model_dir: Path | None, language: str) -> Path | None:
    """The wav2vec2 model folder for ``language`` under the configured folder, or None."""
    if align_model_dir is None:
        return None
    root = Path(align_model_dir).expanduser()
    if (root / "config.json").is_file():
        return root
    sub = root / language
    if (sub / "config.json").is_file():
        return sub
    return None


class Wav2Vec2Aligner(Aligner):
    """Character-level CTC alignment with a local wav2vec2 model (WhisperX's ``align``).

    Args:
        model_dir: A wav2vec2 model folder (Hugging Face layout).
        language: ISO code of the transcript (selects the sentence splitter).
        device: ``cpu`` or ``cuda[:N]``.

    Raises:
        ConfigError: The folder is missing or not a loadable wav2vec2 model.
    """

    name = "wav2vec2"

    def __init__(self, *, model_dir: Path, language: str, device: str = "cpu"):
        model_dir = Path(model_dir).expanduser()
        if not (model_dir / "config.json").is_file():
            raise ConfigError(
                SETTING, f"{model_dir} is not a wav2vec2 model folder (no config.json)"
            )
        self.model = str(model_dir)
        self.language = language
        self.device = device
        self.sentence_splitter = ensure_punkt_tab(language)
        self.unaligned_words = 0
        import whisperx.alignment

        try:
            # load_align_model prints its failures; keep stdout clean for `--json` callers.
            with contextlib.redirect_stdout(sys.stderr):
                self._model, self._metadata = whisperx.alignment.load_align_model(
                    language_code=language,
                    device=device,
                    model_name=str(model_dir),
                    model_cache_only=True,
                )
        except (ValueError, OSError) as exc:
            raise ConfigError(
                SETTING, f"cannot load a wav2vec2 model from {model_dir}: {exc}"
            ) from None

    def align(self, segments: Sequence[TextSegment], audio: Samples) -> list[AlignedSegment]:
        import whisperx.alignment

        if self._model is None:
            raise RuntimeError("the aligner was closed")
        self.unaligned_words = 0
        transcript: list[dict[str, Any]] = [
            {"start": s.start, "end": s.end, "text": s.text} for s in segments
        ]
        if not transcript:
            return []

        def run(part: list[dict[str, Any]], samples: np.ndarray) -> list[dict[str, Any]]:
            with contextlib.redirect_stdout(sys.stderr):
                aligned = whisperx.alignment.align(
                    part, self._model, self._metadata, samples, self.device,
                    return_char_alignments=False,
                )  # fmt: skip
            return list(aligned["segments"])

        if isinstance(audio, np.ndarray):
            found = run(transcript, np.asarray(audio, dtype=np.float32))
        else:  # read by slices: one segment's samples at a time, at their place in the track
            found = []
            with SparseTimeline(audio) as timeline:
                for seg in transcript:
                    span = int(seg["start"] * SAMPLE_RATE), int(seg["end"] * SAMPLE_RATE) + 1
                    with timeline.holding(*span) as samples:
                        found += run([seg], samples)
        out = []
        for seg in found:
            text = str(seg.get("text", "")).strip()
            tokens = split_words(text)
            raw = [
                w
                for w in seg.get("words", [])
                if any(ch.isalnum() for ch in str(w.get("word", "")))
            ]
            if len(raw) != len(tokens):  # whisperx split differently: match what we can in order
                raw = _match_words(tokens, raw)
            starts = [_num(w.get("start")) if w else None for w in raw]
            ends = [_num(w.get("end")) if w else None for w in raw]
            scores = [_num(w.get("score")) if w else None for w in raw]
            s0, s1 = _num(seg.get("start")), _num(seg.get("end"))
            words, missing = fill_unplaced(
                tokens, starts, ends, scores, s0 or 0.0, s1 or (s0 or 0.0), self.name
            )
            self.unaligned_words += missing
            avg = seg.get("avg_logprob")
            out.append(finish_segment(TextSegment(s0 or 0.0, s1 or 0.0, text, avg), words))
        return out

    def close(self) -> None:
        model, self._model = self._model, None
        del model
        gc.collect()
        if str(self.device).startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


def _match_words(tokens: list[str], raw: list[dict]) -> list[dict | None]:
    """Pair tokens with WhisperX words by text, in order; unmatched tokens get None."""
    out: list[dict | None] = []
    j = 0
    for tok in tokens:
        k = next(
            (i for i in range(j, len(raw)) if str(raw[i].get("word", "")).strip() == tok), None
        )
        if k is None:
            out.append(None)
        else:
            out.append(raw[k])
            j = k + 1
    return out
