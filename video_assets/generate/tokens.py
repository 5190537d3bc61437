"""For the token stage's tests and benches: a tiny tokenizer configuration and lavfi-made clips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from video_assets.tokens import TokenizerConfig
from video_assets.tools import ffmpeg_base, run_tool


def tiny_config(**overrides) -> TokenizerConfig:
    """A tokenizer small enough to train a few steps in well under a second on CPU."""
    values: dict[str, Any] = dict(channels=8, channel_mult=(1, 1, 2), res_blocks=1, resolution=32)
    values.update(overrides)
    return TokenizerConfig(**values)


def make_clip(
    path: Path, *, source: str = "testsrc2", size: str = "96x64", frames: int = 17, extra: str = ""
) -> Path:
    """Encode ``frames`` frames of an ffmpeg lavfi source to an H.264 mp4 at ``path``."""
    graph = f"{source}=size={size}:rate=25" + (f",{extra}" if extra else "")
    run_tool(
        [
            *ffmpeg_base(),
            "-f", "lavfi", "-i", graph, "-frames:v", str(frames),
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
        ],
        timeout_s=120,
        what="lavfi clip",
    )  # fmt: skip
    return path
