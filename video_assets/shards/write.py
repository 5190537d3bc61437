"""Packing kept samples from scratch into a shard root (:func:`write_shards`).

To keep a data root's shards current as videos come, change and go, use
:func:`video_assets.shards.update.refresh_shards`, which writes new names only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from video_assets.shards.manifest import (
    SampleInfo,
    ShardInfo,
    ShardManifest,
    as_root,
    join_prefix,
    samples_frame,
    shard_files,
    shard_root_url,
    write_manifest,
)
from video_assets.shards.plan import plan_shards, shard_index
from video_assets.shards.sample import ShardSample
from video_assets.shards.selection import Selection, select_samples
from video_assets.shards.settings import ExclusionRules, ShardSettings
from video_assets.shards.tar import ShardWriter, pending_sample
from video_assets.store import TMP_PREFIX, DataRoot


@dataclass
class ShardSet:
    """Shards written by :func:`write_shards`.

    Attributes:
        root: URL of the shard root.
        manifest: What was written.
        samples: Where every sample went, in shard and position order.
        removed: Shards of an earlier run removed because no longer listed.
        elapsed_s: Wall time.
    """

    root: str
    manifest: ShardManifest
    samples: list[SampleInfo]
    removed: list[str]
    elapsed_s: float

    @property
    def total_bytes(self) -> int:
        return sum(s.bytes for s in self.manifest.shards)

    def samples_frame(self) -> pd.DataFrame:
        """The ``shard_samples`` table (with ``video_id``)."""
        return samples_frame(self.samples)

    def metadata(self) -> dict[str, Any]:
        """Flat facts for asset metadata."""
        shards = self.manifest.shards
        return {
            "shards": len(shards),
            "samples": len(self.samples),
            "buckets": len({s.bucket for s in shards}),
            "bytes": self.total_bytes,
            "largest_shard_bytes": max((s.bytes for s in shards), default=0),
            "removed_stale_shards": len(self.removed),
            "elapsed_s": round(self.elapsed_s, 3),
        }


def write_shards(
    samples: Iterable[ShardSample],
    out: DataRoot | str | os.PathLike[str],
    *,
    prefix: str = "",
    settings: ShardSettings | None = None,
) -> ShardSet:
    """Pack the samples from scratch as bucketed WebDataset shards and ``manifest.json``.

    A full repack: shards are numbered from 0 in every bucket and replace any shard of that
    name. To add, change or remove videos in a shard root that readers use, call
    :func:`video_assets.shards.update.refresh_shards` instead, which writes new names only
    and leaves unchanged shards alone.

    Every shard is written under a temporary name beside its target and renamed when
    complete; then the manifest is replaced; then shards of an earlier run that the new
    manifest does not list are removed. Identical inputs give byte-identical files.

    Args:
        samples: Kept samples (from :func:`select_samples`).
        out: The data root, or the shard root itself (a folder or fsspec URL).
        prefix: Folder of the shard root under ``out`` (``shards`` under a data root).
        settings: Target shard size and bucketing.

    Returns:
        The manifest and the stale shards removed.

    Raises:
        ShardError: a clip or token file is missing or changed while writing.
        ValueError: two samples share a key.
    """
    t0 = time.perf_counter()
    settings = settings or ShardSettings()
    root = as_root(out)
    plans = plan_shards(samples, settings)
    shards: list[ShardInfo] = []
    sample_rows: list[SampleInfo] = []
    next_index: dict[str, int] = {}
    for plan in plans:
        writer = ShardWriter(root, prefix, plan.path, plan.bucket)
        try:
            for s in plan.samples:
                writer.add(pending_sample(s, plan.bucket))
        except BaseException:
            writer.abort()
            raise
        info, rows = writer.close()
        shards.append(info)
        sample_rows += rows
        next_index[plan.bucket.name] = shard_index(plan.path) + 1
    manifest = ShardManifest(shards=shards, settings=settings, next_index=next_index)
    write_manifest(root, prefix, manifest)
    removed = remove_unlisted(root, prefix, {s.path for s in shards})
    return ShardSet(
        root=shard_root_url(root, prefix),
        manifest=manifest,
        samples=sample_rows,
        removed=removed,
        elapsed_s=time.perf_counter() - t0,
    )


def remove_unlisted(root: DataRoot, prefix: str, keep: set[str]) -> list[str]:
    """Delete every tar under the shard root not in ``keep`` (and empty bucket folders)."""
    removed = []
    for rel in shard_files(root, prefix):
        if rel not in keep:
            root.fs.rm_file(root.full(join_prefix(prefix, rel)))
            removed.append(rel)
    if root.is_local:
        base = Path(root.full(prefix.strip("/")) if prefix.strip("/") else root.root)
        for d in sorted(base.iterdir()):
            if d.is_dir() and not d.name.startswith(TMP_PREFIX) and not any(d.iterdir()):
                d.rmdir()
    return removed


def build_training_shards(
    candidates: Iterable[ShardSample],
    out: DataRoot | str | os.PathLike[str],
    *,
    prefix: str = "",
    rules: ExclusionRules | None = None,
    settings: ShardSettings | None = None,
) -> tuple[Selection, ShardSet]:
    """:func:`select_samples`, then :func:`write_shards` of the kept ones."""
    selection = select_samples(candidates, rules)
    return selection, write_shards(selection.kept, out, prefix=prefix, settings=settings)
