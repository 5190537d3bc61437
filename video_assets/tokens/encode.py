"""Reading clips, encoding them to token ids, decoding ids to frames, token files.

Token file layout (safetensors): one tensor ``tokens``, int32, shape ``(T', H', W')``,
row-major (time, then rows, then columns), plus string metadata (see
:meth:`TokenResult.metadata`). For LFQ, bit ``D - 1 - i`` of an id is the sign of latent
channel ``i`` (most significant bit = channel 0).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from safetensors.numpy import save as save_bytes

from video_assets.errors import MediaError
from video_assets.keyframes import first_video_stream, open_input
from video_assets.tokens._safetensors import write_atomic
from video_assets.tokens.checkpoint import LoadedCheckpoint, load_checkpoint
from video_assets.tokens.config import TokenizerConfig
from video_assets.tokens.files import TOKENS_KEY, TokensError, read_tokens

TOKEN_FORMAT = "video-assets-tokens"
TOKEN_FORMAT_VERSION = 1


@dataclass
class ClipFrames:
    """Decoded, resized frames of a clip.

    Attributes:
        path: The clip file.
        frames: ``(T, H, W, 3)`` uint8 RGB, H and W multiples of the stride.
        fps: Average frame rate of the stream.
        source_width: Width of the stored video.
        source_height: Height of the stored video.
    """

    path: str
    frames: np.ndarray = field(repr=False)
    fps: float
    source_width: int
    source_height: int

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T, H, W)`` of the resized frames."""
        t, h, w, _ = self.frames.shape
        return t, h, w


def target_size(width: int, height: int, short_side: int, stride: int) -> tuple[int, int]:
    """Resized ``(width, height)``: short side ``short_side``, long side keeping the aspect ratio.

    Both sides are multiples of ``stride``: the long side is rounded to the nearest
    multiple (at least one stride), so the aspect ratio changes by at most half a stride.
    Nothing is cropped.

    Raises:
        ValueError: ``short_side`` is not a positive multiple of ``stride`` or a size is not positive.
    """
    if stride < 1 or short_side < stride or short_side % stride:
        raise ValueError(f"short_side must be a positive multiple of {stride}, got {short_side}")
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be positive, got {width}x{height}")
    short, long = min(width, height), max(width, height)
    resized_long = max(stride, round(long * short_side / short / stride) * stride)
    return (short_side, resized_long) if width <= height else (resized_long, short_side)


def read_clip_frames(
    path: str | Path, *, short_side: int, stride: int, max_frames: int | None = None
) -> ClipFrames:
    """Decode a clip with PyAV and resize every frame, keeping the aspect ratio.

    Args:
        path: A video file.
        short_side: Pixels of the resized short side; a multiple of ``stride``.
        stride: The tokenizer's spatial stride; both resized sides are multiples of it.
        max_frames: Decode at most this many frames from the start (``None``: all).

    Raises:
        MediaError: the file is missing, has no video stream, cannot be decoded, or
            yields no frames.
        ValueError: ``short_side`` or ``max_frames`` is invalid.
    """
    p = Path(path)
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1 or None, got {max_frames}")
    if not p.is_file():
        raise MediaError(p, "does not exist or is not a regular file")
    frames: list[np.ndarray] = []
    try:
        with open_input(p) as container:
            stream = first_video_stream(container, p)
            stream.thread_type = "AUTO"
            fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            width, height = stream.codec_context.width, stream.codec_context.height
            tw, th = target_size(width, height, short_side, stride)
            for frame in container.decode(stream):
                frames.append(
                    frame.to_ndarray(width=tw, height=th, format="rgb24", interpolation="AREA")
                )
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except av.FFmpegError as exc:
        raise MediaError(p, f"cannot be decoded ({exc})") from None
    if not frames:
        raise MediaError(p, "has no decodable video frames")
    return ClipFrames(
        path=str(p),
        frames=np.stack(frames),
        fps=fps,
        source_width=width,
        source_height=height,
    )


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` to float ``(1, 3, T, H, W)`` in ``[-1, 1]``."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).unsqueeze(0)
    return x.float().div_(127.5).sub_(1.0)


def tensor_to_frames(video: torch.Tensor) -> np.ndarray:
    """Float ``(3, T, H, W)`` (or with a batch of one) in ``[-1, 1]`` to uint8 ``(T, H, W, 3)``."""
    if video.ndim == 5:
        video = video[0]
    x = ((video.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).cpu().numpy()


@dataclass
class TokenResult:
    """Token ids of one clip and what a reader needs to interpret them.

    Attributes:
        ids: ``(T', H', W')`` int32 token ids in ``[0, 2**bits)``.
        clip_id: Identifier of the clip (defaults to the file stem).
        fps: Frame rate of the clip.
        frames: Frames encoded (before padding to ``1 + k * temporal_stride``).
        height: Height in pixels the tokenizer saw.
        width: Width in pixels the tokenizer saw.
        source_width: Width of the stored clip.
        source_height: Height of the stored clip.
        spatial_stride: Pixels per token along each side.
        temporal_stride: Frames per token after the first frame.
        bits: Bits per token id (D for LFQ).
        quantizer: ``"lfq"`` or ``"vq"``.
        checkpoint_hash: Content hash of the checkpoint that made the ids.
        unique_codes: Distinct ids in this clip.
        pixels: The frames that were encoded, ``(T, H, W, 3)`` uint8 (for previews).
    """

    ids: np.ndarray = field(repr=False)
    clip_id: str
    fps: float
    frames: int
    height: int
    width: int
    source_width: int
    source_height: int
    spatial_stride: int
    temporal_stride: int
    bits: int
    quantizer: str
    checkpoint_hash: str
    unique_codes: int
    pixels: np.ndarray | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        t, h, w = self.ids.shape
        return int(t), int(h), int(w)

    def metadata(self) -> dict[str, str]:
        """String metadata stored in the token file (safetensors allows only strings)."""
        values: dict[str, Any] = {
            "format": TOKEN_FORMAT,
            "format_version": TOKEN_FORMAT_VERSION,
            "clip_id": self.clip_id,
            "fps": f"{self.fps:.6g}",
            "frames": self.frames,
            "height": self.height,
            "width": self.width,
            "source_width": self.source_width,
            "source_height": self.source_height,
            "spatial_stride": self.spatial_stride,
            "temporal_stride": self.temporal_stride,
            "bits": self.bits,
            "quantizer": self.quantizer,
            "checkpoint_hash": self.checkpoint_hash,
            "shape": json.dumps(list(self.shape)),
        }
        return {k: str(v) for k, v in values.items()}

    def summary(self) -> dict[str, Any]:
        """The CLI's JSON: shape, bits, checkpoint hash, distinct codes."""
        return {
            "shape": list(self.shape),
            "bits": self.bits,
            "checkpoint": self.checkpoint_hash,
            "unique_codes": self.unique_codes,
        }

    def table_row(self) -> dict[str, Any]:
        """One row of the ``tokens`` table (the SQL check recomputes the expected shape)."""
        t, h, w = self.shape
        return {
            "clip_id": self.clip_id,
            "t": t,
            "h": h,
            "w": w,
            "frames": self.frames,
            "height": self.height,
            "width": self.width,
            "fps": self.fps,
            "spatial_stride": self.spatial_stride,
            "temporal_stride": self.temporal_stride,
            "bits": self.bits,
            "quantizer": self.quantizer,
            "unique_codes": self.unique_codes,
            "checkpoint_hash": self.checkpoint_hash,
        }


@contextlib.contextmanager
def _checkpoint(
    checkpoint: LoadedCheckpoint | str | Path, device: str
) -> Iterator[LoadedCheckpoint]:
    """Use a loaded checkpoint as is, or load one from a path and free it afterwards."""
    if isinstance(checkpoint, LoadedCheckpoint):
        yield checkpoint
        return
    loaded = load_checkpoint(checkpoint, device=device)
    try:
        yield loaded
    finally:
        loaded.model = None
        if loaded.device.startswith("cuda"):
            torch.cuda.empty_cache()


def encode_clip(
    clip_path: str | Path,
    checkpoint: LoadedCheckpoint | str | Path,
    *,
    clip_id: str | None = None,
    resolution: int | None = None,
    max_frames: int | None = None,
    chunk_frames: int = 32,
    device: str = "cpu",
    keep_pixels: bool = True,
) -> TokenResult:
    """Encode a clip to a ``(T', H', W')`` grid of token ids.

    ``T' = 1 + ceil((T - 1) / temporal_stride)``, ``H' = H / spatial_stride``,
    ``W' = W / spatial_stride`` where ``H x W`` is the clip resized to the checkpoint's
    resolution on its short side (aspect ratio kept, sides rounded to the stride).

    Args:
        clip_path: The clip file.
        checkpoint: A loaded checkpoint, or the path of one (loaded and freed here).
        clip_id: Stored in the result; defaults to the file stem.
        resolution: Short side in pixels; defaults to the checkpoint's training resolution.
        max_frames: Encode at most this many frames from the start (``None``: all).
        chunk_frames: Frames encoded at a time (a multiple of the temporal stride);
            bounds memory on long clips without changing the ids.
        device: Used when ``checkpoint`` is a path: ``"cpu"``, ``"cuda"``, ``"auto"``.
        keep_pixels: Keep the resized input frames in the result (for previews).

    Raises:
        MediaError: the clip cannot be read.
        CheckpointError: the checkpoint cannot be loaded.
        ValueError: a setting is out of range.
    """
    with _checkpoint(checkpoint, device) as ckpt:
        model = ckpt.require_model()
        config = ckpt.config
        clip = read_clip_frames(
            clip_path,
            short_side=resolution or config.resolution,
            stride=config.spatial_stride,
            max_frames=max_frames,
        )
        dev = next(model.parameters()).device
        with torch.inference_mode():
            video = frames_to_tensor(clip.frames).to(dev)
            ids = model.encode(video, chunk_frames=chunk_frames)[0]
        ids_np = ids.to("cpu").numpy().astype(np.int32)
        t, h, w = clip.shape
        expected = config.grid_shape(t, h, w)
        if ids_np.shape != expected:
            raise RuntimeError(f"encoder produced {ids_np.shape}, expected {expected}")
        return TokenResult(
            ids=ids_np,
            clip_id=clip_id or Path(clip_path).stem,
            fps=clip.fps,
            frames=t,
            height=h,
            width=w,
            source_width=clip.source_width,
            source_height=clip.source_height,
            spatial_stride=config.spatial_stride,
            temporal_stride=config.temporal_stride,
            bits=config.code_bits,
            quantizer=config.quantizer,
            checkpoint_hash=ckpt.hash,
            unique_codes=int(np.unique(ids_np).size),
            pixels=clip.frames if keep_pixels else None,
        )


def decode_tokens(
    ids: np.ndarray,
    checkpoint: LoadedCheckpoint | str | Path,
    *,
    num_frames: int | None = None,
    chunk_latents: int = 8,
    device: str = "cpu",
) -> np.ndarray:
    """Decode ``(T', H', W')`` token ids back to uint8 frames ``(T, H, W, 3)``.

    Args:
        ids: Token ids as written by :func:`encode_clip`.
        checkpoint: The checkpoint that made them (or its path).
        num_frames: Trim to the clip's frame count (the decoder yields
            ``1 + temporal_stride * (T' - 1)`` frames); ``None`` keeps them all.
        chunk_latents: Latent frames decoded at a time; bounds memory.
        device: Used when ``checkpoint`` is a path.

    Raises:
        ValueError: ``ids`` is not a 3-D grid of ids in range, or ``num_frames`` does not
            fit the grid.
    """
    arr = np.asarray(ids)
    if arr.ndim != 3 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"ids must be a 3-D integer array (T', H', W'), got {arr.dtype} {arr.shape}"
        )
    with _checkpoint(checkpoint, device) as ckpt:
        model = ckpt.require_model()
        size = ckpt.config.codebook_size
        if arr.size and (arr.min() < 0 or arr.max() >= size):
            raise ValueError(f"ids must lie in [0, {size}), got [{arr.min()}, {arr.max()}]")
        total = 1 + ckpt.config.temporal_stride * (arr.shape[0] - 1)
        if num_frames is not None and not total - ckpt.config.temporal_stride < num_frames <= total:
            raise ValueError(f"num_frames {num_frames} does not fit {arr.shape[0]} token frames")
        dev = next(model.parameters()).device
        with torch.inference_mode():
            video = model.decode(
                torch.from_numpy(arr.astype(np.int64))[None].to(dev), chunk_latents
            )
        frames = tensor_to_frames(video)
    return frames[:num_frames] if num_frames is not None else frames


def write_tokens_safetensors(
    path: str | Path, ids: np.ndarray, metadata: Mapping[str, str]
) -> None:
    """Write token ids and their metadata to ``path`` atomically (temporary name, rename).

    Args:
        path: Target ``.safetensors`` file; parent folders are created.
        ids: ``(T', H', W')`` int32 ids.
        metadata: String metadata, usually :meth:`TokenResult.metadata`.

    Raises:
        ValueError: ``ids`` is not a 3-D int32 array or metadata values are not strings.
    """
    arr = np.asarray(ids)
    if arr.ndim != 3 or arr.dtype != np.int32:
        raise ValueError(f"ids must be a 3-D int32 array, got {arr.dtype} {arr.shape}")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError("token metadata keys and values must be strings")
    write_atomic(path, save_bytes({TOKENS_KEY: np.ascontiguousarray(arr)}, metadata=dict(metadata)))


def token_file_problems(
    path: str | Path,
    *,
    frames: int,
    height: int,
    width: int,
    checkpoint_hash: str,
    config: TokenizerConfig,
) -> list[str]:
    """Why a token file does not fit its clip and the current checkpoint ([] if it does).

    Args:
        path: The token file.
        frames: Frames of the clip (as encoded: after any ``max_frames`` cap).
        height: Resized height the tokenizer sees for the clip.
        width: Resized width the tokenizer sees for the clip.
        checkpoint_hash: Hash of the current checkpoint.
        config: The current checkpoint's config.
    """
    try:
        tf = read_tokens(path)
    except TokensError as exc:
        return [str(exc)]
    problems = []
    expected = config.grid_shape(frames, height, width)
    if tuple(tf.ids.shape) != expected:
        problems.append(f"shape {tuple(tf.ids.shape)} != expected {expected}")
    if tf.metadata.get("checkpoint_hash") != checkpoint_hash:
        problems.append(
            f"checkpoint {tf.metadata.get('checkpoint_hash', '?')[:12]} != current {checkpoint_hash[:12]}"
        )
    if tf.ids.size and (tf.ids.min() < 0 or tf.ids.max() >= config.codebook_size):
        problems.append(f"ids outside [0, {config.codebook_size})")
    for key, value in (
        ("spatial_stride", config.spatial_stride),
        ("temporal_stride", config.temporal_stride),
        ("bits", config.code_bits),
    ):
        if tf.metadata.get(key) != str(value):
            problems.append(f"{key} {tf.metadata.get(key)!r} != {value}")
    return problems
