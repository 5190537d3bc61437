"""Exceptions raised by the library.

Every error names the file (or setting) and the problem, so a failed Dagster step or a
non-zero CLI exit tells the user what to fix without reading a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from video_assets.tools import MediaPath


class VideoAssetsError(Exception):
    """Base class of every error raised on purpose by video_assets."""


class MediaError(VideoAssetsError):
    """A media file is missing, unreadable, or not what a stage needs.

    Attributes:
        path: The offending file.
        problem: What is wrong with it, in words.
    """

    def __init__(self, path: MediaPath, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ToolError(VideoAssetsError):
    """An external tool (ffmpeg, ffprobe, ...) exited non-zero or timed out.

    Attributes:
        cmd: The argument list that was run.
        returncode: Exit status, or None when the tool was killed for running too long.
        stderr_tail: The last lines of the tool's stderr.
    """

    def __init__(
        self, cmd: Sequence[str], returncode: int | None, stderr_tail: str, what: str = ""
    ):
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        status = "timed out" if returncode is None else f"exited with status {returncode}"
        prefix = f"{what}: " if what else ""
        super().__init__(
            f"{prefix}{self.cmd[0]} {status}\ncommand: {' '.join(self.cmd)}\nstderr:\n{stderr_tail}"
        )


class ConfigError(VideoAssetsError):
    """A setting is invalid or points at something that does not exist.

    Attributes:
        setting: The name of the setting (environment variable or resource field).
    """

    def __init__(self, setting: str, problem: str):
        self.setting = setting
        self.problem = problem
        super().__init__(f"setting {setting}: {problem}")
