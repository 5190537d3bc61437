"""The postgres-celery deployment profile, for real, on one machine.

A throwaway PostgreSQL cluster and redis-server on 127.0.0.1; ``DAGSTER_HOME`` holds
``deploy/postgres-celery/dagster.yaml`` unchanged; two Celery workers started as the profile's
README says (one on the queue ``dagster``, one on ``models``); ``dagster-daemon`` dequeues the
runs. ``dagster job backfill`` submits ``video_job`` for two generated videos, then
``dagster job launch`` submits ``catalog_job``, exactly as a user would. The test checks that
every step ran in a Celery worker (model steps in the ``models`` worker), that the runs went
through the queue, that the ``models`` pool kept model steps from overlapping across runs, and
that the DuckDB catalog holds every partition's rows exactly once.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.defs.partitions import videos
from tests.services_support import (
    REPO,
    child,
    ensure_installed,
    log_tail,
    postgres_cluster,
    redis_server,
    wait_for_text,
)
from video_assets.catalog import CATALOG_FILE, connect
from video_assets.generate.synth import make_shots_video
from video_assets.registry import register
from video_assets.store import DataRoot

pytestmark = [pytest.mark.services, pytest.mark.timeout(900)]

PROFILE = REPO / "deploy" / "postgres-celery"
BIN = Path(
    sys.executable
).parent  # the environment's entry points (celery, dagster, dagster-daemon)
# Frame counts at 25 fps: every shot is longer than the 3 s minimum clip.
SHOTS = ([90, 80, 100], [85, 95])  # two runs at once: enough to show the models pool
MODEL_STEPS = {"vocal_stems", "aligned_transcripts", "tokenizer_model", "token_tensors"}
MUST_SUCCEED = {
    "source_video",
    "iframe_index",
    "scene_table",
    "clips",
    "vocal_stems",
    "aligned_transcripts",
}
TABLES = ("videos", "keyframes", "scenes", "clips", "stems", "words", "segments")
RUN_TIMEOUT_S = 480.0
ET = dg.DagsterEventType
TERMINAL = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def run_failures(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    lines = []
    for record in instance.all_logs(run.run_id):
        event = record.dagster_event
        if event is not None and event.event_type in (
            ET.STEP_FAILURE,
            ET.RUN_FAILURE,
            ET.ENGINE_EVENT,
        ):
            error = getattr(event.event_specific_data, "error", None)
            if error is not None or event.event_type != ET.ENGINE_EVENT:
                lines.append(
                    f"{record.step_key or 'run'}: {error.to_string() if error else record.message}"
                )
    return (
        f"run {run.run_id} ({run.job_name}, {run.tags.get('dagster/partition', '-')}) ended "
        f"{run.status.value}:\n" + "\n".join(lines)
    )


def wait_for_runs(
    instance: dg.DagsterInstance, job: str, count: int, watched: list, timeout_s: float
) -> list:
    """The ``count`` runs of ``job`` once all have ended, every one successfully; an error
    naming the failed steps otherwise, or as soon as a watched process dies."""
    deadline = time.monotonic() + timeout_s
    while True:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name=job))
        if len(runs) >= count and all(r.status in TERMINAL for r in runs):
            failed = [r for r in runs if r.status != dg.DagsterRunStatus.SUCCESS]
            assert not failed, "\n\n".join(run_failures(instance, r) for r in failed)
            return runs
        for proc, log, what in watched:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with status {proc.returncode}:\n{log_tail(log)}")
        if time.monotonic() > deadline:
            states = ", ".join(f"{r.run_id[:8]} {r.status.value}" for r in runs) or "no run yet"
            raise TimeoutError(f"{job}: {states} after {timeout_s:.0f} s")
        time.sleep(2.0)


def celery_steps(
    instance: dg.DagsterInstance, run_id: str
) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """Per step: the Celery worker that executed it, the queue it was submitted to; and the
    steps that succeeded."""
    workers: dict[str, str] = {}
    queues: dict[str, str] = {}
    succeeded: set[str] = set()
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == ET.STEP_SUCCESS:
            succeeded.add(record.step_key)
        elif event.event_type == ET.ENGINE_EVENT:
            if record.message.startswith("Submitting celery task for step"):
                queues[record.step_key] = record.message.rsplit('queue "', 1)[1].rstrip('".')
            worker = event.engine_event_data.metadata.get("Celery worker")
            if worker is not None:
                workers[record.step_key] = worker.value
    return workers, queues, succeeded


def step_intervals(
    instance: dg.DagsterInstance, run_id: str, steps: set[str]
) -> list[tuple[float, float, str]]:
    """(start, end, step) of every step in ``steps`` that started."""
    starts: dict[str, float] = {}
    out = []
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or record.step_key not in steps:
            continue
        if event.event_type == ET.STEP_START:
            starts[record.step_key] = record.timestamp
        elif event.event_type in (ET.STEP_SUCCESS, ET.STEP_FAILURE) and record.step_key in starts:
            out.append(
                (starts[record.step_key], record.timestamp, f"{run_id[:8]}:{record.step_key}")
            )
    return out


def first_event(instance: dg.DagsterInstance, run_id: str, event_type: dg.DagsterEventType) -> int:
    """The storage id of the run's first event of ``event_type``."""
    ids = [r.storage_id for r in instance.get_records_for_run(run_id, of_type=event_type).records]
    assert ids, f"run {run_id} has no {event_type.value} event"
    return min(ids)


def cli(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(BIN / "dagster"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"dagster {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_postgres_celery_profile(tmp_path, monkeypatch):
    t0 = time.monotonic()
    bindir = ensure_installed()
    logs = tmp_path / "logs"
    logs.mkdir()
    watched: list = []
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(postgres_cluster(bindir))
        redis_url = stack.enter_context(redis_server(logs / "redis.log"))
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copyfile(PROFILE / "dagster.yaml", home / "dagster.yaml")  # the profile, unchanged
        data_root, landing = tmp_path / "data", tmp_path / "data" / "landing"
        landing.mkdir(parents=True)
        env = {
            **os.environ,
            **pg.env(),
            "DAGSTER_HOME": str(home),
            "DAGSTER_CELERY_BROKER_URL": f"{redis_url}/0",
            "DAGSTER_CELERY_BACKEND_URL": f"{redis_url}/1",
            "VIDEO_ASSETS_EXECUTOR": "celery",
            "VIDEO_ASSETS_DATA_ROOT": str(data_root),
            "VIDEO_ASSETS_LANDING_DIR": str(landing),
            "VIDEO_ASSETS_ALLOW_PASSTHROUGH": "1",
            # The videos' tone holds no speech: the English model and no speaker search keep
            # the model steps short (the profile, not the audio defaults, is tested here).
            "VIDEO_ASSETS_DIARIZE": "0",
            "VIDEO_ASSETS_LANGUAGE": "en",
            "VIDEO_ASSETS_OFFLINE": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        # This process only talks to the instance (PostgreSQL); it never loads the code location.
        for name in ("DAGSTER_HOME", *pg.env()):
            monkeypatch.setenv(name, env[name])
        t_services = time.monotonic()
        # As the profile's README says: the tables first, before the daemon and the workers
        # connect (processes that all find an empty database race to create them).
        migrate = subprocess.run(
            [str(BIN / "dagster"), "instance", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stderr[-2000:]

        # The workers, as deploy/postgres-celery/README.md starts them (plus three flags that only
        # skip worker-to-worker chatter at start-up).
        started = []
        for name, queue, concurrency in (("steps", "dagster", 2), ("models", "models", 1)):
            log = logs / f"worker-{name}.log"
            cmd = [
                str(BIN / "celery"),
                "-A",
                "dagster_project.celery_app",
                "worker",
                "-Q",
                queue,
                "-c",
                str(concurrency),
                "-n",
                f"{name}@%h",
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
            proc = stack.enter_context(child(cmd, env, log))
            started.append((proc, log, f"celery worker {name}"))
        daemon_log = logs / "daemon.log"
        daemon = stack.enter_context(
            child(
                [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
                env,
                daemon_log,
            )
        )
        watched = [*started, (daemon, daemon_log, "dagster-daemon")]

        try:
            root = DataRoot(str(data_root))
            ids = []
            for k, shots in enumerate(SHOTS):
                video = make_shots_video(
                    landing / f"video_{k}.mp4", shots, size=(320, 180), audio="tone", seed=31 + k
                )
                ids.append(register(root, video.path).video_id)
            assert len(set(ids)) == len(SHOTS)
            for proc, log, what in started:
                wait_for_text(log, "ready.", proc, 120, what)
            t_ready = time.monotonic()

            with dg.DagsterInstance.get() as instance:
                instance.add_dynamic_partitions(videos.name, ids)
                cli(
                    [
                        "job",
                        "backfill",
                        "-w",
                        str(REPO / "workspace.yaml"),
                        "-j",
                        "video_job",
                        "--partitions",
                        ",".join(ids),
                        "--noprompt",
                    ],
                    env,
                )
                runs = wait_for_runs(instance, "video_job", len(ids), watched, RUN_TIMEOUT_S)
                t_videos = time.monotonic()
                cli(["job", "launch", "-w", str(REPO / "workspace.yaml"), "-j", "catalog_job"], env)
                (catalog_run,) = wait_for_runs(instance, "catalog_job", 1, watched, RUN_TIMEOUT_S)
                t_catalog = time.monotonic()

                assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(ids)
                pool_intervals = []
                for run in [*runs, catalog_run]:
                    # Through the queue: enqueued by the CLI, launched later by the daemon.
                    assert first_event(instance, run.run_id, ET.RUN_ENQUEUED) < first_event(
                        instance, run.run_id, ET.RUN_STARTING
                    ), run.run_id
                    workers, queues, succeeded = celery_steps(instance, run.run_id)
                    assert succeeded, f"run {run.run_id} has no successful step"
                    # Every step that ran, ran in a Celery worker; model steps in the models worker.
                    for step in succeeded:
                        assert step in workers, (
                            f"{run.run_id}: step {step} did not run in a Celery worker"
                        )
                        expected = "models" if step in MODEL_STEPS else "steps"
                        assert workers[step].startswith(f"{expected}@"), (step, workers[step])
                        assert queues[step] == ("models" if step in MODEL_STEPS else "dagster"), (
                            step,
                            queues[step],
                        )
                    pool_intervals += step_intervals(instance, run.run_id, MODEL_STEPS)
                    if run.job_name == "video_job":
                        assert succeeded >= MUST_SUCCEED, (run.run_id, MUST_SUCCEED - succeeded)
                    else:
                        assert "catalog" in succeeded
                # Pool "models" (default_limit 1): no two model steps overlapped, across runs.
                assert len(pool_intervals) >= 2 * len(ids)
                for a, b in itertools.combinations(sorted(pool_intervals), 2):
                    assert a[1] <= b[0], f"model steps overlapped: {a[2]} and {b[2]}"

            # The catalog: every partition's rows exactly once.
            with connect(root) as con:
                for table in TABLES:
                    got = dict(
                        con.execute(f"SELECT video_id, count(*) FROM {table} GROUP BY 1").fetchall()
                    )  # noqa: S608 - constant names
                    want = {vid: n for vid in ids if (n := len(root.read_table(table, vid)))}
                    assert got == want, f"{table}: catalog {got} != partitions {want}"
                assert con.execute(
                    "SELECT count(*), count(DISTINCT video_id) FROM videos"
                ).fetchone() == (len(SHOTS), len(SHOTS))
                dupes = con.execute(
                    "SELECT count(*) - count(DISTINCT (video_id, clip_id)) FROM clips"
                ).fetchone()[0]
                assert dupes == 0
                n_clips = dict(
                    con.execute("SELECT video_id, count(*) FROM clips GROUP BY 1").fetchall()
                )
                assert all(n_clips.get(vid, 0) >= 2 for vid in ids), n_clips
                for (path,) in con.execute("SELECT path FROM clips").fetchall():
                    assert root.exists(path), path
            # ... and the file the catalog asset wrote, opened as a user would, from the data root.
            with duckdb.connect(str(data_root / CATALOG_FILE), read_only=True) as con:
                con.execute(f"SET file_search_path = '{data_root}'")
                assert con.execute(
                    "SELECT count(*), count(DISTINCT video_id) FROM videos"
                ).fetchone() == (len(SHOTS), len(SHOTS))
            for _, log, what in started:
                assert "succeeded in" in log.read_text(errors="replace"), f"{what} ran no task"
            # The daemon's run queue launched them ("Launched N runs.").
            assert re.search(r"Launched \d+ runs", daemon_log.read_text(errors="replace")), (
                log_tail(daemon_log)
            )
        except BaseException:
            for _, log, what in watched:
                print(f"--- {what} ({log}):\n{log_tail(log)}")
            raise
    print(
        f"\nservices {t_services - t0:.1f} s, workers ready {t_ready - t_services:.1f} s, "
        f"{len(ids)} video runs {t_videos - t_ready:.1f} s, catalog {t_catalog - t_videos:.1f} s, "
        f"total with teardown {time.monotonic() - t0:.1f} s"
    )
