"""I-frame index from packet flags: the container is demuxed, no frame is decoded.

Besides keyframe positions the index keeps, per frame in presentation order, the packet
size and decode order. Both are free signals: the scene cascade reads packet sizes to find
intra-coded P-frames (cuts inside a GOP) and the clip cutter reads decode order to end a
stream copy where no B-frame points past the cut.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from video_assets.errors import MediaError
from video_assets.probe import check_duration, check_resolution
from video_assets.tools import REMOTE_PROTOCOLS, RemoteMedia, redact_urls


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
        }


def open_input(path: str | Path | RemoteMedia) -> av.container.InputContainer:
    """Open a media file with PyAV through the ``file:`` protocol (no protocol injection),
    or a :class:`RemoteMedia` through its presigned URL, limited to HTTP(S)."""
    if isinstance(path, RemoteMedia):
        if path.size == 0:
            raise MediaError(path, "is empty (0 bytes)")
        try:
            return av.open(path.url, mode="r", options={"protocol_whitelist": REMOTE_PROTOCOLS})
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
        return av.open("file:" + str(p.absolute()), mode="r")
    except av.error.FFmpegError as exc:
        raise MediaError(p, f"is not a readable media file ({exc})") from None


def build_index(path: str | Path | RemoteMedia) -> KeyframeIndex:
    """Index the first video stream of ``path`` from packet flags without decoding.

    A :class:`RemoteMedia` is demuxed straight from the object store (one pass, no local
    copy); its index's ``path`` is the object's ``s3://`` address, for messages only.

    Raises:
        MediaError: unreadable file, no video stream, an absurd stated resolution or
            duration, no video packets, or a demux error.
    """
    t0 = time.perf_counter()
    p = path if isinstance(path, RemoteMedia) else Path(path)
    with open_input(p) as container:
        if not container.streams.video:
            raise MediaError(p, "has no video stream")
        stream = container.streams.video[0]
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
    n = len(sizes)
    if n == 0:
        raise MediaError(p, "has a video stream without any packets")

    if all(v is not None for v in pts) and tb > 0:
        raw = np.asarray(pts, dtype=np.int64)
        source = "pts"
    elif all(v is not None for v in dts) and tb > 0:
        raw = np.asarray(dts, dtype=np.int64)
        source = "dts"
    else:
        raw = None
        source = "index"

    if raw is not None:
        order = np.argsort(raw, kind="stable")
        times = raw[order].astype(np.float64) * tb - start
        last_dur = (durs[order[-1]] * tb) if durs[order[-1]] else 0.0
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

    is_key = np.asarray(keys, dtype=bool)[order]
    if not is_key.any():
        raise MediaError(p, "has no keyframe in its video stream")
    return KeyframeIndex(
        path=str(p),
        fps=fps,
        duration_s=duration,
        frame_count=n,
        pts_s=times,
        sizes=np.asarray(sizes, dtype=np.int64)[order],
        is_key=is_key,
        decode_order=order.astype(np.int64),
        elapsed_s=time.perf_counter() - t0,
        timestamps=source,
    )
