"""A Markdown summary of the whole catalog: totals across partitions and checks per video."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from video_assets.audio.quality import MIN_WORD_SCORE

_CHECK_NAME_COLUMNS = ("check", "check_name", "name")
_CHECK_COUNT_COLUMNS = ("count", "violations")


def _rows(df: pd.DataFrame | None) -> pd.DataFrame:
    return df if df is not None else pd.DataFrame()


def _num(n: float | int) -> str:
    return f"{int(n):,}"


def _hours(seconds: float) -> str:
    h = seconds / 3600
    return f"{h:.2f}" if h >= 1 else f"{h:.3f}"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _column(df: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in df.columns), None)


def _per_video(df: pd.DataFrame, value: pd.Series | None = None) -> pd.Series:
    """Per video_id: the row count, or the sum of ``value``."""
    if not len(df) or "video_id" not in df.columns:
        return pd.Series(dtype=float)
    if value is None:
        return df.groupby("video_id").size()
    return value.groupby(df["video_id"]).sum()


def _token_counts(tokens: pd.DataFrame) -> pd.Series:
    """Tokens per token file: ``t * h * w`` when the table has the shape, else a ``tokens`` column."""
    if all(c in tokens.columns for c in ("t", "h", "w")):
        return (
            tokens["t"].astype("int64") * tokens["h"].astype("int64") * tokens["w"].astype("int64")
        )
    if "tokens" in tokens.columns:
        return tokens["tokens"].astype("int64")
    return pd.Series([0] * len(tokens), index=tokens.index, dtype="int64")


def _tokens_by_video(tokens: pd.DataFrame | None, cl: pd.DataFrame) -> pd.DataFrame | None:
    """``tokens`` with a ``video_id`` column looked up from ``clip_id`` where it lacks one."""
    to = _rows(tokens)
    if (
        len(to)
        and "video_id" not in to.columns
        and "clip_id" in to.columns
        and {"clip_id", "video_id"} <= set(cl.columns)
    ):
        return to.assign(
            video_id=to["clip_id"].map(dict(zip(cl["clip_id"], cl["video_id"], strict=True)))
        )
    return tokens


def _check_columns(ch: pd.DataFrame) -> tuple[str | None, str | None]:
    """The check-name and count columns of ``checks``; ValueError when a needed one is missing."""
    check_col = count_col = None
    if len(ch):
        check_col, count_col = _column(ch, _CHECK_NAME_COLUMNS), _column(ch, _CHECK_COUNT_COLUMNS)
        missing = [
            c
            for c, got in (
                ("video_id", "video_id" in ch.columns),
                ("check", check_col),
                ("passed", "passed" in ch.columns),
            )
            if not got
        ]
        if missing:
            raise ValueError(
                f"checks needs columns video_id, check, passed (and count); missing {missing}"
            )
    return check_col, count_col


def _word_scores(wo: pd.DataFrame) -> pd.Series | None:
    return pd.to_numeric(wo["score"], errors="coerce") if "score" in wo.columns else None


def _kept_segments(se: pd.DataFrame) -> pd.Series | None:
    return se["kept"].fillna(True).astype(bool) if "kept" in se.columns else None


def _token_total(to: pd.DataFrame) -> pd.Series:
    return _token_counts(to) if len(to) else pd.Series(dtype="int64")


@dataclass(frozen=True)
class _Tables:
    """The catalog tables the summary reads; None: left out (no row, no column)."""

    videos: pd.DataFrame | None
    scenes: pd.DataFrame | None
    clips: pd.DataFrame | None
    words: pd.DataFrame | None
    segments: pd.DataFrame | None
    tokens: pd.DataFrame | None
    shards: pd.DataFrame | None
    checks: pd.DataFrame | None


def _totals_markdown(ids: set[str], t: _Tables, min_score: float) -> list[str]:
    """The title and the totals table (a row per table given)."""
    videos, scenes, clips, words, segments, tokens, shards = (
        t.videos, t.scenes, t.clips, t.words, t.segments, t.tokens, t.shards
    )  # fmt: skip
    v, sc, cl, wo, se, to, sh, ch = map(
        _rows, (videos, scenes, clips, words, segments, tokens, shards, t.checks)
    )
    rows: list[tuple[str, str]] = []
    n_videos = v["video_id"].nunique() if "video_id" in v.columns else len(ids)
    rows.append(("videos", _num(n_videos)))
    duration = float(v["duration_s"].sum()) if "duration_s" in v.columns else math.nan
    if not math.isnan(duration):
        rows.append(("hours", _hours(duration)))
    if scenes is not None:
        short = f" ({_num(sc['is_short'].sum())} short)" if "is_short" in sc.columns else ""
        rows.append(("scenes", f"{_num(len(sc))}{short}"))
    extra = []
    if "duration_s" in cl.columns:
        extra.append(f"{_hours(float(cl['duration_s'].sum()))} h")
    if "leaked_frames" in cl.columns:
        extra.append(f"{_num(cl['leaked_frames'].sum())} leaked frames")
    if clips is not None:
        rows.append(("kept clips", _num(len(cl)) + (f" ({', '.join(extra)})" if extra else "")))
    scores = _word_scores(wo)
    low = f" ({_num((scores < min_score).sum())} below {min_score:g})" if scores is not None else ""
    if words is not None:
        rows.append(("words", f"{_num(len(wo))}{low}"))
    kept = _kept_segments(se)
    if segments is not None:
        dropped = f" ({_num((~kept).sum())} dropped)" if kept is not None else ""
        rows.append(("segments", f"{_num(len(se))}{dropped}"))
    if tokens is not None:
        rows.append(("tokens", f"{_num(_token_total(to).sum())} in {_num(len(to))} files"))
    shard_extra = []
    samples_col = _column(sh, ("n_samples", "samples"))
    if samples_col:
        shard_extra.append(f"{_num(sh[samples_col].sum())} samples")
    if "bytes" in sh.columns:
        shard_extra.append(_size(float(sh["bytes"].sum())))
    if shards is not None:
        rows.append(
            ("shards", _num(len(sh)) + (f" ({', '.join(shard_extra)})" if shard_extra else ""))
        )
    if len(ch):
        passed = ch["passed"].astype(bool)
        rows.append(("checks", f"{_num(passed.sum())} passed, {_num((~passed).sum())} failed"))
    title_hours = f", {_hours(duration)} h" if not math.isnan(duration) else ""
    noun = "video" if n_videos == 1 else "videos"
    out = [f"### Catalog: {_num(n_videos)} {noun}{title_hours}", "", "| | total |", "|---|---:|"]
    out += [f"| {k} | {_cell(val)} |" for k, val in rows]
    return out


def _per_video_counts(ids: set[str], t: _Tables, min_score: float) -> pd.DataFrame:
    """One row per video id: its name, hours and a count column per table given."""
    scenes, clips, words, segments, tokens = t.scenes, t.clips, t.words, t.segments, t.tokens
    v, sc, cl, wo, se, to = map(_rows, (t.videos, scenes, clips, words, segments, tokens))
    scores, kept = _word_scores(wo), _kept_segments(se)
    table = pd.DataFrame(index=sorted(ids))
    if "original_name" in v.columns:
        table["name"] = v.drop_duplicates("video_id").set_index("video_id")["original_name"]
    if "duration_s" in v.columns:
        table["hours"] = _per_video(v, v["duration_s"].astype(float)) / 3600
    if scenes is not None:
        table["scenes"] = _per_video(sc)
    if "is_short" in sc.columns:
        table["short"] = _per_video(sc, sc["is_short"].astype(int))
    if clips is not None:
        table["clips"] = _per_video(cl)
    if words is not None:
        table["words"] = _per_video(wo)
    if scores is not None:
        table[f"words < {min_score:g}"] = _per_video(wo, (scores < min_score).astype(int))
    if kept is not None:
        table["dropped segments"] = _per_video(se, (~kept).astype(int))
    if len(to) and "video_id" in to.columns:
        table["tokens"] = _per_video(to, _token_total(to))
    return table


def _add_check_marks(
    table: pd.DataFrame, ch: pd.DataFrame, check_col: str | None, count_col: str | None
) -> tuple[pd.Series, list[str]]:
    """A ✓/✗ column per check (latest result per video); failed checks per video, check names."""
    failed = pd.Series(0, index=table.index)
    check_names: list[str] = []
    if len(ch):
        latest = ch.drop_duplicates(["video_id", check_col], keep="last")
        check_names = sorted(str(n) for n in latest[check_col].unique())
        for name in check_names:
            sel = latest[latest[check_col].astype(str) == name]
            sel = sel.set_index(sel["video_id"].astype(str))
            marks: dict[str, str] = {}
            for vid, r in sel.iterrows():
                n = f" {_num(r[count_col])}" if count_col and not pd.isna(r[count_col]) else ""
                marks[str(vid)] = f"✓{n}" if bool(r["passed"]) else f"**✗{n}**"
                failed[vid] += not bool(r["passed"])
            table[name] = pd.Series(marks)
    return failed, check_names


def _per_video_markdown(
    table: pd.DataFrame,
    counts: list[str],
    check_names: list[str],
    failed: pd.Series,
    max_videos: int,
) -> list[str]:
    """The per-video table: videos with a failed check first, then by id."""
    order = sorted(table.index, key=lambda vid: (-int(failed[vid]), vid))
    shown = order[:max_videos]
    header = ["video", *table.columns]
    out = [
        "",
        f"### Per video ({len(table)})",
        "",
        "| " + " | ".join(_cell(h) for h in header) + " |",
        "|"
        + "|".join(
            "---" if h in ("video", "name") else ":---:" if h in check_names else "---:"
            for h in header
        )
        + "|",
    ]
    for vid in shown:
        cells = [vid]
        for col in table.columns:
            val = table.at[vid, col]
            if col == "hours":
                cells.append("" if pd.isna(val) else f"{val:.3f}")
            elif col in counts:
                cells.append(_num(val))
            else:
                cells.append("" if pd.isna(val) else str(val))
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if len(order) > len(shown):
        out += ["", f"_+{len(order) - len(shown)} more videos_"]
    if check_names:
        out += ["", "_✓ passed, ✗ failed; the number is the violating rows._"]
    return out


def catalog_summary_markdown(
    *,
    videos: pd.DataFrame | None = None,
    scenes: pd.DataFrame | None = None,
    clips: pd.DataFrame | None = None,
    words: pd.DataFrame | None = None,
    segments: pd.DataFrame | None = None,
    tokens: pd.DataFrame | None = None,
    shards: pd.DataFrame | None = None,
    checks: pd.DataFrame | None = None,
    min_score: float = MIN_WORD_SCORE,
    max_videos: int = 50,
) -> str:
    """Totals across every partition and a per-video table of counts and check results.

    Every table is optional: one left out (None) gets no row, an empty one counts 0, and
    columns a table lacks are left out of the numbers rather than guessed. Tables are the
    catalog's: ``videos`` (``duration_s``), ``scenes`` (``is_short``), ``clips``
    (``duration_s``, ``leaked_frames``), ``words`` (``score``), ``segments`` (``kept``),
    ``tokens`` (one row per token file: ``t``, ``h``, ``w`` or ``tokens``; ``video_id``, or
    ``clip_id`` looked up in ``clips``), ``shards`` (one row per shard: ``n_samples`` or
    ``samples``, ``bytes``). ``checks`` holds one row per video and check: ``video_id``,
    ``check`` (or ``check_name`` / ``name``), ``passed``, ``count`` (or ``violations``).

    Videos with a failed check are listed first, then by id; at most ``max_videos`` rows.

    Args:
        videos: ``videos`` table.
        scenes: ``scenes`` table.
        clips: ``clips`` table (the kept clips).
        words: ``words`` table.
        segments: ``segments`` table.
        tokens: ``tokens`` table.
        shards: ``shards`` table (not per video: shards mix videos).
        checks: Check results per video.
        min_score: Words below this score count as low-confidence, 0 to 1.
        max_videos: Rows of the per-video table, 1 to 10,000.

    Returns:
        Markdown text.

    Raises:
        ValueError: a setting is out of range, or ``checks`` lacks a needed column.
    """
    if not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score must be in [0, 1], got {min_score}")
    if not 1 <= max_videos <= 10_000:
        raise ValueError(f"max_videos must be in [1, 10000], got {max_videos}")
    tokens = _tokens_by_video(tokens, _rows(clips))
    check_col, count_col = _check_columns(_rows(checks))
    ids: set[str] = set()
    for df in map(_rows, (videos, scenes, clips, words, segments, tokens, checks)):
        if "video_id" in df.columns:
            ids |= {str(x) for x in df["video_id"].dropna()}
    tables = _Tables(videos, scenes, clips, words, segments, tokens, shards, checks)
    out = _totals_markdown(ids, tables, min_score)
    if not ids:
        return "\n".join([*out, "", "_no partitions yet_"])
    table = _per_video_counts(ids, tables, min_score)
    counts = [c for c in table.columns if c not in ("name", "hours")]
    table[counts] = table[counts].fillna(0).astype("int64")
    failed, check_names = _add_check_marks(table, _rows(checks), check_col, count_col)
    out += _per_video_markdown(table, counts, check_names, failed, max_videos)
    return "\n".join(out)
