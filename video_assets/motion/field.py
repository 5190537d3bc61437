"""A frame's motion field and the global (camera) motion model fitted to it.

A field is a set of vectors at the analysis resolution: where a block is in the frame and
how far its content moved per frame. The model is a similarity transform about the frame's
centre, fitted by least squares with the vectors that disagree most trimmed away::

    u = tx + zoom * x - roll * y
    v = ty + roll * x + zoom * y        (x, y measured from the centre)

``tx, ty`` is the pan and tilt (image content moving right and down when positive: the
camera turns the other way), ``zoom`` the relative growth per frame (positive: zooming in)
and ``roll`` the rotation in radians per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Camera = Literal["static", "pan", "tilt", "zoom", "complex"]

_FIT_ROUNDS = 3
_MIN_TOL_PX = 0.3
"""A vector within this many pixels (plus 15% of its model motion) agrees with the model."""


@dataclass
class VectorField:
    """The motion of one frame at the analysis resolution.

    Attributes:
        index: The frame (display order, 0 = the clip's first) whose motion this is.
        span: Frames it stands for: its vectors reach back ``span`` frames to the reference
            and were divided by ``span``, so it covers frames ``index - span + 1 .. index``.
        x: Block centres, pixels from the left.
        y: Block centres, pixels from the top.
        u: Horizontal motion of each block's content, pixels per frame.
        v: Vertical motion, pixels per frame.
        w: Weight of each block (its area).
    """

    index: int
    span: int
    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    w: np.ndarray

    @property
    def magnitude(self) -> np.ndarray:
        return np.hypot(self.u, self.v)

    def mean_magnitude(self) -> float:
        """Weighted mean length of the vectors: the frame's global motion."""
        return float(np.average(self.magnitude, weights=self.w))

    def binned(self, cell: float) -> VectorField:
        """The field averaged over square cells of ``cell`` pixels (weights summed).

        A 720p frame exports thousands of 4x4 to 16x16 blocks; averaged into 8-pixel cells at
        320 wide they are a few hundred, which the model fit reads twenty times faster.
        """
        cx = (self.x // cell).astype(np.int64)
        cy = (self.y // cell).astype(np.int64)
        cols = int(cx.max()) + 1
        key = cy * cols + cx
        size = int(key.max()) + 1
        w = np.bincount(key, weights=self.w, minlength=size)
        have = np.flatnonzero(w > 0)
        w = w[have]

        def mean(values: np.ndarray) -> np.ndarray:
            sums = np.bincount(key, weights=values * self.w, minlength=size)[have]
            return (sums / w).astype(np.float32)

        return VectorField(
            index=self.index,
            span=self.span,
            x=mean(self.x),
            y=mean(self.y),
            u=mean(self.u),
            v=mean(self.v),
            w=w.astype(np.float32),
        )


@dataclass
class GlobalMotion:
    """The camera model of one field and how well it explains the vectors.

    Attributes:
        tx: Pan, pixels per frame (content moving right when positive).
        ty: Tilt, pixels per frame (content moving down when positive).
        zoom: Relative scale change per frame (0.01: the picture grows 1% a frame).
        roll: Rotation, radians per frame.
        inliers: Weighted share of vectors the model explains.
        magnitude: The field's global mean motion (model-free), pixels per frame.
        half_width: Half the analysis width, to state zoom and roll as edge speeds.
    """

    tx: float
    ty: float
    zoom: float
    roll: float
    inliers: float
    magnitude: float
    half_width: float

    def at(self, xc: np.ndarray, yc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's motion at points given relative to the frame's centre."""
        return (
            self.tx + self.zoom * xc - self.roll * yc,
            self.ty + self.roll * xc + self.zoom * yc,
        )

    @property
    def translation_px(self) -> float:
        return float(np.hypot(self.tx, self.ty))

    @property
    def zoom_px(self) -> float:
        """The zoom's speed at the frame's side edge, pixels per frame."""
        return abs(self.zoom) * self.half_width

    @property
    def roll_px(self) -> float:
        return abs(self.roll) * self.half_width

    def classify(self, static_px: float, camera_min_px: float, min_inliers: float) -> Camera:
        """The camera class of this frame (see :class:`~video_assets.motion.MotionSettings`)."""
        if self.magnitude < static_px:
            return "static"
        if self.inliers < min_inliers:
            return "complex"
        t, z, r = self.translation_px, self.zoom_px, self.roll_px
        if max(t, z, r) < camera_min_px:
            return "static"
        if r > max(t, z):
            return "complex"
        if z >= t:
            return "zoom"
        return "pan" if abs(self.tx) >= abs(self.ty) else "tilt"


def _solve(
    xc: np.ndarray, yc: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """Weighted least squares for (tx, ty, zoom, roll).

    About the vectors' weighted centroid the model's normal equations decouple (translation
    from the mean motion, zoom and roll from the first moments), so no 4x4 system is solved;
    the translation is then restated about the frame's centre.
    """
    sw = float(w.sum())
    mx, my = float(w @ xc) / sw, float(w @ yc) / sw
    mu, mv = float(w @ u) / sw, float(w @ v) / sw
    x0, y0 = xc - mx, yc - my
    srr = float(w @ (x0 * x0 + y0 * y0))
    if srr <= 0.0:  # all vectors at one point: translation only
        return np.array([mu, mv, 0.0, 0.0])
    zoom = float(w @ (x0 * u + y0 * v)) / srr
    roll = float(w @ (x0 * v - y0 * u)) / srr
    return np.array([mu - zoom * mx + roll * my, mv - roll * mx - zoom * my, zoom, roll])


def fit_global_motion(field: VectorField, width: int, height: int) -> GlobalMotion:
    """Fit the similarity model to ``field`` robustly.

    It starts from the weighted median translation (so a large moving subject cannot pull
    the start away from the background), then refits on the vectors within 2.5 times the
    median residual (or 0.3 px), three times.
    """
    xc = field.x - width / 2.0
    yc = field.y - height / 2.0
    u, v, w = field.u, field.v, field.w
    params = np.array([_weighted_median(u, w), _weighted_median(v, w), 0.0, 0.0])
    for _ in range(_FIT_ROUNDS):
        res = _residual(params, xc, yc, u, v)
        cut = max(2.5 * _median(res), _MIN_TOL_PX)
        keep = res <= cut
        if np.count_nonzero(keep) < 3:
            break
        # The trimmed vectors weigh nothing (cheaper than copying the kept ones out).
        params = _solve(xc, yc, u, v, w * keep)
    tx, ty, zoom, roll = (float(p) for p in params)
    pu = tx + zoom * xc - roll * yc
    pv = ty + roll * xc + zoom * yc
    res = np.hypot(u - pu, v - pv)
    tol = _MIN_TOL_PX + 0.15 * np.hypot(pu, pv)
    inliers = float(w[res <= tol].sum() / w.sum())
    return GlobalMotion(
        tx=tx,
        ty=ty,
        zoom=zoom,
        roll=roll,
        inliers=inliers,
        magnitude=field.mean_magnitude(),
        half_width=width / 2.0,
    )


def _residual(
    params: np.ndarray, xc: np.ndarray, yc: np.ndarray, u: np.ndarray, v: np.ndarray
) -> np.ndarray:
    tx, ty, zoom, roll = params
    return np.hypot(u - (tx + zoom * xc - roll * yc), v - (ty + roll * xc + zoom * yc))


def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D array without its overhead (a partition, no full sort)."""
    n = len(values)
    k = n // 2
    if n % 2:
        return float(np.partition(values, k)[k])
    part = np.partition(values, (k - 1, k))
    return float((part[k - 1] + part[k]) / 2)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2.0)])
