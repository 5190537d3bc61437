"""Landing files seen by the sensor or the schedule, registered under their video id.

Registration checks the file's first bytes name a video container, hashes it and records where it was found in ``registry/<id>.json`` in the
data root; ``source_video`` later copies those exact bytes into the store. Nothing here
moves, renames or modifies a landing file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from video_assets.errors import MediaError
from video_assets.ids import file_sha256, video_id_from_sha256
from video_assets.layout import registry_rel
from video_assets.probe import check_container
from video_assets.store import DataRoot

VIDEO_SUFFIXES = {
    ".mp4",
    ".mov",
    ".mkv",
    ".avi",
    ".webm",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".ts",
    ".mxf",
    ".flv",
    ".wmv",
}


@dataclass(frozen=True)
class Registration:
    video_id: str
    sha256: str
    landing_path: str
    original_name: str
    bytes: int


def landing_candidates(landing_dir: str | Path) -> list[Path]:
    """Regular video files in the landing folder (recursively), skipping hidden and temp
    files and symlinks that point outside the folder."""
    root = Path(landing_dir).resolve()
    if not root.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            p = Path(dirpath) / name
            if name.startswith(".") or p.suffix.lower() not in VIDEO_SUFFIXES:
                continue
            try:
                real = p.resolve(strict=True)
            except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
                continue
            if not real.is_relative_to(root) or not real.is_file():
                continue
            found.append(p)
    return sorted(found)


def register(root: DataRoot, path: Path) -> Registration:
    """Hash ``path`` and record it under its video id (idempotent).

    Files whose first bytes announce no video container (random bytes, text named
    ``.mp4``) are refused here, before any run is requested for them; whether a container
    is complete and decodable is for ``source_video`` to find out.
    """
    if not path.is_file():
        raise MediaError(path, "does not exist" if not path.exists() else "is not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(path, "is empty (0 bytes)")
    check_container(path)
    sha = file_sha256(path)
    reg = Registration(
        video_id=video_id_from_sha256(sha),
        sha256=sha,
        landing_path=str(path.absolute()),
        original_name=path.name,
        bytes=path.stat().st_size,
    )
    rel = registry_rel(reg.video_id)
    if not root.exists(rel):
        root.write_bytes(rel, json.dumps(asdict(reg), indent=2).encode())
    return reg


def lookup(root: DataRoot, video_id: str) -> Registration:
    """The registration of ``video_id``; MediaError when it was never registered."""
    rel = registry_rel(video_id)
    if not root.exists(rel):
        raise MediaError(
            video_id,
            f"is not a registered video (no {root.uri(rel)}); drop the file in the landing folder first",
        )
    return Registration(**json.loads(root.read_bytes(rel)))
