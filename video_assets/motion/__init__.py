"""Motion and temporal consistency per clip: what moves, how the camera moves, and the worst
frame-to-frame transition (a cut or flash scene detection left inside a clip).

Motion is read where it is cheapest: the codec's own motion vectors, exported by FFmpeg
while decoding (:mod:`~video_assets.motion.vectors`), with optical flow between decoded
frames for codecs that export none (:mod:`~video_assets.motion.framediff`). Figures are in
pixels per frame at a stated analysis resolution (:class:`MotionSettings`).

    from video_assets.motion import measure_clip, static_reason

    m = measure_clip("clip.mp4")
    m.camera, m.camera_speed_px, m.worst_frame, m.worst_kind
    static_reason(m, MotionSettings())  # None, or Exclusion("static" | "slideshow", detail)

The ``clip_motion`` table of a video's clips is :mod:`video_assets.motion.table`; the motion
strip for the UI :func:`video_assets.motion.plot.motion_strip` (pandas and Matplotlib,
imported where they are used).
"""

from video_assets.motion.consistency import Consistency, Transition
from video_assets.motion.field import GlobalMotion, VectorField, fit_global_motion
from video_assets.motion.measure import measure_clip, measure_clips
from video_assets.motion.result import ROW_COLUMNS, ClipMotion, Exclusion, static_reason
from video_assets.motion.settings import MotionSettings

__all__ = [
    "ROW_COLUMNS",
    "ClipMotion",
    "Consistency",
    "Exclusion",
    "GlobalMotion",
    "MotionSettings",
    "Transition",
    "VectorField",
    "fit_global_motion",
    "measure_clip",
    "measure_clips",
    "static_reason",
]
