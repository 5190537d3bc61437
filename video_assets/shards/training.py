"""The ``training_shards`` stage: keep a data root's shards current, then compact if asked.

One call for the Dagster asset (and any other caller): stage remote files locally, refresh
(:func:`video_assets.shards.update.refresh_shards`), optionally compact, and report.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from typing import Any

import pandas as pd

from video_assets.layout import current_tokenizer, has_tokenizer
from video_assets.shards.compact import compact_shards
from video_assets.shards.manifest import ShardManifest
from video_assets.shards.schema import ShardError
from video_assets.shards.settings import ExclusionRules, ShardSettings
from video_assets.shards.update import ShardRefresh, refresh_shards
from video_assets.store import DataRoot

SHARD_PREFIX = "shards"
"""Folder of the shard root under the data root."""


def current_checkpoint_hash(root: DataRoot) -> str | None:
    """Hash of the tokenizer made current, or None before ``tokenizer_model`` ran."""
    return str(current_tokenizer(root)["hash"]) if has_tokenizer(root) else None


@dataclass
class TrainingShards:
    """What :func:`update_training_shards` did.

    Attributes:
        refresh: The refresh of the shards.
        compacted: The compaction after it, or None when not asked for.
    """

    refresh: ShardRefresh
    compacted: ShardRefresh | None = None

    @property
    def manifest(self) -> ShardManifest:
        """The manifest now in place."""
        return (self.compacted or self.refresh).manifest

    def reasons_frame(self) -> pd.DataFrame:
        """Clips per exclusion reason among the judged videos (``reason``, ``clips``)."""
        selection = self.refresh.selection
        counts = selection.reason_counts() if selection is not None else {}
        return pd.DataFrame(sorted(counts.items()), columns=["reason", "clips"])

    def summary(self) -> str:
        """One line for the run's log."""
        r = self.refresh
        unchanged = r.metadata()["shards_unchanged"]
        return (
            f"{len(r.judged)} videos judged, {len(r.removed_videos)} removed: "
            f"{len(r.written)} shards written ({r.bytes_written} bytes), "
            f"{len(r.removed)} removed, {unchanged} unchanged"
        )

    def metadata(self) -> dict[str, Any]:
        """Flat facts for asset metadata (the refresh's, then the compaction's, then selection)."""
        r = self.refresh
        meta = r.metadata()
        if self.compacted is not None:
            c = self.compacted
            meta |= {
                "shards": len(c.manifest.shards),
                "compacted_into": len(c.written),
                "compacted_shards_removed": len(c.removed),
                "compaction_bytes_written": c.bytes_written,
            }
        judged = ", ".join(r.judged[:20])
        if len(r.judged) > 20:
            judged += f" and {len(r.judged) - 20} more"
        selection = r.selection
        excluded = selection.excluded if selection is not None else None
        return meta | {
            "judged_videos": judged,
            "judged_clips": selection.candidates if selection is not None else 0,
            "excluded_clips_judged": selection.excluded_clips if selection is not None else 0,
            "words_withheld_clips_judged": (
                int(excluded.loc[excluded["reason"] == "doubtful_transcript", "clip_id"].nunique())
                if excluded is not None
                else 0
            ),
        }


def update_training_shards(
    root: DataRoot,
    *,
    prefix: str = SHARD_PREFIX,
    rules: ExclusionRules | None = None,
    settings: ShardSettings | None = None,
    compact_min_fill: float | None = None,
) -> TrainingShards:
    """Bring the shards under ``prefix`` up to date with the catalog; compact when asked.

    On an object store the judged videos' clips and token files are staged in a local
    temporary folder (tar members need their sizes up front), removed at the end.

    Args:
        root: The data root.
        prefix: Folder of the shard root under ``root``.
        rules: Exclusion rules (with the current tokenizer's ``checkpoint_hash``).
        settings: Packing settings.
        compact_min_fill: When set, merge each bucket's shards under this share of
            ``target_bytes`` afterwards (:func:`~video_assets.shards.update.compact_shards`).

    Raises:
        ShardError: no video has clips yet, or as :func:`refresh_shards` raises.
    """
    if not root.table_partitions("clips"):
        raise ShardError(
            root.full("tables/clips"), "no clips yet: materialize clips for at least one video"
        )
    with (
        tempfile.TemporaryDirectory(prefix="va-shards-")
        if not root.is_local
        else contextlib.nullcontext() as stage
    ):
        refresh = refresh_shards(
            root, prefix=prefix, rules=rules, settings=settings, stage_dir=stage
        )
    compacted = (
        compact_shards(root, prefix=prefix, min_fill=compact_min_fill)
        if compact_min_fill is not None
        else None
    )
    return TrainingShards(refresh, compacted)
