"""tokenizer_model and token_tensors: an LFQ video tokenizer trained on the catalog's clips, applied to every clip."""

import dagster as dg

from dagster_project.defs.automation import FIRST_TOKENIZER, TOKENS
from dagster_project.defs.clips.assets import clips
from dagster_project.defs.execution import MODEL_OP_TAGS
from dagster_project.defs.metadata import image_md, md_table
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, TokenStageConfig
from video_assets.layout import CURRENT_TOKENIZER, has_tokenizer


@dg.asset(
    deps=[clips],
    group_name="tokenizer",
    kinds={"pytorch", "safetensors"},
    owners=["team:video-models"],
    tags={"stage": "tokens"},
    op_tags=MODEL_OP_TAGS,
    pool="models",
    automation_condition=FIRST_TOKENIZER,
)
def tokenizer_model(
    context: dg.AssetExecutionContext, store: StoreResource, token_config: TokenStageConfig
) -> dg.MaterializeResult:
    """An LFQ (MagViT-v2 style) video tokenizer trained on clips from the catalog, or the configured checkpoint."""
    from video_assets.tokens.stage import train_or_reuse, use_checkpoint
    from video_assets.visuals import png_markdown

    root = store.root()
    if token_config.checkpoint:
        model = use_checkpoint(root, token_config.checkpoint)
    else:
        model = train_or_reuse(root, token_config.train_settings(), log=context.log.info)
    meta = {**model.summary(), "checkpoint": dg.MetadataValue.path(model.checkpoint)}
    plot = model.training_plot()
    if plot is not None:
        meta["training"] = dg.MetadataValue.md(png_markdown(plot, "tokenizer training curves"))
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    partitions_def=videos,
    deps=[clips, tokenizer_model],
    group_name="tokens",
    kinds={"pytorch", "safetensors", "parquet"},
    owners=["team:video-models"],
    tags={"stage": "tokens"},
    op_tags=MODEL_OP_TAGS,
    pool="models",
    output_required=False,
    automation_condition=TOKENS,
)
def token_tensors(
    context: dg.AssetExecutionContext, store: StoreResource, token_config: TokenStageConfig
):  # noqa: ANN201 - yields MaterializeResult
    """Token ids (T', H', W') of every clip of the video under the current tokenizer, one safetensors file per clip."""
    from video_assets.tokens.stage import encode_video
    from video_assets.visuals import png_markdown

    root = store.root()
    vid = context.partition_key
    if not has_tokenizer(root):
        # Not materialized (not failed): automation (or the main job) makes this partition
        # once tokenizer_model has trained a tokenizer.
        context.log.warning(
            f"no tokenizer yet ({CURRENT_TOKENIZER} missing): {vid} will be tokenized after "
            "tokenizer_model is materialized"
        )
        return
    tokens = encode_video(
        root,
        vid,
        device=token_config.device,
        max_frames=token_config.encode_max_frames or None,
        log=context.log.info,
    )
    df = tokens.frame()
    root.write_table("tokens", vid, df)
    meta = {
        **tokens.summary(),
        "folder": dg.MetadataValue.path(root.uri(tokens.folder)),
        "preview_rows": md_table(df[["clip_id", "t", "h", "w", "frames", "unique_codes"]]),
    }
    if tokens.preview is not None and tokens.preview_png is not None:
        alt = f"original and reconstruction of {tokens.clips[0].clip_id}"
        meta["reconstruction"] = image_md(
            root, tokens.preview, png_markdown(tokens.preview_png, alt)
        )
    yield dg.MaterializeResult(metadata=meta)
