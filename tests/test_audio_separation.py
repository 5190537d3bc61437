"""Vocal stems: the real Demucs loading and chunking code on a random-weight HTDemucs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.audio_support import SENTENCES, tiny_demucs_repo, tone_video, workdir
from video_assets.audio.extract import decode_audio
from video_assets.audio.separation import SeparationSettings, separate_vocals
from video_assets.audio.separators.base import ModelUnavailable
from video_assets.audio.separators.demucs import DemucsSeparator, load_demucs_model
from video_assets.audio.separators.passthrough import PassthroughSeparator
from video_assets.audio.wavfile import read_wav
from video_assets.errors import ConfigError
from video_assets.speech import make_speech_video

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def music_video():
    """Three seconds of espeak speech over the synthetic music bed, in an mp4."""
    return make_speech_video(
        workdir("separation") / "speech_music.mp4",
        SENTENCES[0].split(",")[0][:40],
        music_db=-6.0,
        seed=2,
    )


def test_random_htdemucs_loads_the_way_demucs_loads_local_models():
    repo = tiny_demucs_repo()
    th = list(repo.glob("*.th"))
    assert len(th) == 1 and "-" in th[0].stem  # <sig>-<checksum>.th, checked by LocalRepo
    model, origin = load_demucs_model("htdemucs_tiny", repo)
    assert type(model).__name__ == "BagOfModels"
    assert type(model.models[0]).__name__ == "HTDemucs"
    assert model.sources == ["drums", "bass", "other", "vocals"]
    by_folder, origin2 = load_demucs_model(str(repo))
    assert "htdemucs_tiny" in origin2


def test_a_model_in_the_torch_hub_cache_is_found_offline(tmp_path, monkeypatch):
    """With no folder configured, a checkpoint in torch hub's cache is used, never the network."""
    import shutil

    th = next(tiny_demucs_repo().glob("*.th"))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    shutil.copy(th, checkpoints / th.name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    sig = th.stem.split("-")[0]
    model, origin = load_demucs_model(sig)
    assert origin == f"torch hub cache ({sig})"
    assert type(model).__name__ == "HTDemucs"
    with pytest.raises(
        ModelUnavailable, match=r"looked in: the Hugging Face cache .*hub/checkpoints"
    ):
        load_demucs_model("htdemucs")  # the bag's own checkpoint is not cached here


def test_separation_writes_three_stems_with_the_right_formats(music_video, tmp_path):
    settings = SeparationSettings(model="htdemucs_tiny", repo=tiny_demucs_repo(), shifts=1, seed=0)
    result = separate_vocals(music_video.path, tmp_path, settings)
    assert result.has_audio and result.backend == "demucs" and result.fallback is None
    assert result.model == "htdemucs_tiny"
    vocals, rate = read_wav(result.vocals_path)
    acc, rate2 = read_wav(result.accompaniment_path)
    asr, rate16 = read_wav(result.vocals_16k_path)
    assert (rate, rate2, rate16) == (44100, 44100, 16000)
    assert vocals.shape == acc.shape and vocals.shape[0] == 2
    assert vocals.shape[1] / rate == pytest.approx(result.audio_duration_s, abs=1e-3)
    assert asr.shape == (1, vocals.shape[1] * 16000 // 44100)
    assert np.abs(vocals).max() > 0  # a random model still outputs something
    assert result.real_time_factor is not None and result.real_time_factor > 0
    assert result.elapsed_s >= result.separation_s > 0
    assert result.metadata()["model"] == "htdemucs_tiny" and result.metadata()["fallback"] == ""
    json_dict = result.to_json_dict()
    assert json_dict["vocals_16k_path"] == str(result.vocals_16k_path)
    assert json_dict["real_time_factor"] == pytest.approx(result.real_time_factor)


def test_seeded_shifts_make_runs_reproducible(music_video):
    audio = decode_audio(music_video.path, sample_rate=44100, channels=2).samples[:, : 44100 * 2]
    a = DemucsSeparator(model="htdemucs_tiny", repo=tiny_demucs_repo(), shifts=1, seed=5)
    b = DemucsSeparator(model="htdemucs_tiny", repo=tiny_demucs_repo(), shifts=1, seed=5)
    try:
        assert np.array_equal(a.separate(audio).vocals, b.separate(audio).vocals)
    finally:
        a.close()
        b.close()


def test_blocks_and_margins_are_seamless(music_video, tmp_path):
    """Block by block (1 s blocks, 0.5 s margins) equals one pass over the whole file."""
    whole = separate_vocals(music_video.path, tmp_path / "whole", separator=PassthroughSeparator())
    blocks = separate_vocals(
        music_video.path,
        tmp_path / "blocks",
        SeparationSettings(block_s=1.0, margin_s=0.5),
        separator=PassthroughSeparator(),
    )
    for name in ("vocals_path", "vocals_16k_path"):
        a, _ = read_wav(getattr(whole, name))
        b, _ = read_wav(getattr(blocks, name))
        assert a.shape == b.shape
        # equal up to resampler edge effects within margins
        assert np.max(np.abs(a - b)) <= 3 / 32768
    mix = decode_audio(music_video.path, sample_rate=44100, channels=2).samples
    vocals, _ = read_wav(blocks.vocals_path)
    assert np.max(np.abs(vocals - mix)) <= 1 / 32768 + 1e-6  # passthrough keeps the mix


def test_missing_model_fails_naming_the_setting(music_video, tmp_path):
    with pytest.raises(ConfigError) as err:
        separate_vocals(
            music_video.path, tmp_path, SeparationSettings(model=str(tmp_path / "nowhere"))
        )
    assert err.value.setting == "VIDEO_ASSETS_DEMUCS_MODEL"
    assert "VIDEO_ASSETS_ALLOW_PASSTHROUGH" in str(err.value)
    assert not list(tmp_path.glob("*.wav"))


def test_passthrough_fallback_only_when_allowed_and_recorded(music_video, tmp_path):
    result = separate_vocals(
        music_video.path,
        tmp_path,
        SeparationSettings(model="no_such_model_name", allow_passthrough=True),
    )
    assert result.backend == "passthrough" and result.model == "passthrough"
    assert result.fallback.startswith(
        "passthrough: no local copy of separation model 'no_such_model_name'"
    )
    acc, _ = read_wav(result.accompaniment_path)
    assert not acc.any()


def test_a_video_without_audio_gives_an_empty_result(tmp_path):
    path = tone_video(tmp_path / "mute.mp4", audio=None)
    result = separate_vocals(
        path, tmp_path / "out", SeparationSettings(model="htdemucs_tiny", repo=tiny_demucs_repo())
    )
    assert not result.has_audio and result.backend == "none"
    assert result.vocals_path is None and result.real_time_factor is None
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_the_configured_audio_stream_is_separated(tmp_path):
    path = tone_video(tmp_path / "two.mp4", audio=[(440, True), (1000, False)])
    result = separate_vocals(
        path, tmp_path / "out", SeparationSettings(audio_stream=2), separator=PassthroughSeparator()
    )
    assert result.stream_index == 2
    vocals, rate = read_wav(result.vocals_16k_path)
    spectrum = np.abs(np.fft.rfft(vocals[0, 2000:18000]))
    assert np.fft.rfftfreq(16000, 1 / rate)[int(np.argmax(spectrum))] == pytest.approx(1000, abs=5)


def test_a_shorter_segment_is_accepted_and_used(music_video):
    audio = decode_audio(music_video.path, sample_rate=44100, channels=2).samples[:, : 44100 * 2]
    with DemucsSeparator(
        model="htdemucs_tiny", repo=tiny_demucs_repo(), segment_s=1.0, shifts=0
    ) as sep:
        stems = sep.separate(audio)
    assert stems.vocals.shape == audio.shape == stems.accompaniment.shape


def test_a_segment_longer_than_the_transformer_saw_is_refused():
    with pytest.raises(ValueError, match="segment_s must be at most 2 s"):
        DemucsSeparator(model="htdemucs_tiny", repo=tiny_demucs_repo(), segment_s=3.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param(dict(overlap=0.99), "overlap must be in", id="overlap"),
        pytest.param(dict(shifts=21), "shifts must be in", id="shifts"),
        pytest.param(dict(segment_s=0.5), "segment_s must be in", id="segment"),
        pytest.param(dict(device="tpu"), "device must be", id="device"),
        pytest.param(dict(block_s=0.5), "block_s must be in", id="block"),
        pytest.param(dict(margin_s=61), "margin_s must be in", id="margin"),
        pytest.param(dict(audio_stream=-1), "audio_stream must be", id="stream"),
        pytest.param(dict(model=""), "model must be", id="model"),
    ],
)
def test_settings_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SeparationSettings(**kwargs)
