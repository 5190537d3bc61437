"""Doubtful transcripts: the ``doubtful_transcripts`` check's rule, applied to the shards.

A transcript whose language Whisper was unsure of, or whose text is a decoding loop, is
not passed on: the words of the video's clips are withheld from their samples (the clips
and their tokens stay). The rule is the check's own SQL (``sql/checks/doubtful_transcripts.sql``)
run over the video's ``words``, ``segments`` and ``transcripts`` rows, with the
thresholds of :class:`~video_assets.shards.settings.DoubtfulTranscripts`.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from video_assets.catalog import sql_text
from video_assets.shards.settings import DoubtfulTranscripts

CHECK_SQL = "checks/doubtful_transcripts.sql"
_COLUMNS = {
    "words": {"video_id": "string", "segment": "int64", "word": "string", "start": "float64"},
    "segments": {"video_id": "string", "language": "string", "detected_language": "string"},
    "transcripts": {
        "video_id": "string", "has_audio": "boolean", "language": "string",
        "language_source": "string", "language_probability": "float64", "whisper_model": "string",
    },
}  # fmt: skip
"""The columns of each table the check reads (a column missing from an older table is NULL)."""


def _frame(table: str, rows: pd.DataFrame | None) -> pd.DataFrame:
    columns = _COLUMNS[table]
    rows = rows if rows is not None else pd.DataFrame()
    out = pd.DataFrame(
        {c: rows[c] if c in rows.columns else pd.Series([None] * len(rows)) for c in columns}
    )
    return out.astype(columns)


def doubtful_transcripts(
    words: pd.DataFrame | None,
    segments: pd.DataFrame | None,
    transcripts: pd.DataFrame | None,
    rule: DoubtfulTranscripts | None = None,
) -> dict[str, str]:
    """Per video whose transcript is doubtful by ``rule``, why (the ``shard_exclusions`` detail).

    Args:
        words: Rows of the ``words`` table of the videos (all of them, kept or not).
        segments: Rows of the ``segments`` table.
        transcripts: Rows of the ``transcripts`` table; a video without one is not doubtful.
        rule: The thresholds (the check's defaults when None).
    """
    if transcripts is None or not len(transcripts):
        return {}
    rule = rule or DoubtfulTranscripts()
    con = duckdb.connect()
    try:
        for table, rows in (("words", words), ("segments", segments), ("transcripts", transcripts)):
            con.register(table, _frame(table, rows))
        sql = sql_text(CHECK_SQL)
        out: dict[str, str] = {}
        for vid in sorted({str(v) for v in transcripts["video_id"]}):
            found = con.execute(sql, {"video_id": vid, **rule.params()}).df()
            if len(found):
                out[vid] = _detail(found.iloc[0].to_dict(), rule)
        return out
    finally:
        con.close()


def _detail(row: dict[str, Any], rule: DoubtfulTranscripts) -> str:
    """``words withheld: <reason>; language ... at probability ...; ... trigrams repeated ...``."""
    facts = []
    probability = row.get("language_probability")
    if probability is not None and not pd.isna(probability):
        facts.append(
            f"language {row.get('language')} at probability {float(probability):.2f} "
            f"(min {rule.min_language_probability})"
        )
    share = row.get("loop_share")
    if share is not None and not pd.isna(share):
        facts.append(
            f"{float(share):.0%} of word trigrams repeated over {int(row['n_words'])} words "
            f"(max {rule.max_loop_share:.0%})"
        )
    return f"words withheld: {row['reason']}; " + "; ".join(facts)
