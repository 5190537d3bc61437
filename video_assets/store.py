"""The data root: one folder (or fsspec URL) holding every output of the pipeline.

Layout (see DESIGN.md):

    videos/<video_id>/source.<ext>
    tables/<table>/video_id=<id>/part.parquet
    clips/<video_id>/<clip_id>.mp4
    stems/<video_id>/vocals.wav
    tokens/<video_id>/<clip_id>.safetensors
    shards/<shard>.tar
    catalog.duckdb

Every write goes to a temporary name beside its target and is renamed into place, so a
reader never sees a half-written file; a folder of outputs (a video's clips) is built
under a temporary name and swapped in whole. Every path is built from validated
components, so nothing derived from a file name can escape the root.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from video_assets.errors import ConfigError, VideoAssetsError

_UNSAFE = re.compile(r"[\x00/\\]")
TMP_PREFIX = ".tmp-"


def safe_component(name: str) -> str:
    """Return ``name`` if it is safe as one path component, else raise ValueError."""
    if not name or name in (".", "..") or _UNSAFE.search(name) or name.startswith(TMP_PREFIX):
        raise ValueError(f"unsafe path component: {name!r}")
    return name


class DataRoot:
    """A local folder or fsspec URL with atomic writes and the pipeline's layout.

    Args:
        url: A local path or any fsspec URL (``s3://bucket/prefix``).
        storage_options: Passed to fsspec (credentials, endpoint_url, ...).
    """

    def __init__(self, url: str | os.PathLike[str], storage_options: dict | None = None):
        url = str(url)
        if not url:
            raise ConfigError("VIDEO_ASSETS_DATA_ROOT", "the data root is empty")
        self.fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.is_local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        self.root = str(Path(root).absolute()) if self.is_local else root.rstrip("/")
        self.url = self.root if self.is_local else url.rstrip("/")
        if self.is_local:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"DataRoot({self.url!r})"

    # -- paths -----------------------------------------------------------------------------
    def rel(self, *parts: str) -> str:
        """Join validated components into a path relative to the root."""
        return "/".join(safe_component(p) for p in parts)

    def full(self, rel: str) -> str:
        """Absolute path (local) or full URL path (remote) of a relative path."""
        for part in rel.split("/"):
            safe_component(part)
        return f"{self.root}/{rel}"

    def local_path(self, rel: str) -> Path:
        """The local filesystem path of ``rel``; only for a local data root."""
        if not self.is_local:
            raise VideoAssetsError(f"{self.url} is not a local data root; stage files with local_copy()")
        return Path(self.full(rel))

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self.full(rel)))

    def listdir(self, rel: str) -> list[str]:
        """Names (not paths) directly under ``rel``, without temporary files; [] if absent."""
        full = self.full(rel)
        if not self.fs.exists(full):
            return []
        names = [Path(p.rstrip("/")).name for p in self.fs.ls(full, detail=False)]
        return sorted(n for n in names if not n.startswith(TMP_PREFIX))

    # -- reading ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def local_copy(self, rel: str) -> Iterator[Path]:
        """Yield a local path holding ``rel``: the file itself when local, else a temp copy."""
        if self.is_local:
            path = self.local_path(rel)
            if not path.exists():
                raise VideoAssetsError(f"{path} does not exist in the data root")
            yield path
            return
        with tempfile.TemporaryDirectory(prefix="va-") as tmp:
            dst = Path(tmp) / Path(rel).name
            self.fs.get(self.full(rel), str(dst))
            yield dst

    def read_bytes(self, rel: str) -> bytes:
        return bytes(self.fs.cat_file(self.full(rel)))

    # -- atomic writing --------------------------------------------------------------------
    @contextlib.contextmanager
    def atomic_file(self, rel: str) -> Iterator[Path]:
        """Yield a local temporary path; on success it replaces ``rel`` in one rename.

        On an exception the temporary file is removed and ``rel`` is left as it was.
        """
        full = self.full(rel)
        name = Path(rel).name
        if self.is_local:
            target = Path(full)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.parent / f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{name}"
            try:
                yield tmp
                if not tmp.exists():
                    raise VideoAssetsError(f"nothing was written for {target}")
                _fsync(tmp)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            return
        with tempfile.TemporaryDirectory(prefix="va-") as tmpdir:
            tmp = Path(tmpdir) / name
            yield tmp
            # An object store PUT is atomic: readers see the old object or the whole new one.
            self.fs.put_file(str(tmp), full)

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self.atomic_file(rel) as tmp:
            tmp.write_bytes(data)

    @contextlib.contextmanager
    def atomic_dir(self, rel: str) -> Iterator[Path]:
        """Yield a local temporary folder; on success it replaces the folder ``rel`` whole.

        Locally the new folder is renamed into place and the old one removed after, so a
        reader sees either every old file or every new one. On an object store the new
        files are uploaded first and files absent from the new set are deleted after.
        """
        full = self.full(rel)
        if self.is_local:
            target = Path(full)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.parent / f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{target.name}"
            tmp.mkdir()
            try:
                yield tmp
                for f in tmp.rglob("*"):
                    if f.is_file():
                        _fsync(f)
                old = None
                if target.exists():
                    old = target.parent / f"{TMP_PREFIX}old-{uuid.uuid4().hex[:12]}-{target.name}"
                    os.replace(target, old)
                os.replace(tmp, target)
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
            return
        with tempfile.TemporaryDirectory(prefix="va-") as tmpdir:
            tmp = Path(tmpdir)
            yield tmp
            new = {str(f.relative_to(tmp)) for f in tmp.rglob("*") if f.is_file()}
            for name in sorted(new):
                self.fs.put_file(str(tmp / name), f"{full}/{name}")
            if self.fs.exists(full):
                for existing in self.fs.find(full):
                    name = existing[len(full) + 1 :] if existing.startswith(full) else existing
                    if name not in new:
                        self.fs.rm_file(existing)

    def remove_tree(self, rel: str) -> None:
        full = self.full(rel)
        if self.fs.exists(full):
            self.fs.rm(full, recursive=True)

    # -- tables ----------------------------------------------------------------------------
    def table_rel(self, table: str, video_id: str) -> str:
        return self.rel("tables", table, f"video_id={safe_component(video_id)}", "part.parquet")

    def write_table(self, table: str, video_id: str, df: pd.DataFrame, schema: pa.Schema | None = None) -> str:
        """Write one partition's rows of ``table`` atomically; returns the relative path.

        The ``video_id`` column is carried by the hive path, not stored in the file.
        """
        frame = df.drop(columns=["video_id"], errors="ignore")
        arrow = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        rel = self.table_rel(table, video_id)
        with self.atomic_file(rel) as tmp:
            pq.write_table(arrow, tmp, compression="zstd")
        return rel

    def read_table(self, table: str, video_id: str) -> pd.DataFrame:
        """Read one partition of ``table`` with its ``video_id`` column restored."""
        rel = self.table_rel(table, video_id)
        if not self.exists(rel):
            raise VideoAssetsError(f"table {table} has no partition for video {video_id} at {self.full(rel)}")
        with self.fs.open(self.full(rel), "rb") as fh:
            df = pq.read_table(fh).to_pandas()
        df.insert(0, "video_id", video_id)
        return df

    def table_partitions(self, table: str) -> list[str]:
        """Video ids that have a partition of ``table``."""
        return [n.split("=", 1)[1] for n in self.listdir(self.rel("tables", table)) if n.startswith("video_id=")]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
