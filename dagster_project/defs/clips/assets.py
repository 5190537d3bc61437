"""clips: one shot-pure file per kept scene, stream-copied where exact (MP4, or Matroska)."""

import dagster as dg

from dagster_project.defs.metadata import image_md, md_table
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from dagster_project.defs.scenes.assets import scene_table
from video_assets.clip_stage import cut_video_clips

PREVIEW_COLUMNS = [
    "clip_id",
    "scene_index",
    "window_index",
    "start_s",
    "end_s",
    "method",
    "container",
    "leaked_frames",
    "lost_frames",
]


@dg.asset(
    partitions_def=videos,
    deps=[scene_table],
    group_name="video",
    kinds={"ffmpeg", "mp4", "parquet"},
    owners=["team:video-data"],
    tags={"stage": "clips"},
)
def clips(
    context: dg.AssetExecutionContext, store: StoreResource, video_config: VideoStageConfig
) -> dg.MaterializeResult:
    """Cuts one clip per scene of at least the minimum length (long scenes into windows at keyframes); a clip never holds a frame of another shot."""
    root = store.root()
    vid = context.partition_key
    result = cut_video_clips(root, vid, video_config.clip_settings())
    df = result.frame()
    root.write_table("clips", vid, df)
    return dg.MaterializeResult(
        metadata={
            **result.summary(),
            "folder": dg.MetadataValue.path(root.uri(result.folder)),
            "preview": md_table(df[PREVIEW_COLUMNS]),
            "cut_boundaries": image_md(root, result.preview, result.preview_markdown),
        }
    )
