"""Training shards: exclusion, bucketing, packing, determinism, manifest, verify."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from video_assets.catalog import connect
from video_assets.generate.shard_data import CHECKPOINT, build_root, make_samples
from video_assets.motion import MotionSettings
from video_assets.shards.candidates import candidates_from_tables
from video_assets.shards.manifest import read_manifest
from video_assets.shards.plan import aspect_label, bucket_of, frame_window, plan_shards
from video_assets.shards.sample import ShardSample
from video_assets.shards.schema import MANIFEST_FILE, REASONS, ShardError
from video_assets.shards.selection import select_samples
from video_assets.shards.settings import ExclusionRules, ShardSettings
from video_assets.shards.tables import SHARDS_TABLE_REL, write_shard_tables
from video_assets.shards.verify import verify_dir, verify_shards
from video_assets.shards.write import write_shards
from video_assets.tokens.files import TokensError, read_tokens

SMALL = 30_000  # bytes: a few clips per shard, so buckets split into several shards
# clip_motion rows (the figures static_reason reads): a still clip and a moving one.
STILL = {
    "motion_frames": 79, "mean_motion_px": 0.05, "patch_max_px": 0.2, "static_share": 0.5,
    "cuts": 0, "camera": "static",
}  # fmt: skip
MOVING = STILL | {"mean_motion_px": 2.0, "patch_max_px": 3.0, "static_share": 0.0, "camera": "pan"}


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return build_root(tmp_path_factory.mktemp("shards"))


@pytest.fixture(scope="module")
def candidates(fx):
    return candidates_from_tables(fx.root, fx.clips, fx.videos, fx.words, fx.segments)


@pytest.fixture(scope="module")
def selection(candidates):
    return select_samples(candidates)


@pytest.fixture(scope="module")
def written(selection, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "shards"
    return out, write_shards(selection.kept, out, settings=ShardSettings(target_bytes=SMALL))


def read_tar(path: Path) -> dict[str, dict[str, bytes]]:
    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(path) as tar:
        for ti in tar:
            key, _, suffix = ti.name.partition(".")
            samples.setdefault(key, {})[suffix] = tar.extractfile(ti).read()
    return samples


@pytest.fixture(scope="module")
def clip_words(fx):
    """The catalog's clip_words view (words wholly inside each clip, clip-relative times)."""
    with connect(fx.root) as con:
        return con.execute(
            "SELECT * FROM clip_words WHERE segment_kept ORDER BY clip_id, start_s"
        ).df()


def expected_words(clip_words, clip_id: str) -> list[dict]:
    rows = clip_words[clip_words.clip_id == clip_id]
    return [
        {"word": r.word, "start": round(r.start_s, 3), "end": round(r.end_s, 3), "score": r.score,
         "speaker": None if pd.isna(r.speaker) else r.speaker, "segment": r.segment}
        for r in rows.itertuples()
    ]  # fmt: skip


# -- exclusion ---------------------------------------------------------------------------------
def test_exclusion_reasons_are_explicit_and_queryable(fx, selection):
    got: dict[str, set[str]] = {}
    for r in selection.excluded.itertuples():
        got.setdefault(r.clip_id, set()).add(r.reason)
        assert r.reason in REASONS and r.detail
    assert got == fx.expected_reasons
    # Every rule of the fixture fired at least once.
    assert {
        "too_short",
        "leaked_frames",
        "missing_tokens",
        "low_confidence_words",
        "dropped_segments",
    } <= set(selection.reason_counts())
    assert selection.candidates == len(fx.clips)
    assert len(selection.kept) + selection.excluded_clips == len(fx.clips)


@pytest.mark.parametrize(
    ("change", "rules", "reason"),
    [
        pytest.param({"leaked_frames": 1}, ExclusionRules(), "leaked_frames", id="leaked"),
        pytest.param(
            {"leaked_frames": 1}, ExclusionRules(max_leaked_frames=1), None, id="leaked-allowed"
        ),
        pytest.param({"end_s": 1.0}, ExclusionRules(), "too_short", id="short"),
        pytest.param({"token_path": None}, ExclusionRules(), "missing_tokens", id="no-tokens"),
        pytest.param(
            {"token_path": None}, ExclusionRules(require_tokens=False), None, id="tokens-optional"
        ),
        pytest.param(
            {"clip_path": "/nonexistent.mp4"}, ExclusionRules(), "clip_missing", id="clip-missing"
        ),
        pytest.param({"dropped_segments": 1}, ExclusionRules(), "dropped_segments", id="dropped"),
        pytest.param(
            {"failed_checks": ("lost_frames",)}, ExclusionRules(), "failed_check", id="failed-check"
        ),
        pytest.param(
            {"failed_checks": ("lost_frames",)},
            ExclusionRules(exclude_failed_checks=False),
            None,
            id="failed-check-ignored",
        ),
        pytest.param(
            {"words": [{"word": "a", "start": 0, "end": 1, "score": None}]},
            ExclusionRules(),
            "low_confidence_words",
            id="unscored-word",
        ),
        pytest.param({"words": []}, ExclusionRules(), None, id="silent-clip-kept"),
        pytest.param({}, ExclusionRules(checkpoint_hash=CHECKPOINT), None, id="current-tokenizer"),
        pytest.param(
            {}, ExclusionRules(checkpoint_hash="0" * 64), "stale_tokens", id="stale-tokens"
        ),
        pytest.param({"motion": STILL}, ExclusionRules(), "static", id="static"),
        pytest.param({"motion": MOVING}, ExclusionRules(), None, id="moving"),
        pytest.param({"motion": STILL}, ExclusionRules(motion=None), None, id="static-kept"),
        pytest.param(
            {"motion": STILL},
            ExclusionRules(motion=MotionSettings(min_motion_px=0.01, max_static_share=0.95)),
            None,
            id="static-by-other-thresholds",
        ),
        pytest.param(
            {"motion": STILL | {"static_share": 0.9, "cuts": 2}},
            ExclusionRules(),
            "slideshow",
            id="slideshow",
        ),
        pytest.param({"motion": None}, ExclusionRules(), None, id="motion-not-measured"),
    ],
)
def test_each_rule(tmp_path, change, rules, reason):
    (base,) = make_samples(tmp_path, [("k0", (64, 48), 80)])
    base = replace(base, end_s=base.start_s + 3.2)
    sel = select_samples([replace(base, **change)], rules)
    if reason is None:
        assert len(sel.kept) == 1 and sel.excluded.empty
    else:
        assert not sel.kept and list(sel.excluded.reason) == [reason]
    if change.get("motion") is not None and rules.motion is not None:
        if reason is None:
            assert "motion" in sel.kept[0].checks_passed
        else:  # the detail says by which figures
            assert "motion" in sel.excluded.detail[0] or "near-static" in sel.excluded.detail[0]


def test_unreadable_tokens(tmp_path):
    (s,) = make_samples(tmp_path, [("k0", (64, 48), 80)])
    Path(s.token_path).write_bytes(b"not safetensors")
    sel = select_samples([replace(s, end_s=s.start_s + 3.2)])
    assert list(sel.excluded.reason) == ["unreadable_tokens"]


def test_duplicate_keys_and_bad_keys_are_refused(tmp_path):
    (s,) = make_samples(tmp_path, [("k0", (64, 48), 20)])
    with pytest.raises(ValueError, match="key"):
        select_samples([s, s])
    with pytest.raises(ValueError, match="no dots"):
        replace(s, key="a.b")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"target_bytes": 10}, "target_bytes", id="target"),
        pytest.param({"frame_window": -1}, "frame_window", id="window"),
        pytest.param({"aspect_denominator": 0}, "aspect_denominator", id="aspect"),
    ],
)
def test_shard_settings_validate(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ShardSettings(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"min_word_score": 2.0}, "min_word_score", id="score"),
        pytest.param({"max_low_word_share": -0.1}, "max_low_word_share", id="share"),
        pytest.param({"min_duration_s": -1}, "min_duration_s", id="duration"),
        pytest.param({"max_leaked_frames": -1}, "max_leaked_frames", id="leaked"),
    ],
)
def test_rules_validate(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ExclusionRules(**kwargs)


# -- buckets -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("w", "h", "frames", "window", "name"),
    [
        pytest.param(160, 90, 75, 0, "160x90_16-9_f64-127", id="pow2"),
        pytest.param(160, 90, 128, 0, "160x90_16-9_f128-255", id="pow2-edge"),
        pytest.param(1920, 1080, 75, 32, "1920x1080_16-9_f64-95", id="fixed"),
        pytest.param(854, 480, 1, 0, "854x480_16-9_f1-1", id="near-16-9"),
        pytest.param(128, 96, 300, 0, "128x96_4-3_f256-511", id="4-3"),
        pytest.param(720, 1280, 90, 0, "720x1280_9-16_f64-127", id="portrait"),
    ],
)
def test_bucket_names(w, h, frames, window, name):
    assert bucket_of(w, h, frames, ShardSettings(frame_window=window)).name == name


def test_aspect_and_window_helpers():
    assert aspect_label(1920, 800) == "12:5"
    assert frame_window(100, 0) == (64, 128)
    assert frame_window(100, 25) == (100, 125)
    with pytest.raises(ValueError):
        frame_window(0)


def test_packing_respects_target_and_is_sorted(tmp_path):
    samples = make_samples(tmp_path, [(f"k{i}", (64, 48), 20) for i in range(7)])
    one = plan_shards(samples[:1])[0].estimated_bytes
    plans = plan_shards(list(reversed(samples)), ShardSettings(target_bytes=2 * one + 1024))
    assert [len(p.samples) for p in plans] == [2, 2, 2, 1]
    assert [s.key for p in plans for s in p.samples] == sorted(s.key for s in samples)
    assert [p.path for p in plans] == [
        f"64x48_4-3_f16-31/64x48_4-3_f16-31-{i:06d}.tar" for i in range(4)
    ]
    # A sample larger than the target still gets a shard (of its own).
    assert [len(p.samples) for p in plan_shards(samples[:3], ShardSettings(target_bytes=1024))] == [
        1,
        1,
        1,
    ]


# -- writing -----------------------------------------------------------------------------------
def test_round_trip_every_kept_clip_once_with_catalog_words_and_tokens(
    fx, selection, written, clip_words
):
    out, shard_set = written
    kept = {s.key for s in selection.kept}
    excluded = set(fx.expected_reasons)
    seen: list[str] = []
    for info in shard_set.manifest.shards:
        tar_path = out / info.path
        assert tar_path.stat().st_size == info.bytes
        samples = read_tar(tar_path)
        assert list(samples) == list(info.keys)
        for key, members in samples.items():
            seen.append(key)
            assert set(members) == {"mp4", "json", "words.json", "tokens.npy"}
            row = fx.clips.set_index("clip_id").loc[key]
            # stream bytes, untouched
            assert members["mp4"] == fx.root.local_path(row.path).read_bytes()
            facts = json.loads(members["json"])
            assert facts["video_id"] == row.video_id and facts["bucket"] == info.bucket
            assert facts["frame_count"] == row.end_frame - row.start_frame
            assert facts["start_s"] == pytest.approx(row.start_s) and facts[
                "end_s"
            ] == pytest.approx(row.end_s)
            assert {"leaked_frames", "min_duration", "tokens", "low_confidence_words"} <= set(
                facts["checks_passed"]
            )
            assert (facts["width"], facts["height"]) == tuple(
                fx.videos.set_index("video_id").loc[row.video_id, ["width", "height"]]
            )
            words = json.loads(members["words.json"])
            assert words == expected_words(clip_words, key) and words
            # cut by the clip's end: not the clip's
            assert all(w["word"] != "straddle" for w in words)
            ids = np.load(io.BytesIO(members["tokens.npy"]))
            want = read_tokens(fx.root.local_path(f"tokens/{row.video_id}/{key}.safetensors")).ids
            assert ids.dtype == np.int32 and np.array_equal(ids, want)
            assert facts["token_shape"] == list(want.shape)
    assert sorted(seen) == sorted(kept)
    assert len(seen) == len(set(seen))
    assert not (set(seen) & excluded)
    # Several buckets, and small targets split buckets into several shards.
    assert len({s.bucket for s in shard_set.manifest.shards}) >= 3
    assert len(shard_set.manifest.shards) > len({s.bucket for s in shard_set.manifest.shards})
    for info in shard_set.manifest.shards:
        assert info.path == f"{info.bucket}/{info.bucket}-{int(info.path[-10:-4]):06d}.tar"
        assert info.bytes <= SMALL or info.n_samples == 1


def test_rewrite_is_byte_identical_and_removes_stale_shards(selection, written, tmp_path):
    out, first = written
    other = tmp_path / "again"
    second = write_shards(selection.kept, other, settings=ShardSettings(target_bytes=SMALL))
    assert [s.sha256 for s in second.manifest.shards] == [s.sha256 for s in first.manifest.shards]
    assert (other / MANIFEST_FILE).read_bytes() == (out / MANIFEST_FILE).read_bytes()
    # Repack with one big shard per bucket, then back: stale shards are removed, no temp files stay.
    big = write_shards(selection.kept, other, settings=ShardSettings(target_bytes=1 << 30))
    assert len(big.manifest.shards) < len(first.manifest.shards) and big.removed
    again = write_shards(selection.kept, other, settings=ShardSettings(target_bytes=SMALL))
    files = sorted(str(p.relative_to(other)) for p in other.rglob("*") if p.is_file())
    assert files == sorted([MANIFEST_FILE, *(s.path for s in again.manifest.shards)])
    assert [s.sha256 for s in again.manifest.shards] == [s.sha256 for s in first.manifest.shards]


def test_manifest_tables_and_catalog_views(fx, selection, written, tmp_path):
    out, shard_set = written
    manifest = read_manifest(out)
    assert manifest.shards == shard_set.manifest.shards
    shards = manifest.shards_frame()
    assert list(shards.columns[:2]) == ["shard", "bucket"] and shards["n_samples"].sum() == len(
        selection.kept
    )
    assert {"keys", "bytes", "sha256"} <= set(shards.columns)
    counts = write_shard_tables(fx.root, selection, shard_set)
    assert counts["shard_samples"] == len(selection.kept)
    with connect(fx.root) as con:
        got = con.execute(
            "SELECT clip_id, shard, video_id FROM shard_samples ORDER BY clip_id"
        ).df()
        assert sorted(got.clip_id) == sorted(s.key for s in selection.kept)
        assert set(got.video_id) == set(fx.clips.video_id)
        # Joins with the clips view: every kept clip's shard, every excluded clip's reasons.
        joined = con.execute(
            "SELECT count(*) FROM clips AS c JOIN shard_samples AS s USING (video_id, clip_id)"
        ).fetchone()[0]
        assert joined == len(selection.kept)
    # The shards and exclusion tables, read as their views read them.
    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{fx.root.root}'")
    view = (Path(__file__).parents[1] / "sql/views/shards.sql").read_text()
    con.execute(view)
    assert con.execute("SELECT sum(n_samples) FROM shards").fetchone()[0] == len(selection.kept)
    assert fx.root.exists(SHARDS_TABLE_REL)
    reasons = con.execute(
        "SELECT clip_id, reason FROM read_parquet('tables/shard_exclusions/*/part.parquet', hive_partitioning = true)"
    ).df()
    assert set(reasons.clip_id) == set(fx.expected_reasons)


# -- verify ------------------------------------------------------------------------------------
def copy_tree(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_verify_clean(written):
    out, shard_set = written
    result = verify_dir(out)
    assert result.ok, result.problems
    assert result.shards == len(shard_set.manifest.shards)
    assert result.samples == len(shard_set.samples) == shard_set.manifest.n_samples
    assert result.bytes_read == shard_set.total_bytes
    # Against the catalog's table too.
    assert verify_shards(out, shard_set.manifest.shards_frame()).ok


def test_verify_detects_truncated_shard(written, tmp_path):
    out, shard_set = written
    copy = copy_tree(out, tmp_path / "copy")
    info = max(shard_set.manifest.shards, key=lambda s: s.bytes)
    path = copy / info.path
    path.write_bytes(path.read_bytes()[: info.bytes // 2])
    result = verify_dir(copy)
    kinds = {p.kind for p in result.problems if p.shard == info.path}
    assert {"size", "sha256", "unreadable"} <= kinds, result.problems
    assert all(p.shard == info.path for p in result.problems)


@pytest.mark.parametrize("damage", ["missing", "drop_member", "flip_byte", "extra_shard"])
def test_verify_detects_damage(written, tmp_path, damage):
    out, shard_set = written
    copy = copy_tree(out, tmp_path / "copy")
    info = shard_set.manifest.shards[0]
    path = copy / info.path
    if damage == "missing":
        path.unlink()
        want = {"missing"}
    elif damage == "drop_member":
        key = info.keys[0]
        with tarfile.open(path) as src:
            members = [
                (ti, src.extractfile(ti).read()) for ti in src if ti.name != f"{key}.words.json"
            ]
        with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as dst:
            for ti, data in members:
                dst.addfile(ti, io.BytesIO(data))
        want = {"member", "sha256"}
    elif damage == "flip_byte":
        data = bytearray(path.read_bytes())
        data[len(data) // 3] ^= 0xFF
        path.write_bytes(bytes(data))
        want = {"sha256"}
    else:
        (copy / "stray.tar").write_bytes(b"")
        want = {"unlisted"}
    result = verify_dir(copy)
    assert want <= {p.kind for p in result.problems}, result.problems
    assert not result.ok


def test_verify_without_manifest(tmp_path):
    with pytest.raises(ShardError, match="manifest"):
        verify_dir(tmp_path)


def test_writing_refuses_missing_clip(tmp_path):
    (s,) = make_samples(tmp_path, [("k0", (64, 48), 20)])
    with pytest.raises(ShardError, match="does not exist"):
        write_shards([replace(s, clip_path=str(tmp_path / "gone.mp4"))], tmp_path / "out")


def test_sample_without_tokens_has_no_tokens_member(tmp_path):
    (s,) = make_samples(tmp_path, [("k0", (64, 48), 80)])
    s = replace(s, end_s=s.start_s + 3.2, token_path=None)
    sel = select_samples([s], ExclusionRules(require_tokens=False))
    shard_set = write_shards(sel.kept, tmp_path / "out")
    members = read_tar(tmp_path / "out" / shard_set.manifest.shards[0].path)["k0"]
    assert set(members) == {"mp4", "json", "words.json"}
    assert json.loads(members["json"])["token_shape"] is None
    assert verify_dir(tmp_path / "out").ok


def test_shard_sample_validates():
    with pytest.raises(ValueError, match="frame_count"):
        ShardSample(key="k", video_id="v", clip_path="x", scene_index=0, start_s=0, end_s=1, fps=25,
                    width=8, height=8, frame_count=0)  # fmt: skip


def test_reads_the_token_stage_files(tmp_path):
    """A file written by the token stage's writer is read back by the one reader the shards use."""
    from video_assets.tokens.encode import write_tokens_safetensors

    ids = np.arange(2 * 3 * 4, dtype=np.int32).reshape(2, 3, 4)
    write_tokens_safetensors(tmp_path / "t.safetensors", ids, {"temporal_stride": "4"})
    got = read_tokens(tmp_path / "t.safetensors")
    assert np.array_equal(got.ids, ids)
    assert got.metadata["temporal_stride"] == "4"
    (tmp_path / "bad.safetensors").write_bytes(b"xx")
    with pytest.raises(TokensError, match="not a readable"):
        read_tokens(tmp_path / "bad.safetensors")


def test_shards_under_a_data_root_prefix(fx, selection):
    shard_set = write_shards(
        selection.kept, fx.root, prefix="shards", settings=ShardSettings(target_bytes=SMALL)
    )
    assert shard_set.root == fx.root.full("shards")
    assert fx.root.exists("shards/manifest.json")
    assert verify_shards(fx.root, shard_set.manifest, prefix="shards").ok
    result = verify_dir(fx.root.full("shards"))
    assert result.ok and result.samples == len(selection.kept)
    assert shard_set.metadata()["samples"] == len(selection.kept)


def test_candidates_from_the_tokens_table(fx, candidates):
    from_table = candidates_from_tables(
        fx.root, fx.clips, fx.videos, fx.words, fx.segments, tokens=fx.tokens
    )
    assert [c.token_path for c in from_table] == [c.token_path for c in candidates]
    none = candidates_from_tables(fx.root, fx.clips, fx.videos, tokens=fx.tokens.iloc[:0])
    assert all(c.token_path is None and not c.words and c.dropped_segments == 0 for c in none)


def test_no_kept_clips_gives_an_empty_manifest_and_removes_old_shards(selection, tmp_path):
    out = tmp_path / "shards"
    write_shards(selection.kept, out, settings=ShardSettings(target_bytes=SMALL))
    empty = write_shards([], out)
    assert empty.manifest.shards == [] and empty.removed
    assert not list(out.rglob("*.tar"))
    assert verify_dir(out).ok
