"""A generated corpus of bad and awkward media files, each with the outcome it must give.

Every file is made here with ffmpeg lavfi sources, or from the bytes of one made here, and
is tiny (160x90, at most 3.6 s), so the whole corpus builds in a few seconds. The two-shot
files cut from testsrc2 to smptebars at frame 30, inside a fixed 100-frame GOP with
B-frames: ``split`` stream-copies the first scene and re-encodes the second (it holds no
keyframe), so both clip paths run on every file.

:data:`CASES` is the table (what each file is and what must come of it), known before any
file exists so tests can be parametrized by it; :func:`build_corpus` writes the files;
:func:`run_cli` runs one command on one file and :func:`judge` lists every way the run
differs from what the table promises. Used by ``tests/test_bad_corpus.py`` (the
``bad_corpus`` fixture of ``tests/conftest.py``, built once per module) and ``bench/faults.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

FPS = 25
SIZE = (160, 90)
SHOT_FRAMES = 30
"""Frames per shot: the cut is at frame 30."""
MIN_CLIP_S = 1.0
"""``split --min-duration`` used on the corpus: both 1.2 s shots become clips."""
CLI_TIMEOUT_S = 120.0
"""A command still running after this long counts as a hang."""
SENTINEL = "keep-me.txt"
"""A file put in the ``split --out`` folder before the run: it must come out unchanged."""
COMMANDS = ("keyframes", "scenes", "split")

Outcome = Literal["ok", "error", "ok-or-error"]
"""``ok``: exit 0 with a correct result; ``error``: exit 2, stderr naming the file and
``problem``, stdout empty; ``ok-or-error``: either of those, never a hang, crash or traceback."""


@dataclass(frozen=True)
class Case:
    """One corpus file and what the CLI must make of it.

    Attributes:
        case: Short id (a pytest id and the bench's row name).
        name: File name in the corpus folder.
        outcome: What every command must do with the file.
        note: What the file is, in words.
        problem: For ``error``, a phrase the error message must contain.
        frames: For ``ok``, the exact number of video frames.
        duration_s: For ``ok``, the video's duration.
        cuts: For ``ok``, the first frame of every shot after the first.
        clips: For ``ok``, how many clips ``split --min-duration 1`` writes.
        audio_streams: Audio streams in the file (clips carry one when this is non-zero).
        rotation: Display rotation in degrees the file states.
        commands: The commands the tests run on it (the bench runs all three on every file).
        registration: For a file the landing scan must refuse before any run (its first
            bytes name no container), a phrase of the error; empty when it registers.
    """

    case: str
    name: str
    outcome: Outcome
    note: str
    problem: str = ""
    frames: int | None = 2 * SHOT_FRAMES
    duration_s: float | None = 2 * SHOT_FRAMES / FPS
    cuts: tuple[int, ...] = (SHOT_FRAMES,)
    clips: int | None = 2
    audio_streams: int = 1
    rotation: int = 0
    commands: tuple[str, ...] = ("scenes", "split")
    registration: str = ""


def _error(case: str, name: str, note: str, problem: str, registration: str = "") -> Case:
    # test_bad_input runs every command on the classic bad files; split (index, probe,
    # detection, then the out folder) is the one run here.
    return Case(
        case,
        name,
        "error",
        note,
        problem=problem,
        frames=None,
        duration_s=None,
        cuts=(),
        clips=None,
        audio_streams=0,
        commands=("split",),
        registration=registration,
    )


def _named(case: str, name: str, commands: tuple[str, ...]) -> Case:
    hidden = " (a dotfile: the landing scan skips it as hidden)" if name.startswith(".") else ""
    return Case(case, name, "ok", f"a valid file named {name!r}{hidden}", commands=commands)


CASES: list[Case] = [
    _error(
        "zero-byte", "empty.mp4", "an empty file", "is empty (0 bytes)", registration="is empty"
    ),
    _error(
        "random-bytes",
        "random.mp4",
        "64 kB of random bytes named .mp4",
        "is not a readable media file",
        registration="is not a video file",
    ),
    _error(
        "absurd-duration",
        "absurd-duration.mp4",
        "a valid 4 s file whose mvhd box claims 4,294,967 s (49.7 days)",
        "claims an absurd duration",
    ),
    _error(
        "absurd-resolution",
        "absurd-resolution.avi",
        "raw video in AVI whose BITMAPINFOHEADER claims 20000x12000 (ffmpeg accepts it; 16K is 15360)",
        "claims an absurd resolution 20000x12000",
    ),
    _error(
        "moov-missing",
        "moov-missing.mp4",
        "no +faststart, cut where the moov atom starts",
        "is not a readable media file",
    ),
    _error(
        "moov-cut",
        "moov-cut.mp4",
        "no +faststart, cut 64 bytes into the moov atom",
        "contains no audio or video streams",
    ),
    _error("audio-only", "audio-only.mp4", "an AAC track and no video", "has no video stream"),
    Case(
        "mdat-cut",
        "mdat-cut.mp4",
        "ok-or-error",
        "+faststart, cut halfway through mdat: the moov lists samples that are gone",
        commands=COMMANDS,
    ),
    Case(
        "corrupt-middle",
        "corrupt-middle.mp4",
        "ok-or-error",
        "4 kB of random bytes over the middle of mdat",
        commands=COMMANDS,
    ),
    Case(
        "video-only",
        "video-only.mp4",
        "ok",
        "no audio stream: clips without audio",
        audio_streams=0,
    ),
    Case(
        "vfr",
        "vfr.mp4",
        "ok",
        "variable frame rate: 12.5 fps for the first shot, 25 fps after",
        duration_s=3.6,
        commands=COMMANDS,
    ),
    Case(
        "rotated",
        "rotated.mp4",
        "ok",
        "a 90-degree display matrix (-metadata:s:v:0 rotate=90)",
        rotation=90,
    ),
    Case("10-bit", "10bit.mp4", "ok", "H.264 High 10, yuv420p10le"),
    Case("odd-x264-444", "odd 444.mp4", "ok", "321x181, H.264 4:4:4"),
    Case("odd-mpeg4", "odd mpeg4.mp4", "ok", "321x181, MPEG-4 Part 2 4:2:0"),
    Case(
        "short-0.5s",
        "short.mp4",
        "ok",
        "0.48 s: one scene, shorter than any clip",
        frames=12,
        duration_s=0.48,
        cuts=(),
        clips=0,
    ),
    Case(
        "three-audio",
        "three-audio.mp4",
        "ok",
        "three audio streams (eng, fra, deu): clips carry the first",
        audio_streams=3,
    ),
    # test_bad_input splits files named like the first five; here they are indexed, and
    # registered and scanned by the landing tests.
    _named("name-space", "with space.mp4", ("keyframes",)),
    _named("name-quotes", 'it\'s "quoted".mp4', ("keyframes",)),
    _named("name-subst", "$(touch pwned) `touch pwned2`.mp4", ("keyframes",)),
    _named("name-unicode", "ünïcødé 影片 🎬.mp4", ("keyframes",)),
    _named("name-dash", "-leading-dash.mp4", ("keyframes",)),
    _named("name-dots", "...mp4", ("split",)),
    _named("name-backslash", "..\\..\\escape.mp4", ("split",)),
]
CASE_BY_ID = {c.case: c for c in CASES}


# -- making the files ---------------------------------------------------------------------


def ffmpeg(*args: str) -> None:
    subprocess.run(  # noqa: S603 - argument list, no shell
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=120,
    )


# Fixed 100-frame GOP, no scene-cut keyframes, two B-frames: the cut at frame 30 is mid-GOP.
X264 = [
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-bf",
    "2",
    "-x264-params",
    "keyint=100:min-keyint=100:scenecut=0",
]


def encode(
    out: Path,
    *,
    size: tuple[int, int] = SIZE,
    audio: int = 1,
    audio_s: float = 2 * SHOT_FRAMES / FPS,
    video: list[str] | None = None,
    vf: str = "",
    faststart: bool = True,
    extra: list[str] | None = None,
) -> Path:
    """The two-shot file with ``audio`` tone streams, encoded with ``video`` arguments."""
    w, h = size
    d = SHOT_FRAMES / FPS
    args = [
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=s={w}x{h}:r={FPS}:d={d}",
        "-f",
        "lavfi",
        "-i",
        f"smptebars=s={w}x{h}:r={FPS}:d={d}",
    ]
    maps = ["-map", "[v]"]
    for k in range(audio):
        args += ["-f", "lavfi", "-i", f"sine=f={330 + 110 * k}:d={audio_s}:sample_rate=48000"]
        maps += ["-map", f"{2 + k}:a"]
    chain = f",{vf}" if vf else ""
    ffmpeg(
        *args,
        "-filter_complex",
        f"[0:v][1:v]concat=n=2:v=1:a=0,setsar=1{chain}[v]",
        *maps,
        *(video or [*X264, "-pix_fmt", "yuv420p"]),
        *(["-c:a", "aac", "-b:a", "64k"] if audio else []),
        *(["-movflags", "+faststart"] if faststart else []),
        *(extra or []),
        str(out),
    )
    return out


def top_level_atoms(data: bytes) -> list[tuple[str, int, int]]:
    """(type, offset, size) of each top-level MP4 box."""
    atoms = []
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = len(data) - pos
        atoms.append((kind.decode("latin-1"), pos, size))
        if size < 8:
            break
        pos += size
    return atoms


def _atom(data: bytes, kind: str) -> tuple[int, int]:
    for name, offset, size in top_level_atoms(data):
        if name == kind:
            return offset, size
    raise AssertionError(f"no {kind} atom")


def _rotation(path: Path) -> int:
    from video_assets.probe import probe

    video = probe(path).video
    return video.rotation if video is not None else 0


def build_corpus(folder: Path) -> dict[str, Path]:
    """Write every file of :data:`CASES` into ``folder``; returns their paths by case id.

    ``folder/base.mp4``, the valid two-shot file the damaged ones are made from, is left
    there too (it is no case of its own).
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = {c.case: folder / c.name for c in CASES}
    base = encode(folder / "base.mp4")
    base_bytes = base.read_bytes()
    _write_damaged(folder, path, base_bytes)
    _write_unusual(path, base)
    for c in CASES:
        if c.case.startswith("name-"):
            path[c.case].write_bytes(base_bytes)
    missing = [c for c, p in path.items() if not p.is_file()]
    if missing:
        raise AssertionError(f"corpus cases without a file: {missing}")
    return path


def _write_damaged(folder: Path, path: dict[str, Path], base_bytes: bytes) -> None:
    """The cases made by cutting or overwriting bytes of valid files."""
    rng = random.Random(20240611)
    mdat, mdat_size = _atom(base_bytes, "mdat")

    def write(case: str, data: bytes) -> None:
        path[case].write_bytes(data)

    write("zero-byte", b"")
    write("random-bytes", rng.randbytes(64_000))
    at_end = encode(folder / "tmp-moov-at-end.mp4", faststart=False)
    tail_bytes = at_end.read_bytes()
    at_end.unlink()
    moov, _ = _atom(tail_bytes, "moov")
    if moov < _atom(tail_bytes, "mdat")[0]:
        raise AssertionError("without +faststart the moov atom must follow mdat")
    write("moov-missing", tail_bytes[:moov])
    absurd = bytearray(base_bytes)
    mvhd = absurd.find(b"mvhd")  # version 0: 4 bytes version/flags, 2 x 4 bytes times, timescale
    if mvhd < 0 or absurd[mvhd + 4] != 0:
        raise AssertionError("expected a version-0 mvhd box in the base file")
    absurd[mvhd + 20 : mvhd + 24] = struct.pack(">I", 0xFFFFFFF0)  # duration, in timescale units
    write("absurd-duration", bytes(absurd))
    # Raw video takes its size from the container alone (H.264 would take it from the SPS).
    raw = folder / "tmp-raw.avi"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=s=64x48:r={FPS}",
        "-frames:v",
        "5",
        "-c:v",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        str(raw),
    )
    raw_bytes = bytearray(raw.read_bytes())
    raw.unlink()
    strf = raw_bytes.find(b"strf")  # chunk id, size, then biSize, biWidth, biHeight (int32 LE)
    if strf < 0 or struct.unpack("<ii", raw_bytes[strf + 12 : strf + 20]) != (64, 48):
        raise AssertionError("expected a BITMAPINFOHEADER of 64x48 in the raw AVI")
    raw_bytes[strf + 12 : strf + 20] = struct.pack("<ii", 20000, 12000)
    write("absurd-resolution", bytes(raw_bytes))
    write("moov-cut", tail_bytes[: moov + 64])
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=2", "-c:a", "aac", str(path["audio-only"]))
    write("mdat-cut", base_bytes[: mdat + mdat_size // 2])
    corrupt = bytearray(base_bytes)
    middle = mdat + mdat_size // 2
    corrupt[middle : middle + 4096] = rng.randbytes(4096)
    write("corrupt-middle", bytes(corrupt))


def _write_unusual(path: dict[str, Path], base: Path) -> None:
    """The valid files of unusual kinds: no audio, VFR, rotated, 10-bit, odd sizes, short,
    several audio tracks."""
    encode(path["video-only"], audio=0)
    # setpts doubles the first shot's frame durations; passthrough keeps those timestamps.
    encode(
        path["vfr"],
        audio_s=3.6,
        vf=f"setpts='if(lt(N,{SHOT_FRAMES}),2*N,N+{SHOT_FRAMES})/{FPS}/TB'",
        extra=["-fps_mode", "passthrough", "-video_track_timescale", "12800"],
    )
    # ffmpeg 5.1 has no -display_rotation; its mov muxer turns the rotate tag into the matrix.
    ffmpeg(
        "-i",
        str(base),
        "-map",
        "0",
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        str(path["rotated"]),
    )
    if _rotation(path["rotated"]) != 90:  # ffmpeg 6 and later ignore the tag
        ffmpeg(
            "-display_rotation:v:0",
            "90",
            "-i",
            str(base),
            "-map",
            "0",
            "-c",
            "copy",
            str(path["rotated"]),
        )
    if _rotation(path["rotated"]) != 90:
        raise AssertionError(
            f"this ffmpeg wrote no 90-degree display matrix into {path['rotated']}"
        )
    encode(path["10-bit"], video=[*X264, "-pix_fmt", "yuv420p10le"])
    encode(
        path["odd-x264-444"],
        size=(322, 182),
        vf="scale=321:181",
        video=[*X264, "-pix_fmt", "yuv444p"],
    )
    encode(
        path["odd-mpeg4"],
        size=(322, 182),
        vf="scale=321:181",
        video=["-c:v", "mpeg4", "-g", "100", "-bf", "0", "-q:v", "5", "-pix_fmt", "yuv420p"],
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=s=160x90:r={FPS}",
        "-f",
        "lavfi",
        "-i",
        "sine=d=0.48",
        "-frames:v",
        "12",
        *X264,
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-movflags",
        "+faststart",
        str(path["short-0.5s"]),
    )
    encode(
        path["three-audio"],
        audio=3,
        extra=[
            "-metadata:s:a:0",
            "language=eng",
            "-metadata:s:a:1",
            "language=fra",
            "-metadata:s:a:2",
            "language=deu",
        ],
    )


# -- running and judging ------------------------------------------------------------------


def sha256(path: Path) -> str | None:
    """SHA-256 of a file, or None when it is gone."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


@dataclass
class CliRun:
    """One ``python -m video_assets.cli`` run on one file.

    Attributes:
        returncode: Exit status, or None when it ran past the timeout (a hang).
        out_dir: The ``split --out`` folder (it held only :data:`SENTINEL` before the run).
        before / after: SHA-256 of the source before and after the run.
    """

    command: str
    path: Path
    returncode: int | None
    stdout: str
    stderr: str
    elapsed_s: float
    out_dir: Path | None
    before: str | None
    after: str | None

    @property
    def source_unchanged(self) -> bool:
        return self.before is not None and self.before == self.after

    def data_lost(self) -> int:
        """Files that existed before the run and are gone or changed: the source, the sentinel."""
        lost = 0 if self.source_unchanged else 1
        if self.out_dir is not None:
            sentinel = self.out_dir / SENTINEL
            lost += (
                0 if sentinel.is_file() and sentinel.read_text() == _sentinel_text(self.path) else 1
            )
        return lost

    def left_in_out(self) -> list[str]:
        """Names in the out folder besides the sentinel."""
        if self.out_dir is None or not self.out_dir.is_dir():
            return []
        return sorted(p.name for p in self.out_dir.iterdir() if p.name != SENTINEL)

    def first_error_line(self) -> str:
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        return lines[0] if lines else ""


def _sentinel_text(path: Path) -> str:
    return f"written before splitting {path.name}\n"


def cli_args(command: str, path: Path, out_dir: Path | None) -> list[str]:
    extra = ["--out", str(out_dir), "--min-duration", str(MIN_CLIP_S)] if command == "split" else []
    # "--" so a name starting with "-" is a file, not an option.
    return [
        sys.executable,
        "-m",
        "video_assets.cli",
        command,
        *extra,
        "--json",
        "--quiet",
        "--",
        str(path),
    ]


def run_cli(
    command: str,
    path: Path,
    work: Path,
    *,
    timeout_s: float = CLI_TIMEOUT_S,
    env: dict[str, str] | None = None,
) -> CliRun:
    """Run ``command`` on ``path`` with ``work`` as the working folder (and out folder parent)."""
    work.mkdir(parents=True, exist_ok=True)
    out_dir = None
    if command == "split":
        out_dir = work / "clips out"
        out_dir.mkdir()
        (out_dir / SENTINEL).write_text(_sentinel_text(path))
    before = sha256(path)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(  # noqa: S603 - argument list, no shell
            cli_args(command, path, out_dir),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            cwd=work,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc = None
        stdout = _text(exc.stdout)
        stderr = _text(exc.stderr) + f"\n(killed after {timeout_s:.0f} s)"
    return CliRun(
        command, path, rc, stdout, stderr, time.perf_counter() - t0, out_dir, before, sha256(path)
    )


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def summary(run: CliRun) -> str:
    """Exit code and the first line of the error, or a one-line summary of the result."""
    if run.returncode is None:
        return f"HANG (killed after {run.elapsed_s:.0f} s)"
    if run.returncode != 0:
        line = (
            run.first_error_line()
            .removeprefix("video-assets: error: ")
            .replace(str(run.path), run.path.name)
        )
        tool_stderr = run.stderr.partition("\nstderr:\n")[2].strip()
        if tool_stderr:  # a tool's error: its own first line says why
            line += " | " + re.sub(r"^\[\w+ @ 0x[0-9a-f]+\] ", "", tool_stderr.splitlines()[0])
        return f"exit {run.returncode}: {line}"
    try:
        payload = json.loads(run.stdout)
    except ValueError:
        return "exit 0: stdout is not JSON"
    if run.command == "keyframes":
        return (
            f"exit 0: {payload['frame_count']} frames, {len(payload['keyframes'])} keyframes, "
            f"{payload['duration_s']:.2f} s"
        )
    if run.command == "scenes":
        cuts = [s["start_frame"] for s in payload["scenes"][1:]]
        return (
            f"exit 0: {payload['frame_count']} frames, {len(payload['scenes'])} scenes, cuts {cuts}"
        )
    methods = ",".join(c["method"] for c in payload["clips"])
    return f"exit 0: {len(payload['clips'])} clips ({methods or '-'}) of {payload['scenes']} scenes"


def judge(case: Case, run: CliRun) -> list[str]:
    """Every way ``run`` differs from what ``case`` promises; [] when it is as expected."""
    if run.returncode is None:
        return [f"hung: killed after {run.elapsed_s:.0f} s"]
    problems = []
    if not run.source_unchanged:
        problems.append("the source file changed")
    if run.data_lost():
        problems.append(f"{run.data_lost()} pre-existing files lost or changed")
    if "Traceback" in run.stderr:
        problems.append("a Python traceback on stderr: " + run.stderr.strip().splitlines()[-1])
    rc = run.returncode
    if rc not in (0, 2):
        problems.append(f"crashed with exit status {rc}: {run.first_error_line()}")
        return problems
    if case.outcome == "error" and rc != 2:
        problems.append(f"expected exit 2 ({case.problem}), got exit {rc}")
    if case.outcome == "ok" and rc != 0:
        problems.append(f"expected exit 0, got exit {rc}: {run.first_error_line()}")
    if rc == 2:
        if run.stdout:
            problems.append(f"stdout not empty on error: {run.stdout[:100]!r}")
        if str(run.path) not in run.stderr:
            problems.append("the error does not name the file")
        if case.outcome == "error" and case.problem not in run.stderr:
            problems.append(f"the error does not say {case.problem!r}")
        if run.left_in_out():
            problems.append(f"a failed split left {run.left_in_out()} in the out folder")
        return problems
    try:
        payload = json.loads(run.stdout)
    except ValueError:
        return [*problems, f"stdout is not one JSON object: {run.stdout[:100]!r}"]
    check = {"keyframes": _check_keyframes, "scenes": _check_scenes, "split": _check_split}[
        run.command
    ]
    return problems + check(case, run, payload, strict=case.outcome == "ok")


def _check_keyframes(case: Case, run: CliRun, payload: dict, strict: bool) -> list[str]:
    problems = []
    kfs = [k["frame"] for k in payload["keyframes"]]
    if payload["frame_count"] < 1 or not kfs or kfs[0] != 0:
        problems.append(f"index of {payload['frame_count']} frames with keyframes {kfs[:5]}")
    if strict and payload["frame_count"] != case.frames:
        problems.append(f"{payload['frame_count']} frames indexed, expected {case.frames}")
    if (
        strict
        and case.duration_s is not None
        and abs(payload["duration_s"] - case.duration_s) > 1e-3
    ):
        problems.append(f"duration {payload['duration_s']} s, expected {case.duration_s} s")
    return problems


def _check_scenes(case: Case, run: CliRun, payload: dict, strict: bool) -> list[str]:
    problems = _check_keyframes(case, run, {**payload, "keyframes": [{"frame": 0}]}, strict)
    scenes = payload["scenes"]
    bounds = [(s["start_frame"], s["end_frame"]) for s in scenes]
    contiguous = (
        bool(bounds)
        and bounds[0][0] == 0
        and bounds[-1][1] == payload["frame_count"]
        and all(a[1] == b[0] and a[0] < a[1] for a, b in zip(bounds, bounds[1:], strict=False))
    )
    if not contiguous:
        problems.append(f"scenes do not tile the video: {bounds}")
    cuts = tuple(b[0] for b in bounds[1:])
    if strict and cuts != case.cuts:
        problems.append(f"cuts at {list(cuts)}, expected {list(case.cuts)}")
    return problems


def _check_split(case: Case, run: CliRun, payload: dict, strict: bool) -> list[str]:
    from video_assets.errors import VideoAssetsError
    from video_assets.keyframes import build_index
    from video_assets.probe import probe

    problems = []
    clips = payload["clips"]
    if strict and len(clips) != case.clips:
        problems.append(f"{len(clips)} clips, expected {case.clips}")
    try:
        src = probe(run.path).require_video()
    except VideoAssetsError as exc:
        src = None
        problems.append(f"split succeeded on a file probe rejects: {exc}")
    assert run.out_dir is not None
    expected_names = sorted(Path(c["path"]).name for c in clips)
    if run.left_in_out() != expected_names:
        problems.append(f"out folder holds {run.left_in_out()}, the result lists {expected_names}")
    for c in clips:
        where = f"clip {c['clip_id']} ({c['method']})"
        clip = Path(c["path"])
        if c["leaked_frames"] != 0:
            problems.append(f"{where} leaks {c['leaked_frames']} frames")
        if clip.parent != run.out_dir or not clip.is_file():
            problems.append(f"{where} is not a file in the out folder: {clip}")
            continue
        if strict and c["scene_start_frame"] not in (0, *case.cuts):
            problems.append(
                f"{where} starts its scene at frame {c['scene_start_frame']}, not at a cut"
            )
        try:
            info = probe(clip)
            got = build_index(clip).frame_count
        except VideoAssetsError as exc:
            problems.append(f"{where} is unreadable: {exc}")
            continue
        video = info.video
        claimed = c["end_frame"] - c["start_frame"] - c.get("damaged_frames", 0)
        if got != claimed:
            problems.append(f"{where} holds {got} frames, claims {claimed}")
        if video is not None and src is not None:
            if abs(video.width - src.width) > 1 or abs(video.height - src.height) > 1:
                problems.append(
                    f"{where} is {video.width}x{video.height}, the source {src.width}x{src.height}"
                )
            if video.rotation != src.rotation:
                problems.append(f"{where} has rotation {video.rotation}, the source {src.rotation}")
        want_audio = 1 if case.audio_streams else 0
        if strict and len(info.audio) != want_audio:
            problems.append(f"{where} has {len(info.audio)} audio streams, expected {want_audio}")
    return problems


def ffmpeg_killed_mid_write(folder: Path, when: str = "libx264") -> dict[str, str]:
    """An environment whose ``ffmpeg``, on a command holding the argument ``when``, writes
    2 kB of its output file and dies of SIGKILL (as under the OOM killer); any other command
    runs the real ffmpeg. ``libx264`` hits the re-encode of a scene without a keyframe."""
    real = shutil.which("ffmpeg")
    if real is None:
        raise AssertionError("ffmpeg is not installed")
    bin_dir = fresh_dir(folder / "bin")
    shim = bin_dir / "ffmpeg"
    shim.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do last=$a; [ "$a" = "{when}" ] && hit=1; done\n'
        'if [ -n "$hit" ]; then head -c 2048 /dev/zero > "${last#file:}"; kill -9 $$; fi\n'
        f'exec "{real}" "$@"\n'
    )
    shim.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def fresh_dir(path: Path) -> Path:
    """An empty folder at ``path`` (removed first if present)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


__all__ = [
    "CASES",
    "CASE_BY_ID",
    "COMMANDS",
    "Case",
    "CliRun",
    "build_corpus",
    "encode",
    "ffmpeg",
    "ffmpeg_killed_mid_write",
    "fresh_dir",
    "judge",
    "run_cli",
    "sha256",
    "summary",
    "top_level_atoms",
]
