"""The data root: one folder (or fsspec URL) holding every output of the pipeline.

Layout (see DESIGN.md; :mod:`video_assets.layout` names each path):

    videos/<video_id>/source.<ext>
    tables/<table>/video_id=<id>/part.parquet
    clips/<video_id>/<clip_id>.mp4             (.mkv: a copy of a codec MP4 cannot hold)
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
import ctypes
import errno
import functools
import hashlib
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from video_assets.errors import ConfigError, VideoAssetsError
from video_assets.tools import RemoteMedia

_UNSAFE = re.compile(r"[\x00/\\]")
TMP_PREFIX = ".tmp-"

DATA_ROOT_SETTING = "VIDEO_ASSETS_DATA_ROOT"
S3_ENV = {
    "endpoint_url": "VIDEO_ASSETS_S3_ENDPOINT_URL",
    "key": "VIDEO_ASSETS_S3_KEY",
    "secret": "VIDEO_ASSETS_S3_SECRET",
    "region": "VIDEO_ASSETS_S3_REGION",
}
"""Settings of an ``s3://`` data root: resource field of ``store`` -> environment variable."""
SIGNED_URL_S = 6 * 3600
"""Lifetime of the presigned URLs ffmpeg and PyAV read remote media through."""


def s3_storage_options(
    endpoint_url: str = "", key: str = "", secret: str = "", region: str = ""
) -> dict:
    """s3fs options from the ``store`` settings; empty ones are left to botocore's own chain
    (``AWS_*`` variables, ``~/.aws``, an instance role)."""
    if bool(key) != bool(secret):
        missing = "secret" if key else "key"
        raise ConfigError(
            S3_ENV[missing], f"store.key and store.secret go together; {missing} is empty"
        )
    opts: dict = {}
    if endpoint_url:
        if not endpoint_url.startswith(("http://", "https://")):
            raise ConfigError(
                S3_ENV["endpoint_url"], f"must be an http(s):// URL, got {endpoint_url!r}"
            )
        opts["endpoint_url"] = endpoint_url
    if key:
        opts["key"], opts["secret"] = key, secret
    if region:
        opts["client_kwargs"] = {"region_name": region}
    return opts


def storage_options_from_env(url: str) -> dict:
    """Storage options for ``url`` from the ``VIDEO_ASSETS_S3_*`` variables (s3 URLs only),
    so the CLI, the loader and scripts reach the same bucket the pipeline writes to."""
    if fsspec.core.split_protocol(url)[0] not in ("s3", "s3a"):
        return {}
    return s3_storage_options(**{k: os.environ.get(v, "") for k, v in S3_ENV.items()})


def remote_config_error(root: DataRoot, exc: BaseException) -> VideoAssetsError:
    """Turn a failure to reach a remote root into an error naming the setting to fix."""
    name, text = type(exc).__name__, str(exc)
    creds = f"{S3_ENV['key']} / {S3_ENV['secret']} (store.key / store.secret)"
    endpoint = root.storage_options.get("endpoint_url") or "the provider's default endpoint"
    if (
        name in ("NoCredentialsError", "PartialCredentialsError")
        or "Unable to locate credentials" in text
    ):
        return ConfigError(
            creds,
            f"no credentials to reach {root.url}: set them, or AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY, an AWS profile or an instance role",
        )
    if isinstance(exc, PermissionError) or any(
        k in text
        for k in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden")
    ):
        return ConfigError(
            creds,
            f"{root.url}: access denied at {endpoint} ({text}); check the key and "
            "secret and that they may list and write this bucket and prefix",
        )
    if isinstance(exc, FileNotFoundError) or "NoSuchBucket" in text:
        return ConfigError(
            DATA_ROOT_SETTING,
            f"{root.url}: bucket {root.root.split('/', 1)[0]!r} does not "
            f"exist at {endpoint} (create it, or fix the URL)",
        )
    if (
        isinstance(exc, (ConnectionError, TimeoutError))
        or any(k in name for k in ("Endpoint", "Connect", "Connection", "Timeout"))
        or "connect" in text.lower()
    ):
        return ConfigError(
            f"{S3_ENV['endpoint_url']} (store.endpoint_url)",
            f"cannot reach the object store of {root.url} at {endpoint} ({name}: {text})",
        )
    if isinstance(exc, VideoAssetsError):
        return exc
    return VideoAssetsError(f"{root.url}: the data root cannot be listed ({name}: {text})")


def safe_component(name: str) -> str:
    """Return ``name`` if it is safe as one path component, else raise ValueError."""
    if not name or name in (".", "..") or _UNSAFE.search(name) or name.startswith(TMP_PREFIX):
        raise ValueError(f"unsafe path component: {name!r}")
    return name


class DataRoot:
    """A local folder or fsspec URL with atomic writes and the pipeline's layout.

    Args:
        url: A local path or any fsspec URL (``s3://bucket/prefix``).
        storage_options: Passed to fsspec (credentials, endpoint_url, ...); None: for an
            ``s3://`` URL, those of the ``VIDEO_ASSETS_S3_*`` variables (see docs/storage.md).
    """

    def __init__(self, url: str | os.PathLike[str], storage_options: dict | None = None):
        url = str(url)
        if not url:
            raise ConfigError(DATA_ROOT_SETTING, "the data root is empty")
        protocol = fsspec.core.split_protocol(url)[0]
        options = (
            dict(storage_options) if storage_options is not None else storage_options_from_env(url)
        )
        if protocol not in (None, "file", "local"):
            # Every step lists what other processes wrote: never answer from a stale listing.
            options.setdefault("use_listings_cache", False)
        try:
            self.fs, root = fsspec.core.url_to_fs(url, **options)
        except ImportError as exc:
            raise ConfigError(
                DATA_ROOT_SETTING,
                f"{url}: the fsspec backend for {protocol}:// is not installed ({exc})",
            ) from None
        except ValueError as exc:
            raise ConfigError(
                DATA_ROOT_SETTING, f"{url}: not a usable data root URL ({exc})"
            ) from None
        self.storage_options = options
        self.is_local = "file" in (
            self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        )
        self.root = str(Path(root).absolute()) if self.is_local else root.rstrip("/")
        self.url = self.root if self.is_local else url.rstrip("/")
        if not self.is_local and not self.root:
            raise ConfigError(DATA_ROOT_SETTING, f"{url}: names no bucket")
        if self.is_local:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def check(self) -> DataRoot:
        """Make sure a remote root can be listed, so a wrong URL, endpoint or credential
        fails at once with a :class:`ConfigError` naming the setting to fix.

        A local root needs no check (it was created). Returns ``self``.
        """
        if self.is_local:
            return self
        bucket = self.root.split("/", 1)[0]
        try:
            try:
                self.fs.ls(self.root, detail=False)
            except FileNotFoundError:
                # A new prefix has nothing under it yet: fine, if the bucket is there.
                if self.root != bucket and self.fs.exists(bucket):
                    return self
                raise
        except Exception as exc:  # noqa: BLE001 - every failure is mapped to a setting below
            raise remote_config_error(self, exc) from exc
        return self

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

    def uri(self, rel: str) -> str:
        """What a person (or DuckDB, or a loader) uses to name ``rel``: the local path, or the
        protocol-qualified URL (``s3://bucket/prefix/rel``) on a remote root."""
        full = self.full(rel)
        return full if self.is_local else self.fs.unstrip_protocol(full)

    def local_path(self, rel: str) -> Path:
        """The local filesystem path of ``rel``; only for a local data root."""
        if not self.is_local:
            raise VideoAssetsError(
                f"{self.url} is not a local data root; stage files with local_copy()"
            )
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
            try:
                self.fs.get_file(self.full(rel), str(dst))
            except FileNotFoundError:
                raise VideoAssetsError(f"{self.uri(rel)} does not exist in the data root") from None
            yield dst

    @contextlib.contextmanager
    def media_input(self, rel: str) -> Iterator[Path | RemoteMedia]:
        """Yield what ffmpeg, ffprobe and PyAV open to read the media file ``rel``.

        Locally that is the file itself. On an object store it is a :class:`RemoteMedia`
        holding a presigned HTTP(S) URL (valid for the step), which the tools read by range
        requests, so no local copy is made; a backend that cannot sign URLs gets a local
        temporary copy instead. Use :meth:`local_copy` where a tool needs a local file.
        """
        if self.is_local:
            with self.local_copy(rel) as path:
                yield path
            return
        full = self.full(rel)
        try:
            size = int(self.fs.size(full))
        except FileNotFoundError:
            raise VideoAssetsError(f"{self.uri(rel)} does not exist in the data root") from None
        try:
            url = self.fs.sign(full, expiration=SIGNED_URL_S)
        except NotImplementedError:
            url = None
        if url is None or not str(url).startswith(("https://", "http://")):
            with self.local_copy(rel) as path:
                yield path
            return
        yield RemoteMedia(uri=self.uri(rel), url=str(url), size=size)

    def open(self, rel: str, mode: str = "rb", **kwargs: object):  # noqa: ANN201 - an fsspec file object
        """Open ``rel`` through fsspec for streaming reads (use the atomic writers to write)."""
        if "r" not in mode:
            raise ValueError(
                "DataRoot.open is for reading; write with atomic_file or atomic_stream"
            )
        return self.fs.open(self.full(rel), mode, **kwargs)

    def size(self, rel: str) -> int:
        return int(self.fs.size(self.full(rel)))

    def read_bytes(self, rel: str) -> bytes:
        return bytes(self.fs.cat_file(self.full(rel)))

    @contextlib.contextmanager
    def atomic_stream(self, rel: str) -> Iterator[BinaryIO]:
        """Yield a binary file to write ``rel`` through; it appears whole, or not at all.

        Locally the bytes go to a temporary name that is renamed into place. On an object
        store they are streamed up (a multipart upload for a large file), and the object is
        created only when the upload completes; on an exception the upload is aborted, so
        nothing is staged on local disk and nothing partial becomes visible.
        """
        if self.is_local:
            with self.atomic_file(rel) as tmp, open(tmp, "wb") as fh:
                yield fh
            return
        fh = self.fs.open(self.full(rel), "wb")
        try:
            yield fh
        except BaseException:
            with contextlib.suppress(Exception):
                fh.discard()  # abort the multipart upload; the object never appears
            fh.closed = True  # never commit what was written so far
            raise
        fh.close()

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
            sweep_dead_temps(target.parent)
            tmp = target.parent / tmp_name(name)
            try:
                with _disk_full_named(self, target):
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

        Locally the new folder and the old one are exchanged in one ``renameat2`` call
        (``RENAME_EXCHANGE``; where the filesystem lacks it, two renames), and the old one
        is removed after, so a reader sees either every old file or every new one. On an
        object store the new files are uploaded first and files absent from the new set are
        deleted after.
        """
        full = self.full(rel)
        if self.is_local:
            target = Path(full)
            target.parent.mkdir(parents=True, exist_ok=True)
            sweep_dead_temps(target.parent)
            tmp = target.parent / tmp_name(target.name)
            tmp.mkdir()
            try:
                with _disk_full_named(self, target):
                    yield tmp
                    for f in tmp.rglob("*"):
                        if f.is_file():
                            _fsync(f)
                # In one step where the filesystem can: tmp then holds the old folder,
                # removed below. Otherwise two renames.
                if not (target.exists() and _exchange(tmp, target)):
                    old = None
                    if target.exists():
                        old = target.parent / tmp_name(f"old-{target.name}")
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
            new = sorted(f.relative_to(tmp).as_posix() for f in tmp.rglob("*") if f.is_file())
            if new:  # one call: an async backend (s3fs) uploads the files concurrently
                self.fs.put([str(tmp / n) for n in new], [f"{full}/{n}" for n in new])
            keep = set(new)
            stale = [
                p
                for p in (self.fs.find(full) if self.fs.exists(full) else [])
                if (p[len(full) + 1 :] if p.startswith(full + "/") else p) not in keep
            ]
            if stale:
                self.fs.rm(stale)

    def remove_tree(self, rel: str) -> None:
        full = self.full(rel)
        if self.fs.exists(full):
            self.fs.rm(full, recursive=True)

    # -- tables ----------------------------------------------------------------------------
    def table_rel(self, table: str, video_id: str) -> str:
        return self.rel("tables", table, f"video_id={safe_component(video_id)}", "part.parquet")

    def write_table(
        self, table: str, video_id: str, df: pd.DataFrame, schema: pa.Schema | None = None
    ) -> str:
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
            raise VideoAssetsError(
                f"table {table} has no partition for video {video_id} at {self.full(rel)}"
            )
        with self.fs.open(self.full(rel), "rb") as fh:
            df = pq.read_table(fh).to_pandas()
        df.insert(0, "video_id", video_id)
        return df

    def table_partitions(self, table: str) -> list[str]:
        """Video ids that have a published partition of ``table`` (its ``part.parquet``; a
        folder holding only a killed writer's temporary file is no partition)."""
        return [
            n.split("=", 1)[1]
            for n in self.listdir(self.rel("tables", table))
            if n.startswith("video_id=")
            and self.exists(self.rel("tables", table, n, "part.parquet"))
        ]


_HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_TMP_OWNER = re.compile(rf"^{re.escape(TMP_PREFIX)}([0-9a-f]{{6}})-(\d+)-")


def tmp_name(name: str) -> str:
    """A hidden temporary name beside ``name`` that says which host and process own it."""
    return f"{TMP_PREFIX}{_HOST_TAG}-{os.getpid()}-{uuid.uuid4().hex[:12]}-{name}"


def sweep_dead_temps(folder: Path) -> list[str]:
    """Remove temporary files and folders in ``folder`` whose writer has died.

    A process killed in the middle of a write leaves its hidden ``.tmp-`` entry behind
    (never anything under a final name). Entries are removed only when they were made on
    this host by a process that no longer exists, so a live writer, or one on another
    host sharing the folder, is never disturbed. Returns the names removed.
    """
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = _TMP_OWNER.match(name)
        if m is None or m.group(1) != _HOST_TAG or _alive(int(m.group(2))):
            continue
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@functools.cache
def _renameat2():  # noqa: ANN202 - a ctypes function, or None without glibc's renameat2
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step with Linux ``renameat2(RENAME_EXCHANGE)``; False if unsupported."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


FULL_BELOW_BYTES = 1 << 20
"""A failed write on a device with less free space than this is reported as a full disk."""


@contextlib.contextmanager
def _disk_full_named(root: DataRoot, target: Path) -> Iterator[None]:
    """Report a write that failed for want of space as exactly that.

    Python raises ENOSPC, but a tool may not: ffmpeg can exit 0 with a truncated file,
    which then fails its check as "not a readable media file". So any failure while the
    device is (nearly) full is re-raised as a full data root, naming the target and the
    original error.
    """
    try:
        yield
    except (OSError, VideoAssetsError) as exc:
        full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
        if not full:
            try:
                st = os.statvfs(target.parent)
                full = st.f_bavail * st.f_frsize < FULL_BELOW_BYTES
            except OSError:
                full = False
        if not full:
            raise
        raise VideoAssetsError(
            f"the data root {root.url} is full (no space left on its device) while writing "
            f"{target}; nothing was published under that name. Free space and re-materialize. "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
