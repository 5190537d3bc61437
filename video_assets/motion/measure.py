"""Measuring a clip: one decoding pass feeding a motion source and the thumbnails.

Decoding dominates the cost, so the pass does as little else as it can: the luma plane is
read in place (no colour conversion), thumbnails are area-averaged from a strided view,
H.264's deblocking is skipped (the pixels only become thumbnails), and FFmpeg decodes with
frame threads. Only the P-frames' vectors are used, and those are deterministic under frame
threading (see :mod:`video_assets.motion.vectors`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from video_assets.errors import MediaError
from video_assets.keyframes import first_video_stream, open_input
from video_assets.motion.consistency import Consistency, profile
from video_assets.motion.field import GlobalMotion, VectorField, fit_global_motion
from video_assets.motion.framediff import FrameDifference
from video_assets.motion.result import ClipMotion, static_reason
from video_assets.motion.settings import MotionSettings
from video_assets.motion.source import MotionSource, luma, shrink
from video_assets.motion.vectors import VECTOR_CODECS, CodecVectors

_PROBE_FRAMES = 48
"""A vector pass that has found no vectors after this many frames gives way to frame differences."""


class _NoVectors(Exception):
    pass


@dataclass
class _Pass:
    method: str
    fallback: str
    codec: str
    width: int
    height: int
    fps: float
    analysis: tuple[int, int]
    thumbs: list[np.ndarray] = field(default_factory=list)
    fields: list[VectorField] = field(default_factory=list)
    decode_errors: int = 0


def _scaled(width: int, height: int, target: int) -> tuple[int, int]:
    return target, max(2, round(target * height / max(width, 1)))


def _decode(
    path: Path,
    settings: MotionSettings,
    fallback: str = "",
    source_type: type[MotionSource] | None = None,
) -> _Pass:
    """One decoding pass; frame differences when ``fallback`` says why, when the settings
    ask for them, or when the codec exports no vectors; ``source_type`` when given."""
    with open_input(path) as container:
        stream = first_video_stream(container, path)
        ctx = stream.codec_context
        method = "framediff" if fallback or settings.method == "framediff" else "vectors"
        if source_type is not None:
            method = source_type.method
        elif method == "vectors" and ctx.name not in VECTOR_CODECS:
            method, fallback = "framediff", f"the {ctx.name} decoder exports no motion vectors"
        width = ctx.width or settings.analysis_width
        height = ctx.height or settings.analysis_width
        rate = stream.average_rate or stream.guessed_rate
        run = _Pass(
            method=method,
            fallback=fallback,
            codec=ctx.name,
            width=width,
            height=height,
            fps=float(rate) if rate else 0.0,
            analysis=_scaled(width, height, settings.analysis_width),
        )
        if source_type is None:
            source_type = CodecVectors if method == "vectors" else FrameDifference
        source = source_type(*run.analysis)
        options = source.open(ctx)
        if settings.skip_loop_filter:
            options["skip_loop_filter"] = "all"
        ctx.options = options
        stream.thread_type = "AUTO"
        stream.thread_count = settings.threads
        thumb = _scaled(width, height, settings.thumb_width)
        index = 0
        try:
            for packet in container.demux(stream):
                source.packet(packet)
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    run.decode_errors += 1
                    continue
                for frame in frames:
                    small = shrink(luma(frame), *run.analysis)
                    run.thumbs.append(shrink(small, *thumb))
                    motion = source.field(frame, small, index)
                    if motion is not None:
                        run.fields.append(motion)
                    index += 1
                    if method == "vectors" and index >= _PROBE_FRAMES and not run.fields:
                        raise _NoVectors
                    run.width, run.height = frame.width, frame.height
        except av.FFmpegError:
            run.decode_errors += 1  # a truncated or damaged container: keep what was read
    if not run.thumbs:
        raise MediaError(path, "has no decodable video frame")
    return run


def measure_clip(
    path: str | Path,
    settings: MotionSettings | None = None,
    *,
    source: type[MotionSource] | None = None,
) -> ClipMotion:
    """Measure the motion and temporal consistency of one clip.

    Args:
        path: A video file (a clip; any container and codec FFmpeg decodes).
        settings: How to measure and judge; the defaults of :class:`MotionSettings`.
        source: Another :class:`~video_assets.motion.source.MotionSource` to read motion
            with (``bench/motion.py`` passes dense optical flow on full frames); by default
            the codec's vectors, or frame differences where there are none.

    Returns:
        The figures; ``method`` says whether the codec's vectors or frame differences
        gave them, and ``fallback`` why frame differences were used.

    Raises:
        MediaError: The file cannot be opened or holds no decodable video frame.
    """
    settings = settings or MotionSettings()
    path = Path(path)
    t0 = time.perf_counter()
    if source is not None:
        run = _decode(path, settings, source_type=source)
        result = _summarize(path, run, settings)
        result.elapsed_s = time.perf_counter() - t0
        return result
    try:
        run = _decode(path, settings)
    except _NoVectors:
        run = _decode(path, settings, f"no motion vectors in the first {_PROBE_FRAMES} frames")
    if run.method == "vectors" and not run.fields and len(run.thumbs) > 1:
        run = _decode(path, settings, "no motion vectors in the stream")
    result = _summarize(path, run, settings)
    result.elapsed_s = time.perf_counter() - t0
    return result


def measure_clips(
    paths: Iterable[str | Path],
    settings: MotionSettings | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> list[ClipMotion]:
    """:func:`measure_clip` for each file in turn; ``progress(done, total)`` after each."""
    paths = list(paths)
    out = []
    for i, p in enumerate(paths):
        out.append(measure_clip(p, settings))
        if progress is not None:
            progress(i + 1, len(paths))
    return out


def _summarize(path: Path, run: _Pass, settings: MotionSettings) -> ClipMotion:
    n = len(run.thumbs)
    aw, ah = run.analysis
    consistency = profile(
        run.thumbs,
        cut_similarity=settings.cut_similarity,
        min_drop=settings.min_drop,
        flash_frames=settings.flash_frames,
    )
    # A field reaching across a cut or a flash measures the jump, not motion.
    broken = np.zeros(n, bool)
    for t in consistency.transitions:
        broken[t.frame : t.frame + t.frames + 1] = True
    kept = [f for f in run.fields if not broken[max(0, f.index - f.span + 1) : f.index + 1].any()]
    fits = [fit_global_motion(f, aw, ah) for f in kept]

    # Per frame: the global motion, and the stillest and most moving patch. A frame is
    # near-static when no patch moves: a small subject crossing a still background moves.
    motion = np.full(n, np.nan)
    lows = np.full(n, np.nan)
    highs = np.full(n, np.nan)
    for f, g in zip(kept, fits, strict=True):
        covered = slice(max(0, f.index - f.span + 1), f.index + 1)
        patches = _patch_means(f, aw, ah, settings.patches)
        motion[covered] = g.magnitude
        lows[covered] = patches.min()
        highs[covered] = patches.max()
    measured = ~np.isnan(motion)
    still = measured & (highs < settings.static_frame_px)
    freeze_start, freeze_frames = _longest_run(still)
    camera = _camera(fits, [f.span for f in kept], settings)
    result = ClipMotion(
        path=str(path),
        method=run.method,
        fallback=run.fallback,
        codec=run.codec,
        width=run.width,
        height=run.height,
        fps=round(run.fps, 6),
        frames=n,
        duration_s=n / run.fps if run.fps else 0.0,
        analysis_width=aw,
        analysis_height=ah,
        motion_frames=int(measured.sum()),
        mean_motion_px=float(np.nanmean(motion)) if measured.any() else None,
        patch_min_px=float(np.nanmean(lows)) if measured.any() else None,
        patch_max_px=float(np.nanmean(highs)) if measured.any() else None,
        static_share=float(still.sum() / measured.sum()) if measured.any() else None,
        freeze_start=freeze_start,
        freeze_frames=freeze_frames,
        camera=camera.name,
        camera_speed_px=camera.speed,
        camera_dx_px=camera.dx,
        camera_dy_px=camera.dy,
        camera_zoom=camera.zoom,
        camera_inliers=camera.inliers,
        mean_similarity=consistency.mean_similarity,
        worst_frame=consistency.worst_frame,
        worst_similarity=consistency.worst_similarity,
        worst_kind=_worst_kind(consistency),
        cuts=consistency.cuts,
        flashes=sum(t.kind == "flash" for t in consistency.transitions),
        decode_errors=run.decode_errors,
        motion=motion,
        similarity=consistency.similarity,
    )
    reason = static_reason(result, settings)
    result.static_reason = reason.reason if reason else ""
    return result


def _worst_kind(c: Consistency) -> str:
    worst = c.worst
    return worst.kind if worst else ""


def _longest_run(mask: np.ndarray) -> tuple[int | None, int]:
    best_start, best, start = None, 0, None
    for i, on in enumerate([*mask.tolist(), False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            if i - start > best:
                best_start, best = start, i - start
            start = None
    return best_start, best


def _patch_means(f: VectorField, width: int, height: int, grid: int) -> np.ndarray:
    """Mean vector length of each patch of a ``grid`` x ``grid`` grid that has vectors."""
    px = np.clip((f.x * grid / width).astype(int), 0, grid - 1)
    py = np.clip((f.y * grid / height).astype(int), 0, grid - 1)
    cell = py * grid + px
    weight = np.bincount(cell, weights=f.w, minlength=grid * grid)
    moved = np.bincount(cell, weights=f.magnitude * f.w, minlength=grid * grid)
    have = weight > 0
    return moved[have] / weight[have]


@dataclass
class _Camera:
    name: str = ""
    speed: float | None = None
    dx: float | None = None
    dy: float | None = None
    zoom: float | None = None
    inliers: float | None = None


def _wmedian(values: list[float], weights: list[int]) -> float:
    v = np.asarray(values, float)
    w = np.asarray(weights, float)
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(w[order])
    return float(v[order][np.searchsorted(cum, cum[-1] / 2.0)])


def _camera(fits: list[GlobalMotion], spans: list[int], settings: MotionSettings) -> _Camera:
    """One class for the clip from its frames' classes (each weighted by the frames it spans).

    Mostly near-static frames make a static camera. Otherwise pan and tilt frames together
    are one translation (its direction picks pan or tilt); the class holding most of the
    moving frames wins, complex when none holds half, or when translations disagree in
    direction (a shake).
    """
    if not fits:
        return _Camera()
    classes = [
        g.classify(settings.static_frame_px, settings.camera_min_px, settings.min_inliers)
        for g in fits
    ]
    groups = ["translation" if c in ("pan", "tilt") else c for c in classes]
    total = sum(spans)

    def pick(members: list[int], name: str, speed: float) -> _Camera:
        sel = [fits[i] for i in members]
        w = [spans[i] for i in members]
        return _Camera(
            name=name,
            speed=speed,
            dx=_wmedian([g.tx for g in sel], w),
            dy=_wmedian([g.ty for g in sel], w),
            zoom=_wmedian([g.zoom for g in sel], w),
            inliers=_wmedian([g.inliers for g in sel], w),
        )

    everyone = list(range(len(fits)))
    static_weight = sum(s for s, g in zip(spans, groups, strict=True) if g == "static")
    if static_weight * 2 >= total:
        return pick(everyone, "static", 0.0)
    moving = [i for i, g in enumerate(groups) if g != "static"]
    weight: dict[str, int] = {}
    for i in moving:
        weight[groups[i]] = weight.get(groups[i], 0) + spans[i]
    best = max(weight, key=lambda k: (weight[k], k))
    members = [i for i in moving if groups[i] == best]
    moving_weight = sum(spans[i] for i in moving)
    complex_speed = _wmedian([fits[i].magnitude for i in moving], [spans[i] for i in moving])
    if best == "complex" or weight[best] * 2 < moving_weight:
        return pick(moving, "complex", complex_speed)
    cam = pick(members, "zoom" if best == "zoom" else "pan", 0.0)
    assert cam.dx is not None and cam.dy is not None and cam.zoom is not None
    if best == "zoom":
        cam.speed = abs(cam.zoom) * fits[0].half_width
        return cam
    cam.speed = float(np.hypot(cam.dx, cam.dy))
    typical = _wmedian([fits[i].translation_px for i in members], [spans[i] for i in members])
    if cam.speed < 0.5 * typical:
        return pick(moving, "complex", complex_speed)
    cam.name = "pan" if abs(cam.dx) >= abs(cam.dy) else "tilt"
    return cam
