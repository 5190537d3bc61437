"""Mutation fuzzing of the ``video-assets`` commands: damaged media in, a clear answer out.

A small two-shot file with a tone track is made in every container the project reads
(:data:`CONTAINERS`), then damaged, seeded, in one of the ways real archives are damaged
(:data:`MUTATIONS`): bit flips in the middle, a zeroed block, a truncation, a duplicated
block, or changed header bytes (codec parameters, sample tables, box and chunk sizes,
found by the container's own markers). Every command of :data:`COMMANDS` is then run on the
damaged file through the CLI's ``main()``, and each run must exit 0, or exit 2 with an
error naming the file; within a time limit, without a traceback, without changing the input
and without leaving a half-written output (:func:`judge`).

The commands run in a long-lived worker process (:class:`CliWorker`) so that the imports
and model loads of ``separate`` and ``transcribe`` are paid once, not per run: the worker
calls :func:`video_assets.cli.main` with a fresh argv and its own stdout and stderr files
(at the descriptor level, so ffmpeg's and the C libraries' output is caught too), and
reports the exit status. A run past its time limit is a hang: the worker's whole process
group is killed and a fresh worker takes the next run.

For MP4 and MOV files the header reader (:mod:`video_assets.mp4index`) is fuzzed as well:
the worker's ``header-index`` job builds the index from the sample tables and by demuxing,
and the two must agree whenever the header reader does not decline the file.

Used by ``tests/test_fuzz.py`` (a bounded seeded set) and ``bench/fuzz.py`` (1,000+ runs).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
import traceback
import wave
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FPS = 25
SIZE = (160, 90)
SHOT_FRAMES = 30
"""Frames per shot of the seed files: the cut is at frame 30 of 60."""
DEFAULT_TIMEOUT_S = 120.0
"""A run still going after this long is a hang."""
SENTINEL = "keep-me.txt"
"""Put in every output folder before a run; it must come out unchanged."""

CONTAINERS: dict[str, tuple[str, list[str]]] = {
    # name: (file suffix, ffmpeg codec arguments)
    "mp4": (
        ".mp4",
        ["-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "100", "-c:a", "aac"]
        + ["-movflags", "+faststart"],
    ),
    "mov": (".mov", ["-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "pcm_s16le"]),
    "mkv": (".mkv", ["-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "libopus"]),
    "webm": (".webm", ["-c:v", "libvpx", "-b:v", "200k", "-g", "50", "-c:a", "libvorbis"]),
    "avi": (".avi", ["-c:v", "mpeg4", "-q:v", "5", "-g", "50", "-c:a", "libmp3lame"]),
    "mpeg-ps": (".mpg", ["-c:v", "mpeg2video", "-q:v", "5", "-g", "15", "-c:a", "mp2"]),
    "mpeg-ts": (
        ".ts",
        ["-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "aac", "-f", "mpegts"],
    ),
}
"""Every container the project handles, with the codecs usual in it."""

MUTATIONS = ("bitflip", "zero-block", "truncate", "duplicate-block", "header")

# Markers of the structures a demuxer reads first, per container: codec parameters,
# sample tables, box/chunk/element ids whose sizes follow or precede them.
_MP4_MARKERS = [
    b"moov", b"trak", b"mvhd", b"tkhd", b"mdhd", b"hdlr", b"elst", b"stsd", b"avcC",
    b"esds", b"stts", b"ctts", b"stss", b"stsz", b"stsc", b"stco", b"mdat",
]  # fmt: skip
_HEADER_MARKERS: dict[str, list[bytes]] = {
    "mp4": _MP4_MARKERS,
    "mov": [*_MP4_MARKERS, b"wave", b"frma"],
    # EBML: EBML header, Segment, SeekHead, Info, Tracks, TrackEntry, CodecID,
    # CodecPrivate, Video, PixelWidth, Audio, Cluster, Cues.
    "mkv": [
        b"\x1a\x45\xdf\xa3",
        b"\x18\x53\x80\x67",
        b"\x11\x4d\x9b\x74",
        b"\x15\x49\xa9\x66",
        b"\x16\x54\xae\x6b",
        b"\x86",
        b"\x63\xa2",
        b"\xe0",
        b"\xb0",
        b"\xe1",
        b"\x1f\x43\xb6\x75",
        b"\x1c\x53\xbb\x6b",
    ],  # fmt: skip
    "avi": [b"RIFF", b"LIST", b"hdrl", b"avih", b"strh", b"strf", b"movi", b"idx1", b"00dc"],
    # Pack header, system header, sequence header, GOP, video and audio PES.
    "mpeg-ps": [
        b"\x00\x00\x01\xba",
        b"\x00\x00\x01\xbb",
        b"\x00\x00\x01\xb3",
        b"\x00\x00\x01\xb8",
        b"\x00\x00\x01\xe0",
        b"\x00\x00\x01\xc0",
    ],  # fmt: skip
    # Sync byte of the PAT/PMT packets (the first ones), SPS/PPS start codes, PES starts.
    "mpeg-ts": [
        b"\x47\x40\x00",
        b"\x47\x50\x00",
        b"\x00\x00\x00\x01\x67",
        b"\x00\x00\x00\x01\x68",
        b"\x00\x00\x01\xe0",
        b"\x00\x00\x01\xc0",
    ],  # fmt: skip
}
_HEADER_MARKERS["webm"] = _HEADER_MARKERS["mkv"]


@dataclass(frozen=True)
class Command:
    """One CLI command as the fuzzer runs it.

    Attributes:
        name: The row name in the tally (``scenes-full``, ``split-reencode``, ...).
        argv: Arguments after ``video-assets``, ``{file}`` and ``{out}`` filled in per run.
        out: What ``{out}`` is: ``dir`` (a folder made first, holding :data:`SENTINEL`),
            ``file`` (a file path that must not exist after a failed run), or empty.
    """

    name: str
    argv: tuple[str, ...]
    out: str = ""


COMMANDS: tuple[Command, ...] = (
    Command("keyframes", ("keyframes",)),
    Command("scenes-cascade", ("scenes", "--mode", "cascade")),
    Command("scenes-full", ("scenes", "--mode", "full")),
    Command("split-copy", ("split", "--mode", "copy", "--min-duration", "1", "--out", "{out}"), "dir"),
    Command("split-reencode", ("split", "--mode", "reencode", "--min-duration", "1", "--out", "{out}"), "dir"),
    Command("separate", ("separate", "--out", "{out}"), "dir"),
    # English, as the offline default (tiny.en) transcribes; a tone detected as another
    # language would need the multilingual model, a setting rather than the file.
    Command("transcribe", ("transcribe", "--language", "en")),
    Command("tokenize", ("tokenize", "--checkpoint", "{checkpoint}", "--out", "{out}"), "file"),
)  # fmt: skip
COMMAND_BY_NAME = {c.name: c for c in COMMANDS}
HEADER_CHECK = "header-index"
"""The pseudo-command comparing :mod:`video_assets.mp4index` with demuxing (MP4/MOV only)."""


# -- seed media -----------------------------------------------------------------------------


def _ffmpeg(*args: str) -> None:
    from video_assets.tools import ffmpeg_base, run_tool

    run_tool([*ffmpeg_base(), *args], timeout_s=120, what="making a fuzz seed file")


def make_seed(folder: Path, container: str) -> Path:
    """The undamaged two-shot file (testsrc2 then smptebars, a tone) in ``container``."""
    suffix, codec_args = CONTAINERS[container]
    w, h = SIZE
    d = SHOT_FRAMES / FPS
    out = folder / f"seed-{container}{suffix}"
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s={w}x{h}:r={FPS}:d={d}",
        "-f", "lavfi", "-i", f"smptebars=s={w}x{h}:r={FPS}:d={d}",
        "-f", "lavfi", "-i", f"sine=f=330:d={2 * d}:sample_rate=48000",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0,setsar=1,format=yuv420p[v]",
        "-map", "[v]", "-map", "2:a", *codec_args, str(out),
    )  # fmt: skip
    return out


def make_seeds(folder: Path, containers: list[str] | None = None) -> dict[str, Path]:
    """One seed file per container, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return {c: make_seed(folder, c) for c in containers or list(CONTAINERS)}


# -- mutations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """What was done to a seed file; enough to make the same bytes again.

    Attributes:
        container: Which seed file.
        kind: One of :data:`MUTATIONS`.
        seed: The random seed the damage was drawn with.
        detail: Where and what, in words (offsets, the marker hit).
    """

    container: str
    kind: str
    seed: int
    detail: str

    @property
    def case_id(self) -> str:
        return f"{self.container}-{self.kind}-{self.seed}"


def _marker_hits(data: bytes, container: str, limit: int) -> list[tuple[bytes, int]]:
    """(marker, offset) of the first occurrences of each header marker within ``limit``."""
    hits = []
    for marker in _HEADER_MARKERS.get(container, []):
        start = 0
        for _ in range(3):
            at = data.find(marker, start, limit)
            if at < 0:
                break
            hits.append((marker, at))
            start = at + 1
    return hits


def mutate(data: bytes, container: str, kind: str, seed: int) -> tuple[bytes, Mutation]:
    """``data`` damaged one way, drawn from ``seed``; the same arguments give the same bytes."""
    rng = random.Random(f"{container}/{kind}/{seed}")
    n = len(data)
    b = bytearray(data)
    if kind == "bitflip":
        count = rng.choice([1, 4, 16, 64])
        lo, hi = n // 4, 3 * n // 4
        spots = sorted(rng.randrange(lo, hi) for _ in range(count))
        for at in spots:
            b[at] ^= 1 << rng.randrange(8)
        detail = f"{count} bits flipped in bytes {spots[0]}-{spots[-1]}"
    elif kind == "zero-block":
        size = rng.choice([16, 512, 4096, 16384])
        at = rng.randrange(0, max(1, n - size))
        b[at : at + size] = bytes(min(size, n - at))
        detail = f"{size} bytes zeroed at {at}"
    elif kind == "truncate":
        keep = rng.randrange(n // 20, n)
        del b[keep:]
        detail = f"cut to {keep} of {n} bytes"
    elif kind == "duplicate-block":
        size = rng.choice([188, 1000, 4096, 20000])
        at = rng.randrange(0, max(1, n - size))
        to = rng.randrange(0, n)
        b[to:to] = data[at : at + size]
        detail = f"{size} bytes from {at} repeated at {to}"
    elif kind == "header":
        # MP4 and MOV headers are the moov box (at the start with +faststart, else at the
        # end); the other containers state theirs in their first kilobytes.
        limit = n if container in ("mp4", "mov") else min(n, 64 * 1024)
        hits = _marker_hits(data, container, limit)
        if not hits:
            hits = [(b"", rng.randrange(0, min(n, 1024)))]
        marker, at = rng.choice(hits)
        how = rng.choice(["size", "field", "field", "bytes"])
        if how == "size" and container in ("mp4", "mov") and at >= 4:
            old = struct.unpack_from(">I", b, at - 4)[0]
            new = rng.choice(
                [0, 1, 7, old - 1, old + 1, old + rng.randrange(8, 4096), old // 2, 0xFFFFFFFF]
            )
            struct.pack_into(">I", b, at - 4, new & 0xFFFFFFFF)
            detail = f"size of {marker!r} at {at - 4}: {old} -> {new & 0xFFFFFFFF}"
        elif how == "size" and container == "avi":
            old = struct.unpack_from("<I", b, at + 4)[0] if at + 8 <= n else 0
            new = rng.choice([0, old - 1, old + 1, old * 2, 0xFFFFFFFF])
            if at + 8 <= n:
                struct.pack_into("<I", b, at + 4, new & 0xFFFFFFFF)
            detail = f"size of {marker!r} at {at + 4}: {old} -> {new & 0xFFFFFFFF}"
        elif how == "bytes":
            span = rng.randrange(1, 9)
            where = min(n - 1, at + len(marker) + rng.randrange(0, 48))
            b[where : where + span] = rng.randbytes(len(b[where : where + span]))
            detail = f"{span} random bytes at {where}, after {marker!r} at {at}"
        else:
            # A field of the structure: entry counts, timescales, widths, codec profile
            # bytes, PIDs; the flip lands within 64 bytes after the marker.
            where = min(n - 1, at + len(marker) + rng.randrange(0, 64))
            b[where] ^= 1 << rng.randrange(8)
            if rng.random() < 0.5:
                b[where] = rng.choice([0x00, 0xFF, b[where] ^ 0x80])
            detail = f"byte {where} changed, after {marker!r} at {at}"
    else:
        raise ValueError(f"mutation kind must be one of {', '.join(MUTATIONS)}, got {kind!r}")
    return bytes(b), Mutation(container, kind, seed, detail)


@dataclass(frozen=True)
class FuzzCase:
    """One damaged file on disk."""

    mutation: Mutation
    path: Path
    sha256: str


def make_cases(
    seeds: dict[str, Path], folder: Path, count: int, *, first_seed: int = 0
) -> list[FuzzCase]:
    """``count`` damaged files, cycling through containers and mutation kinds in turn."""
    folder.mkdir(parents=True, exist_ok=True)
    originals = {c: p.read_bytes() for c, p in seeds.items()}
    containers = list(seeds)
    cases = []
    for i in range(count):
        container = containers[i % len(containers)]
        kind = MUTATIONS[(i // len(containers)) % len(MUTATIONS)]
        seed = first_seed + i
        data, mutation = mutate(originals[container], container, kind, seed)
        path = folder / f"{mutation.case_id}{seeds[container].suffix}"
        path.write_bytes(data)
        cases.append(FuzzCase(mutation, path, hashlib.sha256(data).hexdigest()))
    return cases


# -- the worker ------------------------------------------------------------------------------


def _header_check(path: str) -> dict[str, Any]:
    """The MP4 header reader against demuxing: ``declined``, ``agree``, or a mismatch."""
    import numpy as np

    from video_assets.errors import MediaError
    from video_assets.keyframes import demux_index, header_index
    from video_assets.mp4index import HeaderUnsupported

    try:
        head = header_index(path)
    except HeaderUnsupported as exc:
        return {"result": "declined", "why": str(exc)}
    except MediaError as exc:
        return {"result": "error", "why": str(exc)}
    try:
        demux = demux_index(path)
    except MediaError as exc:
        return {"result": "mismatch", "why": f"the header was read, demuxing refuses: {exc}"}
    same = (
        head.frame_count == demux.frame_count
        and np.array_equal(head.pts_s, demux.pts_s)
        and np.array_equal(head.sizes, demux.sizes)
        and np.array_equal(head.is_key, demux.is_key)
        and np.array_equal(head.decode_order, demux.decode_order)
    )
    if same:
        return {"result": "agree", "why": ""}
    return {
        "result": "mismatch",
        "why": f"header {head.frame_count} frames / {int(head.is_key.sum())} keys, "
        f"demux {demux.frame_count} / {int(demux.is_key.sum())}",
    }


def _worker_main() -> int:
    """Run jobs read from the protocol pipe (one JSON line each) until it closes."""
    proto_in = os.fdopen(os.dup(0), "r")
    proto_out = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    from video_assets import cli

    for warm in os.environ.get("VIDEO_ASSETS_FUZZ_WARM", "").split(","):
        if warm:  # the heavy imports, once, before the first timed run
            __import__(warm)
    proto_out.write(json.dumps({"ready": os.getpid()}) + "\n")
    proto_out.flush()
    saved_err = os.dup(2)
    for line in proto_in:
        job = json.loads(line)
        out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.close(out)
        os.close(err)
        reply: dict[str, Any] = {}
        try:
            os.chdir(job["cwd"])
            if job.get("call") == HEADER_CHECK:
                reply = _header_check(job["argv"][0])
                rc: int = 0
            else:
                rc = int(cli.main(job["argv"]))
        except SystemExit as exc:  # argparse, or sys.exit inside a command
            code = exc.code
            rc = code if isinstance(code, int) else (0 if code is None else 1)
            if code is not None and not isinstance(code, int):
                print(code, file=sys.stderr)
        except BaseException:  # what the interpreter would print and exit 1 with
            traceback.print_exc()
            rc = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(null, 1)
            os.dup2(saved_err, 2)
        proto_out.write(json.dumps({"rc": rc, **reply}) + "\n")
        proto_out.flush()
    return 0


class CliWorker:
    """A process that runs ``video-assets`` commands through ``cli.main`` one at a time.

    Args:
        env: Environment of the worker (the commands read their VIDEO_ASSETS_* defaults).
        warm: Modules imported before the first run, so a run's time limit is not spent on
            importing torch.
    """

    def __init__(self, env: dict[str, str] | None = None, warm: tuple[str, ...] = ()):
        self.env = {**(env or os.environ), "VIDEO_ASSETS_FUZZ_WARM": ",".join(warm)}
        self.proc: subprocess.Popen[str] | None = None
        self.restarts = 0

    def _start(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "video_assets.fuzz", "worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=self.env,
            start_new_session=True,  # a hang kills the worker's ffmpeg children too
        )
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        if not ready:
            raise RuntimeError("the fuzz worker died while starting")
        return proc

    def run(
        self, argv: list[str], cwd: Path, timeout_s: float, call: str = ""
    ) -> tuple[int | None, str, str, dict[str, Any]]:
        """(exit status or None on a hang, stdout, stderr, the reply) of one run."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        out, err = cwd / ".fuzz-stdout", cwd / ".fuzz-stderr"
        job = {"argv": argv, "cwd": str(cwd), "stdout": str(out), "stderr": str(err)}
        if call:
            job["call"] = call
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline() if ready else ""
        stdout = out.read_text(errors="replace") if out.exists() else ""
        stderr = err.read_text(errors="replace") if err.exists() else ""
        for f in (out, err):
            f.unlink(missing_ok=True)
        if not line:  # timed out, or the worker died (a crash of the interpreter itself)
            died = self.proc.poll()
            self.close()
            self.restarts += 1
            if died is not None and ready:
                return died if died > 0 else 128 - died, stdout, stderr, {}
            return None, stdout, stderr, {}
        reply = json.loads(line)
        return int(reply.pop("rc")), stdout, stderr, reply

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self.proc = None

    def __enter__(self) -> CliWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- judging ---------------------------------------------------------------------------------

OUTCOMES = ("ok", "error", "traceback", "hang", "unnamed-error", "bad-exit", "input-changed",
            "half-written", "header-mismatch")  # fmt: skip
"""``ok`` and ``error`` (exit 2 naming the file) are the two acceptable outcomes."""


@dataclass
class RunResult:
    """One command on one damaged file, judged."""

    case: str
    container: str
    mutation: str
    command: str
    outcome: str
    returncode: int | None
    elapsed_s: float
    problems: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome not in ("ok", "error")


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _temps(folder: Path) -> list[str]:
    """Leftovers of an interrupted write anywhere under ``folder``."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.name.startswith(".tmp-") or p.name.endswith((".part", ".partial", ".tmp"))
    )


def _prepare_out(cmd: Command, out: Path) -> None:
    """A command writing into a folder gets one holding a sentinel file it must not lose."""
    if cmd.out == "dir":
        out.mkdir()
        (out / SENTINEL).write_text("before\n")


def _outputs_whole(cmd: Command, rc: int, stdout: str, out: Path) -> list[str]:
    """What is wrong with the files a run left at its output path."""
    problems = []
    if cmd.out == "dir":
        left = sorted(p.name for p in out.iterdir() if p.name != SENTINEL) if out.is_dir() else []
        sentinel = out / SENTINEL
        if not sentinel.is_file() or sentinel.read_text() != "before\n":
            problems.append("a file in the out folder was lost or changed")
        if rc != 0:
            if left:
                problems.append(f"a failed run left {left} in the out folder")
            return problems
        payload = json.loads(stdout)
        if cmd.name.startswith("split"):
            listed = sorted(Path(c["path"]).name for c in payload["clips"])
            if left != listed:
                problems.append(f"out folder holds {left}, the result lists {listed}")
        elif payload.get("has_audio", True) and left:
            for name in left:
                if name.endswith(".wav"):
                    try:
                        with wave.open(str(out / name)) as w:
                            if w.getnframes() <= 0:
                                problems.append(f"{name} holds no samples")
                    except (wave.Error, EOFError) as exc:
                        problems.append(f"{name} is not a whole WAV file ({exc})")
    elif cmd.out == "file":
        if rc != 0 and out.exists():
            problems.append(f"a failed run left {out.name}")
        if rc == 0 and out.exists():
            from safetensors import safe_open

            try:
                with safe_open(str(out), "np") as f:
                    list(f.keys())
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                problems.append(f"{out.name} is not a whole safetensors file ({exc})")
    return problems


def judge(
    cmd_name: str, path: Path, rc: int | None, stdout: str, stderr: str, before: str | None
) -> tuple[str, list[str]]:
    """The outcome of one run and every problem found with it."""
    problems = []
    if _sha256(path) != before:
        problems.append("the input file changed")
    if rc is None:
        return "hang", ["ran past its time limit", *problems]
    if "Traceback (most recent call last)" in stderr:
        last = [ln for ln in stderr.strip().splitlines() if ln.strip()][-1:]
        return "traceback", [f"a traceback: {last[0] if last else ''}", *problems]
    if rc not in (0, 2):
        return "bad-exit", [f"exit status {rc}", *problems]
    if problems:
        return "input-changed", problems
    if rc == 2:
        if str(path) not in stderr and path.name not in stderr:
            return "unnamed-error", [f"the error does not name the file: {stderr.strip()[:200]}"]
        return "error", []
    if cmd_name != HEADER_CHECK:
        try:
            json.loads(stdout)
        except ValueError:
            return "bad-exit", [f"exit 0 without one JSON object on stdout: {stdout[:100]!r}"]
    return "ok", []


def _error_line(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith("video-assets: "):
            return line.removeprefix("video-assets: error: ")
    return ""


def run_case(
    worker: CliWorker,
    case: FuzzCase,
    work: Path,
    commands: tuple[Command, ...] = COMMANDS,
    *,
    checkpoint: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[RunResult]:
    """Every command (and, for MP4/MOV, the header check) on one damaged file."""
    results = []
    m = case.mutation
    names = [c.name for c in commands]
    if m.container in ("mp4", "mov"):
        names.append(HEADER_CHECK)
    for name in names:
        run_dir = work / f"{m.case_id}-{name}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        before = _sha256(case.path)
        if name == HEADER_CHECK:
            t0 = time.perf_counter()
            rc, stdout, stderr, reply = worker.run(
                [str(case.path)], run_dir, timeout_s, call=HEADER_CHECK
            )
            elapsed = time.perf_counter() - t0
            outcome, problems = judge(name, case.path, rc, stdout, stderr, before)
            if outcome == "ok" and reply.get("result") == "mismatch":
                outcome, problems = "header-mismatch", [reply.get("why", "")]
            results.append(
                RunResult(
                    m.case_id,
                    m.container,
                    m.kind,
                    name,
                    outcome,
                    rc,
                    elapsed,
                    problems,
                    str(reply.get("result", "")),
                )  # fmt: skip
            )
            shutil.rmtree(run_dir, ignore_errors=True)
            continue
        cmd = COMMAND_BY_NAME[name]
        out = run_dir / ("out" if cmd.out == "dir" else "tokens.safetensors")
        _prepare_out(cmd, out)
        argv = [
            a.replace("{file}", str(case.path))
            .replace("{out}", str(out))
            .replace("{checkpoint}", str(checkpoint or ""))
            for a in cmd.argv
        ]
        argv += ["--json", "--quiet", "--", str(case.path)]
        t0 = time.perf_counter()
        rc, stdout, stderr, _ = worker.run(argv, run_dir, timeout_s)
        note = ""
        if rc is None:
            # The worker has run many commands; a hang is confirmed by the real CLI alone.
            shutil.rmtree(run_dir)
            run_dir.mkdir()
            _prepare_out(cmd, out)
            t0 = time.perf_counter()
            rc, stdout, stderr = run_fresh(argv, run_dir, timeout_s, worker.env)
            note = "hung in the worker, not in a fresh process" if rc is not None else ""
        elapsed = time.perf_counter() - t0
        outcome, problems = judge(name, case.path, rc, stdout, stderr, before)
        if rc is not None and outcome in ("ok", "error"):
            try:
                half = _outputs_whole(cmd, rc, stdout, out)
            except (ValueError, KeyError, TypeError) as exc:
                half = [f"the result cannot be read ({exc})"]
            temps = _temps(run_dir)
            if temps:
                half.append(f"temporary files left: {temps[:3]}")
            if half:
                outcome, problems = "half-written", half
        results.append(
            RunResult(
                m.case_id,
                m.container,
                m.kind,
                name,
                outcome,
                rc,
                elapsed,
                problems,
                note or _error_line(stderr),
            )  # fmt: skip
        )
        shutil.rmtree(run_dir, ignore_errors=True)
    return results


def run_fresh(
    argv: list[str], cwd: Path, timeout_s: float, env: dict[str, str]
) -> tuple[int | None, str, str]:
    """One command as ``python -m video_assets.cli`` in a process of its own (exit status
    None when it ran past ``timeout_s``; its whole process group is then killed)."""
    proc = subprocess.Popen(  # noqa: S603 - argument list, no shell
        [sys.executable, "-m", "video_assets.cli", *argv],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        return None, stdout, stderr
    return proc.returncode, stdout, stderr


def train_checkpoint(worker: CliWorker, clips: list[Path], work: Path) -> Path:
    """A tiny tokenizer checkpoint, trained through the CLI on undamaged seed files."""
    folder = work / "tokenizer clips"
    folder.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        if clip.suffix in (".mp4", ".mkv", ".mov", ".webm"):
            shutil.copyfile(clip, folder / clip.name)
    out = work / "tokenizer.safetensors"
    argv = ["tokenizer", "train", str(folder), "--out", str(out), "--steps", "2",
            "--channels", "4", "--resolution", "16", "--frames", "5", "--batch-size", "1",
            "--bits", "8", "--group-bits", "4", "--device", "cpu", "--quiet", "--json"]  # fmt: skip
    rc, _, stderr, _ = worker.run(argv, work, 600)
    if rc != 0 or not out.is_file():
        raise RuntimeError(f"training the fuzz tokenizer failed (exit {rc}):\n{stderr[-2000:]}")
    return out


def tally(results: list[RunResult]) -> dict[str, dict[str, int]]:
    """Counts by command, then outcome (plus an ``all`` row)."""
    table: dict[str, Counter[str]] = {}
    for r in results:
        table.setdefault(r.command, Counter())[r.outcome] += 1
    table["all"] = sum(table.values(), Counter())
    return {cmd: dict(counts) for cmd, counts in table.items()}


def format_tally(results: list[RunResult]) -> str:
    """The tally as a Markdown table: one row per command, one column per outcome seen."""
    table = tally(results)
    seen = [o for o in OUTCOMES if any(o in row for row in table.values())]
    lines = [
        "| command | runs | " + " | ".join(seen) + " |",
        "|---|---:|" + "---:|" * len(seen),
    ]
    for cmd, row in table.items():
        cells = " | ".join(str(row.get(o, 0)) for o in seen)
        name = f"**{cmd}**" if cmd == "all" else cmd
        lines.append(f"| {name} | {sum(row.values())} | {cells} |")
    return "\n".join(lines)


def results_json(results: list[RunResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]


if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        sys.exit(_worker_main())
    sys.exit("usage: python -m video_assets.fuzz worker (started by CliWorker)")
