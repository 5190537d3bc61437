"""Tokenizer, token tensors and training shards as Dagster assets, end to end on a generated video."""

import hashlib
import json

import dagster as dg
import pytest

from dagster_project.definitions import ASSETS, CHECKS
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import (
    AudioStageConfig,
    ShardStageConfig,
    StoreResource,
    TokenStageConfig,
    VideoStageConfig,
)
from dagster_project.defs.sqlcheck import sql_check_result
from video_assets.catalog import connect
from video_assets.layout import current_tokenizer
from video_assets.registry import register
from video_assets.shards.verify import verify_dir
from video_assets.store import DataRoot
from video_assets.tokens import read_tokens

BY_KEY = {a.key.to_user_string(): a for a in ASSETS}
# A tokenizer small enough to train in seconds on CPU; the real code path all the same.
TINY = {
    "channels": 4,
    "resolution": 16,
    "train_steps": 4,
    "train_frames": 5,
    "batch_size": 2,
    "max_train_clips": 4,
}


def _run(keys, instance, resources, partition=None, **kw):
    assets = [BY_KEY[k] for k in keys]
    wanted = {a.key for a in assets}
    checks = [c for c in CHECKS if any(k.asset_key in wanted for k in c.check_keys)]
    return dg.materialize(
        [*assets, *checks], partition_key=partition, instance=instance, resources=resources, **kw
    )


def _tree(root, sub):
    base = DataRoot(root).local_path(sub)
    return {
        str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def pipeline(fixed_gop_video, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tok")
    landing = tmp / "landing"
    landing.mkdir()
    (landing / "v.mp4").write_bytes(fixed_gop_video.path.read_bytes())
    store = StoreResource(data_root=str(tmp / "data"), landing_dir=str(landing), settle_s=0.0)
    vid = register(store.root(), landing / "v.mp4").video_id
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(videos.name, [vid])
    resources = {
        "store": store,
        "video_config": VideoStageConfig(min_clip_s=1.0),
        "audio_config": AudioStageConfig(allow_passthrough=True),
        "token_config": TokenStageConfig(**TINY),
        "shard_config": ShardStageConfig(target_bytes=200_000),
    }
    video = _run(
        [
            "source_video",
            "iframe_index",
            "scene_table",
            "clips",
            "vocal_stems",
            "aligned_transcripts",
            "token_tensors",
        ],
        instance,
        resources,
        vid,
    )
    assert video.success
    return store, vid, instance, resources, video


def test_token_tensors_skip_until_a_tokenizer_exists(pipeline):
    store, vid, _, _, video = pipeline
    mats = {
        e.event_specific_data.materialization.asset_key.to_user_string()
        for e in video.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    assert "clips" in mats and "token_tensors" not in mats
    assert not DataRoot(store.data_root).exists(f"tokens/{vid}")


def test_tokenizer_then_tokens_then_shards(pipeline):
    store, vid, instance, resources, _ = pipeline
    root = DataRoot(store.data_root)
    tok = _run(["tokenizer_model"], instance, resources)
    assert tok.success
    current = json.loads(root.read_bytes("models/tokenizer/current.json"))
    assert root.exists(current["path"]) and current["source"] == "trained"

    # same clips and settings: reused, same checkpoint
    again = _run(["tokenizer_model"], instance, resources)
    assert json.loads(root.read_bytes("models/tokenizer/current.json"))["hash"] == current["hash"]
    meta = next(
        e.event_specific_data.materialization.metadata
        for e in again.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    )
    assert "reused" in meta["source"].value

    res = _run(["token_tensors"], instance, resources, vid)
    assert res.success
    check = next(
        e.event_specific_data
        for e in res.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    )
    assert check.check_name == "token_mismatch" and check.passed
    with connect(root) as con:
        clips = con.execute(
            "SELECT clip_id, end_frame - start_frame AS frames FROM clips WHERE video_id = $v "
            "ORDER BY 1",
            {"v": vid},
        ).df()
        toks = con.execute(
            "SELECT * FROM tokens WHERE video_id = $v ORDER BY clip_id", {"v": vid}
        ).df()
    assert list(toks["clip_id"]) == list(clips["clip_id"])
    for row, frames in zip(toks.itertuples(), clips["frames"], strict=True):
        tf = read_tokens(root.local_path(row.path))
        assert tf.ids.shape == (1 + -(-(frames - 1) // 4), row.h, row.w) and row.frames == frames
        assert tf.ids.min() >= 0 and tf.ids.max() < 2**18
        assert (
            tf.metadata["checkpoint_hash"] == current["hash"]
            and tf.metadata["clip_id"] == row.clip_id
        )
    first = _tree(store.data_root, f"tokens/{vid}")
    assert _run(["token_tensors"], instance, resources, vid).success
    assert _tree(store.data_root, f"tokens/{vid}") == first  # idempotent: same ids, same bytes

    shards = _run(["training_shards"], instance, resources)
    assert shards.success
    result = verify_dir(root.local_path("shards"))
    assert result.ok, result.problems
    with connect(root) as con:
        kept = con.execute("SELECT clip_id FROM shard_samples ORDER BY 1").df()["clip_id"].tolist()
        excluded = con.execute("SELECT clip_id, reason FROM shard_exclusions").df()
        durations = (
            con.execute("SELECT clip_id, duration_s FROM clips")
            .df()
            .set_index("clip_id")["duration_s"]
        )
    assert result.samples == len(kept) > 0
    assert set(kept).isdisjoint(excluded["clip_id"])
    assert set(kept) | set(excluded["clip_id"]) == set(durations.index)
    short = set(durations[durations < 3.0].index)
    assert short and short <= set(excluded.loc[excluded["reason"] == "too_short", "clip_id"])


def test_stale_tokens_fail_the_check(pipeline):
    store, vid, instance, resources, _ = pipeline
    assert _run(["tokenizer_model"], instance, resources).success
    assert _run(["token_tensors"], instance, resources, vid).success
    retrained = {**resources, "token_config": TokenStageConfig(**{**TINY, "seed": 1})}
    assert _run(["tokenizer_model"], instance, retrained).success  # a new current checkpoint
    # What the token_mismatch check runs, against the new current checkpoint (the tokens are stale).
    current = current_tokenizer(DataRoot(store.data_root))
    res = sql_check_result(
        DataRoot(store.data_root),
        "token_mismatch",
        vid,
        {"checkpoint_hash": current["hash"], "max_frames": 0},
    )
    assert not res.passed and res.metadata["violations"].value > 0
    assert "another checkpoint" in res.metadata["examples"].value


def test_automation_trains_once_reencodes_every_video_on_retrain_then_refreshes_shards():
    """What the daemon's automation sensor requests, tick by tick; each requested run is
    reported done before the next tick."""
    from dagster_project.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    a, b, c = "v" + "a" * 16, "v" + "b" * 16, "v" + "c" * 16
    instance.add_dynamic_partitions(videos.name, [a, b])
    state = {"cursor": None}
    keys = defs.resolve_asset_graph().get_all_asset_keys()

    def done(key: str, *partitions: str | None) -> None:
        for partition in partitions:
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))

    def ticks() -> list[dict[str, set]]:
        """Evaluate until two ticks in a row request nothing; the requests of each tick."""
        out: list[dict[str, set]] = []
        quiet = 0
        while quiet < 2:
            with dg.partition_loading_context(dynamic_partitions_store=instance):
                result = dg.evaluate_automation_conditions(
                    defs=defs, instance=instance, cursor=state["cursor"]
                )
            state["cursor"] = result.cursor
            got = {
                k.to_user_string(): set(result.get_requested_partitions(k))
                for k in keys
                if result.get_num_requested(k)
            }
            for key, partitions in got.items():
                done(key, *partitions)
            quiet = 0 if got else quiet + 1
            if got:
                out.append(got)
            assert len(out) < 10, out
        return out

    assert ticks() == []  # nothing has happened
    # Two videos' runs (video_job) made their clips; their tokens were skipped: no tokenizer.
    done("clips", a, b)
    assert ticks() == [
        {"tokenizer_model": {None}},  # the first tokenizer, trained once
        {"token_tensors": {a, b}, "catalog": {None}},  # every video's tokens with it
        {"training_shards": {None}},  # one refresh for both videos
        {"catalog": {None}},
    ]
    # A third video: its tokens from the existing tokenizer, which is not trained again.
    instance.add_dynamic_partitions(videos.name, [c])
    done("clips", c)
    assert ticks() == [
        {"token_tensors": {c}},
        {"training_shards": {None}},
        {"catalog": {None}},
    ]
    # c's clips are cut again and its tokens made after them (as video_job does): only the
    # shards and the catalog follow.
    done("clips", c)
    done("token_tensors", c)
    assert ticks() == [{"training_shards": {None}}, {"catalog": {None}}]
    # Retraining is asked for (tokenizer_job): every video's tokens are made again, then
    # the shards are refreshed once.
    done("tokenizer_model", None)
    assert ticks() == [
        {"token_tensors": {a, b, c}},
        {"training_shards": {None}},
        {"catalog": {None}},
    ]
