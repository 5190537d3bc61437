"""Mutation fuzzing at scale: damaged files in every container through every command.

Makes a two-shot file with a tone track in MP4, MOV, MKV, WebM, AVI, MPEG-PS and MPEG-TS,
damages copies of them, seeded (bit flips, a zeroed block, a truncation, a duplicated block,
changed header bytes; see :mod:`video_assets.fuzz`), and runs ``keyframes``, ``scenes``
(cascade and full), ``split`` (copy and re-encode), ``separate``, ``transcribe`` and
``tokenize`` on each, plus the MP4 header reader against demuxing on MP4/MOV files. Then
one Dagster partition run per container on a damaged file (ingest, index, scenes, clips,
stems, transcript). Every run must exit 0, or exit 2 naming the file; never hang, print a
traceback, change its input or leave a half-written output.

Prints the tally by command and outcome and every failing run; writes
``bench/out/fuzz.json``.

    nice -n 15 uv run --frozen python bench/fuzz.py --files 150      # 1,200+ command runs
    nice -n 15 uv run --frozen python bench/fuzz.py --files 168 --audio-every 6 --timeout 300
    nice -n 15 uv run --frozen python bench/fuzz.py --files 14 --seed 7 --no-audio
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from video_assets import fuzz  # noqa: E402

OUT = ROOT / "bench" / "out"
WARM = ("video_assets.audio.separation", "video_assets.audio.transcription", "video_assets.tokens")
VIDEO_ASSETS = ("source_video", "iframe_index", "scene_table", "clips")
AUDIO_ASSETS = ("vocal_stems", "aligned_transcripts")


@dataclass
class PartitionRun:
    """One Dagster partition run on a damaged file, judged."""

    case: str
    container: str
    mutation: str
    outcome: str
    elapsed_s: float
    failed_step: str = ""
    message: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.outcome not in ("ok", "error")


def _error_classes() -> set[str]:
    """Names of the library's deliberate errors (every subclass of VideoAssetsError)."""
    import video_assets.audio.separation
    import video_assets.audio.transcription
    import video_assets.tokens  # noqa: F401 - their error classes
    from video_assets.errors import VideoAssetsError

    names, todo = set(), [VideoAssetsError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names


def run_partition(
    case: fuzz.FuzzCase, work: Path, *, audio: bool = True, timeout_note: str = ""
) -> PartitionRun:
    """Register ``case``'s file from a landing folder and materialize its partition in-process.

    ``ok``: the run succeeded; ``error``: registration refused the file, or one step failed
    with an error naming the file, and nothing but whole outputs is visible in the data root.
    """
    import dagster as dg

    from dagster_project.definitions import ASSETS
    from dagster_project.defs.partitions import videos
    from dagster_project.defs.resources import (
        AudioStageConfig,
        StoreResource,
        TokenStageConfig,
        VideoStageConfig,
    )
    from video_assets.errors import VideoAssetsError
    from video_assets.registry import register

    m = case.mutation
    run_dir = work / f"dagster-{m.case_id}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    landing, data = run_dir / "landing", run_dir / "data"
    landing.mkdir(parents=True)
    video = landing / case.path.name
    shutil.copyfile(case.path, video)
    t0 = time.perf_counter()

    def done(outcome: str, **kw) -> PartitionRun:
        problems = list(kw.pop("problems", []))
        if fuzz._sha256(video) != case.sha256:
            problems.append("the landing file changed")
        temps = [str(p.relative_to(data)) for p in data.rglob(".tmp-*")] if data.exists() else []
        if temps:
            problems.append(f"temporary files left in the data root: {temps[:3]}")
        if problems and outcome in ("ok", "error"):
            outcome = "half-written" if temps else "input-changed"
        return PartitionRun(
            m.case_id,
            m.container,
            m.kind,
            outcome,
            time.perf_counter() - t0,
            problems=problems,
            **kw,
        )

    store = StoreResource(data_root=str(data), landing_dir=str(landing), settle_s=0.0)
    try:
        vid = register(store.root(), video).video_id
    except VideoAssetsError as exc:
        named = str(video) in str(exc)
        return done("error" if named else "unnamed-error", failed_step="register", message=str(exc))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(videos.name, [vid])
    wanted = VIDEO_ASSETS + (AUDIO_ASSETS if audio else ())
    assets = [a for a in ASSETS if a.key.to_user_string() in wanted]
    resources = {
        "store": store,
        "video_config": VideoStageConfig(min_clip_s=1.0),
        "audio_config": AudioStageConfig(diarize=False, language="en"),
        "token_config": TokenStageConfig(),
    }
    try:
        result = dg.materialize(
            assets,
            partition_key=vid,
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
    except Exception as exc:  # noqa: BLE001 - a crash outside any step is the finding
        return done("traceback", message=f"{type(exc).__name__}: {exc}")
    if result.success:
        return done("ok")
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    if not failures:
        return done("bad-exit", message="the run failed without a step failure")
    failure = failures[0]
    error = failure.event_specific_data.error
    text = error.to_string() if error is not None else ""
    cause = error
    while cause is not None and cause.cause is not None:
        cause = cause.cause
    kind = cause.cls_name if cause is not None else ""
    message = (cause.message if cause is not None else "").strip().splitlines()
    line = message[0] if message else ""
    if kind and kind not in _error_classes():
        return done("traceback", failed_step=failure.step_key or "", message=f"{kind}: {line}")
    named = any(n in text for n in (str(video), video.name, vid))
    return done(
        "error" if named else "unnamed-error", failed_step=failure.step_key or "", message=line
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=150, help="damaged files (default 150)")
    parser.add_argument("--seed", type=int, default=0, help="first mutation seed")
    parser.add_argument("--timeout", type=float, default=fuzz.DEFAULT_TIMEOUT_S)
    parser.add_argument("--no-audio", action="store_true", help="skip separate and transcribe")
    parser.add_argument(
        "--audio-every",
        type=int,
        default=1,
        help="run separate and transcribe on every Nth file only (each costs seconds of model "
        "time; default 1: every file)",
    )
    parser.add_argument("--no-dagster", action="store_true", help="skip the partition runs")
    parser.add_argument("--out", type=Path, default=OUT / "fuzz.json")
    parser.add_argument("--keep", type=Path, default=None, help="keep the work folder here")
    args = parser.parse_args()

    commands = tuple(
        c for c in fuzz.COMMANDS if not (args.no_audio and c.name in ("separate", "transcribe"))
    )
    work = args.keep or Path(tempfile.mkdtemp(prefix="fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    seeds = fuzz.make_seeds(work / "seeds")
    cases = fuzz.make_cases(seeds, work / "cases", args.files, first_seed=args.seed)
    results: list[fuzz.RunResult] = []
    env = {**os.environ, "VIDEO_ASSETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    with fuzz.CliWorker(env=env, warm=WARM) as worker:
        checkpoint = fuzz.train_checkpoint(worker, list(seeds.values()), work)
        for i, case in enumerate(cases):
            audio = i % max(1, args.audio_every) == 0
            these = tuple(c for c in commands if audio or c.name not in ("separate", "transcribe"))
            rows = fuzz.run_case(
                worker, case, work / "runs", these, checkpoint=checkpoint, timeout_s=args.timeout
            )
            results += rows
            bad = [r for r in rows if r.failed]
            print(
                f"[{i + 1}/{len(cases)}] {case.mutation.case_id}: "
                + " ".join(f"{r.command}={r.outcome}" for r in rows),
                flush=True,
            )
            for r in bad:
                print(f"    {r.command}: {r.outcome}: {r.problems} ({case.mutation.detail})")
        restarts = worker.restarts
    cli_s = time.perf_counter() - t0

    partitions: list[PartitionRun] = []
    if not args.no_dagster:
        by_container: dict[str, fuzz.FuzzCase] = {}
        for case in cases:  # the first header-damaged file of each container, else any
            c = case.mutation.container
            if c not in by_container or (
                case.mutation.kind == "header" and by_container[c].mutation.kind != "header"
            ):
                by_container[c] = case
        for case in by_container.values():
            run = run_partition(case, work / "dagster", audio=not args.no_audio)
            partitions.append(run)
            print(f"dagster {run.case}: {run.outcome} {run.failed_step} {run.message[:120]}")

    print()
    print(fuzz.format_tally(results))
    failed = [r for r in results if r.failed]
    print(f"\n{len(cases)} damaged files, {len(results)} runs, {len(failed)} failing, "
          f"{restarts} worker restarts, {cli_s:.0f} s")  # fmt: skip
    for r in failed:
        print(f"  {r.case} {r.command}: {r.outcome}: {'; '.join(r.problems)[:300]}")
    if partitions:
        print("\n| container | damage | partition run | failed step | message |")
        print("|---|---|---|---|---|")
        for p in partitions:
            print(f"| {p.container} | {p.mutation} | {p.outcome} | {p.failed_step or '-'} | "
                  f"{p.message[:90]} |")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                "command": " ".join(sys.argv),
                "files": len(cases),
                "runs": len(results),
                "elapsed_s": round(time.perf_counter() - t0, 1),
                "tally": fuzz.tally(results),
                "failing": [asdict(r) for r in failed],
                "partitions": [asdict(p) for p in partitions],
                "runs_detail": fuzz.results_json(results),
            },
            indent=1,
        )
    )
    print(f"\nwrote {args.out}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed or any(p.failed for p in partitions) else 0


if __name__ == "__main__":
    sys.exit(main())
