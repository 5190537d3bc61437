"""The data-root layout, the clip table schema and the table of SQL check specs: each said once."""

from __future__ import annotations

import dataclasses

import pytest

from dagster_project.defs.resources import AudioStageConfig, VideoStageConfig
from dagster_project.defs.sqlcheck import SQL_CHECKS, StageSettings
from video_assets import layout
from video_assets.audio.quality import MIN_WORD_SCORE, QualitySettings
from video_assets.catalog import SQL_DIR
from video_assets.clips import CLIP_COLUMNS, MIN_CLIP_S, Clip, ClipSettings, clips_frame
from video_assets.errors import MediaError, VideoAssetsError
from video_assets.store import DataRoot

CLIP = Clip(
    clip_id="v1_00003_w001",
    path="/tmp/somewhere/v1_00003_w001.mkv",
    scene_index=3,
    scene_start_frame=100,
    scene_end_frame=400,
    start_frame=112,
    end_frame=250,
    start_s=4.48000004,
    end_s=10.0,
    method="copy",
    container="mkv",
    leaked_frames=0,
    lost_frames=12,
    damaged_frames=1,
    bytes=12345,
    window_index=1,
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(layout.clip_dir("v1"), "clips/v1", id="clips"),
        pytest.param(layout.stem_dir("v1"), "stems/v1", id="stems"),
        pytest.param(layout.token_dir("v1"), "tokens/v1", id="tokens"),
        pytest.param(
            layout.preview_rel("v1", "tokens.png"), "previews/v1/tokens.png", id="preview"
        ),
        pytest.param(layout.registry_rel("v1"), "registry/v1.json", id="registry"),
        pytest.param(layout.source_rel_for("v1", ".MKV"), "videos/v1/source.mkv", id="source"),
        pytest.param(layout.source_rel_for("v1", ""), "videos/v1/source.bin", id="no-suffix"),
        pytest.param(
            layout.tokenizer_rel("ab" * 32),
            "models/tokenizer/tokenizer-abababababab.safetensors",
            id="tokenizer",
        ),
    ],
)
def test_layout_names_the_documented_paths(path, expected):
    assert path == expected


@pytest.mark.parametrize("video_id", ["..", "a/b", "", ".tmp-x", "a\\b"])
def test_layout_refuses_an_unsafe_video_id(video_id):
    with pytest.raises(ValueError, match="unsafe path component"):
        layout.clip_dir(video_id)


def test_source_rel_finds_the_stored_source_whatever_its_extension(tmp_path):
    root = DataRoot(tmp_path)
    with pytest.raises(MediaError, match="materialize source_video"):
        layout.source_rel(root, "v1")
    root.write_bytes(layout.source_rel_for("v1", ".webm"), b"x")
    assert layout.source_rel(root, "v1") == "videos/v1/source.webm"


def test_current_tokenizer_reads_the_pointer(tmp_path):
    root = DataRoot(tmp_path)
    assert not layout.has_tokenizer(root)
    with pytest.raises(VideoAssetsError, match="materialize tokenizer_model"):
        layout.current_tokenizer(root)
    root.write_bytes(layout.CURRENT_TOKENIZER, b'{"hash": "h", "path": "p", "stored": true}')
    assert layout.has_tokenizer(root)
    assert layout.current_tokenizer(root) == {"hash": "h", "path": "p", "stored": True}


def test_clip_table_row_round_trips():
    row = CLIP.table_row("v1", layout.clip_dir("v1"))
    assert list(row) == list(CLIP_COLUMNS)
    assert row["path"] == "clips/v1/v1_00003_w001.mkv"
    assert row["start_s"] == 4.48 and row["duration_s"] == pytest.approx(5.52)
    df = clips_frame("v1", [CLIP], "clips/v1")
    assert list(df.columns) == list(CLIP_COLUMNS)
    back = Clip.from_row(df.iloc[0].to_dict())
    assert back == dataclasses.replace(CLIP, path=row["path"], start_s=4.48)


def test_clip_from_row_fills_counts_a_row_lacks():
    row = {k: v for k, v in CLIP.to_json().items() if k not in ("lost_frames", "bytes")}
    row["damaged_frames"] = float("nan")
    clip = Clip.from_row(row)
    assert (clip.lost_frames, clip.bytes, clip.damaged_frames) == (0, 0, 0)


def test_defaults_are_said_once():
    assert ClipSettings().min_duration_s == MIN_CLIP_S == VideoStageConfig().min_clip_s
    assert QualitySettings().min_score == MIN_WORD_SCORE == AudioStageConfig().min_word_score


def test_every_check_spec_names_a_sql_file_and_binds_its_parameters():
    for name, check in SQL_CHECKS.items():
        sql = (SQL_DIR / "checks" / f"{name}.sql").read_text()
        for param in check.params(StageSettings()):
            assert f"${param}" in sql, (name, param)
    assert [n for n, c in SQL_CHECKS.items() if c.summarized] == [
        "leaked_frames",
        "lost_frames",
        "short_scenes",
        "low_confidence_words",
        "hallucinated_segments",
    ]


def test_check_thresholds_follow_the_stage_settings():
    settings = StageSettings(
        video=VideoStageConfig(min_clip_s=1.5, max_short_share=0.1),
        audio=AudioStageConfig(min_word_score=0.7, max_low_share=0.3),
    )
    short, low = SQL_CHECKS["short_scenes"], SQL_CHECKS["low_confidence_words"]
    assert short.params(settings) == {"min_duration_s": 1.5}
    assert short.max_share is not None and short.max_share(settings) == 0.1
    assert low.params(settings) == {"min_score": 0.7}
    assert low.max_share is not None and low.max_share(settings) == 0.3
