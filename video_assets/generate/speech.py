"""Speech with exact word timings, synthesised by espeak-ng, for tests, benchmarks and samples.

espeak-ng is driven through ``libespeak-ng.so.1`` with ctypes (:mod:`.espeak`: each
synthesis from the library's initial state, so the same call gives the same samples after
any history). In synchronous mode its synthesis callback receives the audio in chunks
together with events; every ``WORD`` event carries the sample position at which that word's
audio begins, so the onsets are exact by construction rather than estimated after the fact.

One quirk shapes :class:`SpeechWord`: espeak joins some unstressed function words to their
neighbour ("of the", "on the") and reports a single ``WORD`` event for both. Such a word
keeps its place in the word list with ``has_event=False`` and the span of the word it was
joined to; timing metrics should only use words with ``has_event=True``.

The music bed is synthetic too (chords, a bass line and noise percussion, all from a
seeded generator), so a test can put a known level of music under the voice.
"""

from __future__ import annotations

import re
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from video_assets.audio.wavfile import write_wav
from video_assets.errors import VideoAssetsError
from video_assets.generate import espeak
from video_assets.tools import ffmpeg_base, media_arg, run_tool

_WORD_CHARS = re.compile(r"[\w']+", re.UNICODE)


@dataclass(frozen=True)
class SpeechWord:
    """One word of synthesised speech and where it sits in the audio."""

    word: str
    """The word as written, without surrounding punctuation."""
    start: float
    """Onset in seconds from the start of the track (espeak's WORD event)."""
    end: float
    """End in seconds: the next word's onset, moved back over trailing silence."""
    has_event: bool = True
    """False when espeak joined this word to the previous one and reported no onset for it."""
    speaker: str | None = None
    """Who says it, in a dialogue (:func:`make_dialogue`)."""


@dataclass
class SpeechTrack:
    """Synthesised speech: 16-bit mono PCM, its rate, and the ground-truth words."""

    samples: np.ndarray
    """int16 mono samples."""
    sample_rate: int
    words: list[SpeechWord]
    text: str
    voice: str = "en-us"

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def as_float(self, rate: int | None = None) -> np.ndarray:
        """The samples as float32 in [-1, 1], resampled to ``rate`` when given."""
        audio = self.samples.astype(np.float32) / 32768.0
        if rate is None or rate == self.sample_rate:
            return audio
        return resample(audio, self.sample_rate, rate)

    def timed_words(self) -> list[SpeechWord]:
        """Only the words with their own onset (the ones timing metrics may use)."""
        return [w for w in self.words if w.has_event]

    def save_wav(self, path: str | Path, rate: int | None = None) -> Path:
        """Write the track as a 16-bit mono WAV (resampled to ``rate`` when given)."""
        return write_wav(path, self.as_float(rate), rate or self.sample_rate)


@dataclass
class SpeechVideo:
    """A video file carrying synthesised speech, and the truth about that speech."""

    path: Path
    words: list[SpeechWord]
    """Word timings in the video's time line (speech offset applied)."""
    speech: SpeechTrack
    offset_s: float
    music_db: float | None
    """Music bed level relative to the speech, in dB; None when there is no music."""

    @property
    def text(self) -> str:
        return self.speech.text


def _sample_rate() -> int:
    try:
        return espeak.sample_rate()
    except espeak.EspeakError as exc:
        raise VideoAssetsError(str(exc)) from None


def _speech_end(audio: np.ndarray, start: int, stop: int, rate: int) -> int:
    """The last sample in [start, stop) above -40 dBFS (a word's end before a pause)."""
    seg = np.abs(audio[start:stop].astype(np.float32)) / 32768.0
    win = max(1, int(0.005 * rate))
    if seg.size == 0:
        return start
    env = np.sqrt(np.convolve(seg**2, np.ones(win) / win, mode="same"))
    loud = np.flatnonzero(env > 10 ** (-40 / 20))
    if loud.size == 0:
        return min(stop, start + win)
    return start + int(loud[-1]) + 1


def synthesize(
    text: str,
    *,
    voice: str = "en-us",
    rate_wpm: int = 150,
    pitch: int = 50,
    word_gap: int = 0,
) -> SpeechTrack:
    """Synthesise ``text`` with espeak-ng and return the audio with exact word onsets.

    Args:
        text: What to say (plain text; punctuation shapes the prosody).
        voice: espeak-ng voice name (``en-us``, ``en``, ``en-us+f3``...).
        rate_wpm: Speaking rate in words per minute, 80 to 450.
        pitch: Base pitch, 0 to 99.
        word_gap: Extra pause between words in units of 10 ms, 0 to 100.

    Returns:
        The track at espeak's native rate (22050 Hz) with one :class:`SpeechWord` per word
        of ``text`` (a word is a run of letters, digits and apostrophes).

    Raises:
        ValueError: A setting is out of range, the text has no words, or the voice does not
            exist.
        VideoAssetsError: libespeak-ng is missing or synthesis failed.
    """
    if not 80 <= rate_wpm <= 450:
        raise ValueError(f"rate_wpm must be in [80, 450], got {rate_wpm}")
    if not 0 <= pitch <= 99:
        raise ValueError(f"pitch must be in [0, 99], got {pitch}")
    if not 0 <= word_gap <= 100:
        raise ValueError(f"word_gap must be in [0, 100], got {word_gap}")
    tokens = [(m.start(), m.group(0)) for m in _WORD_CHARS.finditer(text)]
    if not tokens:
        raise ValueError(f"text has no words: {text!r}")
    try:
        synthesis = espeak.synthesize_pcm(text, voice, rate_wpm, pitch, word_gap)
    except espeak.EspeakError as exc:
        raise VideoAssetsError(str(exc)) from None
    audio, events = np.frombuffer(synthesis.pcm, dtype=np.int16).copy(), synthesis.events
    rate = synthesis.sample_rate

    # text_position counts characters from 1 (checked with accented text on espeak-ng 1.51).
    onsets: dict[int, int] = {}
    end_sample = len(audio)
    for etype, text_pos, _length, sample in events:
        if etype == espeak.EVENT_WORD:
            onsets.setdefault(text_pos - 1, sample)
        elif etype == espeak.EVENT_MSG_TERMINATED and sample > 0:
            end_sample = min(end_sample, sample)

    own = [pos in onsets for pos, _ in tokens]
    resolved: list[int] = []  # a joined word takes the onset of the word it was joined to
    for i, (pos, _) in enumerate(tokens):
        resolved.append(onsets[pos] if own[i] else (resolved[-1] if resolved else 0))
    words = []
    for i, (_pos, word) in enumerate(tokens):
        start = resolved[i]
        nxt = next((s for s in resolved[i + 1 :] if s > start), end_sample)
        end = _speech_end(audio, start, nxt, rate)
        words.append(SpeechWord(word=word, start=start / rate, end=end / rate, has_event=own[i]))
    return SpeechTrack(samples=audio, sample_rate=rate, words=words, text=text, voice=voice)


def make_speech_track(
    text_or_sentences: str | Sequence[str],
    *,
    voice: str = "en-us",
    rate_wpm: int = 150,
    pitch: int = 50,
    lead_s: float = 0.5,
    gap_s: float = 0.6,
    tail_s: float = 0.5,
) -> SpeechTrack:
    """Synthesise sentences one by one and join them with pauses of ``gap_s`` seconds.

    Args:
        text_or_sentences: One text, or a list of sentences synthesised separately.
        voice: espeak-ng voice name.
        rate_wpm: Speaking rate in words per minute.
        pitch: Base pitch, 0 to 99.
        lead_s: Silence before the first sentence, in seconds (0 to 60).
        gap_s: Silence between sentences, in seconds (0 to 60).
        tail_s: Silence after the last sentence, in seconds (0 to 60).

    Returns:
        One track whose word times count from its first sample.
    """
    for name, value in (("lead_s", lead_s), ("gap_s", gap_s), ("tail_s", tail_s)):
        if not 0 <= value <= 60:
            raise ValueError(f"{name} must be in [0, 60] seconds, got {value}")
    sentences = (
        [text_or_sentences] if isinstance(text_or_sentences, str) else list(text_or_sentences)
    )
    if not sentences:
        raise ValueError("no sentences given")
    rate = _sample_rate()
    pos = int(round(lead_s * rate))
    parts: list[np.ndarray] = [np.zeros(pos, np.int16)]
    words: list[SpeechWord] = []
    for k, sentence in enumerate(sentences):
        track = synthesize(sentence, voice=voice, rate_wpm=rate_wpm, pitch=pitch)
        offset = pos / rate
        words += [
            SpeechWord(w.word, w.start + offset, w.end + offset, w.has_event) for w in track.words
        ]
        parts.append(track.samples)
        pos += len(track.samples)
        pad = int(round((gap_s if k < len(sentences) - 1 else tail_s) * rate))
        parts.append(np.zeros(pad, np.int16))
        pos += pad
    return SpeechTrack(
        samples=np.concatenate(parts),
        sample_rate=rate,
        words=words,
        text=" ".join(sentences),
        voice=voice,
    )


@dataclass(frozen=True)
class Line:
    """One line of a dialogue: who says what, and how far it runs over the previous line."""

    speaker: str
    text: str
    overlap_s: float = 0.0
    """Seconds before the end of the previous line at which this one starts (0: after a pause)."""


@dataclass(frozen=True)
class SpokenTurn:
    """Ground truth of a dialogue: one speaker from the first word's onset to the last word's end."""

    start: float
    end: float
    speaker: str


@dataclass
class Dialogue:
    """Several espeak voices taking turns (and overlapping where asked), with the truth."""

    track: SpeechTrack
    """The mixed speech; its words carry their ``speaker``, in the order of the text (the
    words of overlapping lines are not interleaved, as a transcript would not interleave them)."""
    turns: list[SpokenTurn]

    @property
    def speakers(self) -> list[str]:
        return sorted({t.speaker for t in self.turns})


def make_dialogue(
    lines: Sequence[Line],
    voices: dict[str, tuple[str, int]],
    *,
    gap_s: float = 0.6,
    lead_s: float = 0.5,
    tail_s: float = 0.5,
    rate_wpm: int = 150,
) -> Dialogue:
    """Synthesise a dialogue: each line in its speaker's voice, one after another.

    Args:
        lines: The lines in order. A line with ``overlap_s > 0`` starts that many seconds
            before the previous line's speech ends (both voices are heard at once); other
            lines start ``gap_s`` after it.
        voices: Per speaker, the espeak-ng voice name and base pitch (0 to 99).
        gap_s: Pause between lines that do not overlap, 0 to 60 seconds.
        lead_s: Silence before the first line, 0 to 60 seconds.
        tail_s: Silence after the last line, 0 to 60 seconds.
        rate_wpm: Speaking rate.

    Returns:
        The mixed track (22050 Hz) with every word's time and speaker, and one turn per line.

    Raises:
        ValueError: A line names a speaker without a voice, overlaps by more than the
            previous line lasts, or a pause is out of range.
    """
    for name, value in (("gap_s", gap_s), ("lead_s", lead_s), ("tail_s", tail_s)):
        if not 0 <= value <= 60:
            raise ValueError(f"{name} must be in [0, 60] seconds, got {value}")
    if not lines:
        raise ValueError("no lines given")
    rate = _sample_rate()
    placed: list[tuple[int, np.ndarray, list[SpeechWord], str]] = []
    prev_end = int(round(lead_s * rate))  # where the previous line's speech ended (samples)
    prev_start = prev_end
    for k, line in enumerate(lines):
        if line.speaker not in voices:
            raise ValueError(f"line {k} is spoken by {line.speaker!r}, who has no voice")
        voice, pitch = voices[line.speaker]
        track = synthesize(line.text, voice=voice, rate_wpm=rate_wpm, pitch=pitch)
        first = int(round(track.words[0].start * rate))  # espeak's own lead-in silence
        if k == 0:
            onset = prev_end
        elif line.overlap_s > 0:
            onset = prev_end - int(round(line.overlap_s * rate))
            if onset <= prev_start:
                raise ValueError(
                    f"line {k} overlaps by {line.overlap_s} s, longer than line {k - 1}"
                )
        else:
            onset = prev_end + int(round(gap_s * rate))
        offset = onset - first  # sample position of the synthesised audio's first sample
        placed.append((offset, track.samples, track.words, line.speaker))
        prev_start = onset
        prev_end = offset + int(round(track.words[-1].end * rate))
    total = max(prev_end + int(round(tail_s * rate)), max(o + len(a) for o, a, _, _ in placed))
    mix = np.zeros(total, np.float64)
    words: list[SpeechWord] = []
    turns: list[SpokenTurn] = []
    texts = []
    for (offset, samples, line_words, speaker), line in zip(placed, lines, strict=True):
        mix[offset : offset + len(samples)] += samples
        t0 = offset / rate
        words += [
            SpeechWord(w.word, w.start + t0, w.end + t0, w.has_event, speaker) for w in line_words
        ]
        turns.append(SpokenTurn(line_words[0].start + t0, line_words[-1].end + t0, speaker))
        texts.append(line.text)
    mix = np.clip(np.round(mix), -32768, 32767).astype(np.int16)
    return Dialogue(
        track=SpeechTrack(samples=mix, sample_rate=rate, words=words, text=" ".join(texts)),
        turns=turns,
    )


def resample(audio: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Band-limited resampling of float audio (last axis is time) with julius."""
    if src_rate == dst_rate:
        return audio.astype(np.float32, copy=False)
    import julius
    import torch

    out = julius.resample_frac(
        torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), src_rate, dst_rate
    )
    return out.numpy()


def music_bed(
    duration_s: float, rate: int, *, seed: int = 0, bpm: float = 100.0, lead: bool = False
) -> np.ndarray:
    """A synthetic music bed: a chord progression, a bass line and noise percussion.

    Args:
        duration_s: Length in seconds (> 0).
        rate: Sample rate.
        seed: Seed of the generator (same seed, same samples).
        bpm: Tempo in beats per minute.
        lead: Add a lead melody in the range of a voice (220 to 660 Hz, a harmonic tone
            with vibrato, one note per beat): the hard case for a vocal separator.

    Returns:
        float32 mono samples normalised to an RMS of 0.1.
    """
    if duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * rate))
    t = np.arange(n) / rate
    beat = 60.0 / bpm
    # I-V-vi-IV: chord roots in Hz (C4, G3, A3, F3) and the third in semitones.
    chords = [(261.63, 4), (196.00, 4), (220.00, 3), (174.61, 4)]
    out = np.zeros(n, np.float64)
    bar_idx = (t // (4 * beat)).astype(int) % len(chords)
    for k, (root, third) in enumerate(chords):
        mask = bar_idx == k
        if not mask.any():
            continue
        tt = t[mask]
        for semis, amp in ((0, 0.5), (third, 0.35), (7, 0.35)):
            f = root * 2 ** (semis / 12)
            for h in (1, 3, 5):  # odd harmonics: a soft square-ish pad
                out[mask] += amp / h * np.sin(2 * np.pi * f * h * tt + rng.uniform(0, 2 * np.pi))
        out[mask] += 0.6 * np.sin(2 * np.pi * root / 2 * tt)  # bass an octave below
    burst = int(0.06 * rate)
    env = np.exp(-np.arange(burst) / (0.012 * rate))
    for b in range(int(duration_s / beat) + 1):  # a noise hit on every beat, louder on 1 and 3
        s = int(b * beat * rate)
        if s >= n:
            break
        e = min(n, s + burst)
        out[s:e] += (1.2 if b % 2 == 0 else 0.6) * env[: e - s] * rng.standard_normal(e - s)
    if lead:
        out += _lead_melody(t, rate, beat, np.random.default_rng(seed + 7919)) * np.std(out)
    out /= np.sqrt(np.mean(out**2)) + 1e-12
    return (0.1 * out).astype(np.float32)


def _lead_melody(t: np.ndarray, rate: int, beat: float, rng: np.random.Generator) -> np.ndarray:
    """One note per beat from an A minor pentatonic scale, harmonics and 5.5 Hz vibrato, RMS ~0.7."""
    scale = 220.0 * 2 ** (np.array([0, 3, 5, 7, 10, 12, 15, 17, 19]) / 12)
    notes = scale[rng.integers(0, len(scale), int(t[-1] / beat) + 2)]
    idx = (t // beat).astype(int)
    freq = notes[idx] * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(freq) / rate
    pos = (t % beat) / beat  # attack and release inside each note
    env = np.minimum(1.0, pos / 0.05) * np.minimum(1.0, (1 - pos) / 0.15)
    tone = sum(np.sin(h * phase) / h for h in (1, 2, 3, 4, 5))
    return env * tone


def active_rms(audio: np.ndarray, rate: int, floor_db: float = -50.0) -> float:
    """RMS over the 20 ms windows whose own RMS is above ``floor_db`` dBFS."""
    win = max(1, int(0.02 * rate))
    n = len(audio) // win * win
    if n == 0:
        return 0.0
    frames = audio[:n].reshape(-1, win).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    active = frames[rms > 10 ** (floor_db / 20)]
    return float(np.sqrt(np.mean(active**2))) if active.size else 0.0


def mix_with_music(
    speech: np.ndarray, rate: int, *, music_db: float, seed: int = 0, lead: bool = False
) -> np.ndarray:
    """Put a music bed under ``speech`` at ``music_db`` relative to the speech level.

    The speech level is the RMS of its active samples (20 ms windows above -50 dBFS), so
    pauses do not lower it; ``music_db=-10`` puts the music RMS 10 dB below that. The mix is
    scaled down if it would clip.

    Args:
        speech: float32 mono speech in [-1, 1].
        rate: Its sample rate.
        music_db: Music RMS relative to the active-speech RMS, in dB (-60 to +20).
        seed: Seed of the music generator.
        lead: Give the music a lead melody in the voice's range (see :func:`music_bed`).

    Returns:
        float32 mono mix of the same length.
    """
    if not -60 <= music_db <= 20:
        raise ValueError(f"music_db must be in [-60, 20] dB, got {music_db}")
    speech = np.asarray(speech, dtype=np.float32)
    level = active_rms(speech, rate)
    if level == 0:
        raise ValueError("speech is silent; a music level relative to it is undefined")
    music = music_bed(len(speech) / rate, rate, seed=seed, lead=lead)[: len(speech)]
    music *= level * 10 ** (music_db / 20) / (np.sqrt(np.mean(music**2)) + 1e-12)
    mix = speech + music
    peak = float(np.max(np.abs(mix)))
    if peak > 0.99:
        mix *= 0.99 / peak
    return mix.astype(np.float32)


def mux_audio(
    video: str | Path,
    wav_path: str | Path,
    out_path: str | Path,
    *,
    offset_s: float = 0.0,
    duration_s: float | None = None,
    audio_codec: str = "aac",
) -> Path:
    """Replace the audio of ``video`` by ``wav_path``, delayed by ``offset_s``.

    Args:
        video: A video file, or a lavfi source spec such as ``"testsrc2=size=320x240:rate=25"``
            (anything that is not an existing file is taken as a lavfi graph).
        wav_path: The audio to put in.
        out_path: Output file (container chosen by its extension: ``.mp4``, ``.mkv``...).
        offset_s: Delay of the audio in the output, in seconds (>= 0).
        duration_s: Output length; defaults to the video's length (a file) or the audio's
            length plus the offset (a lavfi source). Audio shorter than that is padded with
            silence, longer audio is cut.
        audio_codec: ffmpeg audio encoder (``aac``; ``pcm_s16le`` for .mkv/.mov).

    Returns:
        ``out_path``, written under a temporary name and renamed into place.

    Raises:
        ToolError: ffmpeg failed.
    """
    if offset_s < 0:
        raise ValueError(f"offset_s must be >= 0, got {offset_s}")
    out_path = Path(out_path)
    video_is_file = Path(str(video)).is_file()
    with wave.open(str(wav_path), "rb") as w:
        audio_s = w.getnframes() / w.getframerate()
    if duration_s is None:
        if video_is_file:
            from video_assets.probe import probe

            duration_s = probe(video).duration_s
        else:
            duration_s = audio_s + offset_s
    args = ffmpeg_base()
    args += ["-i", media_arg(video)] if video_is_file else ["-f", "lavfi", "-i", str(video)]
    args += ["-i", media_arg(wav_path)]
    delay_ms = int(round(offset_s * 1000))
    graph = f"[1:a]adelay={delay_ms}:all=1,apad[a]" if delay_ms else "[1:a]apad[a]"
    args += ["-filter_complex", graph, "-map", "0:v:0", "-map", "[a]", "-t", f"{duration_s:.6f}"]
    if video_is_file:
        args += ["-c:v", "copy"]
    else:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += ["-c:a", audio_codec, "-ar", "48000" if audio_codec == "aac" else "44100"]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".tmp-{out_path.stem}{out_path.suffix}")
    try:
        run_tool(
            [*args, media_arg(tmp)],
            timeout_s=120 + 4 * duration_s,
            what=f"muxing audio into {out_path}",
        )
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def make_speech_video(
    out_path: str | Path,
    text_or_sentences: str | Sequence[str],
    *,
    video: str | Path = "testsrc2=size=320x240:rate=25",
    offset_s: float = 0.0,
    music_db: float | None = None,
    voice: str = "en-us",
    rate_wpm: int = 150,
    seed: int = 0,
    duration_s: float | None = None,
    audio_codec: str = "aac",
) -> SpeechVideo:
    """Make a video whose audio is espeak speech (optionally over music), with its truth.

    Args:
        out_path: The video to write.
        text_or_sentences: Text, or sentences separated by pauses.
        video: An existing video file (its pictures are kept, its audio replaced) or a lavfi
            video source spec.
        offset_s: Where the speech starts in the video, in seconds.
        music_db: Music bed level relative to the speech in dB, or None for speech alone.
        voice: espeak-ng voice.
        rate_wpm: Speaking rate.
        seed: Seed of the music bed.
        duration_s: Output length (see :func:`mux_audio`).
        audio_codec: ffmpeg audio encoder.

    Returns:
        The file and the word timings in the video's time line.
    """
    track = make_speech_track(text_or_sentences, voice=voice, rate_wpm=rate_wpm)
    audio = track.as_float(44100)
    if music_db is not None:
        audio = mix_with_music(audio, 44100, music_db=music_db, seed=seed)
    with tempfile.TemporaryDirectory(prefix="va-speech-") as tmp:
        wav = write_wav(Path(tmp) / "speech.wav", audio, 44100)
        path = mux_audio(
            video, wav, out_path, offset_s=offset_s, duration_s=duration_s, audio_codec=audio_codec
        )
    words = [
        SpeechWord(w.word, w.start + offset_s, w.end + offset_s, w.has_event) for w in track.words
    ]
    return SpeechVideo(path=path, words=words, speech=track, offset_s=offset_s, music_db=music_db)


STEM_DIALOGUE = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "She sells sea shells by the sea shore every summer morning.",
    "Our meeting starts at nine and should end before lunch.",
    "Please remember to water the plants while I am away.",
    "The train to the city leaves from platform number four.",
    "He opened the window to let the cool evening air inside.",
]
"""What :func:`write_dialogue_stem` has two voices say."""


def write_dialogue_stem(path: str | Path, minutes: float, every_s: float = 300.0) -> float:
    """A long 16 kHz mono WAV for memory and speed benchmarks: noise at -66 dBFS with two
    espeak-ng voices taking turns over :data:`STEM_DIALOGUE` 30 s into every ``every_s``
    seconds, so every transcription phase (VAD, Whisper, alignment, diarization) has work
    all along the track; written a block at a time. Returns the dialogue's length in s."""
    from video_assets.audio.wavfile import WavWriter

    voices = {"A": ("en-us", 40), "B": ("en-us+f3", 70)}
    lines = [Line("AB"[i % 2], s) for i, s in enumerate(STEM_DIALOGUE)]
    speech = make_dialogue(lines, voices).track.as_float(16000)
    rng = np.random.default_rng(0)
    total, every, at, pos = int(minutes * 60 * 16000), int(every_s * 16000), 30 * 16000, 0
    with WavWriter(path, 16000, 1) as wav:
        while pos < total:
            block = rng.normal(0.0, 0.0005, min(every, total - pos)).astype(np.float32)
            k = max(0, min(len(speech), len(block) - at))
            block[at : at + k] += speech[:k]
            wav.write(block)
            pos += len(block)
    return len(speech) / 16000
