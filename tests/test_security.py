"""Nothing a file name or file content holds can run a command, leave the data root or
change a query (issue 8, "Security").

The static tests read the project's own source: every subprocess is an argument list, no
shell, no committed secret, no server bound to every interface. The runtime tests push a
hostile name through the sensor, a real Dagster run and the catalog, and hostile relative
paths through the data root.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs.clips.assets import clips
from dagster_project.defs.ingest.assets import iframe_index, source_video
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource, VideoStageConfig
from dagster_project.defs.scenes.assets import scene_table
from dagster_project.defs.sensors import landing_sensor
from video_assets.catalog import connect
from video_assets.store import DataRoot

REPO = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("video_assets", "dagster_project", "bench", "scripts")
SUBPROCESS_CALLS = {
    "run",
    "Popen",
    "call",
    "check_call",
    "check_output",
    "getoutput",
    "getstatusoutput",
}
HOSTILE = "x'); DROP TABLE videos; -- $(touch pwned) `touch pwned2` ; rm -rf ~.mp4"


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60
    ).stdout
    return [REPO / p for p in out.decode().split("\0") if p]


def python_sources() -> list[Path]:
    return [
        p
        for p in tracked_files()
        if p.suffix == ".py" and p.relative_to(REPO).parts[0] in SOURCE_DIRS
    ]


def _call_name(node: ast.Call) -> str:
    f = node.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
        return f"{f.value.id}.{f.attr}"
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")


def test_every_subprocess_is_an_argument_list_without_a_shell():
    problems = []
    for path in python_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if name in (
                "os.system",
                "os.popen",
                "asyncio.create_subprocess_shell",
                "subprocess.getoutput",
                "subprocess.getstatusoutput",
            ):
                problems.append(f"{where}: {name} runs a shell")
            for kw in node.keywords:
                if kw.arg == "shell" and not (
                    isinstance(kw.value, ast.Constant) and kw.value.value is False
                ):
                    problems.append(f"{where}: shell={ast.unparse(kw.value)}")
            if (
                name.split(".")[-1] in SUBPROCESS_CALLS
                and name.startswith(("subprocess.", "sp."))
                and node.args
            ):
                first = node.args[0]
                if isinstance(first, ast.JoinedStr | ast.BinOp) or (
                    isinstance(first, ast.Constant) and isinstance(first.value, str)
                ):
                    problems.append(
                        f"{where}: a command given as one string ({ast.unparse(first)[:60]})"
                    )
    assert problems == []


def test_no_committed_secret_and_no_server_on_every_interface():
    secret = re.compile(
        r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|"
        r"(?i:password|passwd|secret_key)\s*[:=]\s*['\"]?(?!\$|\{|<|['\"]?\s*$)[A-Za-z0-9/+_-]{6,}"
    )
    problems = []
    for path in tracked_files():
        rel = path.relative_to(REPO)
        if rel.parts[0] == "tests" or path.suffix not in (
            ".py",
            ".yaml",
            ".yml",
            ".toml",
            ".sh",
            ".md",
            ".json",
            ".cfg",
            ".ini",
            ".env",
            "",
        ):
            continue
        text = path.read_text(errors="replace")
        for m in secret.finditer(text):
            problems.append(f"{rel}: looks like a committed secret: {m.group(0)[:40]}")
        # A cluster service listens on its pod's address by design; nothing else may.
        if "0.0.0.0" in text and rel.parts[:2] != ("deploy", "k8s"):
            problems.append(f"{rel}: binds 0.0.0.0")
    assert problems == []
    readme = (REPO / "README.md").read_text()
    assert "dagster dev -w workspace.yaml -h 127.0.0.1" in readme


@pytest.mark.parametrize(
    "rel",
    [
        "..",
        "../outside",
        "tables/../../x",
        "/etc/passwd",
        "clips//x",
        "a/./b",
        "videos/.tmp-host-1-x",
        "a\\..\\b",
        "a\0b",
    ],
)
def test_data_root_refuses_paths_that_leave_it(rel, tmp_path):
    root = DataRoot(tmp_path / "data")
    for call in (
        lambda: root.full(rel),
        lambda: root.write_bytes(rel, b"x"),
        lambda: root.exists(rel),
    ):
        with pytest.raises(ValueError, match="unsafe path component"):
            call()
    with pytest.raises(ValueError, match="unsafe path component"):
        root.write_table("videos", rel, __import__("pandas").DataFrame({"a": [1]}))
    assert not (tmp_path / "outside").exists() and not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_hostile_name_is_stored_as_data(tmp_path, fixed_gop_video, monkeypatch):
    """A landing name holding SQL, command substitutions and ``rm -rf`` goes through the
    sensor, a real run and the catalog as an opaque string: nothing runs, no table changes."""
    landing = tmp_path / "landing"
    landing.mkdir()
    video = landing / HOSTILE
    shutil.copyfile(fixed_gop_video.path, video)
    monkeypatch.chdir(tmp_path)  # where a substituted `touch pwned` would land
    store = StoreResource(data_root=str(tmp_path / "data"), landing_dir=str(landing), settle_s=0.0)
    instance = dg.DagsterInstance.ephemeral()
    result = landing_sensor(dg.build_sensor_context(instance=instance, resources={"store": store}))
    (request,) = result.run_requests
    vid = request.partition_key
    instance.add_dynamic_partitions(videos.name, [vid])
    run = dg.materialize(
        [source_video, iframe_index, scene_table, clips],
        partition_key=vid,
        instance=instance,
        resources={"store": store, "video_config": VideoStageConfig(min_clip_s=1.0)},
    )
    assert run.success
    with connect(DataRoot(store.data_root)) as con:
        assert con.execute(
            "SELECT original_name FROM videos WHERE video_id = $v", {"v": vid}
        ).fetchall() == [(HOSTILE,)]
        assert (
            con.execute("SELECT count(*) FROM clips WHERE video_id = $v", {"v": vid}).fetchone()[0]
            > 0
        )
        summary = con.execute(
            (REPO / "sql" / "reports" / "video_summary.sql").read_text()
        ).fetchall()
        assert HOSTILE in {v for row in summary for v in row if isinstance(v, str)}
    assert not list(tmp_path.rglob("pwned*")) and not list(REPO.glob("pwned*"))
    assert video.exists() and sorted(p.name for p in landing.iterdir()) == [HOSTILE]
