"""Benchmark: motion from the codec's vectors against the obvious way, dense optical flow.

Side by side in one run, on generated 720p clips whose camera motion is known (a still, a
pan, a tilt, a zoom, a roll, and a static camera watching a moving subject), each H.264
(x264 ``medium``, CRF 20, B-frames) with a little sensor noise so the bitrate is that of
footage rather than of a synthetic picture:

- ``vectors``: :func:`video_assets.motion.measure_clip` as the pipeline runs it (the P-frames'
  exported motion vectors, the deblocking filter skipped, slice threads only, H.264's
  non-reference frames left undecoded);
- ``every_frame``: the same with ``skip_nonref=False``: every frame decoded, as the vector
  path did before (and as it still does for a clip where a cut or flash must be placed);
- ``framediff``: the same with ``method="framediff"`` (DIS optical flow at 320 wide: the
  fallback for codecs without vectors);
- ``farneback``: every frame decoded in full and ``cv2.calcOpticalFlowFarneback`` (OpenCV's
  default parameters) run on consecutive full 1280x720 grey frames, the flow averaged over
  16-pixel blocks. The same model fit, classification and consistency code reads all three,
  so the differences are the motion source alone.

- ``vectors, N clips at once``: all the clips through
  :func:`video_assets.motion.measure_clips`, as the ``clip_motion`` stage measures a video's
  clips, with ``workers=1`` (one after another), ``workers=2`` (two clips at once, each
  decoder with FFmpeg's own thread count) and ``workers=2`` with one decoder thread per clip:
  clip seconds / wall seconds for the whole set, the runs interleaved so that a change in
  the machine's load hits every setting alike, and whether the figures equal one at a
  time's.

For each: wall time and CPU time (the fastest of ``--repeat`` runs for the two fast
methods), times real time (clip seconds / wall seconds, and clip seconds / half the CPU
seconds: the rate on two cores of our own when the work keeps both busy), the camera class
against the truth and against Farneback's, and the camera speed's error against the truth.
Timings are wall clock on a shared machine (CPU time is next to them as a check on other
load); the ratios are what to read. Clips are generated once into
``bench/out/motion/`` and reused. Results go to ``bench/out/motion.json``; a table is printed.

    uv run --frozen python bench/motion.py                  # 6 clips x 8 s at 720p
    uv run --frozen python bench/motion.py --seconds 4 --no-farneback   # a quick run

``--windows`` measures the other half of trainable clips instead: the clip-length
distribution of a generated 6-minute long-take video (eight shots of 25 to 64 s, x264's own
keyframe placement: a keyframe at each cut and at least every 250 frames) split with whole
scenes (``max_clip_s=0``) and with windows (``max_clip_s=20``), side by side: clip count,
lengths (min, median, p90, max), the share of clips within 20 s, how many were stream
copied, and the time the split took. Scenes are the known shots, so the two differ by the
windowing alone. Results go to ``bench/out/motion_windows.json``.

    uv run --frozen python bench/motion.py --windows
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from video_assets.motion import (  # noqa: E402
    ClipMotion,
    MotionSettings,
    VectorField,
    measure_clip,
    measure_clips,
)
from video_assets.motion.source import MotionSource, luma  # noqa: E402

OUT = ROOT / "bench" / "out"
FPS = 25
WIDTH, HEIGHT = 1280, 720
ANALYSIS = MotionSettings().analysis_width
TEXTURE = (
    "color=c=gray:s=96x54:r={fps},format=yuv420p,noise=c0s=100:c1s=60:c2s=60:allf=0,"
    "scale=3840:2160:flags=bicubic,noise=alls=30:allf=0,gblur=sigma=1.5,"
    "loop=loop=-1:size=1:start=0"
)
NOISE = "noise=alls=4:allf=t"
"""Temporal noise over every clip, as a camera sensor adds."""


@dataclass(frozen=True)
class Case:
    """A generated clip and its camera truth (speed in pixels per frame at 320 wide)."""

    name: str
    graph: str
    camera: str
    speed_px: float


def cases() -> list[Case]:
    s = ANALYSIS / WIDTH  # source pixels -> analysis pixels
    crop = f"crop={WIDTH}:{HEIGHT}"
    subject = (
        f"[0]{crop}:800:500[bg];[1]crop=320:240:1600:1200[fg];[bg][fg]overlay=x='100+n*10':y=240"
    )
    return [
        Case("still", f"{crop}:800:500", "static", 0.0),
        Case("pan", f"{crop}:x='400+n*6':y=500", "pan", 6 * s),
        Case("tilt", f"{crop}:x=800:y='200+n*4'", "tilt", 4 * s),
        Case(
            "zoom",
            f"zoompan=z='pow(1.006,on)':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:"
            f"s={WIDTH}x{HEIGHT}:fps={FPS}",
            "zoom",
            0.006 * ANALYSIS / 2,
        ),
        Case("roll", f"rotate=a='0.01*n',{crop}", "complex", 0.0),
        Case("subject", subject, "static", 0.0),
    ]


def make_clip(case: Case, seconds: float, folder: Path) -> Path:
    out = folder / f"{case.name}_{seconds:g}s_{HEIGHT}p.mp4"
    if out.exists():
        return out
    folder.mkdir(parents=True, exist_ok=True)
    texture = TEXTURE.format(fps=FPS)
    if case.name == "subject":
        graph = f"{texture},split[a][b];" + case.graph.replace("[0]", "[a]").replace("[1]", "[b]")
    else:
        graph = f"{texture},{case.graph}"
    graph += f",{NOISE},format=yuv420p"
    tmp = out.with_suffix(".tmp.mp4")
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", graph,
            "-frames:v", str(round(seconds * FPS)),
            "-c:v", "libx264", "-preset", "medium", "-crf", "20", "-pix_fmt", "yuv420p",
            str(tmp),
        ],
        check=True,
    )  # fmt: skip
    tmp.rename(out)
    return out


class FarnebackFlow(MotionSource):
    """Dense Farneback flow between consecutive full-resolution grey frames."""

    method = "farneback"
    block = 16

    def __init__(self, width: int, height: int):
        super().__init__(width, height)
        self._previous: np.ndarray | None = None

    def field(self, frame: av.VideoFrame, small: np.ndarray, index: int) -> VectorField | None:
        current = np.ascontiguousarray(luma(frame))  # the full frame, not the analysis one
        previous, self._previous = self._previous, current
        if previous is None:
            return None
        out = np.zeros((*current.shape, 2), np.float32)
        flow = cv2.calcOpticalFlowFarneback(previous, current, out, 0.5, 3, 15, 3, 5, 1.2, 0)
        b = self.block
        bh, bw = flow.shape[0] // b, flow.shape[1] // b
        mean = flow[: bh * b, : bw * b].reshape(bh, b, bw, b, 2).mean(axis=(1, 3))
        ys, xs = np.mgrid[0:bh, 0:bw]
        sx, sy = self.width / frame.width, self.height / frame.height
        return VectorField(
            index=index,
            span=1,
            x=((xs.ravel() + 0.5) * b * sx).astype(np.float32),
            y=((ys.ravel() + 0.5) * b * sy).astype(np.float32),
            u=(mean[..., 0].ravel() * sx).astype(np.float32),
            v=(mean[..., 1].ravel() * sy).astype(np.float32),
            w=np.ones(bh * bw, np.float32),
        )


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, repeat: int) -> tuple[ClipMotion, float, float]:
    """The result, and the fastest of ``repeat`` runs' wall and CPU seconds (the machine is
    shared: the fastest run is the one least disturbed)."""
    best: tuple[float, float] | None = None
    for _ in range(repeat):
        c0, t0 = cpu_s(), time.perf_counter()
        result = fn()
        run = (time.perf_counter() - t0, cpu_s() - c0)
        best = run if best is None else min(best, run)
    assert best is not None
    return result, best[0], best[1]


def summary(m: ClipMotion, wall: float, cpu: float, case: Case) -> dict:
    speed = m.camera_speed_px or 0.0
    err = abs(speed - case.speed_px) / case.speed_px if case.speed_px else None
    return {
        "method": m.method,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "realtime_x": round(m.duration_s / wall, 1),
        "realtime_x_2cores_cpu": round(m.duration_s / (cpu / 2), 1),
        "camera": m.camera,
        "class_ok": m.camera == case.camera,
        "speed_px": round(speed, 3),
        "speed_error": None if err is None else round(err, 4),
        "mean_motion_px": m.mean_motion_px and round(m.mean_motion_px, 3),
        "static_reason": m.static_reason,
        "worst_kind": m.worst_kind,
        "mean_similarity": m.mean_similarity and round(m.mean_similarity, 4),
    }


AT_ONCE = {
    "workers=1": MotionSettings(workers=1),
    "workers=2": MotionSettings(workers=2),
    "workers=2, 1 decoder thread": MotionSettings(workers=2, threads=1),
}
"""The settings of ``vectors, N clips at once``, the first one clip after another."""


def at_once_bench(paths: list[Path], clip_seconds: float, repeat: int) -> dict:
    """Every clip through ``measure_clips`` under each of :data:`AT_ONCE`, the fastest of
    ``repeat`` interleaved runs each (see the module docstring)."""
    best: dict[str, tuple[float, float]] = {}
    rows: dict[str, list[dict]] = {}
    for _ in range(repeat):
        for name, settings in AT_ONCE.items():
            c0, t0 = cpu_s(), time.perf_counter()
            results = measure_clips(paths, settings)
            run = (time.perf_counter() - t0, cpu_s() - c0)
            best[name] = min(best.get(name, run), run)
            rows[name] = [r.to_row() for r in results]
    one = next(iter(AT_ONCE))
    out = {}
    for name, settings in AT_ONCE.items():
        wall, cpu = best[name]
        out[name] = {
            "workers": settings.workers,
            "decoder_threads": settings.threads or "auto",
            "clips": len(paths),
            "clip_seconds": clip_seconds,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "realtime_x": round(clip_seconds / wall, 1),
            "realtime_x_2cores_cpu": round(clip_seconds / (cpu / 2), 1),
            "vs_one_at_a_time": round(best[one][0] / wall, 2),
            "same_figures": rows[name] == rows[one],
        }
    return out


LONG_TAKE_S = [38, 25, 64, 30, 52, 45, 60, 46]
"""Shot lengths of the long-take video, seconds (6 minutes)."""


def windows_bench(out_json: Path, max_clip_s: float = 20.0) -> dict:
    """Clip lengths of the long-take video with whole scenes and with windows (see the module
    docstring)."""
    import tempfile

    from video_assets.clips import ClipSettings, split_video
    from video_assets.generate.synth import make_shots_video
    from video_assets.keyframes import build_index
    from video_assets.scenes import scenes_from_cuts

    folder = OUT / "motion"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "long_take_6min.mp4"
    video = make_shots_video(
        path, [s * FPS for s in LONG_TAKE_S], size=(320, 180), fps=FPS, gop=250, seed=4
    )
    index = build_index(path)
    scenes = scenes_from_cuts(video.cuts, index)
    runs = {}
    for name, cap in (("whole_scenes", 0.0), ("windows", max_clip_s)):
        with tempfile.TemporaryDirectory(prefix="va-windows-") as tmp:
            t0 = time.perf_counter()
            clips = split_video(
                path, scenes, tmp, settings=ClipSettings(max_clip_s=cap), index=index
            )
            wall = time.perf_counter() - t0
        lengths = np.array([c.duration_s for c in clips])
        runs[name] = {
            "max_clip_s": cap,
            "clips": len(clips),
            "min_s": round(float(lengths.min()), 2),
            "median_s": round(float(np.median(lengths)), 2),
            "p90_s": round(float(np.percentile(lengths, 90)), 2),
            "max_s": round(float(lengths.max()), 2),
            "within_max_clip_s": f"{int((lengths <= max_clip_s + 1e-6).sum())}/{len(clips)}",
            "stream_copied": f"{sum(c.method == 'copy' for c in clips)}/{len(clips)}",
            "clip_seconds": round(float(lengths.sum()), 2),
            "wall_s": round(wall, 2),
            "lengths_s": [round(float(x), 2) for x in lengths],
        }
    report = {
        "video": f"{len(LONG_TAKE_S)} shots, {sum(LONG_TAKE_S)} s, 320x180 at {FPS} fps",
        "shots_s": LONG_TAKE_S,
        "keyframes": int(index.is_key.sum()),
        "runs": runs,
    }
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['video']}, {report['keyframes']} keyframes")
    for name, r in runs.items():
        print(
            f"  {name:<13} {r['clips']:>3} clips  min {r['min_s']:5.1f}  median {r['median_s']:5.1f}"
            f"  p90 {r['p90_s']:5.1f}  max {r['max_s']:5.1f} s  within {max_clip_s:g} s "
            f"{r['within_max_clip_s']:>6}  copied {r['stream_copied']:>6}  {r['wall_s']:.1f} s"
        )
    print(f"wrote {out_json}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each clip")
    parser.add_argument(
        "--no-farneback", action="store_true", help="skip the (slow) dense-flow baseline"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the fast methods (the fastest counts)"
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--windows",
        action="store_true",
        help="clip lengths of a long-take video, whole scenes against max_clip_s windows",
    )
    args = parser.parse_args(argv)
    if args.windows:
        windows_bench(args.json or OUT / "motion_windows.json")
        return 0
    args.json = args.json or OUT / "motion.json"

    clips = [(c, make_clip(c, args.seconds, OUT / "motion")) for c in cases()]
    settings = MotionSettings()
    methods = {
        "vectors": lambda p: measure_clip(p, settings),
        "every_frame": lambda p: measure_clip(p, MotionSettings(skip_nonref=False)),
        "framediff": lambda p: measure_clip(p, MotionSettings(method="framediff")),
    }
    if not args.no_farneback:
        # The obvious way decodes every frame as it is (deblocked) and reads full frames.
        plain = MotionSettings(skip_loop_filter=False)
        methods["farneback"] = lambda p: measure_clip(p, plain, source=FarnebackFlow)
    rows = []
    for case, path in clips:
        row: dict = {"clip": case.name, "truth": case.camera, "truth_speed_px": case.speed_px}
        for name, fn in methods.items():
            repeat = 1 if name == "farneback" else args.repeat
            m, wall, cpu = timed(lambda fn=fn, path=path: fn(path), repeat)
            row[name] = summary(m, wall, cpu, case)
        if "farneback" in row:
            for name in ("vectors", "every_frame", "framediff"):
                row[name]["agrees_with_farneback"] = (
                    row[name]["camera"] == row["farneback"]["camera"]
                )
        rows.append(row)

    total_s = len(clips) * args.seconds
    totals = {}
    for name in methods:
        wall = sum(r[name]["wall_s"] for r in rows)
        errors = [r[name]["speed_error"] for r in rows if r[name]["speed_error"] is not None]
        cpu = sum(r[name]["cpu_s"] for r in rows)
        totals[name] = {
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "realtime_x": round(total_s / wall, 1),
            "realtime_x_2cores_cpu": round(total_s / (cpu / 2), 1),
            "class_ok": f"{sum(r[name]['class_ok'] for r in rows)}/{len(rows)}",
            "max_speed_error": round(max(errors), 4) if errors else None,
        }
        if "farneback" in methods and name != "farneback":
            totals[name]["class_agreement_with_farneback"] = (
                f"{sum(r[name]['agrees_with_farneback'] for r in rows)}/{len(rows)}"
            )
    if "farneback" in totals:
        for name in ("vectors", "every_frame", "framediff"):
            totals[name]["speedup_vs_farneback"] = round(
                totals["farneback"]["wall_s"] / totals[name]["wall_s"], 1
            )

    load_before = os.getloadavg()
    at_once = at_once_bench([p for _, p in clips], total_s, args.repeat)
    report = {
        "clips": len(clips),
        "seconds_each": args.seconds,
        "resolution": f"{WIDTH}x{HEIGHT}",
        "fps": FPS,
        "analysis_width": ANALYSIS,
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "av": av.__version__,
        "opencv": cv2.__version__,
        "rows": rows,
        "totals": totals,
        "at_once": at_once,
        "load_avg_1_5_15": {
            "before_at_once": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")

    names = list(methods)
    print(f"{len(clips)} clips x {args.seconds:g} s at {WIDTH}x{HEIGHT}, {os.cpu_count()} CPUs")
    header = f"{'clip':<9}{'truth':<12}" + "".join(f"{n:>30}" for n in names)
    print(header)
    for r in rows:
        cells = []
        for n in names:
            x = r[n]
            err = "" if x["speed_error"] is None else f" {x['speed_error']:+.1%}"
            cells.append(f"{x['camera']:>8} {x['speed_px']:6.2f}px{err:>7} {x['realtime_x']:5.1f}x")
        print(f"{r['clip']:<9}{r['truth']:<12}" + "".join(f"{c:>30}" for c in cells))
    for n in names:
        print(f"  {n:<10} {json.dumps(totals[n])}")
    print(
        f"vectors, N clips at once: {len(clips)} clips, {total_s:g} clip seconds through "
        f"measure_clips (fastest of {args.repeat} interleaved runs)"
    )
    for n, x in at_once.items():
        print(
            f"  {n:<28} wall {x['wall_s']:6.2f} s  cpu {x['cpu_s']:6.2f} s  "
            f"{x['realtime_x']:5.1f}x real time  {x['vs_one_at_a_time']:.2f}x one at a time  "
            f"{'same figures' if x['same_figures'] else 'FIGURES DIFFER'}"
        )
    load = report["load_avg_1_5_15"]
    print(f"load average (1, 5, 15 min) {load['before_at_once']} before, {load['after']} after")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
