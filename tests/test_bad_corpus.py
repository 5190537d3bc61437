"""The bad-input corpus (video_assets.generate.bad_media) through the CLI, registration and
the landing scan.

Each CLI run must end as its case says (exit 2 naming the file and the problem with stdout
empty, or exit 0 with a correct result), within a timeout, with the source unchanged and,
for ``split``, the out folder holding only what the run reports (nothing new after a
failure, and the file that was there before untouched). test_bad_input covers every
command on the classic bad files and ``split`` on awkward names; this covers the rest.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.ingest.assets import iframe_index, source_video
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource
from dagster_project.defs.sensors import landing_sensor, scan_landing
from video_assets.errors import MediaError
from video_assets.generate.bad_media import (
    CASE_BY_ID,
    CASES,
    CLI_TIMEOUT_S,
    ffmpeg_killed_mid_write,
    judge,
    run_cli,
    sha256,
)
from video_assets.ids import video_id_from_sha256
from video_assets.registry import landing_candidates, lookup, register
from video_assets.store import DataRoot

# Odd sizes (re-encoded with an even crop), rotated video (re-encoded without autorotate, so
# clips keep the display matrix as copies do) and the killed split were defects this found.
CLI_PARAMS = [
    pytest.param(c.case, command, id=f"{c.case}-{command}") for c in CASES for command in c.commands
]


@pytest.mark.timeout(CLI_TIMEOUT_S + 60)
@pytest.mark.parametrize("case,command", CLI_PARAMS)
def test_cli(case, command, bad_corpus, tmp_path):
    run = run_cli(command, bad_corpus[case], tmp_path)
    assert judge(CASE_BY_ID[case], run) == [], f"{run.stderr}\n{run.stdout[:500]}"
    assert not list(tmp_path.glob("pwned*")), "a file name was run by a shell"


@pytest.mark.timeout(CLI_TIMEOUT_S + 60)
def test_split_killed_mid_write_leaves_out_folder_as_it_was(bad_corpus, tmp_path):
    # ffmpeg writes 2 kB of the re-encoded second clip, then dies of SIGKILL.
    env = ffmpeg_killed_mid_write(tmp_path / "shim")
    run = run_cli("split", bad_corpus["video-only"], tmp_path / "work", env=env)
    assert run.returncode == 2, run.stderr
    assert "re-encoding frames 30..59" in run.stderr and str(run.path) in run.stderr
    assert run.stdout == "" and run.source_unchanged and run.data_lost() == 0
    assert run.left_in_out() == []


# -- registration and the landing folder --------------------------------------------------


@pytest.mark.parametrize("case", [pytest.param(c.case, id=c.case) for c in CASES])
def test_register(case, bad_corpus, tmp_path):
    """Registration checks the first bytes and hashes: every file that starts like a video
    container gets the id of its bytes; the stage that copies it (source_video) is where a
    damaged one fails. Empty files and random bytes are refused at once."""
    path = bad_corpus[case]
    before = sha256(path)
    root = DataRoot(tmp_path / "data")
    expected = CASE_BY_ID[case].registration
    if expected:
        with pytest.raises(MediaError, match=expected) as err:
            register(root, path)
        assert str(err.value).count(str(path)) == 1
        assert not root.exists("registry")
    else:
        reg = register(root, path)
        assert reg.video_id == video_id_from_sha256(before) and reg.sha256 == before
        assert reg.landing_path == str(path.absolute()) and reg.original_name == path.name
        assert reg.bytes == path.stat().st_size
        assert lookup(root, reg.video_id) == reg
        assert register(root, path) == reg  # idempotent
        assert root.listdir("registry") == [f"{reg.video_id}.json"]
    assert sha256(path) == before


@pytest.mark.parametrize(
    "kind,problem", [("missing", "does not exist"), ("folder", "is not a regular file")]
)
def test_register_refuses_what_is_not_a_file(kind, problem, tmp_path):
    """A path that names nothing, or a folder, is refused with the path and the problem;
    the main job says so in one line (exit 2), not with a traceback."""
    path = tmp_path / "landing" / "film.mp4"
    if kind == "folder":
        path.mkdir(parents=True)
    root = DataRoot(tmp_path / "data")
    with pytest.raises(MediaError, match=problem) as err:
        register(root, path)
    assert str(path) in str(err.value) and not root.exists("registry")


@pytest.mark.parametrize(
    "ext,codec",
    [
        ("mp4", ["-c:v", "libx264"]),
        ("mov", ["-c:v", "libx264"]),
        ("m4v", ["-c:v", "libx264"]),
        ("mkv", ["-c:v", "libx264"]),
        ("webm", ["-c:v", "libvpx", "-b:v", "100k"]),
        ("avi", ["-c:v", "mpeg4"]),
        ("ts", ["-c:v", "libx264"]),
        ("mpg", ["-c:v", "mpeg2video"]),
        ("flv", ["-c:v", "flv"]),
        ("wmv", ["-c:v", "wmv2"]),
        ("mxf", ["-c:v", "mpeg2video"]),
    ],
)
def test_every_landing_format_passes_the_container_check(ext, codec, tmp_path):
    from tests.conftest import ffmpeg
    from video_assets.probe import check_container

    out = tmp_path / f"tiny.{ext}"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x90:r=25",
        "-frames:v",
        "5",
        *codec,
        "-pix_fmt",
        "yuv420p",
        str(out),
    )
    assert check_container(out)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 40)
    with pytest.raises(MediaError, match="is not a video file"):
        check_container(text)


def make_landing(tmp_path: Path, corpus: dict[str, Path]) -> tuple[Path, dict[str, Path]]:
    """A landing folder holding a copy of every corpus file, one of them twice, and traps."""
    landing = tmp_path / "landing"
    (landing / "sub dir").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    for case in CASES:
        (landing / corpus[case.case].name).write_bytes(corpus[case.case].read_bytes())
    (landing / "sub dir" / "copy of video-only.MP4").write_bytes(corpus["video-only"].read_bytes())
    secret = outside / "secret.mp4"
    secret.write_bytes(corpus["rotated"].read_bytes() + b"only outside")  # bytes found nowhere else
    (outside / "in linked dir.mp4").write_bytes(corpus["vfr"].read_bytes() + b"only outside")
    traps = {
        "symlink out": landing / "link out.mp4",
        "symlink dir out": landing / "linked dir",
        "dangling": landing / "dangling.mp4",
        "symlink in": landing / "link in.mp4",
        "hidden": landing / ".hidden.mp4",
        "not video": landing / "notes.txt",
    }
    traps["symlink out"].symlink_to(secret)
    traps["symlink dir out"].symlink_to(outside, target_is_directory=True)
    traps["dangling"].symlink_to(outside / "gone.mp4")
    traps["symlink in"].symlink_to(landing / "video-only.mp4")
    traps["hidden"].write_bytes(corpus["10-bit"].read_bytes() + b"hidden")
    traps["not video"].write_bytes(corpus["short-0.5s"].read_bytes() + b"txt")
    return landing, traps


def tree_hashes(folder: Path) -> dict[str, str | None]:
    """SHA-256 of every regular file under ``folder`` but the data root ``folder/data``."""
    return {
        str(p.relative_to(folder)): sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.relative_to(folder).parts[0] != "data"
    }


def test_scan_landing_registers_each_content_once(bad_corpus, tmp_path):
    landing, traps = make_landing(tmp_path, bad_corpus)
    before = tree_hashes(tmp_path)
    found = landing_candidates(landing)
    names = {p.name for p in found}
    # "...mp4" and "..\\..\\escape.mp4" begin with a dot: hidden files, skipped like ".hidden.mp4".
    dotted = {bad_corpus[c].name for c in ("name-dots", "name-backslash")}
    assert {bad_corpus[c.case].name for c in CASES} - dotted <= names and not dotted & names
    assert "copy of video-only.MP4" in names and traps["symlink in"] in found
    for trap in ("symlink out", "symlink dir out", "dangling", "hidden", "not video"):
        assert traps[trap] not in found, trap
    assert all(p.resolve().is_relative_to(landing.resolve()) for p in found)

    store = StoreResource(data_root=str(tmp_path / "data"), landing_dir=str(landing), settle_s=0.0)
    ids, cursor, problems = scan_landing(store, None)
    refused = {c.name: c.registration for c in CASES if c.registration}
    want = {video_id_from_sha256(sha256(p)) for p in found if p.name not in refused}
    assert ids == sorted(want)
    assert video_id_from_sha256(sha256(bad_corpus["name-space"])) in ids  # 7 names, 1 id
    assert len(problems) == len(refused)
    for name, phrase in refused.items():
        (line,) = [p for p in problems if p.startswith(f"{landing / name}: ")]
        assert phrase in line and line.count(str(landing / name)) == 1  # the path, once
    root = DataRoot(store.data_root)
    assert root.listdir("registry") == sorted(f"{i}.json" for i in ids)
    assert os.listdir(root.root) == ["registry"]  # registration copies nothing

    again, _, problems_again = scan_landing(store, json.dumps(cursor))
    assert again == [] and problems_again == []  # registered or remembered as bad: not retried
    assert tree_hashes(tmp_path) == before


def test_landing_sensor_one_partition_per_content(bad_corpus, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    for name in ("a.mp4", "b copy.mp4", "-c.mkv"):  # the same bytes under three names
        (landing / name).write_bytes(bad_corpus["video-only"].read_bytes())
    (landing / "other.mp4").write_bytes(bad_corpus["vfr"].read_bytes())
    store = StoreResource(data_root=str(tmp_path / "data"), landing_dir=str(landing), settle_s=0.0)
    instance = dg.DagsterInstance.ephemeral()
    result = landing_sensor(dg.build_sensor_context(instance=instance, resources={"store": store}))
    keys = sorted(r.partition_key for r in result.run_requests)
    assert keys == sorted(
        {video_id_from_sha256(sha256(bad_corpus[c])) for c in ("video-only", "vfr")}
    )
    assert len({r.run_key for r in result.run_requests}) == 2
    (request,) = result.dynamic_partitions_requests
    assert sorted(request.partition_keys) == keys


def test_landing_symlink_loop_is_skipped(bad_corpus, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "loop.mp4").symlink_to("loop.mp4")
    (landing / "ping.mp4").symlink_to("pong.mp4")
    (landing / "pong.mp4").symlink_to("ping.mp4")
    (landing / "good.mp4").write_bytes(bad_corpus["video-only"].read_bytes())
    assert landing_candidates(landing) == [landing / "good.mp4"]


# -- source_video on registered files -----------------------------------------------------


@pytest.mark.parametrize(
    "case,problem",
    [
        pytest.param("audio-only", "has no video stream", id="audio-only"),
        pytest.param("moov-missing", "not a readable media file", id="moov-missing"),
        pytest.param("rotated", None, id="rotated"),
        pytest.param("vfr", None, id="vfr"),
    ],
)
def test_source_video(case, problem, bad_corpus, tmp_path):
    """A registered file that is no usable video fails source_video naming it, storing nothing;
    an awkward but valid one is stored with its facts (rotation, mean frame rate)."""
    landing = tmp_path / "landing dir"
    landing.mkdir()
    path = landing / bad_corpus[case].name
    path.write_bytes(bad_corpus[case].read_bytes())
    before = sha256(path)
    store = StoreResource(data_root=str(tmp_path / "data"), landing_dir=str(landing), settle_s=0.0)
    root = store.root()
    vid = register(root, path).video_id
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(videos.name, [vid])
    res = dg.materialize(
        [source_video, iframe_index],
        partition_key=vid,
        instance=instance,
        resources={"store": store},
        raise_on_error=False,
    )
    assert sha256(path) == before
    if problem is not None:
        assert not res.success
        failure = next(e for e in res.all_events if e.event_type_value == "STEP_FAILURE")
        err = failure.event_specific_data.error
        text = err.message + (err.cause.message if err.cause else "")
        assert str(path) in text and problem in text
        assert root.listdir(root.rel("videos", vid)) == [] and not root.exists("tables")
        return
    assert res.success
    row = root.read_table("videos", vid).iloc[0]
    keyframes = root.read_table("keyframes", vid)
    expect = CASE_BY_ID[case]
    assert row["rotation"] == expect.rotation and row["sha256"] == before
    assert row["fps"] == pytest.approx(expect.frames / expect.duration_s, rel=0.05)
    assert keyframes["frame"].tolist() == [0]
    assert sha256(root.local_path(root.rel("videos", vid, "source.mp4"))) == before
    assert os.listdir(landing) == [path.name]
