"""I-frame index from packet flags: no frame is decoded.

Besides keyframe positions the index keeps, per frame in presentation order, the packet
size and decode order. Both are free signals: the scene cascade reads packet sizes to find
intra-coded P-frames (cuts inside a GOP) and the clip cutter reads decode order to end a
stream copy where no B-frame points past the cut.

Two ways to the same index: an MP4/MOV/M4V file (fragmented or not) is read from its sample
tables without reading any media data (:mod:`video_assets.mp4index`), every other file, and
any MP4 whose header that reader does not reproduce exactly, is demuxed packet by packet.
Both give the same index; ``KeyframeIndex.method`` says which one ran.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.logging
import numpy as np

from video_assets.errors import MediaError
from video_assets.mp4index import HeaderUnsupported, looks_like_mp4, read_packet_table
from video_assets.probe import MAX_DIMENSION, MAX_DURATION_S, check_duration, check_resolution
from video_assets.tools import REMOTE_PROTOCOLS, MediaPath, RemoteMedia, redact_urls

IndexMethod = Literal["mp4-header", "demux"]
"""How an index was built: from the MP4/MOV sample tables, or by demuxing every packet."""


@dataclass(frozen=True)
class Keyframe:
    """One keyframe: its frame number in presentation order and its time."""

    frame: int
    pts_s: float


@dataclass
class KeyframeIndex:
    """Per-frame packet facts of a video stream, in presentation order.

    Attributes:
        path: The indexed file.
        fps: Average frame rate (frame_count / duration for variable-rate material).
        duration_s: Time from the first frame to the end of the last one.
        frame_count: Number of video frames (packets) in the stream.
        pts_s: Presentation time of each frame, seconds on ffmpeg's ``-ss`` timeline.
        sizes: Packet size in bytes of each frame.
        is_key: Whether each frame's packet carries the keyframe flag.
        decode_order: Position of each frame's packet in decode (file) order.
        elapsed_s: Wall time spent building the index.
        timestamps: Where times came from: ``pts``, ``dts`` (no pts in the container, as
            in AVI), or ``index`` (neither; times are frame_number / fps).
        method: ``mp4-header`` (read from the sample tables, no media data read) or
            ``demux`` (every packet demuxed).
        fallback: Why an MP4/MOV file was demuxed rather than read from its header (empty
            when the header was read, or the file is no MP4/MOV).
    """

    path: str
    fps: float
    duration_s: float
    frame_count: int
    pts_s: np.ndarray
    sizes: np.ndarray
    is_key: np.ndarray
    decode_order: np.ndarray
    elapsed_s: float = 0.0
    timestamps: str = "pts"
    method: IndexMethod = "demux"
    fallback: str = ""
    keyframe_frames: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.keyframe_frames = np.flatnonzero(self.is_key)

    @property
    def keyframes(self) -> list[Keyframe]:
        return [Keyframe(int(f), float(self.pts_s[f])) for f in self.keyframe_frames]

    def frame_time(self, frame: int) -> float:
        """Start time of ``frame``; ``frame_count`` maps to the end of the stream."""
        if frame >= self.frame_count:
            return float(self.pts_s[0]) + self.duration_s
        return float(self.pts_s[frame])

    def frame_at(self, t: float) -> int | None:
        """The frame that starts at ``t`` seconds (the index's time line, within 0.1 ms),
        or None: how a decoded frame or a packet is numbered by its timestamp."""
        i = int(np.searchsorted(self.pts_s, t - 1e-6))
        if i < self.frame_count and abs(self.pts_s[i] - t) < 1e-4:
            return i
        return None

    def keyframe_at_or_after(self, frame: int) -> int | None:
        i = int(np.searchsorted(self.keyframe_frames, frame, side="left"))
        return int(self.keyframe_frames[i]) if i < len(self.keyframe_frames) else None

    def keyframe_at_or_before(self, frame: int) -> int | None:
        i = int(np.searchsorted(self.keyframe_frames, frame, side="right")) - 1
        return int(self.keyframe_frames[i]) if i >= 0 else None

    def to_json(self) -> dict:
        return {
            "fps": self.fps,
            "duration_s": self.duration_s,
            "frame_count": self.frame_count,
            "keyframes": [{"frame": k.frame, "pts_s": round(k.pts_s, 6)} for k in self.keyframes],
            "elapsed_s": self.elapsed_s,
            "timestamps": self.timestamps,
            "method": self.method,
            "fallback": self.fallback,
        }


def detach_av_logging() -> None:
    """Keep FFmpeg's log lines away from Python while decoding.

    PyAV's Python log callback deadlocks threaded decoders: a decoder thread that logs
    waits for the GIL, while the thread holding it frees the decoder and waits for that
    thread (PyAV issues 751 and 909). PyAV ships with it off, but importing
    ``torchvision.io`` turns it on (``av.logging.set_level(ERROR)``), so every open turns
    it off again. Errors still reach us as exceptions.
    """
    if av.logging.get_level() is not None:
        av.logging.set_level(None)


def open_input(path: str | Path | RemoteMedia) -> av.container.InputContainer:
    """Open a media file with PyAV through the ``file:`` protocol (no protocol injection),
    or a :class:`RemoteMedia` through its presigned URL, limited to HTTP(S)."""
    detach_av_logging()
    if isinstance(path, RemoteMedia):
        if path.size == 0:
            raise MediaError(path, "is empty (0 bytes)")
        try:
            return av.open(
                path.url,
                mode="r",
                options={"protocol_whitelist": REMOTE_PROTOCOLS},
                metadata_errors="replace",
            )
        except av.error.FFmpegError as exc:
            raise MediaError(
                path, f"is not a readable media file ({redact_urls(str(exc))})"
            ) from None
    p = Path(path)
    if not p.is_file():
        raise MediaError(p, "does not exist" if not p.exists() else "is not a regular file")
    if p.stat().st_size == 0:
        raise MediaError(p, "is empty (0 bytes)")
    try:
        # Damaged tags are no reason to refuse the media: undecodable bytes are replaced.
        return av.open("file:" + str(p.absolute()), mode="r", metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise MediaError(p, f"is not a readable media file ({exc})") from None


def first_video_stream(
    container: av.container.InputContainer, path: MediaPath
) -> av.video.stream.VideoStream:
    """The first video stream of ``container``, with codec parameters a decoder can use.

    A damaged sample description (an unknown codec tag, a cut ``avcC``) leaves FFmpeg a
    stream without a codec context; every reader of frames or sizes goes through here so
    that such a file is refused by name rather than failing on a missing attribute.

    Raises:
        MediaError: no video stream, or one whose codec parameters cannot be read.
    """
    if not container.streams.video:
        raise MediaError(path, "has no video stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx is None:
        raise MediaError(
            path,
            f"video stream {stream.index} has codec parameters that cannot be read "
            "(an unknown codec, or a damaged stream header)",
        )
    return stream


def build_index(path: str | Path | RemoteMedia) -> KeyframeIndex:
    """Index the first video stream of ``path`` from packet flags without decoding.

    An MP4/MOV/M4V file on disk is read from its sample tables (:func:`header_index`);
    anything else, and any such file whose header :mod:`video_assets.mp4index` does not
    reproduce exactly, is demuxed (:func:`demux_index`), and the reason is kept in
    ``fallback``. A :class:`RemoteMedia` is demuxed straight from the object store (one
    pass, no local copy); its index's ``path`` is the object's ``s3://`` address.

    Raises:
        MediaError: unreadable file, no video stream, an absurd stated resolution or
            duration, no video packets, or a demux error.
    """
    t0 = time.perf_counter()
    fallback = "an object-store source, demuxed over HTTP"
    if not isinstance(path, RemoteMedia):
        fallback = ""
        p = Path(path)
        if p.is_file() and p.stat().st_size > 0 and looks_like_mp4(p):
            try:
                return header_index(p)
            except HeaderUnsupported as exc:
                fallback = str(exc)
    index = demux_index(path)
    index.fallback = fallback
    index.elapsed_s = time.perf_counter() - t0
    return index


def header_index(path: str | Path) -> KeyframeIndex:
    """Index an MP4/MOV/M4V file from its sample tables; no media data is read.

    Gives the index :func:`demux_index` gives for the same file.

    Raises:
        HeaderUnsupported: the header holds something the reader does not reproduce
            exactly, or states a size or duration the demux path refuses (it then raises
            the error).
        MediaError: the stream has no keyframe.
    """
    t0 = time.perf_counter()
    p = Path(path)
    try:
        table = read_packet_table(p)
    except OSError as exc:
        raise HeaderUnsupported(f"cannot read the header ({exc.strerror})") from None
    if table.width > MAX_DIMENSION or table.height > MAX_DIMENSION:
        raise HeaderUnsupported("an absurd stated resolution")
    if not table.duration_s <= MAX_DURATION_S:
        raise HeaderUnsupported("an absurd stated duration")
    start = table.start_time_us / 1_000_000 if table.start_time_us is not None else 0.0
    return _assemble(
        p,
        raw=table.pts,
        source="pts",
        sizes=table.sizes,
        keys=table.keys,
        durs=table.durations,
        tb=float(table.time_base),
        start=start,
        avg_rate=table.avg_rate,
        t0=t0,
        method="mp4-header",
    )


def demux_index(path: str | Path | RemoteMedia) -> KeyframeIndex:
    """Index the first video stream of ``path`` by demuxing every packet (no decoding).

    Raises:
        MediaError: unreadable file, no video stream, an absurd stated resolution or
            duration, no video packets, or a demux error.
    """
    t0 = time.perf_counter()
    p = path if isinstance(path, RemoteMedia) else Path(path)
    with open_input(p) as container:
        stream = first_video_stream(container, p)
        # What the container states, refused as probe refuses it, before anything sizes a
        # buffer or a timeout by it.
        check_resolution(p, stream.codec_context.width, stream.codec_context.height)
        if container.duration is not None:
            check_duration(p, container.duration / 1_000_000)
        tb = float(stream.time_base) if stream.time_base else 0.0
        start = (container.start_time / 1_000_000) if container.start_time is not None else 0.0
        pts: list[int | None] = []
        dts: list[int | None] = []
        sizes: list[int] = []
        keys: list[bool] = []
        durs: list[int] = []
        try:
            for pkt in container.demux(stream):
                if pkt.size == 0:  # the flush packet at EOF
                    continue
                pts.append(pkt.pts)
                dts.append(pkt.dts)
                sizes.append(pkt.size)
                keys.append(bool(pkt.is_keyframe))
                durs.append(pkt.duration or 0)
        except av.error.FFmpegError as exc:
            raise MediaError(
                p, f"cannot be demuxed after {len(sizes)} video packets ({redact_urls(str(exc))})"
            ) from None
        avg_rate = stream.average_rate or stream.guessed_rate
    if not sizes:
        raise MediaError(p, "has a video stream without any packets")

    raw: np.ndarray | None
    if all(v is not None for v in pts) and tb > 0:
        raw = np.asarray(pts, dtype=np.int64)
        source = "pts"
    elif all(v is not None for v in dts) and tb > 0:
        raw = np.asarray(dts, dtype=np.int64)
        source = "dts"
    else:
        raw = None
        source = "index"
    return _assemble(
        p,
        raw=raw,
        source=source,
        sizes=np.asarray(sizes, dtype=np.int64),
        keys=np.asarray(keys, dtype=bool),
        durs=np.asarray(durs, dtype=np.int64),
        tb=tb,
        start=start,
        avg_rate=avg_rate,
        t0=t0,
        method="demux",
    )


def _assemble(
    p: Path | RemoteMedia,
    *,
    raw: np.ndarray | None,
    source: str,
    sizes: np.ndarray,
    keys: np.ndarray,
    durs: np.ndarray,
    tb: float,
    start: float,
    avg_rate: Fraction | None,
    t0: float,
    method: IndexMethod,
) -> KeyframeIndex:
    """The index from per-packet facts in decode order; both paths end here, so the same
    packets give the same index to the last bit."""
    n = len(sizes)
    if raw is not None:
        order = np.argsort(raw, kind="stable")
        times = raw[order].astype(np.float64) * tb - start
        last = int(durs[order[-1]])
        last_dur = (last * tb) if last else 0.0
    else:
        order = np.arange(n)
        fps0 = float(avg_rate) if avg_rate else 25.0
        times = np.arange(n, dtype=np.float64) / fps0
        last_dur = 1.0 / fps0
    span = float(times[-1] - times[0]) if n > 1 else 0.0
    if last_dur <= 0:
        last_dur = span / (n - 1) if n > 1 else (1.0 / float(avg_rate) if avg_rate else 0.04)
    duration = span + last_dur
    fps = n / duration if duration > 0 else float(avg_rate or 0.0)
    if avg_rate and abs(float(avg_rate) - fps) / max(fps, 1e-9) < 0.01:
        fps = float(avg_rate)  # constant-rate stream: keep the exact nominal rate

    is_key = keys[order]
    if not is_key.any():
        raise MediaError(p, "has no keyframe in its video stream")
    return KeyframeIndex(
        path=str(p),
        fps=fps,
        duration_s=duration,
        frame_count=n,
        pts_s=times,
        sizes=sizes[order],
        is_key=is_key,
        decode_order=order.astype(np.int64),
        elapsed_s=time.perf_counter() - t0,
        timestamps=source,
        method=method,
    )
