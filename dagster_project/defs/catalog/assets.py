"""catalog: DuckDB views over every partition's tables, and a summary across videos."""


import dagster as dg

from dagster_project.defs.audio.assets import aligned_transcripts, vocal_stems
from dagster_project.defs.clips.assets import clips
from dagster_project.defs.ingest.assets import iframe_index, source_video
from dagster_project.defs.metadata import md_table
from dagster_project.defs.resources import StoreResource
from dagster_project.defs.scenes.assets import scene_table
from video_assets.catalog import CATALOG_FILE, connect, sql_text


@dg.asset(
    deps=[source_video, iframe_index, scene_table, clips, vocal_stems, aligned_transcripts],
    group_name="catalog",
    kinds={"duckdb"},
    owners=["team:video-data"],
)
def catalog(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    """DuckDB views over all partitions' Parquet tables (no copies), with a per-video summary."""
    root = store.root()
    with connect(root, persistent=True) as con:
        views = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()]
        summary = con.execute(sql_text("reports/video_summary.sql")).df()
    totals = {
        "videos": len(summary),
        "hours": round(float(summary["duration_s"].sum()) / 3600, 4) if len(summary) else 0.0,
        "scenes": int(summary["scenes"].sum()) if len(summary) else 0,
        "clips": int(summary["clips"].sum()) if len(summary) else 0,
    }
    return dg.MaterializeResult(metadata={
        **totals,
        "views": ", ".join(views),
        "catalog_file": dg.MetadataValue.path(root.full(CATALOG_FILE)),
        "per_video": md_table(summary, limit=50),
    })
