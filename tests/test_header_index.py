"""The keyframe index read from the MP4/MOV header equals the one demuxed packet by packet.

Every file is generated here (ffmpeg lavfi, 160x90, a few seconds), indexed both ways
(:func:`header_index` reads only the ``moov``/``moof`` boxes, :func:`demux_index` demuxes
every packet with PyAV) and compared field by field. Files whose header the reader does not
reproduce exactly (or that are damaged) must fall back to the demux path: ``build_index``
then gives the demux index, or raises the demux path's error.
"""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from dagster_project.defs.ingest.assets import iframe_index, source_video
from dagster_project.defs.partitions import videos
from dagster_project.defs.resources import StoreResource
from tests.conftest import ffmpeg
from video_assets.errors import MediaError
from video_assets.generate.bad_media import CASES as BAD_CASES
from video_assets.generate.bad_media import (
    _rotation,
)
from video_assets.keyframes import KeyframeIndex, build_index, demux_index, header_index
from video_assets.mp4index import HeaderUnsupported, av_reduce, rescale
from video_assets.registry import register

SRC = ["-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=4"]
TONE = ["-f", "lavfi", "-i", "sine=f=440:d=4"]
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-pix_fmt", "yuv420p"]
X265 = ["-c:v", "libx265", "-x265-params", "log-level=error:keyint=30", "-pix_fmt", "yuv420p"]
AAC = ["-c:a", "aac"]
FRAG = ["-movflags", "frag_keyframe+empty_moov"]
JITTER = "settb=1/1000,setpts='N*40+mod(N*7\\,13)'"
"""Frame times of 40 ms plus 0-12 ms of jitter: variable frame rate, millisecond timestamps."""


def has_encoder(name: str) -> bool:
    out = subprocess.run(
        ["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, check=True
    ).stdout
    return any(line.split()[1:2] == [name] for line in out.splitlines() if line.strip())


# -------------------------------------------------------------------- rewriting a moov

CONTAINER_BOXES = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


def _top_box(data: bytes, kind: bytes) -> tuple[int, int]:
    pos = 0
    while pos + 8 <= len(data):
        size, k = struct.unpack_from(">I4s", data, pos)
        if k == kind:
            return pos, size
        pos += size
    raise AssertionError(f"no top-level {kind!r} box")


def _rebuild(buf: bytes, leaf: Callable[[bytes, bytes], bytes]) -> bytes:
    out = bytearray()
    pos = 0
    while pos + 8 <= len(buf):
        size, kind = struct.unpack_from(">I4s", buf, pos)
        if kind in CONTAINER_BOXES:
            body = _rebuild(buf[pos + 8 : pos + size], leaf)
            out += struct.pack(">I4s", 8 + len(body), kind) + body
        else:
            out += leaf(kind, buf[pos : pos + size])
        pos += size
    return bytes(out)


def rewrite_moov(src: Path, dst: Path, leaf: Callable[[bytes, bytes, int], bytes]) -> Path:
    """Copy ``src`` to ``dst`` with every leaf box of its moov passed through
    ``leaf(type, box, offset_delta)`` and the box sizes above it fixed. When the moov
    comes before the mdat and changes size, ``offset_delta`` is that change, for the
    chunk offsets to follow the moved media data."""
    data = src.read_bytes()
    at, size = _top_box(data, b"moov")
    old = data[at + 8 : at + size]
    body = _rebuild(old, lambda k, b: leaf(k, b, 0))
    if at < _top_box(data, b"mdat")[0] and len(body) != len(old):
        delta = len(body) - len(old)
        body = _rebuild(old, lambda k, b: leaf(k, b, delta))
    dst.write_bytes(
        data[:at] + struct.pack(">I4s", 8 + len(body), b"moov") + body + data[at + size :]
    )
    return dst


def stco_to_co64(kind: bytes, box: bytes, delta: int) -> bytes:
    """A 32-bit chunk offset table as the equivalent 64-bit one."""
    if kind == b"stco":
        n = struct.unpack_from(">I", box, 12)[0]
        offsets = struct.unpack_from(f">{n}I", box, 16)
        body = box[8:16] + struct.pack(f">{n}Q", *(o + delta for o in offsets))
        return struct.pack(">I4s", 8 + len(body), b"co64") + body
    if kind == b"co64":
        raise AssertionError("the source already has a co64 box")
    return box


def split_edit(kind: bytes, box: bytes, delta: int) -> bytes:
    """An edit list of one media edit as two back-to-back media edits."""
    if kind != b"elst":
        return box
    version, count = box[8], struct.unpack_from(">I", box, 12)[0]
    assert version == 0 and count >= 1
    dur, media_time, rate = struct.unpack_from(">Iii", box, 16 + 12 * (count - 1))
    if media_time < 0:
        return box
    entries = box[16 : 16 + 12 * (count - 1)]
    entries += struct.pack(">Iii", dur // 2, media_time, rate)
    entries += struct.pack(">Iii", dur - dur // 2, media_time + 1, rate)
    body = box[8:12] + struct.pack(">I", count + 1) + entries
    return struct.pack(">I4s", 8 + len(body), b"elst") + body


# -------------------------------------------------------------------- the files


@pytest.fixture(scope="module")
def six_seconds(tmp_path_factory) -> Path:
    """6 s of H.264 (B-frames, a keyframe every 30 frames) and AAC: the source of the
    stream copies below."""
    out = tmp_path_factory.mktemp("header") / "six seconds.mp4"
    ffmpeg(
        *["-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=6", "-f", "lavfi", "-i", "sine=d=6"],
        *X264,
        *AAC,
        str(out),
    )
    return out


def encode(*args: str) -> Callable[[Path, Path], Path]:
    def make(out_dir: Path, _six: Path) -> Path:
        out = out_dir / f"out{args[-1] if args[-1].startswith('.') else '.mp4'}"
        ffmpeg(*[a for a in args if not a.startswith(".")], str(out))
        return out

    return make


def copy_of_six(*before: str, after: tuple[str, ...] = (), suffix: str = ".mp4"):
    def make(out_dir: Path, six: Path) -> Path:
        out = out_dir / f"copy{suffix}"
        ffmpeg(*before, "-i", str(six), *after, "-c", "copy", str(out))
        return out

    return make


def late(video: str, audio: str):
    """The source's video and audio with the input ``1`` delayed by 0.5 s (an empty edit)."""

    def make(out_dir: Path, six: Path) -> Path:
        out = out_dir / "late.mp4"
        ffmpeg(
            *["-i", str(six), "-itsoffset", "0.5", "-i", str(six)],
            *["-map", video, "-map", audio, "-c", "copy", str(out)],
        )
        return out

    return make


def co64(faststart: bool):
    def make(out_dir: Path, six: Path) -> Path:
        src = out_dir / "stco.mp4"
        ffmpeg(
            "-i",
            str(six),
            "-c",
            "copy",
            *(["-movflags", "+faststart"] if faststart else []),
            str(src),
        )
        out = rewrite_moov(src, out_dir / "co64.mp4", stco_to_co64)
        assert b"co64" in out.read_bytes() and b"stco" not in out.read_bytes()
        return out

    return make


def rotated(out_dir: Path, six: Path) -> Path:
    out = out_dir / "rotated.mp4"
    ffmpeg("-i", str(six), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(out))
    if _rotation(out) != 90:  # ffmpeg 6 and later ignore the tag
        ffmpeg("-display_rotation:v:0", "90", "-i", str(six), "-c", "copy", str(out))
    assert _rotation(out) == 90
    return out


def hevc(*extra: str):
    def make(out_dir: Path, six: Path) -> Path:
        if not has_encoder("libx265"):
            pytest.skip("this ffmpeg has no libx265")
        out = out_dir / "hevc.mp4"
        ffmpeg(*SRC, *TONE, *X265, *AAC, *extra, str(out))
        return out

    return make


EQUAL = [
    pytest.param(encode(*SRC, *TONE, *X264, *AAC), id="h264-bframes-editlist-moov-at-end"),
    pytest.param(encode(*SRC, *TONE, *X264, *AAC, "-movflags", "+faststart"), id="moov-at-front"),
    pytest.param(encode(*SRC, *X264, "-bf", "0", "-refs", "3"), id="h264-no-bframes-video-only"),
    pytest.param(encode(*SRC, *TONE, *X264, *AAC, "-use_editlist", "0"), id="no-edit-list"),
    pytest.param(
        encode(*SRC, *X264, "-movflags", "+negative_cts_offsets"), id="negative-cts-dts-shift"
    ),
    # -ss with stream copy: an edit starting mid-GOP; frames from the keyframe before it
    # are kept (with negative times) for the decoder.
    pytest.param(copy_of_six("-ss", "1.3"), id="edit-list-mid-gop-ss-copy"),
    pytest.param(copy_of_six("-ss", "2.1", after=("-an",)), id="edit-list-mid-gop-video-only"),
    pytest.param(copy_of_six(after=("-output_ts_offset", "2")), id="output-ts-offset"),
    pytest.param(late("1:v", "0:a"), id="empty-edit-video-starts-late"),
    pytest.param(late("0:v", "1:a"), id="empty-edit-audio-starts-late"),
    pytest.param(encode(*SRC, *TONE, *X264, *AAC, *FRAG), id="fragmented"),
    pytest.param(
        encode(*SRC, *TONE, *X264, *AAC, "-movflags", "frag_keyframe+empty_moov+default_base_moof"),
        id="fragmented-default-base-moof",
    ),
    pytest.param(
        encode(
            *SRC,
            *TONE,
            *X264,
            *AAC,
            *["-movflags", "empty_moov+default_base_moof", "-frag_duration", "500000"],
        ),
        id="fragmented-mid-gop-fragments",
    ),
    pytest.param(
        encode(*SRC, *X264, "-movflags", "frag_keyframe+empty_moov+negative_cts_offsets"),
        id="fragmented-negative-cts",
    ),
    pytest.param(
        encode(*SRC, "-vf", JITTER, "-fps_mode", "vfr", "-enc_time_base", "1/1000", *X264),
        id="vfr-jitter",
    ),
    pytest.param(
        encode(*SRC, *TONE, "-vf", "select='mod(n\\,3)'", "-fps_mode", "vfr", *X264, *AAC),
        id="vfr-dropped-frames",
    ),
    pytest.param(
        encode(*SRC, "-vf", JITTER, "-fps_mode", "vfr", "-enc_time_base", "1/1000", *X264, *FRAG),
        id="vfr-fragmented",
    ),
    pytest.param(co64(faststart=True), id="co64-moov-at-front"),
    pytest.param(co64(faststart=False), id="co64-moov-at-end"),
    pytest.param(rotated, id="rotated-display-matrix"),
    pytest.param(hevc(), id="hevc"),
    pytest.param(hevc(*FRAG), id="hevc-fragmented"),
    pytest.param(encode(*SRC, *TONE, *X264, *AAC, ".mov"), id="mov"),
    pytest.param(encode(*SRC, *TONE, *X264, "-c:a", "pcm_s16le", ".mov"), id="mov-pcm-audio"),
    pytest.param(encode(*SRC, *X264, ".m4v"), id="m4v"),
    pytest.param(encode(*SRC, "-c:v", "mpeg4", "-g", "30", "-bf", "2"), id="mpeg4-part2"),
    pytest.param(
        encode(
            *["-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=8"],
            *["-c:v", "libx264", "-x264-params", "open-gop=1:keyint=60:min-keyint=10"],
        ),
        id="h264-open-gop",
    ),
    pytest.param(
        encode(*["-f", "lavfi", "-i", "testsrc2=s=160x90:r=30000/1001:d=4"], *X264),
        id="ntsc-rate",
    ),
    pytest.param(
        encode(*SRC, *TONE, *TONE, "-map", "0", "-map", "1", "-map", "2", *X264, *AAC),
        id="two-audio-tracks",
    ),
]


def assert_same_index(header: KeyframeIndex, demuxed: KeyframeIndex) -> None:
    assert (header.method, demuxed.method) == ("mp4-header", "demux")
    assert header.frame_count == demuxed.frame_count
    np.testing.assert_array_equal(header.keyframe_frames, demuxed.keyframe_frames)
    np.testing.assert_allclose(header.pts_s, demuxed.pts_s, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(header.sizes, demuxed.sizes)
    np.testing.assert_array_equal(header.is_key, demuxed.is_key)
    np.testing.assert_array_equal(header.decode_order, demuxed.decode_order)
    assert header.fps == demuxed.fps
    assert header.duration_s == pytest.approx(demuxed.duration_s, rel=0, abs=1e-9)
    assert header.timestamps == demuxed.timestamps
    assert header.keyframes == demuxed.keyframes


@pytest.mark.parametrize("make", EQUAL)
def test_header_index_equals_demux(make, six_seconds, tmp_path):
    path = make(tmp_path, six_seconds)
    demuxed = demux_index(path)
    header = header_index(path)
    assert_same_index(header, demuxed)
    built = build_index(path)
    assert (built.method, built.fallback) == ("mp4-header", "")
    assert_same_index(built, demuxed)


def test_edit_list_cases_are_not_trivial(six_seconds, tmp_path):
    """What the edit-list cases above exercise: an edit starting mid-GOP keeps the frames
    from the keyframe before it (negative times); an empty edit delays the video against
    the audio; without an edit list the B-frame delay shows as a late first frame."""
    mid = header_index(copy_of_six("-ss", "1.3")(tmp_path, six_seconds))
    assert mid.pts_s[0] < 0 and np.any(np.isclose(mid.pts_s, 0.0, atol=1e-6))
    late_video = late("1:v", "0:a")(tmp_path, six_seconds)
    assert header_index(late_video).pts_s[0] == pytest.approx(0.5, abs=1e-6)
    plain = encode(*SRC, *TONE, *X264, *AAC, "-use_editlist", "0")(tmp_path, six_seconds)
    assert header_index(plain).pts_s[0] > 0


# -------------------------------------------------------------------- falling back


def cut_moov(keep: float):
    """The moov-at-end source cut ``keep`` of the way into its moov box."""

    def make(out_dir: Path, six: Path) -> Path:
        data = six.read_bytes()
        at, size = _top_box(data, b"moov")
        out = out_dir / "cut moov.mp4"
        out.write_bytes(data[: at + int(size * keep)])
        return out

    return make


def garbage_in(box: bytes):
    """The source with the body of its first ``box`` overwritten by random bytes."""

    def make(out_dir: Path, six: Path) -> Path:
        data = bytearray(six.read_bytes())
        at = data.find(box) + 4
        size = struct.unpack_from(">I", data, at - 8)[0]
        data[at : at - 8 + size] = random.Random(7).randbytes(size - 8)
        out = out_dir / f"garbage {box.decode()}.mp4"
        out.write_bytes(bytes(data))
        return out

    return make


def cut_mdat(out_dir: Path, six: Path) -> Path:
    src = out_dir / "front.mp4"
    ffmpeg("-i", str(six), "-c", "copy", "-movflags", "+faststart", str(src))
    data = src.read_bytes()
    at, size = _top_box(data, b"mdat")
    out = out_dir / "cut mdat.mp4"
    out.write_bytes(data[: at + size // 2])
    return out


def scene_cut_i_frame(out_dir: Path, _six: Path) -> Path:
    """One reference frame, no B-frames, and a cut x264 codes as a non-IDR I-frame."""
    out = out_dir / "single reference.mp4"
    ffmpeg(
        *["-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=2"],
        *["-f", "lavfi", "-i", "smptebars=s=160x90:r=25:d=1"],
        *["-f", "lavfi", "-i", "mandelbrot=s=160x90:r=25"],
        "-filter_complex",
        "[0][1]concat=n=2[a];[2]trim=duration=2,setpts=PTS-STARTPTS[b];[a][b]concat=n=2",
        *[*X264, "-bf", "0", "-refs", "1", "-x264-params", "keyint=250:min-keyint=100"],
        str(out),
    )
    return out


FALLBACK = [
    pytest.param(scene_cut_i_frame, "single-reference", id="h264-single-reference"),
    pytest.param(cut_moov(0.5), "cut short", id="moov-truncated"),
    pytest.param(cut_moov(0.02), "cut short", id="moov-truncated-at-start"),
    pytest.param(garbage_in(b"stsz"), None, id="garbage-stsz"),
    pytest.param(garbage_in(b"stts"), None, id="garbage-stts"),
    pytest.param(garbage_in(b"stsc"), None, id="garbage-stsc"),
    pytest.param(garbage_in(b"trak"), None, id="garbage-trak"),
    pytest.param(cut_mdat, "beyond the end of the file", id="mdat-truncated"),
    pytest.param(
        lambda d, six: rewrite_moov(six, d / "two edits.mp4", split_edit),
        "edit list",
        id="two-media-edits",
    ),
    pytest.param(
        copy_of_six(after=("-movflags", "frag_keyframe")),
        "samples in both the moov and fragments",
        id="fragmented-first-gop-in-moov",
    ),
    pytest.param(
        copy_of_six(after=("-movflags", "frag_keyframe+empty_moov+global_sidx")),
        "sidx",
        id="fragmented-with-sidx",
    ),
    pytest.param(copy_of_six(after=("-timecode", "00:00:10:00")), "tmcd", id="timecode-track"),
    pytest.param(
        copy_of_six(after=("-vn",)),
        "no video track",
        id="audio-only",
    ),
]


@pytest.mark.parametrize(("make", "reason"), FALLBACK)
def test_unsupported_or_damaged_header_falls_back_to_demux(make, reason, six_seconds, tmp_path):
    """build_index gives exactly what the demux path gives: the same index, or the same error."""
    path = make(tmp_path, six_seconds)
    with pytest.raises(HeaderUnsupported) as why:
        header_index(path)
    if reason is not None:
        assert reason in str(why.value)
    try:
        demuxed = demux_index(path)
    except MediaError as exc:
        with pytest.raises(MediaError) as got:
            build_index(path)
        assert str(got.value) == str(exc)
        return
    built = build_index(path)
    assert (built.method, built.fallback) == ("demux", str(why.value))
    assert built.frame_count == demuxed.frame_count
    np.testing.assert_array_equal(built.pts_s, demuxed.pts_s)
    np.testing.assert_array_equal(built.sizes, demuxed.sizes)


def test_single_reference_h264_keyframes_come_from_the_bitstream(six_seconds, tmp_path):
    """Why such a stream is demuxed: FFmpeg's H.264 parser flags the non-IDR I-frame at the
    cut as a keyframe, which no sync-sample table lists."""
    index = demux_index(scene_cut_i_frame(tmp_path, six_seconds))
    assert index.keyframe_frames.tolist() == [0, 75]


def test_matroska_is_demuxed_without_a_fallback_reason(six_seconds, tmp_path):
    mkv = tmp_path / "six.mkv"
    ffmpeg("-i", str(six_seconds), "-c", "copy", str(mkv))
    index = build_index(mkv)
    assert (index.method, index.fallback) == ("demux", "")
    assert index.to_json()["method"] == "demux"


@pytest.mark.parametrize("case", [c.case for c in BAD_CASES])
def test_bad_corpus_header_or_same_as_demux(case, bad_corpus):
    """Over the whole bad-input corpus, build_index and the demux path agree: same index or
    same error, whichever method build_index used."""
    path = bad_corpus[case]
    try:
        demuxed = demux_index(path)
    except MediaError as exc:
        with pytest.raises(MediaError) as got:
            build_index(path)
        assert str(got.value) == str(exc)
        return
    built = build_index(path)
    if built.method == "mp4-header":
        assert_same_index(built, demuxed)
    else:
        np.testing.assert_array_equal(built.pts_s, demuxed.pts_s)


# -------------------------------------------------------------------- arithmetic, asset


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param((12800 * 100, 51200), (25, 1), id="exact"),
        pytest.param((16000 * 100, 64064), (25000, 1001), id="ntsc"),
        pytest.param((2**40 + 1, 3), (2**31 - 1, 1), id="clamped-to-int-max"),
    ],
)
def test_av_reduce(args, expected):
    assert av_reduce(*args) == expected


def test_rescale_rounds_half_away_from_zero():
    assert rescale(1, 1_000_000, 30000) == 33
    assert rescale(1001, 1_000_000, 30000) == 33367
    assert rescale(1, 1, 2) == 1 and rescale(-1, 1, 2) == -1


def test_iframe_index_asset_reports_the_method(six_seconds, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copy(six_seconds, landing / "six.mp4")
    store = StoreResource(data_root=str(tmp_path / "data"), landing_dir=str(landing), settle_s=0.0)
    vid = register(store.root(), landing / "six.mp4").video_id
    instance = dg.DagsterInstance.ephemeral()
    assert videos.name is not None
    instance.add_dynamic_partitions(videos.name, [vid])
    res = dg.materialize(
        [source_video, iframe_index],
        partition_key=vid,
        instance=instance,
        resources={"store": store},
    )
    meta = res.asset_materializations_for_node("iframe_index")[0].metadata
    assert meta["index_method"].value == "mp4-header"
    assert meta["index_fallback"].value == "-"
