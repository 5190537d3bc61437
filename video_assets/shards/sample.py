"""One clip that may go into the shards (:class:`ShardSample`) and its words as stored."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from video_assets.shards.schema import CLIP_MEMBERS, KEY_PATTERN

if TYPE_CHECKING:
    from video_assets.shards.plan import Bucket


@dataclass(frozen=True)
class ShardSample:
    """One clip that may go into the shards, with everything its sample holds.

    Attributes:
        key: The clip id; the sample's key in the tar (letters, digits, ``_``, ``-``).
        video_id: Source video.
        clip_path: Local path of the clip file (``.mp4`` or ``.mkv``: its member name).
        scene_index: Scene the clip was cut from.
        start_s: Clip start in the source video, seconds.
        end_s: Clip end in the source video, seconds.
        fps: Frame rate.
        width: Coded width of the clip.
        height: Coded height of the clip.
        frame_count: Frames in the clip.
        words: Words with clip-relative ``start``/``end`` and ``word``, ``score``,
            ``speaker`` (and ``segment`` when known).
        token_path: Token safetensors file, or None when the clip has none.
        leaked_frames: Frames of a neighbouring shot in the clip.
        dropped_segments: Dropped transcript segments overlapping the clip.
        failed_checks: Names of checks the clip (or its video) failed upstream.
        checks_passed: Names of checks passed; :func:`select_samples` adds its rules.
        motion: The clip's ``clip_motion`` row (figures by column name), or None when its
            motion was not measured.
        extra: More facts copied into ``<key>.json`` (method, lost_frames, ...).
        doubtful_transcript: Why its video's transcript is not to be trusted (what the
            ``doubtful_transcripts`` check says: :mod:`video_assets.shards.transcripts`),
            or None; :func:`select_samples` then withholds its words.
        token_shape: ``(T', H', W')`` of the tokens, filled by :func:`select_samples`.
        token_metadata: The token file's metadata, filled by :func:`select_samples`.
    """

    key: str
    video_id: str
    clip_path: str
    scene_index: int
    start_s: float
    end_s: float
    fps: float
    width: int
    height: int
    frame_count: int
    words: list[dict[str, Any]] = field(default_factory=list)
    token_path: str | None = None
    leaked_frames: int = 0
    dropped_segments: int = 0
    failed_checks: tuple[str, ...] = ()
    checks_passed: tuple[str, ...] = ()
    motion: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    doubtful_transcript: str | None = None
    token_shape: tuple[int, int, int] | None = None
    token_metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not KEY_PATTERN.match(self.key):
            raise ValueError(
                f"sample key {self.key!r} must be 1 to 80 letters, digits, '_' or '-' (no dots)"
            )
        if self.width < 1 or self.height < 1:
            raise ValueError(
                f"{self.key}: width and height must be positive, got {self.width}x{self.height}"
            )
        if self.frame_count < 1:
            raise ValueError(f"{self.key}: frame_count must be at least 1, got {self.frame_count}")
        if self.clip_member not in CLIP_MEMBERS:
            raise ValueError(
                f"{self.key}: the clip file must end in .mp4 or .mkv, got {self.clip_path!r}"
            )

    @property
    def clip_member(self) -> str:
        """The clip's member name in the tar: its file's extension, ``mp4`` or ``mkv``."""
        return Path(self.clip_path).suffix.lstrip(".").lower()

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def facts(self, bucket: Bucket) -> dict[str, Any]:
        """The ``<key>.json`` member."""
        return {
            **self.extra,
            "key": self.key,
            "clip_id": self.key,
            "video_id": self.video_id,
            "scene_index": self.scene_index,
            "start_s": round(self.start_s, 6),
            "end_s": round(self.end_s, 6),
            "duration_s": round(self.duration_s, 6),
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "frame_count": self.frame_count,
            "bucket": bucket.name,
            "aspect": bucket.aspect,
            "frames_lo": bucket.frames_lo,
            "frames_hi": bucket.frames_hi,
            "leaked_frames": self.leaked_frames,
            "dropped_segments": self.dropped_segments,
            "n_words": len(self.words),
            "token_shape": list(self.token_shape) if self.token_shape else None,
            "token_metadata": dict(sorted(self.token_metadata.items())),
            "checks_passed": sorted(set(self.checks_passed)),
        }


def clean_word(word: Mapping[str, Any]) -> dict[str, Any]:
    """A word as ``<key>.words.json`` holds it: text, rounded times, score, speaker, segment."""
    out: dict[str, Any] = {
        "word": str(word["word"]),
        "start": round(float(word["start"]), 3),
        "end": round(float(word["end"]), 3),
        "score": num_or_none(word.get("score")),
        "speaker": None if is_missing(word.get("speaker")) else str(word["speaker"]),
    }
    if not is_missing(word.get("segment")):
        out["segment"] = int(word["segment"])
    return out


def is_missing(value: Any) -> bool:
    """None, NaN or ``pd.NA``: an empty cell of a catalog table."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def num_or_none(value: Any) -> float | None:
    return None if is_missing(value) else float(value)
