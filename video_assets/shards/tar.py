"""Writing samples into tar shards: one sample's members, its digest, one shard, a bucket's run.

A sample on its way into a shard is a :class:`PendingSample`: its member sizes (for
packing before any byte is read) and a loader of its members, either from its clip and
token files (:func:`pending_sample`) or as stored in an earlier shard
(:mod:`video_assets.shards.update`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from video_assets.shards.manifest import SampleInfo, ShardInfo, join_prefix
from video_assets.shards.plan import (
    Bucket,
    member_bytes,
    npy_bytes,
    sample_sizes,
    shard_path,
    tar_bytes,
)
from video_assets.shards.sample import ShardSample
from video_assets.shards.schema import (
    COPY_CHUNK,
    MEMBER_ORDER,
    TOKENS_MEMBER,
    ShardError,
    json_bytes,
)
from video_assets.shards.settings import ShardSettings
from video_assets.store import DataRoot
from video_assets.tokens.files import TokensError, read_tokens


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
    members = {"json": json_bytes(s.facts(bucket)), "words.json": json_bytes(s.words)}
    if s.token_shape is not None and s.token_path is not None:
        try:
            ids = read_tokens(s.token_path).ids
        except TokensError as exc:
            raise ShardError(exc.path, exc.problem) from None
        if tuple(ids.shape) != s.token_shape:
            raise ShardError(
                s.token_path,
                f"token shape {tuple(ids.shape)} changed since selection ({s.token_shape})",
            )
        members[TOKENS_MEMBER] = npy_bytes(ids)
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
    sizes = tuple(sample_sizes(s, bucket))
    info = SampleInfo(
        clip_id=s.key, video_id=s.video_id, shard="", bucket=bucket.name, position=0,
        bytes=sum(member_bytes(n) for n in sizes), frame_count=s.frame_count,
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
                while chunk := fh.read(COPY_CHUNK):
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
            tmp = self._stack.enter_context(root.atomic_file(join_prefix(prefix, path)))
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
            if writer is not None and tar_bytes([*sizes, *s.sizes]) > settings.target_bytes:
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
