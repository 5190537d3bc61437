"""The ``clip_motion`` table: every clip of one video measured, one row per clip."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from video_assets.motion.measure import measure_clip
from video_assets.motion.pool import map_in_order
from video_assets.motion.result import ROW_COLUMNS, ClipMotion
from video_assets.motion.settings import MotionSettings
from video_assets.store import DataRoot

TABLE_COLUMNS: dict[str, str] = {
    "video_id": "VARCHAR",
    "clip_id": "VARCHAR",
    **ROW_COLUMNS,
    "worst_source_frame": "BIGINT",
}
"""Columns of ``clip_motion`` and their DuckDB types. ``worst_source_frame`` is the worst
transition's frame in the source video (the clip's ``start_frame`` plus ``worst_frame``)."""

_DTYPES = {"VARCHAR": "object", "BIGINT": "Int64", "DOUBLE": "float64"}
_ARROW = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64()}
ARROW_SCHEMA = pa.schema([(c, _ARROW[t]) for c, t in TABLE_COLUMNS.items() if c != "video_id"])
"""The Parquet schema (the store keeps ``video_id`` in the partition path, not the file)."""


@dataclass
class MotionTable:
    """The rows of one video's clips and the results behind them.

    Attributes:
        rows: One row per clip, columns :data:`TABLE_COLUMNS`, in the clips table's order.
        results: The :class:`ClipMotion` of each row (per-frame series for plots).
        elapsed_s: Time spent measuring.
    """

    rows: pd.DataFrame
    results: list[ClipMotion]
    elapsed_s: float

    @property
    def clip_seconds(self) -> float:
        return float(sum(r.duration_s for r in self.results))


def measure_clip_table(
    root: DataRoot,
    clips: pd.DataFrame,
    settings: MotionSettings,
    progress: Callable[[int, int], object] | None = None,
) -> MotionTable:
    """Measure every clip of a ``clips`` table partition.

    ``settings.workers`` clips are measured at once (see
    :func:`~video_assets.motion.pool.map_in_order`): the rows are the same as one at a
    time, and the first clip in the table's order that fails raises its error.

    Args:
        root: The data root the clips' ``path`` values are relative to.
        clips: Rows of the ``clips`` table (``video_id``, ``clip_id``, ``path``, ``start_frame``).
        settings: How to measure and judge the clips.
        progress: Called as ``progress(done, total)`` after each clip, in the table's order.
    """
    t0 = time.perf_counter()
    todo = list(clips.itertuples())

    def measure(clip: Any) -> ClipMotion:
        with root.local_copy(clip.path) as local:
            return measure_clip(local, settings)

    results = map_in_order(measure, todo, settings.worker_count(len(todo)), progress)
    rows = []
    for clip, result in zip(todo, results, strict=True):
        result.path = str(clip.path)
        worst = result.worst_frame
        rows.append(
            {
                "video_id": clip.video_id,
                "clip_id": clip.clip_id,
                **result.to_row(),
                "worst_source_frame": None if worst is None else int(clip.start_frame) + worst,
            }
        )
    df = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    df = df.astype({c: _DTYPES[t] for c, t in TABLE_COLUMNS.items()})
    return MotionTable(rows=df, results=results, elapsed_s=time.perf_counter() - t0)
