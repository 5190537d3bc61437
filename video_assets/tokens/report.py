"""Pictures for the UI: original-versus-reconstruction previews and training curves."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from video_assets.tokens.train import TrainResult

_GAP = 4


def preview_image(
    original: np.ndarray, reconstructed: np.ndarray, *, max_frames: int = 3, min_width: int = 192
) -> bytes:
    """PNG with original frames on the left and their reconstructions on the right.

    Args:
        original: ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8 frames.
        reconstructed: The same shape as ``original``.
        max_frames: Rows shown: evenly spaced frames from first to last; 1 to 16.
        min_width: Small frames are enlarged (nearest neighbour) to at least this width.

    Raises:
        ValueError: shapes differ or are not frames, or ``max_frames`` is out of range.
    """
    if not 1 <= max_frames <= 16:
        raise ValueError(f"max_frames must be from 1 to 16, got {max_frames}")
    a, b = np.asarray(original), np.asarray(reconstructed)
    a = a[None] if a.ndim == 3 else a
    b = b[None] if b.ndim == 3 else b
    if a.shape != b.shape or a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(
            f"frames must be matching (T, H, W, 3) arrays, got {a.shape} and {b.shape}"
        )
    picks = np.unique(
        np.linspace(0, a.shape[0] - 1, min(max_frames, a.shape[0])).round().astype(int)
    )
    _, h, w, _ = a.shape
    scale = max(1, -(-min_width // w))
    h, w = h * scale, w * scale
    canvas = np.full((len(picks) * (h + _GAP) - _GAP, 2 * w + _GAP, 3), 255, dtype=np.uint8)
    for row, i in enumerate(picks):
        y = row * (h + _GAP)
        for col, src in enumerate((a[i], b[i])):
            img = src.astype(np.uint8).repeat(scale, axis=0).repeat(scale, axis=1)
            canvas[y : y + h, col * (w + _GAP) : col * (w + _GAP) + w] = img
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _curve(ax, steps: np.ndarray, values: list[float], label: str | None) -> None:
    """Raw values faintly, and a moving average over 1/50 of the run on top."""
    y = np.asarray(values, dtype=float)
    (line,) = ax.plot(steps, y, alpha=0.25, linewidth=0.8)
    window = max(1, len(y) // 50)
    if window > 1:
        smooth = np.convolve(y, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], smooth, color=line.get_color(), label=label)
    elif label:
        line.set_label(label)


def plot_training(result: TrainResult) -> bytes:
    """PNG of the loss curves and codebook use over training steps."""
    hist = result.history
    steps = np.arange(1, len(hist.loss) + 1)
    fig = Figure(figsize=(10, 6.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots(2, 2)
    _curve(ax[0, 0], steps, hist.recon_loss, "reconstruction (MSE)")
    ax[0, 0].set_yscale("log")
    ax[0, 0].set_title("reconstruction loss")
    # The LFQ entropy penalty is negative, so the total is drawn on a linear axis.
    _curve(ax[0, 1], steps, hist.loss, "total")
    _curve(ax[0, 1], steps, hist.commitment_loss, "commitment")
    if result.config.quantizer == "lfq":
        _curve(ax[0, 1], steps, hist.entropy_loss, "entropy penalty")
    ax[0, 1].set_title("total and quantizer losses (unweighted)")
    _curve(ax[1, 0], steps, hist.batch_usage, None)
    ax[1, 0].set_ylim(0, 1.05)
    ax[1, 0].set_title("batch codebook use (distinct ids / uniform code)")
    _curve(ax[1, 1], steps, hist.batch_perplexity, None)
    ax[1, 1].set_yscale("log")
    ax[1, 1].set_title("batch code perplexity")
    for a in ax.flat:
        a.set_xlabel("step")
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=8)
    fig.suptitle(
        f"{result.config.quantizer.upper()} tokenizer, {result.config.code_bits} bits, "
        f"checkpoint {result.checkpoint_hash[:12]}"
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
