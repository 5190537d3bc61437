"""Merging each bucket's small shards into full ones (``video-assets shards compact``)."""

from __future__ import annotations

import heapq
import math
import time
from collections import defaultdict

from video_assets.shards.manifest import (
    SampleInfo,
    ShardInfo,
    read_manifest,
    shard_root_url,
    write_manifest,
)
from video_assets.shards.stored import shard_bucket, stored_samples
from video_assets.shards.tables import SHARDS_TABLE_REL, update_shard_tables
from video_assets.shards.tar import pack_samples
from video_assets.shards.update import ShardRefresh, assemble_manifest, rows_now, sweep
from video_assets.store import DataRoot


def compact_shards(
    root: DataRoot,
    *,
    prefix: str = "shards",
    min_fill: float = 0.5,
    tables: bool | None = None,
) -> ShardRefresh:
    """Merge each bucket's small shards (under ``min_fill`` of ``target_bytes``) into full ones.

    Samples are copied from the old tars as they are (no clip or token file is read),
    merged in key order and packed as :func:`pack_samples` packs; the merged shards get new
    names, the manifest is replaced, then the old tars are deleted. A bucket is left alone
    unless merging lowers its shard count. Large shards are never touched.

    Args:
        root: The data root (or a shard root with ``prefix=""``).
        prefix: Folder of the shard root under ``root``.
        min_fill: A shard smaller than this share of ``target_bytes`` is small (0 to 1].
        tables: Rewrite the catalog tables of the samples moved (``shard_samples``,
            ``shards``); None: where the root holds the ``shards`` table.

    Raises:
        ShardError: no manifest, or a shard differs from it.
        ValueError: ``min_fill`` out of range.
    """
    if not 0.0 < min_fill <= 1.0:
        raise ValueError(f"min_fill must be in (0, 1], got {min_fill}")
    t0 = time.perf_counter()
    old = read_manifest(root, prefix)
    settings = old.settings
    limit = min_fill * settings.target_bytes
    by_bucket: dict[str, list[ShardInfo]] = defaultdict(list)
    for s in old.shards:
        by_bucket[s.bucket].append(s)
    counters = dict(old.next_index)
    added: list[tuple[ShardInfo, list[SampleInfo]]] = []
    dropped: set[str] = set()
    for bucket in sorted(by_bucket):
        small = [s for s in by_bucket[bucket] if s.bytes < limit]
        total = sum(s.bytes for s in small)
        if len(small) < 2 or math.ceil(total / settings.target_bytes) >= len(small):
            continue
        start = max(counters.get(bucket, 0), old.next_shard_index(bucket))
        streams = [stored_samples(root, prefix, s, set(s.keys)) for s in small]
        out = pack_samples(
            root, prefix, shard_bucket(small[0]), heapq.merge(*streams, key=lambda p: p.key),
            settings, start,
        )  # fmt: skip
        counters[bucket] = start + len(out)
        added += out
        dropped |= {s.path for s in small}
    base = shard_root_url(root, prefix)
    if not added:
        return ShardRefresh(base, old, elapsed_s=time.perf_counter() - t0)
    manifest = assemble_manifest(
        old, settings, dropped, added, counters, old.inputs, old.inputs_config
    )
    if tables is None:
        tables = root.exists(SHARDS_TABLE_REL)
    if tables:
        moved = {r.video_id for _, samples in added for r in samples}
        update_shard_tables(
            root,
            manifest,
            samples=rows_now(root, old, moved, {}, dropped, added),
            selection=None,
            judged=[],
            removed_videos=[],
        )
    write_manifest(root, prefix, manifest)
    swept = sweep(root, prefix, manifest)
    return ShardRefresh(
        base,
        manifest,
        written=[info for info, _ in added],
        samples=[r for _, samples in added for r in samples],
        removed=swept,
        elapsed_s=time.perf_counter() - t0,
    )
