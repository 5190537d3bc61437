"""Running a SQL check file for one partition and turning it into an AssetCheckResult."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.metadata import md_table
from video_assets.catalog import connect, run_check
from video_assets.store import DataRoot


def sql_check_result(
    root: DataRoot,
    name: str,
    video_id: str,
    params: dict,
    *,
    max_count: int = 0,
    max_share: float | None = None,
    share_of: str | None = None,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    extra_metadata: dict | None = None,
) -> dg.AssetCheckResult:
    """Run ``sql/checks/<name>.sql`` for ``video_id``.

    It passes when the violating rows number at most ``max_count``, or, with ``max_share``,
    at most that share of the partition's rows in view ``share_of``.
    """
    with connect(root) as con:
        result = run_check(con, name, {"video_id": video_id, **params}, max_count=max_count)
        total = None
        if share_of is not None:
            query = f"SELECT count(*) FROM {share_of} WHERE video_id = $v"  # noqa: S608 - a constant view name
            (total,) = con.execute(query, {"v": video_id}).fetchall()[0]
    passed = result.passed
    metadata: dict = {"violations": result.count, "examples": md_table(result.rows, limit=5)}
    if max_share is not None and total is not None:
        share = result.count / total if total else 0.0
        passed = share <= max_share
        metadata.update(share=round(share, 4), max_share=max_share, rows_checked=int(total))
    else:
        metadata["max_count"] = max_count
    metadata.update(extra_metadata or {})
    return dg.AssetCheckResult(passed=passed, severity=severity, metadata=metadata)
