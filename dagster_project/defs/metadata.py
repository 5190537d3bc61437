"""Helpers that turn library results into metadata a person wants to read in the UI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd

from video_assets.store import DataRoot
from video_assets.visuals import png_markdown


def md_table(df: pd.DataFrame, limit: int = 20) -> dg.MetadataValue:
    """A Markdown preview of the first ``limit`` rows."""
    head = df.head(limit)
    text = head.to_markdown(index=False, floatfmt=".3f") if len(head) else "_no rows_"
    if len(df) > limit:
        text += f"\n\n_{len(df) - limit} more rows_"
    return dg.MetadataValue.md(text)


def stored_image(
    root: DataRoot, rel: str, draw: Callable[[Path], object], alt: str
) -> dg.MetadataValue:
    """Draw a PNG with ``draw(path)``, store it at ``rel`` (atomically), and return Markdown
    showing it inline (a JPEG copy when the PNG is over ~300 KB) with the stored path below."""
    with root.atomic_file(rel) as tmp:
        draw(tmp)
        image = png_markdown(tmp, alt)
    return image_md(root, rel, image)


def image_md(root: DataRoot, rel: str, image: str) -> dg.MetadataValue:
    """An inline image (Markdown from ``png_markdown``) with its stored path ``rel`` below."""
    return dg.MetadataValue.md(f"{image}\n\n`{root.uri(rel)}`")
