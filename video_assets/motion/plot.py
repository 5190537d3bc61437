"""The motion strip: a sparkline of each clip's motion over time, for the Dagster UI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from video_assets.motion.result import ClipMotion
from video_assets.visuals.common import message_image, save_figure, save_png

_COLOURS = {"cut": "#d62728", "flash": "#ff7f0e"}


def motion_strip(
    results: Sequence[ClipMotion],
    labels: Sequence[str],
    out_path: str | Path,
    *,
    max_clips: int = 16,
) -> Path:
    """A PNG with one row per clip: its global motion per frame (pixels per frame at the
    analysis resolution), the longest near-static run shaded, the worst transition marked
    red for a cut and orange for a flash, and on the left the camera class and speed.

    Args:
        results: The clips' measurements.
        labels: A label per clip (its id).
        out_path: Where the PNG goes (written under a temporary name, then renamed).
        max_clips: Rows drawn, the first clips in order (1 to 64).
    """
    if not 1 <= max_clips <= 64:
        raise ValueError(f"max_clips must be in [1, 64], got {max_clips}")
    if not results:
        return save_png(message_image("no clips", "nothing to measure"), out_path)
    shown = list(zip(results, labels, strict=True))[:max_clips]
    top = max(
        (float(np.nanmax(r.motion)) for r, _ in shown if np.isfinite(r.motion).any()),
        default=1.0,
    )
    top = max(top, 0.5) * 1.1
    fig = Figure(figsize=(10, 0.55 * len(shown) + 0.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(shown), 1, squeeze=False)[:, 0]
    for ax, (r, label) in zip(axes, shown, strict=True):
        frames = np.arange(len(r.motion))
        ax.fill_between(frames, np.nan_to_num(r.motion), color="#1f77b4", alpha=0.35, lw=0)
        ax.plot(frames, r.motion, color="#1f77b4", lw=1)
        if r.freeze_frames and r.freeze_start is not None:
            ax.axvspan(r.freeze_start, r.freeze_start + r.freeze_frames, color="#999999", alpha=0.3)
        if r.worst_kind and r.worst_frame is not None:
            ax.axvline(r.worst_frame, color=_COLOURS[r.worst_kind], lw=1.5)
        ax.set_xlim(0, max(1, len(r.motion) - 1))
        ax.set_ylim(0, top)
        ax.set_yticks([])
        ax.set_xticks([])
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        speed = f" {r.camera_speed_px:.2f}" if r.camera_speed_px else ""
        flag = f" [{r.static_reason}]" if r.static_reason else ""
        ax.text(
            -0.01,
            0.5,
            f"{label}  {r.camera or '?'}{speed}{flag}",
            transform=ax.transAxes,
            ha="right",
            va="center",
            fontsize=8,
        )
    axes[-1].set_xlabel(
        f"frame (motion 0 to {top:.1f} px/frame at {shown[0][0].analysis_width} px wide)",
        fontsize=8,
    )
    fig.subplots_adjust(left=0.32, right=0.99, top=0.98, bottom=0.5 / (0.55 * len(shown) + 0.6))
    return save_figure(fig, out_path)
