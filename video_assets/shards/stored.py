"""Reading samples back out of a written shard, their members as stored (bytes unchanged).

A shard rewritten by an update or merged by compaction copies its other samples this way:
no clip or token file is read, and a shard that differs from its manifest entry is refused.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator

from video_assets.shards.manifest import SampleInfo, ShardInfo, join_prefix
from video_assets.shards.plan import Bucket, member_bytes
from video_assets.shards.schema import COPY_CHUNK, TOKENS_MEMBER, ShardError
from video_assets.shards.tar import PendingSample
from video_assets.shards.verify import HashingReader
from video_assets.store import DataRoot


def shard_bucket(info: ShardInfo) -> Bucket:
    """The bucket of a listed shard."""
    return Bucket(
        name=info.bucket, width=info.width, height=info.height, aspect=info.aspect,
        frames_lo=info.frames_lo, frames_hi=info.frames_hi,
    )  # fmt: skip


def stored_samples(
    root: DataRoot, prefix: str, info: ShardInfo, keep: set[str]
) -> Iterator[PendingSample]:
    """The samples ``keep`` of a listed shard, their members as stored (bytes unchanged).

    The whole tar is read and hashed; a shard that differs from its manifest entry raises
    :class:`ShardError` (after its last sample), so a damaged shard is never copied into a
    new one that gets published.
    """
    rel = join_prefix(prefix, info.path)
    if not root.exists(rel):
        raise ShardError(
            root.full(rel),
            "listed in the manifest but missing: cannot copy its samples into a new shard "
            "(remove manifest.json to repack every shard from the clips)",
        )
    with root.open(rel) as fh:
        reader = HashingReader(fh)
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
        while reader.read(COPY_CHUNK):
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
        position=0, bytes=sum(member_bytes(n) for n in sizes), frame_count=int(facts["frame_count"]),
        duration_s=float(facts["duration_s"]), has_tokens=TOKENS_MEMBER in by_suffix,
        n_words=int(facts["n_words"]),
    )  # fmt: skip
    return PendingSample(key=key, sizes=sizes, info=info, load=lambda: list(frozen))
