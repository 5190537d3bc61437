"""tokenizer_model and token_tensors: an LFQ video tokenizer trained on the catalog's clips, applied to every clip."""

import contextlib
import hashlib
import json
import tempfile
import time
from pathlib import Path

import dagster as dg
import pandas as pd

from dagster_project.defs.automation import FIRST_TOKENIZER, TOKENS
from dagster_project.defs.clips.assets import clips
from dagster_project.defs.execution import MODEL_OP_TAGS
from dagster_project.defs.metadata import md_table, stored_image
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, TokenStageConfig
from video_assets.catalog import connect
from video_assets.errors import ConfigError, VideoAssetsError
from video_assets.progress import Progress
from video_assets.store import DataRoot

TOKENIZER_DIR = "models/tokenizer"
CURRENT_FILE = f"{TOKENIZER_DIR}/current.json"
TOKENS_COLUMNS = [
    "video_id",
    "clip_id",
    "path",
    "t",
    "h",
    "w",
    "frames",
    "height",
    "width",
    "fps",
    "spatial_stride",
    "temporal_stride",
    "bits",
    "quantizer",
    "unique_codes",
    "checkpoint_hash",
]


def current_tokenizer(root: DataRoot) -> dict:
    """The checkpoint tokenizer_model made current: ``{"hash", "path", "stored", ...}``."""
    if not root.exists(CURRENT_FILE):
        raise VideoAssetsError(
            f"no tokenizer yet ({root.uri(CURRENT_FILE)} is missing); materialize tokenizer_model"
        )
    return json.loads(root.read_bytes(CURRENT_FILE))


def _training_clips(root: DataRoot) -> pd.DataFrame:
    with connect(root) as con:
        return con.execute(
            "SELECT clip_id, path, bytes FROM clips WHERE leaked_frames = 0 ORDER BY clip_id"
        ).df()


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
    from video_assets.tokens import plot_training, read_checkpoint_info, train_tokenizer
    from video_assets.visuals import png_markdown

    root = store.root()
    if token_config.checkpoint:
        path = Path(token_config.checkpoint)
        if not path.is_file():
            raise ConfigError("VIDEO_ASSETS_TOKENIZER_CHECKPOINT", f"{path} does not exist")
        info = read_checkpoint_info(path)
        pointer = {
            "hash": info.hash,
            "path": str(path.absolute()),
            "stored": False,
            "source": "configured",
            "config": info.config.to_dict(),
        }
        root.write_bytes(CURRENT_FILE, json.dumps(pointer, indent=2, sort_keys=True).encode())
        return dg.MaterializeResult(
            metadata={
                "source": "configured checkpoint (training skipped)",
                "checkpoint": dg.MetadataValue.path(str(path)),
                "checkpoint_hash": info.hash,
                "bits": info.config.code_bits,
                "quantizer": info.config.quantizer,
            }
        )

    settings = token_config.train_settings()
    clip_rows = _training_clips(root)
    if clip_rows.empty:
        raise VideoAssetsError(
            "no clips in the catalog to train the tokenizer on; materialize clips for a video first"
        )
    # Same clips and settings give the same checkpoint (seeded, deterministic): reuse it.
    fingerprint = hashlib.sha256(
        json.dumps(
            {
                "settings": token_config.model_dump(exclude={"checkpoint", "device"}),
                "clips": clip_rows[["clip_id", "bytes"]].astype(str).values.tolist(),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    if root.exists(CURRENT_FILE):
        old = json.loads(root.read_bytes(CURRENT_FILE))
        if old.get("fingerprint") == fingerprint and root.exists(old.get("path", "")):
            context.log.info(
                f"tokenizer {old['hash'][:12]} already trained on these clips with these settings"
            )
            return dg.MaterializeResult(
                metadata={
                    "source": "trained earlier on the same clips and settings (reused)",
                    "checkpoint": dg.MetadataValue.path(root.uri(old["path"])),
                    "checkpoint_hash": old["hash"],
                    **{k: v for k, v in old.get("summary", {}).items() if k != "checkpoint_hash"},
                }
            )

    with (
        contextlib.ExitStack() as stack,
        tempfile.TemporaryDirectory(prefix="va-tokenizer-") as tmp,
    ):
        local_clips = [stack.enter_context(root.local_copy(p)) for p in clip_rows["path"]]
        out = Path(tmp) / "tokenizer.safetensors"
        with Progress(
            settings.steps,
            "steps",
            "tokenizer training",
            sink=context.log.info,
            min_interval_s=15.0,
        ) as prog:
            result = train_tokenizer(
                local_clips,
                settings,
                out,
                progress=lambda p: prog.update(p.step, p.steps, note=f"loss {p.loss:.4f}"),
            )
        rel = f"{TOKENIZER_DIR}/tokenizer-{result.checkpoint_hash[:12]}.safetensors"
        with root.atomic_file(rel) as dst:
            dst.write_bytes(out.read_bytes())
    summary = result.summary()
    pointer = {
        "hash": result.checkpoint_hash,
        "path": rel,
        "stored": True,
        "source": "trained",
        "fingerprint": fingerprint,
        "config": result.config.to_dict(),
        "summary": {k: v for k, v in summary.items() if k not in ("duration_s", "steps_per_s")},
    }
    root.write_bytes(CURRENT_FILE, json.dumps(pointer, indent=2, sort_keys=True).encode())
    return dg.MaterializeResult(
        metadata={
            "source": "trained",
            **summary,
            "checkpoint": dg.MetadataValue.path(root.uri(rel)),
            "training_clips": len(clip_rows),
            "training": dg.MetadataValue.md(
                png_markdown(plot_training(result), "tokenizer training curves")
            ),
        }
    )


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
    from video_assets.tokens import (
        decode_tokens,
        encode_clip,
        load_checkpoint,
        preview_image,
        write_tokens_safetensors,
    )

    root = store.root()
    vid = context.partition_key
    if not root.exists(CURRENT_FILE):
        # Not materialized (not failed): automation (or the main job) makes this partition
        # once tokenizer_model has trained a tokenizer.
        context.log.warning(
            f"no tokenizer yet ({CURRENT_FILE} missing): {vid} will be tokenized after "
            "tokenizer_model is materialized"
        )
        return
    current = current_tokenizer(root)
    clip_rows = root.read_table("clips", vid)
    token_dir = root.rel("tokens", vid)
    rows, first = [], None
    t0 = time.perf_counter()
    frames_done = 0
    ckpt_rel = current["path"]
    if not current.get("stored") and not Path(ckpt_rel).is_file():
        raise ConfigError(
            "VIDEO_ASSETS_TOKENIZER_CHECKPOINT",
            f"{ckpt_rel} (the current tokenizer) does not exist",
        )
    with (
        root.local_copy(ckpt_rel)
        if current.get("stored")
        else contextlib.nullcontext(Path(ckpt_rel)) as ckpt_path
    ):
        ckpt = load_checkpoint(ckpt_path, device=token_config.device)
        if ckpt.hash != current["hash"]:
            raise VideoAssetsError(
                f"{ckpt_path}: checkpoint hash {ckpt.hash[:12]} differs from the current "
                f"{current['hash'][:12]} recorded in {CURRENT_FILE}"
            )
        with (
            root.atomic_dir(token_dir) as tmp,
            Progress(
                len(clip_rows),
                "clips",
                "token encoding",
                sink=context.log.info,
                min_interval_s=15.0,
            ) as prog,
        ):
            for i, clip in enumerate(clip_rows.itertuples()):
                with root.local_copy(clip.path) as local:
                    res = encode_clip(
                        local,
                        ckpt,
                        clip_id=clip.clip_id,
                        max_frames=token_config.encode_max_frames or None,
                        keep_pixels=first is None,
                    )
                write_tokens_safetensors(
                    tmp / f"{clip.clip_id}.safetensors", res.ids, res.metadata()
                )
                rows.append(
                    {
                        "video_id": vid,
                        "path": f"{token_dir}/{clip.clip_id}.safetensors",
                        **res.table_row(),
                    }
                )
                frames_done += res.frames
                if first is None:
                    first = res
                prog.update(i + 1)
        preview = None
        if first is not None and first.pixels is not None:
            recon = decode_tokens(first.ids, ckpt, num_frames=first.frames)
            png = preview_image(first.pixels, recon)
            preview = stored_image(
                root,
                root.rel("previews", vid, "tokens.png"),
                lambda out: out.write_bytes(png),
                f"original and reconstruction of {first.clip_id}",
            )
    elapsed = time.perf_counter() - t0
    df = pd.DataFrame(rows, columns=TOKENS_COLUMNS)
    root.write_table("tokens", vid, df)
    meta = {
        "clips": len(df),
        "checkpoint_hash": current["hash"],
        "tokens": int((df["t"] * df["h"] * df["w"]).sum()) if len(df) else 0,
        "mean_unique_codes": round(float(df["unique_codes"].mean()), 1) if len(df) else 0.0,
        "bits": int(df["bits"].iloc[0]) if len(df) else current["config"].get("bits", 0),
        "encode_frames_per_s": round(frames_done / elapsed, 1) if elapsed > 0 else 0.0,
        "folder": dg.MetadataValue.path(root.uri(token_dir)),
        "preview_rows": md_table(df[["clip_id", "t", "h", "w", "frames", "unique_codes"]]),
    }
    if preview is not None:
        meta["reconstruction"] = preview
    yield dg.MaterializeResult(metadata=meta)
