"""Shards that grow with the corpus: a new video's samples go into new shards, a changed or
removed sample rewrites only its shard (under a new name), compaction merges small shards
on request, and the manifest is the one commit point a reader sees."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from video_assets.audio.transcription import TRANSCRIPTS_SCHEMA, WORDS_SCHEMA
from video_assets.catalog import connect, sql_text
from video_assets.generate.shard_data import (
    CHECKPOINT,
    _file_schema,
    _in_schema,
    add_video,
    words_for,
)
from video_assets.motion import MotionSettings
from video_assets.motion.table import ARROW_SCHEMA, TABLE_COLUMNS
from video_assets.shards.candidates import candidates_from_tables
from video_assets.shards.compact import compact_shards
from video_assets.shards.manifest import read_manifest
from video_assets.shards.schema import MANIFEST_FILE
from video_assets.shards.selection import select_samples
from video_assets.shards.settings import DoubtfulTranscripts, ExclusionRules, ShardSettings
from video_assets.shards.stamps import INPUT_TABLES
from video_assets.shards.tar import ShardWriter
from video_assets.shards.update import refresh_shards
from video_assets.shards.verify import verify_dir, verify_shards
from video_assets.shards.write import write_shards
from video_assets.store import DataRoot

RULES = ExclusionRules(checkpoint_hash=CHECKPOINT)
# Each video's kept clips take ~100-120 KB of shard: several videos per shard when compacted.
SETTINGS = ShardSettings(target_bytes=600_000)
# Videos a and c share one size (one bucket), b has another; each has shots too short to keep.
VIDEOS = {
    "v" + "a" * 16: dict(shots=[80, 90, 40], size=(64, 48), seed=1),
    "v" + "b" * 16: dict(shots=[85, 30, 95], size=(96, 54), seed=2),
    "v" + "c" * 16: dict(shots=[100, 35, 90], size=(64, 48), seed=3),
}
A, B, C = VIDEOS


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> DataRoot:
    """Every video ingested once; tests copy the videos they need into a root of their own."""
    tmp = tmp_path_factory.mktemp("append")
    root = DataRoot(tmp / "source")
    for vid, spec in VIDEOS.items():
        add_video(root, tmp, vid, spec["shots"], size=spec["size"], seed=spec["seed"])
    return root


def ingest(source: DataRoot, root: DataRoot, vid: str) -> None:
    """Copy one video's catalog partitions, clips and tokens, as its runs would have written them."""
    for table in INPUT_TABLES:
        rel = f"tables/{table}/video_id={vid}"
        if source.exists(rel):
            shutil.copytree(source.local_path(rel), root.local_path(rel))
    for folder in ("clips", "tokens"):
        shutil.copytree(source.local_path(f"{folder}/{vid}"), root.local_path(f"{folder}/{vid}"))


def tars(root: DataRoot) -> dict[str, tuple[str, int]]:
    """Every tar under the shard root: sha256 and modification time in ns (a rewrite changes it)."""
    base = root.local_path("shards")
    return {
        str(p.relative_to(base)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(base.rglob("*.tar"))
    }


def refresh(root: DataRoot, **kw):
    return refresh_shards(root, rules=kw.pop("rules", RULES), settings=SETTINGS, **kw)


def keys_of(manifest, vid: str | None = None) -> list[str]:
    return [k for s in manifest.shards for k in s.keys if vid is None or k.startswith(vid)]


def catalog_rows(root: DataRoot) -> pd.DataFrame:
    with connect(root) as con:
        return con.execute("SELECT * FROM shard_samples ORDER BY clip_id").df()


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {ti.name: tar.extractfile(ti).read() for ti in tar}


def test_a_new_video_goes_into_new_shards_and_nothing_else_is_written(source, tmp_path):
    root = DataRoot(tmp_path / "data")
    history: dict[str, str] = {}  # every name a manifest ever listed, and its sha256
    seen: dict[str, tuple[str, int]] = {}
    for vid in VIDEOS:
        ingest(source, root, vid)
        result = refresh(root)
        assert result.judged == [vid] and not result.removed_videos
        now = tars(root)
        # Every shard there before is untouched (same bytes, never rewritten); the new
        # ones hold this video's samples only.
        assert {p: now[p] for p in seen} == seen
        assert {s.path for s in result.written} == set(now) - set(seen)
        assert result.written
        for info in result.written:
            assert {k.rsplit("_", 1)[0] for k in info.keys} == {vid}
        assert result.bytes_written == sum(s.bytes for s in result.written)
        for s in result.manifest.shards:
            assert history.setdefault(s.path, s.sha256) == s.sha256  # a name, one content
        seen = now
        check = verify_dir(root.local_path("shards"))
        assert check.ok, check.problems
    manifest = read_manifest(root, "shards")
    # a and c share a bucket: c's samples went into shard 1 of it, a's shard 0 stayed.
    bucket = next(s.bucket for s in manifest.shards if s.keys[0].startswith(A))
    assert [s.path.rsplit("-", 1)[1] for s in manifest.shards if s.bucket == bucket] == [
        "000000.tar",
        "000001.tar",
    ]
    with connect(root) as con:
        per_video = dict(
            con.execute("SELECT video_id, count(*) FROM shard_samples GROUP BY 1").fetchall()
        )
        excluded = con.execute("SELECT DISTINCT video_id, reason FROM shard_exclusions").fetchall()
    assert per_video == {v: len(keys_of(manifest, v)) for v in VIDEOS} and all(per_video.values())
    assert {v for v, _ in excluded} == set(VIDEOS)  # each has a short shot
    assert {r for _, r in excluded} == {"too_short"}

    # Nothing changed: nothing is written, not even the manifest.
    before = root.local_path(f"shards/{MANIFEST_FILE}").stat().st_mtime_ns
    again = refresh(root)
    assert not again.changed and again.written == [] and tars(root) == seen
    assert root.local_path(f"shards/{MANIFEST_FILE}").stat().st_mtime_ns == before


def test_same_sequence_same_bytes_and_a_fresh_root_packs_as_write_shards(source, tmp_path):
    trees = []
    for name in ("one", "two"):
        root = DataRoot(tmp_path / name)
        for vid in VIDEOS:
            ingest(source, root, vid)
            refresh(root)
        trees.append(
            {p: v[0] for p, v in tars(root).items()}
            | {"manifest": root.read_bytes(f"shards/{MANIFEST_FILE}").hex()}
        )
    assert trees[0] == trees[1]

    # All three at once into a fresh root: what write_shards packs, name for name, byte for byte.
    fresh = DataRoot(tmp_path / "fresh")
    for vid in VIDEOS:
        ingest(source, fresh, vid)
    at_once = refresh(fresh)
    tables = {
        t: pd.concat([fresh.read_table(t, v) for v in VIDEOS], ignore_index=True)
        for t in ("clips", "videos", "words", "segments", "tokens")
    }
    kept = select_samples(
        candidates_from_tables(
            fresh, tables["clips"], tables["videos"], tables["words"], tables["segments"],
            tokens=tables["tokens"],
        ),
        RULES,
    ).kept  # fmt: skip
    packed = write_shards(kept, tmp_path / "packed", settings=SETTINGS)
    assert [(s.path, s.sha256) for s in at_once.manifest.shards] == [
        (s.path, s.sha256) for s in packed.manifest.shards
    ]
    assert at_once.samples == packed.samples


def test_a_changed_sample_rewrites_only_its_shard_copying_the_others(source, tmp_path):
    root = DataRoot(tmp_path / "data")
    for vid in VIDEOS:
        ingest(source, root, vid)
        refresh(root)
    # Merge a's and c's shards (one bucket), so one shard holds samples of two videos.
    compacted = compact_shards(root)
    (merged,) = compacted.written
    assert {k[:17] for k in merged.keys} == {A, C} and list(merged.keys) == sorted(merged.keys)
    before = tars(root)
    old_members = members(root.local_path(f"shards/{merged.path}"))

    # One word of c's first kept clip changes: c is judged again, its sample differs.
    words = root.read_table("words", C)
    first = next(k for k in merged.keys if k.startswith(C))
    clip = root.read_table("clips", C).set_index("clip_id").loc[first]
    inside = words.index[(words["start"] >= clip.start_s) & (words["end"] <= clip.end_s)][0]
    words.loc[inside, "word"] = "changed"
    root.write_table("words", C, words)
    result = refresh(root)
    assert result.judged == [C]
    (rewritten,) = result.written
    assert result.removed == [merged.path]  # the old name is gone, never reused
    assert rewritten.keys == merged.keys and rewritten.path != merged.path
    after = tars(root)
    assert {p: v for p, v in after.items() if p != rewritten.path} == {
        p: v for p, v in before.items() if p != merged.path
    }
    new_members = members(root.local_path(f"shards/{rewritten.path}"))
    changed = {n for n in new_members if new_members[n] != old_members.get(n)}
    assert changed == {f"{first}.words.json"}  # a's samples and c's others copied as they were
    assert b"changed" in new_members[f"{first}.words.json"]
    assert verify_dir(root.local_path("shards")).ok
    with connect(root) as con:
        where = dict(con.execute("SELECT clip_id, shard FROM shard_samples").fetchall())
    # a was not judged, but its samples moved: its shard_samples rows follow them.
    assert {where[k] for k in rewritten.keys} == {rewritten.path}


def test_a_removed_video_leaves_the_shards_and_the_catalog(source, tmp_path):
    root = DataRoot(tmp_path / "data")
    for vid in VIDEOS:
        ingest(source, root, vid)
        refresh(root)
    b_shards = {s.path for s in read_manifest(root, "shards").shards if s.keys[0].startswith(B)}
    root.remove_tree(f"tables/clips/video_id={B}")
    result = refresh(root)
    assert result.removed_videos == [B] and result.judged == [] and result.written == []
    assert set(result.removed) == b_shards
    assert keys_of(result.manifest, B) == []
    assert B not in root.table_partitions("shard_samples")
    assert B not in root.table_partitions("shard_exclusions")
    assert verify_dir(root.local_path("shards")).ok


def test_new_rules_judge_every_video_but_rewrite_only_what_changed(source, tmp_path):
    root = DataRoot(tmp_path / "data")
    for vid in VIDEOS:
        ingest(source, root, vid)
        refresh(root)
    before = tars(root)
    samples_before = read_manifest(root, "shards").n_samples
    # Shorter clips are now kept: they are appended; no shard that was there is rewritten.
    looser = ExclusionRules(checkpoint_hash=CHECKPOINT, min_duration_s=0.5)
    result = refresh(root, rules=looser)
    assert result.judged == sorted(VIDEOS) and result.written and not result.removed
    assert {p: v for p, v in tars(root).items() if p in before} == before
    assert result.manifest.n_samples > samples_before
    # A new tokenizer: every clip's tokens are stale, so every sample leaves the shards.
    stale = refresh(root, rules=ExclusionRules(checkpoint_hash="f" * 64, min_duration_s=0.5))
    assert stale.manifest.shards == [] and tars(root) == {} and catalog_rows(root).empty
    with connect(root) as con:
        reasons = con.execute("SELECT DISTINCT reason FROM shard_exclusions").fetchall()
    assert ("stale_tokens",) in reasons


def test_a_failed_refresh_leaves_the_old_manifest_and_the_next_one_cleans_up(
    source, tmp_path, monkeypatch
):
    root = DataRoot(tmp_path / "data")
    ingest(source, root, A)
    refresh(root)
    manifest = root.read_bytes(f"shards/{MANIFEST_FILE}")
    listed = tars(root)
    for vid in (B, C):
        ingest(source, root, vid)
    calls = {"n": 0}
    original = ShardWriter.add

    def failing(self, sample):
        calls["n"] += 1
        if calls["n"] == 3:  # b's shard is published, c's is half written
            raise OSError("disk gone")
        return original(self, sample)

    monkeypatch.setattr(ShardWriter, "add", failing)
    with pytest.raises(OSError, match="disk gone"):
        refresh(root)
    monkeypatch.undo()
    # Readers still see the old manifest, and every shard it lists as it was.
    assert root.read_bytes(f"shards/{MANIFEST_FILE}") == manifest
    old = read_manifest(root, "shards")
    assert verify_shards(root, old, prefix="shards", check_unlisted=False).ok
    assert {p: v for p, v in tars(root).items() if p in listed} == listed
    assert not list(root.local_path("shards").rglob(".tmp-*"))
    result = refresh(root)
    assert result.judged == [B, C]
    check = verify_dir(root.local_path("shards"))
    assert check.ok, check.problems  # the orphan of the failed run was swept


def test_compaction_merges_small_shards_and_is_idempotent(source, tmp_path, capsys):
    from video_assets.cli import main as cli

    root = DataRoot(tmp_path / "data")
    for vid in VIDEOS:
        ingest(source, root, vid)
        refresh(root)
    before = read_manifest(root, "shards")
    rows_before = catalog_rows(root)
    assert cli(["shards", "compact", str(root.root), "--min-fill", "0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    after = read_manifest(root, "shards")
    assert out["merged"] == 2 and len(out["written"]) == 1 and out["shards"] == len(after.shards)
    assert len(after.shards) == len(before.shards) - 1  # a's and c's shards became one
    assert sorted(keys_of(after)) == sorted(keys_of(before))
    rows = catalog_rows(root)
    # Same samples, same bytes (digests), new places; the catalog follows the manifest.
    assert dict(zip(rows.clip_id, rows.digest, strict=True)) == dict(
        zip(rows_before.clip_id, rows_before.digest, strict=True)
    )
    assert {(r.clip_id, r.shard, r.position) for r in rows.itertuples()} == {
        (k, s.path, i) for s in after.shards for i, k in enumerate(s.keys)
    }
    assert verify_dir(root.local_path("shards")).ok
    with connect(root) as con:
        (n_shards,) = con.execute("SELECT count(*) FROM shards").fetchone()
    assert n_shards == len(after.shards)
    assert compact_shards(root).written == []  # nothing small left to merge
    # The next refresh keeps the compacted shards (nothing changed upstream).
    assert not refresh(root).changed
    with pytest.raises(ValueError, match="min_fill"):
        compact_shards(root, min_fill=0.0)


def test_a_root_from_before_digests_is_read_and_refreshed_once(source, tmp_path):
    root = DataRoot(tmp_path / "data")
    ingest(source, root, A)
    refresh(root)
    # As version 1 wrote them: every sample in the manifest, no counters, no input stamps,
    # and no digest column in the catalog.
    path = root.local_path(f"shards/{MANIFEST_FILE}")
    old = json.loads(path.read_bytes())
    old["version"] = 1
    for key in ("next_index", "inputs"):
        old.pop(key)
    rows = catalog_rows(root)
    old["samples"] = rows.drop(columns=["digest"]).to_dict("records")
    path.write_text(json.dumps(old, default=str))
    root.write_table("shard_samples", A, rows.drop(columns=["digest"]))
    v1 = read_manifest(root, "shards")
    assert v1.inputs == {} and v1.next_index == {} and v1.n_samples == len(rows)
    result = refresh(root)  # no digests to compare: every sample is written once more
    assert result.judged == [A] and result.written and verify_dir(root.local_path("shards")).ok
    assert [s.path for s in result.written] != [s.path for s in v1.shards]  # new names
    assert not refresh(root).changed


def test_catalog_says_per_video_how_many_clips_are_in_the_shards_and_why_not(source, tmp_path):
    root = DataRoot(tmp_path / "data")
    ingest(source, root, A)
    ingest(source, root, B)
    refresh(root)
    ingest(source, root, C)  # not packed yet
    with connect(root) as con:
        got = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT video_id, clips, in_shards, left_out, left_out_for FROM video_shards"
            ).fetchall()
        }
    manifest = read_manifest(root, "shards")
    for vid in (A, B):
        clips = len(root.read_table("clips", vid))
        kept = len(keys_of(manifest, vid))
        assert got[vid] == (clips, kept, clips - kept, f"too_short: {clips - kept}")
    clips_c = len(root.read_table("clips", C))
    assert got[C] == (clips_c, 0, clips_c, f"not_packed_yet: {clips_c}")


def test_static_clips_leave_the_shards_once_their_motion_is_measured(source, tmp_path):
    root = DataRoot(tmp_path / "data")
    ingest(source, root, A)
    first = refresh(root)
    kept = keys_of(first.manifest, A)
    assert len(kept) == 2  # no clip_motion partition yet: nothing is left out for motion
    # clip_motion arrives: the first clip is still, the second moves.
    figures = [
        {"motion_frames": 79, "mean_motion_px": 0.04, "patch_max_px": 0.1, "static_share": 0.9},
        {"motion_frames": 89, "mean_motion_px": 1.5, "patch_max_px": 4.0, "static_share": 0.0},
    ]
    rows = pd.DataFrame(
        [dict.fromkeys(TABLE_COLUMNS) | {"clip_id": k, "cuts": 0} | f for k, f in zip(kept, figures, strict=True)],
        columns=list(TABLE_COLUMNS),
    )  # fmt: skip
    root.write_table("clip_motion", A, rows.drop(columns="video_id"), schema=ARROW_SCHEMA)
    second = refresh(root)
    assert second.judged == [A] and keys_of(second.manifest, A) == [kept[1]]
    with connect(root) as con:
        excluded = con.execute(
            "SELECT clip_id, reason, detail FROM shard_exclusions WHERE reason = 'static'"
        ).fetchall()
    assert [(c, r) for c, r, _ in excluded] == [(kept[0], "static")]
    assert "mean motion 0.040 px/frame" in excluded[0][2]
    # The thresholds are the shard stage's: looser ones keep the clip again.
    loose = ExclusionRules(
        checkpoint_hash=CHECKPOINT, motion=MotionSettings(min_motion_px=0.01, max_static_share=1.0)
    )
    assert sorted(keys_of(refresh(root, rules=loose).manifest, A)) == kept


def samples_in(root: DataRoot, manifest) -> dict[str, dict[str, bytes]]:
    """Every sample in the listed shards: key -> {suffix: bytes}."""
    out: dict[str, dict[str, bytes]] = {}
    for info in manifest.shards:
        for name, data in members(root.local_path(f"shards/{info.path}")).items():
            key, _, suffix = name.partition(".")
            out.setdefault(key, {})[suffix] = data
    return out


@pytest.mark.parametrize(
    ("probability", "loop", "reason"),
    [
        pytest.param(0.31, False, "low_language_probability", id="unsure-language"),
        pytest.param(None, True, "repeated_loop", id="loop-english-only-model"),
        pytest.param(0.93, False, None, id="sure"),
    ],
)
def test_words_of_a_doubtful_transcript_are_withheld(source, tmp_path, probability, loop, reason):
    """A transcript the doubtful_transcripts check flags is not passed on: the video's clips
    stay in the shards with their tokens, without words, and shard_exclusions says why."""
    root = DataRoot(tmp_path / "data")
    ingest(source, root, A)
    kept = keys_of(refresh(root).manifest, A)
    assert len(kept) == 2
    if loop:  # as an English-only model writes "Chinese later" for speech it cannot follow
        clips = root.read_table("clips", A)
        looped = [
            {"video_id": A, "segment": segment, "word": "Chinese" if i % 2 == 0 else "later.",
             "start": c.start_s + w["start"], "end": c.start_s + w["end"], "score": 0.9, "speaker": None}
            for segment, c in enumerate(clips.itertuples(index=False))
            for i, w in enumerate(words_for(6, c.end_s - c.start_s, seed=segment))
        ]  # fmt: skip
        root.write_table("words", A, _in_schema(pd.DataFrame(looped), WORDS_SCHEMA),
                         schema=_file_schema(WORDS_SCHEMA))  # fmt: skip
    transcript = pd.DataFrame([{
        "video_id": A, "has_audio": True, "language": "en" if loop else "de",
        "language_source": "model" if probability is None else "detected",
        "language_probability": probability, "whisper_model": "tiny.en" if loop else "base",
    }])  # fmt: skip
    root.write_table("transcripts", A, _in_schema(transcript, TRANSCRIPTS_SCHEMA),
                     schema=_file_schema(TRANSCRIPTS_SCHEMA))  # fmt: skip
    result = refresh(root)
    assert result.judged == [A]  # the transcripts table is an input of the shards
    assert sorted(keys_of(result.manifest, A)) == kept  # the clips stay, whatever the transcript
    samples = samples_in(root, result.manifest)
    with connect(root) as con:
        # The shards judge by the check's own rule: the check flags exactly these videos.
        flagged = con.execute(
            sql_text("checks/doubtful_transcripts.sql"),
            {"video_id": A, **DoubtfulTranscripts().params()},
        ).fetchall()
        withheld = con.execute(
            "SELECT clip_id, detail FROM shard_exclusions WHERE reason = 'doubtful_transcript' "
            "ORDER BY clip_id"
        ).fetchall()
        in_shards, left_out_for = con.execute(
            "SELECT in_shards, left_out_for FROM video_shards WHERE video_id = ?", [A]
        ).fetchone()
    assert [row[-1] for row in flagged] == ([reason] if reason else [])
    assert (in_shards, left_out_for) == (
        2,
        "too_short: 1",
    )  # kept clips are not counted as left out
    for key in kept:
        facts = json.loads(samples[key]["json"])
        words = json.loads(samples[key]["words.json"])
        assert "tokens.npy" in samples[key] and "mp4" in samples[key]
        if reason:
            assert words == [] and facts["n_words"] == 0
            assert facts["words_withheld"] == "doubtful_transcript"
        else:
            assert len(words) == 3 and "words_withheld" not in facts
    if reason is None:
        assert withheld == [] and result.written == []  # nothing changed in the samples
        return
    assert [c for c, _ in withheld] == kept
    assert all(d.startswith(f"words withheld: {reason}") for _, d in withheld)
    if probability is not None:
        assert "at probability 0.31 (min 0.5)" in withheld[0][1]
    else:
        assert "of word trigrams repeated over 18 words" in withheld[0][1]
    # Selection counts the clips as kept; the reason is still reported.
    assert result.selection.excluded_clips == 1
    assert result.selection.reason_counts()["doubtful_transcript"] == 2
    # Without the rule the words are passed on again.
    passed_on = refresh(root, rules=replace(RULES, doubtful_transcripts=None))
    again = samples_in(root, passed_on.manifest)
    assert all(json.loads(again[k]["words.json"]) for k in kept)
