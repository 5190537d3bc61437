"""Training: the loss falls, runs are deterministic, VQ baseline trains, settings validate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from video_assets.errors import MediaError
from video_assets.generate.tokens import make_clip, tiny_config
from video_assets.tokens import (
    TrainSettings,
    VideoTokenizer,
    encode_clip,
    load_checkpoint,
    plot_training,
    read_checkpoint_info,
    train_tokenizer,
)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("train_clips")
    return [
        make_clip(d / "a.mp4", size="96x64", frames=17),
        make_clip(d / "b.mp4", size="96x64", frames=13, extra="hue=h=120"),
        make_clip(d / "c.mp4", source="mandelbrot", size="64x96", frames=13),
        make_clip(d / "short.mp4", size="96x64", frames=5),
    ]


def _settings(**overrides) -> TrainSettings:
    values = dict(
        model=tiny_config(),
        steps=4,
        frames=9,
        batch_size=2,
        learning_rate=3e-4,  # the default; 3e-3 is above the stable range (docs/tokens.md)
        warmup_steps=0,
        device="cpu",
        max_frames_per_clip=17,
        num_threads=1,
        seed=0,
    )
    values.update(overrides)
    return TrainSettings(**values)


def test_training_lowers_the_reconstruction_loss(clips, tmp_path):
    seen = []
    result = train_tokenizer(
        clips, _settings(steps=40, log_every=10), tmp_path / "lfq.safetensors", progress=seen.append
    )
    recon = result.history.recon_loss
    assert len(recon) == 40 and [p.step for p in seen] == [10, 20, 30, 40]
    assert np.mean(recon[-8:]) < 0.7 * np.mean(recon[:4])
    assert result.clips_used == 3 and result.clips_skipped == 1  # short.mp4 has 5 < 9 frames
    assert result.buckets == {"32x48": 2, "48x32": 1}
    info = read_checkpoint_info(result.checkpoint_path)
    assert info.hash == result.checkpoint_hash
    assert info.training["settings"]["steps"] == 40
    assert all(0 < u <= 1.0 + 1e-9 for u in result.history.batch_usage)
    assert plot_training(result).startswith(b"\x89PNG")


def test_same_seed_gives_the_same_checkpoint(clips, tmp_path):
    a = train_tokenizer(clips, _settings(), tmp_path / "a.safetensors")
    b = train_tokenizer(clips, _settings(), tmp_path / "b.safetensors")
    c = train_tokenizer(clips, _settings(seed=1), tmp_path / "c.safetensors")
    assert a.checkpoint_hash == b.checkpoint_hash
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    assert a.history.loss == b.history.loss
    assert c.checkpoint_hash != a.checkpoint_hash


def test_vq_baseline_trains_and_encodes(clips, tmp_path):
    config = tiny_config(quantizer="vq")
    result = train_tokenizer(clips, _settings(model=config, steps=3), tmp_path / "vq.safetensors")
    assert result.config.codebook_size == 2**14
    assert all(e == 0.0 for e in result.history.entropy_loss)
    ckpt = load_checkpoint(result.checkpoint_path)
    res = encode_clip(clips[0], ckpt)
    assert res.ids.shape == (5, 4, 6) and res.bits == 14 and res.quantizer == "vq"
    assert res.ids.min() >= 0 and res.ids.max() < 2**14
    # Training moved the EMA codebook away from its initialisation.
    torch.manual_seed(0)
    fresh = VideoTokenizer(config).quantizer.vq.codebook
    assert not torch.equal(ckpt.require_model().quantizer.vq.codebook, fresh)


def test_learning_rate_warms_up_then_decays_to_the_final_ratio():
    s = _settings(steps=100, warmup_steps=10, learning_rate=1e-3, final_lr_ratio=0.1)
    lrs = [s.learning_rate_at(step) for step in range(1, 101)]
    assert lrs[:10] == pytest.approx([1e-4 * k for k in range(1, 11)])
    assert max(lrs) == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))
    assert lrs[54] == pytest.approx(0.55e-3)  # halfway through the decay
    assert lrs[-1] == pytest.approx(1e-4)
    constant = _settings(steps=100, warmup_steps=0, learning_rate=1e-3, final_lr_ratio=1.0)
    assert {constant.learning_rate_at(step) for step in range(1, 101)} == {1e-3}


def test_training_records_the_scheduled_learning_rate(clips, tmp_path):
    settings = _settings(steps=6, warmup_steps=2)
    result = train_tokenizer(clips, settings, tmp_path / "lr.safetensors")
    assert result.history.learning_rate == [settings.learning_rate_at(k) for k in range(1, 7)]


def test_training_needs_long_enough_clips(clips, tmp_path):
    with pytest.raises(MediaError, match="none of the 1 clips has the 9 frames"):
        train_tokenizer([clips[3]], _settings(), tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"frames": 8}, r"frames must be 1 \+ k \* temporal_stride \(4\)", id="frames"),
        pytest.param({"steps": 0}, "steps must be an integer from 1", id="steps"),
        pytest.param({"batch_size": 0}, "batch_size must be an integer from 1 to 1024", id="batch"),
        pytest.param({"learning_rate": 0.0}, "learning_rate must be above 0", id="lr"),
        pytest.param(
            {"warmup_steps": -1}, "warmup_steps must be an integer from 0 to 1000000", id="warmup"
        ),
        pytest.param(
            {"max_frames_per_clip": 5},
            "max_frames_per_clip must be an integer from 9",
            id="max-frames",
        ),
        pytest.param({"device": "tpu"}, "device must be", id="device"),
        pytest.param({"final_lr_ratio": 1.5}, "final_lr_ratio must be from 0 to 1", id="lr-ratio"),
    ],
)
def test_settings_validation(overrides, message):
    with pytest.raises(ValueError, match=message):
        _settings(**overrides)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_cuda_asked_for_without_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        _settings(device="cuda")
