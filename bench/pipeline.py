"""Benchmark: the whole job per hour of video, stage by stage.

Generates a video with the project's own tools (shots of 2-20 s at 720p, fixed 250-frame
GOP, espeak-ng speech over a synthetic music bed 10 dB below it), registers it in a fresh
data root and Dagster instance, and materializes it in process, one stage at a time, as the
main job does: ingest and video (index, scenes, clips), audio (stems, transcripts), the
tokenizer (trained once for a corpus, not per video: reported apart) and the tokens, then
shards and catalog. For each asset it reports the wall time
of its step (from the run's events); for each stage the CPU time of this process and its
finished children (ffmpeg), and hours of video processed per core-hour (video hours over
CPU hours). The stage whose CPU time is largest is named.

    uv run --frozen python bench/pipeline.py                # 10 min at 720p
    uv run --frozen python bench/pipeline.py --minutes 1    # a quick run

Results go to ``bench/out/pipeline.json``; a table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
SENTENCES = [
    "The pipeline turns long videos into clean training data.",
    "Every shot becomes a clip that never crosses a cut.",
    "Words are aligned to the waveform and carry a confidence.",
    "Speech over music is separated before it is transcribed.",
    "Tokens and shards are written so a trainer can stream them.",
]


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def make_video(out: Path, minutes: float, height: int) -> Path:
    """The benchmark video, reused while its name (length and height) matches."""
    from video_assets.generate.speech import make_speech_video
    from video_assets.generate.synth import make_shots_video, random_shot_lengths

    if out.exists():
        return out
    fps = 25
    width = int(round(height * 16 / 9 / 2)) * 2
    shots = random_shot_lengths(minutes * 60, 2.0, 20.0, fps, seed=3)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        pictures = make_shots_video(
            Path(tmp) / "shots.mp4",
            shots,
            size=(width, height),
            fps=fps,
            encoding="fixed_gop",
            gop=250,
            audio="none",
            seed=3,
        )
        # Sentences repeated to fill the video, as a voice-over runs.
        n = max(1, int(minutes * 60 / 3.2))
        text = [SENTENCES[i % len(SENTENCES)] for i in range(n)]
        make_speech_video(
            out,
            text,
            video=pictures.path,
            offset_s=0.5,
            music_db=-10.0,
            seed=3,
            duration_s=sum(shots) / fps,
        )
    return out


def run(video: Path, work: Path) -> dict:
    """Materialize every asset for ``video`` in ``work``; timings per asset and stage."""
    os.environ["VIDEO_ASSETS_DATA_ROOT"] = str(work / "data")
    os.environ["DAGSTER_HOME"] = str(work / "home")
    (work / "home").mkdir(parents=True, exist_ok=True)
    import dagster as dg

    from dagster_project.definitions import ASSETS, CHECKS
    from dagster_project.defs.partitions import VIDEOS
    from dagster_project.defs.resources import (
        StoreResource,
        TokenStageConfig,
        default_resources,
    )
    from video_assets.probe import probe
    from video_assets.registry import register

    store = StoreResource(data_root=str(work / "data"), landing_dir=str(work / "landing"))
    reg = register(store.root(), video.absolute())
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(VIDEOS, [reg.video_id])
    resources = {**default_resources(), "store": store, "token_config": TokenStageConfig()}
    groups: dict[str, list] = {}
    for a in ASSETS:
        groups.setdefault(a.group_names_by_key[a.key], []).append(a)
    stages = [
        ("video", groups["ingest"] + groups["video"], reg.video_id),
        ("audio", groups["audio"], reg.video_id),
        ("tokenizer", groups["tokenizer"], None),
        ("tokens", groups["tokens"], reg.video_id),
        ("shards", groups["training"] + groups["catalog"], None),
    ]
    per_asset: dict[str, float] = {}
    per_stage: dict[str, dict[str, float]] = {}
    for stage, assets, partition in stages:
        keys = {a.key for a in assets}
        checks = [c for c in CHECKS if any(k.asset_key in keys for k in c.check_keys)]
        c0, w0 = _cpu_s(), time.perf_counter()
        result = dg.materialize(
            [*assets, *checks], partition_key=partition, instance=instance, resources=resources
        )
        cpu, wall = _cpu_s() - c0, time.perf_counter() - w0
        acc = per_stage.setdefault(stage, {"cpu_s": 0.0, "wall_s": 0.0})
        acc["cpu_s"] += cpu
        acc["wall_s"] += wall
        started: dict[str, float] = {}
        for record in instance.all_logs(result.run_id):
            ev = record.dagster_event
            if ev is None or ev.step_key is None:
                continue
            if ev.event_type_value == "STEP_START":
                started[ev.step_key] = record.timestamp
            elif ev.event_type_value == "STEP_SUCCESS" and ev.step_key in started:
                per_asset[ev.step_key] = record.timestamp - started[ev.step_key]
    hours = probe(video).duration_s / 3600.0
    for acc in per_stage.values():
        acc["video_h_per_core_h"] = hours / (acc["cpu_s"] / 3600.0) if acc["cpu_s"] else 0.0
        acc["video_h_per_wall_h"] = hours / (acc["wall_s"] / 3600.0) if acc["wall_s"] else 0.0
    dominant = max(per_asset, key=lambda k: per_asset[k]) if per_asset else ""
    return {
        "video": str(video),
        "video_s": hours * 3600.0,
        "assets_wall_s": per_asset,
        "stages": per_stage,
        "dominant_asset": dominant,
        "dominant_stage": max(per_stage, key=lambda k: per_stage[k]["cpu_s"]),
    }


def format_table(report: dict) -> str:
    lines = [
        f"video: {report['video_s'] / 60:.1f} min",
        "",
        "| asset | wall s |",
        "|---|---|",
    ]
    for name, s in report["assets_wall_s"].items():
        lines.append(f"| {name} | {s:.1f} |")
    lines += [
        "",
        "| stage | wall s | CPU s | video hours per core-hour | per wall hour |",
        "|---|---|---|---|---|",
    ]
    for name, s in report["stages"].items():
        lines.append(
            f"| {name} | {s['wall_s']:.1f} | {s['cpu_s']:.1f} | {s['video_h_per_core_h']:.2f} "
            f"| {s['video_h_per_wall_h']:.2f} |"
        )
    lines.append(
        f"\ndominant asset: {report['dominant_asset']}; dominant stage: {report['dominant_stage']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="video length (default 10)")
    parser.add_argument("--height", type=int, default=720, help="frame height, 16:9 (default 720)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the video and JSON")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    video = make_video(
        args.out / f"pipeline-{args.minutes:g}min-{args.height}p.mp4", args.minutes, args.height
    )
    generated_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="va-pipeline-") as tmp:
        report = run(video, Path(tmp))
    report.update(
        machine={"platform": platform.platform(), "cpu_count": os.cpu_count()},
        generated_s=generated_s,
        load_after=[round(x, 2) for x in os.getloadavg()],
    )
    path = args.out / "pipeline.json"
    path.write_text(json.dumps(report, indent=2))
    print(format_table(report))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
