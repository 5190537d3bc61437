"""A PyTorch loader over the training shards: shuffled, split, bucketed, decoded on the fly.

:class:`ClipShardDataset` is an ``IterableDataset`` that reads the WebDataset shards written
by :func:`video_assets.shards.write.write_shards` sequentially and yields one dict per clip
(``frames``, ``tokens``, ``words``, ``facts``, ``key``, ``bucket``), or, with
``batch_size``, one collated batch of clips from a single bucket.

Each epoch:

1. the shard list is shuffled with ``(seed, epoch)``, identically in every rank and worker;
2. rank ``r`` of ``world_size`` takes shards ``r::world_size``, then DataLoader worker ``w``
   of ``n`` takes ``w::n`` of those, so every sample is read exactly once per epoch across
   all ranks and workers (``resample=True`` instead draws shards with replacement, an
   endless stream for step-based training);
3. samples (still compressed) pass through a shuffle buffer seeded by
   ``(seed, epoch, rank, worker)``;
4. the clip's bytes (its ``mp4`` or ``mkv`` member: the container the clips stage chose) are
   decoded in memory, with PyAV on the CPU or torchcodec on a CUDA GPU
   (``DecodeSettings.device``); both find the container from the bytes.

Call :meth:`ClipShardDataset.set_epoch` before each epoch (as with ``DistributedSampler``).
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import random
import tarfile
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import IterableDataset, get_worker_info
from webdataset.tariterators import group_by_keys

from video_assets.errors import MediaError, VideoAssetsError
from video_assets.keyframes import detach_av_logging
from video_assets.shards.manifest import read_manifest
from video_assets.shards.schema import CLIP_MEMBERS, TOKENS_MEMBER, ShardError

Layout = Literal["TCHW", "THWC"]


# -- decoding --------------------------------------------------------------------------------
@dataclass(frozen=True)
class DecodeSettings:
    """How a clip's bytes (MP4 or Matroska) become frames.

    Args:
        max_frames: Keep at most this many frames from the start (after ``frame_step``);
            None keeps all. 1 to 100,000.
        frame_step: Keep every n-th frame (1 keeps all). 1 to 1000.
        size: Resize every frame to ``(width, height)``; None keeps the stored size.
        layout: ``TCHW`` (what convolutions take) or ``THWC``.
        device: ``cpu`` (PyAV), ``cuda`` / ``cuda:N`` (torchcodec on the GPU: NVDEC), or
            ``auto``: the GPU when CUDA and torchcodec are available and the dataset is
            iterated in the main process (CUDA cannot start in forked DataLoader workers),
            else the CPU.
        threads: Decoder threads per clip on the CPU; 0 lets FFmpeg choose. 0 to 64.
    """

    max_frames: int | None = None
    frame_step: int = 1
    size: tuple[int, int] | None = None
    layout: Layout = "TCHW"
    device: str = "cpu"
    threads: int = 0

    def __post_init__(self) -> None:
        if self.max_frames is not None and not 1 <= self.max_frames <= 100_000:
            raise ValueError(f"max_frames must be in [1, 100000] or None, got {self.max_frames}")
        if not 1 <= self.frame_step <= 1000:
            raise ValueError(f"frame_step must be in [1, 1000], got {self.frame_step}")
        if self.size is not None and not all(1 <= v <= 16384 for v in self.size):
            raise ValueError(
                f"size must be (width, height) with sides in [1, 16384], got {self.size}"
            )
        if self.layout not in ("TCHW", "THWC"):
            raise ValueError(f"layout must be 'TCHW' or 'THWC', got {self.layout!r}")
        if not (self.device in ("cpu", "cuda", "auto") or self.device.startswith("cuda:")):
            raise ValueError(
                f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {self.device!r}"
            )
        if not 0 <= self.threads <= 64:
            raise ValueError(f"threads must be in [0, 64], got {self.threads}")


@dataclass
class DecodedClip:
    """Frames of one clip.

    Attributes:
        frames: uint8 RGB, ``(T, 3, H, W)`` or ``(T, H, W, 3)`` as asked.
        fps: Stream frame rate (frames kept are ``frame_step`` apart).
        backend: ``pyav`` or ``torchcodec``.
        device: Where ``frames`` live.
    """

    frames: torch.Tensor
    fps: float
    backend: str
    device: str


def _gpu_decoding_available() -> bool:
    if not torch.cuda.is_available() or get_worker_info() is not None:
        return False
    try:
        import torchcodec.decoders  # noqa: F401
    except (ImportError, RuntimeError, OSError):
        return False
    return True


def resolve_decode_device(device: str) -> str:
    """``cpu`` or a CUDA device for a :attr:`DecodeSettings.device` value."""
    if device == "auto":
        return "cuda" if _gpu_decoding_available() else "cpu"
    return device


def decode_clip(
    data: bytes,
    settings: DecodeSettings | None = None,
    *,
    name: str = "<clip bytes>",
    frames: int | None = None,
) -> DecodedClip:
    """Decode a clip file (MP4 or Matroska) held in memory.

    Args:
        data: The file's bytes.
        settings: Frame cap, step, size, layout, device.
        name: Names the clip in errors (a sample key).
        frames: A further cap on the frames kept (the bucket trim), or None.

    Raises:
        MediaError: the bytes hold no decodable video stream.
        VideoAssetsError: GPU decoding was asked for and is not available.
    """
    settings = settings or DecodeSettings()
    cap = settings.max_frames
    if frames is not None:
        cap = frames if cap is None else min(cap, frames)
    device = resolve_decode_device(settings.device)
    if device == "cpu":
        out, fps = _decode_pyav(data, settings, cap, name)
        backend = "pyav"
    else:
        out, fps = _decode_torchcodec(data, settings, cap, name, device)
        backend = "torchcodec"
    if settings.layout == "THWC":
        out = out.permute(0, 2, 3, 1).contiguous()
    return DecodedClip(frames=out, fps=fps, backend=backend, device=str(out.device))


def _decode_pyav(
    data: bytes, settings: DecodeSettings, cap: int | None, name: str
) -> tuple[torch.Tensor, float]:
    import av

    detach_av_logging()
    kept: list[np.ndarray] = []
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise MediaError(name, "has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if settings.threads:
                stream.codec_context.thread_count = settings.threads
            fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            width, height = settings.size or (None, None)
            for i, frame in enumerate(container.decode(stream)):
                if i % settings.frame_step:
                    continue
                kept.append(frame.to_ndarray(format="rgb24", width=width, height=height))
                if cap is not None and len(kept) >= cap:
                    break
    except av.FFmpegError as exc:
        raise MediaError(name, f"cannot be decoded ({exc})") from None
    if not kept:
        raise MediaError(name, "has no decodable video frames")
    return torch.from_numpy(np.stack(kept)).permute(0, 3, 1, 2).contiguous(), fps


def _decode_torchcodec(
    data: bytes, settings: DecodeSettings, cap: int | None, name: str, device: str
) -> tuple[torch.Tensor, float]:
    try:
        from torchcodec.decoders import VideoDecoder
    except (ImportError, RuntimeError, OSError) as exc:
        raise VideoAssetsError(
            f"GPU decoding ({device}) needs torchcodec with CUDA: {exc}"
        ) from None
    try:
        decoder = VideoDecoder(data, device=device, dimension_order="NCHW")
        meta = decoder.metadata
        n = int(meta.num_frames or 0)
        stop = n if cap is None else min(n, cap * settings.frame_step)
        batch = decoder.get_frames_in_range(0, stop, settings.frame_step).data
        fps = float(meta.average_fps or 0.0)
    except (RuntimeError, ValueError) as exc:
        raise MediaError(name, f"cannot be decoded with torchcodec on {device} ({exc})") from None
    if batch.shape[0] == 0:
        raise MediaError(name, "has no decodable video frames")
    if settings.size is not None:
        w, h = settings.size
        batch = torch.nn.functional.interpolate(
            batch.float(), size=(h, w), mode="bilinear", antialias=True
        )
        batch = batch.round_().clamp_(0, 255).to(torch.uint8)
    return batch, fps


# -- samples and batches ---------------------------------------------------------------------
def _trim_words(words: list[dict[str, Any]], covered_s: float) -> list[dict[str, Any]]:
    return [w for w in words if float(w["end"]) <= covered_s + 1e-6]


def _token_frames(source_frames: int, temporal_stride: int) -> int:
    return 1 + math.ceil((source_frames - 1) / temporal_stride)


def collate_clips(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack samples of one bucket into a batch.

    ``frames`` become ``(B, T, ...)``, cut to the shortest clip's ``T``; ``tokens`` become
    ``(B, T', H', W')`` cut to the shortest ``T'`` when every sample has tokens of one grid
    size, else a list. ``words``, ``facts``, ``key`` and ``bucket`` stay lists.

    Raises:
        ValueError: the samples' frames differ in size (they come from different buckets).
    """
    if not samples:
        raise ValueError("cannot collate an empty batch")
    batch: dict[str, Any] = {
        k: [s[k] for s in samples] for k in ("key", "bucket", "words", "facts")
    }
    batch["fps"] = torch.tensor([float(s["fps"]) for s in samples])
    frames: list[torch.Tensor] = [s["frames"] for s in samples if s.get("frames") is not None]
    if len(frames) == len(samples):
        t = min(f.shape[0] for f in frames)
        shapes = {tuple(f.shape[1:]) for f in frames}
        if len(shapes) > 1:
            raise ValueError(
                f"a batch mixes frame sizes {sorted(shapes)} (buckets {sorted(set(batch['bucket']))}): "
                "draw each batch from one bucket"
            )
        batch["frames"] = torch.stack([f[:t] for f in frames])
    if "clip" in samples[0]:
        batch["clip"] = [s["clip"] for s in samples]
        batch["container"] = [s["container"] for s in samples]
    tokens: list[torch.Tensor] = [s["tokens"] for s in samples if s.get("tokens") is not None]
    if len(tokens) == len(samples) and len({tuple(x.shape[1:]) for x in tokens}) == 1:
        t = min(x.shape[0] for x in tokens)
        batch["tokens"] = torch.stack([x[:t] for x in tokens])
    else:
        batch["tokens"] = [s.get("tokens") for s in samples]
    return batch


# -- the dataset -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ShardRef:
    """One shard the dataset reads: its path or URL and its bucket."""

    url: str
    bucket: str


def _rank_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is not None or world_size is not None:
        if rank is None or world_size is None:
            raise ValueError("give both rank and world_size, or neither")
        r, w = rank, world_size
    elif torch.distributed.is_available() and torch.distributed.is_initialized():
        r, w = torch.distributed.get_rank(), torch.distributed.get_world_size()
    elif "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        r, w = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    else:
        r, w = 0, 1
    if w < 1 or not 0 <= r < w:
        raise ValueError(f"rank must be in [0, world_size), got rank {r} of {w}")
    return r, w


def _open_shards(urls: Iterable[str]) -> Iterator[dict[str, Any]]:
    """``dict(url, stream)`` per shard: local paths opened directly, URLs through fsspec."""
    for url in urls:
        if "://" in url and not url.startswith("file://"):
            import fsspec

            from video_assets.store import storage_options_from_env

            # s3:// shards use the VIDEO_ASSETS_S3_* settings (endpoint, key, secret,
            # region) when set, as the pipeline that wrote them did; else botocore's chain.
            stream = fsspec.open(url, "rb", **storage_options_from_env(url)).open()
        else:
            path = url.removeprefix("file://")
            try:
                stream = open(path, "rb")  # noqa: SIM115 - closed by _tar_members
            except OSError as exc:
                raise ShardError(path, f"cannot open shard ({exc.strerror})") from None
        yield {"url": url, "stream": stream}


def _tar_members(shards: Iterable[dict[str, Any]], on_error: str) -> Iterator[dict[str, Any]]:
    """``dict(fname, data, __url__)`` per regular member of each shard, read front to back.

    A sample's members are passed on only once the sample is complete (the next key
    starts, or the shard ends cleanly), so a shard cut short mid-sample never yields half a
    sample; an empty dict after each shard tells WebDataset's grouping that the shard ended
    (the same shard drawn twice in a row by resampling stays two sets of samples). The
    file is opened seekable (local files and fsspec files both are), so a member is one
    read instead of one per 10 KiB record of tarfile's stream mode.
    """
    for shard in shards:
        url, stream = shard["url"], shard["stream"]
        pending: list[dict[str, Any]] = []
        key = None
        try:
            with tarfile.open(fileobj=stream, mode="r:") as tar:
                for ti in tar:
                    if not ti.isreg():
                        continue
                    member = tar.extractfile(ti)
                    data = member.read() if member is not None else b""
                    if len(data) != ti.size:
                        raise tarfile.ReadError(f"member {ti.name} is cut short")
                    name_key = ti.name.partition(".")[0]
                    if name_key != key:
                        yield from pending
                        pending, key = [], name_key
                    pending.append({"fname": ti.name, "data": data, "__url__": url})
                    tar.members = []  # type: ignore[attr-defined]  # else tarfile keeps every TarInfo
            yield from pending
            yield {}
        except (tarfile.TarError, EOFError, OSError) as exc:
            err = ShardError(url, f"shard cannot be read to its end ({exc})")
            if on_error == "raise":
                raise err from None
            warnings.warn(str(err), stacklevel=2)
            yield {}
        finally:
            stream.close()


def _seed(*parts: int) -> int:
    h = 0
    for p in parts:
        h = (h * 1_000_003 + p) % (1 << 63)
    return h


class ClipShardDataset(IterableDataset):
    """Clips from the training shards, for a ``torch.utils.data.DataLoader``.

    Args:
        source: A shard root (a folder or fsspec URL holding ``manifest.json``), or shard
            paths/URLs (their bucket is the name of the folder they are in).
        buckets: Read only shards of these buckets (None: all).
        shuffle: Shuffle the shard order each epoch and samples within a buffer.
        shuffle_buffer: Samples held (compressed) by the shuffle buffer; 1 disables it.
        seed: Seed of every shuffle; equal across ranks so they agree on the shard order.
        rank: This process's rank; with ``world_size``, overrides ``torch.distributed``
            (and the ``RANK``/``WORLD_SIZE`` variables).
        world_size: Number of ranks.
        decode: How clips are decoded (frames cap, step, size, layout, device).
        decode_frames: False yields the clip file's bytes as ``clip`` (and its format,
            ``mp4`` or ``mkv``, as ``container``) instead of ``frames`` (decode later, e.g. on
            the GPU in the training loop).
        trim_to_bucket: Keep the first ``frames_lo`` frames of each clip (its bucket's
            window start), so every clip of a bucket has one frame count; tokens and words
            are cut to match.
        batch_size: Yield batches of this many samples of one bucket (use the DataLoader
            with ``batch_size=None``); None yields single samples.
        drop_last: Drop each bucket's last partial batch.
        resample: Draw shards at random with replacement, without end (no epochs).
        on_error: ``raise`` stops on a corrupt shard; ``skip`` warns and goes on.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | Sequence[str],
        *,
        buckets: Iterable[str] | None = None,
        shuffle: bool = True,
        shuffle_buffer: int = 64,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        decode: DecodeSettings | None = None,
        decode_frames: bool = True,
        trim_to_bucket: bool = False,
        batch_size: int | None = None,
        drop_last: bool = False,
        resample: bool = False,
        on_error: Literal["raise", "skip"] = "raise",
    ):
        super().__init__()
        if not 1 <= shuffle_buffer <= 1_000_000:
            raise ValueError(f"shuffle_buffer must be in [1, 1000000], got {shuffle_buffer}")
        if batch_size is not None and not 1 <= batch_size <= 100_000:
            raise ValueError(f"batch_size must be in [1, 100000] or None, got {batch_size}")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        _rank_world(rank, world_size)  # validate early
        self.shards = self._resolve(source, buckets)
        self.num_samples: int | None = self._num_samples
        self.shuffle = shuffle
        self.shuffle_buffer = shuffle_buffer
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.decode = decode or DecodeSettings()
        self.decode_frames = decode_frames
        self.trim_to_bucket = trim_to_bucket
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.resample = resample
        self.on_error = on_error
        self.epoch = 0
        self._iterations = 0

    def _resolve(
        self, source: str | os.PathLike[str] | Sequence[str], buckets: Iterable[str] | None
    ) -> list[ShardRef]:
        wanted = None if buckets is None else set(buckets)
        self._num_samples = None
        if isinstance(source, str | os.PathLike):
            from video_assets.store import DataRoot

            root = DataRoot(source)
            manifest = read_manifest(root)
            known = {s.bucket for s in manifest.shards}
            if wanted is not None and wanted - known:
                raise ShardError(
                    root.full("manifest.json"), f"no shards in buckets {sorted(wanted - known)}"
                )
            chosen = [s for s in manifest.shards if wanted is None or s.bucket in wanted]
            self._num_samples = sum(s.n_samples for s in chosen)
            refs = [ShardRef(root.uri(s.path), s.bucket) for s in chosen]
        else:
            refs = [ShardRef(str(u), Path(str(u)).parent.name) for u in source]
            refs = [r for r in refs if wanted is None or r.bucket in wanted]
        if not refs:
            raise ShardError(
                str(source),
                "no shards to read" + (f" in buckets {sorted(wanted)}" if wanted else ""),
            )
        return sorted(refs, key=lambda r: r.url)

    @property
    def buckets(self) -> list[str]:
        """Buckets of the shards read."""
        return sorted({s.bucket for s in self.shards})

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds the shuffles (same value on every rank)."""
        self.epoch = epoch
        self._iterations = 0

    # -- iteration ------------------------------------------------------------------------
    def _shard_stream(
        self, epoch: int, rank: int, world: int, worker: int, workers: int
    ) -> Iterator[str]:
        urls = [s.url for s in self.shards]
        if self.resample:
            rng = random.Random(_seed(self.seed, epoch, rank, worker, 1))
            return (rng.choice(urls) for _ in itertools.count())
        if self.shuffle:
            random.Random(_seed(self.seed, epoch)).shuffle(urls)
        return iter(urls[rank::world][worker::workers])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        epoch = self.epoch + self._iterations
        self._iterations += 1  # persistent workers: a new order each epoch without set_epoch
        rank, world = _rank_world(self.rank, self.world_size)
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        handler = wds.reraise_exception if self.on_error == "raise" else wds.warn_and_continue
        stream: Iterator[dict[str, Any]] = _open_shards(
            self._shard_stream(epoch, rank, world, worker, workers)
        )
        stream = _tar_members(stream, self.on_error)
        stream = group_by_keys(stream, handler=handler)
        if self.shuffle and self.shuffle_buffer > 1:
            shuffle = wds.shuffle(
                self.shuffle_buffer,
                min(self.shuffle_buffer, 16),
                seed=_seed(self.seed, epoch, rank, worker),
            )
            stream = shuffle(stream)
        if self.batch_size is None:
            for raw in stream:
                yield self.to_sample(raw)
            return
        pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for raw in stream:
            bucket = Path(raw["__url__"]).parent.name
            group = pending[bucket]
            group.append(raw)
            if len(group) == self.batch_size:
                yield collate_clips([self.to_sample(r) for r in group])
                pending[bucket] = []
        if not self.drop_last:
            for bucket in sorted(pending):
                if pending[bucket]:
                    yield collate_clips([self.to_sample(r) for r in pending[bucket]])

    def to_sample(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A sample dict from a shard's raw members (``__key__``, ``mp4`` or ``mkv``, ``json``, ...)."""
        key = raw["__key__"]
        where = f"{raw.get('__url__', '?')}:{key}"
        for member in ("json", "words.json"):
            if member not in raw:
                raise ShardError(where, f"sample lacks {key}.{member}")
        container = next((m for m in CLIP_MEMBERS if m in raw), None)
        if container is None:
            raise ShardError(where, f"sample lacks its clip ({key}.mp4 or {key}.mkv)")
        facts = json.loads(raw["json"])
        words = json.loads(raw["words.json"])
        tokens = None
        if TOKENS_MEMBER in raw:
            tokens = torch.from_numpy(np.load(io.BytesIO(raw[TOKENS_MEMBER]), allow_pickle=False))
        fps = float(facts.get("fps") or 0.0)
        sample: dict[str, Any] = {
            "key": key,
            "bucket": facts.get("bucket"),
            "facts": facts,
            "fps": fps,
        }
        cap = None
        if self.trim_to_bucket:
            cap = math.ceil(int(facts["frames_lo"]) / self.decode.frame_step)
        if self.decode.max_frames is not None:
            cap = self.decode.max_frames if cap is None else min(cap, self.decode.max_frames)
        kept: int | None
        if self.decode_frames:
            clip = decode_clip(raw[container], self.decode, name=where, frames=cap)
            sample["frames"] = clip.frames
            kept = clip.frames.shape[0]
        else:
            sample["clip"] = raw[container]
            sample["container"] = container
            kept = (
                min(cap, math.ceil(int(facts["frame_count"]) / self.decode.frame_step))
                if cap
                else None
            )
        source_frames = int(facts["frame_count"])
        if kept is not None:
            source_frames = min(source_frames, (kept - 1) * self.decode.frame_step + 1)
        if source_frames < int(facts["frame_count"]):
            if fps > 0:
                words = _trim_words(words, source_frames / fps)
            stride = int((facts.get("token_metadata") or {}).get("temporal_stride", 0) or 0)
            if tokens is not None and stride > 0:
                tokens = tokens[: _token_frames(source_frames, stride)]
        sample["words"] = words
        sample["tokens"] = tokens
        return sample


__all__ = [
    "ClipShardDataset",
    "DecodeSettings",
    "DecodedClip",
    "ShardRef",
    "collate_clips",
    "decode_clip",
    "resolve_decode_device",
]
