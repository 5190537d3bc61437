"""The architecture of a video tokenizer, stored in every checkpoint."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

QuantizerKind = Literal["lfq", "vq"]

SPATIAL_STRIDES = (8, 16)
TEMPORAL_STRIDES = (1, 2, 4)
MAX_LFQ_BITS = 31  # token ids are stored as int32
MAX_GROUP_BITS = 14  # the entropy term costs tokens x 2**group_bits per step


@dataclass(frozen=True, kw_only=True)
class TokenizerConfig:
    """Architecture and quantizer of a causal 3D-conv video tokenizer.

    The encoder halves height and width ``log2(spatial_stride)`` times and halves time
    ``log2(temporal_stride)`` times (in the last levels), causally: the first frame is
    coded on its own and no latent frame sees a later input frame.

    Args:
        quantizer: ``"lfq"`` (lookup-free, the production tokenizer) or ``"vq"``
            (nearest-neighbour codebook, the baseline).
        bits: LFQ only: latent dimensions D; each token is a D-bit integer, the
            codebook holds 2**D codes. 2 to 31.
        group_bits: LFQ only: the entropy penalty is computed per group of this many
            bits (sub-codebooks of 2**group_bits codes), which costs
            tokens x 2**group_bits instead of tokens x 2**D per step. Must divide
            ``bits``; 1 to 14. The token id is always the full D-bit integer.
        vq_codebook_size: VQ only: codebook entries, a power of two from 2 to 2**20.
        vq_dim: VQ only: dimension of the latent vector and of each codebook entry;
            1 to 512. Defaults to 18 so the baseline has the same encoder and decoder
            as the default LFQ.
        spatial_stride: Pixels per token along height and width: 8 or 16.
        temporal_stride: Frames per token after the first frame: 1, 2 or 4.
        channels: Width of the first encoder level; 4 to 1024.
        channel_mult: Width multiplier per level, one per spatial halving
            (3 levels for stride 8, 4 for stride 16); each 1 to 16.
        res_blocks: Residual blocks per level; 0 to 8.
        entropy_weight: LFQ only: weight of the entropy penalty; 0 (off) to 10.
        diversity_gamma: LFQ only: weight of the batch (codebook) entropy inside the
            entropy penalty relative to the per-token entropy; 0 to 10.
        commitment_weight: Weight of the commitment loss; 0 to 10.
        resolution: Short side in pixels that frames are resized to (the long side
            keeps the aspect ratio); a multiple of ``spatial_stride``, 16 to 4096.
    """

    quantizer: QuantizerKind = "lfq"
    bits: int = 18
    group_bits: int = 9
    vq_codebook_size: int = 2**14
    vq_dim: int = 18
    spatial_stride: int = 8
    temporal_stride: int = 4
    channels: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 2)
    res_blocks: int = 1
    entropy_weight: float = 0.1
    diversity_gamma: float = 1.0
    commitment_weight: float = 0.25
    resolution: int = 128

    def __post_init__(self) -> None:
        if self.quantizer not in ("lfq", "vq"):
            raise ValueError(f"quantizer must be 'lfq' or 'vq', got {self.quantizer!r}")
        _check_int("bits", self.bits, 2, MAX_LFQ_BITS)
        _check_int("group_bits", self.group_bits, 1, MAX_GROUP_BITS)
        if self.quantizer == "lfq" and self.bits % self.group_bits:
            raise ValueError(
                f"bits ({self.bits}) must be a multiple of group_bits ({self.group_bits})"
            )
        _check_int("vq_codebook_size", self.vq_codebook_size, 2, 2**20)
        if self.vq_codebook_size & (self.vq_codebook_size - 1):
            raise ValueError(
                f"vq_codebook_size must be a power of two from 2 to 2**20, got {self.vq_codebook_size}"
            )
        _check_int("vq_dim", self.vq_dim, 1, 512)
        if self.spatial_stride not in SPATIAL_STRIDES:
            raise ValueError(f"spatial_stride must be 8 or 16, got {self.spatial_stride}")
        if self.temporal_stride not in TEMPORAL_STRIDES:
            raise ValueError(f"temporal_stride must be 1, 2 or 4, got {self.temporal_stride}")
        _check_int("channels", self.channels, 4, 1024)
        mult = tuple(self.channel_mult)
        object.__setattr__(self, "channel_mult", mult)
        if len(mult) != self.levels:
            raise ValueError(
                f"channel_mult must have {self.levels} entries for spatial_stride "
                f"{self.spatial_stride}, got {len(mult)}"
            )
        for m in mult:
            _check_int("channel_mult entries", m, 1, 16)
        _check_int("res_blocks", self.res_blocks, 0, 8)
        _check_float("entropy_weight", self.entropy_weight, 0.0, 10.0)
        _check_float("diversity_gamma", self.diversity_gamma, 0.0, 10.0)
        _check_float("commitment_weight", self.commitment_weight, 0.0, 10.0)
        _check_int("resolution", self.resolution, 16, 4096)
        if self.resolution % self.spatial_stride:
            raise ValueError(
                f"resolution must be a multiple of spatial_stride ({self.spatial_stride}), "
                f"got {self.resolution}"
            )

    @property
    def levels(self) -> int:
        """Number of spatial halvings (and encoder levels)."""
        return int(math.log2(self.spatial_stride))

    @property
    def latent_dim(self) -> int:
        """Channels of the latent the quantizer sees."""
        return self.bits if self.quantizer == "lfq" else self.vq_dim

    @property
    def code_bits(self) -> int:
        """Bits per token id: D for LFQ, log2(codebook size) for VQ."""
        return self.bits if self.quantizer == "lfq" else int(math.log2(self.vq_codebook_size))

    @property
    def codebook_size(self) -> int:
        """Number of distinct token ids."""
        return 2**self.code_bits

    def grid_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Token grid (T', H', W') for ``frames`` frames of ``height`` x ``width`` pixels.

        ``T' = 1 + ceil((frames - 1) / temporal_stride)``: the first frame has a token
        frame of its own; a tail shorter than ``temporal_stride`` is padded by repeating
        the last frame. Height and width must be multiples of ``spatial_stride``.

        Raises:
            ValueError: ``frames`` is below 1 or a side is not a positive multiple of
                the spatial stride.
        """
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        for name, side in (("height", height), ("width", width)):
            if side < self.spatial_stride or side % self.spatial_stride:
                raise ValueError(
                    f"{name} must be a positive multiple of {self.spatial_stride}, got {side}"
                )
        t = 1 + -(-(frames - 1) // self.temporal_stride)
        return t, height // self.spatial_stride, width // self.spatial_stride

    def padded_frames(self, frames: int) -> int:
        """Frames the encoder actually sees for a clip of ``frames`` frames (1 + k * stride)."""
        return 1 + self.temporal_stride * (
            self.grid_shape(frames, self.spatial_stride, self.spatial_stride)[0] - 1
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenizerConfig:
        """Build a config from ``to_dict`` output; unknown keys raise ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown tokenizer config keys: {', '.join(unknown)}")
        values = dict(data)
        if "channel_mult" in values:
            values["channel_mult"] = tuple(values["channel_mult"])
        return cls(**values)


def _check_int(name: str, value: int, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer from {lo} to {hi}, got {value!r}")


def _check_float(name: str, value: float, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a number from {lo} to {hi}, got {value!r}")
