"""The tokenizer model: shapes, causality, chunking, id layout, config validation."""

from __future__ import annotations

import pytest
import torch

from video_assets.generate.tokens import tiny_config
from video_assets.tokens import TokenizerConfig, VideoTokenizer


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _model(seed: int = 0, **overrides) -> VideoTokenizer:
    torch.manual_seed(seed)
    return VideoTokenizer(tiny_config(**overrides)).eval()


def _video(t: int, h: int, w: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, t, h, w, generator=g) * 2 - 1


@pytest.mark.parametrize(
    ("frames", "height", "width", "overrides", "expected"),
    [
        pytest.param(17, 32, 48, {}, (5, 4, 6), id="landscape-3:2-stride8"),
        pytest.param(17, 48, 32, {}, (5, 6, 4), id="portrait-2:3-stride8"),
        pytest.param(9, 32, 64, {}, (3, 4, 8), id="wide-2:1"),
        pytest.param(1, 32, 48, {}, (1, 4, 6), id="single-frame"),
        pytest.param(14, 32, 48, {}, (5, 4, 6), id="tail-padded"),
        pytest.param(
            9,
            32,
            64,
            {"spatial_stride": 16, "channel_mult": (1, 1, 2, 2)},
            (3, 2, 4),
            id="stride16",
        ),
        pytest.param(9, 32, 48, {"temporal_stride": 2}, (5, 4, 6), id="temporal2"),
    ],
)
def test_token_grid_follows_frames_and_aspect_ratio(frames, height, width, overrides, expected):
    model = _model(**overrides)
    ids = model.encode(_video(frames, height, width))
    assert tuple(ids.shape) == (1, *expected)
    assert model.config.grid_shape(frames, height, width) == expected
    video = model.decode(ids)
    assert tuple(video.shape) == (1, 3, model.config.padded_frames(frames), height, width)


@pytest.mark.parametrize("quantizer", ["lfq", "vq"])
def test_changing_a_later_frame_leaves_earlier_tokens_unchanged(quantizer):
    model = _model(quantizer=quantizer)
    video = _video(17, 32, 48)
    ids = model.encode(video)
    for frame in (16, 9, 5, 1):
        changed = video.clone()
        changed[:, :, frame] = -changed[:, :, frame]
        new = model.encode(changed)
        first_affected = -(-frame // 4)  # token frame j covers input frames up to 4 j
        assert torch.equal(new[:, :first_affected], ids[:, :first_affected]), frame
        # The change is visible from the first token frame allowed to see it.
        assert not torch.equal(new[:, first_affected], ids[:, first_affected]), frame


def test_first_frame_is_coded_on_its_own():
    model = _model()
    video = _video(9, 32, 48)
    alone = model.encode(video[:, :, :1])
    assert torch.equal(model.encode(video)[:, :1], alone)


@pytest.mark.parametrize("quantizer", ["lfq", "vq"])
def test_chunked_encode_and_decode_equal_one_pass(quantizer):
    model = _model(quantizer=quantizer)
    video = _video(29, 32, 48)
    ids = model.encode(video)
    for chunk in (4, 8, 12):
        assert torch.equal(model.encode(video, chunk_frames=chunk), ids), chunk
    frames = model.decode(ids)
    for chunk in (1, 2, 3):
        assert torch.allclose(model.decode(ids, chunk_latents=chunk), frames, atol=1e-5), chunk
    with pytest.raises(ValueError, match="multiple of 4"):
        model.encode(video, chunk_frames=6)


@pytest.mark.parametrize(
    ("overrides", "size"),
    [
        pytest.param({"quantizer": "lfq"}, 2**18, id="lfq-18bit"),
        pytest.param({"quantizer": "lfq", "bits": 10, "group_bits": 5}, 2**10, id="lfq-10bit"),
        pytest.param({"quantizer": "vq"}, 2**14, id="vq-16k"),
    ],
)
def test_token_ids_in_range(overrides, size):
    model = _model(**overrides)
    assert model.config.codebook_size == size
    ids = model.encode(_video(9, 32, 48) * 3)
    assert ids.dtype == torch.int64
    assert int(ids.min()) >= 0 and int(ids.max()) < size


def test_lfq_id_is_the_sign_pattern_of_the_latent():
    model = _model()
    video = _video(9, 32, 48)
    z = model.encoder(video)
    ids = model.encode(video)
    bits = (z > 0).long()  # (1, 18, T', H', W'), channel 0 is the most significant bit
    weights = 2 ** torch.arange(17, -1, -1).view(1, -1, 1, 1, 1)
    assert torch.equal((bits * weights).sum(dim=1), ids)
    # ids -> latent gives back exactly the quantized latent the decoder sees.
    quantized = model.quantizer(z).quantized
    assert torch.equal(model.quantizer.ids_to_latent(ids), quantized)
    # Ids span more than one 9-bit group, i.e. the full 18-bit integer is used.
    assert int(ids.max()) >= 2**9


def test_vq_ids_to_latent_returns_codebook_entries():
    model = _model(quantizer="vq")
    z = model.encoder(_video(5, 32, 48))
    out = model.quantizer(z)
    assert torch.allclose(model.quantizer.ids_to_latent(out.ids), out.quantized, atol=1e-6)


def test_encode_never_updates_a_vq_codebook():
    torch.manual_seed(0)
    model = VideoTokenizer(tiny_config(quantizer="vq")).train()
    before = model.quantizer.vq.codebook.clone()
    model.encode(_video(9, 32, 48))
    assert torch.equal(model.quantizer.vq.codebook, before)
    assert model.quantizer.training  # the mode is restored
    # A training forward pass does update it (the EMA), so the check above can fail.
    model(_video(9, 32, 48))
    assert not torch.equal(model.quantizer.vq.codebook, before)


def test_same_seed_gives_same_encoder_for_lfq_and_vq():
    lfq, vq = _model(seed=3, quantizer="lfq"), _model(seed=3, quantizer="vq")
    for (name, a), (_, b) in zip(
        lfq.encoder.state_dict().items(), vq.encoder.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_straight_through_gradient_reaches_the_encoder():
    torch.manual_seed(0)
    model = VideoTokenizer(tiny_config()).train()
    video = _video(5, 32, 48)
    out = model(video)
    loss = torch.nn.functional.mse_loss(out.reconstruction, video) + out.quant.aux_loss
    loss.backward()
    grad = model.encoder.conv_in.conv.weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"bits": 1}, "bits must be an integer from 2 to 31", id="bits-low"),
        pytest.param({"bits": 32}, "bits must be an integer from 2 to 31", id="bits-high"),
        pytest.param({"bits": 18, "group_bits": 7}, "multiple of group_bits", id="groups"),
        pytest.param({"spatial_stride": 4}, "spatial_stride must be 8 or 16", id="spatial"),
        pytest.param({"temporal_stride": 3}, "temporal_stride must be 1, 2 or 4", id="temporal"),
        pytest.param({"channel_mult": (1, 2)}, "must have 3 entries", id="levels"),
        pytest.param({"resolution": 100}, "multiple of spatial_stride", id="resolution"),
        pytest.param({"vq_codebook_size": 1000}, "power of two", id="vq-size"),
        pytest.param({"quantizer": "fsq"}, "'lfq' or 'vq'", id="quantizer"),
        pytest.param(
            {"entropy_weight": -1.0}, "entropy_weight must be a number from 0", id="entropy"
        ),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TokenizerConfig(**kwargs)


def test_config_round_trips_through_dict():
    config = tiny_config(quantizer="vq", vq_dim=12)
    assert TokenizerConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown tokenizer config keys: colour"):
        TokenizerConfig.from_dict({**config.to_dict(), "colour": 1})
