"""Training a video tokenizer on a set of clips.

Clips are decoded once at the training resolution (short side; aspect ratio kept) and
grouped by their resized size; every step draws one size bucket and a batch of random
``frames``-long windows from clips of that size, so clips of different aspect ratios
are never cropped or padded to a common shape. The loss is the mean squared
reconstruction error plus the quantizer's commitment and (LFQ) entropy terms.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from video_assets.errors import MediaError, VideoAssetsError
from video_assets.tokens.checkpoint import resolve_device, save_checkpoint
from video_assets.tokens.config import TokenizerConfig
from video_assets.tokens.encode import ClipFrames, read_clip_frames
from video_assets.tokens.metrics import CodebookUsage, codebook_usage
from video_assets.tokens.model import VideoTokenizer
from video_assets.tokens.quantizers import QuantizerOutput


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """How to train a tokenizer. The architecture (and resolution) is ``model``.

    Args:
        model: Tokenizer architecture, quantizer and training resolution.
        steps: Optimiser steps; 1 to 10,000,000.
        frames: Frames per training window: ``1 + k * temporal_stride``, up to 257.
        batch_size: Windows per step; 1 to 1024.
        learning_rate: Peak AdamW learning rate (betas 0.5/0.9, as in MagViT-v2); above
            0, at most 1. The default is 3e-4 (docs/tokens.md).
        warmup_steps: Steps of linear learning-rate warm-up; 0 to 1,000,000.
        grad_clip: Gradient norm clip; 0 (off) to 1000.
        seed: Seeds weights and window sampling; the same seed, clips, settings and
            device give the same checkpoint. 0 to 2**32 - 1.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        max_clips: Train on at most this many clips (a seeded sample); ``None``: all.
        max_frames_per_clip: Frames decoded (and held in memory) per clip, from its
            start; at least ``frames``, at most 100,000.
        num_threads: CPU threads for torch during training (``None``: leave as is); 1 to 1024.
        log_every: Call the progress callback every this many steps; 1 to 1,000,000.
        final_lr_ratio: After the warm-up the learning rate follows a cosine from
            ``learning_rate`` down to ``final_lr_ratio * learning_rate`` at the last
            step; 1.0 keeps it constant. 0 to 1.
    """

    model: TokenizerConfig = field(default_factory=TokenizerConfig)
    steps: int = 2000
    frames: int = 17
    batch_size: int = 4
    learning_rate: float = 3e-4
    warmup_steps: int = 50
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    max_clips: int | None = None
    max_frames_per_clip: int = 64
    num_threads: int | None = None
    log_every: int = 10
    final_lr_ratio: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.model, TokenizerConfig):
            raise ValueError(f"model must be a TokenizerConfig, got {type(self.model).__name__}")
        _int("steps", self.steps, 1, 10_000_000)
        ts = self.model.temporal_stride
        _int("frames", self.frames, 1, 257)
        if (self.frames - 1) % ts:
            raise ValueError(
                f"frames must be 1 + k * temporal_stride ({ts}) from 1 to 257, got {self.frames}"
            )
        _int("batch_size", self.batch_size, 1, 1024)
        if not isinstance(self.learning_rate, int | float) or not 0 < self.learning_rate <= 1:
            raise ValueError(
                f"learning_rate must be above 0 and at most 1, got {self.learning_rate!r}"
            )
        _int("warmup_steps", self.warmup_steps, 0, 1_000_000)
        if not isinstance(self.grad_clip, int | float) or not 0 <= self.grad_clip <= 1000:
            raise ValueError(f"grad_clip must be from 0 to 1000, got {self.grad_clip!r}")
        _int("seed", self.seed, 0, 2**32 - 1)
        resolve_device(self.device)
        if self.max_clips is not None:
            _int("max_clips", self.max_clips, 1, 10_000_000)
        _int("max_frames_per_clip", self.max_frames_per_clip, self.frames, 100_000)
        if self.num_threads is not None:
            _int("num_threads", self.num_threads, 1, 1024)
        _int("log_every", self.log_every, 1, 1_000_000)
        if not isinstance(self.final_lr_ratio, int | float) or not 0 <= self.final_lr_ratio <= 1:
            raise ValueError(f"final_lr_ratio must be from 0 to 1, got {self.final_lr_ratio!r}")

    def learning_rate_at(self, step: int) -> float:
        """The learning rate of optimiser step ``step`` (1-based): warm-up, then cosine decay."""
        peak = self.learning_rate
        if step <= self.warmup_steps:
            return peak * step / self.warmup_steps
        span = self.steps - self.warmup_steps
        progress = (step - self.warmup_steps) / span if span > 0 else 1.0
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return peak * (self.final_lr_ratio + (1.0 - self.final_lr_ratio) * cosine)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return d


def _int(name: str, value: int, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer from {lo} to {hi}, got {value!r}")


@dataclass
class TrainHistory:
    """Per-step training curves (index ``i`` is step ``i + 1``).

    Attributes:
        loss: Total loss.
        recon_loss: Mean squared reconstruction error (pixels in ``[-1, 1]``).
        commitment_loss: Unweighted commitment loss.
        entropy_loss: Unweighted LFQ entropy penalty (0 for VQ).
        batch_entropy: LFQ batch entropy per sub-codebook, nats (0 for VQ).
        batch_usage: Distinct ids in the batch relative to a uniform code with the same
            number of tokens (see :class:`CodebookUsage.usage_vs_uniform`).
        batch_perplexity: Perplexity of the batch's ids.
        learning_rate: Learning rate used.
    """

    loss: list[float] = field(default_factory=list)
    recon_loss: list[float] = field(default_factory=list)
    commitment_loss: list[float] = field(default_factory=list)
    entropy_loss: list[float] = field(default_factory=list)
    batch_entropy: list[float] = field(default_factory=list)
    batch_usage: list[float] = field(default_factory=list)
    batch_perplexity: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)

    def record(
        self,
        loss: torch.Tensor,
        recon: torch.Tensor,
        quant: QuantizerOutput,
        usage: CodebookUsage,
        lr: float,
    ) -> None:
        """Append one step: its losses, the quantizer's terms, the batch's codebook use."""
        self.loss.append(float(loss.detach()))
        self.recon_loss.append(float(recon.detach()))
        self.commitment_loss.append(float(quant.commitment.detach()))
        self.entropy_loss.append(float(quant.entropy.detach()))
        self.batch_entropy.append(float(quant.batch_entropy.detach()))
        self.batch_usage.append(usage.usage_vs_uniform)
        self.batch_perplexity.append(usage.perplexity)
        self.learning_rate.append(lr)

    def last(self, window: int = 20) -> dict[str, float]:
        """Mean of each curve over its last ``window`` steps."""
        return {
            name: float(np.mean(values[-window:])) if values else float("nan")
            for name, values in asdict(self).items()
        }


@dataclass
class TrainProgress:
    """Passed to the progress callback every ``log_every`` steps and after the last."""

    step: int
    steps: int
    loss: float
    recon_loss: float
    batch_usage: float
    elapsed_s: float


@dataclass
class TrainResult:
    """A finished training run.

    Attributes:
        checkpoint_path: Where the checkpoint was written.
        checkpoint_hash: Its content hash.
        config: The tokenizer architecture.
        settings: The training settings.
        history: Per-step curves.
        clips_used: Clips that contributed training windows.
        clips_skipped: Clips shorter than ``settings.frames`` (not used).
        buckets: Resized ``(height, width)`` of each size bucket and its clip count.
        device: Device trained on.
        duration_s: Wall time of the whole call.
        steps_per_s: Optimiser steps per second (excluding clip decoding).
    """

    checkpoint_path: str
    checkpoint_hash: str
    config: TokenizerConfig
    settings: TrainSettings
    history: TrainHistory
    clips_used: int
    clips_skipped: int
    buckets: dict[str, int]
    device: str
    duration_s: float
    steps_per_s: float

    def summary(self) -> dict[str, Any]:
        """Flat values for asset metadata."""
        last = self.history.last()
        return {
            "checkpoint_hash": self.checkpoint_hash,
            "quantizer": self.config.quantizer,
            "bits": self.config.code_bits,
            "steps": self.settings.steps,
            "clips_used": self.clips_used,
            "clips_skipped": self.clips_skipped,
            "device": self.device,
            "duration_s": round(self.duration_s, 2),
            "steps_per_s": round(self.steps_per_s, 3),
            "final_loss": last["loss"],
            "final_recon_loss": last["recon_loss"],
            "final_batch_usage": last["batch_usage"],
            "final_batch_perplexity": last["batch_perplexity"],
        }


class _Windows:
    """Random ``frames``-long windows from clips grouped by resized size."""

    def __init__(self, clips: list[ClipFrames], frames: int, seed: int):
        self.clips = clips
        self.frames = frames
        self.rng = np.random.default_rng(seed)
        self.buckets: dict[tuple[int, int], list[int]] = {}
        for i, clip in enumerate(clips):
            _, h, w = clip.shape
            self.buckets.setdefault((h, w), []).append(i)
        self.bucket_of = [(c.shape[1], c.shape[2]) for c in clips]

    def sample(self, batch_size: int) -> np.ndarray:
        first = int(self.rng.integers(len(self.clips)))
        members = self.buckets[self.bucket_of[first]]
        chosen = [
            first,
            *(members[int(j)] for j in self.rng.integers(len(members), size=batch_size - 1)),
        ]
        windows = []
        for i in chosen:
            clip = self.clips[i].frames
            start = int(self.rng.integers(clip.shape[0] - self.frames + 1))
            windows.append(clip[start : start + self.frames])
        return np.stack(windows)  # (B, T, H, W, 3)


def _load_clips(
    clip_paths: Sequence[str | Path], settings: TrainSettings
) -> tuple[list[ClipFrames], int]:
    paths = [Path(p) for p in clip_paths]
    if not paths:
        raise VideoAssetsError("train_tokenizer needs at least one clip")
    if settings.max_clips is not None and len(paths) > settings.max_clips:
        pick = np.random.default_rng(settings.seed).choice(
            len(paths), settings.max_clips, replace=False
        )
        paths = [paths[i] for i in sorted(pick)]
    clips, skipped = [], 0
    for p in paths:
        clip = read_clip_frames(
            p,
            short_side=settings.model.resolution,
            stride=settings.model.spatial_stride,
            max_frames=settings.max_frames_per_clip,
        )
        if clip.frames.shape[0] < settings.frames:
            skipped += 1
            continue
        clips.append(clip)
    if not clips:
        raise MediaError(
            paths[0].parent,
            f"none of the {len(paths)} clips has the {settings.frames} frames a training window needs",
        )
    return clips, skipped


def train_tokenizer(
    clip_paths: Sequence[str | Path],
    settings: TrainSettings,
    out_path: str | Path,
    progress: Callable[[TrainProgress], object] | None = None,
) -> TrainResult:
    """Train a tokenizer on ``clip_paths`` and write its checkpoint to ``out_path``.

    Args:
        clip_paths: Video clips to draw training windows from.
        settings: Training settings (architecture in ``settings.model``).
        out_path: Checkpoint file to write (atomically).
        progress: Called every ``settings.log_every`` steps and after the last step.

    Returns:
        Curves, codebook-use history and the checkpoint's path and hash.

    Raises:
        MediaError: a clip cannot be read, or no clip is long enough.
        VideoAssetsError: no clips were given.
    """
    started = time.perf_counter()
    device = resolve_device(settings.device)
    clips, skipped = _load_clips(clip_paths, settings)
    windows = _Windows(clips, settings.frames, settings.seed)
    old_threads = torch.get_num_threads()
    if settings.num_threads is not None:
        torch.set_num_threads(settings.num_threads)
    try:
        torch.manual_seed(settings.seed)
        model = VideoTokenizer(settings.model).to(device).train()
        # MagViT-v2's betas; every measurement in docs/tokens.md was taken with them.
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=settings.learning_rate, betas=(0.5, 0.9), weight_decay=0.0
        )
        history = TrainHistory()
        codebook_size = settings.model.codebook_size
        loop_start = time.perf_counter()
        for step in range(1, settings.steps + 1):
            lr = settings.learning_rate_at(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = torch.from_numpy(windows.sample(settings.batch_size)).to(device)
            x = batch.permute(0, 4, 1, 2, 3).float().div_(127.5).sub_(1.0)
            out = model(x)
            recon = F.mse_loss(out.reconstruction, x)
            loss = recon + out.quant.aux_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if settings.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()

            usage = codebook_usage(out.ids, codebook_size)
            history.record(loss, recon, out.quant, usage, lr)
            if progress is not None and (step % settings.log_every == 0 or step == settings.steps):
                progress(
                    TrainProgress(
                        step=step,
                        steps=settings.steps,
                        loss=history.loss[-1],
                        recon_loss=history.recon_loss[-1],
                        batch_usage=usage.usage_vs_uniform,
                        elapsed_s=time.perf_counter() - started,
                    )
                )
        loop_s = time.perf_counter() - loop_start
        model.eval()
        buckets = {f"{h}x{w}": len(members) for (h, w), members in sorted(windows.buckets.items())}
        training = {
            "settings": settings.to_dict(),
            "clips_used": len(clips),
            "clips_skipped": skipped,
            "buckets": buckets,
            "final": history.last(),
        }
        digest = save_checkpoint(model, out_path, training=training)
    finally:
        torch.set_num_threads(old_threads)
    del model, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return TrainResult(
        checkpoint_path=str(out_path),
        checkpoint_hash=digest,
        config=settings.model,
        settings=settings,
        history=history,
        clips_used=len(clips),
        clips_skipped=skipped,
        buckets=buckets,
        device=str(device),
        duration_s=time.perf_counter() - started,
        steps_per_s=settings.steps / loop_s if loop_s > 0 else float("inf"),
    )
