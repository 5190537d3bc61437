"""Keeping a shard root current as videos come, change and go, without rewriting the rest.

:func:`video_assets.shards.write.write_shards` packs a list of samples from scratch. A corpus that
grows one video at a time needs the opposite: adding a video must cost the same at the
thousandth video as at the first, and a reader must never see a shard change under a name
it was given. :func:`refresh_shards` does that from the catalog tables of a data root:

1. Every video's catalog partitions (``clips``, ``videos``, ``tokens``, ``words``,
   ``segments``, ``clip_motion``, ``transcripts``) are stamped by content. Only videos whose stamp differs from the one in
   the manifest are judged again (all of them when the exclusion rules or the settings
   changed); nothing else is read.
2. The judged videos' kept samples are compared, by digest, with their rows in the
   catalog's ``shard_samples`` table (those in shards the manifest lists; the manifest
   itself holds only keys per sample). An unchanged sample stays where it is. A new
   sample, or one that moved to another bucket, goes into **new** shards of its bucket. A
   shard holding a changed or removed sample is rewritten under a new name (its other
   samples copied from the old tar as they are); no other shard is touched.
3. The catalog tables of the videos concerned are written, then ``manifest.json`` is
   replaced in one rename (the commit point), then tars the manifest no longer lists are
   deleted.

Shard indices only grow (``next_index`` in the manifest), so a name never stands for two
contents: a reader holding the old manifest reads old shards, one holding the new manifest
reads new ones. Packing is deterministic, so the same sequence of updates gives the same
names and bytes, and a first refresh of a fresh root gives what :func:`write_shards` gives.
New shards of a small update are small; :func:`video_assets.shards.compact.compact_shards`
merges the small shards of each bucket when asked. What changed is told by
:mod:`video_assets.shards.stamps`.
"""

from __future__ import annotations

import heapq
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from video_assets.shards.candidates import candidates_from_tables
from video_assets.shards.manifest import (
    SampleInfo,
    ShardInfo,
    ShardManifest,
    join_prefix,
    read_manifest,
    shard_root_url,
    write_manifest,
)
from video_assets.shards.plan import Bucket, bucket_of
from video_assets.shards.sample import ShardSample
from video_assets.shards.schema import MANIFEST_FILE
from video_assets.shards.selection import Selection, select_samples
from video_assets.shards.settings import ExclusionRules, ShardSettings
from video_assets.shards.stamps import InputStamps, config_stamp, input_stamps
from video_assets.shards.stored import shard_bucket, stored_samples
from video_assets.shards.tables import update_shard_tables
from video_assets.shards.tar import PendingSample, pack_samples, pending_sample, sample_digest
from video_assets.shards.transcripts import doubtful_transcripts
from video_assets.shards.write import remove_unlisted
from video_assets.store import DataRoot


# -- results ---------------------------------------------------------------------------------
@dataclass
class ShardRefresh:
    """What :func:`refresh_shards` or :func:`~video_assets.shards.compact.compact_shards` did.

    Attributes:
        root: URL of the shard root.
        manifest: The manifest now in place.
        judged: Videos whose clips were judged again (their inputs changed, or the rules).
        removed_videos: Videos that no longer have clips, taken out of the shards.
        selection: Kept and excluded clips of the judged videos.
        written: Shards written (new names only).
        samples: Where the samples of the shards written went.
        removed: Shards no longer listed, deleted after the manifest was replaced.
        elapsed_s: Wall time.
    """

    root: str
    manifest: ShardManifest
    judged: list[str] = field(default_factory=list)
    removed_videos: list[str] = field(default_factory=list)
    selection: Selection | None = None
    written: list[ShardInfo] = field(default_factory=list)
    samples: list[SampleInfo] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def bytes_written(self) -> int:
        """Bytes of the shards written (the manifest and tables not counted)."""
        return sum(s.bytes for s in self.written)

    @property
    def changed(self) -> bool:
        return bool(self.judged or self.removed_videos or self.written or self.removed)

    def metadata(self) -> dict[str, Any]:
        """Flat facts for asset metadata."""
        shards = self.manifest.shards
        written = {s.path for s in self.written}
        return {
            "shards": len(shards),
            "samples": self.manifest.n_samples,
            "buckets": len({s.bucket for s in shards}),
            "bytes": sum(s.bytes for s in shards),
            "largest_shard_bytes": max((s.bytes for s in shards), default=0),
            "videos_judged": len(self.judged),
            "videos_removed": len(self.removed_videos),
            "shards_written": len(self.written),
            "bytes_written": self.bytes_written,
            "shards_unchanged": sum(1 for s in shards if s.path not in written),
            "shards_removed": len(self.removed),
            "elapsed_s": round(self.elapsed_s, 3),
        }


# -- the catalog's rows ----------------------------------------------------------------------
def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _listed_rows(root: DataRoot, manifest: ShardManifest | None, video: str) -> list[SampleInfo]:
    """The video's ``shard_samples`` rows that ``manifest`` lists.

    Rows of a run that died before replacing the manifest name shards nobody lists (new
    names only), so they are left out; rows written before digests existed get ``""``.
    """
    if manifest is None or not root.exists(root.table_rel("shard_samples", video)):
        return []
    listed = {s.path: set(s.keys) for s in manifest.shards}
    names = [f for f in SampleInfo.__dataclass_fields__ if f != "video_id"]
    out = []
    for r in root.read_table("shard_samples", video).to_dict("records"):
        if r["clip_id"] not in listed.get(r["shard"], ()):
            continue
        values = {n: _plain(r.get(n)) for n in names}
        if not isinstance(values.get("digest"), str):
            values["digest"] = ""
        out.append(SampleInfo(video_id=video, **values))
    return out


# -- writing ---------------------------------------------------------------------------------
def assemble_manifest(
    base: ShardManifest | None,
    settings: ShardSettings,
    dropped: set[str],
    added: list[tuple[ShardInfo, list[SampleInfo]]],
    next_index: Mapping[str, int],
    inputs: Mapping[str, str],
    inputs_config: str,
) -> ShardManifest:
    """``base`` without the shards ``dropped``, with the shards ``added``, sorted by path."""
    shards = [s for s in (base.shards if base else []) if s.path not in dropped]
    shards += [info for info, _ in added]
    return ShardManifest(
        shards=sorted(shards, key=lambda s: s.path),
        settings=settings,
        next_index=dict(next_index),
        inputs=dict(inputs),
        inputs_config=inputs_config,
    )


def rows_now(
    root: DataRoot,
    base: ShardManifest | None,
    videos: Iterable[str],
    known: Mapping[str, list[SampleInfo]],
    dropped: set[str],
    added: list[tuple[ShardInfo, list[SampleInfo]]],
) -> dict[str, list[SampleInfo]]:
    """Per video, its rows after an update: those in shards still listed, then the new ones."""
    new: dict[str, list[SampleInfo]] = defaultdict(list)
    for _, samples in added:
        for r in samples:
            new[r.video_id].append(r)
    out = {}
    for vid in videos:
        old = known[vid] if vid in known else _listed_rows(root, base, vid)
        out[vid] = [r for r in old if r.shard not in dropped] + new.get(vid, [])
    return out


def sweep(root: DataRoot, prefix: str, manifest: ShardManifest) -> list[str]:
    """Delete tars the manifest does not list (superseded, or left by a run that died)."""
    return remove_unlisted(root, prefix, {s.path for s in manifest.shards})


# -- refresh ---------------------------------------------------------------------------------
def _read(
    root: DataRoot, table: str, vids: Iterable[str], present: set[str]
) -> pd.DataFrame | None:
    parts = [root.read_table(table, v) for v in vids if v in present]
    return pd.concat(parts, ignore_index=True) if parts else None


def _judge(
    root: DataRoot,
    videos: list[str],
    stamps: InputStamps,
    rules: ExclusionRules,
    stage_dir: str | os.PathLike[str] | None,
) -> Selection:
    """Candidates of ``videos`` from their catalog partitions only, and the exclusion rules."""
    present = stamps.present
    clips = _read(root, "clips", videos, present["clips"])
    if clips is None:
        return select_samples([], rules)
    vids = _read(root, "videos", videos, present["videos"])
    if vids is None:
        vids = pd.DataFrame(columns=["video_id", "width", "height", "fps"])
    # As the token stage writes them: with no tokens table anywhere, token files are found
    # by their layout; otherwise a clip without a tokens row has no tokens.
    tokens = _read(root, "tokens", videos, present["tokens"])
    if tokens is None and present["tokens"]:
        tokens = pd.DataFrame(columns=["video_id", "clip_id", "path"])
    words = _read(root, "words", videos, present["words"])
    segments = _read(root, "segments", videos, present["segments"])
    doubtful = (
        doubtful_transcripts(
            words,
            segments,
            _read(root, "transcripts", videos, present["transcripts"]),
            rules.doubtful_transcripts,
        )
        if rules.doubtful_transcripts is not None
        else {}
    )
    candidates = candidates_from_tables(
        root,
        clips,
        vids,
        words,
        segments,
        tokens=tokens,
        doubtful=doubtful,
        stage_dir=stage_dir,
        # Static clips and slideshows are judged where clip_motion has rows; without
        # them (motion not measured yet) nothing is left out for motion.
        motion=_read(root, "clip_motion", videos, present["clip_motion"]),
    )
    return select_samples(candidates, rules)


@dataclass
class _Changes:
    """What an update moves.

    Attributes:
        dirty: Per shard to rewrite, the changed samples staying in its bucket.
        left: Keys that leave their shard (removed, changed or moved).
        appended: Per bucket, new samples and samples that moved into it.
    """

    dirty: dict[str, list[PendingSample]] = field(default_factory=dict)
    left: set[str] = field(default_factory=set)
    appended: dict[Bucket, list[PendingSample]] = field(default_factory=lambda: defaultdict(list))


def _changes(
    rows: Mapping[str, SampleInfo], kept: Iterable[ShardSample], settings: ShardSettings
) -> _Changes:
    """Compare the kept samples, by digest, with where their clips are now (``rows``)."""
    by_key: dict[str, tuple[ShardSample, Bucket]] = {
        s.key: (s, bucket_of(s.width, s.height, s.frame_count, settings)) for s in kept
    }
    out = _Changes()
    placed: set[str] = set()
    for key, row in rows.items():
        if key not in by_key:
            out.left.add(key)
            out.dirty.setdefault(row.shard, [])
            continue
        sample, bucket = by_key[key]
        pending = pending_sample(sample, bucket)
        placed.add(key)
        if sample_digest(pending) == row.digest:
            continue
        out.left.add(key)
        out.dirty.setdefault(row.shard, [])
        if bucket.name == row.bucket:
            out.dirty[row.shard].append(pending)
        else:
            out.appended[bucket].append(pending)
    for key, (sample, bucket) in by_key.items():
        if key not in placed:
            out.appended[bucket].append(pending_sample(sample, bucket))
    return out


def _pack_changes(
    root: DataRoot,
    prefix: str,
    changes: _Changes,
    old: ShardManifest | None,
    previous: ShardManifest | None,
    settings: ShardSettings,
) -> tuple[dict[str, int], list[tuple[ShardInfo, list[SampleInfo]]]]:
    """Rewrite the dirty shards and pack the appended samples, all under new names.

    Returns:
        The shard counters after the update, and the shards written with their samples.
    """
    counters: dict[str, int] = dict(old.next_index) if old else {}

    def first_index(bucket: str) -> int:
        return max(counters.get(bucket, 0), old.next_shard_index(bucket) if old else 0)

    added: list[tuple[ShardInfo, list[SampleInfo]]] = []
    shard_infos = {s.path: s for s in previous.shards} if previous else {}
    for path in sorted(changes.dirty):
        info = shard_infos[path]
        keep = {k for k in info.keys if k not in changes.left}
        streams: list[Iterable[PendingSample]] = [sorted(changes.dirty[path], key=lambda p: p.key)]
        if keep:
            streams.append(stored_samples(root, prefix, info, keep))
        start = first_index(info.bucket)
        out = pack_samples(
            root, prefix, shard_bucket(info), heapq.merge(*streams, key=lambda p: p.key),
            settings, start,
        )  # fmt: skip
        counters[info.bucket] = start + len(out)
        added += out
    for bucket in sorted(changes.appended, key=lambda b: b.name):
        start = first_index(bucket.name)
        out = pack_samples(
            root, prefix, bucket, sorted(changes.appended[bucket], key=lambda p: p.key),
            settings, start,
        )  # fmt: skip
        counters[bucket.name] = start + len(out)
        added += out
    return counters, added


def refresh_shards(
    root: DataRoot,
    *,
    prefix: str = "shards",
    rules: ExclusionRules | None = None,
    settings: ShardSettings | None = None,
    stage_dir: str | os.PathLike[str] | None = None,
) -> ShardRefresh:
    """Bring the shards under ``prefix`` up to date with the catalog tables of ``root``.

    See the module docstring: only videos whose catalog rows changed are judged; their new
    and changed samples go into new shards; a shard is rewritten (under a new name) only when
    one of its samples changed or left; the tables of the videos concerned are written;
    ``manifest.json`` is replaced last. With nothing changed nothing is written.

    Args:
        root: The data root (tables, clips, tokens, shards).
        prefix: Folder of the shard root under ``root``.
        rules: Exclusion rules (``checkpoint_hash`` included).
        settings: Packing settings; a change repacks every sample under new names.
        stage_dir: A local folder; required for an object-store root (clips and token files
            of the judged videos are downloaded there).

    Raises:
        ShardError: a clip's video is missing from the ``videos`` table, an input file
            changed while it was written, or a shard to rewrite differs from its manifest.
        ValueError: two clips share a key.
    """
    t0 = time.perf_counter()
    rules = rules or ExclusionRules()
    settings = settings or ShardSettings()
    old = read_manifest(root, prefix) if root.exists(join_prefix(prefix, MANIFEST_FILE)) else None
    stamps = input_stamps(root)
    config = config_stamp(rules, settings)
    same_settings = old is not None and old.settings == settings
    same_config = same_settings and old is not None and old.inputs_config == config
    listed = (
        (set(old.inputs) if old else set())
        | set(root.table_partitions("shard_samples"))
        | set(root.table_partitions("shard_exclusions"))
    )
    removed_videos = sorted(listed - set(stamps.videos))
    judged = sorted(
        v
        for v, stamp in stamps.videos.items()
        if not same_config or old is None or old.inputs.get(v) != stamp
    )
    base = shard_root_url(root, prefix)
    if old is not None and same_config and not judged and not removed_videos:
        swept = sweep(root, prefix, old)
        return ShardRefresh(base, old, removed=swept, elapsed_s=time.perf_counter() - t0)

    selection = _judge(root, judged, stamps, rules, stage_dir)
    # Where the videos concerned are in the shards now (the catalog's rows that the
    # manifest lists), against what they hold now. With other settings nothing is kept.
    previous = old if same_settings else None
    concerned = sorted(set(judged) | set(removed_videos))
    known = {v: _listed_rows(root, previous, v) for v in concerned}
    changes = _changes(
        {r.clip_id: r for v in concerned for r in known[v]}, selection.kept, settings
    )
    counters, added = _pack_changes(root, prefix, changes, old, previous, settings)
    # With other settings every old shard goes; otherwise only those rewritten.
    dropped = set(changes.dirty) if same_settings else {s.path for s in (old.shards if old else [])}
    manifest = assemble_manifest(
        previous, settings, dropped, added, counters, stamps.videos, config
    )
    moved = {r.video_id for _, samples in added for r in samples}
    videos = (set(judged) | moved) - set(removed_videos)
    update_shard_tables(
        root,
        manifest,
        samples=rows_now(root, previous, videos, known, dropped, added),
        selection=selection,
        judged=judged,
        removed_videos=removed_videos,
    )
    write_manifest(root, prefix, manifest)
    swept = sweep(root, prefix, manifest)
    return ShardRefresh(
        base,
        manifest,
        judged=judged,
        removed_videos=removed_videos,
        selection=selection,
        written=[info for info, _ in added],
        samples=[r for _, samples in added for r in samples],
        removed=swept,
        elapsed_s=time.perf_counter() - t0,
    )
