"""The shard loader: epochs, worker and rank splits, buckets, batches, decoding."""

from __future__ import annotations

import itertools
import json
import shutil
import tarfile
from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from video_assets.errors import MediaError
from video_assets.generate.shard_data import make_samples
from video_assets.loader import (
    ClipShardDataset,
    DecodeSettings,
    _decode_torchcodec,
    collate_clips,
    decode_clip,
)
from video_assets.shards.schema import ShardError
from video_assets.shards.selection import select_samples
from video_assets.shards.settings import ExclusionRules, ShardSettings
from video_assets.shards.write import write_shards
from video_assets.tokens.files import read_tokens

SMALL_BUCKET = "64x48_4-3_f16-31"
WIDE_BUCKET = "96x48_2-1_f32-63"

# Workers start from a clean forkserver, not a fork of this process: by the time these tests
# run, the test process holds threads (torch, PyAV, CTranslate2) whose locks a fork can copy
# in a locked state, which hung a worker in CI.
WORKER_CONTEXT = "forkserver"


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """12 clips in two buckets, packed into 8 shards."""
    base = tmp_path_factory.mktemp("loader")
    specs = [(f"s{i:02d}", (64, 48), 24 if i == 3 else 20) for i in range(8)]
    specs += [(f"w{i:02d}", (96, 48), 36) for i in range(4)]
    samples = select_samples(make_samples(base, specs), ExclusionRules(min_duration_s=0.0)).kept
    out = base / "shards"
    # 30 KiB: two small clips per shard (4 shards), one wide clip per shard (4 shards).
    shard_set = write_shards(samples, out, settings=ShardSettings(target_bytes=30 * 1024))
    return out, shard_set, {s.key: s for s in samples}


def keys_of(items) -> list[str]:
    out: list[str] = []
    for item in items:
        out += item["key"] if isinstance(item["key"], list) else [item["key"]]
    return out


def test_fixture_has_several_shards_per_bucket(shards):
    _, shard_set, _ = shards
    per_bucket = Counter(s.bucket for s in shard_set.manifest.shards)
    assert set(per_bucket) == {SMALL_BUCKET, WIDE_BUCKET}
    assert per_bucket[SMALL_BUCKET] >= 3 and len(shard_set.manifest.shards) >= 5


def test_single_process_yields_frames_tokens_words(shards):
    out, _, samples = shards
    items = list(ClipShardDataset(out, seed=1))
    assert sorted(keys_of(items)) == sorted(samples)
    for item in items:
        s = samples[item["key"]]
        assert item["frames"].dtype == torch.uint8
        assert tuple(item["frames"].shape) == (s.frame_count, 3, s.height, s.width)
        ids = read_tokens(s.token_path).ids
        assert item["tokens"].dtype == torch.int32 and np.array_equal(item["tokens"].numpy(), ids)
        assert [w["word"] for w in item["words"]] == [w["word"] for w in s.words]
        assert item["facts"]["video_id"] == s.video_id and item["bucket"] == item["facts"]["bucket"]
        assert item["fps"] == pytest.approx(25.0)


def test_two_workers_yield_each_sample_once_per_epoch(shards):
    out, _, samples = shards
    ds = ClipShardDataset(out, seed=3, shuffle_buffer=4, decode=DecodeSettings(max_frames=2))
    loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context=WORKER_CONTEXT)
    orders = []
    for epoch in range(2):
        ds.set_epoch(epoch)
        keys = keys_of(loader)
        assert Counter(keys) == Counter(list(samples)), f"epoch {epoch}"
        orders.append(keys)
    assert orders[0] != orders[1]  # the shard order and the buffer change with the epoch


def test_ranks_split_shards_and_workers_split_again(shards):
    out, _, samples = shards
    seen = []
    for rank in range(2):
        ds = ClipShardDataset(
            out, rank=rank, world_size=2, seed=5, decode=DecodeSettings(max_frames=1)
        )
        seen.append(
            keys_of(
                DataLoader(
                    ds, batch_size=None, num_workers=2, multiprocessing_context=WORKER_CONTEXT
                )
            )
        )
    assert not set(seen[0]) & set(seen[1])
    assert Counter(seen[0] + seen[1]) == Counter(list(samples))


def test_same_seed_same_order_without_workers(shards):
    out, _, _ = shards
    a = keys_of(ClipShardDataset(out, seed=9, decode_frames=False))
    b = keys_of(ClipShardDataset(out, seed=9, decode_frames=False))
    assert a == b


def test_bucket_filter(shards):
    out, _, samples = shards
    ds = ClipShardDataset(out, buckets=[WIDE_BUCKET], decode=DecodeSettings(max_frames=1))
    assert ds.buckets == [WIDE_BUCKET] and ds.num_samples == 4
    assert sorted(keys_of(ds)) == sorted(k for k in samples if k.startswith("w"))
    with pytest.raises(ShardError, match="no shards in buckets"):
        ClipShardDataset(out, buckets=["nope"])


def test_batches_come_from_one_bucket_with_one_shape(shards):
    out, _, samples = shards
    ds = ClipShardDataset(out, batch_size=3, trim_to_bucket=True, seed=2)
    batches = list(
        DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context=WORKER_CONTEXT)
    )
    assert Counter(keys_of(batches)) == Counter(list(samples))
    for batch in batches:
        (bucket,) = set(batch["bucket"])
        frames_lo = 16 if bucket == SMALL_BUCKET else 32
        b = len(batch["key"])
        h, w = (48, 64) if bucket == SMALL_BUCKET else (48, 96)
        assert tuple(batch["frames"].shape) == (b, frames_lo, 3, h, w)
        # Tokens cut to the frames kept: 1 + ceil((frames - 1) / 4) token frames.
        assert tuple(batch["tokens"].shape) == (b, 1 + -(-(frames_lo - 1) // 4), h // 8, w // 8)
        for words in batch["words"]:
            assert all(wd["end"] <= frames_lo / 25 + 1e-6 for wd in words)
    assert any(len(b["key"]) < 3 for b in batches)  # partial batches kept without drop_last
    dropped = list(ClipShardDataset(out, batch_size=3, drop_last=True, decode_frames=False))
    assert all(len(b["key"]) == 3 for b in dropped)


def test_decode_settings(shards):
    out, _, samples = shards
    ds = ClipShardDataset(
        out,
        buckets=[WIDE_BUCKET],
        decode=DecodeSettings(max_frames=4, frame_step=3, size=(32, 16), layout="THWC"),
    )
    for item in ds:
        assert tuple(item["frames"].shape) == (4, 16, 32, 3)
        # 4 frames 3 apart span 10 source frames: 1 + ceil(9 / 4) token frames.
        assert item["tokens"].shape[0] == 4


def test_raw_bytes_without_decoding(shards):
    out, _, samples = shards
    items = list(ClipShardDataset(out, decode_frames=False, shuffle=False))
    for item in items:
        assert "frames" not in item
        with open(samples[item["key"]].clip_path, "rb") as fh:
            assert item["clip"] == fh.read()
        assert item["container"] == "mp4"


def test_explicit_urls_and_resampling(shards):
    out, shard_set, samples = shards
    urls = [str(out / s.path) for s in shard_set.manifest.shards]
    ds = ClipShardDataset(urls, buckets=[SMALL_BUCKET], decode_frames=False)
    assert sorted(keys_of(ds)) == sorted(k for k in samples if k.startswith("s"))
    endless = ClipShardDataset(out, resample=True, decode_frames=False, seed=4)
    drawn = [item["key"] for item in itertools.islice(iter(endless), 40)]
    assert len(drawn) == 40 and set(drawn) <= set(samples)


def test_decode_clip_errors_and_gpu_path_on_cpu(shards):
    _, _, samples = shards
    with pytest.raises(MediaError, match="k-bad"):
        decode_clip(b"\x00" * 100, name="k-bad")
    s = samples["s00"]
    with open(s.clip_path, "rb") as fh:
        data = fh.read()
    cpu = decode_clip(data, DecodeSettings(max_frames=5))
    assert cpu.backend == "pyav" and tuple(cpu.frames.shape) == (5, 3, 48, 64)
    # The GPU path (torchcodec) runs here on the CPU: same frames as PyAV.
    pytest.importorskip("torchcodec.decoders")
    frames, fps = _decode_torchcodec(data, DecodeSettings(max_frames=5), 5, "s00", "cpu")
    assert fps == pytest.approx(25.0) and frames.shape == cpu.frames.shape
    assert (frames.int() - cpu.frames.int()).abs().float().mean() < 2.0
    resized, _ = _decode_torchcodec(data, DecodeSettings(size=(32, 24)), 2, "s00", "cpu")
    assert tuple(resized.shape) == (2, 3, 24, 32) and resized.dtype == torch.uint8


def test_collate_refuses_mixed_sizes():
    a = {
        "key": "a",
        "bucket": "x",
        "words": [],
        "facts": {},
        "fps": 25.0,
        "frames": torch.zeros(4, 3, 8, 8, dtype=torch.uint8),
        "tokens": None,
    }
    b = {**a, "key": "b", "bucket": "y", "frames": torch.zeros(5, 3, 8, 16, dtype=torch.uint8)}
    with pytest.raises(ValueError, match="one bucket"):
        collate_clips([a, b])
    c = {**a, "key": "c", "frames": torch.zeros(6, 3, 8, 8, dtype=torch.uint8)}
    assert tuple(collate_clips([a, c])["frames"].shape) == (2, 4, 3, 8, 8)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"max_frames": 0}, "max_frames", id="max-frames"),
        pytest.param({"frame_step": 0}, "frame_step", id="step"),
        pytest.param({"size": (0, 4)}, "size", id="size"),
        pytest.param({"layout": "CTHW"}, "layout", id="layout"),
        pytest.param({"device": "tpu"}, "device", id="device"),
    ],
)
def test_decode_settings_validate(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DecodeSettings(**kwargs)


def test_dataset_arguments_validate(shards):
    out, _, _ = shards
    with pytest.raises(ValueError, match="rank"):
        ClipShardDataset(out, rank=2, world_size=2)
    with pytest.raises(ValueError, match="both"):
        ClipShardDataset(out, rank=0)
    with pytest.raises(ValueError, match="batch_size"):
        ClipShardDataset(out, batch_size=0)


def test_facts_json_is_the_shard_member(shards):
    out, shard_set, _ = shards
    item = next(iter(ClipShardDataset(out, decode_frames=False, shuffle=False)))
    assert item["facts"]["key"] == item["key"]
    assert json.loads(json.dumps(item["facts"])) == item["facts"]


def test_truncated_shard_raises_or_is_skipped_whole_samples_only(shards, tmp_path):
    out, shard_set, samples = shards
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    info = next(s for s in shard_set.manifest.shards if s.n_samples == 2)
    path = copy / info.path
    with tarfile.open(path) as tar:
        mp4 = tar.getmember(f"{info.keys[1]}.mp4")
    path.write_bytes(path.read_bytes()[: mp4.offset_data + mp4.size // 2])  # inside the second clip
    with pytest.raises(ShardError, match="cannot be read to its end"):
        list(ClipShardDataset(copy, decode_frames=False))
    with pytest.warns(UserWarning, match="cannot be read"):
        items = list(ClipShardDataset(copy, decode_frames=False, on_error="skip"))
    keys = keys_of(items)
    assert info.keys[1] not in keys and len(keys) == len(samples) - 1
    assert all({"clip", "container", "words", "facts"} <= set(i) for i in items)


def test_matroska_clips_are_packed_verified_and_decoded(tmp_path):
    """A clip the clips stage wrote as Matroska (a stream copy of a codec MP4 cannot hold)
    travels as ``<key>.mkv``: packed, verified, decoded, or handed over as bytes."""
    import subprocess
    from dataclasses import replace

    from video_assets.shards.verify import verify_dir

    made = make_samples(tmp_path, [("m0", (64, 48), 20), ("m1", (64, 48), 20)])
    mkv = tmp_path / "m1.mkv"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", made[1].clip_path,
         "-c", "copy", "-f", "matroska", str(mkv)],
        check=True,
    )  # fmt: skip
    samples = [made[0], replace(made[1], clip_path=str(mkv))]
    kept = select_samples(samples, ExclusionRules(min_duration_s=0.0)).kept
    out = tmp_path / "shards"
    shard_set = write_shards(kept, out)
    with tarfile.open(out / shard_set.manifest.shards[0].path) as tar:
        names = tar.getnames()
    assert {"m0.mp4", "m1.mkv"} <= set(names) and "m1.mp4" not in names
    assert verify_dir(out).ok

    decoded = {i["key"]: i for i in ClipShardDataset(out, shuffle=False)}
    assert {k: tuple(i["frames"].shape) for k, i in decoded.items()} == {
        "m0": (20, 3, 48, 64),
        "m1": (20, 3, 48, 64),
    }
    assert not torch.equal(decoded["m0"]["frames"], decoded["m1"]["frames"])
    raw = {i["key"]: i for i in ClipShardDataset(out, shuffle=False, decode_frames=False)}
    assert raw["m1"]["container"] == "mkv" and raw["m1"]["clip"] == mkv.read_bytes()
    assert raw["m0"]["container"] == "mp4"
    batch = collate_clips(list(raw.values()))
    assert batch["container"] == ["mp4", "mkv"]

    # A Matroska member that is not Matroska is caught like an mp4 without its ftyp box.
    shard = out / shard_set.manifest.shards[0].path
    data = bytearray(shard.read_bytes())
    with tarfile.open(shard) as tar:
        at = tar.getmember("m1.mkv").offset_data
    data[at : at + 4] = b"\0\0\0\0"
    shard.write_bytes(bytes(data))
    problems = verify_dir(out).problems
    assert any("m1.mkv does not start with an EBML header" in p.detail for p in problems), problems


def test_decoding_turns_off_the_python_log_callback_that_deadlocks_threaded_decoders(shards):
    """Importing torchvision.io turns PyAV's Python log callback on; with it, freeing a
    frame-threaded decoder hung this suite (a decoder thread logging, waiting for the GIL
    that the freeing thread holds). Decoding a clip turns it off again."""
    import av.logging
    import torchvision.io  # noqa: F401 - the import is what turns the callback on

    out, _, _ = shards
    av.logging.set_level(av.logging.ERROR)  # as torchvision.io does, whatever the import order
    item = next(iter(ClipShardDataset(out, seed=1)))
    assert item["frames"].shape[0] > 0
    assert av.logging.get_level() is None
