"""training_shards: every kept clip of every video in bucketed WebDataset shards, kept current incrementally."""

from dataclasses import replace

import dagster as dg

from dagster_project.defs.audio.assets import aligned_transcripts
from dagster_project.defs.automation import AFTER_UPSTREAM_SETTLES
from dagster_project.defs.clips.assets import clips
from dagster_project.defs.metadata import md_table
from dagster_project.defs.motion.assets import clip_motion
from dagster_project.defs.resources import AudioStageConfig, ShardStageConfig, StoreResource
from dagster_project.defs.tokens.assets import token_tensors, tokenizer_model
from video_assets.shards.settings import DoubtfulTranscripts
from video_assets.shards.training import (
    SHARD_PREFIX,
    current_checkpoint_hash,
    update_training_shards,
)


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
    context: dg.AssetExecutionContext,
    store: StoreResource,
    shard_config: ShardStageConfig,
    audio_config: AudioStageConfig,
) -> dg.MaterializeResult:
    """Adds new and changed videos' kept clips (static clips and slideshows left out, words of doubtful transcripts withheld) to bucketed WebDataset shards (new shards only), with a manifest in the catalog."""
    root = store.root()
    # Words are judged by the thresholds the transcripts were checked with.
    rules = replace(
        shard_config.rules(current_checkpoint_hash(root), audio_config.min_word_score),
        doubtful_transcripts=DoubtfulTranscripts(
            min_language_probability=audio_config.min_language_probability,
            max_loop_share=audio_config.max_loop_share,
        ),
    )
    result = update_training_shards(
        root,
        prefix=SHARD_PREFIX,
        rules=rules,
        settings=shard_config.shard_settings(),
        compact_min_fill=shard_config.compact_min_fill if shard_config.compact else None,
    )
    context.log.info(result.summary())
    return dg.MaterializeResult(
        metadata={
            **result.metadata(),
            "exclusion_reasons_judged": md_table(result.reasons_frame()),
            "buckets_table": md_table(result.manifest.buckets()),
            "folder": dg.MetadataValue.path(root.uri(SHARD_PREFIX)),
        }
    )
