"""The mix passes through as the vocal stem, unseparated.

Used only when asked for (``separator="passthrough"``), or when ``allow_passthrough`` is set
and no separation model loads (neither Demucs nor Spleeter); the result records it, and the
``separation_fallback`` check warns, because music under the voice is exactly what makes a
transcript hallucinate.
"""

from __future__ import annotations

import numpy as np

from video_assets.audio.separators.base import Separator, Stems


class PassthroughSeparator(Separator):
    """Vocals = the mix unchanged; accompaniment = silence.

    Args:
        sample_rate: Rate to work at (the source's own is fine; 44100 by default).
        channels: Channel count to work with (1 or 2).
    """

    backend = "passthrough"

    def __init__(self, *, sample_rate: int = 44100, channels: int = 2):
        if not 8000 <= sample_rate <= 192000:
            raise ValueError(f"sample_rate must be in [8000, 192000] Hz, got {sample_rate}")
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        self.name = "passthrough"
        self.sample_rate = sample_rate
        self.channels = channels

    def separate(self, mix: np.ndarray) -> Stems:
        mix = np.asarray(mix, dtype=np.float32)
        return Stems(vocals=mix.copy(), accompaniment=np.zeros_like(mix))
