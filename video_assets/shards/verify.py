"""Re-reading shards against their manifest (``video-assets shards verify``)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from video_assets.shards.manifest import (
    ShardInfo,
    ShardManifest,
    as_root,
    join_prefix,
    read_manifest,
    shard_files,
    shard_root_url,
)
from video_assets.shards.schema import (
    CLIP_MAGIC,
    CLIP_MEMBERS,
    COPY_CHUNK,
    REQUIRED_MEMBERS,
    TOKENS_MEMBER,
)
from video_assets.store import DataRoot


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


class HashingReader:
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
        while self.read(COPY_CHUNK):
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
        reader = HashingReader(fh)
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
    root = as_root(shard_root)
    if isinstance(manifest, ShardManifest):
        infos = list(manifest.shards)
    elif isinstance(manifest, pd.DataFrame):
        infos = [_info_from_row(r) for r in manifest.to_dict("records")]
    else:
        infos = list(manifest)
    problems: list[ShardProblem] = []
    total = samples = 0
    for info in infos:
        p, nbytes, nsamples = _verify_one(root, join_prefix(prefix, info.path), info)
        problems += p
        total += nbytes
        samples += nsamples
    if check_unlisted:
        listed = {i.path for i in infos}
        problems += [
            ShardProblem(rel, "unlisted", "tar file under the shard root is not in the manifest")
            for rel in shard_files(root, prefix)
            if rel not in listed
        ]
    return VerifyResult(
        shard_root_url(root, prefix), len(infos), samples, total, problems, time.perf_counter() - t0
    )


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
