"""The shard format: member names, exclusion reasons, table schemas and the error type."""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa

from video_assets.errors import MediaError

SHARD_FORMAT = "video-assets-shards"
SHARD_FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Version 1 manifests (before sample digests and shard counters) are read as well."""
MANIFEST_FILE = "manifest.json"
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
"""Sample keys: no dots (WebDataset splits a member name at its first dot), tar-name safe."""
CLIP_MEMBERS = ("mp4", "mkv")
"""Member names (the clip file's extension) a sample's clip can have; it has exactly one."""
CLIP_MAGIC = {"mp4": (4, b"ftyp"), "mkv": (0, b"\x1a\x45\xdf\xa3")}
"""Where each clip format's signature is: MP4's ``ftyp`` box, Matroska's EBML header."""
REQUIRED_MEMBERS = ("json", "words.json")
"""Members every sample has, besides its clip."""
TOKENS_MEMBER = "tokens.npy"
MEMBER_ORDER = ("json", "clip", TOKENS_MEMBER, "words.json")
"""Order of a sample's members in the tar; ``clip`` stands for its ``mp4`` or ``mkv``."""

REASONS = (
    "clip_missing",
    "leaked_frames",
    "too_short",
    "missing_tokens",
    "unreadable_tokens",
    "stale_tokens",
    "low_confidence_words",
    "dropped_segments",
    "failed_check",
    "static",
    "slideshow",
)
"""Every reason a clip can be left out of the shards (the ``reason`` column)."""
WITHHELD_REASONS = ("doubtful_transcript",)
"""Reasons a part of a kept clip's sample is left out (its words: the transcript of its
video is doubtful); the clip stays in the shards, and a ``shard_exclusions`` row says so."""

SAMPLES_SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()), ("shard", pa.string()), ("bucket", pa.string()),
        ("position", pa.int64()), ("bytes", pa.int64()), ("frame_count", pa.int64()),
        ("duration_s", pa.float64()), ("has_tokens", pa.bool_()), ("n_words", pa.int64()),
        ("digest", pa.string()),
    ]
)  # fmt: skip
"""Parquet schema of the ``shard_samples`` table (``video_id`` is the hive partition)."""
EXCLUSIONS_SCHEMA = pa.schema(
    [("clip_id", pa.string()), ("reason", pa.string()), ("detail", pa.string())]
)
"""Parquet schema of the ``shard_exclusions`` table (``video_id`` is the hive partition)."""
SHARDS_SCHEMA = pa.schema(
    [
        ("shard", pa.string()), ("bucket", pa.string()), ("width", pa.int64()), ("height", pa.int64()),
        ("aspect", pa.string()), ("frames_lo", pa.int64()), ("frames_hi", pa.int64()),
        ("n_samples", pa.int64()), ("keys", pa.list_(pa.string())), ("bytes", pa.int64()),
        ("sha256", pa.string()),
    ]
)  # fmt: skip
"""Parquet schema of the unpartitioned ``shards`` table (the manifest)."""


class ShardError(MediaError):
    """A shard, its manifest or a sample's input file is missing or not what was expected (``path``, ``problem``)."""


COPY_CHUNK = 1 << 20
"""Bytes read at a time when a clip file or a shard is streamed."""


def json_bytes(obj: Any) -> bytes:
    """Canonical JSON of a member: sorted keys, compact, UTF-8 (the same inputs, the same bytes)."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()
