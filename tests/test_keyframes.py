import json
import subprocess

import numpy as np
import pytest

from tests.conftest import ffmpeg
from video_assets.errors import MediaError
from video_assets.keyframes import build_index


def ffprobe_keyframes(path) -> list[float]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
    ).stdout
    return sorted(float(p["pts_time"]) for p in json.loads(out)["packets"] if "K" in p["flags"])


@pytest.mark.parametrize("fixture", ["scenecut_video", "fixed_gop_video"])
def test_keyframes_match_packet_flags(fixture, request):
    video = request.getfixturevalue(fixture)
    index = build_index(video.path)
    assert index.frame_count == video.frame_count
    assert index.fps == pytest.approx(25.0)
    assert index.duration_s == pytest.approx(video.frame_count / 25, abs=1e-6)
    assert [k.pts_s for k in index.keyframes] == pytest.approx(
        ffprobe_keyframes(video.path), abs=1e-6
    )
    assert index.keyframes[0].frame == 0
    # Frames are numbered in presentation order: times strictly increase.
    assert np.all(np.diff(index.pts_s) > 0)


def test_fixed_gop_keyframes_every_100_frames(fixed_gop_video):
    assert [k.frame for k in build_index(fixed_gop_video.path).keyframes] == [0, 100, 200, 300, 400]


def test_avi_and_variable_frame_rate(media, fixed_gop_video):
    avi = media / "mpeg4.avi"
    ffmpeg(
        "-i", str(fixed_gop_video.path), "-an", "-c:v", "mpeg4", "-g", "50", "-bf", "0", str(avi)
    )
    index = build_index(avi)
    assert index.frame_count == fixed_gop_video.frame_count
    assert [k.frame for k in index.keyframes][:3] == [0, 50, 100]

    vfr = media / "vfr.mkv"
    # Drop every third frame: timestamps keep their gaps, frame numbers stay ordinal.
    ffmpeg(
        "-i",
        str(fixed_gop_video.path),
        "-an",
        "-vf",
        "select='mod(n,3)'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-g",
        "30",
        str(vfr),
    )
    index = build_index(vfr)
    assert index.frame_count == len([n for n in range(fixed_gop_video.frame_count) if n % 3])
    gaps = np.diff(index.pts_s)
    assert gaps.max() == pytest.approx(0.08, abs=2e-3) and gaps.min() == pytest.approx(
        0.04, abs=2e-3
    )


def test_no_video_stream_is_a_clear_error(media):
    wav = media / "tone only.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=d=1", str(wav))
    with pytest.raises(MediaError, match="tone only.m4a: has no video stream"):
        build_index(wav)
