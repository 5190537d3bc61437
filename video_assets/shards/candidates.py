"""Building one :class:`ShardSample` per clip from catalog rows and token files."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from video_assets.layout import token_dir
from video_assets.shards.sample import ShardSample, clean_word, is_missing
from video_assets.shards.schema import ShardError
from video_assets.store import DataRoot

MOTION_FACTS = ("camera", "camera_speed_px", "mean_motion_px", "static_share")
"""Figures of a clip's ``clip_motion`` row that go into its ``<key>.json``."""
CLIP_FACTS = (
    "method",
    "container",
    "lost_frames",
    "damaged_frames",
    "start_frame",
    "end_frame",
    "scene_start_frame",
    "scene_end_frame",
)
"""Columns of a clip's ``clips`` row copied into its ``<key>.json`` where the table has them."""


def token_rel(video_id: str, clip_id: str) -> str:
    """Where the token stage writes a clip's tokens, relative to the data root."""
    return f"{token_dir(video_id)}/{clip_id}.safetensors"


class _Files:
    """Local paths of a data root's files; on an object store, staged in a local folder.

    Staging is deferred: :meth:`local` names the local copy, :meth:`fetch` downloads every
    file named (that exists) at once, keeping the root's layout under ``stage_dir``.
    """

    def __init__(self, root: DataRoot, stage_dir: str | os.PathLike[str] | None):
        if not root.is_local and stage_dir is None:
            raise ShardError(
                root.url, "a remote data root needs stage_dir (a local folder to stage clips in)"
            )
        self.root = root
        self.stage_dir = stage_dir
        self._fetch: dict[str, str] = {}
        self._listed: dict[str, set[str]] = {}

    def present(self, rel: str) -> bool:
        if self.root.is_local:
            return self.root.exists(rel)
        folder, _, name = rel.rpartition("/")
        if folder not in self._listed:  # one listing per folder instead of a request per file
            self._listed[folder] = set(self.root.listdir(folder))
        return name in self._listed[folder]

    def local(self, rel: str) -> str:
        if self.root.is_local:
            return str(self.root.local_path(rel))
        dst = Path(self.stage_dir, *self.root.rel(*rel.split("/")).split("/"))  # type: ignore[arg-type]
        if self.present(rel):
            self._fetch[self.root.full(rel)] = str(dst)
        return str(dst)

    def fetch(self) -> None:
        if not self._fetch:
            return
        for dst in {str(Path(d).parent) for d in self._fetch.values()}:
            Path(dst).mkdir(parents=True, exist_ok=True)
        self.root.fs.get(list(self._fetch), list(self._fetch.values()))


def _by_video(df: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    return {str(v): g for v, g in df.groupby("video_id")} if df is not None and len(df) else {}


def _motion_rows(motion: pd.DataFrame | None) -> dict[tuple[str, str], dict[str, Any]]:
    if motion is None:
        return {}
    return {
        (str(r["video_id"]), str(r["clip_id"])): {
            k: _plain(v) for k, v in r.items() if k not in ("video_id", "clip_id")
        }
        for r in motion.to_dict("records")
    }


def clip_words(
    words: pd.DataFrame | None, segments: pd.DataFrame | None, start: float, end: float
) -> tuple[list[dict[str, Any]], int]:
    """The words of a video lying wholly inside ``[start, end]``, timed from ``start``.

    Words of dropped segments are left out (as in the ``clip_words`` view).

    Returns:
        The words (sorted by time) and how many dropped segments overlap the range.
    """
    kept_segments: set[int] | None = None
    dropped = 0
    if segments is not None:
        kept = segments["kept"].astype(bool)
        kept_segments = {int(s) for s in segments.loc[kept, "segment"]}
        gone = segments[~kept]
        dropped = int(((gone["start"] < end) & (gone["end"] > start)).sum())
    out: list[dict[str, Any]] = []
    if words is None:
        return out, dropped
    inside = words[(words["start"] >= start) & (words["end"] <= end)].sort_values(
        ["start", "end", "segment"]
    )
    for wr in inside.itertuples(index=False):
        if kept_segments is not None and int(wr.segment) not in kept_segments:
            continue
        out.append(
            clean_word({
                "word": wr.word, "start": float(wr.start) - start, "end": float(wr.end) - start,
                "score": wr.score, "speaker": wr.speaker, "segment": wr.segment,
            })
        )  # fmt: skip
    return out, dropped


def _clip_extra(row: Any, moved: Mapping[str, Any] | None) -> dict[str, Any]:
    """Facts of the clip's row (and its motion figures) for its ``<key>.json``."""
    extra = {k: _plain(getattr(row, k)) for k in CLIP_FACTS if hasattr(row, k)}
    if not is_missing(getattr(row, "window_index", None)):
        extra["window_index"] = int(row.window_index)
    if moved is not None:
        extra |= {k: None if is_missing(moved.get(k)) else moved.get(k) for k in MOTION_FACTS}
    return extra


def candidates_from_tables(
    root: DataRoot,
    clips: pd.DataFrame,
    videos: pd.DataFrame,
    words: pd.DataFrame | None = None,
    segments: pd.DataFrame | None = None,
    *,
    tokens: pd.DataFrame | None = None,
    token_path: Callable[[str, str], str] = token_rel,
    failed_checks: Mapping[str, Sequence[str]] | None = None,
    checks_passed: Mapping[str, Sequence[str]] | None = None,
    stage_dir: str | os.PathLike[str] | None = None,
    motion: pd.DataFrame | None = None,
    doubtful: Mapping[str, str] | None = None,
) -> list[ShardSample]:
    """One :class:`ShardSample` per row of the ``clips`` table.

    Words are those lying wholly inside the clip (as in the ``clip_words`` view), from
    segments that were kept, timed from the clip's first frame. A dropped segment
    overlapping the clip is counted in ``dropped_segments``.

    Args:
        root: The data root holding the clip and token files.
        clips: Rows of the ``clips`` table.
        videos: Rows of the ``videos`` table (width, height, fps per video).
        words: Rows of the ``words`` table (absolute times), or None.
        segments: Rows of the ``segments`` table (``kept``), or None.
        tokens: Rows of the ``tokens`` table (``clip_id``, ``path`` relative to the root);
            when given, a clip without a row has no tokens.
        token_path: Token file of ``(video_id, clip_id)`` relative to the root, used when
            ``tokens`` is None (the token stage's layout by default).
        failed_checks: Checks failed per video id (e.g. failed asset checks).
        checks_passed: Checks passed per video id.
        stage_dir: A local folder; required for a remote (object-store) root, whose clip
            and token files are downloaded there (concurrently, keeping the root's layout)
            because a tar member's size is needed before its bytes and every token file
            is read at selection. Missing files stay missing, so selection reports them.
        motion: Rows of the ``clip_motion`` table, or None; a clip without a row is not
            judged by motion. A clip's camera class and motion figures go into its facts.
        doubtful: Per video whose transcript is doubtful, why
            (:func:`video_assets.shards.transcripts.doubtful_transcripts`).

    Raises:
        ShardError: a clip's video is missing from ``videos``, or a remote root came
            without ``stage_dir``.
    """
    files = _Files(root, stage_dir)
    vids = videos.set_index("video_id")
    words_by_video, segs_by_video = _by_video(words), _by_video(segments)
    token_rows = (
        None
        if tokens is None
        else {str(c): str(p) for c, p in zip(tokens["clip_id"], tokens["path"], strict=True)}
    )
    motion_rows = _motion_rows(motion)
    out: list[ShardSample] = []
    for row in clips.sort_values(["video_id", "clip_id"]).itertuples(index=False):
        vid, key = str(row.video_id), str(row.clip_id)
        if vid not in vids.index:
            raise ShardError(
                root.full(str(row.path)), f"clip {key}: video {vid} is not in the videos table"
            )
        video = vids.loc[vid]
        start, end = float(row.start_s), float(row.end_s)
        words_in, dropped = clip_words(words_by_video.get(vid), segs_by_video.get(vid), start, end)
        trel = token_rows.get(key) if token_rows is not None else token_path(vid, key)
        moved = motion_rows.get((vid, key))
        out.append(
            ShardSample(
                key=key, video_id=vid, clip_path=files.local(str(row.path)),
                scene_index=int(row.scene_index), start_s=start, end_s=end, fps=float(video["fps"]),
                width=int(video["width"]), height=int(video["height"]),
                frame_count=int(row.end_frame) - int(row.start_frame) - _damaged(row), words=words_in,
                token_path=files.local(trel) if trel and files.present(trel) else None,
                leaked_frames=int(row.leaked_frames), dropped_segments=dropped,
                failed_checks=tuple((failed_checks or {}).get(vid, ())),
                checks_passed=tuple((checks_passed or {}).get(vid, ())), motion=moved,
                extra=_clip_extra(row, moved), doubtful_transcript=(doubtful or {}).get(vid),
            )
        )  # fmt: skip
    files.fetch()
    return out


def _damaged(row: Any) -> int:
    """Frames inside a clip's range that its file lacks (0 for tables from before the column)."""
    value = getattr(row, "damaged_frames", 0)
    return 0 if is_missing(value) else int(value)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
