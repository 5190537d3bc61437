"""Optional speaker diarization: who speaks when, and each word's speaker.

The backend is a pyannote.audio pipeline loaded from a local folder (the layout
``Pipeline.from_pretrained`` reads: a ``config.yaml`` naming the segmentation and
embedding models by path or as ``$model/<subfolder>``), never from the hub. No package
ships diarization weights: configure ``VIDEO_ASSETS_DIARIZATION_DIR``.

A word gets the speaker whose turns overlap it longest (none when no turn overlaps it); a
segment gets the speaker holding most of its words' time.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from video_assets.audio.aligners.base import AlignedSegment
from video_assets.errors import ConfigError

SETTING = "VIDEO_ASSETS_DIARIZATION_DIR"


@dataclass(frozen=True)
class SpeakerTurn:
    """A stretch of time attributed to one speaker."""

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
    def diarize(self, audio: np.ndarray) -> list[SpeakerTurn]:
        """Speaker turns of ``audio`` (float32 mono, 16 kHz), in seconds."""

    def close(self) -> None:  # noqa: B027 - optional hook: backends holding no model need not override it
        """Release the model."""

    def __enter__(self) -> Diarizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PyannoteDiarizer(Diarizer):
    """A pyannote.audio speaker-diarization pipeline from a local folder.

    Args:
        pipeline_dir: Folder holding the pipeline's ``config.yaml`` (and its models).
        device: ``cpu`` or ``cuda[:N]``.
        num_speakers: Exact number of speakers when known.
        min_speakers: Lower bound on the number of speakers.
        max_speakers: Upper bound on the number of speakers.

    Raises:
        ConfigError: The folder is missing, has no config.yaml, or does not load.
    """

    def __init__(
        self,
        *,
        pipeline_dir: Path,
        device: str = "cpu",
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ):
        folder = Path(pipeline_dir).expanduser()
        if not (folder / "config.yaml").is_file():
            raise ConfigError(
                SETTING, f"{folder} is not a pyannote pipeline folder (no config.yaml)"
            )
        for name, value in (
            ("num_speakers", num_speakers),
            ("min_speakers", min_speakers),
            ("max_speakers", max_speakers),
        ):
            if value is not None and not 1 <= value <= 100:
                raise ValueError(f"{name} must be in [1, 100] or None, got {value}")
        import torch
        from pyannote.audio import Pipeline

        try:
            with contextlib.redirect_stdout(sys.stderr):
                pipeline = Pipeline.from_pretrained(str(folder))
        except Exception as exc:  # pyannote raises many kinds for a bad folder
            raise ConfigError(
                SETTING,
                f"cannot load a pyannote pipeline from {folder}: {type(exc).__name__}: {exc}",
            ) from None
        if pipeline is None:
            raise ConfigError(SETTING, f"cannot load a pyannote pipeline from {folder}")
        self._pipeline: Any = pipeline.to(torch.device(device))
        self.model = str(folder)
        self.device = device
        self.kwargs = {
            "num_speakers": num_speakers,
            "min_speakers": min_speakers,
            "max_speakers": max_speakers,
        }

    def diarize(self, audio: np.ndarray) -> list[SpeakerTurn]:
        import torch

        if self._pipeline is None:
            raise RuntimeError("the diarizer was closed")
        data = {
            "waveform": torch.from_numpy(np.asarray(audio, dtype=np.float32)[None, :]),
            "sample_rate": 16000,
        }
        output = self._pipeline(data, **{k: v for k, v in self.kwargs.items() if v is not None})
        annotation = getattr(output, "speaker_diarization", output)
        return [
            SpeakerTurn(float(seg.start), float(seg.end), str(label))
            for seg, _track, label in annotation.itertracks(yield_label=True)
        ]

    def close(self) -> None:
        pipeline, self._pipeline = self._pipeline, None
        del pipeline
        gc.collect()
        if str(self.device).startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


def assign_speakers(segments: Sequence[AlignedSegment], turns: Sequence[SpeakerTurn]) -> None:
    """Set ``speaker`` on every word and segment in place from the speaker turns."""
    if not turns:
        return
    order = sorted(turns, key=lambda t: t.start)
    starts = np.array([t.start for t in order])
    ends = np.array([t.end for t in order])
    for seg in segments:
        seg_time: dict[str, float] = defaultdict(float)
        for w in seg.words:
            # turns starting before the word ends
            k = int(np.searchsorted(starts, w.end, side="left"))
            overlap = np.minimum(ends[:k], w.end) - np.maximum(starts[:k], w.start)
            by_speaker: dict[str, float] = defaultdict(float)
            for i in np.flatnonzero(overlap > 0):
                by_speaker[order[i].speaker] += float(overlap[i])
            best, best_overlap = (
                max(by_speaker.items(), key=lambda kv: kv[1]) if by_speaker else (None, 0.0)
            )
            w.speaker = best
            if best is not None:
                seg_time[best] += best_overlap
        seg.speaker = max(seg_time.items(), key=lambda kv: kv[1])[0] if seg_time else None
