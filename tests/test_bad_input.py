"""Bad input: a clear error naming the file, non-zero exit, the source untouched, no output."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ffmpeg, sha256


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "video_assets.cli", *args], capture_output=True, text=True
    )


def make_bad(kind: str, folder, good) -> "os.PathLike":
    if kind == "zero":
        p = folder / "empty.mp4"
        p.write_bytes(b"")
    elif kind == "random":
        p = folder / "random.mp4"
        p.write_bytes(os.urandom(50_000))
    elif kind == "truncated":
        p = folder / "truncated.mp4"
        data = good.read_bytes()
        p.write_bytes(data[: len(data) // 3])  # faststart: moov kept, most of mdat gone
    elif kind == "no_moov":
        p = folder / "no moov.mp4"
        ffmpeg("-f", "lavfi", "-i", "testsrc2=d=2", "-movflags", "0", str(folder / "tmp.mp4"))
        data = (folder / "tmp.mp4").read_bytes()
        p.write_bytes(data[: len(data) - 2000])  # the moov atom sits at the end: cut it off
    elif kind == "audio_only":
        p = folder / "audio only.mp4"
        ffmpeg("-f", "lavfi", "-i", "sine=d=2", str(p))
    else:
        raise AssertionError(kind)
    return p


@pytest.mark.parametrize(
    "kind,message",
    [
        pytest.param("zero", "is empty", id="zero-byte"),
        pytest.param("random", "not a readable media file", id="random-bytes"),
        pytest.param("no_moov", "not a readable media file", id="moov-missing"),
        pytest.param("audio_only", "has no video stream", id="audio-only"),
    ],
)
@pytest.mark.parametrize("command", ["keyframes", "scenes", "split"])
def test_bad_file_fails_clearly(kind, message, command, tmp_path, fixed_gop_video):
    bad = make_bad(kind, tmp_path, fixed_gop_video.path)
    before = sha256(bad)
    extra = ["--out", str(tmp_path / "out")] if command == "split" else []
    proc = cli(command, str(bad), *extra, "--json")
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and message in proc.stderr
    assert proc.stdout == ""
    assert sha256(bad) == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_truncated_mid_mdat_is_reported_or_indexed(tmp_path, fixed_gop_video):
    bad = make_bad("truncated", tmp_path, fixed_gop_video.path)
    before = sha256(bad)
    proc = cli("keyframes", str(bad), "--json")
    # The moov atom still lists every sample: the index is read from it, decoding would fail.
    assert proc.returncode in (0, 2)
    if proc.returncode == 2:
        assert str(bad) in proc.stderr
    assert sha256(bad) == before


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("with space.mp4", id="space"),
        pytest.param('it\'s "quoted".mp4', id="quotes"),
        pytest.param("ünïcødé 影片.mp4", id="unicode"),
        pytest.param("-leading-dash.mp4", id="leading-dash"),
        pytest.param("$(touch pwned).mp4", id="shell-substitution"),
        pytest.param("concat:evil.mp4", id="protocol-like"),
    ],
)
def test_awkward_names_work(name, tmp_path, fixed_gop_video):
    path = tmp_path / name
    shutil.copyfile(fixed_gop_video.path, path)
    out = tmp_path / "clips dir"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "video_assets.cli",
            "split",
            "--out",
            str(out),
            "--json",
            "--",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["clips"] and all(c["leaked_frames"] == 0 for c in payload["clips"])
    assert not (tmp_path / "pwned").exists()
    assert sha256(path) == sha256(fixed_gop_video.path)


def test_missing_file(tmp_path):
    proc = cli("scenes", str(tmp_path / "nope.mp4"))
    assert proc.returncode == 2 and "nope.mp4: does not exist" in proc.stderr
