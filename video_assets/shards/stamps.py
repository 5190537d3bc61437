"""What changed since the shards were last brought up to date: content stamps of the inputs.

Every video's catalog partitions that its samples are built from (:data:`INPUT_TABLES`)
are stamped by content; the manifest keeps the stamps it was judged with, and
:func:`video_assets.shards.update.refresh_shards` judges again only the videos whose
stamp differs (all of them when :func:`config_stamp` differs).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from video_assets.shards.schema import SHARD_FORMAT_VERSION
from video_assets.shards.settings import ExclusionRules, ShardSettings
from video_assets.store import DataRoot

INPUT_TABLES = ("videos", "clips", "tokens", "words", "segments", "clip_motion", "transcripts")
"""Catalog tables a video's samples are built from; a change in any of them re-judges it."""


@dataclass(frozen=True)
class InputStamps:
    """Content stamps of every video's catalog partitions.

    Attributes:
        videos: Per video with a ``clips`` partition, one stamp over all its input tables.
        present: Per input table, the videos that have a partition of it.
    """

    videos: dict[str, str]
    present: dict[str, set[str]]


def _partition_fingerprints(root: DataRoot, table: str) -> dict[str, str]:
    """Per video, a fingerprint of ``tables/<table>/video_id=<id>/part.parquet``.

    Locally the SHA-256 of the file (a few KB per video: cheap, and equal for equal
    content, so a partition rewritten with the same rows counts as unchanged). On an object
    store the listing's ETag (or size and time) from one listing of the table's prefix.
    """
    rel = root.rel("tables", table)
    out: dict[str, str] = {}
    if root.is_local:
        base = root.local_path(rel)
        if not base.is_dir():
            return out
        with os.scandir(base) as entries:
            for entry in entries:
                if not entry.name.startswith("video_id="):
                    continue
                try:
                    data = Path(entry.path, "part.parquet").read_bytes()
                except (FileNotFoundError, NotADirectoryError):
                    continue
                out[entry.name.split("=", 1)[1]] = hashlib.sha256(data).hexdigest()
        return out
    full = root.full(rel)
    if not root.fs.exists(full):
        return out
    for path, info in root.fs.find(full, detail=True).items():
        parts = str(path).rstrip("/").split("/")
        if len(parts) < 2 or parts[-1] != "part.parquet" or not parts[-2].startswith("video_id="):
            continue
        tag = info.get("ETag") or info.get("etag")
        if not tag:
            tag = f"{info.get('size')}:{info.get('LastModified') or info.get('mtime')}"
        out[parts[-2].split("=", 1)[1]] = str(tag).strip('"')
    return out


def input_stamps(root: DataRoot) -> InputStamps:
    """Stamp every video that has clips (see :data:`INPUT_TABLES`)."""
    per_table = {t: _partition_fingerprints(root, t) for t in INPUT_TABLES}
    videos: dict[str, str] = {}
    for vid in sorted(per_table["clips"]):
        sha = hashlib.sha256()
        for t in INPUT_TABLES:
            sha.update(f"{t}={per_table[t].get(vid, '-')};".encode())
        videos[vid] = sha.hexdigest()[:32]
    return InputStamps(videos=videos, present={t: set(v) for t, v in per_table.items()})


def config_stamp(rules: ExclusionRules, settings: ShardSettings) -> str:
    """A stamp of what every sample is judged and packed with; a change re-judges every video."""
    text = json.dumps(
        {"format": SHARD_FORMAT_VERSION, "rules": asdict(rules), "settings": asdict(settings)},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]
