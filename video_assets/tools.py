"""Running ffmpeg and ffprobe safely.

Commands are always argument lists (never a shell string), input paths are passed with
the ``file:`` protocol prefix so a name starting with ``-`` or containing ``:`` cannot be
read as an option or a protocol, and every call has a timeout proportional to the media's
duration so a pathological file cannot hang a run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from video_assets.errors import ToolError, VideoAssetsError

STDERR_TAIL_LINES = 25


def tool_path(name: str) -> str:
    """Return the absolute path of an external tool or raise a clear error."""
    found = shutil.which(name)
    if found is None:
        raise VideoAssetsError(
            f"{name} is not installed or not on PATH (install it with `apt-get install ffmpeg`)"
        )
    return found


REMOTE_PROTOCOLS = "http,https,tcp,tls"
"""The only protocols ffmpeg may use for a :class:`RemoteMedia` input."""


@dataclass(frozen=True)
class RemoteMedia:
    """A media file on an object store, read by ffmpeg and PyAV through a presigned URL.

    ffmpeg's HTTP(S) protocol seeks with range requests, so a tool reads only the bytes it
    needs and nothing is copied to a local file. Only :class:`video_assets.store.DataRoot`
    makes these (from a URL it signed itself), so the URL is never user input.

    Attributes:
        uri: What messages name: the object's ``s3://bucket/...`` address.
        url: The presigned ``http(s)://`` URL the tools open.
        size: Object size in bytes.
    """

    uri: str
    url: str
    size: int

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(
                f"{self.uri}: a remote media URL must be http(s), got {self.url.split(':', 1)[0]}"
            )

    def __str__(self) -> str:
        return self.uri

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


MediaPath = str | Path | RemoteMedia


def media_arg(path: MediaPath) -> str:
    """An input or output path as ffmpeg must see it: absolute, behind ``file:`` (or the
    presigned URL of a :class:`RemoteMedia`; pass its input with :func:`input_args`)."""
    if isinstance(path, RemoteMedia):
        return path.url
    return "file:" + str(Path(path).absolute())


def input_args(path: MediaPath) -> list[str]:
    """``-i`` and the input as :func:`media_arg` writes it; a remote input is limited to
    HTTP(S) so nothing it names can make ffmpeg open another protocol."""
    if isinstance(path, RemoteMedia):
        return ["-protocol_whitelist", REMOTE_PROTOCOLS, "-i", path.url]
    return ["-i", media_arg(path)]


def timeout_for(
    duration_s: float | None, per_media_second: float = 4.0, base_s: float = 60.0
) -> float:
    """A subprocess timeout that grows with the media's duration."""
    if duration_s is None or duration_s != duration_s or duration_s < 0:  # unknown or NaN
        duration_s = 3600.0
    return base_s + per_media_second * duration_s


def run_tool(
    args: Sequence[str],
    *,
    timeout_s: float,
    what: str = "",
    capture_stdout: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``args`` (first item is the tool name) and raise ToolError on failure.

    Args:
        args: Argument list; the first item is resolved on PATH.
        timeout_s: Seconds before the process is killed.
        what: Short description of the operation, prefixed to the error message.
        capture_stdout: Capture stdout (returned) instead of discarding it.

    Returns:
        The completed process with stdout and stderr as bytes.
    """
    cmd = [tool_path(args[0]), *args[1:]]
    try:
        proc = subprocess.run(  # noqa: S603 - argument list, no shell
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        tail = _tail(exc.stderr or b"")
        raise ToolError(
            _redacted(cmd), None, redact_urls(tail) + f"\n(killed after {timeout_s:.0f} s)", what
        ) from None
    if proc.returncode != 0:
        raise ToolError(_redacted(cmd), proc.returncode, redact_urls(_tail(proc.stderr)), what)
    return proc


_SIGNED = re.compile(r"(https?://[^\s?]+)\?\S+")


def redact_urls(text: str) -> str:
    """Drop the query (the signature) of presigned URLs from text shown to people."""
    return _SIGNED.sub(r"\1?<signature>", text)


def _redacted(cmd: Sequence[str]) -> list[str]:
    return [redact_urls(a) for a in cmd]


def _tail(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return "\n".join(lines[-STDERR_TAIL_LINES:])


def ffmpeg_base() -> list[str]:
    """Common leading ffmpeg arguments: quiet, no stdin interaction, never overwrite silently."""
    return ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
