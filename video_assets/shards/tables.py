"""The catalog tables of a shard root: ``shards``, ``shard_samples`` and ``shard_exclusions``.

``shards`` (one row per tar) is unpartitioned: ``tables/shards/part.parquet``. The two
per-clip tables are partitioned by video like every other table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd
import pyarrow as pa

from video_assets.shards.manifest import SampleInfo, ShardManifest, samples_frame
from video_assets.shards.schema import EXCLUSIONS_SCHEMA, SAMPLES_SCHEMA, SHARDS_SCHEMA
from video_assets.shards.selection import Selection
from video_assets.shards.write import ShardSet
from video_assets.store import DataRoot

SHARDS_TABLE_REL = "tables/shards/part.parquet"


def write_shards_table(root: DataRoot, manifest: ShardManifest) -> None:
    """Replace the (small, unpartitioned) ``shards`` table with the manifest's shards."""
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(
        manifest.shards_frame(), schema=SHARDS_SCHEMA, preserve_index=False
    )
    with root.atomic_file(SHARDS_TABLE_REL) as tmp:
        pq.write_table(arrow, tmp, compression="zstd")


def write_shard_tables(root: DataRoot, selection: Selection, shard_set: ShardSet) -> dict[str, int]:
    """Write the three tables after :func:`~video_assets.shards.write.write_shards`.

    One partition per candidate video (empty where none of its clips is in that table);
    partitions of videos no longer among the candidates are removed.

    Returns:
        Rows written per table.
    """
    samples = shard_set.samples_frame()
    excluded = selection.excluded
    videos = sorted(set(samples["video_id"]) | set(excluded["video_id"]))
    for table, df, schema in (
        ("shard_samples", samples, SAMPLES_SCHEMA),
        ("shard_exclusions", excluded, EXCLUSIONS_SCHEMA),
    ):
        for vid in videos:
            part = df[df["video_id"] == vid].drop(columns=["video_id"])
            root.write_table(table, vid, part[schema.names].reset_index(drop=True), schema=schema)
        for stale in set(root.table_partitions(table)) - set(videos):
            root.remove_tree(root.rel("tables", table, f"video_id={stale}"))
    write_shards_table(root, shard_set.manifest)
    return {
        "shards": len(shard_set.manifest.shards),
        "shard_samples": len(samples),
        "shard_exclusions": len(excluded),
    }


def update_shard_tables(
    root: DataRoot,
    manifest: ShardManifest,
    *,
    samples: Mapping[str, list[SampleInfo]],
    selection: Selection | None,
    judged: Iterable[str],
    removed_videos: Iterable[str],
) -> None:
    """The tables of the videos an update concerns, and the ``shards`` table.

    Args:
        root: The data root.
        manifest: The manifest about to be put in place.
        samples: Per video whose rows change, every ``shard_samples`` row it has now.
        selection: Exclusions of the judged videos.
        judged: Videos judged again: their ``shard_exclusions`` partition is replaced.
        removed_videos: Videos whose partitions of both per-clip tables are removed.
    """
    for vid in sorted(samples):
        rows = sorted(samples[vid], key=lambda r: (r.shard, r.position))
        part = samples_frame(rows)[SAMPLES_SCHEMA.names]
        root.write_table("shard_samples", vid, part, schema=SAMPLES_SCHEMA)
    excluded = (
        selection.excluded
        if selection is not None
        else pd.DataFrame(columns=["video_id", *EXCLUSIONS_SCHEMA.names])
    )
    for vid in sorted(set(judged)):
        part = excluded[excluded["video_id"] == vid][EXCLUSIONS_SCHEMA.names]
        root.write_table(
            "shard_exclusions", vid, part.reset_index(drop=True), schema=EXCLUSIONS_SCHEMA
        )
    for vid in sorted(set(removed_videos)):
        for table in ("shard_samples", "shard_exclusions"):
            root.remove_tree(root.rel("tables", table, f"video_id={vid}"))
    write_shards_table(root, manifest)
