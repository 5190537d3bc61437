"""Jobs: the per-video pipeline and the catalog refresh."""

import dagster as dg

video_job = dg.define_asset_job(
    "video_job",
    selection=dg.AssetSelection.groups("ingest", "video", "audio", "tokens"),
    description="Every per-video asset of one partition, with its checks.",
)

catalog_job = dg.define_asset_job(
    "catalog_job",
    selection=dg.AssetSelection.groups("catalog"),
    description="Refresh the DuckDB catalog views and the summary across videos.",
)
