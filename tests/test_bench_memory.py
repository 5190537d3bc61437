"""Smoke test of bench/memory.py: the film it measures on, and its peak-RSS sampler."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("memory")


def _mean_db(path: Path, start: float, stop: float) -> float:
    err = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-ss", str(start), "-to", str(stop), "-i",
         str(path), "-vn", "-af", "volumedetect", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    return float(err.split("mean_volume:")[1].split("dB")[0])


def test_film_has_cuts_between_keyframes_and_speech_over_music(bench, tmp_path):
    from video_assets.keyframes import build_index
    from video_assets.scenes.detect import detect_scenes

    film = bench.make_film(tmp_path / "film.mp4", 0.75)
    probe = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(film)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout  # fmt: skip
    )["streams"]
    audio = next(s for s in probe if s["codec_type"] == "audio")
    assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == ("aac", "44100", 2)
    assert abs(float(audio["duration"]) - 45.0) < 0.1

    index = build_index(film)
    assert [round(k.pts_s) for k in index.keyframes] == [0, 10, 20, 30, 40]
    scenes = detect_scenes(str(film))
    assert [round(s.start_s) for s in scenes.scenes] == [0, 15, 30]

    # The dialogue starts 30 s in, 12 dB or so over the music bed that plays throughout.
    music, speech = _mean_db(film, 1, 28), _mean_db(film, 31, 44)
    assert -45 < music < -25
    assert speech - music > 6


def test_peak_rss_splits_the_run_at_the_commands_stderr_lines(bench, tmp_path):
    script = (
        "import sys, time\n"
        "time.sleep(0.4)\n"
        "print('loading', file=sys.stderr, flush=True)\n"
        "held = bytearray(200 * 2**20)\n"
        "for i in range(0, len(held), 4096): held[i] = 1\n"
        "time.sleep(0.6)\n"
        "del held\n"
        "print('done', file=sys.stderr, flush=True)\n"
        "time.sleep(0.4)\n"
        "print('out')\n"
    )
    out = tmp_path / "stdout.txt"
    row = bench.peak_rss([sys.executable, "-c", script], {}, tmp_path, out)
    assert row["returncode"] == 0
    assert out.read_text() == "out\n"
    phases = {p["from"]: p["peak_rss_mb"] for p in row["phases"]}
    assert set(phases) == {"start", "loading", "done"}
    assert phases["loading"] > 200 > phases["start"]
    assert row["peak_rss_mb"] == phases["loading"]


def test_a_child_between_fork_and_exec_is_not_counted_twice(bench, tmp_path):
    """A big process starting small programs: each child, until it execs, shows the
    parent's pages as its own; summed, the peak read up to twice the parent's memory. The
    children here wait 50 ms before their exec, so the 0.1 s sampler sees them there."""
    script = (
        "import subprocess, time\n"
        "held = bytearray(300 * 2**20)\n"
        "for i in range(0, len(held), 4096): held[i] = 1\n"
        "for _ in range(20): subprocess.run(['true'], preexec_fn=lambda: time.sleep(0.05))\n"
    )
    row = bench.peak_rss([sys.executable, "-c", script], {}, tmp_path)
    assert row["returncode"] == 0
    assert 300 < row["peak_rss_mb"] < 450
