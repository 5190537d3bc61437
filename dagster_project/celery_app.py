"""The Celery app of the postgres-celery profile's workers.

    celery -A dagster_project.celery_app worker -Q dagster            # every other step
    celery -A dagster_project.celery_app worker -Q models -c 1        # model steps, one per GPU host

It is ``dagster_celery.app`` (the task that executes one step) configured from the same
variables as the executor (``dagster_project/defs/execution.py``): ``DAGSTER_CELERY_BROKER_URL``
and optionally ``DAGSTER_CELERY_BACKEND_URL``. A worker without them stops at once with an error
naming the variable, instead of waiting for dagster-celery's default broker (AMQP on localhost).
"""

from __future__ import annotations

import os

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

# The code location, imported once in the worker's main process: every pool process is a fork
# of it, so neither the first step of a pool process nor the pool process that replaces a
# killed one spends seconds of CPU importing it again (as the forkserver executor does).
import dagster_project.definitions  # noqa: F401
from dagster_project.defs.execution import celery_urls

broker_url, result_backend = celery_urls(os.environ)

app = make_app()
app.conf.update(
    broker_url=broker_url,
    result_backend=result_backend,
    # One task at a time per worker process: a model step never waits prefetched behind another.
    worker_prefetch_multiplier=1,
    # A pool process killed in the middle of a step (OOM killer, a node drained) hands its
    # task back to the queue, and the step runs again from the start (its outputs are
    # published atomically, so nothing of the killed attempt is visible). With the defaults
    # the task would fail with WorkerLostError, and dagster-celery's execution loop stops
    # submitting steps after such an error yet waits for the plan to complete: the run
    # would never end (tests/test_worker_kill.py).
    task_acks_late=True,
    task_reject_on_worker_lost=True,
)
execute_plan = create_task(app)
