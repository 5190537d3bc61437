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
    description="Train the video tokenizer on the catalog's clips (or record the configured checkpoint).",
)

tokens_job = dg.define_asset_job(
    "tokens_job",
    selection=dg.AssetSelection.groups("tokens"),
    description="Re-encode one partition's clips with the current tokenizer (requested by tokenizer_sensor).",
)

shards_job = dg.define_asset_job(
    "shards_job",
    selection=dg.AssetSelection.groups("training", "catalog"),
    description="Pack every video's kept clips into training shards, then refresh the catalog.",
)

catalog_job = dg.define_asset_job(
    "catalog_job",
    selection=dg.AssetSelection.groups("catalog"),
    description="Refresh the DuckDB catalog views and the summary across videos.",
)
