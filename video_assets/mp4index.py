"""The video packet table of an MP4/MOV/M4V file, read from its sample tables.

:func:`read_packet_table` reads the ``moov`` box (and every ``moof`` of a fragmented file)
and seeks over everything else, ``mdat`` included: no media byte is read. From ``stts``,
``ctts``, ``stss``/``stps``, ``stsz``/``stz2``, ``stsc``, ``stco``/``co64``, ``elst`` and
``mdhd`` (``tfhd``/``tfdt``/``trun`` and ``trex`` for fragments) it rebuilds what FFmpeg's
mov demuxer, run with its default options, hands out for the first video stream: each
packet's pts, dts, size, keyframe flag and duration in decode order, plus the stream's time
base and average frame rate and the container's start time. The keyframe index is then
built from that table exactly as from demuxed packets.

The rules followed are the demuxer's own (``libavformat/mov.c``): an edit list is applied
the way ``mov_fix_index`` applies it (frames before the edit from the previous keyframe on
are kept, with their timestamps rewritten, and the first pts made zero), fragments use
``tfdt`` and the ``trex`` defaults, an edit list in a fragmented file is a plain time offset,
and the container starts at the earliest start of its audio and video streams.

Anything outside what this module reproduces exactly raises :class:`HeaderUnsupported`,
and the caller demuxes instead: several non-empty edits, a sample-table count that
disagrees with another, a codec the demuxer parses or flags differently (only H.264, HEVC
and MPEG-4 Part 2 video are read), tracks other than audio and video, encryption, a
``sidx`` (FFmpeg then reads fragments lazily), an empty ``stss``, samples that lie beyond
the end of the file (a truncated ``mdat``), and any box that does not fit its parent.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from video_assets.avcc import ParameterSetError, check_avcc

AV_TIME_BASE = 1_000_000
INT_MAX = 2**31 - 1
MAX_BOX_BYTES = 512 << 20
"""A ``moov`` or ``moof`` larger than this is demuxed instead of read into memory."""
MAX_SAMPLE_SIZE = 0x3FFFFFFF
"""FFmpeg stops indexing a track at a larger sample."""

VIDEO_CODECS = {b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v"}
"""Sample entries whose packets the demuxer passes through unparsed, with the container's
keyframe flags (``mp4v`` only when its ``esds`` says MPEG-4 Part 2)."""
AUDIO_CODECS = {
    b"mp4a",
    b"ac-3",
    b"ec-3",
    b"Opus",
    b"fLaC",
    b"alac",
    b"sowt",
    b"twos",
    b"lpcm",
    b"ipcm",
    b"fpcm",
    b"in24",
    b"in32",
    b"fl32",
    b"fl64",
    b".mp3",
}
UNSUPPORTED_TOP = {b"sidx", b"ssix", b"meta"}
"""Top-level boxes after which FFmpeg reads differently (lazy fragments, HEIF items)."""
ENCRYPTION = {b"sinf", b"senc", b"saiz", b"saio", b"pssh", b"tenc"}
"""Boxes of encrypted media (CENC); PIFF puts them in ``uuid`` boxes of a ``traf``."""
TRUN_SAMPLE_FIELDS = ((0x100, "duration"), (0x200, "size"), (0x400, "flags"), (0x800, "cts"))
TRUN_DTYPES = {
    names: np.dtype([(name, ">i4" if name == "cts" else ">u4") for name in names])
    for names in (
        tuple(name for bit, name in TRUN_SAMPLE_FIELDS if mask & bit)
        for mask in range(0x100, 0x1000, 0x100)
    )
}
"""Sample record layouts of a ``trun`` by the fields its flags say it stores."""
TFHD_FLAGS = 0x01 | 0x02 | 0x08 | 0x10 | 0x20 | 0x020000
"""tfhd flags this reads: base offset, description, defaults, default-base-is-moof."""
TRUN_FLAGS = 0x01 | 0x04 | 0x100 | 0x200 | 0x400 | 0x800
SAMPLE_NON_SYNC = 0x10000
SAMPLE_DEPENDS_YES = 0x1000000


class HeaderUnsupported(Exception):
    """The header says something this reader does not reproduce exactly; demux instead."""


@dataclass
class PacketTable:
    """The packets FFmpeg's mov demuxer returns for the first video stream, in decode order.

    Attributes:
        pts: Presentation timestamps in ``time_base`` ticks.
        dts: Decode timestamps in ``time_base`` ticks.
        sizes: Packet sizes in bytes.
        keys: Keyframe flags.
        durations: Packet durations in ``time_base`` ticks.
        time_base: The stream's time base (1 / ``mdhd`` timescale).
        avg_rate: The stream's average frame rate as the demuxer states it.
        start_time_us: The container's start time in microseconds (None: unknown).
        width: Coded width the sample entry states.
        height: Coded height the sample entry states.
        duration_s: The longest duration the header states (movie, tracks, samples).
        fragmented: Whether the samples came from ``moof`` boxes.
    """

    pts: np.ndarray
    dts: np.ndarray
    sizes: np.ndarray
    keys: np.ndarray
    durations: np.ndarray
    time_base: Fraction
    avg_rate: Fraction | None
    start_time_us: int | None
    width: int
    height: int
    duration_s: float
    fragmented: bool


# --------------------------------------------------------------------------- arithmetic


def rescale(a: int, b: int, c: int) -> int:
    """``av_rescale(a, b, c)``: a * b / c rounded to nearest, halves away from zero."""
    if c <= 0:
        raise HeaderUnsupported("rescale by a non-positive timescale")
    if a < 0:
        return -((-a * b + c // 2) // c)
    return (a * b + c // 2) // c


def av_reduce(num: int, den: int, limit: int = INT_MAX) -> tuple[int, int]:
    """``av_reduce``: num/den in lowest terms, or its best approximation within ``limit``."""
    sign = (num < 0) != (den < 0)
    num, den = abs(num), abs(den)
    g = math.gcd(num, den)
    if g:
        num, den = num // g, den // g
    a0n, a0d, a1n, a1d = 0, 1, 1, 0
    if num <= limit and den <= limit:
        a1n, a1d = num, den
        den = 0
    while den:
        x = num // den
        next_den = num - den * x
        a2n = x * a1n + a0n
        a2d = x * a1d + a0d
        if a2n > limit or a2d > limit:
            if a1n:
                x = (limit - a0n) // a1n
            if a1d:
                x = min(x, (limit - a0d) // a1d)
            if den * (2 * x * a1d + a0d) > num * a1d:
                a1n, a1d = x * a1n + a0n, x * a1d + a0d
            break
        a0n, a0d, a1n, a1d = a1n, a1d, a2n, a2d
        num, den = den, next_den
    return (-a1n if sign else a1n), a1d


# --------------------------------------------------------------------------- boxes


def _u32(buf: bytes, at: int) -> int:
    return struct.unpack_from(">I", buf, at)[0]


def _children(buf: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Child boxes of ``buf[start:end]``: (type, payload start, payload end).

    Fewer than 8 bytes left over at the end are skipped, as FFmpeg skips them.
    """
    pos = start
    while end - pos >= 8:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        head = 8
        if size == 1:
            if end - pos < 16:
                raise HeaderUnsupported(f"box {kind!r} has a cut 64-bit size")
            size = struct.unpack_from(">Q", buf, pos + 8)[0]
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            raise HeaderUnsupported(f"box {kind!r} does not fit its parent")
        yield kind, pos + head, pos + size
        pos += size


def _one(buf: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    found = [(a, b) for k, a, b in _children(buf, start, end) if k == kind]
    if len(found) > 1:
        raise HeaderUnsupported(f"more than one {kind!r} box")
    return found[0] if found else None


def _array(buf: bytes, at: int, end: int, count: int, dtype: str, width: int = 1) -> np.ndarray:
    itemsize = np.dtype(dtype).itemsize
    nbytes = count * width * itemsize
    if at + nbytes > end:
        raise HeaderUnsupported("a sample table is shorter than its entry count")
    arr = np.frombuffer(buf, dtype=dtype, count=count * width, offset=at).astype(np.int64)
    return arr.reshape(count, width) if width > 1 else arr


# --------------------------------------------------------------------------- tracks


@dataclass
class _Track:
    """What one ``trak`` box says (only what the packet table needs)."""

    track_id: int = 0
    handler: bytes = b""
    fourcc: bytes = b""
    object_type: int | None = None
    timescale: int = 0
    mdhd_duration: int = 0
    width: int = 0
    height: int = 0
    sample_rate: int = 0
    avcc: bytes | None = None
    elst: list[tuple[int, int, int]] | None = None
    stts: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    ctts: np.ndarray | None = None
    ctts_raw_entries: int = 0
    stss: np.ndarray | None = None
    stps: np.ndarray | None = None
    rap: np.ndarray | None = None
    sample_size: int = 0
    sizes: np.ndarray | None = None
    sample_count: int = 0
    stsc: np.ndarray | None = None
    chunk_offsets: np.ndarray | None = None

    @property
    def kind(self) -> str:
        if self.handler == b"vide" and self.fourcc in VIDEO_CODECS:
            if self.fourcc == b"mp4v" and self.object_type != 0x20:
                raise HeaderUnsupported("an mp4v track that is not MPEG-4 Part 2")
            return "video"
        if self.handler == b"soun" and self.fourcc in AUDIO_CODECS:
            return "audio"
        raise HeaderUnsupported(
            f"a {self.handler.decode('latin-1')!r} track of {self.fourcc.decode('latin-1')!r}"
        )

    @property
    def is_aac(self) -> bool:
        return self.fourcc == b"mp4a" and self.object_type in (0x40, 0x66, 0x67, 0x68)


def _esds_object_type(buf: bytes, start: int, end: int) -> int:
    """objectTypeIndication of the DecoderConfigDescriptor in an ``esds`` payload, checking
    that every descriptor on the way fits its parent (FFmpeg refuses the file otherwise)."""

    def descriptor(pos: int, limit: int) -> tuple[int, int, int]:
        tag = buf[pos]
        pos += 1
        length = 0
        for _ in range(4):
            b = buf[pos]
            pos += 1
            length = (length << 7) | (b & 0x7F)
            if not b & 0x80:
                break
        if pos + length > limit:
            raise HeaderUnsupported("an esds descriptor that overruns its box")
        return tag, pos, pos + length

    tag, pos, es_end = descriptor(start + 4, end)  # after version and flags
    if tag != 0x03:
        raise HeaderUnsupported("an esds box without an ES descriptor")
    flags = buf[pos + 2]
    pos += 3
    if flags & 0x80:
        pos += 2
    if flags & 0x40:
        pos += 1 + buf[pos]
    if flags & 0x20:
        pos += 2
    tag, pos, config_end = descriptor(pos, es_end)
    if tag != 0x04 or config_end - pos < 13:
        raise HeaderUnsupported("an esds box without a decoder config descriptor")
    object_type = buf[pos]
    if config_end > pos + 13:
        tag, _, _ = descriptor(pos + 13, config_end)
    return object_type


def _check_hvcc(buf: bytes, start: int, end: int) -> None:
    """An HEVCDecoderConfigurationRecord whose NAL unit arrays fit the box."""
    if end - start < 23 or buf[start] != 1:
        raise HeaderUnsupported("an hvcC box FFmpeg would not read")
    pos = start + 23
    for _ in range(buf[start + 22]):
        if pos + 3 > end:
            raise HeaderUnsupported("a cut hvcC box")
        count = struct.unpack_from(">H", buf, pos + 1)[0]
        pos += 3
        for _ in range(count):
            if pos + 2 > end:
                raise HeaderUnsupported("a cut hvcC box")
            pos += 2 + struct.unpack_from(">H", buf, pos)[0]
            if pos > end:
                raise HeaderUnsupported("a cut hvcC box")


def _read_stsd(buf: bytes, a: int, b: int, t: _Track) -> None:
    count = _u32(buf, a + 4)
    if count != 1:
        raise HeaderUnsupported(f"{count} sample descriptions in one track")
    entry = a + 8
    size, fourcc = struct.unpack_from(">I4s", buf, entry)
    if size < 16 or entry + size > b:
        raise HeaderUnsupported("a sample description that does not fit its box")
    t.fourcc = fourcc
    if t.handler == b"vide" and size >= 86:
        t.width, t.height = struct.unpack_from(">HH", buf, entry + 32)
        body = entry + 86
    elif t.handler == b"soun" and size >= 36:
        version = struct.unpack_from(">H", buf, entry + 16)[0]
        if version > 1:
            raise HeaderUnsupported("a version-2 QuickTime sound description")
        t.sample_rate = _u32(buf, entry + 32) >> 16
        body = entry + 36 + (16 if version == 1 else 0)
    else:
        return
    configs: set[bytes] = set()
    boxes = list(_children(buf, body, entry + size)) if body < entry + size else []
    for kind, x, y in boxes:
        if kind == b"wave":  # QuickTime keeps the audio esds inside a wave box
            boxes += [c for c in _children(buf, x, y) if c[0] == b"esds"]
    for kind, x, y in boxes:
        if kind in configs and kind in (b"esds", b"avcC", b"hvcC"):
            raise HeaderUnsupported(f"two {kind.decode()} boxes in one sample description")
        configs.add(kind)
        if kind == b"esds":
            t.object_type = _esds_object_type(buf, x, y)
        elif kind == b"avcC":
            t.avcc = bytes(buf[x:y])
        elif kind == b"hvcC":
            _check_hvcc(buf, x, y)
        elif kind in ENCRYPTION:
            raise HeaderUnsupported("an encrypted track")
    if fourcc in (b"hvc1", b"hev1") and b"hvcC" not in configs:
        raise HeaderUnsupported("an HEVC sample description without hvcC")
    if fourcc == b"mp4v" and b"esds" not in configs:
        raise HeaderUnsupported("an mp4v sample description without esds")


def _read_stbl(buf: bytes, a: int, b: int, t: _Track) -> None:
    seen: set[bytes] = set()
    for kind, x, y in _children(buf, a, b):
        if kind in seen and kind != b"sgpd":
            raise HeaderUnsupported(f"a duplicated {kind!r} box")
        seen.add(kind)
        if kind == b"stsd":
            _read_stsd(buf, x, y, t)
        elif kind == b"stts":
            n = _u32(buf, x + 4)
            t.stts = _array(buf, x + 8, y, n, ">u4", 2)
        elif kind == b"ctts":
            n = _u32(buf, x + 4)
            raw = _array(buf, x + 8, y, n, ">i4", 2)
            t.ctts_raw_entries = n
            t.ctts = raw
        elif kind == b"stss":
            n = _u32(buf, x + 4)
            t.stss = _array(buf, x + 8, y, n, ">u4")
        elif kind == b"stps":
            n = _u32(buf, x + 4)
            t.stps = _array(buf, x + 8, y, n, ">u4")
        elif kind == b"stsz":
            t.sample_size, n = struct.unpack_from(">II", buf, x + 4)
            t.sample_count = n
            if t.sample_size == 0 and n:
                t.sizes = _array(buf, x + 12, y, n, ">u4")
        elif kind == b"stz2":
            bits, n = buf[x + 7], _u32(buf, x + 8)
            t.sample_count = n
            if bits == 32:
                t.sizes = _array(buf, x + 12, y, n, ">u4")
            elif bits == 16:
                t.sizes = _array(buf, x + 12, y, n, ">u2")
            elif bits == 8:
                t.sizes = _array(buf, x + 12, y, n, "u1")
            elif bits == 4:
                packed = _array(buf, x + 12, y, (n + 1) // 2, "u1")
                t.sizes = np.stack([packed >> 4, packed & 15], axis=1).reshape(-1)[:n]
            else:
                raise HeaderUnsupported(f"stz2 field size {bits}")
        elif kind == b"stsc":
            n = _u32(buf, x + 4)
            t.stsc = _array(buf, x + 8, y, n, ">u4", 3)
        elif kind == b"stco":
            n = _u32(buf, x + 4)
            t.chunk_offsets = _array(buf, x + 8, y, n, ">u4")
        elif kind == b"co64":
            n = _u32(buf, x + 4)
            t.chunk_offsets = _array(buf, x + 8, y, n, ">u8")
        elif kind == b"sbgp":
            version, grouping = buf[x], buf[x + 4 : x + 8]
            if grouping == b"rap ":
                at = x + 8 + (4 if version == 1 else 0)
                n = _u32(buf, at)
                t.rap = _array(buf, at + 4, y, n, ">u4", 2)
        elif kind in ENCRYPTION:
            raise HeaderUnsupported("an encrypted track")
    if {b"stco", b"co64"} <= seen or {b"stsz", b"stz2"} <= seen:
        raise HeaderUnsupported("two chunk offset or sample size tables")


def _read_trak(buf: bytes, a: int, b: int) -> _Track:
    t = _Track()
    tkhd = _one(buf, a, b, b"tkhd")
    mdia = _one(buf, a, b, b"mdia")
    if tkhd is None or mdia is None:
        raise HeaderUnsupported("a track without tkhd or mdia")
    x, _ = tkhd
    version = buf[x]
    t.track_id = _u32(buf, x + (20 if version == 1 else 12))
    for kind, _, _ in _children(buf, a, b):
        if kind == b"tref" and b"chap" in buf[a:b]:
            raise HeaderUnsupported("a chapter track reference")
    edts = _one(buf, a, b, b"edts")
    if edts is not None:
        elst = _one(buf, edts[0], edts[1], b"elst")
        if elst is not None:
            x, y = elst
            version, count = buf[x], _u32(buf, x + 4)
            width = 20 if version == 1 else 12
            if 8 + count * width != y - x:
                raise HeaderUnsupported("an edit list whose size disagrees with its count")
            entries = []
            for i in range(count):
                at = x + 8 + i * width
                if version == 1:
                    dur, media_time, rate = struct.unpack_from(">Qqi", buf, at)
                else:
                    dur, media_time, rate = struct.unpack_from(">Iii", buf, at)
                entries.append((dur, media_time, rate))
            t.elst = entries or None
    mdhd = _one(buf, mdia[0], mdia[1], b"mdhd")
    hdlr = _one(buf, mdia[0], mdia[1], b"hdlr")
    minf = _one(buf, mdia[0], mdia[1], b"minf")
    if mdhd is None or hdlr is None or minf is None:
        raise HeaderUnsupported("a track without mdhd, hdlr or minf")
    x, _ = mdhd
    if buf[x] == 1:
        t.timescale, t.mdhd_duration = struct.unpack_from(">IQ", buf, x + 20)
    else:
        t.timescale, t.mdhd_duration = struct.unpack_from(">II", buf, x + 12)
    if not 0 < t.timescale <= INT_MAX:
        raise HeaderUnsupported(f"a track timescale of {t.timescale}")
    t.handler = buf[hdlr[0] + 8 : hdlr[0] + 12]
    dinf = _one(buf, minf[0], minf[1], b"dinf")
    if dinf is not None:
        dref = _one(buf, dinf[0], dinf[1], b"dref")
        if dref is not None:
            refs = list(_children(buf, dref[0] + 8, dref[1]))
            if not refs or len(refs) != _u32(buf, dref[0] + 4):
                raise HeaderUnsupported("a dref box whose count disagrees with its entries")
            for _, x, _ in refs:
                if _u32(buf, x - 8) < 12 or not buf[x + 3] & 1:
                    raise HeaderUnsupported("a track whose media lies in another file")
    stbl = _one(buf, minf[0], minf[1], b"stbl")
    if stbl is None:
        raise HeaderUnsupported("a track without a sample table")
    _read_stbl(buf, stbl[0], stbl[1], t)
    return t


# --------------------------------------------------------------------------- samples


@dataclass
class _Samples:
    """One track's index entries in decode order, as the demuxer keeps them."""

    dts: np.ndarray
    ctts: np.ndarray
    sizes: np.ndarray
    keys: np.ndarray
    durations: np.ndarray
    chunks: np.ndarray
    """(start, end) byte range of every chunk."""
    has_ctts: bool
    dts_shift: int


def _moov_samples(t: _Track, full: bool = True) -> _Samples:
    """The samples of a track from its sample tables (``mov_build_index``), before edits.

    With ``full`` False (an audio track: only its start and its chunks matter) the
    per-sample arrays hold the first sample alone.
    """
    n = t.sample_count
    offsets = t.chunk_offsets if t.chunk_offsets is not None else np.zeros(0, np.int64)
    stsc = t.stsc if t.stsc is not None else np.zeros((0, 3), np.int64)
    chunks = len(offsets)
    if chunks and (not len(t.stts) or not len(stsc) or (not t.sample_size and not n)):
        raise HeaderUnsupported("a track missing mandatory sample tables")
    if not chunks and n:
        raise HeaderUnsupported("samples without chunks")
    firsts = stsc[:, 0]
    if (
        len(stsc)
        and (firsts[0] != 1 or np.any(np.diff(firsts) <= 0) or firsts[-1] > chunks)
        or np.any(stsc[:, 1] < 1)
        or np.any(stsc[:, 2] != 1)
    ):
        raise HeaderUnsupported("an irregular sample-to-chunk table")
    per_chunk = np.repeat(stsc[:, 1], np.diff(np.append(firsts - 1, chunks)))
    if int(per_chunk.sum()) != n:
        raise HeaderUnsupported("chunks hold a different number of samples than stsz")
    sizes = np.full(n, t.sample_size, np.int64) if t.sample_size or not n else t.sizes
    if sizes is None or len(sizes) != n:
        raise HeaderUnsupported("no sample sizes")
    if n and (sizes.min() <= 0 or sizes.max() > MAX_SAMPLE_SIZE):
        raise HeaderUnsupported("an empty or oversized sample")
    if t.sample_size:
        chunk_bytes = per_chunk * t.sample_size
    else:
        ends = np.cumsum(per_chunk)
        total = np.concatenate(([0], np.cumsum(sizes)))
        chunk_bytes = total[ends] - total[ends - per_chunk]
    chunk_ranges = np.stack([offsets, offsets + chunk_bytes], axis=1)

    counts, deltas = t.stts[:, 0], t.stts[:, 1]
    if int(counts.sum()) != n:
        raise HeaderUnsupported("stts covers a different number of samples than stsz")
    if len(deltas) and (deltas.min() <= 0 or deltas.max() > INT_MAX):
        raise HeaderUnsupported("a zero or huge sample duration")
    durations = np.repeat(deltas, counts) if full else deltas[:1]

    has_ctts = False
    ctts = np.zeros(n, np.int64)
    dts_shift = 0
    if t.ctts is not None and len(t.ctts):
        counts, offs = t.ctts[:, 0], t.ctts[:, 1]
        valid = counts > 0
        shift_rows = np.arange(len(counts)) + 2 < t.ctts_raw_entries
        if np.any(valid & shift_rows & (np.abs(offs) > (1 << 28))):
            raise HeaderUnsupported("ctts offsets FFmpeg drops as invalid")
        negative = offs[valid & shift_rows & (offs < 0)]
        dts_shift = int(-negative.min()) if len(negative) else 0
        if int(counts[valid].sum()) != n:
            raise HeaderUnsupported("ctts covers a different number of samples than stsz")
        ctts = np.repeat(offs[valid], counts[valid]) if full else offs[valid][:1]
        has_ctts = bool(valid.any())
    if not full:
        first = durations[:0] - dts_shift if not n else np.array([-dts_shift])
        return _Samples(
            first,
            ctts[: len(first)],
            sizes[:0],
            np.zeros(0, bool),
            durations,
            chunk_ranges,
            has_ctts,
            dts_shift,
        )

    if t.stss is not None and not len(t.stss):
        raise HeaderUnsupported("an empty stss (FFmpeg parses the stream for keyframes)")
    key_off = int(
        (t.stss is not None and len(t.stss) > 0 and t.stss[0] > 0)
        or (t.stps is not None and len(t.stps) > 0 and t.stps[0] > 0)
    )
    if t.stss is None:
        keys = np.ones(n, bool)
    else:
        keys = _marked(t.stss, key_off, n)
        if t.stps is not None and len(t.stps):
            keys |= _marked(t.stps, key_off, n)
    if t.rap is not None and len(t.rap):
        group = np.repeat(t.rap[:, 1], t.rap[:, 0])[:n]
        keys[: len(group)] |= group > 0
    dts = np.cumsum(durations) - durations - dts_shift
    return _Samples(dts, ctts, sizes, keys, durations, chunk_ranges, has_ctts, dts_shift)


def _marked(numbers: np.ndarray, key_off: int, n: int) -> np.ndarray:
    at = numbers - key_off
    if np.any(np.diff(at) <= 0) or (len(at) and (at[0] < 0 or at[-1] >= n)):
        raise HeaderUnsupported("a sync-sample table out of order or out of range")
    out = np.zeros(n, bool)
    out[at] = True
    return out


@dataclass
class _Fixed:
    """A video track's packets after its edit list, and the stream's start time."""

    dts: np.ndarray
    pts: np.ndarray
    keep: slice
    start: int | None


def _edits(t: _Track, movie_timescale: int) -> tuple[int, tuple[int, int] | None, int]:
    """(sum of leading empty edits, the one media edit or None, total edit duration),
    durations in the track's timescale."""
    assert t.elst is not None
    empty = 0
    media: tuple[int, int] | None = None
    total = 0
    for dur, media_time, rate in t.elst:
        d = rescale(dur, t.timescale, movie_timescale)
        total += d
        if media is None and media_time == -1:
            empty += d
            continue
        if media is not None or media_time < 0 or rate != 0x10000 or d <= 0:
            raise HeaderUnsupported("an edit list this reader cannot map")
        media = (media_time, d)
    return empty, media, total


def _fix_index(s: _Samples, t: _Track, movie_timescale: int) -> _Fixed:
    """``mov_fix_index`` for video with leading empty edits and one media edit."""
    empty, media, _ = _edits(t, movie_timescale)
    if media is None:
        raise HeaderUnsupported("an edit list with no media edit")
    media_time, edit_dur = media
    dts, ctts, keys, shift = s.dts, s.ctts, s.keys, s.dts_shift
    n = len(dts)
    start = _prev_closest(dts, keys, ctts if s.has_ctts else None, media_time, shift, False)
    if start < 0:
        start = _prev_closest(dts, keys, ctts if s.has_ctts else None, media_time, shift, True)
        start = max(start, 0)
    frame_dur = np.empty(n, np.int64)
    frame_dur[:-1] = np.diff(dts)
    frame_dur[-1] = edit_dur
    cts = dts + shift + ctts
    edit_end = media_time + edit_dur
    in_edit = (cts >= media_time) & (cts < edit_end)
    hits = np.flatnonzero((cts[start:] + frame_dur[start:] >= edit_end) & keys[start:]) + start
    # The loop stops after the first keyframe past the edit's end, or with B-frames after
    # the second (trailing B-frames of the first may still belong to the edit).
    need = 2 if s.has_ctts else 1
    last = int(hits[need - 1]) if len(hits) >= need else n - 1
    keep = slice(start, last + 1)
    inside = np.flatnonzero(in_edit[keep]) + start
    if not len(inside):
        raise HeaderUnsupported("no frame inside the edit")
    first = int(inside[0])
    counter = -shift + empty
    new_dts = dts[keep] + (counter - dts[first])
    corrected = new_dts[inside - start] + ctts[inside] + shift
    min_pts = -1
    for v in corrected.tolist() if corrected.min() < 0 else [int(corrected.min())]:
        min_pts = v if min_pts < 0 else min(min_pts, v)
    min_pts -= empty
    if min_pts > 0:
        new_dts = new_dts - min_pts
    return _Fixed(new_dts, new_dts + shift + ctts[keep], keep, empty)


def _prev_closest(
    dts: np.ndarray,
    keys: np.ndarray,
    ctts: np.ndarray | None,
    target: int,
    shift: int,
    any_frame: bool,
) -> int:
    """``find_prev_closest_index``: the keyframe to start decoding at for pts ``target``."""
    target -= shift
    i = int(np.searchsorted(dts, target, side="right")) - 1
    if not any_frame:
        while i >= 0 and not keys[i]:
            i -= 1
    if ctts is not None:
        while i >= 0 and not (dts[i] + ctts[i] <= target and keys[i]):
            i -= 1
    return i


# --------------------------------------------------------------------------- fragments


@dataclass
class _Run:
    """One ``trun`` box: its first dts and its sample fields (``rows``) or defaults."""

    dts0: int
    n: int
    rows: np.ndarray | None
    names: tuple[str, ...]
    defaults: dict[str, int]
    first_flags: int

    def stored(self, name: str) -> np.ndarray:
        """A field the run stores per sample (in ``names``)."""
        assert self.rows is not None
        return self.rows[name]

    def column(self, name: str) -> np.ndarray:
        if name in self.names:
            return self.stored(name).astype(np.int64)
        out = np.full(self.n, self.defaults[name], np.int64)
        if name == "flags":
            out[0] = self.first_flags
        return out


@dataclass
class _Frag:
    """A track's runs gathered from ``moof`` boxes."""

    runs: list[_Run] = field(default_factory=list)
    ranges: list[tuple[int, int]] = field(default_factory=list)
    track_end: int = 0

    def column(self, name: str) -> np.ndarray:
        names = {r.names for r in self.runs}
        if len(names) == 1 and name in next(iter(names)):  # every run stores the field
            return np.concatenate([r.rows for r in self.runs])[name].astype(np.int64)
        return np.concatenate([r.column(name) for r in self.runs])

    @property
    def dts_shift(self) -> int:
        """``sc->dts_shift``: the largest negative composition offset of any run."""
        lows = [int(r.stored("cts").min()) for r in self.runs if "cts" in r.names]
        return max(0, -min(lows, default=0))

    @property
    def first_pts(self) -> int:
        first = self.runs[0]
        cts0 = int(first.stored("cts")[0]) if "cts" in first.names else 0
        return first.dts0 + self.dts_shift + cts0


def _read_fragments(
    moofs: list[tuple[int, bytes]],
    tracks: list[_Track],
    trex: dict[int, tuple[int, int, int, int]],
    offsets: dict[int, int],
) -> dict[int, _Frag]:
    """Every track's samples from the ``moof`` boxes, as ``mov_read_trun`` indexes them."""
    frags = {t.track_id: _Frag() for t in tracks}
    for moof_at, buf in moofs:
        implicit = moof_at
        for kind, a, b in _children(buf, 0, len(buf)):
            if kind in ENCRYPTION or kind == b"uuid":
                raise HeaderUnsupported("an encrypted fragment")
            if kind != b"traf":
                continue
            tfhd = _one(buf, a, b, b"tfhd")
            if tfhd is None:
                raise HeaderUnsupported("a track fragment without tfhd")
            x, _ = tfhd
            flags = _u32(buf, x) & 0xFFFFFF
            if flags & ~TFHD_FLAGS:
                raise HeaderUnsupported(f"tfhd flags {flags:#x}")
            track_id = _u32(buf, x + 4)
            if track_id not in trex or track_id not in frags:
                raise HeaderUnsupported("a fragment of an unknown track")
            stsd_id, dflt_dur, dflt_size, dflt_flags = trex[track_id]
            at = x + 8
            if flags & 0x01:
                base = struct.unpack_from(">Q", buf, at)[0]
                at += 8
            else:
                base = moof_at if flags & 0x020000 else implicit
            if flags & 0x02:
                stsd_id = _u32(buf, at)
                at += 4
            if flags & 0x08:
                dflt_dur = _u32(buf, at)
                at += 4
            if flags & 0x10:
                dflt_size = _u32(buf, at)
                at += 4
            if flags & 0x20:
                dflt_flags = _u32(buf, at)
            if stsd_id != 1:
                raise HeaderUnsupported("a fragment naming another sample description")
            f = frags[track_id]
            time_offset = offsets[track_id]
            tfdt: int | None = None
            next_trun: int | None = None
            for kind2, x, y in _children(buf, a, b):
                if kind2 in ENCRYPTION or kind2 == b"uuid":
                    raise HeaderUnsupported("an encrypted fragment")
                if kind2 == b"tfdt":
                    tfdt = struct.unpack_from(">Q" if buf[x] else ">I", buf, x + 4)[0]
                    f.track_end = tfdt
                elif kind2 == b"trun":
                    if next_trun is not None:
                        dts0 = next_trun - time_offset
                    elif tfdt is not None:
                        dts0 = tfdt - time_offset
                    else:
                        dts0 = f.track_end - time_offset
                    implicit, end_dts = _read_trun(
                        buf, x, y, f, base, dts0, dflt_dur, dflt_size, dflt_flags
                    )
                    next_trun = end_dts + time_offset
                    f.track_end = end_dts + time_offset
    return frags


def _read_trun(
    buf: bytes,
    x: int,
    y: int,
    f: _Frag,
    base: int,
    dts0: int,
    dflt_dur: int,
    dflt_size: int,
    dflt_flags: int,
) -> tuple[int, int]:
    """One ``trun`` into ``f``; returns (offset after its data, dts after its last sample).

    Only the sums this needs at once are taken here; the per-sample arrays are built, and
    checked, for the whole track at the end (:func:`_fragment_table`).
    """
    flags = _u32(buf, x) & 0xFFFFFF
    if flags & ~TRUN_FLAGS:
        raise HeaderUnsupported(f"trun flags {flags:#x}")
    n = _u32(buf, x + 4)
    at = x + 8
    data_offset = 0
    first_flags = dflt_flags
    if flags & 0x01:
        data_offset = struct.unpack_from(">i", buf, at)[0]
        at += 4
    if flags & 0x04:
        first_flags = _u32(buf, at)
        at += 4
    offset = base + data_offset
    if n == 0:
        return offset, dts0
    names = tuple(name for bit, name in TRUN_SAMPLE_FIELDS if flags & bit)
    rows = None
    if names:
        dtype = TRUN_DTYPES[names]
        if at + n * dtype.itemsize > y:
            raise HeaderUnsupported("a trun shorter than its sample count")
        rows = np.frombuffer(buf, dtype=dtype, count=n, offset=at)
    size = int(rows["size"].sum()) if rows is not None and "size" in names else n * dflt_size
    duration = (
        int(rows["duration"].sum()) if rows is not None and "duration" in names else n * dflt_dur
    )
    defaults = {"duration": dflt_dur, "size": dflt_size, "flags": dflt_flags, "cts": 0}
    f.runs.append(_Run(dts0, n, rows, names, defaults, first_flags))
    f.ranges.append((offset, offset + size))
    return offset + size, dts0 + duration


# --------------------------------------------------------------------------- the file


def _scan(
    f: BinaryIO, file_size: int
) -> tuple[bytes, list[tuple[int, bytes]], list[tuple[int, int]]]:
    """Read the ``moov`` and every ``moof``, seeking over all other top-level boxes.

    Returns the ``moov`` payload, every ``moof`` (offset, payload), and the byte range of
    every ``mdat`` payload (cut at the end of the file).
    """
    moov: bytes | None = None
    moofs: list[tuple[int, bytes]] = []
    mdats: list[tuple[int, int]] = []
    pos = 0
    while file_size - pos >= 8:
        f.seek(pos)
        head = f.read(16)
        size, kind = struct.unpack_from(">I4s", head)
        hsize = 8
        if size == 1:
            if len(head) < 16:
                raise HeaderUnsupported("a cut box header at the end of the file")
            size = struct.unpack_from(">Q", head, 8)[0]
            hsize = 16
        elif size == 0:
            size = file_size - pos
        if size < hsize:
            raise HeaderUnsupported(f"a top-level box {kind!r} of {size} bytes")
        if kind in UNSUPPORTED_TOP:
            raise HeaderUnsupported(f"a top-level {kind.decode('latin-1')!r} box")
        if kind in (b"moov", b"moof"):
            if pos + size > file_size or size > MAX_BOX_BYTES or hsize != 8:
                raise HeaderUnsupported(f"a {kind.decode()} box cut short or too large")
            f.seek(pos + hsize)
            data = f.read(size - hsize)
            if kind == b"moov":
                if moov is not None:
                    raise HeaderUnsupported("two moov boxes")
                moov = data
            else:
                if moov is None:
                    raise HeaderUnsupported("a moof before the moov")
                moofs.append((pos, data))
        elif kind == b"mdat":
            mdats.append((pos + hsize, min(pos + size, file_size)))
        pos += size
    if moov is None:
        raise HeaderUnsupported("no moov box")
    return moov, moofs, mdats


def looks_like_mp4(path: Path) -> bool:
    """Whether the file starts with a box FFmpeg's mov demuxer reads (ftyp, moov, ...)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return len(head) == 8 and head[4:8] in {
        b"ftyp",
        b"moov",
        b"mdat",
        b"free",
        b"skip",
        b"wide",
        b"pnot",
    }


def read_packet_table(path: str | Path) -> PacketTable:
    """The first video stream's packets, as FFmpeg's mov demuxer returns them.

    Reads the ``moov`` box and every ``moof`` box; media data is never read.

    Raises:
        HeaderUnsupported: the file holds something this reader does not reproduce
            exactly (the caller demuxes instead).
        OSError: the file cannot be read.
    """
    p = Path(path)
    try:
        return _read_packet_table(p)
    except (struct.error, IndexError, ValueError, OverflowError) as exc:
        raise HeaderUnsupported(f"a header this reader cannot parse ({exc})") from None


def _read_packet_table(p: Path) -> PacketTable:
    file_size = p.stat().st_size
    with open(p, "rb") as f:
        moov, moofs, mdats = _scan(f, file_size)
    if b"cmov" in moov or b"covr" in moov or b"iTunSMPB" in moov:
        raise HeaderUnsupported("a compressed moov, cover art or iTunes gapless data")
    movie_timescale, movie_duration, tracks, trex = _read_movie(moov, bool(moofs))
    kinds = [t.kind for t in tracks]
    video = tracks[kinds.index("video")]
    if video.fourcc in (b"avc1", b"avc3"):
        # FFmpeg parses H.264 and takes keyframe flags from the bitstream, not from stss.
        try:
            check_avcc(video.avcc or b"", video.width, video.height)
        except ParameterSetError as exc:
            raise HeaderUnsupported(str(exc)) from None
    starts: list[tuple[int, int]] = []  # (start, timescale) of every stream with one
    durations_s = [] if trex else [movie_duration / movie_timescale]
    durations_s += [t.mdhd_duration / t.timescale for t in tracks]
    if moofs:
        packets = _fragment_packets(
            moofs, mdats, tracks, trex, movie_timescale, starts, durations_s
        )
    else:
        packets = _moov_packets(mdats, tracks, movie_timescale, starts, durations_s)
    pts, dts, sizes, keys, durs, avg_rate = packets
    if not len(pts):
        raise HeaderUnsupported("a video track without samples")
    if avg_rate is None:
        raise HeaderUnsupported("no average frame rate in the header")
    start_us = min((rescale(st, AV_TIME_BASE, ts) for st, ts in starts), default=None)
    return PacketTable(
        pts=pts,
        dts=dts,
        sizes=sizes,
        keys=keys,
        durations=durs,
        time_base=Fraction(1, video.timescale),
        avg_rate=avg_rate,
        start_time_us=start_us,
        width=max(video.width, 0),
        height=max(video.height, 0),
        duration_s=max(durations_s),
        fragmented=bool(moofs),
    )


def _read_movie(
    moov: bytes, fragmented: bool
) -> tuple[int, int, list[_Track], dict[int, tuple[int, int, int, int]]]:
    """The movie's timescale and duration, its tracks, and the fragments' track defaults
    (``trex``), after the checks that make the header one this reader understands."""
    mvhd = _one(moov, 0, len(moov), b"mvhd")
    if mvhd is None:
        raise HeaderUnsupported("no mvhd box")
    x, _ = mvhd
    if moov[x] == 1:
        movie_timescale, movie_duration = struct.unpack_from(">IQ", moov, x + 20)
    else:
        movie_timescale, movie_duration = struct.unpack_from(">II", moov, x + 12)
    if not 0 < movie_timescale <= INT_MAX:
        raise HeaderUnsupported(f"a movie timescale of {movie_timescale}")
    tracks = [_read_trak(moov, a, b) for k, a, b in _children(moov, 0, len(moov)) if k == b"trak"]
    trex: dict[int, tuple[int, int, int, int]] = {}
    mvex = _one(moov, 0, len(moov), b"mvex")
    if mvex is not None:
        for box, a, _ in _children(moov, mvex[0], mvex[1]):
            if box == b"trex":
                track_id, *defaults = struct.unpack_from(">IIIII", moov, a + 4)
                trex[track_id] = (defaults[0], defaults[1], defaults[2], defaults[3])
    if "video" not in [t.kind for t in tracks]:
        raise HeaderUnsupported("no video track")
    if len({t.track_id for t in tracks}) != len(tracks):
        raise HeaderUnsupported("two tracks with one id")
    if fragmented and any(t.sample_count or len(t.stts) for t in tracks):
        raise HeaderUnsupported("samples in both the moov and fragments")
    if fragmented and not trex:
        raise HeaderUnsupported("fragments without track defaults")
    return movie_timescale, movie_duration, tracks, trex


_Packets = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, Fraction | None]
"""The video track's pts, dts, sizes, key flags, durations and average frame rate."""


def _fragment_packets(
    moofs: list[tuple[int, bytes]],
    mdats: list[tuple[int, int]],
    tracks: list[_Track],
    trex: dict[int, tuple[int, int, int, int]],
    movie_timescale: int,
    starts: list[tuple[int, int]],
    durations_s: list[float],
) -> _Packets:
    """The video packets of a fragmented file; every track's start and end go into
    ``starts`` and ``durations_s``."""
    video = next(t for t in tracks if t.kind == "video")
    offsets = {t.track_id: _time_offset(t, movie_timescale) for t in tracks}
    frags = _read_fragments(moofs, tracks, trex, offsets)
    _check_layout([np.array(fr.ranges, np.int64) for fr in frags.values()], mdats, True)
    table = None
    for t in tracks:
        fr = frags[t.track_id]
        if not fr.runs:
            continue
        first_pts = fr.first_pts
        if t.kind == "audio":
            first_pts += _start_pad(t)
        starts.append((first_pts, t.timescale))
        durations_s.append(fr.track_end / t.timescale)
        if t is video:
            table = _fragment_table(fr, t)
    if table is None:
        raise HeaderUnsupported("a video track without samples")
    return table


def _moov_packets(
    mdats: list[tuple[int, int]],
    tracks: list[_Track],
    movie_timescale: int,
    starts: list[tuple[int, int]],
    durations_s: list[float],
) -> _Packets:
    """The video packets from the moov's sample tables, edit list applied as FFmpeg does;
    every track's start and the video's end go into ``starts`` and ``durations_s``."""
    kinds = [t.kind for t in tracks]
    video_at = kinds.index("video")
    advanced = True
    ranges: list[np.ndarray] = []
    complete = True
    pts = dts = sizes = keys = durs = np.zeros(0, np.int64)
    avg_rate = None
    for i, (t, kind) in enumerate(zip(tracks, kinds, strict=True)):
        if not len(t.stts):
            advanced = False  # FFmpeg turns edit lists off for every later track
            if i <= video_at:
                raise HeaderUnsupported("an empty track before the video track")
        s = _moov_samples(t, full=kind == "video")
        ranges.append(s.chunks)
        # FFmpeg indexes raw PCM in chunks of its own; its sample sizes are not bytes.
        complete &= not (kind == "audio" and len(t.stts) == 1 and t.stts[0, 1] == 1)
        if not len(s.dts):
            continue
        if t.elst is not None and not advanced:
            raise HeaderUnsupported("an edit list FFmpeg would apply as an offset")
        if kind == "audio":
            if t.elst is not None:
                starts.append((_leading_empty(t, movie_timescale), t.timescale))
            else:
                starts.append((int(s.dts[0]) + s.dts_shift + int(s.ctts[0]), t.timescale))
            continue
        if i != video_at:
            raise HeaderUnsupported("a second video track")
        if t.elst is not None:
            fixed = _fix_index(s, t, movie_timescale)
            pts, dts = fixed.pts, fixed.dts
            keep = fixed.keep
            video_start = fixed.start
        else:
            dts = s.dts
            pts = s.dts + s.dts_shift + s.ctts
            keep = slice(0, len(dts))
            video_start = int(pts[0])
        sizes, keys, durs = s.sizes[keep], s.keys[keep], s.durations[keep]
        if video_start is not None:
            starts.append((video_start, t.timescale))
        total = int(s.durations.sum())
        avg_rate = _avg_rate(t.timescale, len(s.dts), total)
        durations_s.append((int(dts[-1]) + int(durs[-1])) / t.timescale)
    _check_layout(ranges, mdats, complete)
    return pts, dts, sizes, keys, durs, avg_rate


def _check_layout(tracks: list[np.ndarray], mdats: list[tuple[int, int]], complete: bool) -> None:
    """Check that the samples of every track lie inside the media data without overlapping,
    and, where every track's sample sizes are byte counts (``complete``), that together
    they fill it exactly: sample tables that do not tile the ``mdat`` boxes are damaged
    (or hold data no track describes), and the demuxer is left to deal with them.

    Args:
        tracks: (start, end) byte ranges of each track's chunks or runs.
        mdats: (start, end) of each ``mdat`` payload.
        complete: Whether ``tracks`` describes every byte the tracks occupy.
    """
    nonempty = [r.reshape(-1, 2) for r in tracks if len(r)]
    if not nonempty:
        return
    ranges = np.concatenate(nonempty)
    ranges = ranges[np.argsort(ranges[:, 0], kind="stable")]
    starts, ends = ranges[:, 0], ranges[:, 1]
    if np.any(ends[:-1] > starts[1:]):
        raise HeaderUnsupported("samples that overlap one another")
    boxes = np.array(sorted(mdats), np.int64).reshape(-1, 2)
    inside = np.searchsorted(boxes[:, 0], starts, side="right") - 1
    if np.any(inside < 0) or np.any(ends > boxes[np.maximum(inside, 0), 1]):
        raise HeaderUnsupported(
            "samples outside the media data (beyond the end of the file, or of every mdat)"
        )
    if complete and int((ends - starts).sum()) != int((boxes[:, 1] - boxes[:, 0]).sum()):
        raise HeaderUnsupported("sample tables that do not fill the media data exactly")


def _avg_rate(timescale: int, frames: int, duration: int) -> Fraction | None:
    if frames <= 0 or duration <= 0:
        return None
    num, den = av_reduce(timescale * frames, duration)
    return Fraction(num, den) if num and den else None


def _leading_empty(t: _Track, movie_timescale: int) -> int:
    """Duration of the empty edits before the first media edit, in the track's timescale:
    where ``mov_fix_index`` starts the stream."""
    assert t.elst is not None
    empty = 0
    for dur, media_time, _rate in t.elst:
        if media_time != -1:
            break
        empty += rescale(dur, t.timescale, movie_timescale)
    return empty


def _offset_edit(t: _Track) -> tuple[int, int]:
    """(media start, empty duration in the movie timescale) of an edit list that FFmpeg
    applies as a plain offset, as in fragmented files."""
    assert t.elst is not None
    empty_duration = 0
    start_time = 0
    edit_start = 0
    for i, (dur, media_time, _rate) in enumerate(t.elst):
        if i == 0 and media_time == -1:
            empty_duration = dur
            edit_start = 1
        elif i == edit_start and media_time >= 0:
            start_time = media_time
        else:
            raise HeaderUnsupported("several edits in a fragmented file")
    return start_time, empty_duration


def _time_offset(t: _Track, movie_timescale: int) -> int:
    """``sc->time_offset``: media start minus the leading empty edit."""
    if t.elst is None:
        return 0
    start_time, empty_duration = _offset_edit(t)
    return start_time - rescale(empty_duration, t.timescale, movie_timescale)


def _start_pad(t: _Track) -> int:
    """Priming samples FFmpeg skips in AAC when an edit list is applied as an offset."""
    if not t.is_aac or t.elst is None:
        return 0
    pad = _offset_edit(t)[0]
    if pad > 0 and t.sample_rate != t.timescale:
        raise HeaderUnsupported("AAC priming in a timescale other than its sample rate")
    return pad


def _fragment_table(
    fr: _Frag, t: _Track
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, Fraction | None]:
    """The video track's packets from its runs: (pts, dts, sizes, keys, durations, rate)."""
    durations = fr.column("duration")
    sizes = fr.column("size")
    if sizes.min() <= 0 or sizes.max() > MAX_SAMPLE_SIZE:
        raise HeaderUnsupported("an empty or oversized sample in a fragment")
    counts = np.array([r.n for r in fr.runs], np.int64)
    run_first = np.cumsum(counts) - counts
    before = np.cumsum(durations) - durations
    dts0 = np.array([r.dts0 for r in fr.runs], np.int64)
    dts = before + np.repeat(dts0 - before[run_first], counts)
    if np.any(np.diff(dts) <= 0):
        # FFmpeg discards overlapping samples; a zero duration is no timeline at all.
        raise HeaderUnsupported("fragments that overlap in time, or a zero sample duration")
    keys = (fr.column("flags") & (SAMPLE_NON_SYNC | SAMPLE_DEPENDS_YES)) == 0
    pts = dts + fr.dts_shift + fr.column("cts")
    avg = _avg_rate(t.timescale, len(dts), int(durations.sum()))
    return pts, dts, sizes, keys, durations, avg
