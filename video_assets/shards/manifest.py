"""The manifest at a shard root: every shard with its sample keys, and where samples went.

Also the shard root itself: where it is under a data root, its tar files, and
reading and replacing ``manifest.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from video_assets.shards.plan import shard_index
from video_assets.shards.schema import (
    MANIFEST_FILE,
    READABLE_VERSIONS,
    SAMPLES_SCHEMA,
    SHARD_FORMAT,
    SHARD_FORMAT_VERSION,
    SHARDS_SCHEMA,
    ShardError,
)
from video_assets.shards.settings import ShardSettings
from video_assets.store import TMP_PREFIX, DataRoot


@dataclass(frozen=True)
class ShardInfo:
    """One written shard, as listed in the manifest."""

    path: str
    bucket: str
    width: int
    height: int
    aspect: str
    frames_lo: int
    frames_hi: int
    n_samples: int
    keys: tuple[str, ...]
    bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["keys"] = list(self.keys)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ShardInfo:
        return cls(**{**{k: d[k] for k in cls.__dataclass_fields__}, "keys": tuple(d["keys"])})


@dataclass(frozen=True)
class SampleInfo:
    """Where one sample was written.

    ``digest`` is the SHA-256 of the sample's members (names, sizes and bytes, in tar order):
    two samples with one digest have the same bytes in a shard, wherever they are, so an
    update can tell an unchanged sample from a changed one without reading its shard.
    """

    clip_id: str
    video_id: str
    shard: str
    bucket: str
    position: int
    bytes: int
    frame_count: int
    duration_s: float
    has_tokens: bool
    n_words: int
    digest: str = ""


@dataclass
class ShardManifest:
    """The manifest: every shard with its sample keys, and the settings used.

    Where each sample is (shard, position, bytes, digest) is the catalog's ``shard_samples``
    table, partitioned by video, so that adding a video rewrites its own rows only; the
    manifest carries per sample nothing but its key.

    Attributes:
        shards: Every shard, sorted by path (bucket, then index).
        settings: Packing settings of every shard listed.
        next_index: Per bucket, the index the next new shard gets; indices only grow, so a
            shard name never stands for two different contents.
        inputs: Per video, a stamp of the catalog rows its samples were judged from
            (:func:`video_assets.shards.update.refresh_shards` skips videos whose stamp holds).
        inputs_config: A stamp of the exclusion rules and settings they were judged with.
    """

    shards: list[ShardInfo]
    settings: ShardSettings
    next_index: dict[str, int] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    inputs_config: str = ""

    @property
    def n_samples(self) -> int:
        return sum(s.n_samples for s in self.shards)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SHARD_FORMAT,
            "version": SHARD_FORMAT_VERSION,
            "settings": asdict(self.settings),
            "shards": [s.to_json() for s in self.shards],
            "next_index": dict(sorted(self.next_index.items())),
            "inputs": {"config": self.inputs_config, "videos": dict(sorted(self.inputs.items()))},
        }

    def to_bytes(self) -> bytes:
        """The ``manifest.json`` file: compact JSON with sorted keys, one trailing newline."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ShardManifest:
        """Read a manifest; a version 1 manifest (which also listed every sample) reads too."""
        if d.get("format") != SHARD_FORMAT or d.get("version") not in READABLE_VERSIONS:
            raise ValueError(
                f"not a {SHARD_FORMAT} manifest of version {' or '.join(map(str, READABLE_VERSIONS))}"
            )
        inputs = d.get("inputs") or {}
        return cls(
            shards=[ShardInfo.from_json(s) for s in d["shards"]],
            settings=ShardSettings(**d["settings"]),
            next_index={str(k): int(v) for k, v in (d.get("next_index") or {}).items()},
            inputs={str(k): str(v) for k, v in (inputs.get("videos") or {}).items()},
            inputs_config=str(inputs.get("config") or ""),
        )

    def next_shard_index(self, bucket: str) -> int:
        """The index a new shard of ``bucket`` gets: past every index used so far."""
        used = [shard_index(s.path) + 1 for s in self.shards if s.bucket == bucket]
        return max([self.next_index.get(bucket, 0), *used])

    def shards_frame(self) -> pd.DataFrame:
        """The ``shards`` table: shard path, bucket, shape, sample keys, bytes, sha256."""
        rows = [{**s.to_json(), "shard": s.path} for s in self.shards]
        return pd.DataFrame(rows, columns=SHARDS_SCHEMA.names)

    def buckets(self) -> pd.DataFrame:
        """Shards, samples and bytes per bucket."""
        df = self.shards_frame()
        return (
            df.groupby("bucket")
            .agg(shards=("shard", "count"), samples=("n_samples", "sum"), bytes=("bytes", "sum"))
            .reset_index()
        )


def samples_frame(rows: Iterable[SampleInfo]) -> pd.DataFrame:
    """Rows of the ``shard_samples`` table (with ``video_id``): where each kept clip went."""
    return pd.DataFrame([asdict(s) for s in rows], columns=["video_id", *SAMPLES_SCHEMA.names])


# -- the shard root --------------------------------------------------------------------------
def as_root(out: DataRoot | str | os.PathLike[str]) -> DataRoot:
    """``out`` as a :class:`DataRoot` (a folder or fsspec URL becomes one)."""
    return out if isinstance(out, DataRoot) else DataRoot(out)


def join_prefix(prefix: str, rel: str) -> str:
    """``rel`` under the shard root ``prefix`` of a data root (``""``: the root itself)."""
    return f"{prefix.strip('/')}/{rel}" if prefix.strip("/") else rel


def shard_root_url(root: DataRoot, prefix: str) -> str:
    """URL of the shard root ``prefix`` under ``root``."""
    return root.full(prefix.strip("/")) if prefix.strip("/") else root.url


def shard_files(root: DataRoot, prefix: str) -> list[str]:
    """Tar files under the shard root, relative to it (temporary files left out)."""
    base = root.full(prefix.strip("/")) if prefix.strip("/") else root.root
    if not root.fs.exists(base):
        return []
    out = []
    for p in root.fs.find(base):
        rel = str(p)[len(base.rstrip("/")) + 1 :] if str(p).startswith(base.rstrip("/")) else str(p)
        if rel.endswith(".tar") and not any(part.startswith(TMP_PREFIX) for part in rel.split("/")):
            out.append(rel)
    return sorted(out)


def write_manifest(root: DataRoot, prefix: str, manifest: ShardManifest) -> None:
    """Replace ``manifest.json`` in one rename: readers see the old manifest or the new one."""
    with root.atomic_file(join_prefix(prefix, MANIFEST_FILE)) as tmp:
        tmp.write_bytes(manifest.to_bytes())


def read_manifest(shard_root: str | os.PathLike[str] | DataRoot, prefix: str = "") -> ShardManifest:
    """Read ``manifest.json`` at the shard root.

    Raises:
        ShardError: it is missing or not a shard manifest.
    """
    root = as_root(shard_root)
    rel = join_prefix(prefix, MANIFEST_FILE)
    if not root.exists(rel):
        raise ShardError(
            root.full(rel), "no shard manifest (is this a shard root written by write_shards?)"
        )
    try:
        return ShardManifest.from_json(json.loads(root.read_bytes(rel)))
    except (ValueError, KeyError, TypeError) as exc:
        raise ShardError(root.full(rel), f"is not a readable shard manifest ({exc})") from None
