"""The sample video the main job runs on when no video is given: real cuts and speech."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from video_assets.generate.speech import SpeechWord, make_speech_video
from video_assets.generate.synth import SyntheticVideo, make_shots_video

SAMPLE_SENTENCES = [
    "Welcome to the video assets sample.",
    "This pipeline cuts long videos into clean shots.",
    "Every clip keeps its own words and its own tokens.",
    "The transcript is aligned to the waveform, word by word.",
    "Low confidence words are flagged and never silently kept.",
]
# Shot lengths (frames at 25 fps): three cut mid-GOP under a fixed GOP, one short scene.
SAMPLE_SHOTS = [150, 110, 40, 175, 125, 140]
SAMPLE_FPS = 25
SAMPLE_MUSIC_DB = -15.0
"""Music bed level relative to the speech: audible, as in a vlog, yet below the voice."""


@dataclass
class SampleVideo:
    """The sample file with its ground truth: cut frames and espeak-ng word timings."""

    video: SyntheticVideo
    words: list[SpeechWord]

    @property
    def path(self) -> Path:
        return self.video.path

    @property
    def cuts(self) -> list[int]:
        return self.video.cuts

    def to_json(self) -> dict:
        return {
            "path": str(self.path),
            "fps": self.video.fps,
            "frame_count": self.video.frame_count,
            "cuts": self.cuts,
            "words": [
                {"word": w.word, "start": round(w.start, 4), "end": round(w.end, 4)}
                for w in self.words
            ],
        }


def make_sample(out: Path, *, size: tuple[int, int] = (640, 360)) -> SampleVideo:
    """Render the sample: six shots (one shorter than 3 s), fixed 100-frame GOP, speech.

    Speech comes from espeak-ng (with its exact word timings) over a synthetic music bed
    15 dB below it, so the audio stage has a voice to separate and words to align, and the
    video stage has cuts that fall between keyframes.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    total_s = sum(SAMPLE_SHOTS) / SAMPLE_FPS
    with tempfile.TemporaryDirectory(prefix="va-sample-", dir=out.parent) as tmp:
        shots = make_shots_video(
            Path(tmp) / "shots.mp4",
            SAMPLE_SHOTS,
            size=size,
            fps=SAMPLE_FPS,
            encoding="fixed_gop",
            gop=100,
            audio="none",
            seed=7,
        )
        speech = make_speech_video(
            out,
            SAMPLE_SENTENCES,
            video=shots.path,
            offset_s=0.5,
            music_db=SAMPLE_MUSIC_DB,
            seed=7,
            duration_s=total_s,
        )
    return SampleVideo(video=replace(shots, path=speech.path), words=speech.words)
