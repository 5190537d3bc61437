"""Checks on scene_table."""

import dagster as dg

from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from dagster_project.defs.scenes.assets import scene_table
from dagster_project.defs.sqlcheck import SQL_CHECKS, StageSettings


@dg.asset_check(
    asset=scene_table,
    partitions_def=videos,
    description="Scenes shorter than the minimum clip length (no clip is cut for them).",
)
def short_scenes(
    context: dg.AssetCheckExecutionContext, store: StoreResource, video_config: VideoStageConfig
) -> dg.AssetCheckResult:
    return SQL_CHECKS["short_scenes"].result(
        store.root(), context.partition_key, StageSettings(video=video_config)
    )
