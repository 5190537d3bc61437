"""training_shards: every kept clip of every video in bucketed WebDataset shards, kept current incrementally."""

import contextlib
import tempfile

import dagster as dg
import pandas as pd

from dagster_project.defs.audio.assets import aligned_transcripts
from dagster_project.defs.automation import AFTER_UPSTREAM_SETTLES
from dagster_project.defs.clips.assets import clips
from dagster_project.defs.metadata import md_table
from dagster_project.defs.motion.assets import clip_motion
from dagster_project.defs.resources import ShardStageConfig, StoreResource
from dagster_project.defs.tokens.assets import (
    CURRENT_FILE,
    current_tokenizer,
    token_tensors,
    tokenizer_model,
)
from video_assets.shard_update import compact_shards, refresh_shards

SHARD_PREFIX = "shards"


@dg.asset(
    deps=[clips, clip_motion, token_tensors, aligned_transcripts, tokenizer_model],
    group_name="training",
    kinds={"webdataset", "parquet"},
    owners=["team:video-data"],
    tags={"stage": "shards"},
    pool="shards",
    automation_condition=AFTER_UPSTREAM_SETTLES,
)
def training_shards(
    context: dg.AssetExecutionContext, store: StoreResource, shard_config: ShardStageConfig
) -> dg.MaterializeResult:
    """Adds new and changed videos' kept clips (static clips and slideshows left out) to bucketed WebDataset shards (new shards only), with a manifest in the catalog."""
    root = store.root()
    if not root.table_partitions("clips"):
        raise dg.Failure("no clips yet: materialize clips for at least one video")
    current = current_tokenizer(root)["hash"] if root.exists(CURRENT_FILE) else None
    # On an object store the judged videos' clips and token files are staged in a local
    # temporary folder (tar members need their sizes up front).
    with (
        tempfile.TemporaryDirectory(prefix="va-shards-")
        if not root.is_local
        else contextlib.nullcontext() as stage
    ):
        result = refresh_shards(
            root,
            prefix=SHARD_PREFIX,
            rules=shard_config.rules(current),
            settings=shard_config.shard_settings(),
            stage_dir=stage,
        )
    meta = result.metadata()
    if shard_config.compact:
        compacted = compact_shards(
            root, prefix=SHARD_PREFIX, min_fill=shard_config.compact_min_fill
        )
        meta |= {
            "shards": len(compacted.manifest.shards),
            "compacted_into": len(compacted.written),
            "compacted_shards_removed": len(compacted.removed),
            "compaction_bytes_written": compacted.bytes_written,
        }
        manifest = compacted.manifest
    else:
        manifest = result.manifest
    context.log.info(
        f"{len(result.judged)} videos judged, {len(result.removed_videos)} removed: "
        f"{len(result.written)} shards written ({result.bytes_written} bytes), "
        f"{len(result.removed)} removed, {meta['shards_unchanged']} unchanged"
    )
    selection = result.selection
    reasons = pd.DataFrame(
        sorted(selection.reason_counts().items()) if selection is not None else [],
        columns=["reason", "clips"],
    )
    return dg.MaterializeResult(
        metadata={
            **meta,
            "judged_videos": ", ".join(result.judged[:20])
            + (f" and {len(result.judged) - 20} more" if len(result.judged) > 20 else ""),
            "judged_clips": selection.candidates if selection is not None else 0,
            "excluded_clips_judged": selection.excluded_clips if selection is not None else 0,
            "exclusion_reasons_judged": md_table(reasons),
            "buckets_table": md_table(manifest.buckets()),
            "folder": dg.MetadataValue.path(root.uri(SHARD_PREFIX)),
        }
    )
