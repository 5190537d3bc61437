"""catalog: DuckDB views over every partition's tables, and a summary across videos."""

import dagster as dg
import pandas as pd

from dagster_project.defs.audio.assets import aligned_transcripts, vocal_stems
from dagster_project.defs.automation import AFTER_UPSTREAM_SETTLES
from dagster_project.defs.clips.assets import clips
from dagster_project.defs.ingest.assets import iframe_index, source_video
from dagster_project.defs.metadata import md_table
from dagster_project.defs.resources import AudioStageConfig, StoreResource, VideoStageConfig
from dagster_project.defs.scenes.assets import scene_table
from dagster_project.defs.shards.assets import training_shards
from dagster_project.defs.sqlcheck import SQL_CHECKS, StageSettings
from dagster_project.defs.tokens.assets import token_tensors
from video_assets.catalog import CATALOG_FILE, connect, sql_text
from video_assets.store import DataRoot
from video_assets.visuals import catalog_summary_markdown

# The columns the summary reads from each view (not whole tables: words can be millions of rows).
_SUMMARY_COLUMNS = {
    "videos": ["video_id", "original_name", "duration_s"],
    "scenes": ["video_id", "is_short"],
    "clips": ["video_id", "clip_id", "duration_s", "leaked_frames"],
    "words": ["video_id", "score"],
    "segments": ["video_id", "kept"],
    "shards": ["n_samples", "bytes"],
    "tokens": ["video_id", "clip_id", "t", "h", "w"],
}


def _check_rows(root: DataRoot, video_ids: list[str], settings: StageSettings) -> pd.DataFrame:
    """Every partition's summarized SQL checks, judged as the asset checks judge them."""
    rows = []
    for vid in video_ids:
        for check in (c for c in SQL_CHECKS.values() if c.summarized):
            res = check.result(root, vid, settings)
            rows.append(
                {
                    "video_id": vid,
                    "check": check.name,
                    "passed": res.passed,
                    "count": res.metadata["violations"].value,
                }
            )
    return pd.DataFrame(rows, columns=["video_id", "check", "passed", "count"])


@dg.asset(
    deps=[
        source_video,
        iframe_index,
        scene_table,
        clips,
        vocal_stems,
        aligned_transcripts,
        token_tensors,
        training_shards,
    ],
    group_name="catalog",
    kinds={"duckdb"},
    owners=["team:video-data"],
    automation_condition=AFTER_UPSTREAM_SETTLES,
)
def catalog(
    context: dg.AssetExecutionContext,
    store: StoreResource,
    video_config: VideoStageConfig,
    audio_config: AudioStageConfig,
) -> dg.MaterializeResult:
    """DuckDB views over all partitions' Parquet tables (no copies), with a summary across videos."""
    root = store.root()
    with connect(root, persistent=True) as con:
        views = [r[0] for r in con.execute(sql_text("reports/catalog_views.sql")).fetchall()]
        summary = con.execute(sql_text("reports/video_summary.sql")).df()
        tables = {
            name: con.execute(
                sql_text("reports/view_columns.sql"), {"view": name, "columns": cols}
            ).df()[cols]
            for name, cols in _SUMMARY_COLUMNS.items()
            if name in views
        }
    checks = _check_rows(
        root,
        sorted(tables["videos"]["video_id"]) if "videos" in tables else [],
        StageSettings(video=video_config, audio=audio_config),
    )
    totals = {
        "videos": len(summary),
        "hours": round(float(summary["duration_s"].sum()) / 3600, 4) if len(summary) else 0.0,
        "scenes": int(summary["scenes"].sum()) if len(summary) else 0,
        "clips": int(summary["clips"].sum()) if len(summary) else 0,
    }
    return dg.MaterializeResult(
        metadata={
            **totals,
            "views": ", ".join(views),
            "catalog_file": dg.MetadataValue.path(root.uri(CATALOG_FILE)),
            "summary": dg.MetadataValue.md(
                catalog_summary_markdown(
                    **tables, checks=checks, min_score=audio_config.min_word_score
                )
            ),
            "per_video": md_table(summary, limit=50),
        }
    )
