"""Helpers of the browser test: Debian's Chromium, a project instance with one materialized
partition, and the Dagster webserver as a child process group."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from dagster_project.definitions import ASSETS, CHECKS
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import (
    ShardStageConfig,
    StoreResource,
    TokenStageConfig,
    VideoStageConfig,
    audio_config_from_env,
)
from video_assets.generate.synth import make_shots_video
from video_assets.registry import register

REPO = Path(__file__).resolve().parent.parent

# Debian's Chromium in a container: no sandbox (we are root), no GPU, and nothing that
# phones home or updates itself while the test runs.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# What the first partition gets before the UI opens: enough for the graph, the scene_table
# page (its contact sheet) and the checks of clips.
PREMATERIALIZED = ("source_video", "iframe_index", "scene_table", "clips")


def chromium_executable() -> str:
    """Debian's ``chromium``, installed by ``scripts/install_chromium.sh`` when missing."""
    path = shutil.which("chromium")
    if path is None:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "install_chromium.sh")], check=True, timeout=900
        )
        path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("chromium is not on PATH after scripts/install_chromium.sh")
    return path


def artifacts_dir() -> Path:
    """``$VIDEO_ASSETS_TEST_ARTIFACTS``, else ``test-artifacts/ui/`` at the repository root."""
    out = Path(os.environ.get("VIDEO_ASSETS_TEST_ARTIFACTS") or REPO / "test-artifacts" / "ui")
    out.mkdir(parents=True, exist_ok=True)
    return out


@dataclass
class UiProject:
    """A DAGSTER_HOME and data root with two registered videos, the first one materialized."""

    home: Path
    data_root: Path
    landing: Path
    video_ids: list[str]

    def env(self) -> dict[str, str]:
        return {
            "DAGSTER_HOME": str(self.home),
            "VIDEO_ASSETS_DATA_ROOT": str(self.data_root),
            "VIDEO_ASSETS_LANDING_DIR": str(self.landing),
            "VIDEO_ASSETS_ALLOW_PASSTHROUGH": "1",
        }


def write_instance_yaml(home: Path) -> None:
    """deploy/local/dagster.yaml plus the default run coordinator: a run launched from the UI
    starts at once from the webserver, with no daemon to dequeue it; and no welcome dialog."""
    home.mkdir(parents=True, exist_ok=True)
    local = (REPO / "deploy" / "local" / "dagster.yaml").read_text()
    (home / "dagster.yaml").write_text(
        local
        + "\nrun_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
        # No "Join the Dagster community" dialog over the pages.
        + "nux:\n  enabled: false\n"
    )


def make_project(base: Path) -> UiProject:
    """Two small generated videos, registered and added as partitions; neither materialized."""
    project = UiProject(
        home=base / "dagster_home",
        data_root=base / "data",
        landing=base / "data" / "landing",
        video_ids=[],
    )
    write_instance_yaml(project.home)
    project.landing.mkdir(parents=True, exist_ok=True)
    store = StoreResource(
        data_root=str(project.data_root), landing_dir=str(project.landing), settle_s=0.0
    )
    # Most shots last over min_clip_s (3 s) so clips has clips; one short scene is flagged.
    for k, shots in enumerate(([90, 80, 100, 45], [80, 95, 85])):
        video = make_shots_video(
            project.landing / f"ui_{k}.mp4", shots, size=(320, 180), audio="tone", seed=11 + k
        )
        project.video_ids.append(register(store.root(), video.path).video_id)
    return project


def materialize_first(project: UiProject, instance: dg.DagsterInstance) -> dg.ExecuteInJobResult:
    """Materialize ``PREMATERIALIZED`` and their checks for the first video, in-process."""
    instance.add_dynamic_partitions(videos.name, project.video_ids)
    store = StoreResource(data_root=str(project.data_root), landing_dir=str(project.landing))
    resources = {
        "store": store,
        "video_config": VideoStageConfig(),
        "audio_config": audio_config_from_env(),
        "shard_config": ShardStageConfig(),
        "token_config": TokenStageConfig(),
    }
    assets = [a for a in ASSETS if a.key.to_user_string() in PREMATERIALIZED]
    keys = {a.key for a in assets}
    checks = [c for c in CHECKS if any(k.asset_key in keys for k in c.check_keys)]
    return dg.materialize(
        [*assets, *checks],
        partition_key=project.video_ids[0],
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Webserver:
    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def _wait_until_up(server: Webserver, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"dagster-webserver exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.url + "/server_info", timeout=5) as resp:
                if resp.status == 200:
                    json.load(resp)
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(1.0)
    raise TimeoutError(
        f"dagster-webserver did not answer {server.url}/server_info in {timeout_s:.0f} s:\n"
        f"{server.log_tail()}"
    )


@contextmanager
def webserver(
    env: dict[str, str], log: Path, timeout_s: float = 240.0, command: list[str] | None = None
) -> Iterator[Webserver]:
    """``dagster-webserver`` on 127.0.0.1 in its own process group, killed (group and all)
    on exit, whatever happened inside. ``command`` starts it another way (it is given
    ``-h 127.0.0.1 -p PORT``)."""
    port = free_port()
    # The environment's own entry point (what ``uv run --frozen dagster-webserver`` runs).
    exe = Path(sys.executable).parent / "dagster-webserver"
    start = command or [str(exe), "-w", str(REPO / "workspace.yaml")]
    cmd = [*start, "-h", "127.0.0.1", "-p", str(port)]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Webserver(url=f"http://127.0.0.1:{port}", process=proc, log=log)
    try:
        _wait_until_up(server, timeout_s)
        yield server
    finally:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; children (code server, run workers) may linger in the group.
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return


def wait_for_partition_run(
    instance: dg.DagsterInstance, partition: str, timeout_s: float
) -> dg.DagsterRun:
    """The run launched for ``partition``, once it has finished successfully; an error naming
    the failed steps otherwise."""
    deadline = time.monotonic() + timeout_s
    run = None
    while time.monotonic() < deadline:
        runs = instance.get_runs(
            filters=dg.RunsFilter(tags={"dagster/partition": partition}), limit=1
        )
        run = runs[0] if runs else None
        if run is not None and run.status == dg.DagsterRunStatus.SUCCESS:
            return run
        if run is not None and run.status in (
            dg.DagsterRunStatus.FAILURE,
            dg.DagsterRunStatus.CANCELED,
        ):
            failures = []
            for e in instance.all_logs(run.run_id):
                event = e.dagster_event
                if event is None or event.event_type_value not in ("STEP_FAILURE", "RUN_FAILURE"):
                    continue
                error = getattr(event.event_specific_data, "error", None)
                failures.append(
                    f"{e.step_key or 'run'}: {error.to_string() if error else e.message}"
                )
            raise AssertionError(
                f"run {run.run_id} for partition {partition} ended {run.status.value}:\n"
                + "\n".join(failures)
            )
        time.sleep(2.0)
    state = f"run {run.run_id} is {run.status.value}" if run else "no run was launched"
    raise TimeoutError(f"partition {partition}: {state} after {timeout_s:.0f} s")
