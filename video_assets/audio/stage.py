"""The transcription stage for one video of a data root: which files it reads."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pandas as pd

from video_assets.audio.transcription import TranscriptionSettings, TranscriptResult, transcribe
from video_assets.layout import source_rel
from video_assets.store import DataRoot


def transcribe_video(
    root: DataRoot,
    video_id: str,
    settings: TranscriptionSettings,
    progress: Callable[[str], None] | None = None,
) -> TranscriptResult:
    """Transcribe a video's vocal stem (its ``stems`` row) beside the mix it came from.

    A separated stem is transcribed with the source's separated audio stream as the mix
    (``settings.mix_min_logprob`` says which chunks are decoded from it too); a stem that
    is the mix passed through is transcribed alone, and a video without audio has no stem:
    its source is transcribed, which gives the explicit empty result.
    """
    stems = root.read_table("stems", video_id)
    source = source_rel(root, video_id)
    rel16 = stems["vocals_16k_path"].iloc[0] if len(stems) else None
    rel = rel16 if isinstance(rel16, str) and rel16 else source
    separated = rel != source and stems["backend"].iloc[0] != "passthrough"
    stream = stems["stream_index"].iloc[0] if separated else None
    with (
        root.local_copy(rel) as local,
        root.media_input(source) if separated else contextlib.nullcontext() as mix,
    ):
        return transcribe(
            local,
            settings,
            progress=progress,
            mix_path=mix,
            mix_stream=None if stream is None or pd.isna(stream) else int(stream),
        )
