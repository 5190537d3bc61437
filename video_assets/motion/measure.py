"""Measuring a clip: one decoding pass feeding a motion source and the thumbnails.

Decoding dominates the cost, so the pass does as little else as it can: the luma plane is
read in place (no colour conversion), each frame is scaled down once to the size its motion
source needs (the vectors need only half the analysis resolution) by area-averaging a
strided view, the thumbnails are area-averaged from that, and H.264's deblocking is skipped
(the pixels only become thumbnails). The vectors are read without frame threads, whose
exported vectors change from run to run (see :mod:`video_assets.motion.vectors`): the
cores are kept busy by measuring two clips at once instead (``MotionSettings.workers``).

H.264's non-reference frames (half the frames of x264's B-pyramid) are not decoded at all
(``skip_frame=noref``, a quarter less decoding): P-frames never reference them, so the
vectors are the same, and the consistency profile bridges each gap (see
:func:`~video_assets.motion.consistency.profile`). Where it cannot (a transition that looks
like a cut or a flash, a non-reference frame far larger or smaller than its neighbours, a
timestamp out of order, a decoding error), the clip is decoded again with every frame, so
a cut or flash is placed on its own frame as before.
"""

from __future__ import annotations

import heapq
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
from video_assets.motion.pool import map_in_order
from video_assets.motion.result import ClipMotion, static_reason
from video_assets.motion.settings import MotionSettings
from video_assets.motion.source import MotionSource, luma, shrink
from video_assets.motion.vectors import VECTOR_CODECS, CodecVectors

_PROBE_FRAMES = 48
"""A vector pass that has found no vectors after this many frames gives way to frame differences."""


class _NoVectors(Exception):
    pass


class _NeedsEveryFrame(Exception):
    """A pass that skipped non-reference frames cannot place what it saw."""


@dataclass
class _Pass:
    method: str
    fallback: str
    codec: str
    width: int
    height: int
    fps: float
    analysis: tuple[int, int]
    thumbs: list[np.ndarray | None] = field(default_factory=list)
    """One per frame in display order; None for a frame left undecoded."""
    fields: list[VectorField] = field(default_factory=list)
    fits: list[GlobalMotion] = field(default_factory=list)
    """The camera model of each field, fitted as it arrives (while the decoder's threads
    decode the next frames) rather than after the last frame."""
    patches: list[np.ndarray] = field(default_factory=list)
    """Each field's per-patch mean motion, likewise."""
    decode_errors: int = 0


def _scaled(width: int, height: int, target: int) -> tuple[int, int]:
    return target, max(2, round(target * height / max(width, 1)))


def _decode(
    path: Path,
    settings: MotionSettings,
    fallback: str = "",
    source_type: type[MotionSource] | None = None,
    skip_nonref: bool = False,
) -> _Pass:
    """One decoding pass; frame differences when ``fallback`` says why, when the settings
    ask for them, or when the codec exports no vectors; ``source_type`` when given.

    With ``skip_nonref``, H.264's non-reference frames are not decoded. Frames then come
    out with gaps, so each one's display position is counted from the packets' timestamps:
    a frame's position is the number of packets shown before it (every packet before it
    in display order has been read by the time the decoder hands it out, which the pass
    checks). Raises _NeedsEveryFrame where that or the skipped frames cannot be trusted."""
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
        skip = skip_nonref and method == "vectors" and ctx.name == "h264"
        if skip:
            options["skip_frame"] = "noref"
        ctx.options = options
        # Frame threads export an output picture's vectors while another thread may still
        # be decoding it (see :mod:`~video_assets.motion.vectors`): vectors come from one
        # decoder thread per frame; clips measured at once use the other cores.
        stream.thread_type = "SLICE" if method == "vectors" else "AUTO"
        stream.thread_count = settings.threads
        thumb = _scaled(width, height, settings.thumb_width)
        picture = source.picture_size
        index = 0
        unshown: list[int] = []  # timestamps read but not yet shown, a heap
        shown = -1 << 62
        try:
            for packet in container.demux(stream):
                source.packet(packet)
                if skip and packet.size:
                    if packet.pts is None or packet.pts <= shown:
                        raise _NeedsEveryFrame
                    heapq.heappush(unshown, packet.pts)
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    run.decode_errors += 1
                    continue
                for frame in frames:
                    if skip:
                        while unshown and frame.pts is not None and unshown[0] < frame.pts:
                            heapq.heappop(unshown)  # a frame that was not decoded
                            run.thumbs.append(None)
                            index += 1
                        if not unshown or unshown[0] != frame.pts:
                            raise _NeedsEveryFrame
                        shown = heapq.heappop(unshown)
                    gray = luma(frame)
                    small = shrink(gray, *picture)
                    run.thumbs.append(shrink(small if picture[0] >= thumb[0] else gray, *thumb))
                    motion = source.field(frame, small, index)
                    if motion is not None:
                        run.fields.append(motion)
                        run.fits.append(fit_global_motion(motion, *run.analysis))
                        run.patches.append(_patch_means(motion, *run.analysis, settings.patches))
                    index += 1
                    if method == "vectors" and index >= _PROBE_FRAMES and not run.fields:
                        raise _NoVectors
                    run.width, run.height = frame.width, frame.height
        except av.FFmpegError:
            run.decode_errors += 1  # a truncated or damaged container: keep what was read
        if skip:
            assert isinstance(source, CodecVectors)
            if run.decode_errors or source.nonref_outlier():
                raise _NeedsEveryFrame
            run.thumbs.extend([None] * len(unshown))
    if all(t is None for t in run.thumbs):
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
    else:
        run = _decode_clip(path, settings, settings.skip_nonref)
    consistency = _consistency(run, settings)
    if consistency is None:
        # Frames were skipped where a transition has to be placed: decode every frame.
        run = _decode_clip(path, settings, skip_nonref=False)
        consistency = _consistency(run, settings)
    assert consistency is not None  # every frame decoded
    result = _summarize(path, run, consistency, settings)
    result.elapsed_s = time.perf_counter() - t0
    return result


def _decode_clip(path: Path, settings: MotionSettings, skip_nonref: bool) -> _Pass:
    """The pass :func:`measure_clip` reads: vectors where there are any, else frame
    differences; every frame decoded where skipping non-reference ones cannot be trusted."""
    try:
        run = _decode(path, settings, skip_nonref=skip_nonref)
    except _NoVectors:
        run = _decode(path, settings, f"no motion vectors in the first {_PROBE_FRAMES} frames")
    except _NeedsEveryFrame:
        return _decode_clip(path, settings, skip_nonref=False)
    if run.method == "vectors" and not run.fields and len(run.thumbs) > 1:
        run = _decode(path, settings, "no motion vectors in the stream")
    return run


def _consistency(run: _Pass, settings: MotionSettings) -> Consistency | None:
    return profile(
        run.thumbs,
        cut_similarity=settings.cut_similarity,
        min_drop=settings.min_drop,
        flash_frames=settings.flash_frames,
    )


def measure_clips(
    paths: Iterable[str | Path],
    settings: MotionSettings | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> list[ClipMotion]:
    """:func:`measure_clip` for each file, ``settings.workers`` clips at once.

    The results come in input order and are those of measuring the files one after
    another, figure for figure; ``progress(done, total)`` is called after each file in
    turn, and the first file in input order that fails raises its error (a
    :class:`MediaError` naming it) once the files before it are measured (see
    :func:`~video_assets.motion.pool.map_in_order`).
    """
    settings = settings or MotionSettings()
    paths = list(paths)
    return map_in_order(
        lambda p: measure_clip(p, settings),
        paths,
        settings.worker_count(len(paths)),
        progress,
    )


def _summarize(
    path: Path, run: _Pass, consistency: Consistency, settings: MotionSettings
) -> ClipMotion:
    n = len(run.thumbs)
    aw, ah = run.analysis
    # A field reaching across a cut or a flash measures the jump, not motion.
    broken = np.zeros(n, bool)
    for t in consistency.transitions:
        broken[t.frame : t.frame + t.frames + 1] = True
    kept = [
        i
        for i, f in enumerate(run.fields)
        if not broken[max(0, f.index - f.span + 1) : f.index + 1].any()
    ]
    fits = [run.fits[i] for i in kept]

    # Per frame: the global motion, and the stillest and most moving patch. A frame is
    # near-static when no patch moves: a small subject crossing a still background moves.
    motion = np.full(n, np.nan)
    lows = np.full(n, np.nan)
    highs = np.full(n, np.nan)
    for i, g in zip(kept, fits, strict=True):
        f, patches = run.fields[i], run.patches[i]
        covered = slice(max(0, f.index - f.span + 1), f.index + 1)
        motion[covered] = g.magnitude
        lows[covered] = patches.min()
        highs[covered] = patches.max()
    measured = ~np.isnan(motion)
    still = measured & (highs < settings.static_frame_px)
    freeze_start, freeze_frames = _longest_run(still)
    camera = _camera(fits, [run.fields[i].span for i in kept], settings)
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
