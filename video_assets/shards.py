"""Training shards: WebDataset tar files packed across videos, bucketed by shape.

A training job reads compressed clips sequentially from a few large files instead of
millions of small ones (decoded frames are hundreds of times larger than the stream-copied
clip), and draws each batch from one bucket so every clip in it has one shape.

Three steps, each a plain function (no Dagster):

1. :func:`candidates_from_tables` turns catalog rows (clips, videos, words, segments) and
   token files into one :class:`ShardSample` per clip.
2. :func:`select_samples` applies the :class:`ExclusionRules`; the result holds the kept
   samples and one row per (clip, reason) for every clip left out.
3. :func:`write_shards` buckets the kept samples by resolution, aspect ratio and
   frame-count window, packs each bucket (sorted by key) into shards of at most
   ``target_bytes`` and writes every shard under a temporary name, renamed when complete.
   Identical inputs give byte-identical tars and manifest. ``manifest.json`` at the shard
   root lists every shard (bucket, sample keys, bytes, sha256), so :func:`verify_dir`
   works without the catalog.

Sample members (WebDataset groups them by the key before the first dot):

    <key>.mp4          the clip file's bytes, never decoded or re-encoded: ``<key>.mkv``
                       for a clip in Matroska (a stream copy of a codec MP4 cannot hold)
    <key>.json         facts: video, scene, time range, fps, size, frames, bucket, checks
    <key>.words.json   words with clip-relative start/end, score, speaker, segment
    <key>.tokens.npy   int32 token ids (T', H', W'), present when the clip has tokens

Layout under the shard root::

    manifest.json
    <bucket>/<bucket>-000000.tar
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import re
import tarfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from video_assets.errors import MediaError
from video_assets.motion.result import static_reason
from video_assets.motion.settings import MotionSettings
from video_assets.store import TMP_PREFIX, DataRoot

SHARD_FORMAT = "video-assets-shards"
SHARD_FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Version 1 manifests (before sample digests and shard counters) are read as well."""
MANIFEST_FILE = "manifest.json"
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
"""Sample keys: no dots (WebDataset splits a member name at its first dot), tar-name safe."""
CLIP_MEMBERS = ("mp4", "mkv")
"""Member names (the clip file's extension) a sample's clip can have; it has exactly one."""
CLIP_MAGIC = {"mp4": (4, b"ftyp"), "mkv": (0, b"\x1a\x45\xdf\xa3")}
"""Where each clip format's signature is: MP4's ``ftyp`` box, Matroska's EBML header."""
REQUIRED_MEMBERS = ("json", "words.json")
"""Members every sample has, besides its clip."""
TOKENS_MEMBER = "tokens.npy"
MEMBER_ORDER = ("json", "clip", TOKENS_MEMBER, "words.json")
"""Order of a sample's members in the tar; ``clip`` stands for its ``mp4`` or ``mkv``."""
_BLOCK = 512
_RECORD = 20 * _BLOCK
_COPY_CHUNK = 1 << 20

REASONS = (
    "clip_missing",
    "leaked_frames",
    "too_short",
    "missing_tokens",
    "unreadable_tokens",
    "stale_tokens",
    "low_confidence_words",
    "dropped_segments",
    "failed_check",
    "static",
    "slideshow",
)
"""Every reason a clip can be left out of the shards (the ``reason`` column)."""

SAMPLES_SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()), ("shard", pa.string()), ("bucket", pa.string()),
        ("position", pa.int64()), ("bytes", pa.int64()), ("frame_count", pa.int64()),
        ("duration_s", pa.float64()), ("has_tokens", pa.bool_()), ("n_words", pa.int64()),
        ("digest", pa.string()),
    ]
)  # fmt: skip
"""Parquet schema of the ``shard_samples`` table (``video_id`` is the hive partition)."""
EXCLUSIONS_SCHEMA = pa.schema(
    [("clip_id", pa.string()), ("reason", pa.string()), ("detail", pa.string())]
)
"""Parquet schema of the ``shard_exclusions`` table (``video_id`` is the hive partition)."""
SHARDS_SCHEMA = pa.schema(
    [
        ("shard", pa.string()), ("bucket", pa.string()), ("width", pa.int64()), ("height", pa.int64()),
        ("aspect", pa.string()), ("frames_lo", pa.int64()), ("frames_hi", pa.int64()),
        ("n_samples", pa.int64()), ("keys", pa.list_(pa.string())), ("bytes", pa.int64()),
        ("sha256", pa.string()),
    ]
)  # fmt: skip
"""Parquet schema of the unpartitioned ``shards`` table (the manifest)."""


class ShardError(MediaError):
    """A shard, its manifest or a sample's input file is missing or not what was expected (``path``, ``problem``)."""


# -- settings -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShardSettings:
    """How kept samples are bucketed and packed.

    Args:
        target_bytes: Largest shard, in bytes (default 1 GiB); a shard closes before the
            sample that would take it past this. A sample larger than this gets a shard of
            its own. 1 KiB to 1 TiB.
        frame_window: Frame-count window of a bucket: 0 for powers of two
            (``[64, 128)``, ``[128, 256)``, ...), else fixed windows of this many frames
            (``[0, N)``, ``[N, 2N)``, ...). 0 to 1,000,000.
        aspect_denominator: Aspect ratios are rounded to the nearest fraction with a
            denominator up to this (16: 854x480 is 16:9). 1 to 1000.
    """

    target_bytes: int = 1 << 30
    frame_window: int = 0
    aspect_denominator: int = 16

    def __post_init__(self) -> None:
        if not 1 << 10 <= self.target_bytes <= 1 << 40:
            raise ValueError(f"target_bytes must be in [1024, 2**40], got {self.target_bytes}")
        if not 0 <= self.frame_window <= 1_000_000:
            raise ValueError(f"frame_window must be in [0, 1000000], got {self.frame_window}")
        if not 1 <= self.aspect_denominator <= 1000:
            raise ValueError(
                f"aspect_denominator must be in [1, 1000], got {self.aspect_denominator}"
            )


@dataclass(frozen=True)
class ExclusionRules:
    """Which clips are left out of the shards; every rule that fails adds one reason.

    Args:
        max_leaked_frames: Most frames of a neighbouring shot a clip may hold (0 to 1000).
        min_duration_s: Shortest clip, in seconds (0 to 3600).
        require_tokens: Leave out clips without a readable token file.
        min_word_score: Words scored below this (or unscored) are low-confidence (0 to 1).
        max_low_word_share: Largest share of low-confidence words in a clip (0 to 1); a
            clip without words passes (silent clips are still video training data).
        max_dropped_segments: Most transcript segments dropped by the quality marks that
            may overlap the clip (0 to 1000): a dropped segment means its words are
            missing from the clip's transcript.
        exclude_failed_checks: Leave out clips whose sample lists failed checks.
        checkpoint_hash: When set, leave out clips whose tokens were made by another
            tokenizer checkpoint (``checkpoint_hash`` in the token file's metadata).
        motion: Leave out static clips and slideshows by these thresholds
            (:func:`video_assets.motion.static_reason` on the clip's ``clip_motion`` row:
            ``min_motion_px``, ``min_patch_motion_px``, ``max_static_share``); None keeps
            them. A clip without a ``clip_motion`` row is not judged by motion.
    """

    max_leaked_frames: int = 0
    min_duration_s: float = 3.0
    require_tokens: bool = True
    min_word_score: float = 0.4
    max_low_word_share: float = 0.25
    max_dropped_segments: int = 0
    exclude_failed_checks: bool = True
    checkpoint_hash: str | None = None
    motion: MotionSettings | None = MotionSettings()

    def __post_init__(self) -> None:
        if not 0 <= self.max_leaked_frames <= 1000:
            raise ValueError(
                f"max_leaked_frames must be in [0, 1000], got {self.max_leaked_frames}"
            )
        if not 0.0 <= self.min_duration_s <= 3600.0:
            raise ValueError(f"min_duration_s must be in [0, 3600], got {self.min_duration_s}")
        if not 0.0 <= self.min_word_score <= 1.0:
            raise ValueError(f"min_word_score must be in [0, 1], got {self.min_word_score}")
        if not 0.0 <= self.max_low_word_share <= 1.0:
            raise ValueError(f"max_low_word_share must be in [0, 1], got {self.max_low_word_share}")
        if not 0 <= self.max_dropped_segments <= 1000:
            raise ValueError(
                f"max_dropped_segments must be in [0, 1000], got {self.max_dropped_segments}"
            )


# -- samples ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShardSample:
    """One clip that may go into the shards, with everything its sample holds.

    Attributes:
        key: The clip id; the sample's key in the tar (letters, digits, ``_``, ``-``).
        video_id: Source video.
        clip_path: Local path of the clip file (``.mp4`` or ``.mkv``: its member name).
        scene_index: Scene the clip was cut from.
        start_s: Clip start in the source video, seconds.
        end_s: Clip end in the source video, seconds.
        fps: Frame rate.
        width: Coded width of the clip.
        height: Coded height of the clip.
        frame_count: Frames in the clip.
        words: Words with clip-relative ``start``/``end`` and ``word``, ``score``,
            ``speaker`` (and ``segment`` when known).
        token_path: Token safetensors file, or None when the clip has none.
        leaked_frames: Frames of a neighbouring shot in the clip.
        dropped_segments: Dropped transcript segments overlapping the clip.
        failed_checks: Names of checks the clip (or its video) failed upstream.
        checks_passed: Names of checks passed; :func:`select_samples` adds its rules.
        motion: The clip's ``clip_motion`` row (figures by column name), or None when its
            motion was not measured.
        extra: More facts copied into ``<key>.json`` (method, lost_frames, ...).
        token_shape: ``(T', H', W')`` of the tokens, filled by :func:`select_samples`.
        token_metadata: The token file's metadata, filled by :func:`select_samples`.
    """

    key: str
    video_id: str
    clip_path: str
    scene_index: int
    start_s: float
    end_s: float
    fps: float
    width: int
    height: int
    frame_count: int
    words: list[dict[str, Any]] = field(default_factory=list)
    token_path: str | None = None
    leaked_frames: int = 0
    dropped_segments: int = 0
    failed_checks: tuple[str, ...] = ()
    checks_passed: tuple[str, ...] = ()
    motion: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    token_shape: tuple[int, int, int] | None = None
    token_metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not KEY_PATTERN.match(self.key):
            raise ValueError(
                f"sample key {self.key!r} must be 1 to 80 letters, digits, '_' or '-' (no dots)"
            )
        if self.width < 1 or self.height < 1:
            raise ValueError(
                f"{self.key}: width and height must be positive, got {self.width}x{self.height}"
            )
        if self.frame_count < 1:
            raise ValueError(f"{self.key}: frame_count must be at least 1, got {self.frame_count}")
        if self.clip_member not in CLIP_MEMBERS:
            raise ValueError(
                f"{self.key}: the clip file must end in .mp4 or .mkv, got {self.clip_path!r}"
            )

    @property
    def clip_member(self) -> str:
        """The clip's member name in the tar: its file's extension, ``mp4`` or ``mkv``."""
        return Path(self.clip_path).suffix.lstrip(".").lower()

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def facts(self, bucket: Bucket) -> dict[str, Any]:
        """The ``<key>.json`` member."""
        return {
            **self.extra,
            "key": self.key,
            "clip_id": self.key,
            "video_id": self.video_id,
            "scene_index": self.scene_index,
            "start_s": round(self.start_s, 6),
            "end_s": round(self.end_s, 6),
            "duration_s": round(self.duration_s, 6),
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "frame_count": self.frame_count,
            "bucket": bucket.name,
            "aspect": bucket.aspect,
            "frames_lo": bucket.frames_lo,
            "frames_hi": bucket.frames_hi,
            "leaked_frames": self.leaked_frames,
            "dropped_segments": self.dropped_segments,
            "n_words": len(self.words),
            "token_shape": list(self.token_shape) if self.token_shape else None,
            "token_metadata": dict(sorted(self.token_metadata.items())),
            "checks_passed": sorted(set(self.checks_passed)),
        }


def _clean_word(word: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "word": str(word["word"]),
        "start": round(float(word["start"]), 3),
        "end": round(float(word["end"]), 3),
        "score": _num_or_none(word.get("score")),
        "speaker": None if _is_missing(word.get("speaker")) else str(word["speaker"]),
    }
    if not _is_missing(word.get("segment")):
        out["segment"] = int(word["segment"])
    return out


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _num_or_none(value: Any) -> float | None:
    return None if _is_missing(value) else float(value)


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


# -- building candidates from catalog rows ---------------------------------------------------
def token_rel(video_id: str, clip_id: str) -> str:
    """Where the token stage writes a clip's tokens, relative to the data root."""
    return f"tokens/{video_id}/{clip_id}.safetensors"


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

    Raises:
        ShardError: a clip's video is missing from ``videos``, or a remote root came
            without ``stage_dir``.
    """
    if not root.is_local and stage_dir is None:
        raise ShardError(
            root.url, "a remote data root needs stage_dir (a local folder to stage clips in)"
        )
    fetch: dict[str, str] = {}
    listed: dict[str, set[str]] = {}

    def present(rel: str) -> bool:
        if root.is_local:
            return root.exists(rel)
        folder, _, name = rel.rpartition("/")
        if folder not in listed:  # one listing per folder instead of a request per file
            listed[folder] = set(root.listdir(folder))
        return name in listed[folder]

    def local(rel: str) -> str:
        if root.is_local:
            return str(root.local_path(rel))
        dst = Path(stage_dir, *root.rel(*rel.split("/")).split("/"))  # type: ignore[arg-type]
        if present(rel):
            fetch[root.full(rel)] = str(dst)
        return str(dst)

    vids = videos.set_index("video_id")
    words_by_video = (
        {v: g for v, g in words.groupby("video_id")} if words is not None and len(words) else {}
    )
    segs_by_video = (
        {v: g for v, g in segments.groupby("video_id")}
        if segments is not None and len(segments)
        else {}
    )
    token_rows = (
        None
        if tokens is None
        else {str(c): str(p) for c, p in zip(tokens["clip_id"], tokens["path"], strict=True)}
    )
    motion_rows: dict[tuple[str, str], dict[str, Any]] = (
        {
            (str(r["video_id"]), str(r["clip_id"])): {
                k: _plain(v) for k, v in r.items() if k not in ("video_id", "clip_id")
            }
            for r in motion.to_dict("records")
        }
        if motion is not None
        else {}
    )
    out: list[ShardSample] = []
    for row in clips.sort_values(["video_id", "clip_id"]).itertuples(index=False):
        vid = str(row.video_id)
        if vid not in vids.index:
            raise ShardError(
                root.full(str(row.path)),
                f"clip {row.clip_id}: video {vid} is not in the videos table",
            )
        video = vids.loc[vid]
        start, end = float(row.start_s), float(row.end_s)
        segs = segs_by_video.get(vid)
        kept_segments: set[int] | None = None
        dropped = 0
        if segs is not None:
            kept_segments = {int(s) for s in segs.loc[segs["kept"].astype(bool), "segment"]}
            gone = segs[~segs["kept"].astype(bool)]
            dropped = int(((gone["start"] < end) & (gone["end"] > start)).sum())
        clip_words: list[dict[str, Any]] = []
        w = words_by_video.get(vid)
        if w is not None:
            inside = w[(w["start"] >= start) & (w["end"] <= end)].sort_values(
                ["start", "end", "segment"]
            )
            for wr in inside.itertuples(index=False):
                if kept_segments is not None and int(wr.segment) not in kept_segments:
                    continue
                clip_words.append(
                    _clean_word({
                        "word": wr.word, "start": float(wr.start) - start, "end": float(wr.end) - start,
                        "score": wr.score, "speaker": wr.speaker, "segment": wr.segment,
                    })
                )  # fmt: skip
        if token_rows is not None:
            trel = token_rows.get(str(row.clip_id))
        else:
            trel = token_path(vid, str(row.clip_id))
        tok = local(trel) if trel and present(trel) else None
        extra = {
            k: _plain(getattr(row, k))
            for k in (
                "method",
                "container",
                "lost_frames",
                "damaged_frames",
                "start_frame",
                "end_frame",
                "scene_start_frame",
                "scene_end_frame",
            )
            if hasattr(row, k)
        }
        if not _is_missing(getattr(row, "window_index", None)):
            extra["window_index"] = int(row.window_index)
        moved = motion_rows.get((vid, str(row.clip_id)))
        if moved is not None:
            extra |= {k: None if _is_missing(moved.get(k)) else moved.get(k) for k in MOTION_FACTS}
        out.append(
            ShardSample(
                key=str(row.clip_id), video_id=vid, clip_path=local(str(row.path)),
                scene_index=int(row.scene_index), start_s=start, end_s=end, fps=float(video["fps"]),
                width=int(video["width"]), height=int(video["height"]),
                frame_count=int(row.end_frame) - int(row.start_frame) - _damaged(row), words=clip_words, token_path=tok,
                leaked_frames=int(row.leaked_frames), dropped_segments=dropped,
                failed_checks=tuple((failed_checks or {}).get(vid, ())),
                checks_passed=tuple((checks_passed or {}).get(vid, ())), motion=moved, extra=extra,
            )
        )  # fmt: skip
    if fetch:
        for dst in {str(Path(d).parent) for d in fetch.values()}:
            Path(dst).mkdir(parents=True, exist_ok=True)
        root.fs.get(list(fetch), list(fetch.values()))
    return out


MOTION_FACTS = ("camera", "camera_speed_px", "mean_motion_px", "static_share")
"""Figures of a clip's ``clip_motion`` row that go into its ``<key>.json``."""


def _damaged(row: Any) -> int:
    """Frames inside a clip's range that its file lacks (0 for tables from before the column)."""
    value = getattr(row, "damaged_frames", 0)
    return 0 if _is_missing(value) else int(value)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def read_token_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, str]]:
    """The ids and metadata of a token file (the layout of :mod:`video_assets.tokens.encode`).

    Read here with safetensors directly, so building shards does not import the tokenizer.

    Raises:
        ShardError: the file is missing, not safetensors, or has no 3-D int32 ``tokens``.
    """
    from safetensors import SafetensorError, safe_open

    p = Path(path)
    if not p.is_file():
        raise ShardError(p, "token file does not exist")
    try:
        with safe_open(str(p), framework="np") as fh:
            meta = dict(sorted((fh.metadata() or {}).items()))
            if "tokens" not in fh.keys():  # noqa: SIM118 - safe_open is not a mapping
                raise ShardError(p, "token file has no 'tokens' tensor")
            ids = fh.get_tensor("tokens")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ShardError(p, f"is not a readable safetensors token file ({exc})") from None
    if ids.ndim != 3 or ids.dtype != np.int32:
        raise ShardError(p, f"tokens must be 3-D int32, got {ids.dtype} {ids.shape}")
    return ids, meta


# -- exclusion -------------------------------------------------------------------------------
@dataclass
class Selection:
    """Kept samples and the reasons the others were left out.

    Attributes:
        kept: Samples that passed every rule, with ``checks_passed``, ``token_shape`` and
            ``token_metadata`` filled in.
        excluded: One row per (clip, reason): ``video_id``, ``clip_id``, ``reason`` (one
            of :data:`REASONS`), ``detail``.
        candidates: How many samples were judged.
    """

    kept: list[ShardSample]
    excluded: pd.DataFrame
    candidates: int

    @property
    def excluded_clips(self) -> int:
        return int(self.excluded["clip_id"].nunique()) if len(self.excluded) else 0

    def reason_counts(self) -> dict[str, int]:
        """Excluded clips per reason (a clip with two reasons counts under both)."""
        pairs = self.excluded.drop_duplicates(["clip_id", "reason"])
        return dict(sorted(Counter(str(r) for r in pairs["reason"]).items()))


def select_samples(
    candidates: Iterable[ShardSample], rules: ExclusionRules | None = None
) -> Selection:
    """Apply the exclusion rules; see :class:`ExclusionRules` and :data:`REASONS`.

    Raises:
        ValueError: two candidates share a key.
    """
    rules = rules or ExclusionRules()
    kept: list[ShardSample] = []
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    n = 0
    for s in candidates:
        n += 1
        if s.key in seen:
            raise ValueError(f"two candidate samples have the key {s.key!r}")
        seen.add(s.key)
        reasons: list[tuple[str, str]] = []
        passed = [
            "clip_file",
            "leaked_frames",
            "min_duration",
            "low_confidence_words",
            "dropped_segments",
        ]
        if not Path(s.clip_path).is_file():
            reasons.append(("clip_missing", f"{s.clip_path} does not exist"))
        if s.leaked_frames > rules.max_leaked_frames:
            reasons.append(
                (
                    "leaked_frames",
                    f"{s.leaked_frames} frames of a neighbouring shot (max {rules.max_leaked_frames})",
                )
            )
        if s.duration_s < rules.min_duration_s:
            reasons.append(("too_short", f"{s.duration_s:.3f} s < {rules.min_duration_s} s"))
        shape: tuple[int, int, int] | None = None
        meta: dict[str, str] = {}
        if s.token_path is None or not Path(s.token_path).is_file():
            if rules.require_tokens:
                reasons.append(
                    (
                        "missing_tokens",
                        f"no token file{f' at {s.token_path}' if s.token_path else ''}",
                    )
                )
        else:
            try:
                ids, meta = read_token_file(s.token_path)
                shape = (int(ids.shape[0]), int(ids.shape[1]), int(ids.shape[2]))
            except ShardError as exc:
                if rules.require_tokens:
                    reasons.append(("unreadable_tokens", str(exc)))
            if (
                shape is not None
                and rules.checkpoint_hash
                and meta.get("checkpoint_hash") != rules.checkpoint_hash
            ):
                made_by = meta.get("checkpoint_hash", "?")[:12]
                reasons.append(
                    (
                        "stale_tokens",
                        f"tokens made by checkpoint {made_by}, current is {rules.checkpoint_hash[:12]}",
                    )
                )
        if rules.require_tokens:
            passed.append("tokens")
        if rules.checkpoint_hash:
            passed.append("current_tokenizer")
        if s.words:
            low = sum(
                1
                for w in s.words
                if w.get("score") is None or float(w["score"]) < rules.min_word_score
            )
            share = low / len(s.words)
            if share > rules.max_low_word_share:
                reasons.append(
                    ("low_confidence_words",
                     f"{low} of {len(s.words)} words scored below {rules.min_word_score} "
                     f"({share:.0%} > {rules.max_low_word_share:.0%})")
                )  # fmt: skip
        if s.dropped_segments > rules.max_dropped_segments:
            reasons.append(
                ("dropped_segments",
                 f"{s.dropped_segments} dropped transcript segments overlap the clip (max {rules.max_dropped_segments})")
            )  # fmt: skip
        if rules.exclude_failed_checks:
            reasons += [("failed_check", name) for name in sorted(set(s.failed_checks))]
        if rules.motion is not None and s.motion is not None:
            passed.append("motion")
            still = static_reason(s.motion, rules.motion)
            if still is not None:
                reasons.append((still.reason, still.detail))
        if reasons:
            rows += [
                {"video_id": s.video_id, "clip_id": s.key, "reason": r, "detail": d}
                for r, d in reasons
            ]
            continue
        kept.append(
            replace(
                s,
                words=[_clean_word(w) for w in s.words],
                checks_passed=tuple(sorted(set(s.checks_passed) | set(passed))),
                token_shape=shape,
                token_metadata=meta,
            )
        )
    excluded = pd.DataFrame(rows, columns=["video_id", "clip_id", "reason", "detail"])
    return Selection(kept=sorted(kept, key=lambda s: s.key), excluded=excluded, candidates=n)


# -- buckets and packing ---------------------------------------------------------------------
@dataclass(frozen=True)
class Bucket:
    """Clips of one resolution, aspect ratio and frame-count window.

    Attributes:
        name: ``<W>x<H>_<a>-<b>_f<lo>-<hi - 1>``, e.g. ``160x90_16-9_f64-127``.
        width: Coded width.
        height: Coded height.
        aspect: Rounded aspect ratio, ``16:9``.
        frames_lo: Fewest frames of a clip in the bucket.
        frames_hi: One past the most frames.
    """

    name: str
    width: int
    height: int
    aspect: str
    frames_lo: int
    frames_hi: int


def aspect_label(width: int, height: int, max_denominator: int = 16) -> str:
    """``W:H`` rounded to the nearest fraction with a denominator up to ``max_denominator``."""
    f = Fraction(width, height).limit_denominator(max_denominator)
    return f"{f.numerator}:{f.denominator}"


def frame_window(frame_count: int, window: int = 0) -> tuple[int, int]:
    """``[lo, hi)`` holding ``frame_count``: powers of two when ``window`` is 0, else fixed."""
    if frame_count < 1:
        raise ValueError(f"frame_count must be at least 1, got {frame_count}")
    if window == 0:
        lo = 1 << (frame_count.bit_length() - 1)
        return lo, 2 * lo
    lo = frame_count // window * window
    return lo, lo + window


def bucket_of(
    width: int, height: int, frame_count: int, settings: ShardSettings | None = None
) -> Bucket:
    """The bucket of a clip of ``width`` x ``height`` and ``frame_count`` frames."""
    settings = settings or ShardSettings()
    aspect = aspect_label(width, height, settings.aspect_denominator)
    lo, hi = frame_window(frame_count, settings.frame_window)
    name = f"{width}x{height}_{aspect.replace(':', '-')}_f{lo}-{hi - 1}"
    return Bucket(name=name, width=width, height=height, aspect=aspect, frames_lo=lo, frames_hi=hi)


def _member_bytes(size: int) -> int:
    return _BLOCK + -(-size // _BLOCK) * _BLOCK


def _tar_bytes(member_sizes: Iterable[int]) -> int:
    """Exact size of an uncompressed USTAR stream holding members of these sizes."""
    total = sum(_member_bytes(n) for n in member_sizes) + 2 * _BLOCK
    return -(-total // _RECORD) * _RECORD


def _npy_bytes(ids: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(ids, dtype=np.int32), allow_pickle=False)
    return buf.getvalue()


def _npy_size(shape: tuple[int, ...]) -> int:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<i4", "fortran_order": False, "shape": tuple(shape)}
    )
    return len(buf.getvalue()) + 4 * math.prod(shape)


@dataclass(frozen=True)
class ShardPlan:
    """One shard to write: its path under the shard root, bucket and samples in order."""

    path: str
    bucket: Bucket
    samples: tuple[ShardSample, ...]
    estimated_bytes: int


def _sample_sizes(s: ShardSample, bucket: Bucket) -> list[int]:
    sizes = [
        len(_json_bytes(s.facts(bucket))),
        Path(s.clip_path).stat().st_size,
        len(_json_bytes(s.words)),
    ]
    if s.token_shape is not None:
        sizes.append(_npy_size(s.token_shape))
    return sizes


def plan_shards(
    samples: Iterable[ShardSample], settings: ShardSettings | None = None
) -> list[ShardPlan]:
    """Bucket the samples and pack each bucket, sorted by key, into shards.

    A shard takes samples until the next would take its tar past ``target_bytes``; a
    sample larger than that alone gets a shard of its own. Shard ``i`` of a bucket is
    ``<bucket>/<bucket>-<i:06d>.tar``.

    Raises:
        ValueError: two samples share a key.
        ShardError: a sample's clip file is missing.
    """
    settings = settings or ShardSettings()
    by_bucket: dict[Bucket, list[ShardSample]] = defaultdict(list)
    keys: set[str] = set()
    for s in samples:
        if s.key in keys:
            raise ValueError(f"two samples have the key {s.key!r}")
        keys.add(s.key)
        if not Path(s.clip_path).is_file():
            raise ShardError(s.clip_path, f"clip file of sample {s.key} does not exist")
        by_bucket[bucket_of(s.width, s.height, s.frame_count, settings)].append(s)
    plans: list[ShardPlan] = []
    for bucket in sorted(by_bucket, key=lambda b: b.name):
        groups: list[tuple[list[ShardSample], list[int]]] = [([], [])]
        for s in sorted(by_bucket[bucket], key=lambda s: s.key):
            member_sizes = _sample_sizes(s, bucket)
            current, sizes = groups[-1]
            if current and _tar_bytes(sizes + member_sizes) > settings.target_bytes:
                groups.append(([], []))
                current, sizes = groups[-1]
            current.append(s)
            sizes += member_sizes
        for index, (current, sizes) in enumerate(groups):
            plans.append(
                ShardPlan(shard_path(bucket.name, index), bucket, tuple(current), _tar_bytes(sizes))
            )
    return plans


# -- writing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShardInfo:
    """One written shard, as listed in the manifest."""

    path: str
    bucket: str
    width: int
    height: int
    aspect: str
    frames_lo: int
    frames_hi: int
    n_samples: int
    keys: tuple[str, ...]
    bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["keys"] = list(self.keys)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ShardInfo:
        return cls(**{**{k: d[k] for k in cls.__dataclass_fields__}, "keys": tuple(d["keys"])})


@dataclass(frozen=True)
class SampleInfo:
    """Where one sample was written.

    ``digest`` is the SHA-256 of the sample's members (names, sizes and bytes, in tar order):
    two samples with one digest have the same bytes in a shard, wherever they are, so an
    update can tell an unchanged sample from a changed one without reading its shard.
    """

    clip_id: str
    video_id: str
    shard: str
    bucket: str
    position: int
    bytes: int
    frame_count: int
    duration_s: float
    has_tokens: bool
    n_words: int
    digest: str = ""


def shard_path(bucket: str, index: int) -> str:
    """Shard ``index`` of ``bucket`` under the shard root: ``<bucket>/<bucket>-<index:06d>.tar``."""
    return f"{bucket}/{bucket}-{index:06d}.tar"


def shard_index(path: str) -> int:
    """The index in a shard's name (``...-000012.tar`` -> 12)."""
    return int(path[-10:-4])


@dataclass
class ShardManifest:
    """The manifest: every shard with its sample keys, and the settings used.

    Where each sample is (shard, position, bytes, digest) is the catalog's ``shard_samples``
    table, partitioned by video, so that adding a video rewrites its own rows only; the
    manifest carries per sample nothing but its key.

    Attributes:
        shards: Every shard, sorted by path (bucket, then index).
        settings: Packing settings of every shard listed.
        next_index: Per bucket, the index the next new shard gets; indices only grow, so a
            shard name never stands for two different contents.
        inputs: Per video, a stamp of the catalog rows its samples were judged from
            (:func:`video_assets.shard_update.refresh_shards` skips videos whose stamp holds).
        inputs_config: A stamp of the exclusion rules and settings they were judged with.
    """

    shards: list[ShardInfo]
    settings: ShardSettings
    next_index: dict[str, int] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    inputs_config: str = ""

    @property
    def n_samples(self) -> int:
        return sum(s.n_samples for s in self.shards)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SHARD_FORMAT,
            "version": SHARD_FORMAT_VERSION,
            "settings": asdict(self.settings),
            "shards": [s.to_json() for s in self.shards],
            "next_index": dict(sorted(self.next_index.items())),
            "inputs": {"config": self.inputs_config, "videos": dict(sorted(self.inputs.items()))},
        }

    def to_bytes(self) -> bytes:
        """The ``manifest.json`` file: compact JSON with sorted keys, one trailing newline."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ShardManifest:
        """Read a manifest; a version 1 manifest (which also listed every sample) reads too."""
        if d.get("format") != SHARD_FORMAT or d.get("version") not in READABLE_VERSIONS:
            raise ValueError(
                f"not a {SHARD_FORMAT} manifest of version {' or '.join(map(str, READABLE_VERSIONS))}"
            )
        inputs = d.get("inputs") or {}
        return cls(
            shards=[ShardInfo.from_json(s) for s in d["shards"]],
            settings=ShardSettings(**d["settings"]),
            next_index={str(k): int(v) for k, v in (d.get("next_index") or {}).items()},
            inputs={str(k): str(v) for k, v in (inputs.get("videos") or {}).items()},
            inputs_config=str(inputs.get("config") or ""),
        )

    def next_shard_index(self, bucket: str) -> int:
        """The index a new shard of ``bucket`` gets: past every index used so far."""
        used = [shard_index(s.path) + 1 for s in self.shards if s.bucket == bucket]
        return max([self.next_index.get(bucket, 0), *used])

    def shards_frame(self) -> pd.DataFrame:
        """The ``shards`` table: shard path, bucket, shape, sample keys, bytes, sha256."""
        rows = [{**s.to_json(), "shard": s.path} for s in self.shards]
        return pd.DataFrame(rows, columns=SHARDS_SCHEMA.names)

    def buckets(self) -> pd.DataFrame:
        """Shards, samples and bytes per bucket."""
        df = self.shards_frame()
        return (
            df.groupby("bucket")
            .agg(shards=("shard", "count"), samples=("n_samples", "sum"), bytes=("bytes", "sum"))
            .reset_index()
        )


def samples_frame(rows: Iterable[SampleInfo]) -> pd.DataFrame:
    """Rows of the ``shard_samples`` table (with ``video_id``): where each kept clip went."""
    return pd.DataFrame([asdict(s) for s in rows], columns=["video_id", *SAMPLES_SCHEMA.names])


@dataclass
class ShardSet:
    """Shards written by :func:`write_shards`.

    Attributes:
        root: URL of the shard root.
        manifest: What was written.
        samples: Where every sample went, in shard and position order.
        removed: Shards of an earlier run removed because no longer listed.
        elapsed_s: Wall time.
    """

    root: str
    manifest: ShardManifest
    samples: list[SampleInfo]
    removed: list[str]
    elapsed_s: float

    @property
    def total_bytes(self) -> int:
        return sum(s.bytes for s in self.manifest.shards)

    def samples_frame(self) -> pd.DataFrame:
        """The ``shard_samples`` table (with ``video_id``)."""
        return samples_frame(self.samples)

    def metadata(self) -> dict[str, Any]:
        """Flat facts for asset metadata."""
        shards = self.manifest.shards
        return {
            "shards": len(shards),
            "samples": len(self.samples),
            "buckets": len({s.bucket for s in shards}),
            "bytes": self.total_bytes,
            "largest_shard_bytes": max((s.bytes for s in shards), default=0),
            "removed_stale_shards": len(self.removed),
            "elapsed_s": round(self.elapsed_s, 3),
        }


class _HashingWriter:
    """A write-only file wrapper counting bytes and hashing them as they pass."""

    def __init__(self, fh: Any):
        self.fh = fh
        self.sha = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        self.sha.update(data)
        self.bytes += len(data)
        return len(data)


class _Tee:
    """A read-only file wrapper feeding what is read into a hash."""

    def __init__(self, fh: Any, sha: Any):
        self.fh = fh
        self.sha = sha

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.sha.update(data)
        return data


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    # Fixed owner, mode and time: the same inputs give byte-identical tars.
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mtime = 0
    ti.mode = 0o644
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.type = tarfile.REGTYPE
    return ti


def _small_members(s: ShardSample, bucket: Bucket) -> dict[str, bytes]:
    members = {"json": _json_bytes(s.facts(bucket)), "words.json": _json_bytes(s.words)}
    if s.token_shape is not None and s.token_path is not None:
        ids, _ = read_token_file(s.token_path)
        if tuple(ids.shape) != s.token_shape:
            raise ShardError(
                s.token_path,
                f"token shape {tuple(ids.shape)} changed since selection ({s.token_shape})",
            )
        members[TOKENS_MEMBER] = _npy_bytes(ids)
    return members


Member = tuple[str, "bytes | Path"]
"""One member of a sample: its suffix (``json``, ``mp4``, ...) and its bytes or a local file."""


@dataclass(frozen=True)
class PendingSample:
    """A sample on its way into a shard.

    Attributes:
        key: The sample key.
        sizes: Size of each member, for packing before any byte is read.
        info: Its manifest row; ``shard``, ``position`` and ``digest`` are set when written.
        load: Its members in tar order, read when the sample is written (so a shard's worth
            of samples is never held in memory).
    """

    key: str
    sizes: tuple[int, ...]
    info: SampleInfo
    load: Callable[[], list[Member]]


def pending_sample(s: ShardSample, bucket: Bucket) -> PendingSample:
    """A kept sample (from :func:`select_samples`) ready to be written into ``bucket``."""
    sizes = tuple(_sample_sizes(s, bucket))
    info = SampleInfo(
        clip_id=s.key, video_id=s.video_id, shard="", bucket=bucket.name, position=0,
        bytes=sum(_member_bytes(n) for n in sizes), frame_count=s.frame_count,
        duration_s=round(s.duration_s, 6), has_tokens=s.token_shape is not None, n_words=len(s.words),
    )  # fmt: skip

    def load() -> list[Member]:
        small = _small_members(s, bucket)
        out: list[Member] = []
        for member in MEMBER_ORDER:
            if member == "clip":
                out.append((s.clip_member, Path(s.clip_path)))
            elif member in small:
                out.append((member, small[member]))
        return out

    return PendingSample(s.key, sizes, info, load)


def _member_header(name: str, size: int) -> bytes:
    return f"{name}\0{size}\0".encode()


def sample_digest(sample: PendingSample) -> str:
    """The digest the sample gets when written (see :class:`SampleInfo`); reads its members."""
    sha = hashlib.sha256()
    for suffix, data in sample.load():
        name = f"{sample.key}.{suffix}"
        if isinstance(data, Path):
            with open(data, "rb") as fh:
                sha.update(_member_header(name, os.fstat(fh.fileno()).st_size))
                while chunk := fh.read(_COPY_CHUNK):
                    sha.update(chunk)
        else:
            sha.update(_member_header(name, len(data)))
            sha.update(data)
    return sha.hexdigest()


class ShardWriter:
    """Writes one shard under a temporary name; :meth:`close` publishes it, :meth:`abort` drops it.

    Args:
        root: The data root (or shard root).
        prefix: Folder of the shard root under ``root``.
        path: The shard's path under the shard root.
        bucket: Its bucket.
    """

    def __init__(self, root: DataRoot, prefix: str, path: str, bucket: Bucket):
        self.path = path
        self.bucket = bucket
        self.samples: list[SampleInfo] = []
        self._stack = contextlib.ExitStack()
        try:
            tmp = self._stack.enter_context(root.atomic_file(_join(prefix, path)))
            fh = self._stack.enter_context(open(tmp, "wb"))  # noqa: SIM115 - held by the stack
            self._writer = _HashingWriter(fh)
            self._tar = tarfile.open(  # type: ignore[call-overload]  # noqa: SIM115 - closed in close()
                fileobj=self._writer, mode="w|", format=tarfile.USTAR_FORMAT
            )
        except BaseException:
            self.abort()
            raise

    def add(self, sample: PendingSample) -> None:
        """Append a sample's members; its manifest row gets this shard, its position and digest."""
        sha = hashlib.sha256()
        for suffix, data in sample.load():
            name = f"{sample.key}.{suffix}"
            if isinstance(data, Path):
                with open(data, "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    sha.update(_member_header(name, size))
                    self._tar.addfile(_tarinfo(name, size), _Tee(fh, sha))
            else:
                sha.update(_member_header(name, len(data)))
                sha.update(data)
                self._tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
        self.samples.append(
            replace(
                sample.info,
                shard=self.path,
                bucket=self.bucket.name,
                position=len(self.samples),
                digest=sha.hexdigest(),
            )
        )

    def close(self) -> tuple[ShardInfo, list[SampleInfo]]:
        """Finish the tar and publish it under its name."""
        try:
            self._tar.close()
        except BaseException:
            self.abort()
            raise
        self._stack.close()
        b = self.bucket
        info = ShardInfo(
            path=self.path, bucket=b.name, width=b.width, height=b.height, aspect=b.aspect,
            frames_lo=b.frames_lo, frames_hi=b.frames_hi, n_samples=len(self.samples),
            keys=tuple(s.clip_id for s in self.samples), bytes=self._writer.bytes,
            sha256=self._writer.sha.hexdigest(),
        )  # fmt: skip
        return info, self.samples

    def abort(self) -> None:
        """Drop the temporary file; nothing is published."""
        self._stack.__exit__(ShardError, ShardError(self.path, "write aborted"), None)


def pack_samples(
    root: DataRoot,
    prefix: str,
    bucket: Bucket,
    samples: Iterable[PendingSample],
    settings: ShardSettings,
    first_index: int,
) -> list[tuple[ShardInfo, list[SampleInfo]]]:
    """Write ``samples`` (in the order given) into new shards of ``bucket``, numbered from ``first_index``.

    A shard takes samples until the next would take its tar past ``target_bytes`` (a sample
    larger than that gets a shard of its own), as :func:`plan_shards` packs.
    """
    out: list[tuple[ShardInfo, list[SampleInfo]]] = []
    index = first_index
    writer: ShardWriter | None = None
    sizes: list[int] = []
    try:
        for s in samples:
            if writer is not None and _tar_bytes([*sizes, *s.sizes]) > settings.target_bytes:
                out.append(writer.close())
                writer, sizes = None, []
            if writer is None:
                writer = ShardWriter(root, prefix, shard_path(bucket.name, index), bucket)
                index += 1
            writer.add(s)
            sizes += s.sizes
        if writer is not None:
            out.append(writer.close())
            writer = None
    finally:
        if writer is not None:
            writer.abort()
    return out


def _as_root(out: DataRoot | str | os.PathLike[str]) -> DataRoot:
    return out if isinstance(out, DataRoot) else DataRoot(out)


def _join(prefix: str, rel: str) -> str:
    return f"{prefix.strip('/')}/{rel}" if prefix.strip("/") else rel


def write_manifest(root: DataRoot, prefix: str, manifest: ShardManifest) -> None:
    """Replace ``manifest.json`` in one rename: readers see the old manifest or the new one."""
    with root.atomic_file(_join(prefix, MANIFEST_FILE)) as tmp:
        tmp.write_bytes(manifest.to_bytes())


def write_shards(
    samples: Iterable[ShardSample],
    out: DataRoot | str | os.PathLike[str],
    *,
    prefix: str = "",
    settings: ShardSettings | None = None,
) -> ShardSet:
    """Pack the samples from scratch as bucketed WebDataset shards and ``manifest.json``.

    A full repack: shards are numbered from 0 in every bucket and replace any shard of that
    name. To add, change or remove videos in a shard root that readers use, call
    :func:`video_assets.shard_update.refresh_shards` instead, which writes new names only
    and leaves unchanged shards alone.

    Every shard is written under a temporary name beside its target and renamed when
    complete; then the manifest is replaced; then shards of an earlier run that the new
    manifest does not list are removed. Identical inputs give byte-identical files.

    Args:
        samples: Kept samples (from :func:`select_samples`).
        out: The data root, or the shard root itself (a folder or fsspec URL).
        prefix: Folder of the shard root under ``out`` (``shards`` under a data root).
        settings: Target shard size and bucketing.

    Returns:
        The manifest and the stale shards removed.

    Raises:
        ShardError: a clip or token file is missing or changed while writing.
        ValueError: two samples share a key.
    """
    t0 = time.perf_counter()
    settings = settings or ShardSettings()
    root = _as_root(out)
    plans = plan_shards(samples, settings)
    shards: list[ShardInfo] = []
    sample_rows: list[SampleInfo] = []
    next_index: dict[str, int] = {}
    for plan in plans:
        writer = ShardWriter(root, prefix, plan.path, plan.bucket)
        try:
            for s in plan.samples:
                writer.add(pending_sample(s, plan.bucket))
        except BaseException:
            writer.abort()
            raise
        info, rows = writer.close()
        shards.append(info)
        sample_rows += rows
        next_index[plan.bucket.name] = shard_index(plan.path) + 1
    manifest = ShardManifest(shards=shards, settings=settings, next_index=next_index)
    write_manifest(root, prefix, manifest)
    removed = remove_unlisted(root, prefix, {s.path for s in shards})
    base = root.full(prefix.strip("/")) if prefix.strip("/") else root.url
    return ShardSet(
        root=base,
        manifest=manifest,
        samples=sample_rows,
        removed=removed,
        elapsed_s=time.perf_counter() - t0,
    )


def _shard_files(root: DataRoot, prefix: str) -> list[str]:
    """Tar files under the shard root, relative to it (temporary files left out)."""
    base = root.full(prefix.strip("/")) if prefix.strip("/") else root.root
    if not root.fs.exists(base):
        return []
    out = []
    for p in root.fs.find(base):
        rel = str(p)[len(base.rstrip("/")) + 1 :] if str(p).startswith(base.rstrip("/")) else str(p)
        if rel.endswith(".tar") and not any(part.startswith(TMP_PREFIX) for part in rel.split("/")):
            out.append(rel)
    return sorted(out)


def remove_unlisted(root: DataRoot, prefix: str, keep: set[str]) -> list[str]:
    """Delete every tar under the shard root not in ``keep`` (and empty bucket folders)."""
    removed = []
    for rel in _shard_files(root, prefix):
        if rel not in keep:
            root.fs.rm_file(root.full(_join(prefix, rel)))
            removed.append(rel)
    if root.is_local:
        base = Path(root.full(prefix.strip("/")) if prefix.strip("/") else root.root)
        for d in sorted(base.iterdir()):
            if d.is_dir() and not d.name.startswith(TMP_PREFIX) and not any(d.iterdir()):
                d.rmdir()
    return removed


def build_training_shards(
    candidates: Iterable[ShardSample],
    out: DataRoot | str | os.PathLike[str],
    *,
    prefix: str = "",
    rules: ExclusionRules | None = None,
    settings: ShardSettings | None = None,
) -> tuple[Selection, ShardSet]:
    """:func:`select_samples`, then :func:`write_shards` of the kept ones."""
    selection = select_samples(candidates, rules)
    return selection, write_shards(selection.kept, out, prefix=prefix, settings=settings)


# -- catalog tables --------------------------------------------------------------------------
SHARDS_TABLE_REL = "tables/shards/part.parquet"


def write_shard_tables(root: DataRoot, selection: Selection, shard_set: ShardSet) -> dict[str, int]:
    """Write the ``shards``, ``shard_samples`` and ``shard_exclusions`` tables.

    ``shards`` (one row per tar) is unpartitioned: ``tables/shards/part.parquet``. The two
    per-clip tables are partitioned by video like every other table, one partition per
    candidate video (empty where none of its clips is in that table); partitions of videos
    no longer among the candidates are removed.

    Returns:
        Rows written per table.
    """
    import pyarrow.parquet as pq

    samples = shard_set.samples_frame()
    excluded = selection.excluded
    videos = sorted(set(samples["video_id"]) | set(excluded["video_id"]))
    for table, df, schema in (
        ("shard_samples", samples, SAMPLES_SCHEMA),
        ("shard_exclusions", excluded, EXCLUSIONS_SCHEMA),
    ):
        for vid in videos:
            part = df[df["video_id"] == vid].drop(columns=["video_id"])
            root.write_table(table, vid, part[schema.names].reset_index(drop=True), schema=schema)
        for stale in set(root.table_partitions(table)) - set(videos):
            root.remove_tree(root.rel("tables", table, f"video_id={stale}"))
    arrow = pa.Table.from_pandas(
        shard_set.manifest.shards_frame(), schema=SHARDS_SCHEMA, preserve_index=False
    )
    with root.atomic_file(SHARDS_TABLE_REL) as tmp:
        pq.write_table(arrow, tmp, compression="zstd")
    return {
        "shards": len(shard_set.manifest.shards),
        "shard_samples": len(samples),
        "shard_exclusions": len(excluded),
    }


# -- reading and verifying -------------------------------------------------------------------
def read_manifest(shard_root: str | os.PathLike[str] | DataRoot, prefix: str = "") -> ShardManifest:
    """Read ``manifest.json`` at the shard root.

    Raises:
        ShardError: it is missing or not a shard manifest.
    """
    root = _as_root(shard_root)
    rel = _join(prefix, MANIFEST_FILE)
    if not root.exists(rel):
        raise ShardError(
            root.full(rel), "no shard manifest (is this a shard root written by write_shards?)"
        )
    try:
        return ShardManifest.from_json(json.loads(root.read_bytes(rel)))
    except (ValueError, KeyError, TypeError) as exc:
        raise ShardError(root.full(rel), f"is not a readable shard manifest ({exc})") from None


@dataclass(frozen=True)
class ShardProblem:
    """One thing wrong with a shard.

    Attributes:
        shard: The shard's path under the shard root.
        kind: ``missing``, ``size``, ``sha256``, ``unreadable``, ``keys``, ``member``,
            ``facts`` or ``unlisted``.
        detail: What is wrong, in words.
    """

    shard: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.shard}: {self.kind}: {self.detail}"


@dataclass
class VerifyResult:
    """What :func:`verify_shards` found."""

    root: str
    shards: int
    samples: int
    bytes_read: int
    problems: list[ShardProblem]
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root, "ok": self.ok, "shards": self.shards, "samples": self.samples,
            "bytes_read": self.bytes_read, "elapsed_s": round(self.elapsed_s, 3),
            "problems": [asdict(p) for p in self.problems],
        }  # fmt: skip


class _HashingReader:
    """A read-only file wrapper hashing what passes, so a tar is parsed and hashed in one pass."""

    def __init__(self, fh: Any):
        self.fh = fh
        self.sha = hashlib.sha256()
        self.bytes = 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.sha.update(data)
        self.bytes += len(data)
        return data

    def drain(self) -> None:
        while self.read(_COPY_CHUNK):
            pass


def _check_members(path: str, key: str, members: dict[str, bytes]) -> list[ShardProblem]:
    problems: list[ShardProblem] = []
    clips = [m for m in CLIP_MEMBERS if m in members]
    if len(clips) > 1:
        return [ShardProblem(path, "member", f"sample {key} has two clips ({', '.join(clips)})")]
    missing = [m for m in REQUIRED_MEMBERS if m not in members] + (
        [] if clips else ["mp4 (or .mkv)"]
    )
    if missing:
        return [
            ShardProblem(
                path, "member", f"sample {key} lacks {', '.join(f'{key}.{m}' for m in missing)}"
            )
        ]
    try:
        facts = json.loads(members["json"])
        words = json.loads(members["words.json"])
    except ValueError as exc:
        return [ShardProblem(path, "facts", f"sample {key}: unreadable JSON ({exc})")]
    if facts.get("key") != key:
        problems.append(
            ShardProblem(path, "facts", f"sample {key}: facts name key {facts.get('key')!r}")
        )
    if not isinstance(words, list):
        problems.append(ShardProblem(path, "facts", f"sample {key}: words are not a list"))
    clip = clips[0]
    at, magic = CLIP_MAGIC[clip]
    if members[clip][at : at + len(magic)] != magic:
        what = "an ftyp box" if clip == "mp4" else "an EBML header"
        problems.append(
            ShardProblem(path, "member", f"sample {key}: {key}.{clip} does not start with {what}")
        )
    shape = facts.get("token_shape")
    if shape is not None and TOKENS_MEMBER not in members:
        problems.append(ShardProblem(path, "member", f"sample {key} lacks {key}.{TOKENS_MEMBER}"))
    elif TOKENS_MEMBER in members:
        try:
            ids = np.load(io.BytesIO(members[TOKENS_MEMBER]), allow_pickle=False)
            if list(ids.shape) != shape or ids.dtype != np.int32:
                problems.append(
                    ShardProblem(
                        path,
                        "member",
                        f"sample {key}: tokens {ids.dtype} {ids.shape} != facts {shape}",
                    )
                )
        except ValueError as exc:
            problems.append(
                ShardProblem(path, "member", f"sample {key}: unreadable tokens ({exc})")
            )
    return problems


def _verify_one(root: DataRoot, rel: str, info: ShardInfo) -> tuple[list[ShardProblem], int, int]:
    """Problems of one shard, bytes read and samples seen."""
    if not root.exists(rel):
        return [ShardProblem(info.path, "missing", f"{root.full(rel)} does not exist")], 0, 0
    problems: list[ShardProblem] = []
    keys: list[str] = []
    groups: dict[str, dict[str, bytes]] = {}
    with root.fs.open(root.full(rel), "rb") as fh:
        reader = _HashingReader(fh)
        try:
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for ti in tar:
                    if not ti.isreg():
                        continue
                    key, _, suffix = ti.name.partition(".")
                    extracted = tar.extractfile(ti)
                    data = extracted.read() if extracted is not None else b""
                    if len(data) != ti.size:
                        raise tarfile.ReadError(f"member {ti.name} is cut short")
                    if key not in groups:
                        if key in keys:
                            problems.append(
                                ShardProblem(info.path, "keys", f"sample {key} is split in two")
                            )
                        keys.append(key)
                        groups[key] = {}
                    if suffix in groups[key]:
                        problems.append(
                            ShardProblem(info.path, "member", f"{ti.name} appears twice")
                        )
                    groups[key][suffix] = data
        except (tarfile.TarError, EOFError, OSError) as exc:
            problems.append(
                ShardProblem(info.path, "unreadable", f"tar cannot be read to the end ({exc})")
            )
        reader.drain()
    if reader.bytes != info.bytes:
        problems.append(
            ShardProblem(info.path, "size", f"{reader.bytes} bytes, manifest says {info.bytes}")
        )
    if reader.sha.hexdigest() != info.sha256:
        problems.append(
            ShardProblem(info.path, "sha256", f"{reader.sha.hexdigest()} != manifest {info.sha256}")
        )
    if len(keys) != info.n_samples:
        problems.append(
            ShardProblem(info.path, "keys", f"{len(keys)} samples, manifest says {info.n_samples}")
        )
    if keys != list(info.keys):
        missing = sorted(set(info.keys) - set(keys))
        extra = sorted(set(keys) - set(info.keys))
        detail = "sample keys differ from the manifest"
        detail += f"; missing {missing[:5]}" if missing else ""
        detail += f"; not listed {extra[:5]}" if extra else ""
        if not missing and not extra:
            detail += " (order)"
        problems.append(ShardProblem(info.path, "keys", detail))
    for key in keys:
        problems += _check_members(info.path, key, groups[key])
    return problems, reader.bytes, len(keys)


def verify_shards(
    shard_root: str | os.PathLike[str] | DataRoot,
    manifest: ShardManifest | pd.DataFrame | Sequence[ShardInfo],
    *,
    prefix: str = "",
    check_unlisted: bool = True,
) -> VerifyResult:
    """Re-read every shard against the manifest.

    Each shard is read once, hashing the bytes while the tar is parsed: size, sha256,
    sample count and keys (in order), every sample's members (facts, words, clip header,
    tokens matching the facts' shape) and that the tar reads to its end (a truncated
    shard fails here and in size and hash).

    Args:
        shard_root: The shard root (or the data root with ``prefix``).
        manifest: The manifest, the ``shards`` table, or its rows.
        prefix: Folder of the shard root under ``shard_root``.
        check_unlisted: Also report tar files under the root that the manifest omits.
    """
    t0 = time.perf_counter()
    root = _as_root(shard_root)
    if isinstance(manifest, ShardManifest):
        infos = list(manifest.shards)
    elif isinstance(manifest, pd.DataFrame):
        infos = [_info_from_row(r) for r in manifest.to_dict("records")]
    else:
        infos = list(manifest)
    problems: list[ShardProblem] = []
    total = samples = 0
    for info in infos:
        p, nbytes, nsamples = _verify_one(root, _join(prefix, info.path), info)
        problems += p
        total += nbytes
        samples += nsamples
    if check_unlisted:
        listed = {i.path for i in infos}
        problems += [
            ShardProblem(rel, "unlisted", "tar file under the shard root is not in the manifest")
            for rel in _shard_files(root, prefix)
            if rel not in listed
        ]
    base = root.full(prefix.strip("/")) if prefix.strip("/") else root.url
    return VerifyResult(base, len(infos), samples, total, problems, time.perf_counter() - t0)


def _info_from_row(row: Mapping[str, Any]) -> ShardInfo:
    keys = row["keys"]
    return ShardInfo(
        path=str(row.get("shard", row.get("path"))), bucket=str(row["bucket"]), width=int(row["width"]),
        height=int(row["height"]), aspect=str(row["aspect"]), frames_lo=int(row["frames_lo"]),
        frames_hi=int(row["frames_hi"]), n_samples=int(row["n_samples"]),
        keys=tuple(str(k) for k in (keys.tolist() if hasattr(keys, "tolist") else keys)),
        bytes=int(row["bytes"]), sha256=str(row["sha256"]),
    )  # fmt: skip


def verify_dir(path: str | os.PathLike[str]) -> VerifyResult:
    """Verify the shard root ``path`` against its own ``manifest.json`` (the CLI's check).

    Raises:
        ShardError: ``manifest.json`` is missing or unreadable.
    """
    root = DataRoot(path)
    return verify_shards(root, read_manifest(root))


__all__ = [
    "EXCLUSIONS_SCHEMA",
    "MANIFEST_FILE",
    "REASONS",
    "SAMPLES_SCHEMA",
    "SHARDS_SCHEMA",
    "SHARDS_TABLE_REL",
    "Bucket",
    "ExclusionRules",
    "SampleInfo",
    "Selection",
    "ShardError",
    "ShardInfo",
    "Member",
    "PendingSample",
    "ShardManifest",
    "ShardPlan",
    "ShardProblem",
    "ShardSample",
    "ShardSet",
    "ShardSettings",
    "ShardWriter",
    "VerifyResult",
    "aspect_label",
    "bucket_of",
    "build_training_shards",
    "candidates_from_tables",
    "frame_window",
    "pack_samples",
    "pending_sample",
    "plan_shards",
    "read_manifest",
    "read_token_file",
    "remove_unlisted",
    "samples_frame",
    "sample_digest",
    "select_samples",
    "shard_index",
    "shard_path",
    "token_rel",
    "verify_dir",
    "verify_shards",
    "write_manifest",
    "write_shard_tables",
    "write_shards",
]
