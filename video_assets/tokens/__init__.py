"""The token stage: a causal 3D-conv video tokenizer with lookup-free quantization.

See docs/tokens.md. Public API:

- :class:`TokenizerConfig`, :class:`VideoTokenizer`: architecture and model.
- :func:`train_tokenizer` with :class:`TrainSettings` -> :class:`TrainResult`.
- :func:`save_checkpoint`, :func:`load_checkpoint`, :func:`read_checkpoint_info`.
- :func:`read_clip_frames`, :func:`encode_clip` -> :class:`TokenResult`,
  :func:`decode_tokens`, :func:`write_tokens_safetensors`, :func:`read_tokens`,
  :func:`token_file_problems`.
- :func:`codebook_usage`, :func:`bit_balance`, :func:`code_perplexity`, :func:`psnr`,
  :func:`ssim`; :func:`preview_image`, :func:`plot_training`.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from video_assets.tokens.checkpoint import (
        CheckpointError,
        CheckpointInfo,
        LoadedCheckpoint,
        load_checkpoint,
        model_hash,
        read_checkpoint_info,
        resolve_device,
        save_checkpoint,
    )
    from video_assets.tokens.config import TokenizerConfig
    from video_assets.tokens.encode import (
        ClipFrames,
        TokenResult,
        decode_tokens,
        encode_clip,
        read_clip_frames,
        target_size,
        token_file_problems,
        write_tokens_safetensors,
    )
    from video_assets.tokens.files import TokenFile, TokensError, read_tokens
    from video_assets.tokens.metrics import (
        CodebookUsage,
        bit_balance,
        code_perplexity,
        codebook_usage,
        psnr,
        ssim,
    )
    from video_assets.tokens.model import VideoTokenizer
    from video_assets.tokens.report import plot_training, preview_image
    from video_assets.tokens.train import (
        TrainHistory,
        TrainProgress,
        TrainResult,
        TrainSettings,
        train_tokenizer,
    )

# Submodules load on first use of a name, so a torch-free module of this package
# (``files``: reading token files, for the shards) loads without torch.
_MODULES = ("files", "config", "checkpoint", "encode", "metrics", "model", "report", "train")


def __getattr__(name: str) -> Any:
    if name in __all__:
        for module in _MODULES:
            value = getattr(importlib.import_module(f"{__name__}.{module}"), name, None)
            if value is not None:
                globals()[name] = value
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CheckpointError",
    "CheckpointInfo",
    "ClipFrames",
    "CodebookUsage",
    "LoadedCheckpoint",
    "TokenFile",
    "TokenResult",
    "TokenizerConfig",
    "TokensError",
    "TrainHistory",
    "TrainProgress",
    "TrainResult",
    "TrainSettings",
    "VideoTokenizer",
    "bit_balance",
    "code_perplexity",
    "codebook_usage",
    "decode_tokens",
    "encode_clip",
    "load_checkpoint",
    "model_hash",
    "plot_training",
    "preview_image",
    "psnr",
    "read_checkpoint_info",
    "read_clip_frames",
    "read_tokens",
    "resolve_device",
    "save_checkpoint",
    "ssim",
    "target_size",
    "token_file_problems",
    "train_tokenizer",
    "write_tokens_safetensors",
]
