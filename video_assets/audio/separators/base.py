"""The interface every source-separation backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from video_assets.models import ModelUnavailable

__all__ = ["ModelUnavailable", "Separator", "Stems"]


@dataclass
class Stems:
    """The two stems the pipeline keeps, at the separator's rate and channel count."""

    vocals: np.ndarray
    """float32 ``(channels, n)``."""
    accompaniment: np.ndarray
    """float32 ``(channels, n)``: everything that is not vocals."""


class Separator(ABC):
    """Splits a mix into vocals and accompaniment.

    Attributes:
        name: What the result records as the model (a model name, a folder,
            ``spleeter:2stems``, ``passthrough``).
        backend: The backend family (``demucs``, ``spleeter``, ``passthrough``).
        sample_rate: The rate ``separate`` expects and returns.
        channels: The channel count ``separate`` expects and returns.
    """

    name: str
    backend: str
    sample_rate: int
    channels: int

    @abstractmethod
    def separate(self, mix: np.ndarray) -> Stems:
        """Separate ``mix`` (float32 ``(channels, n)`` at ``sample_rate``) into stems."""

    def close(self) -> None:  # noqa: B027 - optional hook: backends holding no model need not override it
        """Release the model (memory, GPU cache). The separator is unusable afterwards."""

    def __enter__(self) -> Separator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
