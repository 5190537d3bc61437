"""Running a SQL check file for one partition and turning it into an AssetCheckResult, and
the table of checks whose parameters and thresholds come from the stage settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from dagster_project.defs.metadata import md_table
from dagster_project.defs.resources import AudioStageConfig, VideoStageConfig
from video_assets.audio.asr import MIN_LOOP_WORDS
from video_assets.catalog import connect, run_check, sql_text
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
            query = sql_text("reports/partition_rows.sql")
            (total,) = con.execute(query, {"view": share_of, "video_id": video_id}).fetchall()[0]
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


@dataclass(frozen=True)
class StageSettings:
    """The stage settings a check's parameters and thresholds are read from."""

    video: VideoStageConfig = field(default_factory=VideoStageConfig)
    audio: AudioStageConfig = field(default_factory=AudioStageConfig)


def _no_params(_: StageSettings) -> dict:
    return {}


@dataclass(frozen=True)
class SqlCheck:
    """One check in ``sql/checks/``: what it binds and when it passes, from the stage settings.

    Attributes:
        name: The SQL file (and the asset check's name).
        params: Parameters bound into the query (besides ``$video_id``).
        max_share: When set, it passes while the violating rows are at most this share of
            the partition's rows in view ``share_of``; otherwise while there are none.
        share_of: The view ``max_share`` is a share of.
        severity: ERROR fails the check; WARN warns.
        summarized: Shown in the catalog's summary across videos.
    """

    name: str
    params: Callable[[StageSettings], dict] = _no_params
    max_share: Callable[[StageSettings], float] | None = None
    share_of: str | None = None
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    summarized: bool = False

    def result(
        self,
        root: DataRoot,
        video_id: str,
        settings: StageSettings | None = None,
        extra_metadata: dict | None = None,
    ) -> dg.AssetCheckResult:
        """Run the check on one partition, judged by ``settings`` (the defaults if None)."""
        s = settings or StageSettings()
        return sql_check_result(
            root,
            self.name,
            video_id,
            self.params(s),
            max_share=self.max_share(s) if self.max_share is not None else None,
            share_of=self.share_of,
            severity=self.severity,
            extra_metadata=extra_metadata,
        )


WARN = dg.AssetCheckSeverity.WARN
SQL_CHECKS = {
    c.name: c
    for c in (
        SqlCheck("leaked_frames", summarized=True),
        SqlCheck(
            "lost_frames",
            params=lambda s: {"max_lost_share": s.video.max_lost_share},
            severity=WARN,
            summarized=True,
        ),
        SqlCheck(
            "short_scenes",
            params=lambda s: {"min_duration_s": s.video.min_clip_s},
            max_share=lambda s: s.video.max_short_share,
            share_of="scenes",
            severity=WARN,
            summarized=True,
        ),
        SqlCheck(
            "low_confidence_words",
            params=lambda s: {"min_score": s.audio.min_word_score},
            max_share=lambda s: s.audio.max_low_share,
            share_of="words",
            severity=WARN,
            summarized=True,
        ),
        SqlCheck(
            "hallucinated_segments",
            max_share=lambda s: s.audio.max_hallucinated_share,
            share_of="segments",
            severity=WARN,
            summarized=True,
        ),
        SqlCheck("separation_fallback", severity=WARN),
        SqlCheck(
            "speaker_overlap",
            params=lambda s: {"min_cover": s.audio.min_overlap_cover},
            max_share=lambda s: s.audio.max_overlap_share,
            share_of="words",
            severity=WARN,
        ),
        SqlCheck(
            "doubtful_transcripts",
            params=lambda s: {
                "min_language_probability": s.audio.min_language_probability,
                "max_loop_share": s.audio.max_loop_share,
                "min_loop_words": MIN_LOOP_WORDS,
            },
            severity=WARN,
        ),
        SqlCheck("static_clips", severity=WARN),
        SqlCheck("inner_discontinuity", severity=WARN),
    )
}
"""The SQL checks judged per partition from the stage settings, by the asset checks and,
where ``summarized``, by the catalog's summary (``token_mismatch`` needs the current
tokenizer and is run by its asset check alone)."""
