"""Benchmark: growing the training shards one video at a time, the old way against the new.

Both sides ingest the same N generated videos, one after another, into data roots of their
own (each video's clips, words, segments and random token files, written as the pipeline
writes them but without the models: ``video_assets.generate.shard_data.add_video``), and after each
ingest bring the shards up to date as ``training_shards`` does:

- ``rewrite`` (before; the asset up to issue 22): read every video's tables, judge every
  clip, pack every kept sample from scratch (``write_shards``), rewrite every video's shard
  tables (``write_shard_tables``);
- ``append`` (after): ``refresh_shards``: only the new video is judged, its samples go into
  new shards, nothing else is rewritten.

Measured per ingest: wall time of the shard step, and the bytes it wrote (every file
published through ``DataRoot``: tars, then the manifest and the catalog tables). At the
end the ``append`` root is compacted once (``compact_shards``) and both roots are verified
and compared (same samples). Results go to ``bench/out/shards.json``; a table is printed.

    uv run --frozen python bench/shards.py               # 50 videos, ~7 min on 2 cores under load
    uv run --frozen python bench/shards.py --videos 20   # a quick run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from video_assets.generate.shard_data import CHECKPOINT, add_video  # noqa: E402
from video_assets.shards.candidates import candidates_from_tables  # noqa: E402
from video_assets.shards.compact import compact_shards  # noqa: E402
from video_assets.shards.manifest import read_manifest  # noqa: E402
from video_assets.shards.selection import select_samples  # noqa: E402
from video_assets.shards.settings import ExclusionRules, ShardSettings  # noqa: E402
from video_assets.shards.stamps import INPUT_TABLES  # noqa: E402
from video_assets.shards.tables import write_shard_tables  # noqa: E402
from video_assets.shards.update import refresh_shards  # noqa: E402
from video_assets.shards.verify import verify_dir  # noqa: E402
from video_assets.shards.write import write_shards  # noqa: E402
from video_assets.store import DataRoot  # noqa: E402

OUT = ROOT / "bench" / "out"
SIZES = [(64, 48), (96, 54)]

WRITTEN: Counter[str] = Counter()
"""Bytes published through DataRoot.atomic_file since the last reset: ``tars`` and ``meta``."""


def count_writes() -> None:
    """Count the bytes of every file DataRoot publishes (in this process)."""
    original = DataRoot.atomic_file

    @contextlib.contextmanager
    def counting(self: DataRoot, rel: str) -> Iterator[Path]:
        with original(self, rel) as tmp:
            yield tmp
            WRITTEN["tars" if rel.endswith(".tar") else "meta"] += tmp.stat().st_size

    DataRoot.atomic_file = counting  # type: ignore[method-assign]


def rewrite(root: DataRoot, rules: ExclusionRules, settings: ShardSettings) -> None:
    """The training_shards asset before issue 22: every video, every shard, every time."""

    def table(name: str) -> pd.DataFrame | None:
        parts = [root.read_table(name, v) for v in root.table_partitions(name)]
        return pd.concat(parts, ignore_index=True) if parts else None

    clips, videos = table("clips"), table("videos")
    assert clips is not None and videos is not None
    candidates = candidates_from_tables(
        root, clips, videos, table("words"), table("segments"), tokens=table("tokens")
    )
    selection = select_samples(candidates, rules)
    shard_set = write_shards(selection.kept, root, prefix="shards", settings=settings)
    write_shard_tables(root, selection, shard_set)


def append(root: DataRoot, rules: ExclusionRules, settings: ShardSettings) -> None:
    """The training_shards asset now."""
    refresh_shards(root, prefix="shards", rules=rules, settings=settings)


def copy_video(src: DataRoot, dst: DataRoot, vid: str) -> None:
    for table in INPUT_TABLES:
        rel = f"tables/{table}/video_id={vid}"
        if src.exists(rel):
            shutil.copytree(src.local_path(rel), dst.local_path(rel))
    for folder in ("clips", "tokens"):
        shutil.copytree(src.local_path(f"{folder}/{vid}"), dst.local_path(f"{folder}/{vid}"))


def timed(step: Any, root: DataRoot, rules: ExclusionRules, settings: ShardSettings) -> dict:
    WRITTEN.clear()
    t0 = time.perf_counter()
    step(root, rules, settings)
    wall = time.perf_counter() - t0
    return {
        "wall_s": round(wall, 4),
        "bytes": WRITTEN["tars"] + WRITTEN["meta"],
        "tar_bytes": WRITTEN["tars"],
        "meta_bytes": WRITTEN["meta"],
    }


def mean(rows: list[dict], side: str, key: str) -> float:
    return statistics.fmean(r[side][key] for r in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=50, help="videos to ingest (default 50)")
    ap.add_argument(
        "--target-bytes", type=int, default=1 << 30, help="shard size target (default 1 GiB)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT / "shards.json")
    args = ap.parse_args(argv)

    count_writes()
    rules = ExclusionRules(checkpoint_hash=CHECKPOINT)
    settings = ShardSettings(target_bytes=args.target_bytes)
    rng = random.Random(args.seed)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        work = Path(tmp)
        before, after = DataRoot(work / "rewrite"), DataRoot(work / "append")
        for i in range(args.videos):
            vid = f"v{i:016x}"
            # Three shots of 3.2-5.6 s and one under 3 s (cut, then left out as too short).
            shots = [rng.randrange(80, 140) for _ in range(3)] + [rng.randrange(50, 70)]
            rng.shuffle(shots)
            t0 = time.perf_counter()
            add_video(before, work, vid, shots, size=SIZES[i % len(SIZES)], seed=i)
            copy_video(before, after, vid)
            made_s = time.perf_counter() - t0
            row = {
                "ingest": i + 1,
                "clips": len(before.read_table("clips", vid)),
                "made_s": round(made_s, 2),
                "rewrite": timed(rewrite, before, rules, settings),
                "append": timed(append, after, rules, settings),
            }
            manifest = read_manifest(after, "shards")
            row["samples"] = manifest.n_samples
            row["shards_append"] = len(manifest.shards)
            row["shards_rewrite"] = len(read_manifest(before, "shards").shards)
            rows.append(row)
            print(
                f"video {i + 1:3d}: {row['samples']:4d} samples | rewrite "
                f"{row['rewrite']['bytes'] / 1e6:7.2f} MB {row['rewrite']['wall_s']:6.3f} s | "
                f"append {row['append']['bytes'] / 1e6:7.2f} MB {row['append']['wall_s']:6.3f} s",
                flush=True,
            )
        WRITTEN.clear()
        t0 = time.perf_counter()
        compacted = compact_shards(after, prefix="shards")
        compaction = {
            "wall_s": round(time.perf_counter() - t0, 3),
            "bytes": WRITTEN["tars"] + WRITTEN["meta"],
            "shards_before": rows[-1]["shards_append"],
            "shards_after": len(compacted.manifest.shards),
        }
        checks = {
            name: verify_dir(root.local_path("shards")).ok
            for name, root in (("rewrite", before), ("append", after))
        }
        same_samples = sorted(
            k for s in read_manifest(before, "shards").shards for k in s.keys
        ) == sorted(k for s in read_manifest(after, "shards").shards for k in s.keys)

    k = max(1, min(5, len(rows) // 4))
    first, last = rows[:k], rows[-k:]
    summary = {
        side: {
            "first_bytes": round(mean(first, side, "bytes")),
            "last_bytes": round(mean(last, side, "bytes")),
            "first_wall_s": round(mean(first, side, "wall_s"), 4),
            "last_wall_s": round(mean(last, side, "wall_s"), 4),
            "bytes_growth": round(mean(last, side, "bytes") / mean(first, side, "bytes"), 2),
            "wall_growth": round(mean(last, side, "wall_s") / mean(first, side, "wall_s"), 2),
            "total_bytes": sum(r[side]["bytes"] for r in rows),
        }
        for side in ("rewrite", "append")
    }
    result = {
        "videos": args.videos,
        "target_bytes": args.target_bytes,
        "window": k,
        "summary": summary,
        "compaction": compaction,
        "verified": checks,
        "same_samples": same_samples,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")

    print()
    print(
        "| videos in corpus | samples | rewrite: bytes written | rewrite: s | append: bytes written (tars + manifest/tables) | append: s |"
    )
    print("|---|---|---|---|---|---|")
    marks = sorted({1, 2, 5, 10, *range(10, args.videos + 1, 10), args.videos})
    for r in rows:
        if r["ingest"] in marks:
            a = r["append"]
            print(
                f"| {r['ingest']} | {r['samples']} | {r['rewrite']['bytes']:,} | "
                f"{r['rewrite']['wall_s']:.3f} | {a['bytes']:,} ({a['tar_bytes']:,} + "
                f"{a['meta_bytes']:,}) | {a['wall_s']:.3f} |"
            )
    for side in ("rewrite", "append"):
        s = summary[side]
        print(
            f"{side}: mean of the first {k} ingests {s['first_bytes']:,} B, {s['first_wall_s']:.3f} s; "
            f"of the last {k}: {s['last_bytes']:,} B, {s['last_wall_s']:.3f} s "
            f"(x{s['bytes_growth']} bytes, x{s['wall_growth']} time); {s['total_bytes']:,} B in all"
        )
    print(
        f"compaction of the append root: {compaction['shards_before']} -> "
        f"{compaction['shards_after']} shards, {compaction['bytes']:,} B in {compaction['wall_s']} s; "
        f"verified {checks}, same samples: {same_samples}"
    )
    print(f"wrote {args.out}")
    return 0 if all(checks.values()) and same_samples else 1


if __name__ == "__main__":
    sys.exit(main())
