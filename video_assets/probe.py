"""Stream facts from ffprobe, validated before any stage spends time on a file."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

from video_assets.errors import MediaError, ToolError
from video_assets.tools import MediaPath, RemoteMedia, input_args, media_arg, run_tool

MAX_DIMENSION = 16384
MAX_DURATION_S = 48 * 3600.0


def check_resolution(path: MediaPath, width: int, height: int) -> None:
    """Refuse a stated frame size no camera makes (above 16384 on a side: 16K is 15360).

    Raises:
        MediaError: naming ``path`` and the size.
    """
    if width > MAX_DIMENSION or height > MAX_DIMENSION:
        raise MediaError(path, f"video stream claims an absurd resolution {width}x{height}")


def check_duration(path: MediaPath, seconds: float, stated: object = None) -> None:
    """Refuse a stated duration that is not finite or above 48 hours.

    Raises:
        MediaError: naming ``path`` and the duration as the container states it.
    """
    if not math.isfinite(seconds) or seconds > MAX_DURATION_S:
        raise MediaError(
            path, f"claims an absurd duration ({seconds if stated is None else stated} s)"
        )


@dataclass(frozen=True)
class VideoStreamInfo:
    """The video stream a stage works on."""

    index: int
    codec: str
    width: int
    height: int
    pix_fmt: str
    fps: float
    """Average frame rate (frames / duration); for VFR material this is the mean."""
    time_base: str
    rotation: int
    """Display-matrix rotation in degrees (0, 90, 180, 270)."""
    frame_count: int | None
    """Frame count from the container header when it states one."""


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio stream of the file."""

    index: int
    codec: str
    sample_rate: int
    channels: int
    language: str | None
    default: bool


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a file."""

    path: str
    format_name: str
    size_bytes: int
    duration_s: float
    video: VideoStreamInfo | None
    audio: list[AudioStreamInfo] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def require_video(self) -> VideoStreamInfo:
        """Return the video stream or raise MediaError naming the file."""
        if self.video is None:
            raise MediaError(self.path, "has no video stream")
        return self.video


def _fraction(text: str | None) -> float:
    if not text or text in ("0/0", "N/A"):
        return 0.0
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        return 0.0


def _rotation(stream: dict) -> int:
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            return int(round(float(side["rotation"]))) % 360
    tag = (stream.get("tags") or {}).get("rotate")
    return int(tag) % 360 if tag and tag.lstrip("-").isdigit() else 0


# ISO BMFF (MP4, MOV, M4V, 3GP) box types a file may start with, at byte 4.
_BMFF_FIRST_BOXES = {
    b"ftyp",
    b"moov",
    b"mdat",
    b"free",
    b"skip",
    b"wide",
    b"pnot",
    b"styp",
    b"uuid",
}


def sniff_container(head: bytes) -> str | None:
    """The container family the first bytes of a file announce, or None.

    A cheap check (no subprocess) the landing scan runs before registering a file, so
    random bytes or a text file named ``.mp4`` are turned away at once. It says nothing
    about whether the file is complete or decodable: ffprobe decides that later.

    Args:
        head: At least the first 380 bytes of the file (fewer for a tiny file).
    """
    if len(head) >= 8 and head[4:8] in _BMFF_FIRST_BOXES:
        return "mp4/mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska/webm"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:3] == b"FLV":
        return "flv"
    if head[:16] == bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"):
        return "asf/wmv"
    if head[:4] == bytes.fromhex("060e2b34"):
        return "mxf"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "mpeg-ps"
    for packet in (188, 192):  # MPEG-TS, and M2TS with its 4-byte timestamp prefix
        offset = packet - 188
        if len(head) > offset + packet and head[offset] == 0x47 and head[offset + packet] == 0x47:
            return "mpeg-ts"
    return None


def check_container(path: str | Path) -> str:
    """Raise :class:`MediaError` unless ``path`` starts like a known video container."""
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(512)
    if not head:
        raise MediaError(p, "is empty (0 bytes)")
    kind = sniff_container(head)
    if kind is None:
        raise MediaError(
            p,
            "is not a video file: its first bytes match no known container "
            "(MP4/MOV, Matroska/WebM, AVI, MPEG-TS/PS, FLV, ASF/WMV, MXF)",
        )
    return kind


def probe(path: str | Path | RemoteMedia) -> MediaInfo:
    """Run ffprobe on ``path`` and return validated stream facts.

    Raises:
        MediaError: the file is missing, empty, unreadable, or states absurd facts.
    """
    if isinstance(path, RemoteMedia):  # an object in a remote data root, read by range requests
        p: Path | RemoteMedia = path
        size = path.size
    else:
        p = Path(path)
        if not p.exists():
            raise MediaError(p, "does not exist")
        if not p.is_file():
            raise MediaError(p, "is not a regular file")
        size = p.stat().st_size
    if size == 0:
        raise MediaError(p, "is empty (0 bytes)")
    try:
        # fmt: off
        proc = run_tool(
            [
                "ffprobe", "-v", "error", "-print_format", "json",
                "-show_format", "-show_streams",
                *(input_args(p) if isinstance(p, RemoteMedia) else [media_arg(p)]),
            ],
            timeout_s=60,
            what=f"probing {p}",
        )
        # fmt: on
    except ToolError as exc:
        raise MediaError(
            p, f"is not a readable media file ({exc.stderr_tail.strip() or 'ffprobe failed'})"
        ) from None
    data = json.loads(proc.stdout or b"{}")
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    if not streams:
        raise MediaError(p, "contains no audio or video streams")

    video = None
    audio: list[AudioStreamInfo] = []
    for s in streams:
        kind = s.get("codec_type")
        disposition = s.get("disposition") or {}
        if kind == "video" and video is None and not disposition.get("attached_pic"):
            width, height = int(s.get("width") or 0), int(s.get("height") or 0)
            if width <= 0 or height <= 0:
                raise MediaError(p, f"video stream {s.get('index')} has no valid size")
            check_resolution(p, width, height)
            fps = _fraction(s.get("avg_frame_rate")) or _fraction(s.get("r_frame_rate"))
            nb = s.get("nb_frames")
            video = VideoStreamInfo(
                index=int(s["index"]),
                codec=str(s.get("codec_name", "unknown")),
                width=width,
                height=height,
                pix_fmt=str(s.get("pix_fmt", "unknown")),
                fps=fps,
                time_base=str(s.get("time_base", "")),
                rotation=_rotation(s),
                frame_count=int(nb) if nb and str(nb).isdigit() else None,
            )
        elif kind == "audio":
            audio.append(
                AudioStreamInfo(
                    index=int(s["index"]),
                    codec=str(s.get("codec_name", "unknown")),
                    sample_rate=int(s.get("sample_rate") or 0),
                    channels=int(s.get("channels") or 0),
                    language=(s.get("tags") or {}).get("language"),
                    default=bool(disposition.get("default")),
                )
            )
    duration = float(fmt.get("duration") or 0.0)
    check_duration(p, duration, fmt.get("duration"))
    return MediaInfo(
        path=str(p),
        format_name=str(fmt.get("format_name", "unknown")),
        size_bytes=size,
        duration_s=duration,
        video=video,
        audio=audio,
    )
