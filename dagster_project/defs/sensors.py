"""The landing-folder sensor: new, settled files become partitions and runs.

Tokens, shards and the catalog follow by declarative automation (``defs/automation.py``).
"""

import json
import time

import dagster as dg

from dagster_project.defs.jobs import video_job
from dagster_project.defs.partitions import VIDEOS, videos
from dagster_project.defs.resources import StoreResource
from video_assets.errors import VideoAssetsError
from video_assets.registry import landing_candidates, register


def scan_landing(
    store: StoreResource, cursor: str | None, now: float | None = None
) -> tuple[list[str], dict[str, list[float]], list[str]]:
    """Register settled landing files.

    A file counts as settled once its (size, mtime) is the same as at the previous scan and
    its mtime is at least ``settle_s`` old, so a file still being copied is not ingested.

    Returns:
        The video ids registered, the new cursor state, and one line per skipped bad file.
    """
    now = time.time() if now is None else now
    seen: dict[str, list[float]] = json.loads(cursor) if cursor else {}
    state: dict[str, list[float]] = {}
    ids: list[str] = []
    problems: list[str] = []
    root = store.root()
    for path in landing_candidates(store.landing_dir):
        try:
            st = path.stat()
        except OSError:
            continue
        key = str(path)
        sig = [float(st.st_size), st.st_mtime]
        prev = seen.get(key)
        if prev is not None and len(prev) == 3 and prev[:2] == sig:
            state[key] = prev  # already registered, unchanged
            continue
        settled = prev is not None and prev[:2] == sig and now - st.st_mtime >= store.settle_s
        if not settled and store.settle_s > 0:
            state[key] = sig
            continue
        try:
            reg = register(root, path)
        except (OSError, VideoAssetsError) as exc:
            # MediaError and most OSErrors already name the file; say it once.
            problems.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
            state[key] = [*sig, 0.0]  # remembered, not retried until it changes
            continue
        ids.append(reg.video_id)
        state[key] = [*sig, 1.0]
    return sorted(set(ids)), state, problems


@dg.sensor(
    job=video_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED
)
def landing_sensor(context: dg.SensorEvaluationContext, store: StoreResource) -> dg.SensorResult:
    """Registers settled files in the landing folder and requests one run per new video."""
    ids, state, problems = scan_landing(store, context.cursor)
    for line in problems[:20]:
        context.log.warning(f"skipped: {line}")
    if len(problems) > 20:
        context.log.warning(
            f"skipped {len(problems) - 20} more files that are no usable video "
            "(not retried until they change)"
        )
    existing = set(context.instance.get_dynamic_partitions(VIDEOS))
    new = [i for i in ids if i not in existing]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=i, run_key=f"ingest-{i}") for i in ids],
        dynamic_partitions_requests=[videos.build_add_request(new)] if new else [],
        cursor=json.dumps(state),
    )
