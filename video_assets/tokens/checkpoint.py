"""Versioned tokenizer checkpoints: one safetensors file holding weights, config and hash.

The file is an ordinary safetensors file. Its string metadata holds:

- ``format``: ``video-assets-tokenizer``
- ``format_version``: ``1``
- ``config``: the :class:`TokenizerConfig` as JSON
- ``hash``: SHA-256 over the canonical config JSON and every tensor (name, dtype,
  shape, bytes) in name order; it identifies what the model computes, not how the
  file was written, and is checked on load
- ``training``: JSON provenance (settings, final losses); not part of the hash
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes

from video_assets.tokens._safetensors import write_atomic
from video_assets.tokens.config import TokenizerConfig
from video_assets.tokens.files import TokensError
from video_assets.tokens.model import VideoTokenizer

FORMAT = "video-assets-tokenizer"
FORMAT_VERSION = 1


class CheckpointError(TokensError):
    """A tokenizer checkpoint cannot be used."""


@dataclass
class CheckpointInfo:
    """What a checkpoint's header says, read without loading the weights.

    Attributes:
        path: The checkpoint file.
        hash: Its content hash (64 hex digits).
        config: The tokenizer architecture.
        format_version: Checkpoint format version.
        training: Provenance recorded at save time (may be empty).
    """

    path: str
    hash: str
    config: TokenizerConfig
    format_version: int
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def short_hash(self) -> str:
        """First 12 hex digits of the hash, for file names and display."""
        return self.hash[:12]


@dataclass
class LoadedCheckpoint(CheckpointInfo):
    """A checkpoint with its model built, in eval mode, on ``device``."""

    model: VideoTokenizer | None = field(default=None, repr=False)
    device: str = "cpu"

    def require_model(self) -> VideoTokenizer:
        if self.model is None:
            raise CheckpointError(self.path, "was loaded without its model")
        return self.model


def resolve_device(device: str) -> torch.device:
    """``"auto"`` is CUDA when available, else CPU; anything else is passed to torch.

    Raises:
        ValueError: the device string is not understood or CUDA was asked for but is absent.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return dev


def _state(model: VideoTokenizer) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def content_hash(config: TokenizerConfig, tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the canonical config and the tensors (name, dtype, shape, bytes)."""
    h = hashlib.sha256()
    h.update(json.dumps(config.to_dict(), sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def model_hash(model: VideoTokenizer) -> str:
    """The hash ``save_checkpoint`` would record for ``model``."""
    return content_hash(model.config, _state(model))


def save_checkpoint(
    model: VideoTokenizer, path: str | Path, *, training: dict[str, Any] | None = None
) -> str:
    """Write ``model`` to ``path`` atomically (temporary name, then rename).

    Args:
        model: The tokenizer to save.
        path: Target file, conventionally ``*.safetensors``; parent folders are created.
        training: JSON-serialisable provenance stored beside the weights (not hashed).

    Returns:
        The content hash (64 hex digits).
    """
    path = Path(path)
    tensors = _state(model)
    digest = content_hash(model.config, tensors)
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(model.config.to_dict(), sort_keys=True),
        "hash": digest,
        "training": json.dumps(training or {}, sort_keys=True),
    }
    write_atomic(path, save_bytes(tensors, metadata=metadata))
    return digest


def read_checkpoint_info(path: str | Path) -> CheckpointInfo:
    """Read a checkpoint's header (config, hash, provenance) without its weights.

    Raises:
        CheckpointError: the file is missing, not a safetensors file, or not a
            video-assets tokenizer checkpoint of a known version.
    """
    p = Path(path)
    if not p.exists():
        raise CheckpointError(p, "tokenizer checkpoint does not exist")
    if not p.is_file():
        raise CheckpointError(p, "tokenizer checkpoint is not a regular file")
    try:
        with safe_open(str(p), framework="pt") as fh:
            meta = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(p, f"is not a readable safetensors checkpoint ({exc})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(p, f"is not a {FORMAT} checkpoint (format={meta.get('format')!r})")
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        version = -1
    if version != FORMAT_VERSION:
        raise CheckpointError(
            p,
            f"has checkpoint format version {meta.get('format_version')!r}; this library reads {FORMAT_VERSION}",
        )
    try:
        config = TokenizerConfig.from_dict(json.loads(meta["config"]))
        training = json.loads(meta.get("training") or "{}")
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(p, f"has an invalid tokenizer config ({exc})") from None
    digest = meta.get("hash", "")
    if len(digest) != 64:
        raise CheckpointError(p, "has no content hash")
    return CheckpointInfo(
        path=str(p), hash=digest, config=config, format_version=version, training=training
    )


def load_checkpoint(path: str | Path, *, device: str = "cpu") -> LoadedCheckpoint:
    """Load a tokenizer checkpoint and verify its content hash.

    Args:
        path: The checkpoint file written by :func:`save_checkpoint`.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.

    Returns:
        The checkpoint with its model in eval mode on ``device``.

    Raises:
        CheckpointError: the file is missing, unreadable, of an unknown format, its
            weights do not fit its config, or its contents do not match its hash.
    """
    info = read_checkpoint_info(path)
    try:
        tensors = load_file(info.path, device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(info.path, f"weights cannot be read ({exc})") from None
    actual = content_hash(info.config, tensors)
    if actual != info.hash:
        raise CheckpointError(
            info.path,
            f"is corrupt: content hash {actual[:12]} does not match recorded {info.short_hash}",
        )
    model = VideoTokenizer(info.config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(info.path, f"weights do not fit its config ({exc})") from None
    dev = resolve_device(device)
    model.to(dev).eval()
    return LoadedCheckpoint(
        path=info.path,
        hash=info.hash,
        config=info.config,
        format_version=info.format_version,
        training=info.training,
        model=model,
        device=str(dev),
    )
