"""Helpers that turn library results into metadata a person wants to read in the UI."""

from __future__ import annotations

import dagster as dg
import pandas as pd


def md_table(df: pd.DataFrame, limit: int = 20) -> dg.MetadataValue:
    """A Markdown preview of the first ``limit`` rows."""
    head = df.head(limit)
    text = head.to_markdown(index=False, floatfmt=".3f") if len(head) else "_no rows_"
    if len(df) > limit:
        text += f"\n\n_{len(df) - limit} more rows_"
    return dg.MetadataValue.md(text)
