"""scene_table: two-level scene detection, one row per scene, short scenes flagged."""

import dagster as dg

from dagster_project.defs.ingest.assets import iframe_index
from dagster_project.defs.metadata import image_md, md_table
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from video_assets.scenes.stage import detect_video_scenes


@dg.asset(
    partitions_def=videos,
    deps=[iframe_index],
    group_name="video",
    kinds={"pyscenedetect", "parquet"},
    owners=["team:video-data"],
    tags={"stage": "scenes"},
)
def scene_table(
    context: dg.AssetExecutionContext, store: StoreResource, video_config: VideoStageConfig
) -> dg.MaterializeResult:
    """Scenes from a keyframe-level pass plus PySceneDetect where cuts may be; short scenes kept and flagged."""
    root = store.root()
    vid = context.partition_key
    result = detect_video_scenes(
        root,
        vid,
        video_config.detector_settings(),
        mode=video_config.scene_mode,
        min_clip_s=video_config.min_clip_s,
        log=context.log.info,
    )
    df = result.frame()
    root.write_table("scenes", vid, df)
    return dg.MaterializeResult(
        metadata={
            **result.summary(),
            "level1": dg.MetadataValue.json(result.result.level1),
            "preview": md_table(df.drop(columns=["video_id", "detector", "mode"])),
            "contact_sheet": image_md(root, result.preview, result.preview_markdown),
        }
    )
