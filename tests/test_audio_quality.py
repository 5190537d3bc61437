"""The drop logic on crafted word tables, and the SQL check and view over them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from video_assets.audio.quality import (
    LOW_CONFIDENCE_RUN,
    OUTSIDE_VAD,
    REPEATED_NGRAM,
    QualitySettings,
    judge_segment,
    longest_low_run,
    mark_tables,
    outside_speech,
    repeated_ngram,
)

SQL = Path(__file__).resolve().parents[1] / "sql"


def words_of(text: str, scores: list[float], start: float = 0.0, step: float = 0.3):
    words = text.split()
    assert len(words) == len(scores)
    starts = [start + i * step for i in range(len(words))]
    return words, starts, [s + step * 0.8 for s in starts], scores


@pytest.mark.parametrize(
    "scores, low_run, expected_kept, expected_run",
    [
        pytest.param([0.9, 0.3, 0.2, 0.1, 0.9], 3, False, 3, id="run-of-3-drops"),
        pytest.param([0.9, 0.3, 0.2, 0.9, 0.1], 3, True, 2, id="run-of-2-kept"),
        pytest.param([0.3, 0.9, 0.3, 0.9, 0.3], 3, True, 1, id="scattered-low-kept"),
        pytest.param([0.3, 0.9, 0.3, 0.9, 0.3], 1, False, 1, id="run-length-configurable"),
        pytest.param([0.39, 0.39, 0.39, 0.4, 0.4], 3, False, 3, id="threshold-is-strict"),
        pytest.param([0.4, 0.4, 0.4, 0.4, 0.4], 3, True, 0, id="at-threshold-kept"),
        pytest.param([float("nan")] * 3 + [0.9, 0.9], 3, False, 3, id="nan-counts-as-low"),
    ],
)
def test_low_confidence_runs(scores, low_run, expected_kept, expected_run):
    w, s, e, sc = words_of("one two three four five", scores)
    verdict = judge_segment(w, s, e, sc, None, QualitySettings(low_run=low_run))
    assert verdict.kept is expected_kept
    assert verdict.longest_low_run == expected_run
    assert (verdict.drop_reason == LOW_CONFIDENCE_RUN) is (not expected_kept)


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("thank you thank you thank you", "thank you", id="bigram-loop"),
        pytest.param("Bye. Bye. Bye. Bye.", "bye", id="unigram-loop-with-punctuation"),
        pytest.param(
            "so so so so we went home after the long walk by the river",
            None,
            id="short-stutter-in-long-sentence",
        ),
        pytest.param(
            "the cat and the dog and the bird and the fish", None, id="frequent-word-is-not-a-loop"
        ),
        pytest.param(
            "I will go. I will go. I will go. I will go.", "i will go", id="sentence-loop"
        ),
        pytest.param("", None, id="empty"),
    ],
)
def test_repeated_ngram_detection(text, expected):
    assert repeated_ngram(text.split(), max_n=4, repeats=3, min_share=0.5) == expected


def test_outside_speech_uses_overlap_with_tolerance():
    regions = [(1.0, 2.0), (5.0, 6.0)]
    out = outside_speech(
        [0.0, 0.95, 1.5, 3.0, 5.9, 6.05, 7.0], [0.5, 0.99, 1.6, 4.0, 6.2, 6.5, 8.0], regions, 0.1
    )
    assert out.tolist() == [True, False, False, True, False, False, True]
    assert outside_speech([1.0], [2.0], [], 0.1).tolist() == [True]


def test_words_on_silence_drop_the_segment():
    w, s, e, sc = words_of("a b c d", [0.9] * 4, start=10.0)
    settings = QualitySettings()
    assert judge_segment(w, s, e, sc, [(0.0, 5.0)], settings).drop_reason == OUTSIDE_VAD
    assert judge_segment(w, s, e, sc, [(9.9, 12.0)], settings).kept
    half = judge_segment(w, s, e, sc, [(9.9, 10.5)], settings)  # words 0-1 inside, 2-3 outside
    assert half.outside_vad_words == 2 and not half.kept
    assert judge_segment(w, s, e, sc, [(9.9, 10.5)], QualitySettings(max_outside_share=0.75)).kept


def test_several_reasons_are_all_recorded():
    w, s, e, sc = words_of("yes yes yes yes", [0.1] * 4, start=50.0)
    verdict = judge_segment(w, s, e, sc, [(0.0, 1.0)], QualitySettings())
    assert verdict.reasons == [LOW_CONFIDENCE_RUN, REPEATED_NGRAM, OUTSIDE_VAD]
    assert verdict.drop_reason == "low_confidence_run;repeated_ngram;outside_vad"


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param(dict(min_score=1.5), id="min-score"),
        pytest.param(dict(low_run=0), id="low-run"),
        pytest.param(dict(ngram_repeats=1), id="repeats"),
        pytest.param(dict(max_outside_share=0.0), id="outside-share"),
        pytest.param(dict(vad_tolerance_s=-1), id="tolerance"),
    ],
)
def test_quality_settings_are_validated(kwargs):
    with pytest.raises(ValueError, match="must be in"):
        QualitySettings(**kwargs)


def test_longest_low_run():
    assert longest_low_run([], 0.4) == 0
    assert longest_low_run([0.1, 0.1, 0.5, 0.1, 0.1, 0.1], 0.4) == 3


def crafted_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Video v1: segment 0 fine, 1 with a 3-word low run, 2 a loop, 3 two scattered low words."""
    rows = []

    def add(seg, text, scores, start):
        for i, (word, score) in enumerate(zip(text.split(), scores, strict=True)):
            rows.append(("v1", seg, word, start + 0.4 * i, start + 0.4 * i + 0.3, score, None))

    add(0, "the weather was cold", [0.9, 0.8, 0.7, 0.9], 0.0)
    add(1, "she opened the letter slowly", [0.9, 0.2, 0.1, 0.3, 0.9], 3.0)
    add(2, "thank you thank you thank you", [0.8] * 6, 6.0)
    add(3, "our team will meet", [0.3, 0.9, 0.2, 0.9], 10.0)
    words = pd.DataFrame(
        rows, columns=["video_id", "segment", "word", "start", "end", "score", "speaker"]
    )
    # what timed each word: the aligner, except one word no backend could place
    words["aligner"] = "pocketsphinx"
    words.loc[(words.segment == 1) & (words.word == "letter"), "aligner"] = "interpolated"
    # another video
    words = pd.concat([words, words.assign(video_id="v2", score=0.95)], ignore_index=True)
    segments = words.groupby(["video_id", "segment"], as_index=False).agg(
        start=("start", "min"), end=("end", "max"), text=("word", " ".join)
    )
    segments["speaker"] = None
    segments["language"] = "en"
    segments["kept"] = True
    segments["drop_reason"] = None
    return words, segments


def test_mark_tables_marks_and_never_deletes():
    words, segments = crafted_tables()
    v1 = mark_tables(
        words[words.video_id == "v1"], segments[segments.video_id == "v1"], [(0.0, 13.0)]
    )
    assert len(v1) == 4  # all segments kept as rows
    assert v1["kept"].tolist() == [True, False, False, True]
    assert v1["drop_reason"].tolist() == [None, LOW_CONFIDENCE_RUN, REPEATED_NGRAM, None]
    stricter = mark_tables(
        words[words.video_id == "v1"],
        segments[segments.video_id == "v1"],
        None,
        QualitySettings(low_run=1),
    )
    assert stricter["kept"].tolist() == [True, False, False, False]


def connect(
    words: pd.DataFrame, segments: pd.DataFrame, clips: pd.DataFrame | None = None
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("words_df", words)
    con.register("segments_df", segments)
    con.execute("CREATE VIEW words AS SELECT * FROM words_df")
    con.execute("CREATE VIEW segments AS SELECT * FROM segments_df")
    if clips is not None:
        con.register("clips_df", clips)
        con.execute("CREATE VIEW clips AS SELECT * FROM clips_df")
    return con


def test_low_confidence_check_reports_words_and_counts():
    words, segments = crafted_tables()
    marked = pd.concat(
        [
            mark_tables(words[words.video_id == v], segments[segments.video_id == v], None)
            for v in ("v1", "v2")
        ]
    )
    con = connect(words, marked)
    sql = (SQL / "checks" / "low_confidence_words.sql").read_text()
    rows = con.execute(sql, {"video_id": "v1", "min_score": 0.4}).fetchdf()
    assert rows["word"].tolist() == ["opened", "the", "letter", "our", "will"]
    first = rows.iloc[0]
    assert (first.n_words, first.n_low_words, first.n_segments) == (19, 5, 4)
    assert first.low_share == pytest.approx(5 / 19)
    assert (first.n_low_run_segments, first.n_dropped_segments) == (1, 2)
    assert rows["segment_kept"].tolist() == [False, False, False, True, True]
    # an interpolated word is told apart from one an aligner timed
    assert rows["interpolated"].tolist() == [False, False, True, False, False]
    assert first.n_interpolated_words == 1
    assert con.execute(sql, {"video_id": "v2", "min_score": 0.4}).fetchdf().empty
    # threshold is a parameter
    assert len(con.execute(sql, {"video_id": "v1", "min_score": 0.25}).fetchdf()) == 3


def test_hallucination_check_lists_looping_segments():
    words, segments = crafted_tables()
    marked = mark_tables(words[words.video_id == "v1"], segments[segments.video_id == "v1"], None)
    con = connect(words, marked)
    rows = con.execute(
        (SQL / "checks" / "hallucinated_segments.sql").read_text(), {"video_id": "v1"}
    ).fetchdf()
    assert rows["segment"].tolist() == [2]
    assert rows.iloc[0].n_words == 6 and rows.iloc[0].n_segments == 4


def test_clip_words_view_keeps_only_words_inside_each_clip_with_relative_times():
    words, segments = crafted_tables()
    clips = pd.DataFrame(
        {
            "video_id": ["v1", "v1", "v2"],
            "clip_id": ["v1-000", "v1-001", "v2-000"],
            "scene_index": [0, 1, 0],
            "start_s": [0.0, 3.5, 0.0],
            "end_s": [3.5, 7.1, 1.0],
        }
    )
    con = connect(words, segments, clips)
    con.execute((SQL / "views" / "clip_words.sql").read_text())
    got = con.execute("SELECT * FROM clip_words ORDER BY clip_id, start_s").fetchdf()
    first = got[got.clip_id == "v1-000"]
    assert first["word"].tolist() == ["the", "weather", "was", "cold", "she"]  # 'she' ends at 3.3
    second = got[got.clip_id == "v1-001"]
    # 'opened' (3.4-3.7) straddles the 3.5 s cut: in neither clip; 'thank' at 6.0 is in, 'you' at 6.4-6.7 too
    assert second["word"].tolist()[:2] == ["the", "letter"]
    assert "opened" not in got[got.video_id == "v1"]["word"].tolist()
    assert second["start_s"].iloc[0] == pytest.approx(3.8 - 3.5)
    assert (got["start_s"] >= 0).all()
    assert ((got["end_s"] <= 3.5 + 1e-9) | (got.clip_id != "v1-000")).all()
    assert got[got.clip_id == "v2-000"]["word"].tolist() == [
        "the",
        "weather",
    ]  # per video, no cross-talk
    assert set(got.columns) >= {
        "video_id",
        "clip_id",
        "scene_index",
        "segment",
        "word",
        "start_s",
        "end_s",
        "score",
        "speaker",
        "segment_kept",
    }


def test_partitions_written_before_the_new_columns_still_read_and_check(tmp_path):
    """Words without `aligner`, segments without the language columns, stems without
    `origin` (as written before those columns existed): the catalog's views give NULL there,
    and the checks that read them run."""
    from video_assets.catalog import connect as catalog
    from video_assets.catalog import sql_text
    from video_assets.store import DataRoot

    words, segments = crafted_tables()
    root = DataRoot(tmp_path / "data")
    old_words = words[words.video_id == "v1"].drop(columns=["aligner"])
    root.write_table("words", "v1", old_words)
    root.write_table("segments", "v1", segments[segments.video_id == "v1"])
    root.write_table("stems", "v1", pd.DataFrame([{"video_id": "v1", "backend": "demucs"}]))
    with catalog(root) as con:
        assert con.execute("SELECT count(*) FROM words WHERE aligner IS NULL").fetchone() == (19,)
        assert con.execute(
            "SELECT count(*) FROM segments WHERE language_probability IS NULL"
        ).fetchone() == (4,)
        assert con.execute("SELECT origin FROM stems").fetchall() == [(None,)]
        rows = con.execute(
            sql_text("checks/low_confidence_words.sql"), {"video_id": "v1", "min_score": 0.4}
        ).fetchdf()
    assert rows["word"].tolist() == ["opened", "the", "letter", "our", "will"]
    assert rows["interpolated"].tolist() == [False] * 5  # nothing says they were


def test_a_table_being_written_for_another_video_is_not_read(tmp_path):
    """A check of one video runs while another video's writer is half-way through its
    Parquet (the postgres-celery profile runs partitions side by side): the views read each
    partition's published ``part.parquet`` only, never a writer's hidden temporary file."""
    from video_assets.catalog import connect as catalog
    from video_assets.catalog import sql_text
    from video_assets.store import DataRoot, tmp_name

    words, _ = crafted_tables()
    root = DataRoot(tmp_path / "data")
    root.write_table("words", "v1", words[words.video_id == "v1"])
    other = tmp_path / "data" / "tables" / "words" / "video_id=v2"
    other.mkdir(parents=True)
    (other / tmp_name("part.parquet")).write_bytes(b"PAR1 half-written")
    # A first write of a table killed half-way: a folder with nothing published in it.
    killed = tmp_path / "data" / "tables" / "segments" / "video_id=v2"
    killed.mkdir(parents=True)
    (killed / tmp_name("part.parquet")).write_bytes(b"PAR1 half-written")
    assert root.table_partitions("words") == ["v1"] and root.table_partitions("segments") == []
    with catalog(root) as con:
        assert con.execute("SELECT DISTINCT video_id FROM words").fetchall() == [("v1",)]
        assert con.execute("SELECT count(*) FROM segments").fetchone() == (0,)
        rows = con.execute(
            sql_text("checks/low_confidence_words.sql"), {"video_id": "v1", "min_score": 0.4}
        ).fetchdf()
    assert len(rows) == 5
