"""The audio stage as Dagster assets and as CLI commands, on the sample video (espeak speech over music)."""

import json
import subprocess
import sys

import dagster as dg
import numpy as np
import pytest

from dagster_project.definitions import ASSETS, CHECKS
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import (
    AudioStageConfig,
    StoreResource,
    TokenStageConfig,
    VideoStageConfig,
)
from video_assets.audio.metrics import matched_onset_errors
from video_assets.catalog import connect
from video_assets.generate.sample import make_sample
from video_assets.registry import register
from video_assets.store import DataRoot


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return make_sample(tmp_path_factory.mktemp("sample") / "landing" / "sample.mp4")


@pytest.fixture(scope="module")
def materialized(sample, tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    store = StoreResource(data_root=str(data), landing_dir=str(sample.path.parent), settle_s=0.0)
    vid = register(store.root(), sample.path).video_id
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(videos.name, [vid])
    resources = {
        "store": store,
        "video_config": VideoStageConfig(),
        "audio_config": AudioStageConfig(),  # Spleeter (no Demucs here), offline diarization
        "token_config": TokenStageConfig(),
    }
    per_video = [a for a in ASSETS if a.partitions_def is not None]
    result = dg.materialize(
        [*per_video, *CHECKS], partition_key=vid, instance=instance, resources=resources
    )
    return store, vid, result


def _materializations(result, key):
    return [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key.to_user_string() == key
    ]


def test_transcript_words_are_timed_against_espeak_truth(materialized, sample):
    store, vid, result = materialized
    assert result.success
    meta = _materializations(result, "aligned_transcripts")[0].metadata
    assert meta["aligner"].value == "pocketsphinx"  # the default offline path, recorded
    with connect(DataRoot(store.data_root)) as con:
        words = con.execute(
            'SELECT word, start, "end", score FROM words WHERE video_id = $v ORDER BY start',
            {"v": vid},
        ).df()
        segments = con.execute("SELECT * FROM segments WHERE video_id = $v", {"v": vid}).df()
    assert len(words) >= 0.8 * len(sample.words)
    assert words["score"].between(0, 1).all()
    assert (words["end"] > words["start"]).all()
    errors = np.abs(matched_onset_errors(sample.words, list(words.itertuples())))
    # Measured on this sample: median 7 ms, 95 % within 50 ms (pocketsphinx on the Spleeter stem).
    assert len(errors) >= 0.8 * len(sample.words)
    assert np.median(errors) < 0.03
    assert np.mean(errors <= 0.05) > 0.85
    assert segments["kept"].dtype == bool and set(segments["language"]) == {"en"}
    # The stem was separated, so each chunk was decoded from the source's mix as well.
    assert set(segments["text_input"]) <= {"stem", "mix", "stem+mix"}
    chunks = sum(
        meta[k].value
        for k in ("chunks_from_stem", "chunks_from_mix", "chunks_from_stem_mix")
        if k in meta
    )
    assert chunks >= 1


def test_clip_words_are_inside_their_clip_and_relative(materialized):
    store, vid, _ = materialized
    with connect(DataRoot(store.data_root)) as con:
        rows = con.execute(
            """
            SELECT cw.clip_id, cw.start_s, cw.end_s, c.duration_s, cw.word
            FROM clip_words cw JOIN clips c USING (clip_id) WHERE cw.video_id = $v""",
            {"v": vid},
        ).df()
        total = con.execute(
            "SELECT count(*) FROM words WHERE video_id = $v", {"v": vid}
        ).fetchone()[0]
    assert len(rows) > 10 and len(rows) <= total
    assert (rows["start_s"] >= 0).all() and (rows["end_s"] <= rows["duration_s"] + 1e-6).all()
    assert rows["clip_id"].nunique() >= 2


def test_audio_checks_report_counts_and_pass_on_a_separated_stem(materialized):
    store, vid, result = materialized
    evals = {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    low = evals["low_confidence_words"]
    assert low.passed
    assert low.metadata["words"].value > 30 and "dropped_segments" in low.metadata
    assert evals["hallucinated_segments"].passed
    # No Demucs weights here: Spleeter separated the voice, which is no passthrough.
    assert evals["separation_fallback"].passed
    stems = _materializations(result, "vocal_stems")[0].metadata
    assert stems["backend"].value == "spleeter" and stems["model"].value == "spleeter:2stems"
    assert stems["fallback"].value.startswith(
        "spleeter: no local copy of separation model 'htdemucs'"
    )
    # Diarization is on by default: one espeak voice, one speaker on every word, no overlap.
    assert (
        evals["speaker_overlap"].passed
        and evals["speaker_overlap"].metadata["violations"].value == 0
    )
    meta = _materializations(result, "aligned_transcripts")[0].metadata
    assert meta["speakers"].value == 1 and "resemblyzer" in meta["diarization_model"].value
    with connect(DataRoot(store.data_root)) as con:
        speakers = con.execute(
            "SELECT DISTINCT speaker FROM words WHERE video_id = $v", {"v": vid}
        ).fetchall()
        turns = con.execute(
            "SELECT count(*), count(DISTINCT speaker) FROM speaker_turns WHERE video_id = $v",
            {"v": vid},
        ).fetchone()
    assert speakers == [("SPEAKER_00",)] and turns[0] >= 1 and turns[1] == 1


def test_the_language_and_the_models_are_in_the_catalog(materialized):
    store, vid, result = materialized
    evals = {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert evals["doubtful_transcripts"].passed  # English heard as English, no loop
    meta = _materializations(result, "aligned_transcripts")[0].metadata
    assert meta["language_source"].value == "detected"
    assert meta["language_probability"].value > 0.5
    assert meta["whisper_source"].value == "package"
    with connect(DataRoot(store.data_root)) as con:
        row = con.execute("SELECT * FROM transcripts WHERE video_id = $v", {"v": vid}).df()
        seg = con.execute(
            "SELECT detected_language, language_probability FROM segments WHERE video_id = $v",
            {"v": vid},
        ).df()
        stems = con.execute("SELECT origin FROM stems WHERE video_id = $v", {"v": vid}).df()
    assert len(row) == 1 and row.iloc[0].language == "en"
    assert (
        row.iloc[0].whisper_model.startswith("base (") and row.iloc[0].whisper_source == "package"
    )
    assert row.iloc[0].aligner == "pocketsphinx"
    assert seg["language_probability"].between(0, 1).all() and len(seg) > 0
    assert stems.iloc[0].origin  # where Spleeter's weights came from


def test_the_passthrough_stem_is_reported_by_the_check(sample, tmp_path):
    store = StoreResource(
        data_root=str(tmp_path / "data"), landing_dir=str(sample.path.parent), settle_s=0.0
    )
    vid = register(store.root(), sample.path).video_id
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(videos.name, [vid])
    by_key = {a.key.to_user_string(): a for a in ASSETS}
    check = next(c for c in CHECKS if any(k.name == "separation_fallback" for k in c.check_keys))
    res = dg.materialize(
        [by_key["source_video"], by_key["vocal_stems"], check],
        partition_key=vid,
        instance=instance,
        resources={"store": store, "audio_config": AudioStageConfig(separator="passthrough")},
    )
    (evaluation,) = [
        e.event_specific_data
        for e in res.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["violations"].value == 1


def test_separation_without_model_fails_naming_the_setting(sample, tmp_path):
    store = StoreResource(
        data_root=str(tmp_path / "data"), landing_dir=str(sample.path.parent), settle_s=0.0
    )
    vid = register(store.root(), sample.path).video_id
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(videos.name, [vid])
    by_key = {a.key.to_user_string(): a for a in ASSETS}
    res = dg.materialize(
        [by_key["source_video"], by_key["vocal_stems"]],
        partition_key=vid,
        instance=instance,
        resources={"store": store, "audio_config": AudioStageConfig(separator="demucs")},
        raise_on_error=False,
    )
    assert not res.success
    err = next(
        e for e in res.all_events if e.event_type_value == "STEP_FAILURE"
    ).event_specific_data.error
    text = err.message + (err.cause.message if err.cause else "")
    assert "VIDEO_ASSETS_DEMUCS_MODEL" in text and "VIDEO_ASSETS_ALLOW_PASSTHROUGH" in text
    assert not DataRoot(store.data_root).exists(f"stems/{vid}")


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "video_assets.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_separate_and_transcribe_json(sample, tmp_path):
    from tests.audio_support import tiny_demucs_repo, tone_video

    # the tiny Demucs is still slow on 30 s
    short = tone_video(tmp_path / "tone.mp4", seconds=2.0, audio=[(440, True)])
    sep = _cli(
        "separate",
        str(short),
        "--out",
        str(tmp_path / "stems"),
        "--model",
        str(tiny_demucs_repo()),
        "--json",
        "--quiet",
    )
    assert sep.returncode == 0, sep.stderr
    stems = json.loads(sep.stdout)
    assert stems["backend"] == "demucs" and stems["has_audio"]
    assert (tmp_path / "stems" / "vocals_16k.wav").exists()

    out = _cli("transcribe", str(sample.path), "--json", "--quiet")
    assert out.returncode == 0, out.stderr
    # stdout is exactly one JSON object (WhisperX logs go to stderr)
    payload = json.loads(out.stdout)
    assert payload["language"] == "en" and payload["aligner"] == "pocketsphinx"
    assert isinstance(payload["segments"], list)
    word = payload["words"][0]
    assert set(word) >= {"word", "start", "end", "score", "speaker"}
    assert 0 <= word["score"] <= 1 and word["speaker"] is None


def test_cli_separate_bad_input_names_file(tmp_path):
    bad = tmp_path / "noise.mp4"
    bad.write_bytes(b"\x00" * 1000)
    out = _cli("separate", str(bad), "--out", str(tmp_path / "o"), "--allow-passthrough", "--json")
    assert out.returncode == 2 and "noise.mp4" in out.stderr and out.stdout == ""
