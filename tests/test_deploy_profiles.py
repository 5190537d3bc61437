"""Deployment profiles without services: executor selection, its errors, the model steps'
tags, and the profile files (deploy/). The services test runs the postgres-celery profile."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dagster_project.defs.execution import (
    BACKEND_ENV,
    BROKER_ENV,
    CELERY_QUEUE_TAG,
    EXECUTOR_ENV,
    K8S_CONFIG_TAG,
    MODEL_QUEUE,
    executor_from_env,
)
from video_assets.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
MODEL_ASSETS = {"vocal_stems", "aligned_transcripts", "tokenizer_model", "token_tensors"}


def test_default_executor_forks_steps_from_a_preloaded_server():
    assert executor_from_env({}).name == "forkserver"
    assert executor_from_env({EXECUTOR_ENV: "multiprocess"}) is dg.multiprocess_executor


def test_celery_executor_reads_broker_from_env():
    ex = executor_from_env({EXECUTOR_ENV: "celery", BROKER_ENV: "redis://h:6379/0"})
    assert ex.name == "celery"
    ex2 = executor_from_env(
        {EXECUTOR_ENV: "celery", BROKER_ENV: "redis://h:6379/0", BACKEND_ENV: "redis://h/1"}
    )
    assert ex2.name == "celery"


@pytest.mark.parametrize(
    ("env", "setting", "words"),
    [
        (
            {EXECUTOR_ENV: "spark"},
            EXECUTOR_ENV,
            "must be one of forkserver, multiprocess, in_process, celery, k8s, got 'spark'",
        ),
        (
            {EXECUTOR_ENV: "celery"},
            BROKER_ENV,
            "must be set for the Celery executor and its workers",
        ),
        ({EXECUTOR_ENV: "celery", BROKER_ENV: "localhost:6379"}, BROKER_ENV, "redis://HOST:6379/0"),
        ({EXECUTOR_ENV: "celery", BROKER_ENV: "http://h:6379"}, BROKER_ENV, "schemes: redis"),
        (
            {EXECUTOR_ENV: "celery", BROKER_ENV: "redis://h", BACKEND_ENV: "h:6379"},
            BACKEND_ENV,
            "got 'h:6379'",
        ),
    ],
)
def test_bad_executor_settings_name_the_setting(env, setting, words):
    with pytest.raises(ConfigError) as err:
        executor_from_env(env)
    assert err.value.setting == setting
    assert setting in str(err.value) and words in str(err.value)


def test_k8s_executor_needs_dagster_k8s():
    try:
        import dagster_k8s
    except ImportError:
        with pytest.raises(ConfigError, match="VIDEO_ASSETS_EXECUTOR.*dagster-k8s"):
            executor_from_env({EXECUTOR_ENV: "k8s"})
    else:
        assert executor_from_env({EXECUTOR_ENV: "k8s"}) is dagster_k8s.k8s_job_executor


def test_model_assets_carry_queue_and_gpu_tags_others_none():
    from dagster_project.definitions import ASSETS

    for a in ASSETS:
        name = a.key.to_user_string()
        tags = a.op.tags
        if name in MODEL_ASSETS:
            assert a.op.pool == "models", name
            assert tags[CELERY_QUEUE_TAG] == MODEL_QUEUE, name
            k8s = json.loads(tags[K8S_CONFIG_TAG])
            assert set(k8s) <= {
                "container_config",
                "pod_spec_config",
                "pod_template_spec_metadata",
                "job_spec_config",
                "job_metadata",
                "merge_behavior",
            }
            resources = k8s["container_config"]["resources"]
            assert (
                resources["limits"]["nvidia.com/gpu"]
                == "1"
                == resources["requests"]["nvidia.com/gpu"]
            )
        else:
            assert CELERY_QUEUE_TAG not in tags and K8S_CONFIG_TAG not in tags, name


def test_definitions_load_with_the_celery_executor(monkeypatch):
    """The code location as the postgres-celery profile loads it (run in a fresh interpreter:
    definitions read VIDEO_ASSETS_EXECUTOR once, at import)."""
    monkeypatch.setenv(EXECUTOR_ENV, "celery")
    monkeypatch.setenv(BROKER_ENV, "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("VIDEO_ASSETS_DATA_ROOT", "/tmp/va-data")
    monkeypatch.setenv("VIDEO_ASSETS_LANDING_DIR", "/tmp/va-landing")
    ns = runpy.run_path(str(REPO / "dagster_project" / "definitions.py"))
    defs: dg.Definitions = ns["defs"]
    for job in ("video_job", "catalog_job", "tokenizer_job"):
        assert defs.resolve_job_def(job).executor_def.name == "celery"


def _instance_config(path: Path) -> dict:
    """The file as dagster validates it when an instance loads (schema, storage, concurrency)."""
    from dagster._core.instance.config import dagster_instance_config

    dagster_instance_config(str(path.parent), path.name)
    return yaml.safe_load(path.read_text())


def test_postgres_celery_instance_yaml_is_valid_and_has_no_secret():
    raw = _instance_config(REPO / "deploy" / "postgres-celery" / "dagster.yaml")
    db = raw["storage"]["postgres"]["postgres_db"]
    assert db.pop("scheme") == "postgresql+psycopg2"  # psycopg2 is what the environment has
    assert all(set(v) == {"env"} for v in db.values()), (
        "connection settings must come from the environment"
    )
    assert raw["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert raw["concurrency"]["pools"]["default_limit"] == 1
    assert raw["concurrency"]["runs"]["max_concurrent_runs"] > 0


def test_local_instance_yaml_is_valid():
    _instance_config(REPO / "deploy" / "local" / "dagster.yaml")


def test_postgres_profile_without_env_names_the_variable(tmp_path, monkeypatch):
    """A missing connection variable fails when the instance loads, naming the variable."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        (REPO / "deploy" / "postgres-celery" / "dagster.yaml").read_text()
    )
    for name in (
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_PORT",
        "DAGSTER_PG_USER",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(Exception, match="DAGSTER_PG_"):
        dg.DagsterInstance.from_config(str(home))


def test_celery_worker_app_reads_the_executor_variables(monkeypatch):
    """The workers' app (dagster_project/celery_app.py) fails without a broker, naming the
    variable, and otherwise uses the executor's URLs and registers dagster-celery's step task."""
    path = REPO / "dagster_project" / "celery_app.py"
    monkeypatch.delenv(BROKER_ENV, raising=False)
    with pytest.raises(ConfigError, match=BROKER_ENV):
        runpy.run_path(str(path))
    monkeypatch.setenv(BROKER_ENV, "redis://h:6379/0")
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    app = runpy.run_path(str(path))["app"]
    assert app.conf.broker_url == app.conf.result_backend == "redis://h:6379/0"
    assert app.conf.worker_prefetch_multiplier == 1
    assert "execute_plan" in app.tasks


def test_k8s_values_select_the_k8s_executor_and_limits():
    values = yaml.safe_load((REPO / "deploy" / "k8s" / "values.yaml").read_text())
    (dep,) = values["dagster-user-deployments"]["deployments"]
    assert dep["env"][EXECUTOR_ENV] == "k8s"
    assert dep["dagsterApiGrpcArgs"] == [
        "--module-name",
        "dagster_project.definitions",
        "--attribute",
        "defs",
    ]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    rc = values["dagsterDaemon"]["runCoordinator"]
    assert (
        rc["type"] == "QueuedRunCoordinator"
        and rc["config"]["queuedRunCoordinator"]["maxConcurrentRuns"] > 0
    )
    assert (
        values["generatePostgresqlPasswordSecret"] is False
        and values["postgresql"]["enabled"] is False
    )


def test_k8s_step_job_of_a_model_step_asks_for_a_gpu():
    """With dagster-k8s installed (not a project dependency; skipped otherwise): the op tag is
    what dagster-k8s parses, and the Job it builds for vocal_stems requests one GPU."""
    pytest.importorskip("dagster_k8s")
    from dagster_k8s.job import get_user_defined_k8s_config

    from dagster_project.defs.audio.assets import vocal_stems
    from dagster_project.defs.ingest.assets import source_video

    config = get_user_defined_k8s_config(vocal_stems.op.tags)
    assert config.container_config["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert config.pod_spec_config["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert get_user_defined_k8s_config(source_video.op.tags).container_config == {}


def test_local_executors_are_selectable():
    assert executor_from_env({EXECUTOR_ENV: "in_process"}) is dg.in_process_executor
    fork = executor_from_env({EXECUTOR_ENV: "forkserver"})
    assert fork.name == "forkserver"
    config = fork.apply_config_mapping({}).value["config"]
    assert config["start_method"] == {
        "forkserver": {"preload_modules": ["dagster_project.definitions"]}
    }


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["multiprocess", "forkserver", "in_process"])
def test_each_local_executor_runs_a_partition(executor, tmp_path, fixed_gop_video):
    """A real run through ``dagster asset materialize`` with the executor the variable picks:
    the steps succeed, write their outputs, and run where the executor says (a process of
    their own, or the run's)."""
    import os
    import shutil
    import subprocess
    import sys

    from video_assets.registry import register
    from video_assets.store import DataRoot

    home, data, landing = tmp_path / "home", tmp_path / "data", tmp_path / "landing"
    for d in (home, landing):
        d.mkdir()
    (home / "dagster.yaml").write_text((REPO / "deploy" / "local" / "dagster.yaml").read_text())
    shutil.copy(fixed_gop_video.path, landing / "take.mp4")
    vid = register(DataRoot(data), landing / "take.mp4").video_id
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "VIDEO_ASSETS_DATA_ROOT": str(data),
        "VIDEO_ASSETS_LANDING_DIR": str(landing),
        EXECUTOR_ENV: executor,
    }
    instance = dg.DagsterInstance.from_config(str(home))
    instance.add_dynamic_partitions("videos", [vid])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "asset",
            "materialize",
            "-m",
            "dagster_project.definitions",
            "--select",
            "source_video,iframe_index",
            "--partition",
            vid,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert DataRoot(data).exists(f"tables/keyframes/video_id={vid}/part.parquet")
    events = [
        r.event_log_entry
        for r in instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.STEP_START)
        )
    ]
    pids = {e.dagster_event.pid for e in events}
    assert len(events) == 2
    engine = " ".join(
        r.event_log_entry.user_message
        for r in instance.get_event_records(
            dg.EventRecordsFilter(event_type=dg.DagsterEventType.ENGINE_EVENT)
        )
    )
    if executor == "in_process":
        assert "in process" in engine.lower() and len(pids) == 1, engine
    else:
        assert "multiprocess executor" in engine and len(pids) == 2, engine
