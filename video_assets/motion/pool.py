"""Measuring several clips at once, with the results, progress and errors of one at a time.

Threads, not processes: PyAV decodes with the GIL released (and FFmpeg's own frame threads
run outside Python), OpenCV's resize and optical flow release it too, and what is left
under the GIL (the vector fields' NumPy work, about a quarter of a clip's time) leaves room
for two clips on two cores. A pool of two processes measured within the noise of two
threads on ``bench/motion.py``'s clips on a loaded machine (ahead in two runs, behind in a
third), and would need interpreters spawned per call (forking a threaded Dagster step is
unsafe), a picklable function per clip and errors that survive pickling.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_in_order(
    fn: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    progress: Callable[[int, int], object] | None = None,
) -> list[R]:
    """``[fn(item) for item in items]`` with up to ``workers`` calls running at once.

    What the caller sees is what a loop over ``items`` gives: the results in input order,
    ``progress(done, total)`` called from the calling thread after each item in turn (an
    item finished early is reported when those before it are), and the exception of the
    first item in input order that raises, once the items before it have been reported.
    Items not yet started are then cancelled and the ones running are waited for, so no
    call outlives this one (the items' temporary files are theirs to remove).
    """
    total = len(items)
    out: list[R] = []
    if workers <= 1 or total <= 1:
        for item in items:
            out.append(fn(item))
            if progress is not None:
                progress(len(out), total)
        return out
    with ThreadPoolExecutor(max_workers=min(workers, total), thread_name_prefix="motion") as pool:
        futures: list[Future[R]] = [pool.submit(fn, item) for item in items]
        try:
            for future in futures:
                out.append(future.result())
                if progress is not None:
                    progress(len(out), total)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return out
