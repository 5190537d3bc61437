"""Jobs: the per-video pipeline and the catalog refresh."""

import dagster as dg

video_job = dg.define_asset_job(
    "video_job",
    selection=dg.AssetSelection.groups("ingest", "video", "audio", "tokens"),
    description="Every per-video asset of one partition, with its checks.",
)

tokenizer_job = dg.define_asset_job(
    "tokenizer_job",
    selection=dg.AssetSelection.groups("tokenizer"),
    description="Train the video tokenizer on the catalog's clips (or record the configured checkpoint); "
    "automation then re-encodes every video's tokens and refreshes the shards.",
)

tokens_job = dg.define_asset_job(
    "tokens_job",
    selection=dg.AssetSelection.groups("tokens"),
    description="Encode one partition's clips with the current tokenizer (automation does this when "
    "the tokenizer or the clips change).",
)

shards_job = dg.define_asset_job(
    "shards_job",
    selection=dg.AssetSelection.groups("training", "catalog"),
    description="Add new and changed videos' kept clips to the training shards, then refresh the "
    "catalog (set shard_config.compact to merge small shards).",
)

catalog_job = dg.define_asset_job(
    "catalog_job",
    selection=dg.AssetSelection.groups("catalog"),
    description="Refresh the DuckDB catalog views and the summary across videos.",
)
