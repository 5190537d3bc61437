"""Checks on clips."""

import dagster as dg

from dagster_project.defs.clips.assets import clips
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from dagster_project.defs.sqlcheck import SQL_CHECKS, StageSettings


@dg.asset_check(
    asset=clips,
    partitions_def=videos,
    blocking=True,
    description="Clips holding a frame outside their scene (a leak across a cut). Must be none.",
)
def leaked_frames(
    context: dg.AssetCheckExecutionContext, store: StoreResource
) -> dg.AssetCheckResult:
    return SQL_CHECKS["leaked_frames"].result(store.root(), context.partition_key)


@dg.asset_check(
    asset=clips,
    partitions_def=videos,
    description="Clips that lost more than a share of their scene to keyframe alignment.",
)
def lost_frames(
    context: dg.AssetCheckExecutionContext, store: StoreResource, video_config: VideoStageConfig
) -> dg.AssetCheckResult:
    return SQL_CHECKS["lost_frames"].result(
        store.root(), context.partition_key, StageSettings(video=video_config)
    )
