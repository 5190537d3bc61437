"""The landing sensor under load, and files that are still being copied.

One sensor tick must get through a landing folder of 1,000 files, most of them tiny or
bad, well inside Dagster's sensor evaluation timeout (60 s by default), request runs only
for real videos, and leave every landing file as it was. A file whose size or mtime still
changes, or that changed less than ``settle_s`` ago, is not registered until it settles.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import dagster as dg

from dagster_project.defs.resources import StoreResource
from dagster_project.defs.sensors import landing_sensor, scan_landing
from tests.conftest import sha256
from video_assets.ids import video_id_from_sha256
from video_assets.store import DataRoot

SENSOR_TIMEOUT_S = 60.0
"""Dagster's default sensor evaluation timeout (DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS)."""


def _landing_of_1000(folder: Path, videos: list[Path]) -> dict[str, list[Path]]:
    """1,000 files: empty, random bytes, text, truncated headers, and a few real videos."""
    rng = random.Random(1000)
    made: dict[str, list[Path]] = {
        "empty": [],
        "random": [],
        "text": [],
        "header-only": [],
        "video": [],
    }
    sub = folder / "nested" / "deeper"
    sub.mkdir(parents=True)
    for i in range(1000):
        where = sub if i % 7 == 0 else folder
        kind = (
            ("empty", "random", "text", "header-only", "video")[i % 5]
            if i < 50
            else ("random" if i % 2 else "empty")
        )
        ext = (".mp4", ".mov", ".mkv", ".avi", ".ts")[i % 5]
        path = where / f"file {i:04d}{ext}"
        if kind == "empty":
            path.write_bytes(b"")
        elif kind == "random":
            path.write_bytes(rng.randbytes(rng.randrange(16, 4096)))
        elif kind == "text":
            path.write_text(f"not a video {i}\n" * rng.randrange(1, 50))
        elif kind == "header-only":
            path.write_bytes(b"\x00\x00\x00\x18ftypisom" + rng.randbytes(64))  # starts like an MP4
        else:
            path.write_bytes(videos[i % len(videos)].read_bytes())
        made[kind].append(path)
    return made


def test_one_tick_over_1000_landing_files(tmp_path, fixed_gop_video, scenecut_video):
    landing = tmp_path / "landing"
    landing.mkdir()
    made = _landing_of_1000(landing, [fixed_gop_video.path, scenecut_video.path])
    assert sum(len(v) for v in made.values()) == 1000
    before = {p: sha256(p) for paths in made.values() for p in paths}
    store = StoreResource(data_root=str(tmp_path / "data"), landing_dir=str(landing), settle_s=0.0)
    instance = dg.DagsterInstance.ephemeral()

    t0 = time.perf_counter()
    result = landing_sensor(dg.build_sensor_context(instance=instance, resources={"store": store}))
    elapsed = time.perf_counter() - t0
    print(f"one landing-sensor tick over 1,000 files: {elapsed:.2f} s")
    assert elapsed < SENSOR_TIMEOUT_S  # a hard limit of Dagster's, not a speed target

    # Runs only for the two real videos (10 copies each) and the header-only files, whose
    # first bytes name a container: source_video is where those fail, by name.
    header_ids = {video_id_from_sha256(sha256(p)) for p in made["header-only"]}
    video_ids = {
        video_id_from_sha256(sha256(p)) for p in (fixed_gop_video.path, scenecut_video.path)
    }
    keys = {r.partition_key for r in result.run_requests}
    assert keys == video_ids | header_ids
    assert len({r.run_key for r in result.run_requests}) == len(keys)
    (request,) = result.dynamic_partitions_requests
    assert set(request.partition_keys) == keys
    root = DataRoot(store.data_root)
    assert set(root.listdir("registry")) == {f"{k}.json" for k in keys}
    assert all(sha256(p) == h for p, h in before.items())  # nothing in the landing folder changed

    # The cursor remembers all 1,000: the next tick registers nothing and requests nothing.
    instance.add_dynamic_partitions("videos", sorted(keys))
    again = landing_sensor(
        dg.build_sensor_context(instance=instance, resources={"store": store}, cursor=result.cursor)
    )
    assert again.run_requests == [] and again.dynamic_partitions_requests == []
    assert len(json.loads(result.cursor)) == 1000


def test_file_being_copied_is_ingested_only_once_it_settles(tmp_path, fixed_gop_video):
    landing = tmp_path / "landing"
    landing.mkdir()
    data = fixed_gop_video.path.read_bytes()
    path = landing / "arriving.mp4"
    store = StoreResource(data_root=str(tmp_path / "data"), landing_dir=str(landing), settle_s=5.0)

    def tick(cursor: str | None, now: float) -> tuple[list[str], str]:
        ids, state, problems = scan_landing(store, cursor, now=now)
        assert problems == []
        return ids, json.dumps(state)

    with open(path, "wb") as fh:  # a copy in progress: half the bytes so far
        fh.write(data[: len(data) // 2])
    mtime = path.stat().st_mtime
    ids, cursor = tick(None, now=mtime + 60)  # first sight: never registered on first sight
    assert ids == []
    with open(path, "ab") as fh:  # the copy goes on
        fh.write(data[len(data) // 2 :])
    os.utime(path, (mtime + 1, mtime + 1))
    ids, cursor = tick(cursor, now=mtime + 61)  # changed since the last scan
    assert ids == []
    ids, cursor = tick(cursor, now=mtime + 3)  # unchanged, but modified less than 5 s ago
    assert ids == []
    assert not DataRoot(store.data_root).exists("registry")
    ids, cursor = tick(cursor, now=mtime + 7)  # unchanged and 6 s old: settled
    assert ids == [video_id_from_sha256(sha256(fixed_gop_video.path))]  # the whole file's id
    ids, cursor = tick(cursor, now=mtime + 100)
    assert ids == []  # registered once
