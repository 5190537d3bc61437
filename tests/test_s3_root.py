"""The data root on an object store: ``s3://bucket/prefix`` served by moto on 127.0.0.1.

DataRoot's atomic writes and listings against a real S3 API, the settings errors, and one
partition materialized through a Dagster instance with every output in the bucket, read
back through the DuckDB catalog (fsspec registered with DuckDB: no httpfs download).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket

import boto3
import dagster as dg
import duckdb
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
from video_assets.catalog import CATALOG_FILE, connect
from video_assets.errors import ConfigError
from video_assets.registry import register
from video_assets.store import DataRoot, RemoteMedia, s3_storage_options

pytestmark = pytest.mark.services

KEY, SECRET, REGION = "testing-key", "testing-secret", "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """A moto S3 server in this process (a thread), on a free port of 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture()
def bucket(s3_endpoint, request):
    """A fresh bucket per test, so no test sees another's objects."""
    name = "va-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        region_name=REGION,
    )
    client.create_bucket(Bucket=name)
    return name, client


def _options(endpoint: str) -> dict:
    return s3_storage_options(endpoint, KEY, SECRET, REGION)


def _keys(client, bucket: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


# -- DataRoot on s3 ---------------------------------------------------------------------------
def test_atomic_file_and_stream_appear_only_whole(s3_endpoint, bucket):
    name, client = bucket
    root = DataRoot(f"s3://{name}/data", storage_options=_options(s3_endpoint)).check()
    assert not root.is_local and root.uri("a/b.bin") == f"s3://{name}/data/a/b.bin"

    with root.atomic_file("a/b.bin") as tmp:
        tmp.write_bytes(b"first version")
        assert not root.exists("a/b.bin")  # nothing visible before the block ends
    assert root.read_bytes("a/b.bin") == b"first version"

    with pytest.raises(RuntimeError), root.atomic_file("a/b.bin") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer died")
    assert root.read_bytes("a/b.bin") == b"first version"  # the old object, untouched

    payload = bytes(range(256)) * 4096  # 1 MiB
    with root.atomic_stream("a/s.bin") as out:
        out.write(payload[: len(payload) // 2])
        assert not root.exists("a/s.bin")
        out.write(payload[len(payload) // 2 :])
    assert root.read_bytes("a/s.bin") == payload and root.size("a/s.bin") == len(payload)

    with pytest.raises(RuntimeError), root.atomic_stream("a/never.bin") as out:
        out.write(payload)
        raise RuntimeError("hash mismatch")
    assert not root.exists("a/never.bin")
    assert _keys(client, name) == ["data/a/b.bin", "data/a/s.bin"]


def test_atomic_dir_replaces_the_set_and_listdir_hides_temps(s3_endpoint, bucket):
    name, client = bucket
    root = DataRoot(f"s3://{name}/p", storage_options=_options(s3_endpoint))
    with root.atomic_dir("clips/v1") as tmp:
        for n in ("a.mp4", "b.mp4", "c.mp4"):
            (tmp / n).write_bytes(n.encode())
    with root.atomic_dir("clips/v1") as tmp:  # a re-run with fewer clips
        for n in ("a.mp4", "b.mp4"):
            (tmp / n).write_bytes(b"new " + n.encode())
    assert root.listdir("clips/v1") == ["a.mp4", "b.mp4"]
    assert root.read_bytes("clips/v1/a.mp4") == b"new a.mp4"
    # A temporary name someone left in the bucket is never listed as an output.
    client.put_object(Bucket=name, Key="p/clips/v1/.tmp-123-a.mp4", Body=b"x")
    assert root.listdir("clips/v1") == ["a.mp4", "b.mp4"]
    assert root.listdir("clips/none") == []


def test_unsafe_components_are_refused(s3_endpoint, bucket):
    name, _ = bucket
    root = DataRoot(f"s3://{name}/p", storage_options=_options(s3_endpoint))
    for parts in (("..", "x"), ("a/b",), ("",), (".tmp-x",), ("a\x00",)):
        with pytest.raises(ValueError, match="unsafe path component"):
            root.rel(*parts)
    for rel in ("a/../b", "../x", "a//b", "/abs"):
        with pytest.raises(ValueError):
            root.full(rel)
        with pytest.raises(ValueError):
            root.uri(rel)
    with pytest.raises(ValueError):
        root.table_rel("scenes", "../other")


def test_media_input_is_a_presigned_url_read_in_place(s3_endpoint, bucket, fixed_gop_video):
    from video_assets.keyframes import build_index
    from video_assets.probe import probe

    name, _ = bucket
    root = DataRoot(f"s3://{name}/p", storage_options=_options(s3_endpoint))
    with root.atomic_file("videos/v/source.mp4") as tmp:
        shutil.copyfile(fixed_gop_video.path, tmp)
    with root.media_input("videos/v/source.mp4") as media:
        assert isinstance(media, RemoteMedia) and str(media) == f"s3://{name}/p/videos/v/source.mp4"
        info = probe(media)
        index = build_index(media)
    assert info.size_bytes == fixed_gop_video.path.stat().st_size
    assert index.frame_count == sum([60, 45, 80, 30, 70, 90, 50])


def test_wrong_settings_fail_naming_the_setting(s3_endpoint, bucket, monkeypatch):
    name, _ = bucket
    with pytest.raises(ConfigError) as err:
        DataRoot(f"s3://no-such-bucket-{name}/p", storage_options=_options(s3_endpoint)).check()
    assert err.value.setting == "VIDEO_ASSETS_DATA_ROOT" and "does not exist" in str(err.value)

    closed = f"http://127.0.0.1:{_free_port()}"
    # Retries off, so the refused connection is reported at once (by default s3fs and
    # botocore retry it for about 13 s).
    fast = {
        **s3_storage_options(closed, KEY, SECRET, REGION),
        "config_kwargs": {"retries": {"max_attempts": 1}},
    }
    with pytest.raises(ConfigError) as err:
        DataRoot(f"s3://{name}/p", storage_options=fast).check()
    assert "VIDEO_ASSETS_S3_ENDPOINT_URL" in err.value.setting and closed in str(err.value)

    with pytest.raises(ConfigError) as err:
        StoreResource(data_root=f"s3://{name}/p", landing_dir="x", key=KEY).root()
    assert err.value.setting == "VIDEO_ASSETS_S3_SECRET"

    with pytest.raises(ConfigError) as err:
        StoreResource(
            data_root=f"s3://{name}/p", landing_dir="x", endpoint_url="127.0.0.1:9000"
        ).root()
    assert err.value.setting == "VIDEO_ASSETS_S3_ENDPOINT_URL"

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ConfigError) as err:
        DataRoot(
            f"s3://{name}/nocreds",
            storage_options={"endpoint_url": s3_endpoint, "skip_instance_cache": True},
        ).check()
    assert "VIDEO_ASSETS_S3_KEY" in err.value.setting

    with pytest.raises(ConfigError) as err:
        DataRoot("nosuchprotocol://x/y")
    assert err.value.setting == "VIDEO_ASSETS_DATA_ROOT"


# -- one partition through Dagster ------------------------------------------------------------
def test_partition_materializes_into_the_bucket(
    s3_endpoint, bucket, fixed_gop_video, tmp_path, monkeypatch
):
    name, client = bucket
    monkeypatch.chdir(tmp_path)  # anything written to a local "s3:" folder would show up here
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copyfile(fixed_gop_video.path, landing / "my video.mp4")
    url = f"s3://{name}/prefix"
    store = StoreResource(
        data_root=url,
        landing_dir=str(landing),
        settle_s=0.0,
        endpoint_url=s3_endpoint,
        key=KEY,
        secret=SECRET,
        region=REGION,
    )
    vid = register(store.root(), landing / "my video.mp4").video_id
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(videos.name, [vid])
    resources = {
        "store": store,
        "video_config": VideoStageConfig(min_clip_s=1.0),
        "audio_config": AudioStageConfig(separator="passthrough"),
        "token_config": TokenStageConfig(channels=4, resolution=16, train_steps=2, train_frames=5),
        "shard_config": ShardStageConfig(),
    }
    stages = {"source_video", "iframe_index", "scene_table", "clips", "vocal_stems"}
    assets = [a for a in ASSETS if a.key.to_user_string() in stages]
    checks = [
        c for c in CHECKS if any(k.asset_key.to_user_string() in stages for k in c.check_keys)
    ]
    res = dg.materialize(
        [*assets, *checks], partition_key=vid, instance=instance, resources=resources
    )
    assert res.success
    evals = {
        e.event_specific_data.check_name: e.event_specific_data
        for e in res.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert {"short_scenes", "leaked_frames", "lost_frames", "separation_fallback"} <= set(evals)
    assert evals["leaked_frames"].passed and evals["short_scenes"].metadata["violations"].value == 0
    assert not evals["separation_fallback"].passed  # the mix passed through, as configured

    cat = dg.materialize(
        [a for a in ASSETS if a.key.to_user_string() == "catalog"],
        instance=instance,
        resources=resources,
    )
    assert cat.success

    keys = _keys(client, name)
    assert not [k for k in keys if "/.tmp-" in k]
    expected = [
        f"prefix/registry/{vid}.json",
        f"prefix/videos/{vid}/source.mp4",
        "prefix/catalog.duckdb",
        f"prefix/previews/{vid}/contact_sheet.png",
        f"prefix/previews/{vid}/clip_boundaries.png",
        f"prefix/stems/{vid}/vocals_16k.wav",
    ]
    expected += [
        f"prefix/tables/{t}/video_id={vid}/part.parquet"
        for t in ("videos", "keyframes", "scenes", "clips", "stems")
    ]
    assert set(expected) <= set(keys), sorted(set(expected) - set(keys))
    clip_keys = [k for k in keys if k.startswith(f"prefix/clips/{vid}/") and k.endswith(".mp4")]
    assert len(clip_keys) == 7
    stored = client.get_object(Bucket=name, Key=f"prefix/videos/{vid}/source.mp4")["Body"].read()
    assert (
        hashlib.sha256(stored).hexdigest()
        == hashlib.sha256(fixed_gop_video.path.read_bytes()).hexdigest()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landing"]  # nothing landed locally

    root = DataRoot(url, storage_options=_options(s3_endpoint))
    with connect(root) as con:
        cuts = [
            r[0]
            for r in con.execute(
                "SELECT start_frame FROM scenes WHERE video_id = $v AND scene_index > 0 ORDER BY 1",
                {"v": vid},
            ).fetchall()
        ]
        assert cuts == fixed_gop_video.cuts
        rows = con.execute(
            "SELECT count(*), sum(leaked_frames) FROM clips WHERE video_id = $v", {"v": vid}
        ).fetchone()
        assert rows == (7, 0)
        paths = [r[0] for r in con.execute("SELECT path FROM clips ORDER BY 1").fetchall()]
        assert {f"prefix/{p}" for p in paths} == set(clip_keys)
    # The catalog file in the bucket: its views name s3:// paths, read through fsspec.
    local_cat = tmp_path / "catalog.duckdb"
    local_cat.write_bytes(root.read_bytes(CATALOG_FILE))
    con = duckdb.connect(str(local_cat), read_only=True)
    try:
        con.register_filesystem(root.fs)
        assert con.execute("SELECT count(*) FROM clips").fetchone()[0] == 7
        assert con.execute("SELECT count(*) FROM videos").fetchone()[0] == 1
    finally:
        con.close()
    meta = next(
        e.event_specific_data.materialization.metadata
        for e in cat.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    )
    assert meta["catalog_file"].value == f"{url}/{CATALOG_FILE}"
    assert meta["clips"].value == 7


@pytest.mark.slow
def test_whole_graph_on_s3_then_the_loader_streams_the_shards(
    s3_endpoint, bucket, fixed_gop_video, tmp_path, monkeypatch
):
    """Transcripts, tokenizer, tokens and shards on the bucket too; the loader reads the shards by s3:// URL."""
    from video_assets.loader import ClipShardDataset
    from video_assets.shards.manifest import read_manifest
    from video_assets.shards.verify import verify_shards

    name, client = bucket
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copyfile(fixed_gop_video.path, landing / "v.mp4")
    url = f"s3://{name}/root"
    store = StoreResource(
        data_root=url,
        landing_dir=str(landing),
        settle_s=0.0,
        endpoint_url=s3_endpoint,
        key=KEY,
        secret=SECRET,
        region=REGION,
    )
    vid = register(store.root(), landing / "v.mp4").video_id
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(videos.name, [vid])
    resources = {
        "store": store,
        "video_config": VideoStageConfig(min_clip_s=1.0),
        "audio_config": AudioStageConfig(separator="passthrough"),
        "token_config": TokenStageConfig(
            channels=4,
            resolution=16,
            train_steps=2,
            train_frames=5,
            batch_size=2,
            max_train_clips=4,
        ),
        "shard_config": ShardStageConfig(target_bytes=200_000),
    }
    by_key = {a.key.to_user_string(): a for a in ASSETS}

    def run(keys, partition=None):
        wanted = {by_key[k].key for k in keys}
        checks = [c for c in CHECKS if any(k.asset_key in wanted for k in c.check_keys)]
        res = dg.materialize(
            [*(by_key[k] for k in keys), *checks],
            partition_key=partition,
            instance=instance,
            resources=resources,
        )
        assert res.success
        return res

    run(
        [
            "source_video",
            "iframe_index",
            "scene_table",
            "clips",
            "vocal_stems",
            "aligned_transcripts",
        ],
        vid,
    )
    run(["tokenizer_model"])
    tokens = run(["token_tensors"], vid)
    check = next(
        e.event_specific_data
        for e in tokens.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    )
    assert check.check_name == "token_mismatch" and check.passed
    run(["training_shards"])
    run(["catalog"])

    keys = _keys(client, name)
    assert not [k for k in keys if "/.tmp-" in k]
    assert len([k for k in keys if k.startswith(f"root/tokens/{vid}/")]) == 7
    assert "root/models/tokenizer/current.json" in keys and "root/shards/manifest.json" in keys
    assert {
        f"root/tables/{t}/video_id={vid}/part.parquet" for t in ("words", "segments", "tokens")
    } <= set(keys)
    root = DataRoot(url, storage_options=_options(s3_endpoint))
    with connect(root) as con:
        kept = con.execute("SELECT count(*) FROM shard_samples").fetchone()[0]
        assert kept > 0 and con.execute("SELECT count(*) FROM tokens").fetchone()[0] == 7
    shard_root = DataRoot(f"{url}/shards", storage_options=_options(s3_endpoint))
    result = verify_shards(shard_root, read_manifest(shard_root))
    assert result.ok, result.problems

    for field, var in {
        "endpoint_url": "VIDEO_ASSETS_S3_ENDPOINT_URL",
        "key": "VIDEO_ASSETS_S3_KEY",
        "secret": "VIDEO_ASSETS_S3_SECRET",
        "region": "VIDEO_ASSETS_S3_REGION",
    }.items():
        monkeypatch.setenv(var, getattr(store, field))
    samples = list(ClipShardDataset(f"{url}/shards", shuffle=False, decode_frames=False))
    assert sorted(s["key"] for s in samples) == sorted(
        r[0] for r in connect_rows(root, "SELECT clip_id FROM shard_samples")
    )


def connect_rows(root: DataRoot, sql: str) -> list[tuple]:
    with connect(root) as con:
        return con.execute(sql).fetchall()
