"""Shared fixtures: every media file is generated here with ffmpeg lavfi."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

# Tests never download a model (on a machine with a network they would otherwise fetch the
# production models); the download branch is tested against a hub on 127.0.0.1
# (tests/hub_support.py), with this variable removed for that test only.
os.environ.setdefault("VIDEO_ASSETS_OFFLINE", "1")

from video_assets.generate.synth import SyntheticVideo, make_shots_video

ROOT = Path(__file__).resolve().parents[1]

# Shot lengths in frames at 25 fps: cuts at 60, 105, 185, 215, 285, 375.
SHOTS = [60, 45, 80, 30, 70, 90, 50]


# The longest files first (their CPU time in CI, longest first), then the rest as
# collected: pytest-xdist hands whole files (--dist loadfile) to whichever worker is free in
# this order (scripts/test.sh passes --no-loadscope-reorder; its default puts the files with
# the most tests first, which left the one-test worker-kill file to run alone at the end
# while the other core idled).
LONGEST_FIRST = (
    "test_faults.py",
    "test_deploy_postgres_celery.py",
    "test_worker_kill.py",
    "test_main_job.py",
    "test_audio_dagster.py",
    "test_s3_root.py",
    "test_audio_diarization.py",
    "test_fuzz.py",
    "test_audio_separation.py",
    "test_scene_fidelity.py",
    "test_dagster.py",
    "test_main_job_corpus.py",
    "test_ui_browser.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def load_bench(name: str) -> ModuleType:
    """``bench/<name>.py`` imported as the module ``bench_<name>`` (registered in
    ``sys.modules``: dataclasses look their module up by name)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def scenecut_video(media) -> SyntheticVideo:
    """Keyframes placed by x264's scene-cut detection (most cuts on keyframes)."""
    return make_shots_video(media / "scenecut.mp4", SHOTS, encoding="scenecut", gop=100)


@pytest.fixture(scope="session")
def fixed_gop_video(media) -> SyntheticVideo:
    """A keyframe every 100 frames only: every cut falls mid-GOP."""
    return make_shots_video(media / "fixed_gop.mp4", SHOTS, encoding="fixed_gop", gop=100)


@pytest.fixture(scope="session")
def long_take_video(media) -> SyntheticVideo:
    """Long shots, fixed 50-frame GOP: the cascade must decode only a few GOPs."""
    return make_shots_video(
        media / "long_take.mp4", [400, 310, 520, 270], encoding="fixed_gop", gop=50, seed=3
    )


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory) -> dict[str, Path]:
    """The bad-media corpus files by case id (``video_assets.generate.bad_media``), built once
    per test module."""
    from video_assets.generate.bad_media import build_corpus

    return build_corpus(tmp_path_factory.mktemp("bad media"))
