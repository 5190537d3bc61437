"""Assets through dagster.materialize on an ephemeral instance; the sensor; the whole Definitions."""

import hashlib
import os
import shutil
import wave
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from dagster_project.definitions import ASSETS, CHECKS
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import (
    AudioStageConfig,
    ShardStageConfig,
    StoreResource,
    TokenStageConfig,
    VideoStageConfig,
)
from dagster_project.defs.sensors import landing_sensor
from tests.audio_support import tiny_demucs_repo
from video_assets.catalog import connect
from video_assets.store import DataRoot


def test_definitions_load(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDEO_ASSETS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("VIDEO_ASSETS_LANDING_DIR", str(tmp_path / "landing"))
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {
        "source_video",
        "iframe_index",
        "scene_table",
        "clips",
        "vocal_stems",
        "aligned_transcripts",
        "catalog",
    } <= keys
    assert defs.resolve_job_def("video_job") is not None
    assert defs.resolve_sensor_def("landing_sensor") and defs.resolve_schedule_def("nightly_ingest")


def tree_hashes(root) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            if "catalog.duckdb" in p:
                continue
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def wav_arrays(root) -> dict[str, np.ndarray]:
    out = {}
    for path in sorted(Path(root).glob("stems/*/*.wav")):
        with wave.open(str(path)) as w:
            out[str(path.relative_to(root))] = np.frombuffer(
                w.readframes(w.getnframes()), "<i2"
            ).astype(np.int32)
    return out


@pytest.fixture()
def env(tmp_path, fixed_gop_video):
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copyfile(fixed_gop_video.path, landing / "my video.mp4")
    store = StoreResource(data_root=str(tmp_path / "data"), landing_dir=str(landing), settle_s=0.0)
    # A randomly initialised HTDemucs saved as a local model folder: the real Demucs path runs.
    resources = {
        "store": store,
        "video_config": VideoStageConfig(min_clip_s=1.0),
        "audio_config": AudioStageConfig(demucs_model=str(tiny_demucs_repo())),
        "token_config": TokenStageConfig(channels=4, resolution=16, train_steps=2, train_frames=5),
        "shard_config": ShardStageConfig(),
    }
    return store, resources, landing


def run_sensor(instance, store):
    ctx = dg.build_sensor_context(instance=instance, resources={"store": store})
    return landing_sensor(ctx)


def test_sensor_then_materialize_partition_twice(env, fixed_gop_video):
    store, resources, landing = env
    instance = dg.DagsterInstance.ephemeral()
    result = run_sensor(instance, store)
    assert len(result.run_requests) == 1
    vid = result.run_requests[0].partition_key
    assert vid.startswith("v") and len(vid) == 17
    # A second tick with the cursor requests nothing new; the run key would dedupe anyway.
    ctx = dg.build_sensor_context(
        instance=instance, resources={"store": store}, cursor=result.cursor
    )
    assert landing_sensor(ctx).run_requests == []

    instance.add_dynamic_partitions(videos.name, [vid])
    per_video = [a for a in ASSETS if a.partitions_def is not None]
    res = dg.materialize(
        [*per_video, *CHECKS], partition_key=vid, instance=instance, resources=resources
    )
    assert res.success
    evals = [
        e.event_specific_data
        for e in res.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    by_name = {e.check_name: e for e in evals}
    assert by_name["leaked_frames"].passed
    assert by_name["short_scenes"].metadata["violations"].value == 0

    root = DataRoot(store.data_root)
    with connect(root) as con:
        cuts = [
            r[0]
            for r in con.execute(
                "SELECT start_frame FROM scenes WHERE video_id = $v AND scene_index > 0 ORDER BY 1",
                {"v": vid},
            ).fetchall()
        ]
        assert cuts == fixed_gop_video.cuts
        n_clips = con.execute(
            "SELECT count(*) FROM clips WHERE video_id = $v", {"v": vid}
        ).fetchone()[0]
        assert n_clips == 7
    first = tree_hashes(store.data_root)
    stems_before = wav_arrays(store.data_root)
    res2 = dg.materialize(
        [*per_video, *CHECKS], partition_key=vid, instance=instance, resources=resources
    )
    assert res2.success
    again = tree_hashes(store.data_root)
    # Same files, same bytes, same rows. Demucs stems are compared as samples: one CI run saw
    # CPU float results differ in the last bits between two runs in one process.
    assert {k: v for k, v in again.items() if not k.startswith("stems/")} == {
        k: v for k, v in first.items() if not k.startswith("stems/")
    }
    assert again.keys() == first.keys()
    for name, samples in wav_arrays(store.data_root).items():
        assert samples.shape == stems_before[name].shape
        assert np.abs(samples.astype(np.int32) - stems_before[name]).max() <= 2, name
    assert (landing / "my video.mp4").exists()
    assert (
        hashlib.sha256((landing / "my video.mp4").read_bytes()).hexdigest()
        == hashlib.sha256(fixed_gop_video.path.read_bytes()).hexdigest()
    )

    cat = dg.materialize(
        [a for a in ASSETS if a.partitions_def is None], instance=instance, resources=resources
    )
    assert cat.success
    assert (root.local_path("catalog.duckdb")).exists()


def test_bad_landing_file_fails_step_with_message(env, tmp_path):
    store, resources, landing = env
    (landing / "my video.mp4").unlink()
    (landing / "noise.mp4").write_bytes(os.urandom(10_000))  # refused at registration: no run
    # starts like an MP4, so it is registered; the step finds it broken
    bad = landing / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypisom" + os.urandom(10_000))
    instance = dg.DagsterInstance.ephemeral()
    result = run_sensor(instance, store)
    (request,) = result.run_requests
    vid = request.partition_key
    instance.add_dynamic_partitions(videos.name, [vid])
    res = dg.materialize(
        [a for a in ASSETS if a.partitions_def is not None],
        partition_key=vid,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    assert not res.success
    failure = next(e for e in res.all_events if e.event_type_value == "STEP_FAILURE")
    err = failure.event_specific_data.error
    text = err.message + (err.cause.message if err.cause else "")
    assert "broken.mp4" in text and "not a readable media file" in text
    assert bad.exists()
    assert (
        not list(DataRoot(store.data_root).local_path("tables").rglob("*.parquet"))
        if DataRoot(store.data_root).exists("tables")
        else True
    )
