"""A pyannote model slid over a long track a block at a time.

``pyannote.audio.Inference`` takes the whole waveform as one tensor, so the VAD and the
diarizer's segmentation would hold the whole 16 kHz track (230 MB an hour) and the model's
raw outputs of every window at once. :func:`chunk_scores` and :func:`frame_scores` give the
same numbers as ``Inference.slide`` (the same windows, batches and padded last window) but
read the audio a block of windows at a time from any :class:`~video_assets.audio.extract.Samples`
(an array, or a file read by slices), and keep each window's output only after the
inference's pre-aggregation hook (the VAD keeps one score per frame, not three).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from video_assets.audio.extract import release_heap

if TYPE_CHECKING:
    from video_assets.audio.extract import Samples

SAMPLE_RATE = 16000
BLOCK_S = 600.0
"""Audio read at once (seconds of window starts; rounded to whole batches of windows)."""


def chunk_scores(
    inference: Any, audio: Samples, *, block_s: float = BLOCK_S, hook: bool = True
) -> Any:
    """The raw per-window outputs ``Inference.slide`` computes before aggregating them, as a
    ``SlidingWindowFeature`` ``(windows, frames, classes)``, reading ``audio`` (16 kHz mono)
    a block at a time.

    Args:
        inference: A ``pyannote.audio.Inference`` with a sliding window.
        audio: 16 kHz mono samples read by slices.
        block_s: Seconds of window starts per block (at least one batch of windows).
        hook: Apply the inference's pre-aggregation hook to each batch (False: the model's
            own outputs, every class).
    """
    import torch
    from pyannote.audio.utils.reproducibility import fix_reproducibility
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    if block_s <= 0:
        raise ValueError(f"block_s must be positive, got {block_s}")
    fix_reproducibility(inference.device)  # as Inference.__call__
    window = int(inference.model.audio.get_num_samples(inference.duration))
    step = round(inference.step * SAMPLE_RATE)
    n = len(audio)
    full, has_last = window_count(n, window, step)
    batch = int(inference.batch_size)
    # whole batches per block, so the batches are those of one slide over the whole track
    per_block = max(1, int(block_s * SAMPLE_RATE) // step // batch) * batch
    keep = (hook and inference.pre_aggregation_hook) or (lambda scores: scores)
    total = full + int(has_last)
    out: np.ndarray | None = None  # made once the first batch gives the output's shape

    def put(at: int, scores: np.ndarray) -> None:
        nonlocal out
        if out is None:
            out = np.empty((total, *scores.shape[1:]), np.float32)
        out[at : at + len(scores)] = scores  # copied: the batch's own buffers are freed

    for c0 in range(0, full, per_block):
        c1 = min(full, c0 + per_block)
        piece = np.ascontiguousarray(audio[c0 * step : (c1 - 1) * step + window], np.float32)
        chunks = torch.from_numpy(piece)[None].unfold(1, window, step).permute(1, 0, 2)
        for b in range(0, c1 - c0, batch):
            put(c0 + b, keep(inference.infer(chunks[b : b + batch])))
        del piece, chunks
        release_heap()
    if has_last:
        tail = np.zeros(window, np.float32)
        got = audio[full * step : n]
        tail[: len(got)] = got
        put(full, keep(inference.infer(torch.from_numpy(tail)[None, None])))
    frames = SlidingWindow(start=0.0, duration=inference.duration, step=inference.step)
    assert out is not None  # total >= 1: a track shorter than a window has its padded one
    return SlidingWindowFeature(out, frames)


def window_count(samples: int, window: int, step: int) -> tuple[int, bool]:
    """How ``Inference.slide`` cuts ``samples``: the whole windows of ``window`` samples every
    ``step``, and whether a last, zero-padded window follows them."""
    full = (samples - window) // step + 1 if samples >= window else 0
    return full, samples < window or (samples - window) % step > 0


def frame_scores(inference: Any, audio: Samples, *, block_s: float = BLOCK_S) -> Any:
    """What ``Inference`` returns for a frame-level model with aggregation: the windows'
    outputs overlap-added into one ``SlidingWindowFeature`` ``(frames, classes)`` over the
    track, computed with :func:`chunk_scores` (so a block of audio at a time)."""
    return aggregate(inference, chunk_scores(inference, audio, block_s=block_s), len(audio))


def aggregate(inference: Any, windows: Any, samples: int) -> Any:
    """``Inference``'s aggregation of window outputs (from :func:`chunk_scores`, its
    pre-aggregation hook applied) over a track of ``samples`` samples at 16 kHz."""
    from pyannote.audio import Inference
    from pyannote.core import Segment

    aggregated = Inference.aggregate(
        windows,
        inference.model.receptive_field,
        warm_up=inference.warm_up,
        hamming=True,
        missing=0.0,
    )
    window = int(inference.model.audio.get_num_samples(inference.duration))
    if window_count(samples, window, round(inference.step * SAMPLE_RATE))[1]:  # padded: cut
        aggregated.data = aggregated.crop(Segment(0.0, samples / SAMPLE_RATE), mode="loose")
    return aggregated
