"""What the main job prints: one line per asset as it completes, instead of Dagster's events.

:func:`materialize` is ``dg.materialize`` with the console logger replaced by
:func:`asset_lines`: a materialized asset gives one line on standard output (its step time and
its key figures from the metadata), a failed step one line on standard error, and on a
terminal a long step's progress messages redraw one line in place. Every event still goes to
the instance's event log, where the UI shows the whole run (``dagster dev`` > Runs); what
the steps' libraries print goes to ``$DAGSTER_HOME/main_job.log`` (and to the step's logs
in the UI), not to the console.

Importing this module also keeps Dagster's notices about its own preview and beta APIs
(the partitioned asset checks use one) off the console: they concern the definitions, not
the run, and ``dagster dev`` still prints them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import dagster as dg
from dagster._core.log_manager import get_log_record_metadata, has_log_record_metadata

from video_assets.progress import format_duration

for _category in (dg.PreviewWarning, dg.BetaWarning, dg.SupersessionWarning):
    warnings.filterwarnings("ignore", category=_category)

# The metadata entries that sum up each asset, in the order printed; any asset not named
# here shows its first two numeric entries.
KEY_FIGURES: dict[str, tuple[str, ...]] = {
    "source_video": ("duration_s", "resolution", "fps"),
    "iframe_index": ("keyframes",),
    "scene_table": ("scenes", "short_scenes"),
    "clips": ("clips", "reencoded"),
    "clip_motion": ("clips", "camera"),
    "vocal_stems": ("backend", "model"),
    "aligned_transcripts": ("words", "segments", "language"),
    "tokenizer_model": ("source", "training_clips"),
    "token_tensors": ("tokens", "clips"),
    "training_shards": ("samples", "shards", "shards_written"),
    "catalog": ("videos", "clips"),
}
NAME_WIDTH = 20
LOG_FILE = "main_job.log"
"""In ``DAGSTER_HOME``: what the steps' libraries print (also in each step's logs in the UI)."""

# The terminal's streams while a run's own output goes to LOG_FILE (see _console_to_log).
_CONSOLE: dict[str, TextIO] = {}


def figures(asset: str, metadata: dict[str, Any]) -> str:
    """``12 scenes, 1 short_scenes``: the asset's key figures, from its materialization."""
    values = {k: getattr(v, "value", v) for k, v in metadata.items()}
    keys = [k for k in KEY_FIGURES.get(asset, ()) if k in values]
    if not keys:
        numeric = [
            k for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        keys = numeric[:2]
    return ", ".join(_figure(k, values[k]) for k in keys)


def _figure(key: str, value: object) -> str:
    if key.endswith("_s") and isinstance(value, int | float):
        return f"{key[:-2]} {format_duration(float(value))}"
    if isinstance(value, float):
        value = f"{value:g}"
    return f"{value} {key}" if isinstance(value, int) else f"{key} {value}"


class AssetLines(logging.Handler):
    """Turns a run's events into the main job's lines (see the module docstring)."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        super().__init__(level=logging.DEBUG)
        self._out = out
        self._err = err
        self._started: dict[str, float] = {}
        self._materialized: dict[str, list[tuple[str, dict]]] = {}
        self._progress_open = False

    @property
    def out(self) -> TextIO:
        return self._out or _CONSOLE.get("out") or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or _CONSOLE.get("err") or sys.stderr

    def emit(self, record: logging.LogRecord) -> None:
        if not has_log_record_metadata(record):
            return
        meta = get_log_record_metadata(record)
        step = meta["step_key"] or ""
        event = meta["dagster_event"]
        if event is None:
            if step and record.levelno == logging.INFO:
                self._progress(step, meta["orig_message"])
            return
        kind = event.event_type
        if kind == dg.DagsterEventType.STEP_START:
            self._started[step] = time.monotonic()
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.event_specific_data.materialization  # type: ignore[union-attr]
            name = mat.asset_key.to_user_string()
            self._materialized.setdefault(step, []).append((name, dict(mat.metadata)))
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            elapsed = format_duration(time.monotonic() - self._started.pop(step, time.monotonic()))
            for name, metadata in self._materialized.pop(step, []):
                self._write(
                    self.out, f"{name:<{NAME_WIDTH}} {elapsed:>10}  {figures(name, metadata)}"
                )
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            error = event.event_specific_data.error  # type: ignore[union-attr]
            while error is not None and error.cause is not None:  # the step's own exception
                error = error.cause
            reason = error.message.strip().splitlines()[0] if error else "failed"
            self._write(self.err, f"{step:<{NAME_WIDTH}} {'FAILED':>10}  {reason}")

    def _progress(self, step: str, message: str) -> None:
        """A step's progress message, redrawn in place on a terminal; dropped elsewhere."""
        if not getattr(self.err, "isatty", lambda: False)():
            return
        self.err.write(f"\r{step:<{NAME_WIDTH}} {'...':>10}  {message}\x1b[K")
        self.err.flush()
        self._progress_open = True

    def _write(self, stream: TextIO, line: str) -> None:
        if self._progress_open:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self._progress_open = False
        stream.write(line + "\n")
        stream.flush()


@dg.logger(None, "One line per materialized asset; the full event log stays in the instance.")
def asset_lines(_init_context: dg.InitLoggerContext) -> logging.Logger:
    log = logging.Logger("video_assets.main", level=logging.DEBUG)
    log.addHandler(AssetLines())
    return log


def materialize(
    assets: Sequence[Any],
    *,
    partition_key: str | None,
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
) -> dg.ExecuteInProcessResult:
    """``dg.materialize(..., raise_on_error=False)`` printing through :func:`asset_lines`.

    The run has the same job name as ``dg.materialize`` gives, so the UI lists it the same way.
    """
    job = dg.define_asset_job("__ephemeral_asset_job__")
    defs = dg.Definitions(jobs=[job], assets=assets, resources=resources)
    with _console_to_log(Path(instance.root_directory) / LOG_FILE):
        return (
            defs.resolve_job_def(job.name)
            .with_logger_defs({"console": asset_lines})
            .execute_in_process(
                run_config={"loggers": {"console": {}}},  # without it Dagster uses its own
                instance=instance,
                partition_key=partition_key,
                raise_on_error=False,
            )
        )


@contextlib.contextmanager
def _console_to_log(log: Path) -> Iterator[None]:
    """Send what the steps' libraries print (whisperx, Lightning, ffmpeg) to ``log``.

    The process's standard output and error (file descriptors 1 and 2, so child processes
    and C libraries too) are appended to ``log`` meanwhile; :class:`AssetLines` writes to
    the terminal's streams, kept in ``_CONSOLE``. Dagster still captures each step's output
    into the instance's compute logs.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    out = open(saved[0], "w", closefd=False)  # noqa: SIM115 - closed below
    err = open(saved[1], "w", closefd=False)  # noqa: SIM115 - closed below
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
    _CONSOLE.update(out=out, err=err)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        _CONSOLE.clear()
        out.close()
        err.close()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
