"""16-bit PCM WAV files written under a temporary name and renamed into place."""

from __future__ import annotations

import os
import uuid
import wave
from pathlib import Path
from types import TracebackType

import numpy as np

from video_assets.errors import MediaError


def to_pcm16(audio: np.ndarray) -> bytes:
    """Interleaved little-endian 16-bit PCM of float audio ``(n,)`` or ``(channels, n)``."""
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 1:
        data = data[None, :]
    return (np.clip(data, -1.0, 1.0) * 32767.0).round().astype("<i2").T.tobytes()


class WavWriter:
    """Append float blocks to a WAV file; the file appears at ``path`` only on success.

    Use as a context manager. On an exception the temporary file is removed and whatever
    was at ``path`` before is left alone.
    """

    def __init__(self, path: str | Path, sample_rate: int, channels: int):
        if not 1 <= channels <= 8:
            raise ValueError(f"channels must be in [1, 8], got {channels}")
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.frames = 0
        self._tmp = self.path.with_name(f".tmp-{uuid.uuid4().hex[:12]}-{self.path.name}")
        self._wav: wave.Wave_write | None = None

    def __enter__(self) -> WavWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wav = wave.open(str(self._tmp), "wb")
        self._wav.setnchannels(self.channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(self.sample_rate)
        return self

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` (``(channels, n)`` float, or ``(n,)`` for mono)."""
        block = np.asarray(block)
        if block.ndim == 1:
            block = block[None, :]
        if block.shape[0] != self.channels:
            raise ValueError(f"block has {block.shape[0]} channels, the file {self.channels}")
        assert self._wav is not None, "use WavWriter as a context manager"
        self._wav.writeframes(to_pcm16(block))
        self.frames += block.shape[1]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._wav is not None:
                self._wav.close()
            if exc_type is None:
                with open(self._tmp, "rb+") as f:
                    os.fsync(f.fileno())
                os.replace(self._tmp, self.path)
        finally:
            self._tmp.unlink(missing_ok=True)


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write float audio ``(n,)`` or ``(channels, n)`` as one 16-bit WAV, atomically."""
    data = np.asarray(audio, dtype=np.float32)
    channels = 1 if data.ndim == 1 else data.shape[0]
    with WavWriter(path, sample_rate, channels) as w:
        w.write(data)
    return Path(path)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV as float32 ``(channels, n)`` and its sample rate."""
    try:
        with wave.open(str(path), "rb") as w:
            width, rate, channels = w.getsampwidth(), w.getframerate(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise MediaError(path, f"is not a readable WAV file ({exc})") from None
    if width != 2:
        raise MediaError(path, f"is a {8 * width}-bit WAV; 16-bit PCM expected")
    samples = np.frombuffer(raw, dtype="<i2").reshape(-1, channels).T.astype(np.float32)
    del raw
    samples *= 1.0 / 32768.0  # in place (a power of two: exact), no second float32 copy
    return samples, rate
