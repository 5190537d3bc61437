"""Progress of long steps as human lines: done of total, rate, and time left.

A :class:`Progress` turns counts into lines such as
``scenes: 4500/15000 frames (30%), 812 frames/s, 12.9 s left`` and hands them to a sink:
``context.log.info`` in a Dagster asset, :func:`terminal_sink` in the CLI (a bar redrawn in
place on a terminal, plain lines otherwise). It is throttled by time, so a caller may report
every item, and the final line is always emitted, once.

A :class:`Progress` is itself the ``progress(done, total)`` callback the library's long
functions take (:func:`video_assets.scenes.detect_scenes`), so one object serves both::

    with Progress(unit="frames", label="scenes", sink=context.log.info) as progress:
        detect_scenes(path, progress=progress)
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

Sink = Callable[[str], object]
"""Receives each line; lines are :class:`ProgressLine` (a ``str`` carrying the numbers)."""


class ProgressLine(str):
    """A progress message that also carries its numbers, for sinks that draw a bar.

    It is a plain ``str`` to any sink that only logs it.

    Attributes:
        label: What is being counted for (``scenes``), or empty.
        done: Items done.
        total: Items in all, or None when unknown.
        final: Whether this is the last line of the step.
    """

    label: str
    done: int
    total: int | None
    final: bool

    def __new__(
        cls, text: str, *, label: str, done: int, total: int | None, final: bool
    ) -> ProgressLine:
        line = super().__new__(cls, text)
        line.label = label
        line.done = done
        line.total = total
        line.final = final
        return line

    @property
    def fraction(self) -> float | None:
        """Share done, 0 to 1, or None when the total is unknown."""
        if self.total is None:
            return None
        return 1.0 if self.total <= 0 else min(1.0, max(0.0, self.done / self.total))


def format_duration(seconds: float) -> str:
    """``12.9 s``, ``4 min 05 s``, ``2 h 03 min``; ``?`` for an unknown (nan or infinite) span."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def format_rate(rate: float, unit: str) -> str:
    """``812 frames/s``, ``3.4 steps/s``, ``0.25 clips/s``; ``? unit/s`` before any is known."""
    if not math.isfinite(rate) or rate <= 0:
        return f"? {unit}/s"
    if rate >= 100:
        return f"{rate:.0f} {unit}/s"
    if rate >= 1:
        return f"{rate:.1f} {unit}/s"
    return f"{rate:.2g} {unit}/s"


class Progress:
    """Counts toward a total and emits throttled human lines with rate and time left.

    The rate is the mean since the object was made (or since :meth:`restart`), which is
    steady on the long uniform loops it is meant for; time left is what remains at that rate.

    Args:
        total: Items in all; None when unknown (then no percentage or time left is shown).
            A ``progress(done, total)`` call may set or change it.
        unit: What is counted, plural (``frames``, ``steps``, ``clips``).
        label: Prefix of every line (``scenes``); empty for none.
        sink: Receives each line; None discards them (the numbers stay readable).
        min_interval_s: At most one line per this many seconds, 0 to 3600; the final line
            is always emitted. 0 emits every update.
        clock: Monotonic clock in seconds (a fake one in tests).

    Raises:
        ValueError: ``total`` is negative, ``unit`` is empty, or ``min_interval_s`` is out
            of range.
    """

    def __init__(
        self,
        total: int | None = None,
        unit: str = "items",
        label: str = "",
        *,
        sink: Sink | None = None,
        min_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if total is not None and total < 0:
            raise ValueError(f"total must be >= 0 or None, got {total}")
        if not unit:
            raise ValueError("unit must be a non-empty word such as 'frames'")
        if not 0.0 <= min_interval_s <= 3600.0:
            raise ValueError(f"min_interval_s must be in [0, 3600], got {min_interval_s}")
        self.total = total
        self.unit = unit
        self.label = label
        self.sink = sink
        self.min_interval_s = float(min_interval_s)
        self.clock = clock
        self.done = 0
        self.lines_emitted = 0
        self.finished = False
        self._t0 = clock()
        self._last_emit = self._t0

    # -- numbers ----------------------------------------------------------------------------
    @property
    def elapsed_s(self) -> float:
        """Seconds since the start."""
        return max(0.0, self.clock() - self._t0)

    @property
    def rate(self) -> float:
        """Items per second since the start; nan before any time has passed."""
        elapsed = self.elapsed_s
        return self.done / elapsed if elapsed > 0 else math.nan

    @property
    def eta_s(self) -> float:
        """Seconds left at the current rate; nan when unknown, 0 when done."""
        if self.total is None:
            return math.nan
        left = max(0, self.total - self.done)
        if left == 0:
            return 0.0
        rate = self.rate
        return left / rate if rate > 0 else math.nan

    def line(self, *, final: bool = False, note: str = "", stopped: str = "") -> ProgressLine:
        """The human line for the current state (without emitting it).

        Args:
            final: The step is complete: ``done in <elapsed>`` instead of the time left.
            note: Extra text appended to the line.
            stopped: The step ended early for this reason: ``<reason> after <elapsed>``.
        """
        prefix = f"{self.label}: " if self.label else ""
        if self.total is not None:
            pct = 100 if self.total == 0 else min(100, int(100 * self.done / self.total))
            count = f"{self.done}/{self.total} {self.unit} ({pct}%)"
        else:
            count = f"{self.done} {self.unit}"
        parts = [f"{prefix}{count}", format_rate(self.rate, self.unit)]
        if final:
            parts.append(f"done in {format_duration(self.elapsed_s)}")
        elif stopped:
            parts.append(f"{stopped} after {format_duration(self.elapsed_s)}")
        elif self.total is not None:
            parts.append(f"{format_duration(self.eta_s)} left")
        if note:
            parts.append(note)
        return ProgressLine(
            ", ".join(parts),
            label=self.label,
            done=self.done,
            total=self.total,
            final=final or bool(stopped),
        )

    # -- updates ----------------------------------------------------------------------------
    def update(self, done: int, total: int | None = None, *, note: str = "") -> bool:
        """Record ``done`` items (absolute count); emit a line when due.

        Args:
            done: Items done so far.
            total: A new total, when the caller knows it only now.
            note: Extra text appended to the line (``loss 0.0123``).

        Returns:
            Whether a line was emitted.
        """
        if total is not None:
            if total < 0:
                raise ValueError(f"total must be >= 0, got {total}")
            self.total = total
        self.done = int(done)
        if self.total is not None and self.done >= self.total:
            return self.finish(note=note)
        now = self.clock()
        if self.finished or now - self._last_emit < self.min_interval_s:
            return False
        self._last_emit = now
        self._emit(self.line(note=note))
        return True

    def advance(self, n: int = 1, *, note: str = "") -> bool:
        """Record ``n`` more items done; emit a line when due."""
        return self.update(self.done + n, note=note)

    def __call__(self, done: int, total: int | None = None) -> None:
        """The library's ``progress(done, total)`` callback."""
        self.update(done, total)

    def finish(self, *, note: str = "") -> bool:
        """Emit the final line unless it was emitted already; returns whether it was."""
        if self.finished:
            return False
        self.finished = True
        self._last_emit = self.clock()
        self._emit(self.line(final=True, note=note))
        return True

    def restart(self, total: int | None = None) -> None:
        """Start counting again from 0 (a second pass), keeping unit, label and sink."""
        if total is not None and total < 0:
            raise ValueError(f"total must be >= 0 or None, got {total}")
        self.total = total if total is not None else self.total
        self.done = 0
        self.finished = False
        self._t0 = self._last_emit = self.clock()

    def _emit(self, line: ProgressLine) -> None:
        self.lines_emitted += 1
        if self.sink is not None:
            self.sink(line)

    def __enter__(self) -> Progress:
        return self

    def stop(self, reason: str = "stopped") -> bool:
        """End the step early with a last line saying so, when earlier lines were shown.

        A bar left half drawn on a terminal is closed this way before an error message.
        Returns whether a line was emitted.
        """
        if self.finished:
            return False
        self.finished = True
        if not self.lines_emitted:
            return False
        self._emit(self.line(stopped=reason))
        return True

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.stop()


def terminal_sink(
    stream: TextIO | None = None, *, width: int = 25, tty: bool | None = None
) -> Sink:
    """A sink for a terminal: a bar redrawn in place on a TTY, one plain line each otherwise.

    Args:
        stream: Where to write; standard error when None (looked up at each line, so
            pytest's capture and redirections apply).
        width: Bar width in characters, 5 to 200.
        tty: Force bar (True) or plain lines (False); None asks the stream.

    Raises:
        ValueError: ``width`` is out of range.
    """
    if not 5 <= width <= 200:
        raise ValueError(f"width must be in [5, 200], got {width}")
    open_bar = [False]

    def sink(line: str) -> None:
        out = stream if stream is not None else sys.stderr
        is_tty = tty if tty is not None else bool(getattr(out, "isatty", lambda: False)())
        fraction = getattr(line, "fraction", None)
        final = bool(getattr(line, "final", True))
        if not is_tty or fraction is None:
            if open_bar[0]:
                out.write("\n")
                open_bar[0] = False
            out.write(f"{line}\n")
        else:
            filled = int(round(fraction * width))
            # "\r" returns to the line start and "\x1b[K" clears what a longer line left.
            out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {line}\x1b[K")
            open_bar[0] = not final
            if final:
                out.write("\n")
        out.flush()

    return sink


def terminal_progress(
    label: str,
    unit: str = "frames",
    *,
    total: int | None = None,
    enabled: bool = True,
    stream: TextIO | None = None,
    tty: bool | None = None,
) -> Progress:
    """A :class:`Progress` for the CLI: bar redrawn every 0.1 s on a TTY, a line every 5 s otherwise.

    Args:
        label: Prefix of every line.
        unit: What is counted, plural.
        total: Items in all, if known before the first callback.
        enabled: False (``--quiet``) gives a Progress that shows nothing.
        stream: Where to write; standard error when None.
        tty: Force bar (True) or plain lines (False); None asks the stream.
    """
    out = stream if stream is not None else sys.stderr
    is_tty = tty if tty is not None else bool(getattr(out, "isatty", lambda: False)())
    return Progress(
        total,
        unit,
        label,
        sink=terminal_sink(stream, tty=is_tty) if enabled else None,
        min_interval_s=0.1 if is_tty else 5.0,
    )
