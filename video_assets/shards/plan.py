"""Buckets (one shape per batch) and packing kept samples into shards of a target size."""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from video_assets.shards.sample import ShardSample
from video_assets.shards.schema import ShardError, json_bytes
from video_assets.shards.settings import ShardSettings

_BLOCK = 512
_RECORD = 20 * _BLOCK


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


def member_bytes(size: int) -> int:
    """Bytes a member of ``size`` bytes takes in a tar: its header block and padded data."""
    return _BLOCK + -(-size // _BLOCK) * _BLOCK


def tar_bytes(member_sizes: Iterable[int]) -> int:
    """Exact size of an uncompressed USTAR stream holding members of these sizes."""
    total = sum(member_bytes(n) for n in member_sizes) + 2 * _BLOCK
    return -(-total // _RECORD) * _RECORD


def npy_bytes(ids: np.ndarray) -> bytes:
    """The ``tokens.npy`` member: the ids as an int32 ``.npy`` file."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(ids, dtype=np.int32), allow_pickle=False)
    return buf.getvalue()


def npy_size(shape: tuple[int, ...]) -> int:
    """Size of :func:`npy_bytes` of ids of ``shape``, without building it."""
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


def sample_sizes(s: ShardSample, bucket: Bucket) -> list[int]:
    """Size of each of a kept sample's members in ``bucket`` (the clip file is not read)."""
    sizes = [
        len(json_bytes(s.facts(bucket))),
        Path(s.clip_path).stat().st_size,
        len(json_bytes(s.words)),
    ]
    if s.token_shape is not None:
        sizes.append(npy_size(s.token_shape))
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
            member_sizes = sample_sizes(s, bucket)
            current, sizes = groups[-1]
            if current and tar_bytes(sizes + member_sizes) > settings.target_bytes:
                groups.append(([], []))
                current, sizes = groups[-1]
            current.append(s)
            sizes += member_sizes
        for index, (current, sizes) in enumerate(groups):
            plans.append(
                ShardPlan(shard_path(bucket.name, index), bucket, tuple(current), tar_bytes(sizes))
            )
    return plans


def shard_path(bucket: str, index: int) -> str:
    """Shard ``index`` of ``bucket`` under the shard root: ``<bucket>/<bucket>-<index:06d>.tar``."""
    return f"{bucket}/{bucket}-{index:06d}.tar"


def shard_index(path: str) -> int:
    """The index in a shard's name (``...-000012.tar`` -> 12)."""
    return int(path[-10:-4])
