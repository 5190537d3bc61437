"""When an H.264 track's keyframe flags can be read from its sync-sample table.

FFmpeg's mov demuxer runs H.264 through its parser (``AVSTREAM_PARSE_HEADERS``), and the
parser, not the ``stss`` box, sets each packet's keyframe flag: a packet is a keyframe when
its first slice is an IDR slice, when a recovery-point SEI precedes it, or, in a stream with
a single reference frame (``max_num_ref_frames`` <= 1 and a PPS default of one list-0
reference), when it is an I slice. An encoder marks exactly its IDR and recovery-point
frames as sync samples, so ``stss`` and the parser agree, except in that last case: there a
non-IDR I-frame (a scene cut in a single-reference stream without B-frames, as x264's
ultrafast to veryfast presets with ``-bf 0`` or ``-tune zerolatency`` make) is a keyframe to
the parser and a plain sample to ``stss``.

:func:`check_avcc` reads the parameter sets in the ``avcC`` box (header data, no media) and
raises :class:`~video_assets.mp4index.HeaderUnsupported` when the stream is a
single-reference one, or when its parameter sets are not ones FFmpeg's parser accepts
(it would then flag no keyframe at all): the caller demuxes instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from video_assets.errors import VideoAssetsError

HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
"""profile_idc values whose SPS carries chroma format, bit depths and scaling matrices."""


class ParameterSetError(VideoAssetsError):
    """An SPS or PPS FFmpeg's H.264 parser would refuse, or this reader cannot follow."""


class _Bits:
    """An Exp-Golomb bit reader over an RBSP (emulation-prevention bytes removed)."""

    def __init__(self, nal: bytes) -> None:
        rbsp = bytearray()
        zeros = 0
        for b in nal:
            if zeros >= 2 and b == 3:
                zeros = 0
                continue
            rbsp.append(b)
            zeros = zeros + 1 if b == 0 else 0
        self.data = bytes(rbsp)
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) * 8 - self.pos

    def u(self, n: int) -> int:
        if n > self.left:
            raise ParameterSetError("a parameter set ends too soon")
        v = 0
        for _ in range(n):
            v = (v << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ParameterSetError("an Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


@dataclass(frozen=True)
class Sps:
    sps_id: int
    ref_frame_count: int
    width: int
    height: int


@dataclass(frozen=True)
class Pps:
    pps_id: int
    sps_id: int
    ref_count0: int


def _scaling_lists(b: _Bits, count: int) -> None:
    for i in range(count):
        if b.u(1):
            size = 16 if i < 6 else 64
            last = nxt = 8
            for _ in range(size):
                if nxt:
                    nxt = (last + b.se()) & 0xFF
                last = nxt or last


def _hrd(b: _Bits) -> None:
    cpb_count = b.ue() + 1
    if cpb_count > 32:
        raise ParameterSetError("cpb_count out of range")
    b.u(4)
    b.u(4)
    for _ in range(cpb_count):
        b.ue()
        b.ue()
        b.u(1)
    b.u(20)


def _vui(b: _Bits) -> None:
    if b.u(1) and b.u(8) == 255:  # aspect_ratio_info_present, Extended_SAR
        b.u(32)
    if b.u(1):  # overscan_info_present
        b.u(1)
    if b.u(1):  # video_signal_type_present
        b.u(4)
        if b.u(1):
            b.u(24)
    if b.u(1):  # chroma_loc_info_present
        b.ue()
        b.ue()
    if b.u(1):  # timing_info_present
        b.u(32)
        b.u(32)
        b.u(1)
    nal_hrd = b.u(1)
    if nal_hrd:
        _hrd(b)
    vcl_hrd = b.u(1)
    if vcl_hrd:
        _hrd(b)
    if nal_hrd or vcl_hrd:
        b.u(1)
    b.u(1)  # pic_struct_present
    if b.u(1):  # bitstream_restriction
        b.u(1)
        for _ in range(4):
            b.ue()
        if b.ue() > 16:  # num_reorder_frames
            raise ParameterSetError("num_reorder_frames out of range")
        b.ue()


def parse_sps(nal: bytes) -> Sps:
    """The fields of a sequence parameter set NAL unit (header byte included) this needs."""
    if not nal or nal[0] & 0x1F != 7:
        raise ParameterSetError("not an SPS")
    b = _Bits(nal[1:])
    profile = b.u(8)
    b.u(16)  # constraint flags, level_idc
    sps_id = b.ue()
    if sps_id >= 32:
        raise ParameterSetError("sps_id out of range")
    chroma = 1
    if profile in HIGH_PROFILES:
        chroma = b.ue()
        if chroma > 3:
            raise ParameterSetError("chroma_format_idc out of range")
        if chroma == 3 and b.u(1):
            raise ParameterSetError("separate colour planes")
        luma_depth, chroma_depth = b.ue() + 8, b.ue() + 8
        if luma_depth > 14 or chroma_depth > 14:
            raise ParameterSetError("bit depth out of range")
        b.u(1)
        if b.u(1):
            _scaling_lists(b, 8 if chroma != 3 else 12)
    if b.ue() > 12:  # log2_max_frame_num_minus4
        raise ParameterSetError("log2_max_frame_num out of range")
    poc_type = b.ue()
    if poc_type == 0:
        if b.ue() > 12:
            raise ParameterSetError("log2_max_poc_lsb out of range")
    elif poc_type == 1:
        b.u(1)
        b.se()
        b.se()
        cycle = b.ue()
        if cycle >= 256:
            raise ParameterSetError("poc cycle out of range")
        for _ in range(cycle):
            b.se()
    elif poc_type != 2:
        raise ParameterSetError("pic_order_cnt_type out of range")
    ref_frames = b.ue()
    if ref_frames > 16:
        raise ParameterSetError("max_num_ref_frames out of range")
    b.u(1)  # gaps_in_frame_num_allowed
    mb_width, mb_height = b.ue() + 1, b.ue() + 1
    frame_mbs_only = b.u(1)
    if not frame_mbs_only:
        b.u(1)  # mb_adaptive_frame_field
    mb_height *= 2 - frame_mbs_only
    b.u(1)  # direct_8x8_inference
    crop = [0, 0, 0, 0]
    if b.u(1):
        crop = [b.ue() for _ in range(4)]
    if b.u(1):
        _vui(b)
    if b.left < 0:
        raise ParameterSetError("an SPS that overruns its NAL unit")
    sub_w = 2 if chroma in (1, 2) else 1
    sub_h = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
    width = 16 * mb_width - sub_w * (crop[0] + crop[1])
    height = 16 * mb_height - sub_h * (crop[2] + crop[3])
    return Sps(sps_id, ref_frames, width, height)


def parse_pps(nal: bytes) -> Pps:
    """The fields of a picture parameter set NAL unit (header byte included) this needs."""
    if not nal or nal[0] & 0x1F != 8:
        raise ParameterSetError("not a PPS")
    b = _Bits(nal[1:])
    pps_id, sps_id = b.ue(), b.ue()
    if pps_id >= 256 or sps_id >= 32:
        raise ParameterSetError("pps_id or sps_id out of range")
    b.u(2)  # entropy_coding_mode, bottom_field_pic_order_in_frame_present
    if b.ue() > 0:
        raise ParameterSetError("slice groups (FMO)")
    ref0, ref1 = b.ue() + 1, b.ue() + 1
    if ref0 > 32 or ref1 > 32:
        raise ParameterSetError("reference counts out of range")
    return Pps(pps_id, sps_id, ref0)


def parameter_sets(avcc: bytes) -> tuple[list[bytes], list[bytes]]:
    """The SPS and PPS NAL units of an ``avcC`` payload (AVCDecoderConfigurationRecord)."""
    if len(avcc) < 7 or avcc[0] != 1:
        raise ParameterSetError("not an avcC record of version 1")
    if avcc[4] & 3 != 3:
        raise ParameterSetError(f"NAL unit lengths of {(avcc[4] & 3) + 1} bytes")
    pos = 5
    out: list[list[bytes]] = [[], []]
    for which, count_mask in ((0, 0x1F), (1, 0xFF)):
        count = avcc[pos] & count_mask
        pos += 1
        for _ in range(count):
            if pos + 2 > len(avcc):
                raise ParameterSetError("a cut avcC record")
            size = int.from_bytes(avcc[pos : pos + 2], "big")
            if pos + 2 + size > len(avcc) or size == 0:
                raise ParameterSetError("a cut avcC record")
            out[which].append(avcc[pos + 2 : pos + 2 + size])
            pos += 2 + size
        if pos >= len(avcc) and which == 0:
            raise ParameterSetError("an avcC record without a PPS")
    return out[0], out[1]


def check_avcc(avcc: bytes, width: int, height: int) -> None:
    """Raise unless the parser's keyframe flags follow ``stss`` for this stream.

    Args:
        avcc: The ``avcC`` box payload.
        width: Width the sample entry states (the SPS must give the same, cropped).
        height: Height the sample entry states.

    Raises:
        ParameterSetError: one SPS and one PPS that FFmpeg parses, of this size, in a
            stream with more than one reference frame, are not what the record holds.
    """
    sps_nals, pps_nals = parameter_sets(avcc)
    if len(sps_nals) != 1 or len(pps_nals) != 1:
        raise ParameterSetError(f"{len(sps_nals)} SPS and {len(pps_nals)} PPS in avcC")
    sps, pps = parse_sps(sps_nals[0]), parse_pps(pps_nals[0])
    if pps.sps_id != sps.sps_id:
        raise ParameterSetError("a PPS naming another SPS")
    if (sps.width, sps.height) != (width, height):
        raise ParameterSetError(
            f"an SPS of {sps.width}x{sps.height} in a {width}x{height} sample entry"
        )
    if sps.ref_frame_count <= 1 and pps.ref_count0 <= 1:
        raise ParameterSetError(
            "a single-reference H.264 stream (FFmpeg's parser makes every I-frame a keyframe)"
        )
