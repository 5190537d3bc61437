"""The code location: every asset, check, job, sensor and schedule of video-assets."""

import dagster as dg

from dagster_project.defs.audio.assets import aligned_transcripts, vocal_stems
from dagster_project.defs.audio.checks import (
    doubtful_transcripts,
    hallucinated_segments,
    low_confidence_words,
    separation_fallback,
    speaker_overlap,
)
from dagster_project.defs.catalog.assets import catalog
from dagster_project.defs.clips.assets import clips
from dagster_project.defs.clips.checks import leaked_frames, lost_frames
from dagster_project.defs.execution import executor_from_env
from dagster_project.defs.ingest.assets import iframe_index, source_video
from dagster_project.defs.jobs import catalog_job, shards_job, tokenizer_job, tokens_job, video_job
from dagster_project.defs.motion.assets import clip_motion
from dagster_project.defs.motion.checks import inner_discontinuity, static_clips
from dagster_project.defs.resources import default_resources
from dagster_project.defs.scenes.assets import scene_table
from dagster_project.defs.scenes.checks import short_scenes
from dagster_project.defs.schedules import nightly_ingest
from dagster_project.defs.sensors import landing_sensor
from dagster_project.defs.shards.assets import training_shards
from dagster_project.defs.tokens.assets import token_tensors, tokenizer_model
from dagster_project.defs.tokens.checks import token_mismatch

ASSETS = [
    source_video,
    iframe_index,
    scene_table,
    clips,
    clip_motion,
    vocal_stems,
    aligned_transcripts,
    tokenizer_model,
    token_tensors,
    training_shards,
    catalog,
]
CHECKS = [
    short_scenes,
    leaked_frames,
    lost_frames,
    static_clips,
    inner_discontinuity,
    separation_fallback,
    low_confidence_words,
    hallucinated_segments,
    doubtful_transcripts,
    speaker_overlap,
    token_mismatch,
]

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[video_job, tokenizer_job, tokens_job, shards_job, catalog_job],
    # Tokens, shards and the catalog follow by declarative automation (defs/automation.py),
    # evaluated by Dagster's default_automation_condition_sensor.
    sensors=[landing_sensor],
    schedules=[nightly_ingest],
    resources=default_resources(),
    # forkserver (the multiprocess executor, steps forked from a preloaded server) by default;
    # VIDEO_ASSETS_EXECUTOR=in_process, multiprocess, celery or k8s otherwise (README).
    executor=executor_from_env(),
)
