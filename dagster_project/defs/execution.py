"""How steps run: the executor picked by ``VIDEO_ASSETS_EXECUTOR`` and the tags of model steps.

The asset code is the same in every deployment profile (README, "Deployment profiles");
only this choice, ``dagster.yaml`` and resource configuration change:

| ``VIDEO_ASSETS_EXECUTOR`` | executor | needs |
|---|---|---|
| ``forkserver`` (default) | one process per step, forked from a server that imported the code location once per run | nothing |
| ``multiprocess`` | one freshly spawned Python per step (Dagster's own default), importing the code location each time | nothing |
| ``in_process`` | every step in the run worker, one after another; fastest on one machine, but a step that crashes the interpreter (out of memory, a native fault) takes the run worker with it | nothing |
| ``celery`` | ``dagster_celery.celery_executor``: each step is a Celery task | ``DAGSTER_CELERY_BROKER_URL`` (and optionally ``DAGSTER_CELERY_BACKEND_URL``), workers (``celery -A dagster_project.celery_app worker``) on the queues ``dagster`` and ``models`` |
| ``k8s`` | ``dagster_k8s.k8s_job_executor``: each step is a Kubernetes Job | the ``dagster-k8s`` package in the user code image |

The variable is read when the code location loads (and the Celery URLs are checked then); the
executor's URLs stay ``{"env": ...}`` references resolved when a run's config is processed, so
no URL (or password in it) is stored in Dagster's run or job snapshots.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import dagster as dg

from video_assets.errors import ConfigError

EXECUTOR_ENV = "VIDEO_ASSETS_EXECUTOR"
EXECUTORS = ("forkserver", "multiprocess", "in_process", "celery", "k8s")
DEFAULT_EXECUTOR = "forkserver"
CODE_LOCATION_MODULE = "dagster_project.definitions"
BROKER_ENV = "DAGSTER_CELERY_BROKER_URL"
BACKEND_ENV = "DAGSTER_CELERY_BACKEND_URL"

MODEL_QUEUE = "models"
"""The Celery queue of the model-heavy steps: a worker of its own (GPU host, one task at a time)."""

CELERY_QUEUE_TAG = "dagster-celery/queue"
K8S_CONFIG_TAG = "dagster-k8s/config"

K8S_MODEL_STEP_CONFIG: dict = {
    # Merged (deeply) under k8s_job_executor over the run's container context (the code
    # location's resources, volumes, env) for the step's pod.
    "container_config": {
        "resources": {
            "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
            "limits": {"memory": "32Gi", "nvidia.com/gpu": "1"},
        },
    },
    "pod_spec_config": {
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    },
}

MODEL_OP_TAGS: dict[str, str] = {
    CELERY_QUEUE_TAG: MODEL_QUEUE,
    # dagster-k8s reads this tag with json.loads; stored as JSON text so the op tags stay strings.
    K8S_CONFIG_TAG: json.dumps(K8S_MODEL_STEP_CONFIG, sort_keys=True),
}
"""Op tags of the model-heavy assets (vocal_stems, aligned_transcripts, tokenizer_model,
token_tensors). Executors that do not know a tag ignore it: the multiprocess executor ignores
both, Celery reads the queue, k8s_job_executor the pod configuration."""

_BROKER_SCHEMES = ("redis", "rediss", "sentinel", "amqp", "amqps", "pyamqp", "sqs")


def executor_from_env(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """The executor named by ``VIDEO_ASSETS_EXECUTOR`` (default ``forkserver``).

    ``bench/scale.py`` (4 videos of 20 s, 2 cores): ``forkserver`` 1.6x and ``in_process``
    3.1x (4.0x at two runs at once) the videos per hour of ``multiprocess``, whose steps each
    spend about 5 s of CPU importing the code location.

    Raises:
        ConfigError: naming the variable, for an unknown executor, a Celery executor without a
            usable broker URL, or ``k8s`` without the dagster-k8s package.
    """
    env = os.environ if env is None else env
    name = (env.get(EXECUTOR_ENV) or DEFAULT_EXECUTOR).strip().lower()
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "forkserver":
        # The server imports the code location once; each step is a fork of it, so a step
        # starts without the import (seconds of CPU each) that a spawned process pays.
        return dg.multiprocess_executor.configured(
            {"start_method": {"forkserver": {"preload_modules": [CODE_LOCATION_MODULE]}}},
            name="forkserver",
        )
    if name == "in_process":
        return dg.in_process_executor
    if name == "celery":
        return _celery_executor(env)
    if name == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError:
            raise ConfigError(
                EXECUTOR_ENV,
                "'k8s' needs the dagster-k8s package (same release as dagster-celery, "
                "e.g. dagster-k8s==0.29.*) installed in the user code image",
            ) from None
        return k8s_job_executor
    raise ConfigError(
        EXECUTOR_ENV, f"must be one of {', '.join(EXECUTORS)}, got {env.get(EXECUTOR_ENV)!r}"
    )


def _check_url(setting: str, value: str, schemes: tuple[str, ...] | None) -> None:
    scheme, sep, rest = value.partition("://")
    if not sep or not scheme or (schemes is not None and scheme.lower() not in schemes):
        known = f" (schemes: {', '.join(schemes)})" if schemes else ""
        raise ConfigError(
            setting, f"must be a Celery URL such as redis://HOST:6379/0{known}, got {value!r}"
        )


def celery_urls(env: Mapping[str, str]) -> tuple[str, str]:
    """The broker and result backend URLs from ``env``; the backend defaults to the broker.

    Raises:
        ConfigError: naming ``DAGSTER_CELERY_BROKER_URL`` or ``DAGSTER_CELERY_BACKEND_URL``.
    """
    broker = env.get(BROKER_ENV, "")
    if not broker:
        raise ConfigError(
            BROKER_ENV,
            "must be set for the Celery executor and its workers: the broker URL "
            "the workers listen on, e.g. redis://HOST:6379/0",
        )
    _check_url(BROKER_ENV, broker, _BROKER_SCHEMES)
    backend = env.get(BACKEND_ENV) or broker
    if env.get(BACKEND_ENV):
        # any Celery result backend: redis://, db+postgresql://, ...
        _check_url(BACKEND_ENV, backend, None)
    return broker, backend


def _celery_executor(env: Mapping[str, str]) -> dg.ExecutorDefinition:
    try:
        from dagster_celery import celery_executor
    except ImportError:
        raise ConfigError(EXECUTOR_ENV, "'celery' needs the dagster-celery package") from None
    celery_urls(env)  # fail now, naming the variable, rather than when a run starts
    backend_env = BACKEND_ENV if env.get(BACKEND_ENV) else BROKER_ENV
    # {"env": NAME}: resolved when a run's config is processed, never stored in a snapshot.
    return celery_executor.configured(
        {"broker": {"env": BROKER_ENV}, "backend": {"env": backend_env}}, name="celery"
    )
