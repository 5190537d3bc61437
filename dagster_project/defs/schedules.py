"""The nightly ingest: whatever the landing folder holds, and every video not yet done."""

import os

import dagster as dg

from dagster_project.defs.jobs import video_job
from dagster_project.defs.partitions import VIDEOS
from dagster_project.defs.resources import StoreResource
from dagster_project.defs.sensors import scan_landing

# The cron string and timezone are part of the schedule's definition, so they are read
# when the code location loads (documented in the README), with these defaults.
NIGHTLY_CRON = os.environ.get("VIDEO_ASSETS_NIGHTLY_CRON", "0 2 * * *")
NIGHTLY_TZ = os.environ.get("VIDEO_ASSETS_NIGHTLY_TZ", "UTC")


@dg.schedule(
    job=video_job,
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=NIGHTLY_TZ,
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def nightly_ingest(context: dg.ScheduleEvaluationContext, store: StoreResource):
    """Registers every settled landing file and requests runs for partitions not yet materialized."""
    ids, _, problems = scan_landing(store.model_copy(update={"settle_s": 0.0}), None)
    for line in problems[:20]:
        context.log.warning(f"skipped: {line}")
    existing = set(context.instance.get_dynamic_partitions(VIDEOS))
    new = [i for i in ids if i not in existing]
    if new:
        context.instance.add_dynamic_partitions(VIDEOS, new)
    done = context.instance.get_materialized_partitions(dg.AssetKey("clips"))
    todo = sorted((existing | set(new)) - set(done))
    date = (
        context.scheduled_execution_time.strftime("%Y-%m-%d")
        if context.scheduled_execution_time
        else "now"
    )
    return [
        dg.RunRequest(partition_key=i, run_key=f"nightly-{date}-{i}") for i in todo
    ] or dg.SkipReason("nothing to ingest")
