"""A Celery worker killed in the middle of a step, under the postgres-celery profile (issue 18).

The stack of ``tests/test_deploy_postgres_celery.py`` (a throwaway PostgreSQL and Redis,
``deploy/postgres-celery/dagster.yaml`` unchanged, a ``steps`` and a ``models`` worker,
``dagster-daemon``). ``video_job`` is submitted for one video; while ``scene_table`` runs,
the ``steps`` worker's pool process executing it is killed with SIGKILL (as by the OOM
killer), and while ``vocal_stems`` runs, the ``models`` worker's (in the same run where it
is still running then and the run goes on, else in the next submission). The run must end
failed, or retry the killed steps (the profile's workers hand a lost task back to the
queue, so the step runs again from the start), as Dagster reports it; nothing half-written
may be visible under the data root, and the re-run (the retried steps, or a submission
after a failed run) must end with the files and rows of a clean run made in-process from
the same video.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.partitions import videos
from tests.conftest import sha256
from tests.services_support import (
    REPO,
    child,
    ensure_installed,
    log_tail,
    postgres_cluster,
    redis_server,
    wait_for_text,
)
from tests.test_faults import hidden_temps, same_file, visible_files
from video_assets.generate.synth import make_shots_video
from video_assets.registry import register
from video_assets.store import DataRoot

pytestmark = [pytest.mark.services, pytest.mark.timeout(1500)]

PROFILE = REPO / "deploy" / "postgres-celery"
BIN = Path(sys.executable).parent
ET = dg.DagsterEventType
TERMINAL = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
# Outputs of the per-video steps that must succeed; tokens need a trained tokenizer.
COMPARED = ("videos/", "clips/", "stems/", "tables/")
COMPARED_TABLES = ("videos", "keyframes", "scenes", "clips", "words", "segments")
"""Rows compared with the clean run's (stems rows carry sample statistics; the stem files
are compared within a tolerance instead)."""
# Long enough (many shots, 72 s) that scene detection and separation take seconds.
SHOTS = [60, 90, 45, 120, 75, 100, 50, 80, 110, 65, 95, 70, 85, 55, 105, 40, 90, 60, 75, 80,
         100, 45, 95, 70]  # fmt: skip


def _pool_children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (a Celery worker's prefork pool)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == pid:
                out.append(int(entry))
    return out


def _step_started(instance: dg.DagsterInstance, run_id: str, step: str) -> bool:
    return any(
        r.event_log_entry.step_key == step
        for r in instance.get_records_for_run(run_id, of_type=ET.STEP_START).records
    )


def _wait_run(instance: dg.DagsterInstance, run_id: str, watched: list, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while True:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status in TERMINAL:
            return run
        for proc, log, what in watched:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with status {proc.returncode}:\n{log_tail(log)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run.status if run else '?'}")
        time.sleep(1.0)


def _launch(env: dict[str, str], vid: str, instance: dg.DagsterInstance) -> str:
    before = {r.run_id for r in instance.get_runs(filters=dg.RunsFilter(job_name="video_job"))}
    done = subprocess.run(
        [str(BIN / "dagster"), "job", "backfill", "-w", str(REPO / "workspace.yaml"),
         "-j", "video_job", "--partitions", vid, "--noprompt"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        new = [
            r.run_id
            for r in instance.get_runs(filters=dg.RunsFilter(job_name="video_job"))
            if r.run_id not in before
        ]
        if new:
            return new[0]
        time.sleep(0.5)
    raise TimeoutError("the backfill submitted no run")


def _step_ended(instance: dg.DagsterInstance, run_id: str, step: str) -> bool:
    return any(
        r.event_log_entry.step_key == step
        for kind in (ET.STEP_SUCCESS, ET.STEP_FAILURE)
        for r in instance.get_records_for_run(run_id, of_type=kind).records
    )


def _kill_during(
    instance: dg.DagsterInstance, run_id: str, step: str, worker: subprocess.Popen, timeout_s: float
) -> list[int] | None:
    """SIGKILL the worker's pool process as soon as ``step`` has started in ``run_id``; None
    where the step was missed (it ended first, or the run did before it started)."""
    deadline = time.monotonic() + timeout_s
    while not _step_started(instance, run_id, step):
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status in TERMINAL:
            return None
        assert time.monotonic() < deadline, f"{step} did not start in {timeout_s:.0f} s"
        time.sleep(0.1)
    if _step_ended(instance, run_id, step):
        return None
    pool = _pool_children(worker.pid)
    assert pool, "the worker has no pool process"
    for pid in pool:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pool


def _assert_failed_or_retried(
    instance: dg.DagsterInstance, run: dg.DagsterRun, step: str, killed: list[int]
) -> None:
    """The run the kill hit ended failed, or retried the killed step as Dagster reports it."""
    starts = [
        r
        for r in instance.get_records_for_run(run.run_id, of_type=ET.STEP_START).records
        if r.event_log_entry.step_key == step
    ]
    retried_runs = instance.get_runs(
        filters=dg.RunsFilter(tags={"dagster/parent_run_id": run.run_id})
    )
    # Failed, or retried: the lost task went back to the queue and the step ran again from
    # the start in the worker's new pool process.
    ended = run.status == dg.DagsterRunStatus.FAILURE
    retried = bool(retried_runs) or (run.status == dg.DagsterRunStatus.SUCCESS and len(starts) >= 2)
    assert ended or retried, (
        f"killing pool process {killed} during {step}: run {run.status}, "
        f"{len(starts)} starts of {step}"
    )


def _outputs(root: Path) -> dict[str, Path]:
    """Visible files of the steps the clean reference runs (not motion, tokens, checks)."""

    def compared(rel: str) -> bool:
        if rel.startswith("tables/"):
            return rel.split("/")[1] in (*COMPARED_TABLES, "stems")
        return rel.startswith(COMPARED)

    return {rel: p for rel, p in visible_files(root).items() if compared(rel)}


def _clean_reference(video: Path, tmp: Path, monkeypatch) -> Path:
    """The per-video assets materialized in-process from the same landing file, with the
    same settings, into a fresh data root."""
    from dagster_project.definitions import ASSETS
    from dagster_project.defs.resources import default_resources

    root = tmp / "clean"
    monkeypatch.setenv("VIDEO_ASSETS_DATA_ROOT", str(root))
    monkeypatch.setenv("VIDEO_ASSETS_LANDING_DIR", str(video.parent))
    vid = register(DataRoot(str(root)), video).video_id
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(videos.name, [vid])
    keep = {"source_video", "iframe_index", "scene_table", "clips", "vocal_stems",
            "aligned_transcripts"}  # fmt: skip
    result = dg.materialize(
        [a for a in ASSETS if a.key.to_user_string() in keep],
        partition_key=vid,
        instance=instance,
        resources=default_resources(),
    )
    assert result.success
    return root


def test_worker_killed_mid_step_fails_cleanly_and_rerun_equals_clean(tmp_path, monkeypatch):
    bindir = ensure_installed()
    logs = tmp_path / "logs"
    logs.mkdir()
    data_root, landing = tmp_path / "data", tmp_path / "data" / "landing"
    landing.mkdir(parents=True)
    video = make_shots_video(landing / "long take.mp4", SHOTS, size=(320, 180), audio="tone").path
    source_sha = sha256(video)
    settings = {
        "VIDEO_ASSETS_ALLOW_PASSTHROUGH": "1",
        "VIDEO_ASSETS_DIARIZE": "0",
        "VIDEO_ASSETS_LANGUAGE": "en",
        "VIDEO_ASSETS_OFFLINE": "1",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    reference = _clean_reference(video, tmp_path, monkeypatch)

    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(postgres_cluster(bindir))
        redis_url = stack.enter_context(redis_server(logs / "redis.log"))
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copyfile(PROFILE / "dagster.yaml", home / "dagster.yaml")
        env = {
            **os.environ,
            **pg.env(),
            **settings,
            "DAGSTER_HOME": str(home),
            "DAGSTER_CELERY_BROKER_URL": f"{redis_url}/0",
            "DAGSTER_CELERY_BACKEND_URL": f"{redis_url}/1",
            "VIDEO_ASSETS_EXECUTOR": "celery",
            "VIDEO_ASSETS_DATA_ROOT": str(data_root),
            "VIDEO_ASSETS_LANDING_DIR": str(landing),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        for name in ("DAGSTER_HOME", *pg.env()):
            monkeypatch.setenv(name, env[name])
        migrate = subprocess.run(
            [str(BIN / "dagster"), "instance", "migrate"],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert migrate.returncode == 0, migrate.stderr[-2000:]
        workers = {}
        watched = []
        for name, queue in (("steps", "dagster"), ("models", "models")):
            log = logs / f"worker-{name}.log"
            cmd = [str(BIN / "celery"), "-A", "dagster_project.celery_app", "worker", "-Q", queue,
                   "-c", "1", "-n", f"{name}@%h", "-l", "INFO", "--without-gossip",
                   "--without-mingle", "--without-heartbeat"]  # fmt: skip
            proc = stack.enter_context(child(cmd, env, log))
            workers[name] = proc
            watched.append((proc, log, f"celery worker {name}"))
        daemon_log = logs / "daemon.log"
        daemon = stack.enter_context(
            child(
                [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
                env,
                daemon_log,
            )  # fmt: skip
        )
        watched.append((daemon, daemon_log, "dagster-daemon"))
        try:
            vid = register(DataRoot(str(data_root)), video).video_id
            for proc, log, what in watched[:2]:
                wait_for_text(log, "ready.", proc, 180, what)
            with dg.DagsterInstance.get() as instance:
                instance.add_dynamic_partitions(videos.name, [vid])
                # Both kills in one run where the steps allow (the profile's workers hand a
                # lost task back, so the run goes on); a step the run finished before its
                # kill, or never reached, is killed in the next submission.
                pending = [("scene_table", "steps"), ("vocal_stems", "models")]
                for _ in range(3):
                    if not pending:
                        break
                    run_id = _launch(env, vid, instance)
                    hits = []
                    for step, worker in pending:
                        killed = _kill_during(instance, run_id, step, workers[worker], 600)
                        if killed is not None:
                            hits.append((step, worker, killed))
                    run = _wait_run(instance, run_id, watched, 900)
                    print(f"run {run_id} ({run.status}): killed during {[h[0] for h in hits]}")
                    for step, worker, killed in hits:
                        _assert_failed_or_retried(instance, run, step, killed)
                        # The Celery worker replaced its pool process and takes the re-run.
                        assert workers[worker].poll() is None
                    pending = [p for p in pending if p[0] not in {h[0] for h in hits}]
                    # Nothing of a killed step is visible under a final name; the killed
                    # writers' temporary files are hidden (and swept by the next write there).
                    for rel, path in _outputs(data_root).items():
                        ref = _outputs(reference).get(rel)
                        assert ref is not None, f"{rel} is not an output of a clean run"
                        assert same_file(rel, path, ref), f"{rel} differs from the clean run's"
                    assert sha256(video) == source_sha
                assert not pending, f"never killed during {pending}"
                # A run that retried the killed steps re-ran them itself; one that failed is
                # re-run here.
                if run.status == dg.DagsterRunStatus.FAILURE:
                    run_id = _launch(env, vid, instance)
                    run = _wait_run(instance, run_id, watched, 900)
                assert run.status == dg.DagsterRunStatus.SUCCESS, run.status
                done = {
                    r.event_log_entry.step_key
                    for r in instance.get_records_for_run(run_id, of_type=ET.STEP_SUCCESS).records
                }
                assert {"scene_table", "clips", "vocal_stems", "aligned_transcripts"} <= done, done
            seen, ref = _outputs(data_root), _outputs(reference)
            assert seen.keys() == ref.keys(), set(seen) ^ set(ref)
            for rel, path in seen.items():
                assert same_file(rel, path, ref[rel]), f"{rel} differs from the clean run's"
            for table in COMPARED_TABLES:
                assert (
                    DataRoot(str(data_root))
                    .read_table(table, vid)
                    .equals(DataRoot(str(reference)).read_table(table, vid))
                ), table
            # Only temporaries of live writers could remain; every writer is done.
            assert not [t for t in hidden_temps(data_root) if t.startswith(COMPARED)]
        except BaseException:
            for _, log, what in watched:
                print(f"--- {what} ({log}):\n{log_tail(log)}")
            raise
