"""Benchmark: N videos through the local profile, by executor and run concurrency.

For each executor (``VIDEO_ASSETS_EXECUTOR``: ``multiprocess`` spawns a fresh Python per
step, ``forkserver`` forks each step from a server that imported the code location once,
``in_process`` runs the steps one after another in the run worker) and each concurrency
``c`` this makes a fresh ``DAGSTER_HOME`` holding
``deploy/local/dagster.yaml`` with ``max_concurrent_runs: c`` (the pool ``models`` stays
limited to 1, as in the profile), a fresh data root, registers N generated videos (real cuts,
espeak-ng speech over music, a different seed each, so N partitions), submits one
``video_job`` run per partition with ``dagster job backfill`` (the runs are queued) and
starts ``dagster-daemon``, whose run queue launches them ``c`` at a time with the default
run launcher, exactly as the UI would. It waits until every run has finished and reports
videos per hour from the first run start to the last run end, and the speed-up of every
row over the first. Results go to ``bench/out/scale.json``; a table is printed.

    uv run python bench/scale.py                 # 8 videos of 30 s, concurrency 1 and 2
    uv run python bench/scale.py --videos 3 --seconds 12   # a quick run
    uv run python bench/scale.py --executors multiprocess,forkserver,in_process --concurrency 1

Separation runs as a pass-through (no Demucs weights can be downloaded here, as in the
main job); transcription runs the bundled Whisper tiny.en with real weights. The token
stage is skipped: no tokenizer has been trained in these fresh roots.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from video_assets.generate.speech import make_speech_video  # noqa: E402
from video_assets.generate.synth import make_shots_video, random_shot_lengths  # noqa: E402
from video_assets.registry import register  # noqa: E402
from video_assets.store import DataRoot  # noqa: E402

OUT = REPO / "bench" / "out"
SENTENCES = [
    "Welcome to the video assets benchmark.",
    "Each video in this run has shots of its own and words of its own.",
    "The queue decides how many of them are processed at the same time.",
    "Models run one at a time, decoding runs beside them.",
    "The catalog collects every partition once.",
    "Scaling further needs more cores, or more machines.",
]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


@dataclass
class ConcurrencyResult:
    executor: str
    concurrency: int
    videos: int
    succeeded: int
    first_start: float
    last_end: float
    submitted_at: float
    run_seconds: list[float]
    load_avg_after: float

    @property
    def span_s(self) -> float:
        return self.last_end - self.first_start

    @property
    def videos_per_hour(self) -> float:
        return self.succeeded / self.span_s * 3600 if self.span_s > 0 else 0.0

    def to_json(self) -> dict:
        d = asdict(self)
        d["span_s"] = self.span_s
        d["videos_per_hour"] = self.videos_per_hour
        d["mean_run_s"] = (
            sum(self.run_seconds) / len(self.run_seconds) if self.run_seconds else None
        )
        return d


def make_videos(folder: Path, n: int, seconds: float) -> list[Path]:
    """N distinct videos with cuts and speech, generated once and reused."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"scale-{i:02d}-{seconds:g}s.mp4"
        if not path.exists():
            with tempfile.TemporaryDirectory(dir=folder) as tmp:
                shots = make_shots_video(
                    Path(tmp) / "shots.mp4",
                    random_shot_lengths(seconds, 3.0, 8.0, 25, seed=i),
                    size=(640, 360),
                    encoding="fixed_gop",
                    gop=100,
                    audio="none",
                    seed=100 + i,
                )
                sentences = [SENTENCES[(i + k) % len(SENTENCES)] for k in range(3)]
                made = make_speech_video(
                    Path(tmp) / "speech.mp4",
                    sentences,
                    video=shots.path,
                    offset_s=0.5,
                    music_db=-15.0,
                    seed=i,
                    duration_s=seconds,
                )
                shutil.move(str(made.path), path)
        paths.append(path)
    return paths


def run_at(
    executor: str, concurrency: int, videos: list[Path], work: Path, timeout_s: float
) -> ConcurrencyResult:
    home, data, landing = work / "home", work / "data", work / "landing"
    for d in (home, data, landing):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    profile = yaml.safe_load((REPO / "deploy" / "local" / "dagster.yaml").read_text())
    profile["concurrency"]["runs"]["max_concurrent_runs"] = concurrency
    (home / "dagster.yaml").write_text(yaml.safe_dump(profile))
    for v in videos:
        shutil.copy(v, landing / v.name)
    root = DataRoot(data)
    vids = sorted({register(root, landing / v.name).video_id for v in videos})
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "VIDEO_ASSETS_DATA_ROOT": str(data),
        "VIDEO_ASSETS_LANDING_DIR": str(landing),
        "VIDEO_ASSETS_ALLOW_PASSTHROUGH": "1",
        "VIDEO_ASSETS_EXECUTOR": executor,
    }
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home)
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("videos", vids)

    submitted_at = time.time()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "job",
            "backfill",
            "-w",
            str(REPO / "workspace.yaml"),
            "-j",
            "video_job",
            "--partitions",
            ",".join(vids),
            "--noprompt",
        ],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log(f"{executor}, concurrency {concurrency}: {len(vids)} runs queued; starting dagster-daemon")
    daemon_bin = Path(sys.executable).parent / "dagster-daemon"
    daemon = subprocess.Popen(
        [str(daemon_bin), "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(work / "daemon.log").open("w"),
        start_new_session=True,
    )
    try:
        deadline = time.time() + timeout_s
        while True:
            runs = instance.get_runs()
            done = [r for r in runs if r.is_finished]
            if len(runs) >= len(vids) and len(done) == len(runs):
                break
            if daemon.poll() is not None:
                raise RuntimeError(
                    f"dagster-daemon exited ({daemon.returncode}): "
                    f"{(work / 'daemon.log').read_text()[-2000:]}"
                )
            if time.time() > deadline:
                raise TimeoutError(f"{len(done)}/{len(runs)} runs finished after {timeout_s:.0f} s")
            time.sleep(2)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
    records = instance.get_run_records()
    starts = [r.start_time for r in records if r.start_time]
    ends = [r.end_time for r in records if r.end_time]
    ok = [r for r in records if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS]
    return ConcurrencyResult(
        executor=executor,
        concurrency=concurrency,
        videos=len(vids),
        succeeded=len(ok),
        first_start=min(starts),
        last_end=max(ends),
        submitted_at=submitted_at,
        run_seconds=[r.end_time - r.start_time for r in records if r.start_time and r.end_time],
        load_avg_after=os.getloadavg()[0],
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each generated video")
    ap.add_argument("--concurrency", default="1,2", help="comma-separated run concurrencies")
    ap.add_argument(
        "--executors",
        default="multiprocess",
        help="comma-separated VIDEO_ASSETS_EXECUTOR values (multiprocess, forkserver, in_process)",
    )
    ap.add_argument("--timeout", type=float, default=3600.0, help="per concurrency, seconds")
    ap.add_argument("--json", type=Path, default=OUT / "scale.json")
    args = ap.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    videos = make_videos(OUT / "scale_videos", args.videos, args.seconds)
    log(f"{len(videos)} videos of {args.seconds:g} s ready")
    results = []
    for executor in args.executors.split(","):
        for c in levels:
            with tempfile.TemporaryDirectory(prefix=f"scale-{executor}-c{c}-", dir=OUT) as tmp:
                r = run_at(executor, c, videos, Path(tmp), args.timeout)
            log(
                f"{executor}, concurrency {c}: {r.succeeded}/{r.videos} runs succeeded in {r.span_s:.0f} s "
                f"({r.videos_per_hour:.1f} videos/h)"
            )
            results.append(r)
    base = results[0].videos_per_hour if results else 0.0
    print()
    print(
        f"{'executor':>12} {'concurrency':>11} {'videos':>6} {'ok':>3} {'span s':>8} {'videos/h':>9} "
        f"{'mean run s':>10} {'speed-up':>8}"
    )
    for r in results:
        mean = sum(r.run_seconds) / max(1, len(r.run_seconds))
        print(
            f"{r.executor:>12} {r.concurrency:>11} {r.videos:>6} {r.succeeded:>3} {r.span_s:>8.0f} "
            f"{r.videos_per_hour:>9.1f} {mean:>10.0f} {r.videos_per_hour / base if base else 0:>7.2f}x"
        )
    payload = {
        "bench": "scale",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "videos": args.videos,
        "seconds_per_video": args.seconds,
        "elapsed_s": time.time() - t0,
        "executors": args.executors.split(","),
        "results": [r.to_json() for r in results],
        "speedup": (results[-1].videos_per_hour / base) if base and len(results) > 1 else None,
    }
    args.json.write_text(json.dumps(payload, indent=1))
    print(f"\nwrote {args.json}")
    return 0 if all(r.succeeded == r.videos for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
