"""The README's main job run on three videos one after another in a fresh data root, as a
user grows a corpus: every video stays in the shards (issue 22)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dagster_project.main import main
from video_assets.catalog import connect
from video_assets.generate.synth import make_shots_video
from video_assets.shards.verify import verify_dir
from video_assets.store import DataRoot

# The real tokenizer code path at a size that trains in seconds on a CPU.
TINY_TOKENIZER = {
    "VIDEO_ASSETS_TOKENIZER_STEPS": "4",
    "VIDEO_ASSETS_TOKENIZER_CHANNELS": "4",
    "VIDEO_ASSETS_TOKENIZER_RESOLUTION": "16",
    "VIDEO_ASSETS_TOKENIZER_FRAMES": "5",
    "VIDEO_ASSETS_TOKENIZER_BATCH": "2",
    "VIDEO_ASSETS_TOKENIZER_MAX_CLIPS": "4",
    "VIDEO_ASSETS_TOKENIZER_DEVICE": "cpu",
}


def shard_tars(data: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(data / "shards")): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted((data / "shards").rglob("*.tar"))
    }


def current_hash(data: Path) -> str:
    return json.loads((data / "models/tokenizer/current.json").read_text())["hash"]


@pytest.mark.slow
def test_three_videos_in_sequence_all_stay_in_the_shards(tmp_path, monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith(("VIDEO_ASSETS_", "DAGSTER_")):
            monkeypatch.delenv(name)
    data, landing = tmp_path / "data", tmp_path / "landing"
    landing.mkdir()
    monkeypatch.chdir(tmp_path)
    for name, value in {
        **TINY_TOKENIZER,
        "VIDEO_ASSETS_DATA_ROOT": str(data),
        "VIDEO_ASSETS_LANDING_DIR": str(landing),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }.items():
        monkeypatch.setenv(name, value)
    # Three distinct short videos with cuts (two shots over 3 s and one short shot each).
    videos = [
        make_shots_video(
            landing / f"take{i}.mp4", [90, 100, 40], size=(96, 54), seed=i, audio="none"
        ).path
        for i in range(3)
    ]

    hashes, tars = [], []
    for video in videos:
        assert main([str(video)]) == 0
        hashes.append(current_hash(data))
        tars.append(shard_tars(data))
    # One tokenizer, trained by the first run; later runs encoded their clips with it.
    assert hashes[0] == hashes[1] == hashes[2]
    assert len(list((data / "models/tokenizer").glob("tokenizer-*.safetensors"))) == 1
    # Each run added shards and left the earlier ones as they were (same bytes, not rewritten).
    for before, after in zip(tars, tars[1:], strict=False):
        assert {p: after[p] for p in before} == before and len(after) > len(before)

    def corpus() -> tuple[dict[str, int], list[tuple], set[str]]:
        with connect(DataRoot(data)) as con:
            per_video = dict(
                con.execute("SELECT video_id, count(*) FROM shard_samples GROUP BY 1").fetchall()
            )
            reasons = con.execute(
                "SELECT video_id, clip_id, reason FROM shard_exclusions"
            ).fetchall()
            token_hashes = {
                r[0] for r in con.execute("SELECT checkpoint_hash FROM tokens").fetchall()
            }
            clips = dict(con.execute("SELECT video_id, count(*) FROM clips GROUP BY 1").fetchall())
        assert len(clips) == 3
        # Every clip is in the shards (the short shot is a scene, not a clip).
        assert per_video == clips, (per_video, clips, reasons)
        return per_video, reasons, token_hashes

    per_video, reasons, token_hashes = corpus()
    assert len(per_video) == 3 and all(n >= 2 for n in per_video.values())
    assert not [r for r in reasons if r[2] == "stale_tokens"] and reasons == []
    assert token_hashes == {hashes[0]}
    check = verify_dir(data / "shards")
    assert check.ok and check.samples == sum(per_video.values()), check.problems

    # Retraining is a decision: with other settings the tokenizer changes, every video is
    # encoded again in the same job, and every video is still in the shards.
    monkeypatch.setenv("VIDEO_ASSETS_TOKENIZER_SEED", "1")
    assert main([str(videos[2]), "--retrain-tokenizer"]) == 0
    assert current_hash(data) != hashes[0]
    again, reasons, token_hashes = corpus()
    assert again == per_video
    assert not [r for r in reasons if r[2] == "stale_tokens"]
    assert token_hashes == {current_hash(data)}
    assert verify_dir(data / "shards").ok
