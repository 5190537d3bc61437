"""Checks on the token stage."""

import dagster as dg

from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, TokenStageConfig
from dagster_project.defs.sqlcheck import sql_check_result
from dagster_project.defs.tokens.assets import token_tensors
from video_assets.layout import current_tokenizer


@dg.asset_check(
    asset=token_tensors,
    partitions_def=videos,
    description="Token tensors whose shape does not match the clip's frames and the strides, clips "
    "without tokens, or tokens made by another checkpoint than the current one.",
)
def token_mismatch(
    context: dg.AssetCheckExecutionContext, store: StoreResource, token_config: TokenStageConfig
) -> dg.AssetCheckResult:
    current = current_tokenizer(store.root())
    return sql_check_result(
        store.root(),
        "token_mismatch",
        context.partition_key,
        {"checkpoint_hash": current["hash"], "max_frames": token_config.encode_max_frames},
        extra_metadata={"current_checkpoint": current["hash"][:12]},
    )
