"""Decoding a video's audio: stream choice, no audio, time line, WAV files."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audio_support import dominant_frequency, ffmpeg, tone_video, workdir
from video_assets.audio.extract import (
    MonoSlices,
    SparseTimeline,
    WavSlices,
    decode_audio,
    decoded_pcm,
    open_audio_16k,
    select_audio_stream,
)
from video_assets.audio.wavfile import WavWriter, read_wav, write_wav
from video_assets.errors import MediaError
from video_assets.probe import probe


@pytest.fixture(scope="module")
def two_streams():
    """440 Hz in the first audio stream, 1000 Hz in the second, marked default."""
    return tone_video(workdir("extract") / "two_streams.mp4", audio=[(440, False), (1000, True)])


def test_a_video_without_audio_gives_an_explicit_empty_result():
    path = tone_video(workdir("extract") / "silent_video.mp4", audio=None)
    audio = decode_audio(path, sample_rate=16000, channels=1)
    assert not audio.has_audio
    assert audio.stream is None
    assert audio.samples.shape == (1, 0)
    assert audio.duration_s == 0.0


@pytest.mark.parametrize(
    "stream_index, expected_hz",
    [
        pytest.param(None, 1000, id="default-disposition"),
        pytest.param(1, 440, id="first-by-index"),
        pytest.param(2, 1000, id="second-by-index"),
    ],
)
def test_the_configured_or_default_stream_is_decoded(two_streams, stream_index, expected_hz):
    audio = decode_audio(two_streams, sample_rate=16000, channels=1, stream_index=stream_index)
    assert audio.has_audio
    assert dominant_frequency(audio.samples[0, 1000:17000], 16000) == pytest.approx(
        expected_hz, abs=5
    )


def test_mono_slices_read_from_disk_what_the_whole_decode_holds(two_streams):
    """The mix beside a stem is read a chunk at a time: every slice equals the same stretch
    of the whole decode, the end clipped as an array's is."""
    whole = decode_audio(two_streams, sample_rate=16000, channels=1).mono()
    with decoded_pcm(two_streams, sample_rate=16000, channels=1) as pcm:
        assert pcm is not None
        x = MonoSlices(pcm)
        assert len(x) == whole.size
        for a, b in ((0, 480), (12_345, 30_000), (whole.size - 100, whole.size + 500), (900, 100)):
            got = x[a:b]
            assert got.dtype == np.float32 and np.array_equal(got, whole[a:b]), (a, b)
        assert np.array_equal(x[-160:], whole[-160:])
        with pytest.raises(TypeError):
            x[::2]
    with decoded_pcm(two_streams, sample_rate=16000, channels=2) as pcm, pytest.raises(ValueError):
        MonoSlices(pcm)


def test_without_a_default_flag_the_first_audio_stream_is_used(tmp_path):
    path = tone_video(tmp_path / "no_default.mp4", audio=[(440, False), (1000, False)])
    assert select_audio_stream(probe(path)).index == 1


def test_an_unknown_stream_index_names_the_streams_there(two_streams):
    with pytest.raises(MediaError, match=r"no audio stream with index 0 \(audio streams: 1, 2\)"):
        decode_audio(two_streams, sample_rate=16000, channels=1, stream_index=0)


def test_late_audio_is_padded_so_samples_follow_the_video_clock(tmp_path):
    """An audio stream starting 0.5 s after the video: sample i is still at i / rate."""
    path = tmp_path / "late.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=3",
        "-itsoffset", "0.5", "-f", "lavfi", "-i", "sine=frequency=500:sample_rate=16000:duration=2",
        "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le", str(path),
    )  # fmt: skip
    audio = decode_audio(path, sample_rate=16000, channels=1).samples[0]
    onset = int(np.argmax(np.abs(audio) > 0.05)) / 16000
    assert onset == pytest.approx(0.5, abs=0.01)


def test_stereo_decoding(tmp_path):
    rate = 16000
    t = np.arange(rate) / rate
    stereo = np.stack(
        [0.5 * np.sin(2 * np.pi * 300 * t), 0.25 * np.sin(2 * np.pi * 300 * t)]
    ).astype(np.float32)
    wav = write_wav(tmp_path / "stereo.wav", stereo, rate)
    audio = decode_audio(wav, sample_rate=44100, channels=2)
    assert audio.samples.shape[0] == 2 and audio.samples.shape[1] == pytest.approx(44100, abs=2)


def test_decoded_mono_audio_is_not_copied(tmp_path):
    # An hour at 16 kHz is 230 MB of float32: the WAV reader, the ffmpeg decode and
    # mono() hand one array on instead of copies.
    x = np.random.default_rng(1).uniform(-1, 1, 16000).astype(np.float32)
    wav = write_wav(tmp_path / "m.wav", x, 16000)
    samples, _ = read_wav(wav)
    codes = np.frombuffer(wav.read_bytes()[44:], dtype="<i2")
    assert np.array_equal(samples[0], codes.astype(np.float32) / 32768.0)  # same values
    decoded = decode_audio(wav, sample_rate=16000, channels=1)
    assert np.shares_memory(decoded.mono(), decoded.samples)
    assert np.array_equal(decoded.mono(), samples[0])
    stereo = decode_audio(wav, sample_rate=16000, channels=2)
    assert np.allclose(stereo.mono(), stereo.samples.mean(axis=0))  # several: averaged


def test_wav_writer_is_atomic(tmp_path):
    target = tmp_path / "out.wav"
    write_wav(target, np.zeros(100, np.float32), 16000)
    with pytest.raises(RuntimeError), WavWriter(target, 16000, 1) as w:
        w.write(np.ones(50, np.float32) * 0.5)
        raise RuntimeError("crash half way")
    samples, rate = read_wav(target)
    assert samples.shape == (1, 100) and not samples.any()  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]  # no temporary left behind


def test_wav_round_trip_keeps_samples_to_16_bits(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, (2, 1234)).astype(np.float32)
    samples, rate = read_wav(write_wav(tmp_path / "x.wav", x, 22050))
    assert rate == 22050 and samples.shape == x.shape
    assert np.max(np.abs(samples - x)) < 2 / 32768


def test_a_non_wav_file_is_a_media_error(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....not a wav")
    with pytest.raises(MediaError, match="not a readable WAV"):
        read_wav(bad)


def test_a_16k_mono_wav_is_read_by_slices_with_read_wavs_values(tmp_path):
    x = np.random.default_rng(2).uniform(-1, 1, 40_000).astype(np.float32)
    wav = write_wav(tmp_path / "s.wav", x, 16000)
    whole = read_wav(wav)[0][0]
    slices = WavSlices(wav)
    assert len(slices) == whole.size
    for a, b in ((0, 480), (12_345, 30_000), (whole.size - 100, whole.size + 500), (900, 100)):
        got = slices[a:b]
        assert got.dtype == np.float32 and np.array_equal(got, whole[a:b]), (a, b)
    assert np.array_equal(slices[-160:], whole[-160:])
    with pytest.raises(TypeError):
        slices[::2]
    stereo = write_wav(tmp_path / "st.wav", np.stack([x, x]), 16000)
    with pytest.raises(MediaError, match="st.wav.*16-bit mono expected"):
        WavSlices(stereo)
    (tmp_path / "junk.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(MediaError, match="junk.wav"):
        WavSlices(tmp_path / "junk.wav")


def test_transcription_input_is_opened_by_slices_whatever_the_file(tmp_path, two_streams):
    x = (0.5 * np.sin(2 * np.pi * 300 * np.arange(16000) / 16000)).astype(np.float32)
    mono = write_wav(tmp_path / "mono.wav", x, 16000)
    with open_audio_16k(mono) as audio:
        assert isinstance(audio, WavSlices)  # read where it is, no decode
        assert np.array_equal(audio[0:16000], read_wav(mono)[0][0])
    stereo = write_wav(tmp_path / "stereo.wav", np.stack([x, x]), 16000)
    with open_audio_16k(stereo) as audio:
        assert isinstance(audio, MonoSlices) and len(audio) == 16000
        assert dominant_frequency(audio[0:16000], 16000) == pytest.approx(300, abs=10)
        temporary = audio.pcm.path
    assert not temporary.exists()  # the decoded copy is removed
    with open_audio_16k(two_streams) as audio:
        assert isinstance(audio, MonoSlices)
        assert dominant_frequency(audio[0 : len(audio)], 16000) == pytest.approx(1000, abs=20)
    with open_audio_16k(tone_video(workdir("extract") / "silent.mp4", audio=None)) as audio:
        assert audio is None


def test_a_sparse_timeline_holds_one_stretch_and_gives_its_pages_back():
    x = np.random.default_rng(3).uniform(-1, 1, 200_000).astype(np.float32)
    with SparseTimeline(x) as timeline:
        with timeline.holding(50_000, 60_000) as whole:
            assert whole.shape == x.shape and whole.dtype == np.float32
            assert np.array_equal(whole[50_000:60_000], x[50_000:60_000])
            assert not whole[:50_000].any() and not whole[60_000:].any()
        assert timeline.array is not None and not timeline.array.any()  # zeros again
        with timeline.holding(199_990, 300_000) as whole:  # clipped at the end
            assert np.array_equal(whole[199_990:], x[199_990:])
            assert not whole[:199_990].any()
    assert timeline.array is None
    with pytest.raises(RuntimeError, match="closed"), timeline.holding(0, 10):
        pass
