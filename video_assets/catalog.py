"""The DuckDB catalog: views over every partition's Parquet tables, and the SQL checks.

Views live in ``catalog.duckdb`` at the data root and read ``tables/<table>/*/part.parquet``
by relative path, so the catalog stays valid wherever the root is mounted: open it from the
data root (``cd $ROOT && uv run --frozen duckdb catalog.duckdb``), or let :func:`connect` set DuckDB's
``file_search_path``. On an object-store root (``s3://...``) :func:`connect` registers the
root's fsspec filesystem with DuckDB and the views name ``s3://bucket/prefix/tables/...``;
``catalog.duckdb`` is built in a local temporary file and uploaded to the root whole. The SQL lives in ``sql/views`` and ``sql/checks``, one statement per
file; checks take bound parameters (``$video_id``, thresholds), never formatted strings.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from video_assets.errors import ConfigError
from video_assets.motion.result import ROW_COLUMNS as MOTION_COLUMNS
from video_assets.store import DataRoot

_PACKAGE = Path(__file__).resolve().parent
SQL_DIR = _PACKAGE / "sql" if (_PACKAGE / "sql").is_dir() else _PACKAGE.parent / "sql"
"""``sql/``: the copy an installed wheel carries inside the package, else the repository's."""
CATALOG_FILE = "catalog.duckdb"
CATALOG_STORAGE_VERSION = "v1.5.0"
"""DuckDB storage format of ``catalog.duckdb``: the newest the ``duckdb`` command of the
locked ``duckdb-cli`` (1.5) opens; the Python ``duckdb`` (2.0) writes a newer one by default."""

# Columns of each table, used to define an empty view until a partition exists.
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "videos": {
        "video_id": "VARCHAR",
        "sha256": "VARCHAR",
        "original_name": "VARCHAR",
        "source_path": "VARCHAR",
        "bytes": "BIGINT",
        "format": "VARCHAR",
        "duration_s": "DOUBLE",
        "video_codec": "VARCHAR",
        "width": "INTEGER",
        "height": "INTEGER",
        "fps": "DOUBLE",
        "rotation": "INTEGER",
        "audio_streams": "INTEGER",
    },
    "keyframes": {
        "video_id": "VARCHAR",
        "frame": "BIGINT",
        "pts_s": "DOUBLE",
        "gop_frames": "BIGINT",
    },
    "scenes": {
        "video_id": "VARCHAR",
        "scene_index": "INTEGER",
        "start_frame": "BIGINT",
        "end_frame": "BIGINT",
        "start_s": "DOUBLE",
        "end_s": "DOUBLE",
        "duration_s": "DOUBLE",
        "is_short": "BOOLEAN",
        "detector": "VARCHAR",
        "mode": "VARCHAR",
    },
    "clips": {
        "video_id": "VARCHAR",
        "clip_id": "VARCHAR",
        "scene_index": "INTEGER",
        "window_index": "INTEGER",
        "path": "VARCHAR",
        "scene_start_frame": "BIGINT",
        "scene_end_frame": "BIGINT",
        "start_frame": "BIGINT",
        "end_frame": "BIGINT",
        "start_s": "DOUBLE",
        "end_s": "DOUBLE",
        "duration_s": "DOUBLE",
        "method": "VARCHAR",
        "container": "VARCHAR",
        "leaked_frames": "BIGINT",
        "lost_frames": "BIGINT",
        "damaged_frames": "BIGINT",
        "bytes": "BIGINT",
    },
    "clip_motion": {
        "video_id": "VARCHAR",
        "clip_id": "VARCHAR",
        **MOTION_COLUMNS,
        "worst_source_frame": "BIGINT",
    },
    "stems": {
        "video_id": "VARCHAR",
        "has_audio": "BOOLEAN",
        "backend": "VARCHAR",
        "model": "VARCHAR",
        "origin": "VARCHAR",
        "fallback": "VARCHAR",
        "stream_index": "BIGINT",
        "audio_duration_s": "DOUBLE",
        "sample_rate": "BIGINT",
        "channels": "BIGINT",
        "device": "VARCHAR",
        "vocals_path": "VARCHAR",
        "accompaniment_path": "VARCHAR",
        "vocals_16k_path": "VARCHAR",
    },
    "words": {
        "video_id": "VARCHAR",
        "segment": "BIGINT",
        "word": "VARCHAR",
        "start": "DOUBLE",
        "end": "DOUBLE",
        "score": "DOUBLE",
        "speaker": "VARCHAR",
        "aligner": "VARCHAR",
    },
    "segments": {
        "video_id": "VARCHAR",
        "segment": "BIGINT",
        "start": "DOUBLE",
        "end": "DOUBLE",
        "text": "VARCHAR",
        "speaker": "VARCHAR",
        "language": "VARCHAR",
        "kept": "BOOLEAN",
        "drop_reason": "VARCHAR",
        "detected_language": "VARCHAR",
        "language_probability": "DOUBLE",
        "text_input": "VARCHAR",
    },
    "transcripts": {
        "video_id": "VARCHAR",
        "has_audio": "BOOLEAN",
        "language": "VARCHAR",
        "language_source": "VARCHAR",
        "language_probability": "DOUBLE",
        "whisper_model": "VARCHAR",
        "whisper_source": "VARCHAR",
        "aligner": "VARCHAR",
        "aligner_model": "VARCHAR",
        "diarization_model": "VARCHAR",
    },
    "speaker_turns": {
        "video_id": "VARCHAR",
        "start": "DOUBLE",
        "end": "DOUBLE",
        "speaker": "VARCHAR",
    },
    "tokens": {
        "video_id": "VARCHAR",
        "clip_id": "VARCHAR",
        "path": "VARCHAR",
        "t": "BIGINT",
        "h": "BIGINT",
        "w": "BIGINT",
        "frames": "BIGINT",
        "height": "BIGINT",
        "width": "BIGINT",
        "fps": "DOUBLE",
        "spatial_stride": "BIGINT",
        "temporal_stride": "BIGINT",
        "bits": "BIGINT",
        "quantizer": "VARCHAR",
        "unique_codes": "BIGINT",
        "checkpoint_hash": "VARCHAR",
    },
    "shards": {
        "shard": "VARCHAR",
        "bucket": "VARCHAR",
        "width": "BIGINT",
        "height": "BIGINT",
        "aspect": "VARCHAR",
        "frames_lo": "BIGINT",
        "frames_hi": "BIGINT",
        "n_samples": "BIGINT",
        "keys": "VARCHAR[]",
        "bytes": "BIGINT",
        "sha256": "VARCHAR",
    },
    "shard_samples": {
        "video_id": "VARCHAR",
        "clip_id": "VARCHAR",
        "shard": "VARCHAR",
        "bucket": "VARCHAR",
        "position": "BIGINT",
        "bytes": "BIGINT",
        "frame_count": "BIGINT",
        "duration_s": "DOUBLE",
        "has_tokens": "BOOLEAN",
        "n_words": "BIGINT",
        "digest": "VARCHAR",
    },
    "shard_exclusions": {
        "video_id": "VARCHAR",
        "clip_id": "VARCHAR",
        "reason": "VARCHAR",
        "detail": "VARCHAR",
    },
}

_SAFE_ROOT = re.compile(r"^[^'\x00]+$")


@dataclass
class CheckResult:
    """Rows a check selected and whether the count is within its threshold."""

    name: str
    count: int
    rows: pd.DataFrame
    passed: bool


def sql_text(rel: str) -> str:
    """The text of ``sql/<rel>``."""
    return (SQL_DIR / rel).read_text()


def _set_search_path(con: duckdb.DuckDBPyConnection, root: DataRoot) -> None:
    """Let the views' relative ``tables/...`` paths resolve under the root.

    A local root becomes DuckDB's ``file_search_path``. A remote root's fsspec filesystem
    is registered with the connection (DuckDB then reads ``s3://...`` through fsspec, with
    the root's credentials, and needs no httpfs extension); ``file_search_path`` does not
    apply to registered filesystems, so :func:`_view_sql` writes the root's URL into the
    view definitions instead.
    """
    where = root.root if root.is_local else root.url
    if not _SAFE_ROOT.match(where):
        raise ConfigError("VIDEO_ASSETS_DATA_ROOT", f"{where!r} contains a quote or NUL character")
    if not root.is_local:
        con.register_filesystem(root.fs)
        return
    # SET takes no bound parameters; the value is the configured root, checked above.
    con.execute(f"SET file_search_path = '{root.root}'")


def _view_sql(path: Path, root: DataRoot) -> str:
    """The view definition in ``path``, its ``'tables/...'`` paths made absolute on a remote root."""
    text = path.read_text()
    return text if root.is_local else text.replace("'tables/", f"'{root.url}/tables/")


def _empty_view_sql(table: str) -> str:
    cols = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in TABLE_COLUMNS[table].items())
    return f"CREATE OR REPLACE VIEW {table} AS SELECT {cols} WHERE false"


def view_files() -> list[Path]:
    """View definitions in dependency order (base tables first, then derived views)."""
    files = sorted((SQL_DIR / "views").glob("*.sql"))
    base = [f for f in files if f.stem in TABLE_COLUMNS or _table_of(f) is not None]
    return base + [f for f in files if f not in base]


def _table_of(path: Path) -> str | None:
    m = re.search(r"tables/(\w+)/", path.read_text())
    return m.group(1) if m else None


def _has_rows(root: DataRoot, table: str) -> bool:
    """Partitioned tables live in ``video_id=`` folders; unpartitioned ones in one ``part.parquet``."""
    return bool(root.table_partitions(table)) or root.exists(
        root.rel("tables", table, "part.parquet")
    )


def create_views(con: duckdb.DuckDBPyConnection, root: DataRoot) -> list[str]:
    """Create every view in ``sql/views``; a table without partitions gets an empty view."""
    _set_search_path(con, root)
    made = []
    for f in view_files():
        table = _table_of(f)
        if table is not None and not _has_rows(root, table):
            if table in TABLE_COLUMNS:
                con.execute(_empty_view_sql(table))
                made.append(table)
            continue
        try:
            con.execute(_view_sql(f, root))
        except duckdb.Error as exc:
            # A derived view over a table that has no typed empty view yet is skipped.
            if "does not exist" in str(exc):
                continue
            raise
        made.append(f.stem)
    return made


@contextlib.contextmanager
def connect(root: DataRoot, *, persistent: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with every view defined.

    Args:
        root: The data root.
        persistent: Write the views into ``catalog.duckdb`` (the catalog asset does);
            otherwise an in-memory connection is used, so checks never contend for the file.
    """
    if persistent:
        # Built whole in a temporary file, then renamed into place (or uploaded: an object
        # store cannot take DuckDB's in-place writes), so a reader never sees half a catalog
        # and every build is in the storage format the `duckdb` command reads.
        with root.atomic_file(CATALOG_FILE) as tmp:
            con = duckdb.connect(
                str(tmp), config={"storage_compatibility_version": CATALOG_STORAGE_VERSION}
            )
            try:
                create_views(con, root)
                yield con
            finally:
                con.close()
        return
    con = duckdb.connect(":memory:")
    try:
        create_views(con, root)
        yield con
    finally:
        con.close()


def run_check(
    con: duckdb.DuckDBPyConnection, name: str, params: dict, max_count: int = 0
) -> CheckResult:
    """Run ``sql/checks/<name>.sql`` with bound ``params``; passes when count <= max_count."""
    sql = sql_text(f"checks/{name}.sql")
    wanted = set(re.findall(r"\$(\w+)", sql))
    df = con.execute(sql, {k: v for k, v in params.items() if k in wanted}).df()
    return CheckResult(name=name, count=len(df), rows=df, passed=len(df) <= max_count)
