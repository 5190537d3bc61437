"""Transcript quality for a person: a word-score plot and a Markdown excerpt.

Both read the ``words`` and ``segments`` tables (see
:mod:`video_assets.audio.transcription`): words(video_id, segment, word, start, end, score,
speaker) and segments(video_id, segment, start, end, text, speaker, language, kept,
drop_reason). Either table may be empty or None.
"""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MultipleLocator
from matplotlib.transforms import blended_transform_factory

from video_assets.audio.quality import MIN_WORD_SCORE
from video_assets.visuals.common import hms, message_image, save_figure, save_png

_REASON_COLOURS = ["#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"]
_SPEAKER_COLOURS = [
    "#1f77b4",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
]
_NO_SPACE_LANGUAGES = {"zh", "ja", "yue", "th", "lo", "my", "km", "bo"}
_MD_SPECIAL = re.compile(r"([\\`*_~\[\]<>|#])")
_TIME_STEPS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)


def _time_step(span_s: float) -> float:
    """A round tick step (seconds, minutes, hours) giving at most about ten ticks over ``span_s``."""
    return next((s for s in _TIME_STEPS if span_s / s <= 10), _TIME_STEPS[-1])


def _check_min_score(min_score: float) -> None:
    if not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score must be in [0, 1], got {min_score}")


def _frame(df: pd.DataFrame | None) -> pd.DataFrame:
    return df if df is not None else pd.DataFrame()


def _words(df: pd.DataFrame | None) -> pd.DataFrame:
    """The words table with ``score`` and ``speaker`` present (missing ones are unknown).

    Raises:
        ValueError: rows lack ``segment``, ``word``, ``start`` or ``end``.
    """
    words = _frame(df)
    if not len(words):
        return words
    missing = [c for c in ("segment", "word", "start", "end") if c not in words.columns]
    if missing:
        raise ValueError(f"words table needs columns segment, word, start, end; missing {missing}")
    if "score" not in words.columns:
        words = words.assign(score=np.nan)
    if "speaker" not in words.columns:
        words = words.assign(speaker=None)
    return words


def _segments(words: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """The segments table, or segments made from the words' ``segment`` numbers when it is empty."""
    if len(segments):
        seg = segments.copy()
    elif len(words) and "segment" in words.columns:
        seg = (
            words.groupby("segment", sort=True)
            .agg(start=("start", "min"), end=("end", "max"))
            .reset_index()
        )
        seg["text"] = ""
    else:
        return pd.DataFrame(
            columns=[
                "segment",
                "start",
                "end",
                "text",
                "speaker",
                "language",
                "kept",
                "drop_reason",
            ]
        )
    for col, default in (
        ("kept", True),
        ("drop_reason", None),
        ("speaker", None),
        ("language", None),
        ("text", ""),
    ):
        if col not in seg.columns:
            seg[col] = default
    seg["kept"] = seg["kept"].fillna(True).astype(bool)
    return seg.sort_values(["start", "segment"], kind="stable").reset_index(drop=True)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _speaker_groups(words: pd.DataFrame) -> list[tuple[str, str, np.ndarray]]:
    """(legend name, colour, word mask) per speaker, or one group when no word has a speaker."""
    speakers = words["speaker"]
    names = sorted({str(s) for s in speakers if not _is_missing(s)})
    if names:
        who = np.array(["" if _is_missing(s) else str(s) for s in speakers])
        groups = [
            (n, _SPEAKER_COLOURS[i % len(_SPEAKER_COLOURS)], who == n) for i, n in enumerate(names)
        ]
        if (who == "").any():
            groups.append(("no speaker", "#7f7f7f", who == ""))
    else:
        groups = [("word", _SPEAKER_COLOURS[0], np.ones(len(words), dtype=bool))]
    return groups


def _plot_words(
    ax: Axes,
    x: np.ndarray,
    score: np.ndarray,
    low: np.ndarray,
    groups: list[tuple[str, str, np.ndarray]],
    min_score: float,
) -> list[Artist]:
    """Scored words as dots per group, low ones ringed, unscored ones below 0, the threshold."""
    handles: list[Artist] = []
    scored = ~np.isnan(score)
    for name, colour, mask in groups:
        m = mask & scored
        if m.any():
            handles.append(ax.scatter(x[m], score[m], s=9, color=colour, label=name, linewidths=0))
    if low.any():
        handles.append(
            ax.scatter(
                x[low],
                score[low],
                s=36,
                facecolors="none",
                edgecolors="#d62728",
                linewidths=0.9,
                label=f"below {min_score:g}",
            )
        )
    if (~scored).any():
        handles.append(
            ax.scatter(
                x[~scored],
                np.full((~scored).sum(), -0.06),
                s=12,
                marker="|",
                color="#7f7f7f",
                label="no score",
            )
        )
    handles.append(
        ax.axhline(
            min_score,
            color="#d62728",
            linestyle="--",
            linewidth=1,
            label=f"min score {min_score:g}",
        )
    )
    return handles


def _shade_dropped(ax: Axes, dropped: pd.DataFrame, x_max: float) -> list[Artist]:
    """Shade dropped segments in a colour per reason, named where wide; one legend patch each."""
    reasons = sorted({str(r) if not _is_missing(r) else "dropped" for r in dropped["drop_reason"]})
    colour_of = {r: _REASON_COLOURS[i % len(_REASON_COLOURS)] for i, r in enumerate(reasons)}
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for row in dropped.itertuples():
        reason = str(row.drop_reason) if not _is_missing(row.drop_reason) else "dropped"
        ax.axvspan(
            float(row.start), float(row.end), color=colour_of[reason], alpha=0.15, linewidth=0
        )
        if (float(row.end) - float(row.start)) / x_max > 0.06:
            ax.text(
                (float(row.start) + float(row.end)) / 2,
                0.985,
                reason.replace(";", "\n"),
                transform=top,
                ha="center",
                va="top",
                fontsize=7,
                color=colour_of[reason],
            )
    return [
        Patch(
            color=colour_of[r],
            alpha=0.3,
            label="\n".join(textwrap.wrap(f"dropped: {r.replace(';', ' + ')}", 28)),
        )
        for r in reasons
    ]


def confidence_plot(
    words_df: pd.DataFrame | None,
    segments_df: pd.DataFrame | None,
    out_path: str | Path,
    *,
    min_score: float = MIN_WORD_SCORE,
    title: str | None = None,
) -> Path:
    """A PNG of word alignment scores over time.

    Words are dots at their middle time and score, coloured by speaker when the table has
    speakers; words below ``min_score`` are ringed in red and the threshold is a dashed line.
    Words without a score sit in a row below 0. Dropped segments (``kept`` false) are shaded
    in a colour per drop reason, named in the legend and, where the span is wide enough,
    above it. Without words the picture says so.

    Args:
        words_df: ``words`` table rows (``start``, ``end``, ``score``, optional ``speaker``).
        segments_df: ``segments`` table rows (``start``, ``end``, ``kept``, ``drop_reason``).
        out_path: Where the PNG goes (written under a temporary name, then renamed).
        min_score: The low-confidence threshold, 0 to 1.
        title: Title prefix (the video id, say).

    Returns:
        ``out_path``.

    Raises:
        ValueError: ``min_score`` is out of range, or the words table lacks a column.
    """
    _check_min_score(min_score)
    words = _words(words_df)
    segs = _segments(words, _frame(segments_df))
    prefix = f"{title}: " if title else ""
    if not len(words):
        dropped = int((~segs["kept"]).sum()) if len(segs) else 0
        detail = (
            f"{_count(len(segs), 'segment')}, {dropped} dropped"
            if len(segs)
            else "the transcript is empty"
        )
        return save_png(message_image(f"{prefix}no words", detail), out_path)

    start = words["start"].astype(float).to_numpy()
    end = words["end"].astype(float).to_numpy()
    x = (start + end) / 2
    score = pd.to_numeric(words["score"], errors="coerce").to_numpy(dtype=float)
    scored = ~np.isnan(score)
    low = scored & (score < min_score)
    x_max = float(max(np.nanmax(end), segs["end"].max() if len(segs) else 0.0, 1e-3))

    fig = Figure(figsize=(12, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    handles = _plot_words(ax, x, score, low, _speaker_groups(words), min_score)

    dropped = segs[~segs["kept"]]
    handles += _shade_dropped(ax, dropped, x_max)

    ax.set_xlim(0, x_max * 1.01)
    ax.set_ylim(-0.12, 1.05)
    ax.set_ylabel("alignment score")
    ax.xaxis.set_major_locator(MultipleLocator(_time_step(x_max)))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda v, _pos: hms(v)[:-2] if x_max >= 60 else f"{v:g} s")
    )
    ax.grid(alpha=0.3)
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False
    )
    n_low = int(low.sum())
    ax.set_title(
        f"{prefix}{_count(len(words), 'word')}, {n_low} below {min_score:g} ({n_low / len(words):.0%}); "
        f"{len(dropped)} of {len(segs)} segments dropped",
        fontsize=10,
    )
    fig.subplots_adjust(left=0.06, right=0.8, top=0.9, bottom=0.12)
    return save_figure(fig, out_path)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _segment_text(seg_words: pd.DataFrame, fallback: str, min_score: float, joiner: str) -> str:
    if not len(seg_words):
        return _escape(fallback.strip())
    parts = []
    for w in seg_words.itertuples():
        word = _escape(str(w.word).strip())
        score = w.score if not _is_missing(w.score) else None
        if score is not None and float(score) < min_score:
            word = f"**{word}**({float(score):.2f})"
        parts.append(word)
    return joiner.join(parts)


def _select(segs: pd.DataFrame, max_segments: int) -> list[int]:
    """Rows to show: the first segments, with up to a quarter of the room for later dropped ones."""
    n = len(segs)
    if n <= max_segments:
        return list(range(n))
    dropped = np.flatnonzero(~segs["kept"].to_numpy())
    room = min(int((dropped >= max_segments - max_segments // 4).sum()), max_segments // 4)
    late = [int(i) for i in dropped if i >= max_segments - room][:room]
    return list(range(max_segments - room)) + late


def transcript_markdown(
    words_df: pd.DataFrame | None,
    segments_df: pd.DataFrame | None,
    *,
    min_score: float = MIN_WORD_SCORE,
    max_segments: int = 20,
) -> str:
    """A Markdown excerpt of a transcript that shows where it is weak.

    One line per segment: time range, speaker, and the text built from its words, each
    word below ``min_score`` in bold with its score (``**wrold**(0.23)``); a dropped segment
    carries ``dropped: <reason>``. When there are more than ``max_segments`` segments, the
    first ones are shown, with up to a quarter of the room kept for later dropped segments,
    and a line says how many were skipped at each gap.

    Args:
        words_df: ``words`` table rows.
        segments_df: ``segments`` table rows (made from the words' segment numbers when empty).
        min_score: The low-confidence threshold, 0 to 1.
        max_segments: Segment lines shown, 1 to 10,000.

    Returns:
        Markdown text.

    Raises:
        ValueError: a setting is out of range, or the words table lacks a column.
    """
    _check_min_score(min_score)
    if not 1 <= max_segments <= 10_000:
        raise ValueError(f"max_segments must be in [1, 10000], got {max_segments}")
    words = _words(words_df)
    segs = _segments(words, _frame(segments_df))
    if not len(segs):
        return "_no transcript: no segments and no words_"
    scores = (
        pd.to_numeric(words["score"], errors="coerce") if len(words) else pd.Series(dtype=float)
    )
    n_low = int((scores < min_score).sum())
    dropped = segs[~segs["kept"]]
    reasons = dropped["drop_reason"].fillna("dropped").astype(str).value_counts().sort_index()
    why = ", ".join(f"{r} {c}" for r, c in reasons.items())
    lines = [
        f"**{_count(len(segs), 'segment')}**, {len(dropped)} dropped{f' ({why})' if why else ''}; "
        f"**{_count(len(words), 'word')}**, {n_low} below {min_score:g}.",
        "",
    ]
    by_segment = (
        {k: g for k, g in words.sort_values("start", kind="stable").groupby("segment")}
        if len(words)
        else {}
    )
    shown = _select(segs, max_segments)
    prev = -1
    for i in shown:
        if i > prev + 1:
            lines.append(f"- … {i - prev - 1} segments not shown")
        prev = i
        seg = segs.iloc[i]
        lang = seg["language"]
        joiner = "" if not _is_missing(lang) and str(lang) in _NO_SPACE_LANGUAGES else " "
        text = _segment_text(
            by_segment.get(seg["segment"], pd.DataFrame()),
            "" if _is_missing(seg["text"]) else str(seg["text"]),
            min_score,
            joiner,
        )
        speaker = f" **{_escape(str(seg['speaker']))}**" if not _is_missing(seg["speaker"]) else ""
        flag = ""
        if not bool(seg["kept"]):
            reason = (
                seg["drop_reason"] if not _is_missing(seg["drop_reason"]) else "no reason given"
            )
            flag = f" _dropped: {_escape(str(reason))}_ —"
        lines.append(
            f"- `{hms(seg['start'])}–{hms(seg['end'])}`{speaker}{flag} {text or '_(no text)_'}"
        )
    if prev < len(segs) - 1:
        lines.append(f"- … {len(segs) - 1 - prev} segments not shown")
    return "\n".join(lines)
