"""Checks on clip_motion."""

import dagster as dg

from dagster_project.defs.motion.assets import clip_motion
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from dagster_project.defs.sqlcheck import SQL_CHECKS


@dg.asset_check(
    asset=clip_motion,
    partitions_def=videos,
    description="Clips that barely move (static) or are stills one after another (slideshow).",
)
def static_clips(
    context: dg.AssetCheckExecutionContext, store: StoreResource, video_config: VideoStageConfig
) -> dg.AssetCheckResult:
    s = video_config.motion_settings()
    return SQL_CHECKS["static_clips"].result(
        store.root(),
        context.partition_key,
        extra_metadata={
            "min_motion_px": s.min_motion_px,
            "min_patch_motion_px": s.min_patch_motion_px,
            "max_static_share": s.max_static_share,
            "analysis_width": s.analysis_width,
        },
    )


@dg.asset_check(
    asset=clip_motion,
    partitions_def=videos,
    description="Clips whose worst frame-to-frame transition looks like a cut or a flash.",
)
def inner_discontinuity(
    context: dg.AssetCheckExecutionContext, store: StoreResource, video_config: VideoStageConfig
) -> dg.AssetCheckResult:
    s = video_config.motion_settings()
    return SQL_CHECKS["inner_discontinuity"].result(
        store.root(),
        context.partition_key,
        extra_metadata={"cut_similarity": s.cut_similarity, "min_drop": s.min_drop},
    )
