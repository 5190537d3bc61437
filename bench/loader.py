"""Benchmark: reading clips from WebDataset shards against reading them as individual files.

Both sides read the same clips with the same members (mp4, words JSON, tokens, facts JSON)
and decode them the same way (PyAV, in memory, every frame at the stored size), through a
``torch.utils.data.DataLoader`` with 1 and 2 worker processes and batches of 8:

- ``shards``: :class:`video_assets.loader.ClipShardDataset` over the shards written by
  :func:`video_assets.shards.write.write_shards` (sequential reads of a few large tars);
- ``files``: an ``IterableDataset`` that opens four files per clip (``clip.mp4``,
  ``clip.words.json``, ``clip.safetensors``, ``clip.json``), split across workers the same
  way.

Before every run the page cache of every file read is dropped (``posix_fadvise``
``DONTNEED``), so each run starts cold. Measured: samples per second over one epoch with
decoding and without (bytes only: what storage and the tar reader cost), time to the
first batch, bytes per sample stored and decoded.

Clips are made here with ffmpeg lavfi sources. Results go to ``bench/out/loader.json``; a
table is printed.

    uv run --frozen python bench/loader.py            # 96 clips of 320x180, 80 frames (~3 min on 2 cores)
    uv run --frozen python bench/loader.py --quick    # 24 clips, a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import save_file
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from video_assets.loader import ClipShardDataset, DecodeSettings, collate_clips, decode_clip  # noqa: E402
from video_assets.shards.sample import ShardSample  # noqa: E402
from video_assets.shards.selection import select_samples  # noqa: E402
from video_assets.shards.settings import ExclusionRules, ShardSettings  # noqa: E402
from video_assets.shards.write import write_shards  # noqa: E402

OUT = ROOT / "bench" / "out"
# Moving, mostly smooth content (like most footage); light noise so frames are not identical.
SOURCES = [
    "testsrc2=size={w}x{h}:rate=25,hue=h={hue},noise=alls=2:allf=t",
    "mandelbrot=size={w}x{h}:rate=25:start_scale=1.5,hue=h={hue}",
    "gradients=size={w}x{h}:rate=25:speed=0.02:seed={seed},noise=alls=2:allf=t",
    "smptehdbars=size={w}x{h}:rate=25,hue=h={hue},scroll=h=0.002,noise=alls=2:allf=t",
]


def make_clip(path: Path, k: int, w: int, h: int, frames: int) -> None:
    graph = SOURCES[k % len(SOURCES)].format(w=w, h=h, hue=(k * 37) % 360, seed=k)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph,
         "-frames:v", str(frames), "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
         "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(path)],
        check=True,
    )  # fmt: skip


def make_dataset(base: Path, n: int, w: int, h: int, frames: int) -> list[ShardSample]:
    """``n`` clips, each with words, random tokens and facts, as individual files."""
    samples = []
    rng = np.random.default_rng(0)
    for k in range(n):
        key = f"v{k % 8:016x}_{k:05d}"
        clip = base / f"{key}.mp4"
        make_clip(clip, k, w, h, frames)
        tokens = base / f"{key}.safetensors"
        shape = (1 + (frames - 1 + 3) // 4, h // 8 // 2 * 2, w // 8 // 2 * 2)
        ids = rng.integers(0, 1 << 18, size=shape).astype(np.int32)
        save_file(
            {"tokens": ids}, str(tokens), metadata={"temporal_stride": "4", "spatial_stride": "8"}
        )
        words = [
            {
                "word": f"word{i}",
                "start": 0.3 * i,
                "end": 0.3 * i + 0.25,
                "score": 0.9,
                "speaker": "SPEAKER_00",
            }
            for i in range(int(frames / 25 / 0.3))
        ]
        (base / f"{key}.words.json").write_text(json.dumps(words))
        sample = ShardSample(
            key=key, video_id=key.split("_")[0], clip_path=str(clip), scene_index=k, start_s=10.0 * k,
            end_s=10.0 * k + frames / 25, fps=25.0, width=w, height=h, frame_count=frames, words=words,
            token_path=str(tokens),
        )  # fmt: skip
        (base / f"{key}.json").write_text(
            json.dumps(
                {
                    "key": key,
                    "video_id": sample.video_id,
                    "fps": 25.0,
                    "frame_count": frames,
                    "width": w,
                    "height": h,
                }
            )
        )
        samples.append(sample)
    return samples


class FilesDataset(IterableDataset):
    """The baseline: each clip's members read from their own files, decoded like the shards."""

    def __init__(self, base: Path, keys: list[str], decode: bool, seed: int = 0):
        super().__init__()
        self.base, self.keys, self.decode, self.seed = base, keys, decode, seed

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from video_assets.tokens.files import read_tokens

        keys = list(self.keys)
        random.Random(self.seed).shuffle(keys)
        info = get_worker_info()
        if info is not None:
            keys = keys[info.id :: info.num_workers]
        for key in keys:
            data = (self.base / f"{key}.mp4").read_bytes()
            words = json.loads((self.base / f"{key}.words.json").read_text())
            facts = json.loads((self.base / f"{key}.json").read_text())
            ids = read_tokens(self.base / f"{key}.safetensors").ids
            item = {"key": key, "bucket": "all", "words": words, "facts": facts, "fps": 25.0,
                    "tokens": torch.from_numpy(ids)}  # fmt: skip
            if self.decode:
                item["frames"] = decode_clip(data, DecodeSettings(), name=key).frames
            else:
                item["clip"], item["container"] = data, "mp4"  # as the shard dataset yields it
            yield item


def drop_cache(paths: list[Path]) -> None:
    """Evict the files' pages so the next read comes from storage."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def run(kind: str, workers: int, decode: bool, shard_root: Path, clip_dir: Path, keys: list[str],
        files: list[Path], batch: int) -> dict[str, Any]:  # fmt: skip
    drop_cache(files)
    if kind == "shards":
        ds = ClipShardDataset(
            shard_root, seed=0, shuffle_buffer=32, batch_size=batch, decode_frames=decode
        )
        loader = DataLoader(ds, batch_size=None, num_workers=workers)
    else:
        loader = DataLoader(FilesDataset(clip_dir, keys, decode), batch_size=batch, num_workers=workers,
                            collate_fn=collate_clips)  # fmt: skip
    t0 = time.perf_counter()
    it = iter(loader)
    first = next(it)
    t_first = time.perf_counter() - t0
    n = len(first["key"])
    for b in it:
        n += len(b["key"])
    elapsed = time.perf_counter() - t0
    if n != len(keys):
        raise RuntimeError(f"{kind} with {workers} workers read {n} samples, expected {len(keys)}")
    return {
        "source": kind, "workers": workers, "decode": decode, "samples": n,
        "samples_per_s": round(n / elapsed, 2), "first_batch_s": round(t_first, 3), "epoch_s": round(elapsed, 3),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=96)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--shards", type=int, default=8, help="about this many shards (sets the target size)"
    )
    parser.add_argument("--quick", action="store_true", help="24 clips")
    args = parser.parse_args()
    if args.quick:
        args.clips = 24
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-loader-") as tmp:
        base = Path(tmp)
        clip_dir = base / "clips"
        clip_dir.mkdir()
        t0 = time.perf_counter()
        samples = make_dataset(clip_dir, args.clips, args.width, args.height, args.frames)
        made_s = time.perf_counter() - t0
        kept = select_samples(samples, ExclusionRules(min_duration_s=0.0)).kept
        clip_bytes = sum(Path(s.clip_path).stat().st_size for s in kept)
        target = max(1 << 16, int(clip_bytes * 1.05 / args.shards))
        t0 = time.perf_counter()
        shard_set = write_shards(kept, base / "shards", settings=ShardSettings(target_bytes=target))
        write_s = time.perf_counter() - t0
        keys = [s.key for s in kept]
        shard_files = [base / "shards" / s.path for s in shard_set.manifest.shards]
        clip_files = sorted(clip_dir.iterdir())
        runs = []
        for decode in (True, False):
            for workers in (1, 2):
                for kind in ("shards", "files"):
                    files = shard_files if kind == "shards" else clip_files
                    r = run(
                        kind, workers, decode, base / "shards", clip_dir, keys, files, args.batch
                    )
                    runs.append(r)
                    print(f"  {kind:6s} workers={workers} decode={decode!s:5s} {r['samples_per_s']:8.1f} samples/s",
                          file=sys.stderr)  # fmt: skip
        n = len(keys)
        decoded = args.frames * args.width * args.height * 3
        sizes = {
            "shards_bytes_per_sample": round(shard_set.total_bytes / n),
            "files_bytes_per_sample": round(sum(p.stat().st_size for p in clip_files) / n),
            "files_per_sample": len(clip_files) / n,
            "mp4_bytes_per_sample": round(clip_bytes / n),
            "decoded_bytes_per_sample": decoded,
            "decoded_to_mp4_ratio": round(decoded / (clip_bytes / n), 1),
        }
        result = {
            "clips": n, "width": args.width, "height": args.height, "frames": args.frames, "batch": args.batch,
            "shards": len(shard_set.manifest.shards), "shard_target_bytes": target,
            "make_clips_s": round(made_s, 2), "write_shards_s": round(write_s, 3), "sizes": sizes, "runs": runs,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        }  # fmt: skip
    (OUT / "loader.json").write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)


def print_table(result: dict[str, Any]) -> None:
    runs = {(r["source"], r["workers"], r["decode"]): r for r in result["runs"]}
    print(f"\n{result['clips']} clips of {result['width']}x{result['height']}, {result['frames']} frames; "
          f"{result['shards']} shards; batches of {result['batch']}; page cache dropped before each run\n")  # fmt: skip
    print(
        "| reading | workers | samples/s decoded | first batch (s) | samples/s bytes only | first batch (s) |"
    )
    print("|---|---|---|---|---|---|")
    for kind in ("shards", "files"):
        for workers in (1, 2):
            d, b = runs[(kind, workers, True)], runs[(kind, workers, False)]
            print(f"| {kind} | {workers} | {d['samples_per_s']:.1f} | {d['first_batch_s']:.3f} | "
                  f"{b['samples_per_s']:.1f} | {b['first_batch_s']:.3f} |")  # fmt: skip
    s = result["sizes"]
    print(f"\nbytes per sample: shards {s['shards_bytes_per_sample']:,} (1 read of a large file), "
          f"files {s['files_bytes_per_sample']:,} ({s['files_per_sample']:.0f} files), "
          f"mp4 alone {s['mp4_bytes_per_sample']:,}, decoded frames {s['decoded_bytes_per_sample']:,} "
          f"({s['decoded_to_mp4_ratio']}x the mp4)")  # fmt: skip


if __name__ == "__main__":
    main()
