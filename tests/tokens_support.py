"""Shared helpers for the token-stage tests: tiny configs and lavfi-made clips."""

from __future__ import annotations

import subprocess
from pathlib import Path

from video_assets.tokens import TokenizerConfig


def tiny_config(**overrides) -> TokenizerConfig:
    """A tokenizer small enough to train a few steps in well under a second on CPU."""
    values = dict(channels=8, channel_mult=(1, 1, 2), res_blocks=1, resolution=32)
    values.update(overrides)
    return TokenizerConfig(**values)


def make_clip(
    path: Path, *, source: str = "testsrc2", size: str = "96x64", frames: int = 17, extra: str = ""
) -> Path:
    """Encode ``frames`` frames of an ffmpeg lavfi source to an H.264 mp4 at ``path``."""
    graph = f"{source}=size={size}:rate=25" + (f",{extra}" if extra else "")
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", graph, "-frames:v", str(frames),
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path
