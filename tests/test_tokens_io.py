"""Reading clips, checkpoints, encoding and decoding clips, token files, previews."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from video_assets.errors import MediaError
from video_assets.generate.tokens import make_clip, tiny_config
from video_assets.tokens import (
    CheckpointError,
    TokensError,
    VideoTokenizer,
    decode_tokens,
    encode_clip,
    load_checkpoint,
    model_hash,
    preview_image,
    read_checkpoint_info,
    read_clip_frames,
    read_tokens,
    save_checkpoint,
    target_size,
    token_file_problems,
    write_tokens_safetensors,
)


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("token_clips")
    return {
        "landscape": make_clip(d / "landscape.mp4", size="96x64", frames=17),
        "portrait": make_clip(d / "portrait.mp4", source="mandelbrot", size="64x96", frames=19),
        "wide": make_clip(d / "wide.mp4", size="160x90", frames=9, extra="hue=h=90"),
    }


@pytest.fixture(scope="module")
def checkpoint_path(tmp_path_factory):
    torch.manual_seed(0)
    model = VideoTokenizer(tiny_config()).eval()
    path = tmp_path_factory.mktemp("ckpt") / "tok.safetensors"
    save_checkpoint(model, path, training={"note": "random init"})
    return path


@pytest.mark.parametrize(
    ("width", "height", "short", "stride", "expected"),
    [
        pytest.param(96, 64, 32, 8, (48, 32), id="3:2"),
        pytest.param(64, 96, 32, 8, (32, 48), id="2:3"),
        pytest.param(1920, 1080, 64, 8, (112, 64), id="16:9-rounded"),
        pytest.param(1080, 1920, 128, 16, (128, 224), id="9:16-stride16"),
        pytest.param(64, 64, 32, 8, (32, 32), id="square"),
    ],
)
def test_target_size_keeps_aspect_ratio_on_stride_multiples(width, height, short, stride, expected):
    assert target_size(width, height, short, stride) == expected


def test_target_size_rejects_short_side_off_the_stride():
    with pytest.raises(ValueError, match="positive multiple of 8"):
        target_size(96, 64, 30, 8)


def test_read_clip_frames_resizes_without_cropping(clips):
    land = read_clip_frames(clips["landscape"], short_side=32, stride=8)
    assert land.frames.shape == (17, 32, 48, 3) and land.frames.dtype == np.uint8
    assert (land.source_width, land.source_height, land.fps) == (96, 64, 25.0)
    port = read_clip_frames(clips["portrait"], short_side=32, stride=8, max_frames=5)
    assert port.frames.shape == (5, 48, 32, 3)
    wide = read_clip_frames(clips["wide"], short_side=32, stride=8)
    assert wide.frames.shape == (9, 32, 56, 3)  # 160x90 -> 56.9 -> 56 wide


def test_read_clip_frames_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(MediaError, match="nope.mp4"):
        read_clip_frames(missing, short_side=32, stride=8)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(MediaError, match="garbage.mp4"):
        read_clip_frames(garbage, short_side=32, stride=8)


@pytest.mark.parametrize(
    ("clip", "shape", "frames"),
    [
        pytest.param("landscape", (5, 4, 6), 17, id="landscape"),
        pytest.param("portrait", (6, 6, 4), 19, id="portrait-padded-tail"),
        pytest.param("wide", (3, 4, 7), 9, id="wide"),
    ],
)
def test_encode_clip_shape_follows_clip(clips, checkpoint_path, clip, shape, frames):
    ckpt = load_checkpoint(checkpoint_path)
    res = encode_clip(clips[clip], ckpt, chunk_frames=8)
    assert res.ids.shape == shape and res.ids.dtype == np.int32
    assert res.frames == frames
    assert res.ids.min() >= 0 and res.ids.max() < 2**18
    assert res.summary() == {
        "shape": list(shape),
        "bits": 18,
        "checkpoint": ckpt.hash,
        "unique_codes": len(np.unique(res.ids)),
    }
    recon = decode_tokens(res.ids, ckpt, num_frames=res.frames)
    assert res.pixels is not None
    assert recon.shape == res.pixels.shape and recon.dtype == np.uint8


def test_checkpoint_round_trip_is_deterministic(clips, checkpoint_path, tmp_path):
    first = load_checkpoint(checkpoint_path)
    ids = encode_clip(clips["landscape"], first).ids
    # Save the loaded model again: same hash, same bytes, same ids after loading.
    again = tmp_path / "again.safetensors"
    digest = save_checkpoint(first.require_model(), again, training=first.training)
    assert digest == first.hash == model_hash(first.require_model())
    assert again.read_bytes() == checkpoint_path.read_bytes()
    second = load_checkpoint(again)
    assert np.array_equal(encode_clip(clips["landscape"], second).ids, ids)
    # A path works as well as a loaded checkpoint.
    assert np.array_equal(encode_clip(clips["landscape"], again).ids, ids)
    info = read_checkpoint_info(again)
    assert info.config == first.config and info.training == {"note": "random init"}


def test_different_weights_give_a_different_hash(checkpoint_path, tmp_path):
    model = load_checkpoint(checkpoint_path).require_model()
    with torch.no_grad():
        model.decoder.conv_out.conv.bias.add_(1e-3)
    assert (
        save_checkpoint(model, tmp_path / "b.safetensors")
        != read_checkpoint_info(checkpoint_path).hash
    )


def test_missing_checkpoint_error_names_the_path(tmp_path):
    path = tmp_path / "models" / "absent.safetensors"
    with pytest.raises(
        CheckpointError, match=r"absent\.safetensors: tokenizer checkpoint does not exist"
    ):
        load_checkpoint(path)


def test_corrupt_checkpoints_are_refused(checkpoint_path, tmp_path):
    data = checkpoint_path.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.safetensors"):
        load_checkpoint(truncated)

    flipped = tmp_path / "flipped.safetensors"
    buf = bytearray(data)
    buf[-3] ^= 0xFF  # a weight byte, not the header
    flipped.write_bytes(bytes(buf))
    with pytest.raises(CheckpointError, match="flipped.safetensors: is corrupt: content hash"):
        load_checkpoint(flipped)

    text = tmp_path / "notes.safetensors"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.safetensors: is not a readable safetensors"):
        load_checkpoint(text)


def test_token_file_round_trip_and_idempotent_rewrite(clips, checkpoint_path, tmp_path):
    ckpt = load_checkpoint(checkpoint_path)
    target = tmp_path / "tokens" / "vid" / "clip0.safetensors"
    first = encode_clip(clips["portrait"], ckpt)
    write_tokens_safetensors(target, first.ids, first.metadata())
    before = target.read_bytes()
    # Re-materialising (a fresh load, a fresh encode) writes the same bytes.
    again = encode_clip(clips["portrait"], load_checkpoint(checkpoint_path))
    write_tokens_safetensors(target, again.ids, again.metadata())
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["clip0.safetensors"]  # no temp left
    tf = read_tokens(target)
    assert np.array_equal(tf.ids, first.ids)
    assert tf.metadata["checkpoint_hash"] == ckpt.hash
    assert tf.metadata["clip_id"] == "portrait"
    assert (tf.metadata["spatial_stride"], tf.metadata["temporal_stride"], tf.metadata["bits"]) == (
        "8",
        "4",
        "18",
    )
    assert float(tf.metadata["fps"]) == 25.0


def test_token_file_problems_catch_shape_and_checkpoint(clips, checkpoint_path, tmp_path):
    ckpt = load_checkpoint(checkpoint_path)
    res = encode_clip(clips["landscape"], ckpt)
    path = tmp_path / "t.safetensors"
    write_tokens_safetensors(path, res.ids, res.metadata())
    fits = dict(frames=17, height=32, width=48, config=ckpt.config)
    assert token_file_problems(path, checkpoint_hash=ckpt.hash, **fits) == []
    assert token_file_problems(path, checkpoint_hash="0" * 64, **fits) == [
        f"checkpoint {ckpt.hash[:12]} != current 000000000000"
    ]
    wrong = token_file_problems(path, checkpoint_hash=ckpt.hash, **{**fits, "frames": 25})
    assert wrong == ["shape (5, 4, 6) != expected (7, 4, 6)"]
    write_tokens_safetensors(path, res.ids[:, :3], res.metadata())
    assert token_file_problems(path, checkpoint_hash=ckpt.hash, **fits) == [
        "shape (5, 3, 6) != expected (5, 4, 6)"
    ]
    missing = token_file_problems(tmp_path / "none.safetensors", checkpoint_hash=ckpt.hash, **fits)
    assert len(missing) == 1 and "none.safetensors" in missing[0]


def test_write_tokens_rejects_wrong_arrays(tmp_path):
    with pytest.raises(ValueError, match="3-D int32"):
        write_tokens_safetensors(tmp_path / "a.safetensors", np.zeros((2, 2, 2), np.int64), {})
    with pytest.raises(ValueError, match="3-D int32"):
        write_tokens_safetensors(tmp_path / "a.safetensors", np.zeros((2, 2), np.int32), {})
    with pytest.raises(TokensError, match="a.safetensors: token file does not exist"):
        read_tokens(tmp_path / "a.safetensors")


def test_decode_rejects_ids_out_of_range(checkpoint_path):
    ckpt = load_checkpoint(checkpoint_path)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 262144\)"):
        decode_tokens(np.full((2, 4, 6), 2**18, dtype=np.int32), ckpt)


def test_preview_image_puts_original_left_and_reconstruction_right():
    original = np.zeros((5, 16, 24, 3), np.uint8)
    recon = np.full((5, 16, 24, 3), 200, np.uint8)
    img = Image.open(io.BytesIO(preview_image(original, recon, max_frames=2, min_width=48)))
    arr = np.asarray(img.convert("RGB"))
    assert arr.shape == (2 * 32 + 4, 2 * 48 + 4, 3)  # two rows, frames enlarged x2
    assert arr[5, 5].tolist() == [0, 0, 0] and arr[5, 60].tolist() == [200, 200, 200]
    with pytest.raises(ValueError, match="matching"):
        preview_image(original, recon[:, :8])
