"""espeak-ng speech with exact word onsets, the music bed and muxing into videos."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audio_support import SENTENCES, speech_track, workdir
from video_assets.audio.extract import decode_audio
from video_assets.generate.speech import (
    active_rms,
    make_speech_track,
    make_speech_video,
    mix_with_music,
    music_bed,
    mux_audio,
    synthesize,
)
from video_assets.probe import probe


def test_every_word_of_the_text_is_reported_in_order():
    track = synthesize("Hello world. The quick brown fox jumps over the lazy dog.")
    assert [w.word for w in track.words] == [
        "Hello",
        "world",
        "The",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "the",
        "lazy",
        "dog",
    ]
    assert track.sample_rate == 22050
    assert track.samples.dtype == np.int16
    starts = [w.start for w in track.words]
    assert starts == sorted(starts)
    assert all(w.end > w.start for w in track.words)
    assert track.words[-1].end <= track.duration_s + 1e-9


def test_joined_function_words_are_flagged_not_timed():
    # espeak speaks "of the" as one phonological word and reports one WORD event for both
    track = synthesize("We met at the end of the week.")
    by_word = [(w.word, w.has_event) for w in track.words]
    assert ("week", True) in by_word
    assert any(not has for _, has in by_word), by_word
    joined = next(i for i, w in enumerate(track.words) if not w.has_event)
    assert track.words[joined].start == track.words[joined - 1].start
    assert all(w.has_event for w in track.timed_words())


def test_onsets_mark_where_the_voice_starts():
    """Before each sentence's first onset there is silence, just after it there is voice."""
    track = speech_track()
    audio = track.as_float()
    rate = track.sample_rate
    firsts = [0] + [
        i for i in range(1, len(track.words)) if track.words[i].start - track.words[i - 1].end > 0.4
    ]
    assert len(firsts) == len(SENTENCES)
    for i in firsts:
        onset = int(track.words[i].start * rate)
        before = audio[max(0, onset - int(0.2 * rate)) : onset]
        after = audio[onset : onset + int(0.1 * rate)]
        assert np.sqrt(np.mean(before**2)) < 1e-3
        assert np.sqrt(np.mean(after**2)) > 0.01


def test_sentences_are_joined_with_the_requested_pauses():
    # espeak's output length varies by a few samples between calls, so the check is on the
    # track itself: lead silence, pause between sentences, tail silence.
    track = make_speech_track(SENTENCES[:2], lead_s=1.0, gap_s=2.0, tail_s=0.25)
    n0 = len(SENTENCES[0].split())
    audio = np.abs(track.as_float())
    rate = track.sample_rate
    assert track.words[0].start == pytest.approx(1.0, abs=1e-4)
    assert audio[: int(0.99 * rate)].max() == 0.0
    pause = track.words[n0].start - track.words[n0 - 1].end
    assert 2.0 <= pause <= 2.6  # the gap plus the sentence's own trailing silence
    assert (
        audio[int((track.words[n0].start - 2.0) * rate) : int(track.words[n0].start * rate)].max()
        == 0.0
    )
    assert audio[-int(0.25 * rate) :].max() == 0.0
    assert track.text == " ".join(SENTENCES[:2])


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param(dict(rate_wpm=50), id="rate-too-slow"),
        pytest.param(dict(rate_wpm=500), id="rate-too-fast"),
        pytest.param(dict(pitch=120), id="pitch"),
        pytest.param(dict(word_gap=-1), id="word-gap"),
        pytest.param(dict(voice="no-such-voice"), id="voice"),
    ],
)
def test_bad_synthesis_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        synthesize("hello", **kwargs)


GERMAN = "Der Zug fährt um neun Uhr ab. Wir tragen zwei Taschen und eine Karte."


def test_the_same_call_gives_the_same_samples_after_any_history():
    # libespeak-ng keeps state between syntheses in one process (the last voice variant,
    # prosody): before the helper, German after an ``en-us+f3`` sentence came out 800
    # samples longer and Whisper base misheard it. Each synthesis now starts afresh.
    first = synthesize(GERMAN, voice="de")
    synthesize("The weather was cold and the wind blew.", voice="en-us+f3")
    synthesize("Hello there.", voice="en-us", pitch=80, word_gap=5)
    again = synthesize(GERMAN, voice="de")
    assert np.array_equal(first.samples, again.samples)
    assert first.words == again.words


def test_a_fresh_process_synthesises_the_same_samples(tmp_path):
    import hashlib
    import subprocess
    import sys

    synthesize("Hello there.", voice="en-us+f3")
    here = hashlib.sha256(synthesize(GERMAN, voice="de").samples.tobytes()).hexdigest()
    code = (
        "import hashlib; from video_assets.generate.speech import synthesize; "
        f"print(hashlib.sha256(synthesize({GERMAN!r}, voice='de').samples.tobytes()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == here


def test_text_without_words_is_refused():
    with pytest.raises(ValueError, match="no words"):
        synthesize("...")


@pytest.mark.parametrize(
    "music_db",
    [pytest.param(-20.0, id="-20dB"), pytest.param(-10.0, id="-10dB"), pytest.param(0.0, id="0dB")],
)
def test_music_bed_sits_at_the_requested_level(music_db):
    track = speech_track()
    speech = track.as_float(16000)
    mix = mix_with_music(speech, 16000, music_db=music_db, seed=1)
    scale = 1.0
    music = mix - speech * scale
    if np.max(np.abs(mix)) >= 0.99 - 1e-6:  # the mix was scaled to avoid clipping
        scale = float(np.dot(mix, speech) / np.dot(speech, speech))
        music = mix - speech * scale
    level = 20 * np.log10(np.sqrt(np.mean(music**2)) / (active_rms(speech, 16000) * scale))
    assert level == pytest.approx(music_db, abs=0.5)


def test_music_bed_is_reproducible_and_musical():
    a = music_bed(4.0, 16000, seed=3)
    assert np.array_equal(a, music_bed(4.0, 16000, seed=3))
    assert not np.array_equal(a, music_bed(4.0, 16000, seed=4))
    assert np.sqrt(np.mean(a**2)) == pytest.approx(0.1, rel=1e-3)
    spectrum = np.abs(np.fft.rfft(a))
    freqs = np.fft.rfftfreq(len(a), 1 / 16000)
    assert 100 < freqs[int(np.argmax(spectrum))] < 600  # chord and bass energy, not noise


def test_speech_video_from_lavfi_carries_the_speech_at_the_offset():
    out = workdir("speech_video") / "lavfi.mp4"
    video = make_speech_video(out, SENTENCES[:1], offset_s=1.5, music_db=None)
    info = probe(video.path)
    assert info.video is not None and len(info.audio) == 1
    assert info.duration_s == pytest.approx(1.5 + video.speech.duration_s, abs=0.1)
    assert video.words[0].start == pytest.approx(1.5 + video.speech.words[0].start)
    audio = decode_audio(video.path, sample_rate=16000, channels=1).samples[0]
    ref = video.speech.as_float(16000)
    onset = int(video.speech.words[0].start * 16000)
    corr = np.correlate(audio[: 16000 * 4], ref[onset : onset + 16000], mode="valid")
    lag = int(np.argmax(corr)) / 16000 - onset / 16000
    assert lag == pytest.approx(1.5, abs=0.01)  # ffmpeg trims the aac priming samples


def test_speech_replaces_the_audio_of_an_existing_video(tmp_path):
    src = tmp_path / "src.mp4"
    from tests.audio_support import tone_video

    tone_video(src, seconds=6.0, audio=[(440, True)])
    wav = speech_track().save_wav(tmp_path / "speech.wav", rate=16000)
    out = mux_audio(src, wav, tmp_path / "out.mkv", audio_codec="pcm_s16le")
    info = probe(out)
    assert info.duration_s == pytest.approx(6.0, abs=0.15)  # the video's length, not the speech's
    assert len(info.audio) == 1 and info.audio[0].codec == "pcm_s16le"
    audio = decode_audio(out, sample_rate=16000, channels=1).samples[0]
    ref = speech_track().as_float(16000)[: len(audio)]
    n = min(len(audio), len(ref))
    assert np.corrcoef(audio[:n], ref[:n])[0, 1] > 0.99  # the tone is gone, the speech is there
