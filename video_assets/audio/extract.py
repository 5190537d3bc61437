"""Decoding a video's audio stream to float samples with ffmpeg.

The samples are laid on the file's own time line: ``aresample=async=1:first_pts=0`` pads
with silence where the audio starts late or has gaps, so sample ``i`` is at ``i / rate``
seconds of the video, the same clock clip boundaries use. A file without an audio stream
gives an explicit empty result rather than an error.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import tempfile
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from video_assets.errors import MediaError
from video_assets.probe import AudioStreamInfo, MediaInfo, probe
from video_assets.tools import (
    MediaPath,
    RemoteMedia,
    ffmpeg_base,
    input_args,
    media_arg,
    run_tool,
    timeout_for,
)


@dataclass
class AudioData:
    """Decoded audio of one stream, or the explicit absence of audio."""

    samples: np.ndarray
    """float32, shape ``(channels, n)``; ``(channels, 0)`` when the file has no audio."""
    sample_rate: int
    stream: AudioStreamInfo | None
    """The stream that was decoded; None when the file has none."""
    source: str

    @property
    def has_audio(self) -> bool:
        return self.stream is not None

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.sample_rate

    def mono(self) -> np.ndarray:
        """The channels averaged into one float32 vector (one channel: a view of it, not a
        copy: a copy of an hour at 16 kHz is another 230 MB)."""
        if self.samples.shape[0] == 1 and self.samples.dtype == np.float32:
            return self.samples[0]
        return self.samples.mean(axis=0).astype(np.float32)


def select_audio_stream(info: MediaInfo, stream_index: int | None = None) -> AudioStreamInfo | None:
    """Pick the audio stream a stage works on.

    Args:
        info: What probe() says about the file.
        stream_index: The absolute stream index (as ffprobe numbers streams) to use, or
            None for the stream marked default (the first audio stream if none is).

    Returns:
        The stream, or None when the file has no audio stream at all.

    Raises:
        MediaError: ``stream_index`` is not one of the file's audio streams.
    """
    if stream_index is not None:
        for stream in info.audio:
            if stream.index == stream_index:
                return stream
        have = ", ".join(str(s.index) for s in info.audio) or "none"
        raise MediaError(
            info.path, f"has no audio stream with index {stream_index} (audio streams: {have})"
        )
    if not info.audio:
        return None
    return next((s for s in info.audio if s.default), info.audio[0])


def decode_audio(
    path: MediaPath,
    *,
    sample_rate: int,
    channels: int,
    stream_index: int | None = None,
    info: MediaInfo | None = None,
) -> AudioData:
    """Decode one audio stream of ``path`` to float32 at ``sample_rate`` and ``channels``.

    Args:
        path: Any file ffmpeg reads (video or audio), local or a :class:`RemoteMedia`.
        sample_rate: Output rate in Hz (8000 to 192000).
        channels: Output channels (1 to 8); ffmpeg downmixes or upmixes.
        stream_index: Absolute stream index to decode; None picks the default stream.
        info: probe() result when the caller already has it.

    Returns:
        The samples, or an empty AudioData (``has_audio`` False) for a file without audio.

    Raises:
        MediaError: The file is unreadable or the requested stream does not exist.
        ToolError: ffmpeg failed while decoding.
    """
    info = info or probe(path)
    with decoded_pcm(
        path, sample_rate=sample_rate, channels=channels, stream_index=stream_index, info=info
    ) as pcm:
        if pcm is None:
            return AudioData(np.zeros((channels, 0), np.float32), sample_rate, None, str(path))
        samples = pcm.read(0, pcm.frames)
        return AudioData(samples, sample_rate, pcm.stream, str(path))


@dataclass
class PcmFile:
    """Decoded audio on disk (interleaved float32), read a block at a time, so a stage that
    works in blocks holds one block in memory however long the audio is."""

    path: Path
    channels: int
    sample_rate: int
    stream: AudioStreamInfo

    @property
    def frames(self) -> int:
        """Samples per channel."""
        return self.path.stat().st_size // (4 * self.channels)

    def read(self, start: int, stop: int) -> np.ndarray:
        """float32 ``(channels, stop - start)`` of samples ``start..stop-1`` (clipped to the end)."""
        start, stop = max(0, start), min(self.frames, stop)
        count = max(0, stop - start) * self.channels
        with open(self.path, "rb") as f:
            f.seek(start * 4 * self.channels)
            flat = np.fromfile(f, dtype="<f4", count=count)
        if self.channels == 1:
            return flat.reshape(1, -1)  # nothing to de-interleave: no copy
        return flat.reshape(-1, self.channels).T.copy()


class Samples(Protocol):
    """Mono float32 audio read by slices (``x[a:b]``, ``len(x)``): a 1-D array, or a file
    read a slice at a time (:class:`MonoSlices`, :class:`WavSlices`), so that a stage working
    on stretches of a long track never holds the whole of it."""

    def __len__(self) -> int: ...

    def __getitem__(self, key: slice, /) -> np.ndarray: ...


def as_samples(audio: Samples) -> Samples:
    """``audio`` as float32 where it is an array (a copy only when it is not float32
    already); samples read by slices as they are."""
    return np.asarray(audio, dtype=np.float32) if isinstance(audio, np.ndarray) else audio


def _slice_bounds(name: str, key: slice, length: int) -> tuple[int, int]:
    if not isinstance(key, slice) or key.step not in (None, 1):
        raise TypeError(f"{name} takes slices with step 1, got {key!r}")
    start, stop, _ = key.indices(length)
    return start, max(start, stop)


@dataclass
class MonoSlices:
    """A mono :class:`PcmFile` indexed by slices like a 1-D array (``x[a:b]``, ``len(x)``):
    each slice is read from disk when asked, so the caller holds the stretches it works on,
    never the whole track."""

    pcm: PcmFile

    def __post_init__(self) -> None:
        if self.pcm.channels != 1:
            raise ValueError(f"MonoSlices needs one channel, got {self.pcm.channels}")

    def __len__(self) -> int:
        return self.pcm.frames

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop = _slice_bounds("MonoSlices", key, len(self))
        return self.pcm.read(start, stop)[0]


class WavSlices:
    """A mono 16-bit WAV indexed by slices like a 1-D float32 array, read from the file a
    slice at a time; the values are :func:`~video_assets.audio.wavfile.read_wav`'s.

    Raises:
        MediaError: The file is not a readable mono 16-bit WAV.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            with wave.open(str(self.path), "rb") as w:
                width, self.sample_rate = w.getsampwidth(), w.getframerate()
                channels, self.frames = w.getnchannels(), w.getnframes()
        except (OSError, wave.Error, EOFError) as exc:
            raise MediaError(self.path, f"is not a readable WAV file ({exc})") from None
        if width != 2 or channels != 1:
            raise MediaError(
                self.path, f"is a {8 * width}-bit {channels}-channel WAV; 16-bit mono expected"
            )

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop = _slice_bounds("WavSlices", key, len(self))
        try:
            with wave.open(str(self.path), "rb") as w:
                w.setpos(start)
                raw = w.readframes(stop - start)
        except (OSError, wave.Error, EOFError) as exc:
            raise MediaError(self.path, f"cannot be read at sample {start} ({exc})") from None
        out = np.frombuffer(raw, dtype="<i2").astype(np.float32)
        out *= 1.0 / 32768.0  # as read_wav scales (a power of two: exact)
        return out


class SparseTimeline:
    """An array as long as ``audio`` that holds only the stretch asked for, zeros elsewhere:
    for a library that takes a whole track as one array but reads stretches of it at
    absolute positions (``whisperx.align`` reads each segment's samples). The array is
    anonymous memory whose pages are given back after each stretch, so the track is never
    in memory whole. Use as a context manager; :meth:`holding` one stretch at a time.
    """

    def __init__(self, audio: Samples):
        self.audio = audio
        self.length = len(audio)
        # private: given-back pages of a shared anonymous map would keep their contents
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        self._map = mmap.mmap(-1, max(1, self.length) * 4, flags=flags)
        self.array: np.ndarray | None = np.frombuffer(self._map, np.float32, self.length)

    @contextmanager
    def holding(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """The whole-length array with samples ``start..stop-1`` of ``audio`` in place."""
        if self.array is None:
            raise RuntimeError("the timeline was closed")
        start, stop = max(0, start), min(self.length, stop)
        if stop > start:
            self.array[start:stop] = self.audio[start:stop]
        try:
            yield self.array
        finally:
            if stop > start:  # give the pages back: they read as zeros again
                page = mmap.PAGESIZE
                lo = start * 4 // page * page
                hi = min(len(self._map), -(-stop * 4 // page) * page)
                self._map.madvise(mmap.MADV_DONTNEED, lo, hi - lo)

    def close(self) -> None:
        self.array = None
        with contextlib.suppress(BufferError):  # a view still alive: freed with it
            self._map.close()

    def __enter__(self) -> SparseTimeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_TRIM: Any = None


def release_heap() -> None:
    """Give the allocator's free pages back to the system (glibc's ``malloc_trim``; nothing
    elsewhere), after a block's or a phase's large buffers are freed: glibc keeps freed
    pages that lie between long-lived allocations. Measured: the diarizer's slide kept
    410 MB more after it than before on a 30-min stem (its output is 13 MB); separation
    with Spleeter peaked at 2,377 MB on a 30-min film without it, 1,788 MB with it after
    each block."""
    global _TRIM
    if _TRIM is None:
        try:
            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


@contextmanager
def open_audio_16k(
    path: MediaPath, stream_index: int | None = None
) -> Iterator[MonoSlices | WavSlices | None]:
    """Mono 16 kHz float32 of any media file, local or remote, read by slices (what ASR,
    the aligners and the diarizer consume) and never held whole: a local 16 kHz mono 16-bit
    WAV is read from where it is, anything else is decoded to a temporary file removed on
    exit. Yields None for a file without an audio stream.

    Raises:
        MediaError: The file is unreadable or the requested stream does not exist.
    """
    if not isinstance(path, RemoteMedia) and Path(path).suffix.lower() == ".wav":
        try:
            wav = WavSlices(path)
        except MediaError:
            pass  # not a 16-bit mono WAV: let ffmpeg decode it
        else:
            if wav.sample_rate == 16000:
                yield wav
                return
    with decoded_pcm(path, sample_rate=16000, channels=1, stream_index=stream_index) as pcm:
        yield MonoSlices(pcm) if pcm is not None else None


@contextmanager
def decoded_pcm(
    path: MediaPath,
    *,
    sample_rate: int,
    channels: int,
    stream_index: int | None = None,
    info: MediaInfo | None = None,
) -> Iterator[PcmFile | None]:
    """One audio stream of ``path`` decoded to a temporary float32 file, removed on exit.

    Yields None for a file without an audio stream. Arguments and errors as
    :func:`decode_audio`.
    """
    if not 8000 <= sample_rate <= 192000:
        raise ValueError(f"sample_rate must be in [8000, 192000] Hz, got {sample_rate}")
    if not 1 <= channels <= 8:
        raise ValueError(f"channels must be in [1, 8], got {channels}")
    info = info or probe(path)
    stream = select_audio_stream(info, stream_index)
    if stream is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="va-audio-") as tmp:
        raw = Path(tmp) / "audio.f32"
        run_tool(
            [
                *ffmpeg_base(),
                *input_args(path),
                "-map",
                f"0:{stream.index}",
                "-vn",
                "-sn",
                "-dn",
                "-af",
                "aresample=async=1:first_pts=0",
                "-ac",
                str(channels),
                "-ar",
                str(sample_rate),
                "-f",
                "f32le",
                "-c:a",
                "pcm_f32le",
                media_arg(raw),
            ],
            timeout_s=timeout_for(info.duration_s, per_media_second=1.0),
            what=f"decoding audio stream {stream.index} of {path}",
            capture_stdout=False,
        )
        yield PcmFile(raw, channels, sample_rate, stream)
