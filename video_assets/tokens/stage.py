"""The token stage over the data root: one current tokenizer, and every clip encoded by it.

``models/tokenizer/current.json`` (:data:`video_assets.layout.CURRENT_TOKENIZER`) names the
checkpoint tokens are made with: ``{"hash", "path", "stored", "source", "config", ...}``.
``stored`` says whether ``path`` is in the data root (a trained checkpoint) or a file
outside it (a configured one). Training is seeded and deterministic, so a pointer also
records the fingerprint of the clips and settings it was trained from; the same
fingerprint reuses that checkpoint instead of training again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from video_assets.catalog import connect, sql_text
from video_assets.errors import ConfigError, VideoAssetsError
from video_assets.layout import (
    CURRENT_TOKENIZER,
    current_tokenizer,
    has_tokenizer,
    preview_rel,
    token_dir,
    tokenizer_rel,
)
from video_assets.progress import Progress
from video_assets.store import DataRoot
from video_assets.tokens.checkpoint import load_checkpoint, read_checkpoint_info
from video_assets.tokens.encode import (
    TokenResult,
    decode_tokens,
    encode_clip,
    write_tokens_safetensors,
)
from video_assets.tokens.report import plot_training, preview_image
from video_assets.tokens.train import TrainResult, TrainSettings, train_tokenizer

CHECKPOINT_SETTING = "VIDEO_ASSETS_TOKENIZER_CHECKPOINT"
TOKENS_PREVIEW = "tokens.png"
TOKENS_COLUMNS = (
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
)
"""Columns of the ``tokens`` table, in order."""
_NOT_IN_FINGERPRINT = ("device", "num_threads", "log_every")
"""Training settings that do not change the checkpoint trained."""

Log = Callable[[str], object]


def _write_pointer(root: DataRoot, pointer: dict) -> None:
    root.write_bytes(CURRENT_TOKENIZER, json.dumps(pointer, indent=2, sort_keys=True).encode())


@dataclass(frozen=True)
class TokenizerModel:
    """The current tokenizer after :func:`make_tokenizer_current`.

    Attributes:
        source: ``configured`` (a checkpoint made elsewhere), ``reused`` (trained earlier on
            the same clips and settings) or ``trained`` (now).
        pointer: What ``current.json`` now holds.
        checkpoint: The checkpoint's local path or data-root URI.
        training: The training run (``trained`` only).
        training_clips: Clips offered to training (``trained`` only).
        header: Bits and quantizer read from a configured checkpoint's header.
    """

    source: Literal["configured", "reused", "trained"]
    pointer: dict
    checkpoint: str
    training: TrainResult | None = None
    training_clips: int = 0
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def checkpoint_hash(self) -> str:
        return str(self.pointer["hash"])

    def summary(self) -> dict[str, Any]:
        """Flat values for asset metadata (``source`` in words, hash, bits, training figures)."""
        if self.source == "configured":
            return {
                "source": "configured checkpoint (training skipped)",
                "checkpoint_hash": self.checkpoint_hash,
                **self.header,
            }
        if self.source == "reused":
            return {
                "source": "trained earlier on the same clips and settings (reused)",
                "checkpoint_hash": self.checkpoint_hash,
                **{
                    k: v
                    for k, v in self.pointer.get("summary", {}).items()
                    if k != "checkpoint_hash"
                },
            }
        assert self.training is not None
        return {
            "source": "trained",
            **self.training.summary(),
            "training_clips": self.training_clips,
        }

    def training_plot(self) -> bytes | None:
        """PNG of the training curves (``trained`` only)."""
        return plot_training(self.training) if self.training is not None else None


def use_checkpoint(root: DataRoot, checkpoint: str | Path) -> TokenizerModel:
    """Make a checkpoint made elsewhere the current tokenizer (it stays where it is).

    Raises:
        ConfigError: the file does not exist (names VIDEO_ASSETS_TOKENIZER_CHECKPOINT).
        CheckpointError: it is not a tokenizer checkpoint.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise ConfigError(CHECKPOINT_SETTING, f"{path} does not exist")
    info = read_checkpoint_info(path)
    pointer = {
        "hash": info.hash,
        "path": str(path.absolute()),
        "stored": False,
        "source": "configured",
        "config": info.config.to_dict(),
    }
    _write_pointer(root, pointer)
    header = {"bits": info.config.code_bits, "quantizer": info.config.quantizer}
    return TokenizerModel("configured", pointer, str(path), header=header)


def training_clips(root: DataRoot) -> pd.DataFrame:
    """The catalog's clips a tokenizer trains on (``clip_id, path, bytes``)."""
    with connect(root) as con:
        return con.execute(sql_text("reports/tokenizer_training_clips.sql")).df()


def training_fingerprint(settings: TrainSettings, clips: pd.DataFrame) -> str:
    """What decides the checkpoint trained: the settings (not where it runs) and the clips."""
    values = {k: v for k, v in dataclasses.asdict(settings).items() if k not in _NOT_IN_FINGERPRINT}
    return hashlib.sha256(
        json.dumps(
            {"settings": values, "clips": clips[["clip_id", "bytes"]].astype(str).values.tolist()},
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()


def train_or_reuse(
    root: DataRoot, settings: TrainSettings, *, log: Log | None = None
) -> TokenizerModel:
    """Train a tokenizer on the catalog's clips and make it current, or reuse the current
    one when it was trained on the same clips with the same settings.

    Raises:
        VideoAssetsError: the catalog holds no clips to train on.
    """
    clips = training_clips(root)
    if clips.empty:
        raise VideoAssetsError(
            "no clips in the catalog to train the tokenizer on; materialize clips for a video first"
        )
    fingerprint = training_fingerprint(settings, clips)
    if has_tokenizer(root):
        old = current_tokenizer(root)
        if old.get("fingerprint") == fingerprint and root.exists(old.get("path", "")):
            if log is not None:
                log(
                    f"tokenizer {old['hash'][:12]} already trained on these clips with these settings"
                )
            return TokenizerModel("reused", old, root.uri(old["path"]))
    with (
        contextlib.ExitStack() as stack,
        tempfile.TemporaryDirectory(prefix="va-tokenizer-") as tmp,
    ):
        local_clips = [stack.enter_context(root.local_copy(p)) for p in clips["path"]]
        out = Path(tmp) / "tokenizer.safetensors"
        with Progress(
            settings.steps, "steps", "tokenizer training", sink=log, min_interval_s=15.0
        ) as prog:
            result = train_tokenizer(
                local_clips,
                settings,
                out,
                progress=lambda p: prog.update(p.step, p.steps, note=f"loss {p.loss:.4f}"),
            )
        rel = tokenizer_rel(result.checkpoint_hash)
        with root.atomic_file(rel) as dst:
            dst.write_bytes(out.read_bytes())
    pointer = {
        "hash": result.checkpoint_hash,
        "path": rel,
        "stored": True,
        "source": "trained",
        "fingerprint": fingerprint,
        "config": result.config.to_dict(),
        "summary": {
            k: v for k, v in result.summary().items() if k not in ("duration_s", "steps_per_s")
        },
    }
    _write_pointer(root, pointer)
    return TokenizerModel("trained", pointer, root.uri(rel), result, len(clips))


@dataclass(frozen=True)
class VideoTokens:
    """The token files of one video's clips.

    Attributes:
        video_id: The video.
        folder: The folder holding the token files, relative to the data root.
        pointer: The tokenizer they were made with (``current.json``).
        clips: One result per clip (ids and what they mean), in the clips table's order.
        elapsed_s: Wall time of the encoding.
        preview: The stored picture of the first clip and its reconstruction, or None.
        preview_png: That picture's bytes, or None.
    """

    video_id: str
    folder: str
    pointer: dict
    clips: list[TokenResult]
    elapsed_s: float
    preview: str | None = None
    preview_png: bytes | None = None

    def frame(self) -> pd.DataFrame:
        """The rows of the ``tokens`` table."""
        rows = [
            {
                "video_id": self.video_id,
                "path": f"{self.folder}/{r.clip_id}.safetensors",
                **r.table_row(),
            }
            for r in self.clips
        ]
        return pd.DataFrame(rows, columns=list(TOKENS_COLUMNS))

    def summary(self) -> dict[str, Any]:
        """Counts a person wants to see about the tokens."""
        df = self.frame()
        frames = sum(r.frames for r in self.clips)
        return {
            "clips": len(df),
            "checkpoint_hash": self.pointer["hash"],
            "tokens": int((df["t"] * df["h"] * df["w"]).sum()) if len(df) else 0,
            "mean_unique_codes": round(float(df["unique_codes"].mean()), 1) if len(df) else 0.0,
            "bits": int(df["bits"].iloc[0]) if len(df) else self.pointer["config"].get("bits", 0),
            "encode_frames_per_s": round(frames / self.elapsed_s, 1) if self.elapsed_s > 0 else 0.0,
        }


@contextlib.contextmanager
def _checkpoint_file(root: DataRoot, pointer: dict):  # noqa: ANN202 - yields a Path
    path = pointer["path"]
    if pointer.get("stored"):
        with root.local_copy(path) as local:
            yield local
        return
    if not Path(path).is_file():
        raise ConfigError(CHECKPOINT_SETTING, f"{path} (the current tokenizer) does not exist")
    yield Path(path)


def encode_video(
    root: DataRoot,
    video_id: str,
    *,
    device: str = "auto",
    max_frames: int | None = None,
    log: Log | None = None,
) -> VideoTokens:
    """Encode every clip of ``video_id`` (its ``clips`` table) with the current tokenizer
    into the video's token folder, replacing it whole, and store a picture of the first
    clip beside its reconstruction.

    Raises:
        VideoAssetsError: no tokenizer is current, or its checkpoint's hash is not the one
            the pointer records.
    """
    pointer = current_tokenizer(root)
    clip_rows = root.read_table("clips", video_id)
    folder = token_dir(video_id)
    results: list[TokenResult] = []
    preview = png = None
    t0 = time.perf_counter()
    with _checkpoint_file(root, pointer) as ckpt_path:
        ckpt = load_checkpoint(ckpt_path, device=device)
        if ckpt.hash != pointer["hash"]:
            raise VideoAssetsError(
                f"{ckpt_path}: checkpoint hash {ckpt.hash[:12]} differs from the current "
                f"{pointer['hash'][:12]} recorded in {CURRENT_TOKENIZER}"
            )
        with (
            root.atomic_dir(folder) as tmp,
            Progress(
                len(clip_rows), "clips", "token encoding", sink=log, min_interval_s=15.0
            ) as prog,
        ):
            for i, clip in enumerate(clip_rows.itertuples()):
                with root.local_copy(clip.path) as local:
                    res = encode_clip(
                        local,
                        ckpt,
                        clip_id=clip.clip_id,
                        max_frames=max_frames,
                        keep_pixels=not results,
                    )
                write_tokens_safetensors(
                    tmp / f"{clip.clip_id}.safetensors", res.ids, res.metadata()
                )
                results.append(res)
                prog.update(i + 1)
        first = results[0] if results else None
        if first is not None and first.pixels is not None:
            recon = decode_tokens(first.ids, ckpt, num_frames=first.frames)
            png = preview_image(first.pixels, recon)
            preview = preview_rel(video_id, TOKENS_PREVIEW)
            root.write_bytes(preview, png)
    elapsed = time.perf_counter() - t0
    return VideoTokens(video_id, folder, pointer, results, elapsed, preview, png)
