"""The interface every diarization backend implements, and what they return."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from video_assets.audio.extract import Samples

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class SpeakerTurn:
    """A stretch of time attributed to one speaker (turns of two speakers may overlap)."""

    start: float
    end: float
    speaker: str


class Diarizer(ABC):
    """Finds speaker turns in 16 kHz mono audio.

    Attributes:
        model: What the result records as the diarization model.
    """

    model: str

    @abstractmethod
    def diarize(self, audio: Samples) -> list[SpeakerTurn]:
        """Speaker turns of ``audio`` (float32 mono, 16 kHz: an array, or read by slices),
        in seconds."""

    def close(self) -> None:  # noqa: B027 - optional hook: backends holding no model need not override it
        """Release the model."""

    def __enter__(self) -> Diarizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_speaker_counts(
    num_speakers: int | None, min_speakers: int | None, max_speakers: int | None
) -> None:
    """Raise ValueError unless each count is in [1, 100] and min <= max."""
    for name, value in (
        ("num_speakers", num_speakers),
        ("min_speakers", min_speakers),
        ("max_speakers", max_speakers),
    ):
        if value is not None and not 1 <= value <= 100:
            raise ValueError(f"{name} must be in [1, 100] or None, got {value}")
    if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
        raise ValueError(f"min_speakers ({min_speakers}) must be <= max_speakers ({max_speakers})")
