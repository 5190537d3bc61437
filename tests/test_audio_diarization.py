"""Offline diarization (the whisperx wheel's segmentation model + Resemblyzer) on dialogues of
espeak-ng voices made here, scored against the truth of when each voice speaks.

espeak-ng voices are synthetic: two variants of one voice differ less than two people do,
and the encoder cannot tell apart a voice from itself at another pitch (measured:
``en-us`` at pitch 30 and 70 became one speaker). The voices below differ in their variant
(male, female, Klatt synthesis) as well as pitch, as different people would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import numpy as np
import pandas as pd
import pytest
import torch

from tests.audio_support import SENTENCES, workdir
from video_assets.audio.aligners.base import AlignedSegment, AlignedWord
from video_assets.audio.diarization import ResemblyzerDiarizer, SpeakerTurn, assign_speakers
from video_assets.audio.metrics import diarization_error_rate, word_speaker_accuracy
from video_assets.audio.transcription import TranscriptionSettings, transcribe
from video_assets.audio.wavfile import write_wav
from video_assets.catalog import SQL_DIR
from video_assets.errors import ConfigError
from video_assets.generate.speech import Dialogue, Line, make_dialogue, mix_with_music

torch.set_num_threads(1)

VOICES = {"A": ("en-us", 40), "B": ("en-us+f3", 70), "C": ("en-us+klatt", 50)}
MORE = [
    "The children laughed as the dog chased its tail around the garden.",
    "We should finish the report before the end of the week.",
]


@pytest.fixture(scope="module")
def diarizer():
    with ResemblyzerDiarizer() as d:
        yield d


@pytest.fixture(scope="module")
def two_in_turns() -> Dialogue:
    return make_dialogue([Line("AB"[i % 2], s) for i, s in enumerate(SENTENCES)], VOICES)


@pytest.fixture(scope="module")
def two_overlapping() -> Dialogue:
    """B's second line starts 1.2 s before A's second line ends."""
    lines = [Line("AB"[i % 2], s, 1.2 if i == 3 else 0.0) for i, s in enumerate(SENTENCES)]
    return make_dialogue(lines, VOICES)


@pytest.fixture(scope="module")
def three_voices() -> Dialogue:
    lines = [Line("ABC"[i % 3], s, 1.0 if i == 4 else 0.0) for i, s in enumerate(SENTENCES + MORE)]
    return make_dialogue(lines, VOICES)


def words_with_speakers(dialogue: Dialogue, turns: list[SpeakerTurn]) -> list[AlignedWord]:
    """The true words at their true times, given speakers from ``turns``."""
    segments = [
        AlignedSegment(w.start, w.end, w.word, [AlignedWord(w.word, w.start, w.end, 1.0)])
        for w in dialogue.track.words
    ]
    assign_speakers(segments, turns)
    return [s.words[0] for s in segments]


def test_two_voices_in_turns(diarizer, two_in_turns):
    """Measured: DER 0.0 % with the 0.25 s collar (1.3 % without), every word right."""
    turns = diarizer.diarize(two_in_turns.track.as_float(16000))
    assert {t.speaker for t in turns} == {"SPEAKER_00", "SPEAKER_01"}
    assert turns[0].speaker == "SPEAKER_00"  # labelled in order of first speech
    assert diarization_error_rate(two_in_turns.turns, turns, collar=0.25) <= 0.15
    words = words_with_speakers(two_in_turns, turns)
    assert word_speaker_accuracy(two_in_turns.track.words, words) >= 0.9


def test_an_overlap_gives_two_overlapping_turns(diarizer, two_overlapping):
    turns = diarizer.diarize(two_overlapping.track.as_float(16000))
    assert len({t.speaker for t in turns}) == 2
    assert diarization_error_rate(two_overlapping.turns, turns, collar=0.25) <= 0.15
    a, b = two_overlapping.turns[2], two_overlapping.turns[3]
    true_lo, true_hi = b.start, a.end  # both voices at once
    assert true_hi - true_lo == pytest.approx(1.2, abs=0.05)
    both = [
        (max(s.start, t.start, true_lo), min(s.end, t.end, true_hi))
        for s in turns
        for t in turns
        if s.speaker < t.speaker
    ]
    assert max(hi - lo for lo, hi in both) >= 0.5, turns  # the overlap is kept, not flattened


def test_three_voices_are_counted_and_told_apart(diarizer, three_voices):
    """Measured: 3 speakers, DER 0.0 % with the collar (2.0 % without)."""
    turns = diarizer.diarize(three_voices.track.as_float(16000))
    assert len({t.speaker for t in turns}) == 3
    assert diarization_error_rate(three_voices.turns, turns, collar=0.25) <= 0.15
    words = words_with_speakers(three_voices, turns)
    assert word_speaker_accuracy(three_voices.track.words, words) >= 0.85


def test_one_voice_under_music_is_one_speaker(diarizer):
    track = make_dialogue([Line("A", s) for s in SENTENCES[:4]], VOICES, gap_s=0.4).track
    audio = mix_with_music(track.as_float(16000), 16000, music_db=0.0, seed=2)
    turns = diarizer.diarize(audio)
    assert len({t.speaker for t in turns}) == 1
    covered = [any(t.start <= w.start + 0.05 <= t.end for t in turns) for w in track.words]
    assert np.mean(covered) >= 0.9


def test_a_given_speaker_count_is_used(two_in_turns, three_voices):
    with ResemblyzerDiarizer(num_speakers=1) as one:
        assert len({t.speaker for t in one.diarize(two_in_turns.track.as_float(16000))}) == 1
    with ResemblyzerDiarizer(max_speakers=2) as at_most_two:
        turns = at_most_two.diarize(three_voices.track.as_float(16000))
    assert len({t.speaker for t in turns}) == 2


def test_silence_and_tiny_inputs_give_no_turns(diarizer):
    assert diarizer.diarize(np.zeros(16000 * 6, np.float32)) == []
    assert diarizer.diarize(np.zeros(100, np.float32)) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param(dict(step_s=0.05), "step_s must be in", id="step"),
        pytest.param(dict(onset=1.0), "onset must be in", id="onset"),
        pytest.param(dict(threshold=0.0), "threshold must be in", id="threshold"),
        pytest.param(dict(min_clean_s=0.0), "min_clean_s must be in", id="clean"),
        pytest.param(dict(min_duration_on=-0.1), "min_duration_on must be in", id="turn"),
        pytest.param(dict(num_speakers=0), "num_speakers must be in", id="count"),
        pytest.param(dict(min_speakers=3, max_speakers=2), "min_speakers", id="bounds"),
        pytest.param(dict(device="tpu"), "device must be", id="device"),
    ],
)
def test_settings_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResemblyzerDiarizer(**kwargs)


def test_a_folder_that_is_no_pipeline_fails_before_any_model_runs(tmp_path):
    wav = write_wav(tmp_path / "x.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(ConfigError) as err:
        transcribe(wav, TranscriptionSettings(diarize=True, diarization_dir=tmp_path))
    assert err.value.setting == "VIDEO_ASSETS_DIARIZATION_DIR"


@pytest.mark.slow
def test_transcribe_diarize_runs_offline_from_the_cli(two_in_turns):
    """`video-assets transcribe FILE --diarize` with downloads forbidden: every word gets a speaker.

    Measured: 2 speakers, 69 of 69 words right (tiny.en heard every word of this dialogue)."""
    wav = two_in_turns.track.save_wav(workdir("diarization") / "two_in_turns.wav", rate=16000)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VIDEO_ASSETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "video_assets.cli", "transcribe", str(wav), "--diarize", "--json", "--quiet"],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    payload = json.loads(out.stdout)
    assert payload["speakers"] == 2 and "resemblyzer" in payload["diarization_model"]
    assert {t["speaker"] for t in payload["turns"]} == {"SPEAKER_00", "SPEAKER_01"}

    class W:
        def __init__(self, d):
            self.word, self.start, self.speaker = d["word"], d["start"], d["speaker"]

    words = [W(w) for w in payload["words"]]
    assert all(w.speaker is not None for w in words)
    assert word_speaker_accuracy(two_in_turns.track.words, words) >= 0.9


def test_words_spoken_over_or_between_turns_take_their_sentences_speaker():
    turns = [SpeakerTurn(0.0, 2.0, "S0"), SpeakerTurn(1.5, 4.0, "S1")]
    first = AlignedSegment(
        0.0,
        2.0,
        "one two three",
        [
            AlignedWord("one", 0.2, 0.6, 1),
            AlignedWord("two", 0.8, 1.2, 1),
            AlignedWord("three", 1.55, 1.95, 1),
        ],
    )  # "three" is spoken over: both turns cover all of it
    second = AlignedSegment(
        1.6,
        4.4,
        "four five six",
        [
            AlignedWord("four", 1.6, 1.9, 1),
            AlignedWord("five", 2.5, 3.0, 1),
            AlignedWord("six", 4.1, 4.4, 1),
        ],
    )  # "four" is spoken over, "six" (timed after every turn) in none
    assign_speakers([first, second], turns)
    assert [w.speaker for w in first.words] == ["S0"] * 3 and first.speaker == "S0"
    assert [w.speaker for w in second.words] == ["S1"] * 3 and second.speaker == "S1"


def test_speaker_overlap_check_finds_words_under_two_turns():
    words = pd.DataFrame(
        [
            ("v1", 0, "alone", 0.0, 0.4, 0.9, "S0"),
            ("v1", 0, "both", 1.0, 1.4, 0.9, "S0"),
            ("v1", 1, "edge", 1.9, 2.3, 0.9, "S1"),  # S0's turn covers only 0.1 s of it
            ("v2", 0, "both", 1.0, 1.4, 0.9, "S0"),
        ],
        columns=["video_id", "segment", "word", "start", "end", "score", "speaker"],
    )
    turns = pd.DataFrame(
        [("v1", 0.0, 2.0, "S0"), ("v1", 0.9, 3.0, "S1")],
        columns=["video_id", "start", "end", "speaker"],
    )
    con = duckdb.connect()
    con.register("words", words)
    con.register("speaker_turns", turns)
    sql = (SQL_DIR / "checks" / "speaker_overlap.sql").read_text()
    rows = con.execute(sql, {"video_id": "v1", "min_cover": 0.5}).fetchdf()
    assert rows["word"].tolist() == ["both"]
    assert rows.iloc[0]["active_speakers"] == "S0, S1"
    assert con.execute(sql, {"video_id": "v2", "min_cover": 0.5}).fetchdf().empty
    assert len(con.execute(sql, {"video_id": "v1", "min_cover": 0.2}).fetchdf()) == 2


def test_window_scores_binarized_by_blocks_as_pyannote_binarizes_them_whole():
    from pyannote.audio.utils.signal import binarize
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    from video_assets.audio.diarizers.resemblyzer import _binarize

    scores = np.random.default_rng(0).uniform(0, 1, (2500, 293, 3)).astype(np.float32)
    windows = SlidingWindowFeature(scores, SlidingWindow(start=0.0, duration=5.0, step=0.5))
    whole = binarize(windows, onset=0.5, initial_state=False).data
    blocks = _binarize(windows, 0.5, block=700).data
    assert blocks.dtype == np.float32 and np.array_equal(blocks, whole)


def test_the_vads_windows_diarize_as_the_diarizers_own(diarizer, two_in_turns):
    """Transcription hands the VAD's window outputs (the same model on the same 5 s windows)
    to the offline diarizer instead of sliding the model over the stem again."""
    from whisperx.vads import Pyannote

    from video_assets.audio.sliding import chunk_scores

    audio = two_in_turns.track.as_float(16000)
    vad = Pyannote(torch.device("cpu"), token=None, vad_onset=0.5, vad_offset=0.363)
    windows = chunk_scores(vad.vad_pipeline._segmentation, audio, hook=False)
    own = chunk_scores(diarizer._inference, audio)
    assert np.array_equal(windows.data, own.data)
    assert diarizer.diarize(audio, windows) == diarizer.diarize(audio)
    assert not diarizer._fits(windows, len(audio) + 16000)  # another length: not used


def test_slivers_at_hand_overs_are_no_speaker_but_a_backchannel_is():
    """A cluster that wins a frame or two where the voices hand over is not a third speaker
    (the 2 h dialogue stem gave three speakers for two); a 150 ms "mm" still is a turn."""
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    from video_assets.audio.diarizers.resemblyzer import _turns

    frame = 0.016875  # the segmentation model's frame
    data = np.zeros((1200, 3), np.float32)
    data[0:180, 0] = 1  # A, about 3 s
    data[180:182, 2] = 1  # two frames of an odd cluster at the hand-over
    data[182:360, 1] = 1  # B
    data[360, 2] = 1  # one more
    data[361:700, 0] = 1  # A again
    data[800:809, 1] = 1  # B's "mm": 9 frames, 152 ms
    discrete = SlidingWindowFeature(data, SlidingWindow(start=0.0, duration=frame, step=frame))

    turns = _turns(discrete, 20.0, min_duration_on=0.1, min_duration_off=0.2)
    assert [t.speaker for t in turns] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00", "SPEAKER_01"]
    assert turns[-1].end - turns[-1].start == pytest.approx(9 * frame, abs=0.002)
    every = _turns(discrete, 20.0, min_duration_on=0.0, min_duration_off=0.2)
    assert {t.speaker for t in every} == {"SPEAKER_00", "SPEAKER_01", "SPEAKER_02"}
