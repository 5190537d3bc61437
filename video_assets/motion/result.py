"""What the motion stage finds in a clip, and the rule that calls a clip static."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from video_assets.motion.settings import MotionSettings

ROW_COLUMNS: dict[str, str] = {
    "method": "VARCHAR",
    "fallback": "VARCHAR",
    "codec": "VARCHAR",
    "width": "BIGINT",
    "height": "BIGINT",
    "fps": "DOUBLE",
    "frames": "BIGINT",
    "duration_s": "DOUBLE",
    "analysis_width": "BIGINT",
    "analysis_height": "BIGINT",
    "motion_frames": "BIGINT",
    "mean_motion_px": "DOUBLE",
    "patch_min_px": "DOUBLE",
    "patch_max_px": "DOUBLE",
    "static_share": "DOUBLE",
    "freeze_start": "BIGINT",
    "freeze_frames": "BIGINT",
    "camera": "VARCHAR",
    "camera_speed_px": "DOUBLE",
    "camera_dx_px": "DOUBLE",
    "camera_dy_px": "DOUBLE",
    "camera_zoom": "DOUBLE",
    "camera_inliers": "DOUBLE",
    "mean_similarity": "DOUBLE",
    "worst_frame": "BIGINT",
    "worst_similarity": "DOUBLE",
    "worst_kind": "VARCHAR",
    "cuts": "BIGINT",
    "flashes": "BIGINT",
    "decode_errors": "BIGINT",
    "static_reason": "VARCHAR",
}
"""The figures of a clip as stored in the ``clip_motion`` table, with their DuckDB types."""


@dataclass
class ClipMotion:
    """The motion and temporal consistency of one clip.

    Motion figures are pixels per frame at the analysis resolution (``analysis_width`` x
    ``analysis_height``); None where nothing could be measured (a clip of one frame).

    Attributes:
        path: The clip file.
        method: ``vectors`` (the codec's motion vectors) or ``framediff`` (optical flow
            between decoded frames).
        fallback: Why frame differences were used, or empty.
        codec: The video codec (FFmpeg's decoder name).
        width: Decoded width, pixels.
        height: Decoded height, pixels.
        fps: Frame rate.
        frames: Frames decoded.
        duration_s: ``frames / fps``.
        analysis_width: Width the motion figures are stated at.
        analysis_height: Height the motion figures are stated at.
        motion_frames: Frames whose motion was measured (frames at a cut or flash are not).
        mean_motion_px: Global motion: the mean vector length over the clip.
        patch_min_px: The stillest patch of the grid in each frame (a patch's motion is
            its vectors' mean length), averaged over the frames.
        patch_max_px: The most moving patch of each frame, averaged over the frames.
        static_share: Share of measured frames whose global motion is below
            ``static_frame_px``.
        freeze_start: First frame of the longest run of near-static frames, or None.
        freeze_frames: Length of that run.
        camera: ``static``, ``pan``, ``tilt``, ``zoom`` or ``complex``; empty when unknown.
        camera_speed_px: Speed of the camera motion: the translation for a pan or tilt, the
            zoom at the frame's side edge for a zoom, the global motion when complex.
        camera_dx_px: Median horizontal translation (content moving right when positive).
        camera_dy_px: Median vertical translation (content moving down when positive).
        camera_zoom: Median scale change per frame (0.01: the picture grows 1% a frame).
        camera_inliers: Median share of vectors the camera model explains.
        mean_similarity: Mean similarity of consecutive frames (0 to 1).
        worst_frame: First frame after the transition that stands out most, or None.
        worst_similarity: Its similarity to the frame before.
        worst_kind: ``cut`` or ``flash`` when that transition looks like one, else empty.
        cuts: Transitions inside the clip that look like cuts.
        flashes: Flashes inside the clip.
        decode_errors: Packets the decoder refused (a damaged stream).
        static_reason: ``static`` or ``slideshow`` when :func:`static_reason` leaves the
            clip out under the settings it was measured with, else empty.
        elapsed_s: Time taken (not stored in the table: it differs between runs).
        motion: Global motion per frame (NaN where not measured), for plots.
        similarity: Similarity of each frame to the next, for plots.
    """

    path: str
    method: str
    fallback: str
    codec: str
    width: int
    height: int
    fps: float
    frames: int
    duration_s: float
    analysis_width: int
    analysis_height: int
    motion_frames: int
    mean_motion_px: float | None
    patch_min_px: float | None
    patch_max_px: float | None
    static_share: float | None
    freeze_start: int | None
    freeze_frames: int
    camera: str
    camera_speed_px: float | None
    camera_dx_px: float | None
    camera_dy_px: float | None
    camera_zoom: float | None
    camera_inliers: float | None
    mean_similarity: float | None
    worst_frame: int | None
    worst_similarity: float | None
    worst_kind: str
    cuts: int
    flashes: int
    decode_errors: int
    static_reason: str = ""
    elapsed_s: float = 0.0
    motion: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    similarity: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def to_row(self) -> dict[str, Any]:
        """The figures as a ``clip_motion`` table row (floats rounded, so a re-run writes
        the same bytes)."""
        row: dict[str, Any] = {}
        for name in ROW_COLUMNS:
            value = getattr(self, name)
            if isinstance(value, float):
                value = None if math.isnan(value) else round(value, 5) + 0.0  # no -0.0
            row[name] = value
        return row

    def to_json(self) -> dict[str, Any]:
        """The row plus the file, the time taken and the speed in times real time."""
        realtime = self.duration_s / self.elapsed_s if self.elapsed_s > 0 else None
        return {
            "path": self.path,
            **self.to_row(),
            "elapsed_s": round(self.elapsed_s, 3),
            "realtime_x": None if realtime is None else round(realtime, 1),
        }


@dataclass(frozen=True)
class Exclusion:
    """Why a clip is left out of the training shards: ``reason`` is ``static`` or
    ``slideshow``, ``detail`` says by which figures."""

    reason: str
    detail: str


def static_reason(
    clip: ClipMotion | Mapping[str, Any], settings: MotionSettings
) -> Exclusion | None:
    """Whether a clip is static or a slideshow, by ``settings``' thresholds.

    Works on a :class:`ClipMotion` or on a ``clip_motion`` table row (a dict, a pandas row):
    the shard packer can re-judge stored figures under other thresholds without decoding.

    - ``slideshow``: at least ``max_static_share`` of its frames are near-static and a cut
      lies inside it (stills one after another).
    - ``static``: its mean motion is below ``min_motion_px`` and no patch moves at
      ``min_patch_motion_px`` or more; or at least ``max_static_share`` of its frames are
      near-static.

    A clip whose motion could not be measured (one frame) is neither.
    """

    def get(key: str) -> Any:
        return getattr(clip, key) if isinstance(clip, ClipMotion) else clip.get(key)

    share = _number(get("static_share"))
    mean = _number(get("mean_motion_px"))
    patch = _number(get("patch_max_px"))
    if not (_number(get("motion_frames")) or 0) or share is None or mean is None:
        return None
    cuts = int(_number(get("cuts")) or 0)
    if share >= settings.max_static_share and cuts:
        return Exclusion(
            "slideshow",
            f"{share:.0%} of frames near-static (>= {settings.max_static_share:.0%}) "
            f"and {cuts} cut(s) inside",
        )
    if mean < settings.min_motion_px and (patch is None or patch < settings.min_patch_motion_px):
        return Exclusion(
            "static",
            f"mean motion {mean:.3f} px/frame < {settings.min_motion_px} and no patch "
            f"moving {settings.min_patch_motion_px} px/frame",
        )
    if share >= settings.max_static_share:
        return Exclusion(
            "static", f"{share:.0%} of frames near-static (>= {settings.max_static_share:.0%})"
        )
    return None


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
