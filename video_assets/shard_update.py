"""Keeping a shard root current as videos come, change and go, without rewriting the rest.

:func:`video_assets.shards.write_shards` packs a list of samples from scratch. A corpus that
grows one video at a time needs the opposite: adding a video must cost the same at the
thousandth video as at the first, and a reader must never see a shard change under a name
it was given. :func:`refresh_shards` does that from the catalog tables of a data root:

1. Every video's catalog partitions (``clips``, ``videos``, ``tokens``, ``words``,
   ``segments``, ``clip_motion``) are stamped by content. Only videos whose stamp differs from the one in
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
New shards of a small update are small; :func:`compact_shards` merges the small shards of
each bucket when asked.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import os
import tarfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from video_assets.shards import (  # the tar helpers are private to the two shard modules
    EXCLUSIONS_SCHEMA,
    MANIFEST_FILE,
    SAMPLES_SCHEMA,
    SHARD_FORMAT_VERSION,
    SHARDS_SCHEMA,
    SHARDS_TABLE_REL,
    TOKENS_MEMBER,
    Bucket,
    ExclusionRules,
    PendingSample,
    SampleInfo,
    Selection,
    ShardError,
    ShardInfo,
    ShardManifest,
    ShardSample,
    ShardSettings,
    _HashingReader,
    _join,
    _member_bytes,
    bucket_of,
    candidates_from_tables,
    pack_samples,
    pending_sample,
    read_manifest,
    remove_unlisted,
    sample_digest,
    samples_frame,
    select_samples,
    write_manifest,
)
from video_assets.store import DataRoot

INPUT_TABLES = ("videos", "clips", "tokens", "words", "segments", "clip_motion")
"""Catalog tables a video's samples are built from; a change in any of them re-judges it."""
_COPY_CHUNK = 1 << 20


# -- what changed ----------------------------------------------------------------------------
@dataclass(frozen=True)
class InputStamps:
    """Content stamps of every video's catalog partitions.

    Attributes:
        videos: Per video with a ``clips`` partition, one stamp over all its input tables.
        present: Per input table, the videos that have a partition of it.
    """

    videos: dict[str, str]
    present: dict[str, set[str]]


def _partition_fingerprints(root: DataRoot, table: str) -> dict[str, str]:
    """Per video, a fingerprint of ``tables/<table>/video_id=<id>/part.parquet``.

    Locally the SHA-256 of the file (a few KB per video: cheap, and equal for equal
    content, so a partition rewritten with the same rows counts as unchanged). On an object
    store the listing's ETag (or size and time) from one listing of the table's prefix.
    """
    rel = root.rel("tables", table)
    out: dict[str, str] = {}
    if root.is_local:
        base = root.local_path(rel)
        if not base.is_dir():
            return out
        with os.scandir(base) as entries:
            for entry in entries:
                if not entry.name.startswith("video_id="):
                    continue
                try:
                    data = Path(entry.path, "part.parquet").read_bytes()
                except (FileNotFoundError, NotADirectoryError):
                    continue
                out[entry.name.split("=", 1)[1]] = hashlib.sha256(data).hexdigest()
        return out
    full = root.full(rel)
    if not root.fs.exists(full):
        return out
    for path, info in root.fs.find(full, detail=True).items():
        parts = str(path).rstrip("/").split("/")
        if len(parts) < 2 or parts[-1] != "part.parquet" or not parts[-2].startswith("video_id="):
            continue
        tag = info.get("ETag") or info.get("etag")
        if not tag:
            tag = f"{info.get('size')}:{info.get('LastModified') or info.get('mtime')}"
        out[parts[-2].split("=", 1)[1]] = str(tag).strip('"')
    return out


def input_stamps(root: DataRoot) -> InputStamps:
    """Stamp every video that has clips (see :data:`INPUT_TABLES`)."""
    per_table = {t: _partition_fingerprints(root, t) for t in INPUT_TABLES}
    videos: dict[str, str] = {}
    for vid in sorted(per_table["clips"]):
        sha = hashlib.sha256()
        for t in INPUT_TABLES:
            sha.update(f"{t}={per_table[t].get(vid, '-')};".encode())
        videos[vid] = sha.hexdigest()[:32]
    return InputStamps(videos=videos, present={t: set(v) for t, v in per_table.items()})


def config_stamp(rules: ExclusionRules, settings: ShardSettings) -> str:
    """A stamp of what every sample is judged and packed with; a change re-judges every video."""
    text = json.dumps(
        {"format": SHARD_FORMAT_VERSION, "rules": asdict(rules), "settings": asdict(settings)},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# -- results ---------------------------------------------------------------------------------
@dataclass
class ShardRefresh:
    """What :func:`refresh_shards` or :func:`compact_shards` did.

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


# -- reading samples back out of a shard -----------------------------------------------------
def _bucket(info: ShardInfo) -> Bucket:
    return Bucket(
        name=info.bucket, width=info.width, height=info.height, aspect=info.aspect,
        frames_lo=info.frames_lo, frames_hi=info.frames_hi,
    )  # fmt: skip


def _shard_samples(
    root: DataRoot, prefix: str, info: ShardInfo, keep: set[str]
) -> Iterator[PendingSample]:
    """The samples ``keep`` of a listed shard, their members as stored (bytes unchanged).

    The whole tar is read and hashed; a shard that differs from its manifest entry raises
    :class:`ShardError` (after its last sample), so a damaged shard is never copied into a
    new one that gets published.
    """
    rel = _join(prefix, info.path)
    if not root.exists(rel):
        raise ShardError(
            root.full(rel),
            "listed in the manifest but missing: cannot copy its samples into a new shard "
            "(remove manifest.json to repack every shard from the clips)",
        )
    with root.open(rel) as fh:
        reader = _HashingReader(fh)
        key: str | None = None
        members: list[tuple[str, bytes]] = []
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            for ti in tar:
                if not ti.isreg():
                    continue
                k, _, suffix = ti.name.partition(".")
                if k != key:
                    if key is not None and key in keep:
                        yield _stored(key, members)
                    key, members = k, []
                if k in keep:
                    extracted = tar.extractfile(ti)
                    members.append((suffix, extracted.read() if extracted is not None else b""))
            if key is not None and key in keep:
                yield _stored(key, members)
        while reader.read(_COPY_CHUNK):
            pass
    if reader.bytes != info.bytes or reader.sha.hexdigest() != info.sha256:
        raise ShardError(
            root.full(rel),
            f"{reader.bytes} bytes with sha256 {reader.sha.hexdigest()[:12]}, the manifest says "
            f"{info.bytes} and {info.sha256[:12]}: the shard changed since it was written "
            "(`video-assets shards verify`)",
        )


def _stored(key: str, members: list[tuple[str, bytes]]) -> PendingSample:
    """A sample read from a shard, its manifest row rebuilt from its facts member."""
    frozen = list(members)
    by_suffix = dict(frozen)
    facts = json.loads(by_suffix["json"])
    sizes = tuple(len(d) for _, d in frozen)
    info = SampleInfo(
        clip_id=key, video_id=str(facts["video_id"]), shard="", bucket=str(facts["bucket"]),
        position=0, bytes=sum(_member_bytes(n) for n in sizes), frame_count=int(facts["frame_count"]),
        duration_s=float(facts["duration_s"]), has_tokens=TOKENS_MEMBER in by_suffix,
        n_words=int(facts["n_words"]),
    )  # fmt: skip
    return PendingSample(key=key, sizes=sizes, info=info, load=lambda: list(frozen))


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
def _assemble(
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


def _write_tables(
    root: DataRoot,
    manifest: ShardManifest,
    *,
    samples: Mapping[str, list[SampleInfo]],
    selection: Selection | None,
    judged: Iterable[str],
    removed_videos: Iterable[str],
) -> None:
    """The catalog tables of the videos concerned, and the (small) ``shards`` table.

    ``samples`` holds, per video whose rows change, every row it has now.
    """
    import pyarrow.parquet as pq

    for vid in sorted(samples):
        rows = sorted(samples[vid], key=lambda r: (r.shard, r.position))
        part = samples_frame(rows)[SAMPLES_SCHEMA.names]
        root.write_table("shard_samples", vid, part, schema=SAMPLES_SCHEMA)
    excluded = (
        selection.excluded
        if selection is not None
        else pd.DataFrame(columns=["video_id", *EXCLUSIONS_SCHEMA.names])
    )
    for vid in sorted(set(judged)):
        part = excluded[excluded["video_id"] == vid][EXCLUSIONS_SCHEMA.names]
        root.write_table(
            "shard_exclusions", vid, part.reset_index(drop=True), schema=EXCLUSIONS_SCHEMA
        )
    for vid in sorted(set(removed_videos)):
        for table in ("shard_samples", "shard_exclusions"):
            root.remove_tree(root.rel("tables", table, f"video_id={vid}"))
    arrow = pa.Table.from_pandas(
        manifest.shards_frame(), schema=SHARDS_SCHEMA, preserve_index=False
    )
    with root.atomic_file(SHARDS_TABLE_REL) as tmp:
        pq.write_table(arrow, tmp, compression="zstd")


def _rows_now(
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


def _sweep(root: DataRoot, prefix: str, manifest: ShardManifest) -> list[str]:
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
    candidates = candidates_from_tables(
        root,
        clips,
        vids,
        _read(root, "words", videos, present["words"]),
        _read(root, "segments", videos, present["segments"]),
        tokens=tokens,
        stage_dir=stage_dir,
        # Static clips and slideshows are judged where clip_motion has rows; without
        # them (motion not measured yet) nothing is left out for motion.
        motion=_read(root, "clip_motion", videos, present["clip_motion"]),
    )
    return select_samples(candidates, rules)


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
    old = read_manifest(root, prefix) if root.exists(_join(prefix, MANIFEST_FILE)) else None
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
    base = root.full(prefix.strip("/")) if prefix.strip("/") else root.url
    if old is not None and same_config and not judged and not removed_videos:
        swept = _sweep(root, prefix, old)
        return ShardRefresh(base, old, removed=swept, elapsed_s=time.perf_counter() - t0)

    selection = _judge(root, judged, stamps, rules, stage_dir)
    # Where the videos concerned are in the shards now (the catalog's rows that the
    # manifest lists), against what they hold now. With other settings nothing is kept.
    previous = old if same_settings else None
    concerned = sorted(set(judged) | set(removed_videos))
    known = {v: _listed_rows(root, previous, v) for v in concerned}
    rows = {r.clip_id: r for v in concerned for r in known[v]}
    kept: dict[str, tuple[ShardSample, Bucket]] = {
        s.key: (s, bucket_of(s.width, s.height, s.frame_count, settings)) for s in selection.kept
    }
    dirty: dict[str, list[PendingSample]] = {}
    left: set[str] = set()  # keys that leave their shard
    placed: set[str] = set()
    appended: dict[Bucket, list[PendingSample]] = defaultdict(list)
    for key, row in rows.items():
        if key not in kept:
            left.add(key)
            dirty.setdefault(row.shard, [])
            continue
        sample, bucket = kept[key]
        pending = pending_sample(sample, bucket)
        placed.add(key)
        if sample_digest(pending) == row.digest:
            continue
        left.add(key)
        dirty.setdefault(row.shard, [])
        if bucket.name == row.bucket:
            dirty[row.shard].append(pending)
        else:
            appended[bucket].append(pending)
    for key, (sample, bucket) in kept.items():
        if key not in placed:
            appended[bucket].append(pending_sample(sample, bucket))

    counters: dict[str, int] = dict(old.next_index) if old else {}

    def first_index(bucket: str) -> int:
        return max(counters.get(bucket, 0), old.next_shard_index(bucket) if old else 0)

    added: list[tuple[ShardInfo, list[SampleInfo]]] = []
    shard_infos = {s.path: s for s in previous.shards} if previous else {}
    for path in sorted(dirty):
        info = shard_infos[path]
        keep = {k for k in info.keys if k not in left}
        streams: list[Iterable[PendingSample]] = [sorted(dirty[path], key=lambda p: p.key)]
        if keep:
            streams.append(_shard_samples(root, prefix, info, keep))
        start = first_index(info.bucket)
        out = pack_samples(
            root, prefix, _bucket(info), heapq.merge(*streams, key=lambda p: p.key),
            settings, start,
        )  # fmt: skip
        counters[info.bucket] = start + len(out)
        added += out
    for bucket in sorted(appended, key=lambda b: b.name):
        start = first_index(bucket.name)
        out = pack_samples(
            root, prefix, bucket, sorted(appended[bucket], key=lambda p: p.key), settings, start
        )
        counters[bucket.name] = start + len(out)
        added += out
    # With other settings every old shard goes; otherwise only those rewritten.
    dropped = set(dirty) if same_settings else {s.path for s in (old.shards if old else [])}
    manifest = _assemble(previous, settings, dropped, added, counters, stamps.videos, config)
    moved = {r.video_id for _, samples in added for r in samples}
    videos = (set(judged) | moved) - set(removed_videos)
    _write_tables(
        root,
        manifest,
        samples=_rows_now(root, previous, videos, known, dropped, added),
        selection=selection,
        judged=judged,
        removed_videos=removed_videos,
    )
    write_manifest(root, prefix, manifest)
    swept = _sweep(root, prefix, manifest)
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


# -- compaction ------------------------------------------------------------------------------
def compact_shards(
    root: DataRoot,
    *,
    prefix: str = "shards",
    min_fill: float = 0.5,
    tables: bool | None = None,
) -> ShardRefresh:
    """Merge each bucket's small shards (under ``min_fill`` of ``target_bytes``) into full ones.

    Samples are copied from the old tars as they are (no clip or token file is read),
    merged in key order and packed as :func:`pack_samples` packs; the merged shards get new
    names, the manifest is replaced, then the old tars are deleted. A bucket is left alone
    unless merging lowers its shard count. Large shards are never touched.

    Args:
        root: The data root (or a shard root with ``prefix=""``).
        prefix: Folder of the shard root under ``root``.
        min_fill: A shard smaller than this share of ``target_bytes`` is small (0 to 1].
        tables: Rewrite the catalog tables of the samples moved (``shard_samples``,
            ``shards``); None: where the root holds the ``shards`` table.

    Raises:
        ShardError: no manifest, or a shard differs from it.
        ValueError: ``min_fill`` out of range.
    """
    if not 0.0 < min_fill <= 1.0:
        raise ValueError(f"min_fill must be in (0, 1], got {min_fill}")
    t0 = time.perf_counter()
    old = read_manifest(root, prefix)
    settings = old.settings
    limit = min_fill * settings.target_bytes
    by_bucket: dict[str, list[ShardInfo]] = defaultdict(list)
    for s in old.shards:
        by_bucket[s.bucket].append(s)
    counters = dict(old.next_index)
    added: list[tuple[ShardInfo, list[SampleInfo]]] = []
    dropped: set[str] = set()
    for bucket in sorted(by_bucket):
        small = [s for s in by_bucket[bucket] if s.bytes < limit]
        total = sum(s.bytes for s in small)
        if len(small) < 2 or math.ceil(total / settings.target_bytes) >= len(small):
            continue
        start = max(counters.get(bucket, 0), old.next_shard_index(bucket))
        streams = [_shard_samples(root, prefix, s, set(s.keys)) for s in small]
        out = pack_samples(
            root, prefix, _bucket(small[0]), heapq.merge(*streams, key=lambda p: p.key),
            settings, start,
        )  # fmt: skip
        counters[bucket] = start + len(out)
        added += out
        dropped |= {s.path for s in small}
    base = root.full(prefix.strip("/")) if prefix.strip("/") else root.url
    if not added:
        return ShardRefresh(base, old, elapsed_s=time.perf_counter() - t0)
    manifest = _assemble(old, settings, dropped, added, counters, old.inputs, old.inputs_config)
    if tables is None:
        tables = root.exists(SHARDS_TABLE_REL)
    if tables:
        moved = {r.video_id for _, samples in added for r in samples}
        _write_tables(
            root,
            manifest,
            samples=_rows_now(root, old, moved, {}, dropped, added),
            selection=None,
            judged=[],
            removed_videos=[],
        )
    write_manifest(root, prefix, manifest)
    swept = _sweep(root, prefix, manifest)
    return ShardRefresh(
        base,
        manifest,
        written=[info for info, _ in added],
        samples=[r for _, samples in added for r in samples],
        removed=swept,
        elapsed_s=time.perf_counter() - t0,
    )


__all__ = [
    "INPUT_TABLES",
    "InputStamps",
    "ShardRefresh",
    "compact_shards",
    "config_stamp",
    "input_stamps",
    "refresh_shards",
]
