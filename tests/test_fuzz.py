"""Mutation fuzzing in the suite (issue 18): damaged files in every container, every command.

A bounded, seeded set of :mod:`video_assets.fuzz` (``bench/fuzz.py`` runs 1,000+): one
damaged file per container, the damage kinds taken in turn, through every CLI command in
one worker process, and one Dagster partition run per container. Each must exit 0, or exit
2 naming the file, in time, without a traceback, a changed input or a half-written output.
The header damage that once ended in ``AttributeError: 'NoneType' object has no attribute
'width'`` is pinned as its own case.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import load_bench
from video_assets import fuzz

AUDIO_ON = {"mp4"}
"""Containers whose damaged file also goes through ``separate`` and ``transcribe`` here
(each costs seconds of model time; the bench runs them on every file)."""


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, Path]:
    return fuzz.make_seeds(tmp_path_factory.mktemp("fuzz seeds"))


KINDS = ["header", "header", "bitflip", "zero-block", "truncate", "duplicate-block", "header"]
"""The damage done to each container's file, in the order of ``fuzz.CONTAINERS``: every
kind once, header damage in MP4, MOV and MPEG-TS."""


@pytest.fixture(scope="module")
def cases(seeds, tmp_path_factory) -> list[fuzz.FuzzCase]:
    folder = tmp_path_factory.mktemp("fuzz cases")
    out = []
    for container, kind in zip(fuzz.CONTAINERS, KINDS, strict=True):
        data, mutation = fuzz.mutate(seeds[container].read_bytes(), container, kind, 7)
        path = folder / f"{mutation.case_id}{seeds[container].suffix}"
        path.write_bytes(data)
        out.append(fuzz.FuzzCase(mutation, path, fuzz._sha256(path) or ""))
    return out


@pytest.fixture(scope="module")
def worker():
    env = {**os.environ, "VIDEO_ASSETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    with fuzz.CliWorker(env=env) as w:
        yield w


def test_mutations_are_seeded_and_change_the_bytes(seeds):
    data = seeds["mp4"].read_bytes()
    for kind in fuzz.MUTATIONS:
        a, ma = fuzz.mutate(data, "mp4", kind, 3)
        b, mb = fuzz.mutate(data, "mp4", kind, 3)
        assert a == b and ma == mb, kind
        assert a != data, f"{kind} left the file as it was ({ma.detail})"
    with pytest.raises(ValueError, match="mutation kind must be one of"):
        fuzz.mutate(data, "mp4", "melt", 0)


def _unknown_codec_tag(seed: Path, out: Path) -> Path:
    """The seed MP4 with its video sample entry renamed from avc1 to a tag no decoder has."""
    data = bytearray(seed.read_bytes())
    at = data.find(b"avc1", data.find(b"stsd"))  # not the avc1 brand in ftyp
    assert at > 0, "no avc1 sample entry in the seed file"
    data[at : at + 4] = b"av\xe31"
    out.write_bytes(bytes(data))
    return out


def _non_utf8_tag(seed: Path, out: Path) -> Path:
    """The seed MP4 with a byte of its handler name (a metadata string) made invalid UTF-8."""
    data = bytearray(seed.read_bytes())
    at = data.find(b"VideoHandler")
    assert at > 0
    data[at + 2] = 0xB0
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize(
    ("make", "rc", "says"),
    [
        pytest.param(
            _unknown_codec_tag,
            2,
            "video stream 0 has codec parameters that cannot be read",
            id="unknown-codec-tag",
        ),
        pytest.param(_non_utf8_tag, 0, "", id="non-utf8-metadata"),
    ],
)
@pytest.mark.parametrize("command", ["keyframes", "scenes", "split", "motion"])
def test_damaged_mp4_header_gives_a_clear_answer(seeds, tmp_path, make, rc, says, command):
    path = make(seeds["mp4"], tmp_path / "damaged header.mp4")
    extra = ["--out", str(tmp_path / "out"), "--min-duration", "1"] if command == "split" else []
    proc = subprocess.run(
        [sys.executable, "-m", "video_assets.cli", command, *extra, "--quiet", "--", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == rc, proc.stderr
    if rc == 2:
        assert proc.stderr.startswith(f"video-assets: error: {path}: {says}"), proc.stderr


def test_header_reader_declines_what_it_cannot_read(seeds, tmp_path):
    from video_assets.errors import MediaError
    from video_assets.keyframes import build_index
    from video_assets.mp4index import HeaderUnsupported, read_packet_table

    data = bytearray(seeds["mp4"].read_bytes())
    stsz = data.find(b"stsz")
    struct.pack_into(">I", data, stsz + 12, 0xFFFFFFFF)  # sample count
    path = tmp_path / "stsz.mp4"
    path.write_bytes(bytes(data))
    with pytest.raises(HeaderUnsupported):
        read_packet_table(path)
    with pytest.raises(MediaError, match=r"stsz\.mp4: is not a readable media file"):
        build_index(path)  # demuxed instead, and FFmpeg refuses the file too


def test_every_command_on_damaged_files_in_every_container(worker, cases, seeds, tmp_path):
    checkpoint = fuzz.train_checkpoint(worker, list(seeds.values()), tmp_path)
    results: list[fuzz.RunResult] = []
    for case in cases:
        commands = tuple(
            c
            for c in fuzz.COMMANDS
            if case.mutation.container in AUDIO_ON or c.name not in ("separate", "transcribe")
        )
        results += fuzz.run_case(
            worker, case, tmp_path / "runs", commands, checkpoint=checkpoint, timeout_s=90
        )
    failing = [
        f"{r.case} {r.command}: {r.outcome}: {'; '.join(r.problems)}" for r in results if r.failed
    ]
    assert not failing, "\n".join(failing)
    ran = {r.command for r in results}
    assert ran == {c.name for c in fuzz.COMMANDS} | {fuzz.HEADER_CHECK}
    assert {r.container for r in results} == set(fuzz.CONTAINERS)
    assert {r.mutation for r in results} == set(fuzz.MUTATIONS)


def test_one_partition_run_per_container(cases, tmp_path):
    bench = load_bench("fuzz")
    runs = [bench.run_partition(case, tmp_path, audio=False) for case in cases]
    failing = [f"{r.case}: {r.outcome} at {r.failed_step}: {r.message} {r.problems}" for r in runs]
    assert not [line for line, r in zip(failing, runs, strict=True) if r.failed], "\n".join(failing)
    assert {r.container for r in runs} == set(fuzz.CONTAINERS)
