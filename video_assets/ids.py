"""Video ids: derived from content, stable, safe as a path component and a URL part."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ID_PATTERN = re.compile(r"^v[0-9a-f]{16}$")
_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def video_id_from_sha256(sha256: str) -> str:
    """``v`` + the first 16 hex digits of the content hash: identical bytes, one id."""
    return "v" + sha256[:16]


def is_video_id(text: str) -> bool:
    return bool(ID_PATTERN.match(text))
