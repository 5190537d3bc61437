"""Benchmark: the keyframe index from the MP4 header, by demuxing, and by a full decode.

Side by side in one run, on one generated 9-minute 720p H.264 MP4 (shots of 2-20 s, x264
scene-cut keyframes and B-frames, an AAC tone track, ``+faststart``, as
:func:`video_assets.generate.synth.make_shots_video` writes it):

- ``header``: :func:`video_assets.keyframes.header_index`, the sample tables read from the
  ``moov`` box, no media data read;
- ``demux``: :func:`video_assets.keyframes.demux_index`, every packet demuxed with PyAV;
- ``full decode``: every frame decoded with PyAV (threaded), keyframes read from the
  decoded frames, the way a naive tool finds I-frames.

Each is timed ``--repeats`` times (the full decode ``--decode-repeats`` times) and the
median wall time is reported with the ratios between them; the header index is checked
to equal the demux index field by field and the full decode's keyframes. Then the same
video remuxed (stream copy) into other containers (moov at the end, fragmented, MOV,
Matroska) is indexed both ways, to show which method each container gets and what it
gains. Timings are wall clock on a shared machine: read the ratios, not the seconds.

The video is generated once into ``bench/out/`` and reused while its spec (a JSON sidecar)
matches. Results go to ``bench/out/index.json``; a table is printed.

    uv run --frozen python bench/index.py                          # 9 min at 720p
    uv run --frozen python bench/index.py --minutes 1 --height 360 # a quick run
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from video_assets.generate.synth import make_shots_video, random_shot_lengths  # noqa: E402
from video_assets.keyframes import (  # noqa: E402
    KeyframeIndex,
    build_index,
    demux_index,
    header_index,
    open_input,
)
from video_assets.tools import ffmpeg_base, media_arg, run_tool  # noqa: E402

OUT = ROOT / "bench" / "out"
FPS = 25
SEED = 5
TARGET_SPEEDUP = 1000.0
"""The issue's target: the header index at least this much faster than a full decode."""
REMUXES: dict[str, tuple[str, list[str]]] = {
    "mp4, moov at end": (".mp4", []),
    "fragmented mp4": (".mp4", ["-movflags", "frag_keyframe+empty_moov"]),
    "fragmented mp4, base moof": (
        ".mp4",
        ["-movflags", "frag_keyframe+empty_moov+default_base_moof"],
    ),
    "mov": (".mov", []),
    "matroska": (".mkv", []),
}
"""Containers the bench video is stream-copied into: (suffix, muxer options)."""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def median_time(
    fn: Callable[[], object], repeats: int, warmup: bool = True
) -> tuple[float, list[float], object]:
    """Median wall time of ``repeats`` calls of ``fn`` (after one untimed call, unless
    ``warmup`` is off), every time, and the last result."""
    runs: list[float] = []
    result: object = fn() if warmup else None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), runs, result


def full_decode_keyframes(path: Path) -> tuple[list[int], int]:
    """Decode every video frame (threaded); returns (keyframe numbers, frames decoded)."""
    keys: list[int] = []
    n = 0
    with open_input(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = 0
        for frame in container.decode(stream):
            if frame.key_frame:
                keys.append(n)
            n += 1
    return keys, n


def differences(a: KeyframeIndex, b: KeyframeIndex) -> list[str]:
    """Fields in which two indexes of one file differ (empty: the same index)."""
    out = [
        name
        for name in ("frame_count", "fps", "duration_s", "timestamps")
        if getattr(a, name) != getattr(b, name)
    ]
    if a.frame_count == b.frame_count:
        if not np.allclose(a.pts_s, b.pts_s, rtol=0.0, atol=1e-6):
            out.append("pts_s")
        out += [
            name
            for name in ("sizes", "is_key", "decode_order", "keyframe_frames")
            if not np.array_equal(getattr(a, name), getattr(b, name))
        ]
    return out


def prepare_video(minutes: float, height: int, out_dir: Path) -> tuple[Path, bool]:
    """The bench video, generated or reused while its sidecar spec matches."""
    width = round(height * 16 / 9 / 2) * 2
    spec = {
        "minutes": minutes,
        "size": [width, height],
        "fps": FPS,
        "shots_s": [2.0, 20.0],
        "encoding": "scenecut",
        "gop": 250,
        "seed": SEED,
    }
    path = out_dir / f"index-{minutes:g}min-{height}p.mp4"
    sidecar = path.with_suffix(".json")
    if path.is_file() and sidecar.is_file() and json.loads(sidecar.read_text()) == spec:
        return path, True
    out_dir.mkdir(parents=True, exist_ok=True)
    shots = random_shot_lengths(minutes * 60, 2.0, 20.0, FPS, seed=SEED)
    log(f"generating {path.name}: {len(shots)} shots, {sum(shots)} frames")
    make_shots_video(
        path, shots, size=(width, height), fps=FPS, encoding="scenecut", gop=250, seed=SEED
    )
    sidecar.write_text(json.dumps(spec))
    return path, False


def remux(src: Path, name: str, out_dir: Path) -> Path:
    """``src`` stream-copied into the container ``name`` of :data:`REMUXES` (cached)."""
    suffix, options = REMUXES[name]
    out = out_dir / f"{src.stem}-{name.replace(' ', '-').replace(',', '')}{suffix}"
    if not out.is_file() or out.stat().st_mtime < src.stat().st_mtime:
        tmp = out.with_name(out.stem + ".part" + suffix)
        run_tool(
            [*ffmpeg_base(), "-i", media_arg(src), "-map", "0", "-c", "copy", *options]
            + [media_arg(tmp)],
            timeout_s=600,
            what=f"remuxing {src.name} into {name}",
        )
        tmp.replace(out)
    return out


@dataclass
class ContainerRow:
    """One container: which method ``build_index`` used and what the header path gains."""

    container: str
    method: str
    fallback: str
    build_index_s: float
    demux_s: float
    speedup_over_demux: float
    equal_to_demux: bool


def bench_container(name: str, path: Path, repeats: int) -> ContainerRow:
    built_s, _, built = median_time(lambda: build_index(path), repeats)
    demux_s, _, demuxed = median_time(lambda: demux_index(path), repeats)
    assert isinstance(built, KeyframeIndex) and isinstance(demuxed, KeyframeIndex)
    return ContainerRow(
        container=name,
        method=built.method,
        fallback=built.fallback,
        build_index_s=built_s,
        demux_s=demux_s,
        speedup_over_demux=demux_s / built_s,
        equal_to_demux=not differences(built, demuxed),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=9.0)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--repeats", type=int, default=7, help="runs of each index (median)")
    ap.add_argument("--decode-repeats", type=int, default=1, help="runs of the full decode")
    ap.add_argument("--no-containers", action="store_true", help="skip the remuxed containers")
    ap.add_argument("--out-dir", type=Path, default=OUT)
    ap.add_argument("--json", type=Path, default=OUT / "index.json")
    args = ap.parse_args(argv)

    path, reused = prepare_video(args.minutes, args.height, args.out_dir)
    path.read_bytes()  # every method reads a warm page cache
    log(f"header index x{args.repeats}")
    header_s, header_runs, header = median_time(lambda: header_index(path), args.repeats)
    log(f"demux index x{args.repeats}")
    demux_s, demux_runs, demuxed = median_time(lambda: demux_index(path), args.repeats)
    log(f"full decode x{args.decode_repeats}")
    decode_s, decode_runs, decoded = median_time(
        lambda: full_decode_keyframes(path), args.decode_repeats, warmup=False
    )
    assert isinstance(header, KeyframeIndex) and isinstance(demuxed, KeyframeIndex)
    assert isinstance(decoded, tuple)
    decode_keys, decode_frames = decoded
    diff = differences(header, demuxed)

    rows: list[ContainerRow] = [
        bench_container("mp4, moov at front", path, args.repeats),
    ]
    if not args.no_containers:
        for name in REMUXES:
            log(f"container: {name}")
            rows.append(bench_container(name, remux(path, name, args.out_dir), args.repeats))

    result = {
        "video": {
            "path": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
            "minutes": args.minutes,
            "height": args.height,
            "frames": header.frame_count,
            "keyframes": len(header.keyframe_frames),
            "bytes": path.stat().st_size,
            "reused": reused,
        },
        "median_s": {"header": header_s, "demux": demux_s, "full_decode": decode_s},
        "runs_s": {"header": header_runs, "demux": demux_runs, "full_decode": decode_runs},
        "ratios": {
            "full_decode_over_header": decode_s / header_s,
            "full_decode_over_demux": decode_s / demux_s,
            "demux_over_header": demux_s / header_s,
        },
        "target_full_decode_over_header": TARGET_SPEEDUP,
        "target_met": decode_s / header_s >= TARGET_SPEEDUP,
        "header_equals_demux": not diff,
        "header_differs_in": diff,
        "keyframes_equal_full_decode": decode_keys == [int(k) for k in header.keyframe_frames]
        and decode_frames == header.frame_count,
        "containers": [asdict(r) for r in rows],
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")

    v = result["video"]
    print(
        f"\n{args.minutes:g}-min {args.height}p H.264 MP4: {v['frames']} frames, "
        f"{v['keyframes']} keyframes, {v['bytes'] / 1e6:.0f} MB\n"
    )
    print("| method | median wall time | full decode / method |")
    print("|---|---|---|")
    for label, secs in (
        ("header (sample tables, no media read)", header_s),
        ("demux (every packet)", demux_s),
        ("full decode (threaded)", decode_s),
    ):
        print(f"| {label} | {secs * 1000:.1f} ms | {decode_s / secs:,.0f}x |")
    print(
        f"\nheader == demux: {not diff}{'' if not diff else ' ' + str(diff)}; "
        f"keyframes == full decode: {result['keyframes_equal_full_decode']}; "
        f"demux / header: {demux_s / header_s:.0f}x; target >= {TARGET_SPEEDUP:,.0f}x: "
        f"{result['target_met']}\n"
    )
    print("| container | build_index method | build_index | demux | demux / build_index | equal |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.container} | {r.method} | {r.build_index_s * 1000:.1f} ms | "
            f"{r.demux_s * 1000:.1f} ms | {r.speedup_over_demux:.0f}x | {r.equal_to_demux} |"
        )
    print(f"\nwrote {args.json}")
    return 0 if not diff and result["keyframes_equal_full_decode"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
