"""Shared media and models for the audio-stage tests, built once per test process.

Everything is generated: espeak-ng speech with exact word onsets, ffmpeg lavfi videos,
and randomly initialised models of the real architectures (an HTDemucs saved as a Demucs
repository, a Wav2Vec2ForCTC with an English character vocabulary).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

# Six plain sentences (69 words): enough for stable timing statistics, short enough for CPU.
SENTENCES = [
    "The weather was cold and the wind blew across the open field.",
    "She opened the letter and read it twice before she spoke.",
    "Our team will meet again on Monday morning to review the plan.",
    "He carried the heavy boxes up the stairs without any help.",
    "A small boat drifted slowly toward the rocky shore at dawn.",
    "Please remember to turn off the lights when you leave the room.",
]

_ROOT = Path(tempfile.mkdtemp(prefix="va-audio-tests-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


def workdir(name: str) -> Path:
    path = _ROOT / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True
    )


@functools.cache
def speech_track():
    """The test sentences as one espeak track (22050 Hz) with its word truth."""
    from video_assets.generate.speech import make_speech_track

    return make_speech_track(SENTENCES, lead_s=0.5, gap_s=0.7, tail_s=0.5)


@functools.cache
def speech_wav_16k() -> Path:
    return speech_track().save_wav(workdir("speech") / "speech_16k.wav", rate=16000)


@functools.cache
def tiny_demucs_repo() -> Path:
    from video_assets.generate.audio_models import save_random_htdemucs

    return save_random_htdemucs(workdir("demucs_repo"), name="htdemucs_tiny", size="tiny", seed=0)


@functools.cache
def tiny_wav2vec2() -> Path:
    from video_assets.generate.audio_models import save_random_wav2vec2

    return save_random_wav2vec2(workdir("wav2vec2_en"), seed=0)


@functools.cache
def random_diarization_pipeline() -> Path:
    from video_assets.generate.audio_models import save_random_diarization_pipeline

    return save_random_diarization_pipeline(workdir("diarization"), seed=0)


def tone_video(
    path: Path, *, seconds: float = 2.0, audio: list[tuple[int, bool]] | None = None
) -> Path:
    """A lavfi video with one sine stream per ``(frequency, default)`` entry (none: no audio)."""
    args = ["-f", "lavfi", "-i", f"testsrc2=size=64x48:rate=10:duration={seconds}"]
    for freq, _ in audio or []:
        args += ["-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate=44100:duration={seconds}"]
    args += ["-map", "0:v"]
    for k in range(len(audio or [])):
        args += ["-map", f"{k + 1}:a"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac"]
        for k, (_, default) in enumerate(audio):
            args += [f"-disposition:a:{k}", "default" if default else "0"]
    ffmpeg(*args, str(path))
    return path


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])
