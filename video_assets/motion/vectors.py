"""Motion from the codec's own motion vectors, exported by FFmpeg while decoding.

The encoder already searched for motion; FFmpeg's ``export_mvs`` hands its vectors out as
frame side data (PyAV: ``frame.side_data`` holds ``MotionVectors``, ``to_ndarray()`` a
structured array). A vector says how far a block moved since *its reference frame*, but not
which frame that was, and that is the hard part:

- Only P-frames are used: B-frames' references are in both directions.
- Never with frame threads: FFmpeg's H.264 decoder exports a picture's vectors when it
  picks the picture for output (``finalize_frame`` -> ``ff_print_debug_info2``), which
  under frame threading can be while another thread is still decoding it. B-frames'
  direct-mode vectors changed from run to run that way, and so, more rarely, did
  P-frames' (one clip of the fault-injection test, 4 of 6 runs different). Slice threads
  finish a picture before it is exported.
- MPEG-1/2/4 P-frames reference the previous I- or P-frame in display order.
- An H.264 P-frame may reference any of several earlier reference frames, including the
  B-frames a B-pyramid keeps (x264's ``medium`` preset: three references, and the most
  recent one is the pyramid's middle B-frame, six frames back rather than four). The
  candidates are known: the reference frames (``nal_ref_idc`` > 0 in the packet's NAL
  header) decoded before it and since the last keyframe, most recent first, as H.264's
  default list orders them. Which of them the vectors point to is read from the pictures:
  the majority's displacement (a camera model fitted to the raw vectors) is applied to each
  candidate frame, kept at half the analysis resolution, and the one that then matches this
  frame clearly best is the reference. Where the pictures cannot tell (little texture), the
  vectors decide: each candidate distance is tried as the majority's, and the per-frame
  motion under which most vectors are explained by *some* candidate distance wins (the true
  motion explains a pan's 4-, 6- and 8-frame clusters at once, a wrong one explains one);
  ties go to the most recent reference. Each vector is then divided by the candidate
  distance that fits it best. A majority that barely moved needs none of this.
"""

from __future__ import annotations

import statistics

import av
import cv2
import numpy as np
from av.video.codeccontext import VideoCodecContext

from video_assets.motion.field import GlobalMotion, VectorField, fit_global_motion
from video_assets.motion.source import MotionSource

VECTOR_CODECS = frozenset(
    {
        "h264",
        "mpeg1video",
        "mpeg2video",
        "mpeg4",
        "h263",
        "h263p",
        "flv",
        "msmpeg4v1",
        "msmpeg4v2",
        "msmpeg4",
        "wmv1",
        "wmv2",
    }
)
"""Decoders that export motion vectors (FFmpeg's H.264 and MPEG-video families). HEVC,
VP9, AV1 and intra-only codecs export none."""

_CELL = 8.0
"""Vectors are averaged over cells of this many pixels at the analysis resolution."""
_MAX_REFS = 4
"""Reference candidates tried for an H.264 P-frame (x264 uses 1 to 16; most pick the first few)."""
_TOL_PX = 0.1
_TOL_SHARE = 0.1
"""A vector agrees with a model's displacement within 0.1 px plus 10% of its length
(pixels at the analysis resolution; quarter-pel vectors of 1280 wide are 0.06 px at 320)."""
_LOOKBACK = 64
"""Packets looked back through for those candidates."""
_SAMPLE = 512
"""Vectors used to test each reference hypothesis (a strided subset)."""

_RECENT = 40
"""Frames kept (at half the analysis resolution) for the reference check."""
_PIXEL_CHECK_PX = 0.2
"""Below this much displacement the pictures cannot tell references apart."""

_OUTLIER = 3.0
_SLACK = 32
_AROUND = 8
"""A non-reference frame over three times the median size of the eight on each side, or
under a third of it (with 32 bytes of slack either way), is an outlier: on a 320x180 pan
whose non-reference frames take 23 bytes, a white flash takes 156."""

_I, _P, _S, _SI, _SP = 1, 2, 4, 5, 6
"""``AVPictureType`` values: anchors are I/SI (no vectors) and P/S/SP (vectors back)."""


def h264_is_reference(data: bytes | memoryview, length_size: int) -> bool | None:
    """Whether an H.264 access unit is a reference picture (its first slice's
    ``nal_ref_idc`` > 0); None when no slice NAL unit is found.

    Args:
        data: The packet's bytes.
        length_size: 1 to 4 for length-prefixed NAL units (MP4/Matroska ``avcC``), 0 for
            Annex B start codes (MPEG-TS, raw ``.h264``).
    """
    if length_size == 0:
        head = bytes(data[:4096])
        pos = 0
        while True:
            pos = head.find(b"\x00\x00\x01", pos)
            if pos < 0 or pos + 3 >= len(head):
                return None
            header = head[pos + 3]
            if header & 0x1F in (1, 5):
                return bool(header & 0x60)
            pos += 3
    view = memoryview(data)
    pos = 0
    while pos + length_size < len(view):
        size = int.from_bytes(view[pos : pos + length_size], "big")
        header = view[pos + length_size]
        if header & 0x1F in (1, 5):
            return bool(header & 0x60)
        pos += length_size + size
    return None


class CodecVectors(MotionSource):
    """Fields from the P-frames' exported motion vectors."""

    method = "vectors"

    def __init__(self, width: int, height: int):
        super().__init__(width, height)
        self._last_anchor: int | None = None
        self._length_size: int | None = None
        self._decode_order: list[tuple[int | None, bool | None, bool]] = []
        self._nonref_sizes: list[int] = []
        """Per packet in decoding order: pts, reference picture or not, keyframe."""
        self._position: dict[int, int] = {}
        self._display: dict[int, int] = {}
        self._recent: dict[int, np.ndarray] = {}
        self._check_size = (max(2, width // 2), max(2, height // 2))

    @property
    def picture_size(self) -> tuple[int, int]:
        # The pictures only serve the reference check, at half the analysis resolution.
        return self._check_size

    def open(self, ctx: VideoCodecContext) -> dict[str, str]:
        if ctx.name == "h264":
            extra = ctx.extradata or b""
            # avcC starts with version 1 and holds lengthSizeMinusOne; else Annex B.
            self._length_size = (extra[4] & 3) + 1 if len(extra) > 4 and extra[0] == 1 else 0
        return {"flags2": "+export_mvs"}

    def packet(self, packet: av.Packet) -> None:
        if self._length_size is None or not packet.size:
            return
        ref = h264_is_reference(memoryview(packet), self._length_size)
        if packet.pts is not None:
            self._position[packet.pts] = len(self._decode_order)
        self._decode_order.append((packet.pts, ref, bool(packet.is_keyframe)))
        if ref is False:
            self._nonref_sizes.append(packet.size)

    def nonref_outlier(self) -> bool:
        """Whether a non-reference frame is far larger or far smaller than those around it
        (or a packet could not be read): a flash coded into it (intra blocks where its
        neighbours predict, or a flat picture where they carry detail), which a pass that
        skips such frames would not see. Its neighbours are decoded, so a cut shows there."""
        if any(ref is None for _, ref, _ in self._decode_order):
            return True
        sizes = self._nonref_sizes
        for i, size in enumerate(sizes):
            around = sizes[max(0, i - _AROUND) : i] + sizes[i + 1 : i + 1 + _AROUND]
            if not around:
                continue
            usual = statistics.median(around)
            if size > _OUTLIER * usual + _SLACK or _OUTLIER * size + _SLACK < usual:
                return True
        return False

    def _candidates(self, frame: av.VideoFrame, index: int, span: int) -> list[int]:
        """Distances back to the frames this P-frame may reference, the likeliest first."""
        position = self._position.get(frame.pts) if frame.pts is not None else None
        if position is None:
            return [span]
        out: list[int] = []
        for j in range(position - 1, max(-1, position - 1 - _LOOKBACK), -1):
            pts, ref, key = self._decode_order[j]
            shown = self._display.get(pts) if pts is not None else None
            if ref is None:
                return [span]  # a packet we could not read: keep to the simple rule
            if ref and shown is not None and shown < index:
                out.append(index - shown)
                if len(out) == _MAX_REFS:
                    break
            if key:
                break  # nothing before a keyframe is referenced after it
        return out or [span]

    def field(self, frame: av.VideoFrame, small: np.ndarray, index: int) -> VectorField | None:
        if frame.pts is not None:
            self._display[frame.pts] = index
        if self._length_size is not None:
            # Recent pictures, to tell which reference a P-frame's vectors point to.
            self._recent[index] = small
            self._recent.pop(index - _RECENT, None)
        kind = int(frame.pict_type)
        if kind in (_I, _SI):
            self._last_anchor = index
            return None
        if kind not in (_P, _S, _SP):
            return None
        previous, self._last_anchor = self._last_anchor, index
        if previous is None:
            return None
        data = frame.side_data.get("MOTION_VECTORS")
        if data is None:
            return None
        mv = data.to_ndarray()
        mv = mv[mv["source"] < 0]
        if not len(mv):
            return None
        span = index - previous
        sx = self.width / frame.width
        sy = self.height / frame.height
        # FFmpeg states motion_x = (src - dst) * motion_scale: the block at dst in this frame
        # came from src in the reference, so the content moved by -motion / scale. All in
        # float32: a 720p frame has thousands of vectors, each tried at several distances.
        scale = np.maximum(mv["motion_scale"], 1).astype(np.float32)
        x = mv["dst_x"].astype(np.float32) * np.float32(sx)
        y = mv["dst_y"].astype(np.float32) * np.float32(sy)
        du = mv["motion_x"].astype(np.float32) * (np.float32(-sx) / scale)
        dv = mv["motion_y"].astype(np.float32) * (np.float32(-sy) / scale)
        w = mv["w"].astype(np.float32) * mv["h"]
        distances = (
            self._candidates(frame, index, span) if self._length_size is not None else [span]
        )
        d = self._resolve(index, x, y, du, dv, w, distances)
        return VectorField(index=index, span=span, x=x, y=y, u=du / d, v=dv / d, w=w).binned(_CELL)

    def _resolve(
        self,
        index: int,
        x: np.ndarray,
        y: np.ndarray,
        du: np.ndarray,
        dv: np.ndarray,
        w: np.ndarray,
        distances: list[int],
    ) -> np.ndarray:
        """The reference distance of each vector (see the module's docstring)."""
        if len(distances) == 1:
            return np.full(len(du), float(distances[0]), np.float32)
        dist = np.asarray(distances, np.float32)[:, None]
        xc, yc = x - np.float32(self.width / 2.0), y - np.float32(self.height / 2.0)
        sub = slice(None, None, max(1, len(du) // _SAMPLE))
        moved = fit_global_motion(
            VectorField(0, 1, x[sub], y[sub], du[sub], dv[sub], w[sub]), self.width, self.height
        )
        if moved.translation_px + moved.zoom_px + moved.roll_px < _PIXEL_CHECK_PX:
            # The majority barely moved over any distance: whichever it was, ~0 per frame.
            return np.full(len(du), float(distances[0]), np.float32)
        reach = self._by_pixels(index, moved, distances)
        if reach is not None:
            pu, pv = moved.at(xc, yc)
            err, _ = _errors((pu / reach, pv / reach), du, dv, dist)
            return dist[np.argmin(err, axis=0), 0]
        best_model, best_support = None, -1.0
        for d in distances:
            trial = VectorField(0, 1, x[sub], y[sub], du[sub] / d, dv[sub] / d, w[sub])
            model = fit_global_motion(trial, self.width, self.height)
            err, pred = _errors(model.at(xc[sub], yc[sub]), du[sub], dv[sub], dist)
            support = float(w[sub][(err <= _TOL_PX + _TOL_SHARE * pred).any(axis=0)].sum())
            if support > best_support * 1.02:  # ties go to the likelier, earlier candidate
                best_model, best_support = model, support
        assert best_model is not None
        err, _ = _errors(best_model.at(xc, yc), du, dv, dist)
        return dist[np.argmin(err, axis=0), 0]

    def _by_pixels(self, index: int, moved: GlobalMotion, distances: list[int]) -> int | None:
        """The candidate distance whose frame, moved by the majority's displacement, matches
        this frame clearly best; None when the pictures cannot tell (little motion, no texture)."""
        current = self._recent.get(index)
        if current is None:
            return None
        z, r = moved.zoom, moved.roll
        width, height = self._check_size
        k = width / self.width
        cx, cy = width / 2.0, height / 2.0
        # Content at p in the reference is at p + motion(p) here; sample the reference there.
        back = np.array(
            [
                [1 - z, r, -moved.tx * k + z * cx - r * cy],
                [-r, 1 - z, -moved.ty * k + r * cx + z * cy],
            ]
        )
        mh, mw = height // 8, width // 8
        inner = current[mh:-mh, mw:-mw].astype(np.int16)
        errors = []
        for d in distances:
            ref = self._recent.get(index - d)
            if ref is None:
                return None
            warped = cv2.warpAffine(
                ref,
                back,
                (width, height),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
            errors.append(float(np.abs(warped[mh:-mh, mw:-mw] - inner).mean()))
        order = np.argsort(errors)
        if errors[order[0]] < 0.8 * errors[order[1]]:
            return distances[int(order[0])]
        return None


def _errors(
    model: tuple[np.ndarray, np.ndarray], du: np.ndarray, dv: np.ndarray, dist: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """How far each vector (columns) is from the model's motion over each candidate distance
    (rows), and the length of that motion, in pixels of displacement."""
    pu, pv = model
    err = np.hypot(du - pu * dist, dv - pv * dist)
    return err, np.hypot(pu, pv) * dist
