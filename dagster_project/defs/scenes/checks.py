"""Checks on scene_table."""

import dagster as dg

from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from dagster_project.defs.scenes.assets import scene_table
from dagster_project.defs.sqlcheck import sql_check_result


@dg.asset_check(
    asset=scene_table,
    partitions_def=videos,
    description="Scenes shorter than the minimum clip length (no clip is cut for them).",
)
def short_scenes(
    context: dg.AssetCheckExecutionContext, store: StoreResource, video_config: VideoStageConfig
) -> dg.AssetCheckResult:
    return sql_check_result(
        store.root(),
        "short_scenes",
        context.partition_key,
        {"min_duration_s": video_config.min_clip_s},
        max_share=video_config.max_short_share,
        share_of="scenes",
        severity=dg.AssetCheckSeverity.WARN,
    )
