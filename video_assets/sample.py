"""The sample video the main job runs on when no video is given: real cuts and speech."""

from __future__ import annotations

from pathlib import Path

from video_assets.synth import SyntheticVideo, make_shots_video
from video_assets.tools import ffmpeg_base, run_tool

SAMPLE_TEXT = (
    "Welcome to the video assets sample. This pipeline cuts long videos into clean shots. "
    "Every clip keeps its own words and its own tokens. "
    "The transcript is aligned to the waveform, word by word. "
    "Low confidence words are flagged and never silently kept."
)
# Shot lengths (frames at 25 fps): three cut mid-GOP under a fixed GOP, one short scene.
SAMPLE_SHOTS = [150, 110, 40, 175, 125, 140]


def make_sample(out: Path, *, size: tuple[int, int] = (640, 360)) -> SyntheticVideo:
    """Render the sample: six shots (one shorter than 3 s), fixed 100-frame GOP, speech.

    Speech comes from espeak-ng over a quiet synthetic music bed, so the audio stage has
    words to find and the video stage has cuts that fall between keyframes.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    wav = out.with_suffix(".speech.wav")
    total_s = sum(SAMPLE_SHOTS) / 25
    run_tool(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), "--", SAMPLE_TEXT], timeout_s=60,
             what="synthesising sample speech")
    mixed = out.with_suffix(".mix.wav")
    run_tool([*ffmpeg_base(), "-i", f"file:{wav.absolute()}",
              "-f", "lavfi", "-i", f"sine=frequency=220:sample_rate=22050:duration={total_s}",
              "-filter_complex", "[0:a]apad[s];[1:a]volume=0.05[m];[s][m]amix=inputs=2:duration=shortest:normalize=0",
              "-ar", "48000", "-t", f"{total_s}", f"file:{mixed.absolute()}"], timeout_s=60, what="mixing sample audio")
    try:
        return make_shots_video(out, SAMPLE_SHOTS, size=size, fps=25, encoding="fixed_gop", gop=100,
                                audio=mixed, seed=7)
    finally:
        wav.unlink(missing_ok=True)
        mixed.unlink(missing_ok=True)
