"""A pyannote.audio speaker-diarization pipeline from a local folder (the production model).

The folder has the layout ``Pipeline.from_pretrained`` reads: a ``config.yaml`` naming the
segmentation and embedding models by path or as ``$model/<subfolder>``. It is never
fetched from the hub here.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from pathlib import Path
from typing import Any

import numpy as np

from video_assets.audio.diarizers.base import Diarizer, SpeakerTurn, check_speaker_counts
from video_assets.audio.extract import Samples, as_samples
from video_assets.errors import ConfigError

SETTING = "VIDEO_ASSETS_DIARIZATION_DIR"


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
        check_speaker_counts(num_speakers, min_speakers, max_speakers)
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

    def diarize(self, audio: Samples) -> list[SpeakerTurn]:
        import torch

        if self._pipeline is None:
            raise RuntimeError("the diarizer was closed")
        # a pyannote pipeline takes the whole waveform: audio read by slices is read whole here
        whole = as_samples(audio)[0 : len(audio)]
        data = {
            "waveform": torch.from_numpy(np.asarray(whole, dtype=np.float32)[None, :]),
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
