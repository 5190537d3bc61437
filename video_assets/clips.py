"""Shot-pure clips: one file per scene, cut by ffmpeg stream copy where that is exact.

A stream-copied clip must start on a keyframe (an MP4 that starts elsewhere hides frames
behind an edit list that many loaders ignore), so its start moves forward to the first
keyframe inside the scene. Its end is the longest run of packets, in decode order from that
keyframe, whose frames all lie before the next scene and form a contiguous run in
presentation order: no B-frame of the clip refers to a frame of the next shot, and no frame
of the next shot is in the file. Every copied clip is verified by demuxing it (its packet
sizes must equal the source's for the frames it claims to hold) and, by default, by decoding
it (every packet must give its frame). Where a scene holds no keyframe, where the copy would
be shorter than the minimum clip length, where the check fails, or where re-encoding is asked
for, the scene is re-encoded frame-exactly.

Containers: a copy goes into MP4 where ffmpeg's MP4 muxer takes the video codec
(:data:`MP4_COPY_CODECS`), into Matroska otherwise (it takes every codec ffmpeg knows a
Matroska id for: DivX 3, WMV, VP8, Theora, ProRes, FFV1...). A re-encode is H.264 in MP4.
``container="mp4"`` re-encodes what MP4 cannot hold; ``container="mkv"`` writes every clip as
Matroska. The clip's audio is always re-encoded, as ALAC or AAC, which both containers hold.

Damage: a frame the decoder cannot return (a damaged packet) costs that frame, not the clip.
A re-encode that comes out short decodes its range once more to learn which frames are
missing. One inside the clip leaves a gap (the later frames keep their times, so the audio
stays in sync) counted in ``damaged_frames`` and ``lost_frames``; missing last frames end the
clip before them; missing first frames start it at the next keyframe that decodes, since
the frames up to it would be decoded from the previous shot's picture.

Long scenes: a scene whose clip would be longer than ``max_clip_s`` is cut into windows, one
clip each, at keyframes where a stream copy of the scene can be cut exactly (no frame of a
window is decoded from another window's packets), as even as those keyframes allow and none
shorter than the minimum clip length. The windows of a scene are contiguous: together they
hold the frames its single clip would hold. A window is copied, verified and, where that
fails, re-encoded exactly like a scene; windowing itself never re-encodes.

Same input, same bytes: every ffmpeg call runs bit-exact (``-fflags``/``-flags +bitexact``:
no version strings or random ids in the container, C-exact DSP in decoders and encoders) and
the video encoder runs a fixed number of threads: x264's output depends on its thread count,
which it otherwise takes from the CPUs the process may use, and its lookahead runs in those
threads (``sync-lookahead=0``): a lookahead thread of its own made the bytes of the same
clip differ from run to run now and then.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
import pandas as pd

from video_assets.errors import MediaError, ToolError, VideoAssetsError
from video_assets.keyframes import KeyframeIndex, build_index, open_input
from video_assets.scenes import Scene
from video_assets.store import sweep_dead_temps, tmp_name
from video_assets.tools import ffmpeg_base, media_arg, run_tool, timeout_for

SplitMode = Literal["copy", "reencode"]
AudioCodec = Literal["alac", "aac"]
Container = Literal["auto", "mp4", "mkv"]
MIN_CLIP_S = 3.0
"""Shortest clip in seconds by default: scenes shorter are kept as rows, flagged, and not cut."""
"""``auto``: MP4 where it holds the codec, Matroska otherwise; ``mp4`` or ``mkv``: only that."""
CONTAINERS: tuple[Container, ...] = ("auto", "mp4", "mkv")
AUDIO_CODEC_ARGS: dict[str, list[str]] = {
    "alac": ["-c:a", "alac", "-sample_fmt", "s16p"],
    "aac": ["-c:a", "aac", "-b:a", "128k"],
}
AUDIO_PRIMING_SAMPLES = {"alac": 0, "aac": 1024}
"""Samples an encoder puts before the first real one (its stream starts that much early)."""
MP4_COPY_CODECS = frozenset(
    {"av1", "h264", "hevc", "mjpeg", "mpeg1video", "mpeg2video", "mpeg4", "vp9"}
)
"""Video codecs (ffmpeg names) that ffmpeg's MP4 muxer takes by stream copy. Others (msmpeg4v2,
msmpeg4v3, wmv2, vp8, theora, prores, ffv1, ...) it refuses ("codec not currently supported in
container"); they are copied into Matroska. Measured by ``tests/test_clip_codecs.py``."""
MUXER_ARGS: dict[str, list[str]] = {
    "mp4": ["-movflags", "+faststart", "-f", "mp4"],
    "mkv": ["-f", "matroska"],
}
ENCODER_THREADS = 4
"""Threads of the x264 encoder: fixed, because its output depends on this number."""
X264_PARAMS = "sync-lookahead=0"
"""x264's lookahead in the encoding threads, not a thread of its own: with its own thread
(the default) the same frames gave other bytes now and then (14 of 180 encodes of one clip
beside other work; 0 of 270 with this), and a re-run must give a clean run's bytes."""
BITEXACT_INPUT = ["-flags", "+bitexact"]
"""Before ``-i``: decoders use their bit-exact code paths (C-exact float DSP, IDCT)."""
BITEXACT_OUTPUT = [
    "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
    "-sws_flags", "bicubic+accurate_rnd+bitexact",
]  # fmt: skip
"""Before the output: no encoder or muxer version strings, no random Matroska ids, bit-exact
encoders and pixel-format conversion, so the same input gives the same bytes on any CPU."""


@dataclass(frozen=True)
class ClipSettings:
    """How scenes become clip files.

    Args:
        mode: ``copy`` (stream copy, re-encoding only where copy cannot be exact) or
            ``reencode`` (every clip re-encoded frame-exactly).
        min_duration_s: Scenes shorter than this are not cut (they stay in the scene table,
            flagged); a copy that would come out shorter is re-encoded instead.
        crf: x264 quality of re-encoded clips.
        preset: x264 preset of re-encoded clips.
        audio_codec: How a clip's audio is written. It is always re-encoded, so it starts
            at the sample of the clip's first frame rather than at the nearest copied
            audio frame. ``alac`` (the default) is lossless 16-bit Apple Lossless: no second
            lossy generation, and about a third of the time of ``aac`` (128 kb/s AAC, for
            players without ALAC, such as Chrome and Firefox). Both go in MP4 and Matroska.
        container: ``auto`` (MP4 where it holds the codec, Matroska for a copy of a codec
            MP4 cannot hold; re-encodes are MP4), ``mp4`` (every clip MP4: a codec MP4 cannot
            hold is re-encoded) or ``mkv`` (every clip Matroska, copied or re-encoded).
        decode_check: Decode every stream-copied clip once; a packet the decoder rejects
            (a damaged frame) makes the scene re-encoded without that frame. Off, a copy is
            checked by demuxing only and carries a damaged packet as the source has it. Costs
            about one decode of the copied frames.
        max_clip_s: Longest clip, in seconds: a longer scene is cut into windows at
            keyframes (see the module docstring), each a clip of its own; 0 keeps every
            scene whole. 0, or from ``min_duration_s`` to 86400.
    """

    mode: SplitMode = "copy"
    min_duration_s: float = MIN_CLIP_S
    crf: int = 18
    preset: str = "veryfast"
    audio_codec: AudioCodec = "alac"
    container: Container = "auto"
    decode_check: bool = True
    max_clip_s: float = 20.0

    def __post_init__(self) -> None:
        if self.mode not in ("copy", "reencode"):
            raise ValueError(f"mode must be 'copy' or 'reencode', got {self.mode!r}")
        if not 0.0 <= self.min_duration_s <= 3600.0:
            raise ValueError(f"min_duration_s must be in [0, 3600], got {self.min_duration_s}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in [0, 51], got {self.crf}")
        if self.audio_codec not in AUDIO_CODEC_ARGS:
            raise ValueError(
                f"audio_codec must be one of {sorted(AUDIO_CODEC_ARGS)}, got {self.audio_codec!r}"
            )
        if self.container not in CONTAINERS:
            raise ValueError(
                f"container must be one of {', '.join(map(repr, CONTAINERS))}, got {self.container!r}"
            )
        if self.max_clip_s != 0 and not self.min_duration_s <= self.max_clip_s <= 86400.0:
            raise ValueError(
                f"max_clip_s must be 0 (whole scenes) or in [min_duration_s "
                f"({self.min_duration_s}), 86400], got {self.max_clip_s}"
            )


@dataclass(frozen=True)
class Clip:
    """One clip file and the source frames it holds."""

    clip_id: str
    path: str
    scene_index: int
    scene_start_frame: int
    scene_end_frame: int
    start_frame: int
    """First source frame in the clip."""
    end_frame: int
    """One past the last source frame in the clip."""
    start_s: float
    end_s: float
    method: str
    """``copy`` (the source's packets) or ``reencode`` (H.264)."""
    container: str
    """``mp4`` or ``mkv``: the clip file's format and extension."""
    leaked_frames: int
    """Frames in the clip that lie outside its scene (must be 0)."""
    lost_frames: int
    """Frames of the scene that are not in the clip: cut off by keyframe alignment or, counted
    in ``damaged_frames`` too, frames the decoder could not return."""
    damaged_frames: int
    """Frames in ``[start_frame, end_frame)`` missing from the clip because the decoder could
    not return them; the clip holds ``end_frame - start_frame - damaged_frames`` frames."""
    bytes: int
    window_index: int = 0
    """Which window of its scene the clip is (0 for a scene kept whole; see
    :attr:`ClipSettings.max_clip_s`)."""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def frame_count(self) -> int:
        """Frames in the clip file."""
        return self.end_frame - self.start_frame - self.damaged_frames

    def to_json(self) -> dict:
        return asdict(self)

    def table_row(self, video_id: str, folder: str) -> dict[str, Any]:
        """The clip's row of the ``clips`` table (columns :data:`CLIP_COLUMNS`), its file
        named under ``folder`` (relative to the data root)."""
        row = {f: getattr(self, f) for f in CLIP_COLUMNS if f in _CLIP_FIELDS}
        row.update(
            video_id=video_id,
            path=f"{folder}/{Path(self.path).name}",
            start_s=round(self.start_s, 6),
            end_s=round(self.end_s, 6),
            duration_s=round(self.duration_s, 6),
        )
        return {c: row[c] for c in CLIP_COLUMNS}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Clip:
        """A clip from a row of the ``clips`` table (or of :meth:`to_json`); counts a row
        lacks are 0."""

        def count(name: str) -> int:
            value = row.get(name)
            return 0 if value is None or pd.isna(value) else int(value)

        return cls(
            clip_id=str(row["clip_id"]),
            path=str(row["path"]),
            scene_index=int(row["scene_index"]),
            scene_start_frame=int(row["scene_start_frame"]),
            scene_end_frame=int(row["scene_end_frame"]),
            start_frame=int(row["start_frame"]),
            end_frame=int(row["end_frame"]),
            start_s=float(row["start_s"]),
            end_s=float(row["end_s"]),
            method=str(row["method"]),
            container=str(row.get("container") or Path(str(row["path"])).suffix.lstrip(".")),
            leaked_frames=int(row["leaked_frames"]),
            lost_frames=count("lost_frames"),
            damaged_frames=count("damaged_frames"),
            bytes=count("bytes"),
            window_index=count("window_index"),
        )


_CLIP_FIELDS = frozenset(Clip.__dataclass_fields__)
CLIP_COLUMNS = (
    "video_id",
    "clip_id",
    "scene_index",
    "window_index",
    "path",
    "scene_start_frame",
    "scene_end_frame",
    "start_frame",
    "end_frame",
    "start_s",
    "end_s",
    "duration_s",
    "method",
    "container",
    "leaked_frames",
    "lost_frames",
    "damaged_frames",
    "bytes",
)
"""Columns of the ``clips`` table, in order: a :class:`Clip` and where its file is."""


def clips_frame(video_id: str, clips: Sequence[Clip], folder: str) -> pd.DataFrame:
    """The ``clips`` table rows of one video's clips (see :meth:`Clip.table_row`)."""
    return pd.DataFrame([c.table_row(video_id, folder) for c in clips], columns=CLIP_COLUMNS)


def copy_container(codec: str, container: Container = "auto") -> str | None:
    """The container a stream copy of ``codec`` goes into, or None when it must be re-encoded.

    Args:
        codec: The video codec's ffmpeg name (``h264``, ``msmpeg4v3``, ...).
        container: The :attr:`ClipSettings.container` asked for.
    """
    if container == "mkv":
        return "mkv"
    if codec in MP4_COPY_CODECS:
        return "mp4"
    return "mkv" if container == "auto" else None


def reencode_container(container: Container = "auto") -> str:
    """The container of a re-encoded (H.264) clip."""
    return "mkv" if container == "mkv" else "mp4"


def copy_span(index: KeyframeIndex, start: int, end: int) -> tuple[int, int] | None:
    """The frames ``[a, b)`` a stream copy of scene ``[start, end)`` can hold exactly.

    ``a`` is the first keyframe at or after ``start``; ``b`` ends the longest decode-order
    run of packets from ``a`` that holds exactly the frames ``a..b-1``, all before ``end``.
    Returns None when no such run exists (no keyframe inside the scene, or an open GOP
    whose leading frames belong before the keyframe).
    """
    found = _exact_ends(index, start, end)
    return None if found is None else (found[0], found[1][-1])


def _exact_ends(index: KeyframeIndex, start: int, end: int) -> tuple[int, list[int]] | None:
    """The first keyframe ``a`` at or after ``start`` and every ``e`` (ascending) for which
    the decode-order run of packets from ``a`` holds exactly the frames ``a..e-1``, all before
    ``end``. None when there is no such ``e``."""
    a = index.keyframe_at_or_after(start)
    if a is None or a >= end:
        return None
    decode_pos = index.decode_order  # decode position of each frame (presentation order)
    frame_at = np.empty_like(decode_pos)
    frame_at[decode_pos] = np.arange(index.frame_count)  # frame of each decode position
    pos = int(decode_pos[a])
    ends: list[int] = []
    hi = a - 1
    count = 0
    for p in range(pos, index.frame_count):
        f = int(frame_at[p])
        if f >= end or f < a:
            break
        count += 1
        hi = max(hi, f)
        if hi == a + count - 1:  # the packets so far hold exactly frames a..hi
            ends.append(hi + 1)
    return (a, ends) if ends else None


def window_bounds(times: Sequence[float], max_s: float, min_s: float) -> list[int]:
    """Where to cut a span into windows: indices into ``times``, first 0 and last ``len - 1``.

    ``times`` are the ascending times (seconds) of the places a window may start or end,
    the span's start and end included. The fewest windows of at most ``max_s`` and at least
    ``min_s`` each are chosen, and among those the most even (least squared deviation from
    equal lengths). Where the places are too sparse for ``max_s``, windows may be longer
    (by at most the widest gap between places): the most that can be made of at least
    ``min_s`` each, up to as many as ``max_s`` asks for. ``max_s`` 0, or a span of at most
    ``max_s``, gives one window. Places closer than :data:`WINDOW_STEP_S` to the previous
    one kept are not used (an intra-only stream has a keyframe on every frame).
    """
    t = np.asarray(times, dtype=float)
    last = len(t) - 1
    total = float(t[-1] - t[0]) if last > 0 else 0.0
    if max_s <= 0 or last < 2 or total <= max_s + _EPS_S:
        return [0, max(last, 0)]
    kept = _thin(t, WINDOW_STEP_S)
    tk = t[kept]
    fewest = math.ceil(total / max_s - _EPS_S)
    most = min(len(tk) - 1, int((total + _EPS_S) // min_s) if min_s > 0 else len(tk) - 1)
    gap = float(np.diff(tk).max())
    cut = None
    # No window can be short enough where two places are further apart than max_s.
    for n in range(fewest, most + 1) if gap <= max_s else ():
        cut = _even_partition(tk, n, min_s, max_s)
        if cut is not None:
            break
    if cut is None:
        longest = max_s + gap
        for n in range(min(fewest, len(tk) - 1), 1, -1):
            cut = _even_partition(tk, n, min_s, longest)
            if cut is not None:
                break
    return [0, last] if cut is None else [int(kept[i]) for i in cut]


WINDOW_STEP_S = 0.25
"""Closest spacing of the places a window may start at (see :func:`window_bounds`)."""
_EPS_S = 1e-6


def _thin(t: np.ndarray, step: float) -> np.ndarray:
    """Indices of ``t`` at least ``step`` apart, from the first, with the last always kept."""
    if len(t) < 3 or float(np.diff(t).min()) >= step:
        return np.arange(len(t))
    kept = [0]
    for i in range(1, len(t) - 1):
        if t[i] - t[kept[-1]] >= step:
            kept.append(i)
    kept.append(len(t) - 1)
    return np.asarray(kept)


def _even_partition(t: np.ndarray, n: int, lo: float, hi: float) -> list[int] | None:
    """``n`` windows over ``t`` (indices of their bounds), each ``lo`` to ``hi`` long, with the
    least squared deviation from ``(t[-1] - t[0]) / n``; None when there are none.

    Dynamic programming over the places, all ends of a step at once: row ``j`` of ``prev``
    holds the places a window ending at ``j`` may start at."""
    m = len(t)
    ideal = (t[-1] - t[0]) / n
    j = np.arange(m)
    first = np.searchsorted(t, t - hi - _EPS_S, side="left")
    stop = np.minimum(j, np.searchsorted(t, t - lo + _EPS_S, side="right"))
    width = max(1, int((stop - first).max()))
    prev = first[:, None] + np.arange(width)[None, :]
    valid = prev < stop[:, None]
    prev = np.where(valid, prev, 0)
    step = np.where(valid, (t[:, None] - t[prev] - ideal) ** 2, math.inf)
    cost = np.full(m, math.inf)
    cost[0] = 0.0
    back = np.zeros((n + 1, m), dtype=np.int64)
    for k in range(1, n + 1):
        total = cost[prev] + step
        best = np.argmin(total, axis=1)
        cost = total[j, best]
        back[k] = prev[j, best]
    if not math.isfinite(cost[m - 1]):
        return None
    out = [m - 1]
    for k in range(n, 0, -1):
        out.append(int(back[k, out[-1]]))
    return out[::-1]


def _verify_copy(index: KeyframeIndex, clip: Path, a: int, b: int) -> None:
    """Demux the clip and check that it holds exactly the source's frames a..b-1."""
    got = build_index(clip)
    want = index.sizes[a:b]
    if got.frame_count != b - a or not np.array_equal(got.sizes, want) or not got.is_key[0]:
        raise VideoAssetsError(
            f"stream copy of frames {a}..{b - 1} into {clip} is not exact "
            f"({got.frame_count} frames, first is keyframe: {bool(got.is_key[0])})"
        )


def _decodable_frames(path: Path) -> int:
    """Frames a decoder returns for the first video stream; a packet it rejects gives none."""
    n = 0
    with open_input(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for packet in container.demux(stream):
            try:
                n += len(packet.decode())
            except av.error.FFmpegError:  # a damaged packet: no frame, and decoding goes on
                continue
    return n


SEEK_MARGIN_S = 1.0
"""How far before the keyframe it needs a re-encode seeks (see :func:`_run_reencode`)."""
AUDIO_PREROLL_S = 3.0
"""How far before a clip its audio is read from (see :func:`_audio_args`)."""
AV_SYNC_TOLERANCE_S = 0.0015
"""Largest offset between a copied clip's first video frame and its first audio sample
(Matroska stores milliseconds; a copy's video starts half a millisecond before the seek)."""


@dataclass(frozen=True)
class _Source:
    """The source video and the facts every clip of it needs."""

    path: Path
    index: KeyframeIndex
    codec: str
    """The video codec's ffmpeg name (``av1``, not its decoder's, ``libdav1d``)."""
    has_audio: bool
    shift: float
    """Seconds to add to an index time to get the time ffmpeg's ``-ss`` means: the index
    counts from the start time PyAV's FFmpeg reports, ``-ss`` from the one the ffmpeg
    program's reports, and the two differ on some files (Opus in WebM: codec delay)."""
    audio_start: float
    """Where the source's first audio packet is on the ``-ss`` timeline (0 without audio)."""

    def ss(self, frame: int) -> float:
        """The ``-ss`` time of a frame's start."""
        return self.index.frame_time(frame) + self.shift


def _open_source(path: Path, index: KeyframeIndex, has_audio: bool) -> _Source:
    out = run_tool(
        ["ffprobe", "-v", "error", "-show_entries", "format=start_time", "-of", "csv=p=0",
         media_arg(path)],
        timeout_s=60.0,
        what=f"reading the start time of {path}",
    )  # fmt: skip
    text = out.stdout.decode("utf-8", "replace").strip()
    ffmpeg_start = float(text) if text not in ("", "N/A") else 0.0
    with open_input(path) as container:
        pyav_start = (container.start_time or 0) / 1_000_000
        codec = str(container.streams.video[0].codec_context.codec.canonical_name)
        audio_start = 0.0
        if has_audio and container.streams.audio:
            a = container.streams.audio[0]
            if a.start_time is not None and a.time_base:
                audio_start = float(a.start_time * a.time_base) - ffmpeg_start
    return _Source(path, index, codec, has_audio, pyav_start - ffmpeg_start, audio_start)


def _audio_args(src: _Source, t0: float, settings: ClipSettings) -> tuple[list[str], list[str]]:
    """The second input (the source's audio) and the output options of a clip's audio.

    The audio comes from an input of its own, opened :data:`AUDIO_PREROLL_S` earlier than
    the clip and trimmed to the sample at ``t0`` (a ``-ss`` time): a seek to ``t0`` itself
    lands on the video keyframe's place in the file, and audio packets stored before it
    (Matroska, MPEG-PS, Ogg and AVI interleave audio ahead of video) would be missing from
    the clip's start. Its times stay the source's, less ``t0``, so audio that starts late in
    the source starts as late in the clip.
    """
    if not src.has_audio:
        return [], []
    pre = min(t0, AUDIO_PREROLL_S)
    # No seek at all within the first seconds: a seek makes some demuxers drop the audio
    # they decode first after it (Opus pre-roll in Matroska), which here is the clip's.
    seek = ["-ss", f"{t0 - pre:.6f}"] if t0 > pre else []
    # fmt: off
    return (
        [*BITEXACT_INPUT, *seek, "-i", media_arg(src.path)],
        ["-filter_complex", f"[1:a:0]atrim=start={pre:.6f},asetpts=PTS-{pre:.6f}/TB[a]",
         "-map", "[a]", *AUDIO_CODEC_ARGS[settings.audio_codec]],
    )
    # fmt: on


def _run_copy(
    src: _Source, out: Path, container: str, a: int, b: int, settings: ClipSettings
) -> None:
    t0 = src.ss(a)
    dur = src.ss(b) - t0
    audio_in, audio_out = _audio_args(src, t0, settings)
    # fmt: off
    args = [
        *ffmpeg_base(), *BITEXACT_INPUT,
        # Half a millisecond past the keyframe: the demuxer seeks to the keyframe at or
        # before it, which is `a` itself whatever the rounding of the decimal time.
        "-ss", f"{t0 + 0.0005:.6f}", "-i", media_arg(src.path), *audio_in,
        # Video packets are copied; audio is re-encoded so it is trimmed to the sample at
        # the clip's first frame instead of to the nearest copied audio frame.
        "-map", "0:v:0", "-c:v", "copy", "-frames:v", str(b - a), *audio_out, "-t", f"{dur:.6f}",
        "-avoid_negative_ts", "make_zero", "-map_metadata", "-1", *BITEXACT_OUTPUT,
        *MUXER_ARGS[container], media_arg(out),
    ]
    # fmt: on
    run_tool(
        args, timeout_s=timeout_for(dur), what=f"stream-copying frames {a}..{b - 1} of {src.path}"
    )


def _run_reencode(
    src: _Source, out: Path, container: str, a: int, b: int, settings: ClipSettings
) -> None:
    t0 = src.ss(a)
    dur = src.ss(b) - t0
    # The seek goes to a second before the keyframe at or before `a` (some demuxers, MPEG-PS,
    # land past a seek target) and the trim filter keeps the frames from a quarter frame
    # before `a` to a quarter frame before `b`: `a` but not `a - 1`, `b - 1` but not `b`,
    # whatever the rounding, by the source's times and whichever frames decode.
    quarter = 0.25 / src.index.fps if src.index.fps > 0 else 0.001
    seek = max(0.0, src.ss(src.index.keyframe_at_or_before(a) or 0) - SEEK_MARGIN_S)
    lo = t0 - quarter - seek
    audio_in, audio_out = _audio_args(src, t0, settings)
    # fmt: off
    args = [
        *ffmpeg_base(), *BITEXACT_INPUT,
        # -noautorotate: keep the coded orientation and the display matrix, as a stream copy does.
        "-noautorotate", "-ss", f"{seek:.6f}", "-i", media_arg(src.path), *audio_in,
        "-map", "0:v:0", *audio_out,
        # -t alone ends both streams (ffmpeg trims them by time), not -frames:v: reaching a
        # frame count closes the file at once, with as much audio as the decoder's and the
        # encoder's frame delays (which grow with their thread counts) let through by then.
        # passthrough: a frame the decoder drops leaves a gap instead of shifting later ones.
        "-t", f"{dur:.6f}", "-fps_mode", "passthrough",
        # setpts: the first frame is the clip's zero, as its audio's first sample is, even
        # where the decoder's times are off the container's (MPEG-PS without pts).
        # crop: 4:2:0 needs even sizes; an odd width or height loses its last column or row.
        "-vf", f"trim=start={lo:.6f}:end={lo + dur:.6f},setpts=PTS-STARTPTS,"
               "crop=trunc(iw/2)*2:trunc(ih/2)*2:0:0",
        "-c:v", "libx264", "-preset", settings.preset, "-crf", str(settings.crf),
        "-threads:v", str(ENCODER_THREADS), "-x264-params", X264_PARAMS, "-pix_fmt", "yuv420p",
        "-map_metadata", "-1", *BITEXACT_OUTPUT, *MUXER_ARGS[container], media_arg(out),
    ]
    # fmt: on
    run_tool(
        args,
        timeout_s=timeout_for(dur, per_media_second=20.0),
        what=f"re-encoding frames {a}..{b - 1} of {src.path}",
    )


def _decodable(src: _Source, a: int, b: int) -> np.ndarray:
    """Which of the source frames ``a..b-1`` the decoder returns (a bool per frame).

    Decodes with PyAV from the keyframe at or before ``a`` and matches each frame to the
    index by its time, so the answer is on the index's own timeline.
    """
    index = src.index
    present = np.zeros(b - a, dtype=bool)
    want = index.pts_s[a:b]
    gaps = np.diff(index.pts_s[max(0, a - 1) : min(index.frame_count, b + 1)])
    half = (float(gaps[gaps > 0].min()) if (gaps > 0).any() else 1.0 / max(index.fps, 1.0)) / 2
    end_t = index.frame_time(b)
    key = index.keyframe_at_or_before(a) or 0
    with open_input(src.path) as container:
        stream = container.streams.video[0]
        zero = (container.start_time or 0) / 1_000_000
        if key > 0 and stream.time_base:
            target = int((index.frame_time(key) + zero) / stream.time_base)
            container.seek(target, stream=stream, backward=True)
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError:  # a damaged packet: no frame, and decoding goes on
                continue
            times = [f.time - zero for f in frames if f.time is not None]
            for t in times:
                j = int(np.clip(np.searchsorted(want, t), 0, len(want) - 1))
                for k in (j - 1, j):
                    if 0 <= k < len(want) and abs(want[k] - t) < half:
                        present[k] = True
            if times and min(times) >= end_t + half:
                break
    return present


def _frames_written(out: Path) -> int:
    """Video frames in a re-encoded clip; 0 when the encoder wrote no video stream at all
    (no frame of the range decoded), so the caller looks for the frames that do."""
    try:
        return build_index(out).frame_count
    except MediaError:
        return 0


def _reencode_exact(
    src: _Source, out: Path, container: str, start: int, end: int, settings: ClipSettings
) -> tuple[int, int, int] | None:
    """Re-encode frames ``start..end-1``; returns the clip's ``(a, b, damaged_frames)``.

    When the clip comes out short, some frames could not be decoded: which ones is learned by
    decoding the range. Frames missing inside the clip leave a gap in its timestamps. Where
    the last frames are missing the clip ends before them; where the first are, it starts at
    the next keyframe that decodes, because the frames before that keyframe were decoded
    from the picture the decoder held last, a frame of the previous shot. None when no such
    keyframe is left in the range.
    """
    _run_reencode(src, out, container, start, end, settings)
    got = _frames_written(out)
    if got == end - start:
        return start, end, 0
    what = f"re-encoding frames {start}..{end - 1} of {src.path} gave {got} frames"
    if got > end - start or src.index.timestamps == "index":
        # More frames than asked for, or no timestamps to tell which ones are missing.
        raise VideoAssetsError(f"{what}, expected {end - start}")
    present = _decodable(src, start, end)
    a = start
    if not present[0]:
        key = src.index.keyframe_at_or_after(start + 1)
        while key is not None and key < end and not present[key - start]:
            key = src.index.keyframe_at_or_after(key + 1)
        if key is None or key >= end:
            return None
        a = key
    kept = present[a - start :]
    b = a + len(kept) - int(np.argmax(kept[::-1]))
    want = int(kept[: b - a].sum())
    if (a, b) != (start, end):
        _run_reencode(src, out, container, a, b, settings)
        got = _frames_written(out)
        what = f"re-encoding frames {a}..{b - 1} of {src.path} gave {got} frames"
    if got != want:
        raise VideoAssetsError(f"{what}, expected the {want} that decode")
    return a, b, (b - a) - want


def split_video(
    path: str | Path,
    scenes: list[Scene],
    out_dir: str | Path,
    *,
    settings: ClipSettings | None = None,
    index: KeyframeIndex | None = None,
    clip_prefix: str = "",
    has_audio: bool | None = None,
    on_clip: Callable[[Clip, float], None] | None = None,
) -> list[Clip]:
    """Cut one clip per scene of at least ``min_duration_s`` into ``out_dir`` (a scene longer
    than ``max_clip_s`` into several: see :attr:`ClipSettings.max_clip_s`).

    Args:
        path: Source video (read only).
        scenes: Scenes covering the video (from :func:`video_assets.scenes.detect_scenes`).
        out_dir: Folder the clips are written to (``<clip_prefix><scene:05d>.mp4``, or
            ``.mkv``: see :attr:`Clip.container`; the windows of a long scene
            ``<clip_prefix><scene:05d>_w<window:03d>.mp4``).
        settings: Split mode, container and thresholds.
        index: The source's keyframe index if already built.
        clip_prefix: Prefix of clip ids (the video id in the pipeline).
        has_audio: Whether to carry the first audio stream; probed when None.
        on_clip: Called after each clip is staged with the clip and the seconds it took
            (cutting and checking); for progress and per-clip timing.

    Returns:
        One :class:`Clip` per clip written, with leaked, lost and damaged frame counts
        measured on the written file. The same source, scenes and settings give the same
        bytes in every run.
    """
    from video_assets.probe import probe

    settings = settings or ClipSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index = index or build_index(path)
    if has_audio is None:
        has_audio = bool(probe(path).audio)
    src = _open_source(Path(path), index, has_audio)
    clips: list[Clip] = []
    # Clips are written into a hidden folder and moved into out_dir only once all of them
    # are done, so a failure (or a kill) leaves out_dir as it was.
    sweep_dead_temps(out_dir)  # what a killed earlier split left behind
    stage = out_dir / tmp_name("split")
    stage.mkdir()
    try:
        for scene in scenes:
            t0 = time.perf_counter()
            windows, copy_into = _windows(src, scene, settings)
            for window in windows:
                clip = _split_window(
                    src, scene, window, len(windows), copy_into, stage, out_dir, settings,
                    clip_prefix,
                )  # fmt: skip
                if clip is not None:
                    clips.append(clip)
                    if on_clip is not None:
                        on_clip(clip, time.perf_counter() - t0)
                t0 = time.perf_counter()
        for clip in clips:
            os.replace(stage / Path(clip.path).name, clip.path)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return clips


def _audio_offset(path: Path) -> tuple[float, int] | None:
    """Seconds from a clip's first video frame to its audio stream's start, and the audio's
    sample rate (None: no audio). An AAC stream starts its encoder's priming
    (:data:`AUDIO_PRIMING_SAMPLES`) before the first sample a decoder plays."""
    with open_input(path) as container:
        if not container.streams.audio:
            return None
        v, a = container.streams.video[0], container.streams.audio[0]
        if v.start_time is None or a.start_time is None or not v.time_base or not a.time_base:
            return None
        offset = float(a.start_time * a.time_base) - float(v.start_time * v.time_base)
        return offset, int(a.codec_context.sample_rate or 0)


def _copied(
    src: _Source, out: Path, container: str, a: int, b: int, settings: ClipSettings
) -> bool:
    """Stream-copy frames ``a..b-1`` into ``out``; False where the copy is not exact."""
    try:
        _run_copy(src, out, container, a, b, settings)
    except ToolError:
        return False  # the muxer refused the stream: re-encode (which raises if it fails too)
    try:
        _verify_copy(src.index, out, a, b)
    except VideoAssetsError:
        return False
    if src.has_audio:
        # Copied packets keep the source's timestamps, and where those are only decode times
        # (MPEG-PS) the muxer can shift the video against the audio by a frame.
        measured = _audio_offset(out)
        if measured is None:
            return False
        offset, rate = measured
        want = max(0.0, src.audio_start - src.ss(a))
        priming = AUDIO_PRIMING_SAMPLES[settings.audio_codec] / rate if rate else 0.0
        if not want - priming - AV_SYNC_TOLERANCE_S <= offset <= want + AV_SYNC_TOLERANCE_S:
            return False
    return not settings.decode_check or _decodable_frames(out) == b - a


@dataclass(frozen=True)
class _Window:
    """One clip to cut from a scene: frames ``[lo, hi)``, answering for ``[ext_lo, ext_hi)``
    (its share of the scene: what a re-encode covers and what lost frames are counted of)."""

    index: int
    lo: int
    hi: int
    ext_lo: int
    ext_hi: int
    copy: bool
    """Whether ``[lo, hi)`` is an exact stream copy to try first."""


def _windows(src: _Source, scene: Scene, settings: ClipSettings) -> tuple[list[_Window], str]:
    """The clips to cut from a scene, and the container of its copies (empty when none)."""
    if scene.duration_s < settings.min_duration_s:
        return [], ""
    index = src.index
    found = (
        _exact_ends(index, scene.start_frame, scene.end_frame) if settings.mode == "copy" else None
    )
    if (
        found is not None
        and index.frame_time(found[1][-1]) - index.frame_time(found[0]) < settings.min_duration_s
    ):
        found = None  # the copy would lose too much of the scene
    container = copy_container(src.codec, settings.container) if found is not None else None
    if found is not None and container is not None:
        a, ends = found
        # A copy may be cut where the packets before a keyframe hold exactly the frames
        # before it: no frame on either side needs a packet of the other.
        places = [a, *(e for e in ends[:-1] if index.is_key[e]), ends[-1]]
        copy = True
    else:
        container = ""
        keys = index.keyframe_frames
        inside = keys[(keys > scene.start_frame) & (keys < scene.end_frame)]
        places = [scene.start_frame, *(int(k) for k in inside), scene.end_frame]
        copy = False
    cut = window_bounds(
        [index.frame_time(f) for f in places], settings.max_clip_s, settings.min_duration_s
    )
    bounds = [places[i] for i in cut]
    last = len(bounds) - 2
    return [
        _Window(
            k,
            lo,
            hi,
            scene.start_frame if k == 0 else lo,
            scene.end_frame if k == last else hi,
            copy,
        )
        for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
    ], container


def _split_window(
    src: _Source,
    scene: Scene,
    window: _Window,
    windows: int,
    copy_into: str,
    stage: Path,
    out_dir: Path,
    settings: ClipSettings,
    clip_prefix: str,
) -> Clip | None:
    """Cut one window of a scene into ``stage``; the returned clip's path is its place in
    ``out_dir``. A scene kept whole keeps the id ``<prefix><scene:05d>``; its windows are
    ``<prefix><scene:05d>_w<window:03d>``."""
    index = src.index
    clip_id = f"{clip_prefix}{scene.index:05d}"
    if windows > 1:
        clip_id += f"_w{window.index:03d}"
    w = window
    if w.copy:
        out = stage / f"{clip_id}.{copy_into}"
        if _copied(src, out, copy_into, w.lo, w.hi, settings):
            return _clip(clip_id, out, out_dir, scene, w, index, w.lo, w.hi, "copy", copy_into, 0)
        out.unlink(missing_ok=True)
    container = reencode_container(settings.container)
    out = stage / f"{clip_id}.{container}"
    lo, hi = (w.ext_lo, w.ext_hi) if w.copy else (w.lo, w.hi)
    made = _reencode_exact(src, out, container, lo, hi, settings)
    if made is None:
        out.unlink(missing_ok=True)
        return None  # no frame of the scene decodes without a picture of the previous shot
    a, b, damaged = made
    return _clip(clip_id, out, out_dir, scene, w, index, a, b, "reencode", container, damaged)


def _clip(
    clip_id: str,
    out: Path,
    out_dir: Path,
    scene: Scene,
    window: _Window,
    index: KeyframeIndex,
    a: int,
    b: int,
    method: str,
    container: str,
    damaged: int,
) -> Clip:
    """The record of a staged clip file holding frames ``a..b-1`` less ``damaged`` of them;
    its lost frames are those of the window's share of the scene it does not hold."""
    leaked = max(0, scene.start_frame - a) + max(0, b - scene.end_frame)
    lost = (window.ext_hi - window.ext_lo) - (
        min(b, window.ext_hi) - max(a, window.ext_lo) - damaged
    )
    return Clip(
        clip_id=clip_id,
        path=str(out_dir / out.name),
        scene_index=scene.index,
        scene_start_frame=scene.start_frame,
        scene_end_frame=scene.end_frame,
        start_frame=a,
        end_frame=b,
        start_s=index.frame_time(a),
        end_s=index.frame_time(b),
        method=method,
        container=container,
        leaked_frames=leaked,
        lost_frames=lost,
        damaged_frames=damaged,
        bytes=out.stat().st_size,
        window_index=window.index,
    )
