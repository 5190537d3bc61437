"""Byte-for-byte reproducible safetensors files.

The safetensors writer keeps metadata in a hash map, so the same tensors and metadata
written twice can differ in header order. Re-writing the header with sorted keys makes a
re-materialised file identical to the previous one (the data section is untouched).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from video_assets.store import DataRoot


def canonical(data: bytes) -> bytes:
    """``data`` (a serialised safetensors file) with its JSON header keys sorted."""
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # keep the data section 8-byte aligned
    return struct.pack("<Q", len(text)) + text + data[8 + size :]


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write a serialised safetensors file canonically: temporary name, then rename."""
    p = Path(path)
    with DataRoot(p.parent.absolute()).atomic_file(p.name) as tmp:
        tmp.write_bytes(canonical(data))
