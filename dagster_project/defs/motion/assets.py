"""clip_motion: what moves in each clip, the camera's motion, and its worst transition."""

import dagster as dg

from dagster_project.defs.clips.assets import clips
from dagster_project.defs.metadata import md_table, stored_image
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from video_assets.layout import preview_rel
from video_assets.motion.plot import motion_strip
from video_assets.motion.table import ARROW_SCHEMA, measure_clip_table
from video_assets.progress import Progress

PREVIEW = [
    "clip_id",
    "camera",
    "camera_speed_px",
    "mean_motion_px",
    "patch_max_px",
    "static_share",
    "worst_frame",
    "worst_kind",
    "static_reason",
    "method",
]


@dg.asset(
    partitions_def=videos,
    deps=[clips],
    group_name="video",
    kinds={"pyav", "parquet"},
    owners=["team:video-data"],
    tags={"stage": "motion"},
)
def clip_motion(
    context: dg.AssetExecutionContext, store: StoreResource, video_config: VideoStageConfig
) -> dg.MaterializeResult:
    """Measures each clip's motion (codec motion vectors), camera class and worst frame-to-frame transition."""
    root = store.root()
    vid = context.partition_key
    settings = video_config.motion_settings()
    clip_rows = root.read_table("clips", vid)
    with Progress(len(clip_rows), "clips", "motion", sink=context.log.info) as progress:
        table = measure_clip_table(root, clip_rows, settings, progress=progress)
    df = table.rows
    root.write_table("clip_motion", vid, df, schema=ARROW_SCHEMA)
    strip = stored_image(
        root,
        preview_rel(vid, "motion_strip.png"),
        lambda out: motion_strip(table.results, list(df["clip_id"]), out),
        f"motion over time per clip of {vid}",
    )
    cameras = df["camera"].value_counts().sort_index()
    return dg.MaterializeResult(
        metadata={
            "clips": len(df),
            "camera": ", ".join(f"{k} {v}" for k, v in cameras.items()) or "-",
            "static": int((df["static_reason"] == "static").sum()),
            "slideshows": int((df["static_reason"] == "slideshow").sum()),
            "inner_cuts": int(df["cuts"].sum()),
            "inner_flashes": int(df["flashes"].sum()),
            "frame_difference_clips": int((df["method"] == "framediff").sum()),
            "analysis_width": settings.analysis_width,
            "clip_seconds": round(table.clip_seconds, 3),
            "realtime_x": round(table.clip_seconds / table.elapsed_s, 1)
            if table.elapsed_s
            else 0.0,
            "preview": md_table(df[PREVIEW]),
            "motion_strip": strip,
        }
    )
