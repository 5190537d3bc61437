"""training_shards: every kept clip of every video packed into bucketed WebDataset shards."""

import contextlib
import tempfile

import dagster as dg
import pandas as pd

from dagster_project.defs.audio.assets import aligned_transcripts
from dagster_project.defs.clips.assets import clips
from dagster_project.defs.metadata import md_table
from dagster_project.defs.resources import ShardStageConfig, StoreResource
from dagster_project.defs.tokens.assets import CURRENT_FILE, current_tokenizer, token_tensors
from video_assets.shards import (
    candidates_from_tables,
    select_samples,
    write_shard_tables,
    write_shards,
)
from video_assets.store import DataRoot

SHARD_PREFIX = "shards"


def _table(root: DataRoot, name: str) -> pd.DataFrame | None:
    parts = [root.read_table(name, v) for v in root.table_partitions(name)]
    return pd.concat(parts, ignore_index=True) if parts else None


@dg.asset(
    deps=[clips, token_tensors, aligned_transcripts],
    group_name="training",
    kinds={"webdataset", "parquet"},
    owners=["team:video-data"],
    tags={"stage": "shards"},
)
def training_shards(
    context: dg.AssetExecutionContext, store: StoreResource, shard_config: ShardStageConfig
) -> dg.MaterializeResult:
    """Packs every kept clip of every video into bucketed WebDataset shards, with a manifest in the catalog."""
    root = store.root()
    clip_rows, videos = _table(root, "clips"), _table(root, "videos")
    if clip_rows is None or videos is None:
        raise dg.Failure("no clips yet: materialize clips for at least one video")
    tokens = _table(root, "tokens")
    current = current_tokenizer(root)["hash"] if root.exists(CURRENT_FILE) else None
    # On an object store the clips and token files are staged in a local temporary folder
    # (tar members need their sizes up front); each shard is uploaded when it is complete.
    with (
        tempfile.TemporaryDirectory(prefix="va-shards-")
        if not root.is_local
        else contextlib.nullcontext() as stage
    ):
        candidates = candidates_from_tables(
            root,
            clip_rows,
            videos,
            _table(root, "words"),
            _table(root, "segments"),
            tokens=tokens,
            stage_dir=stage,
        )
        selection = select_samples(candidates, shard_config.rules(current))
        shard_set = write_shards(
            selection.kept, root, prefix=SHARD_PREFIX, settings=shard_config.shard_settings()
        )
    write_shard_tables(root, selection, shard_set)
    buckets = shard_set.manifest.buckets()
    reasons = pd.DataFrame(sorted(selection.reason_counts().items()), columns=["reason", "clips"])
    return dg.MaterializeResult(
        metadata={
            **shard_set.metadata(),
            "candidates": selection.candidates,
            "excluded_clips": selection.excluded_clips,
            "exclusion_reasons": md_table(reasons),
            "buckets_table": md_table(buckets),
            "folder": dg.MetadataValue.path(root.uri(SHARD_PREFIX)),
        }
    )
