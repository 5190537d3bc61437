"""Codebook-use and reconstruction metrics.

Codebook use is reported several ways because a raw "share of the codebook seen" is
unfair between codebooks of very different sizes: 10,000 tokens can show at most 3.8%
of a 2**18 LFQ codebook but 61% of a 2**14 VQ codebook. ``usage_vs_uniform`` divides
the distinct codes seen by the number a perfectly uniform code would show with the same
number of tokens, so 1.0 means "as diverse as possible" for any codebook size. Per-bit
balance and sub-codebook use say the same for LFQ in terms that do not depend on the
token count at all.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class CodebookUsage:
    """How a set of token ids uses a codebook.

    Attributes:
        codebook_size: Number of possible ids.
        tokens: Number of ids measured.
        unique: Distinct ids among them.
        usage: ``unique / codebook_size``: the raw share of the codebook seen.
        expected_unique_uniform: Distinct ids a uniform code would show on average with
            this many tokens: ``K (1 - (1 - 1/K)^N)``.
        usage_vs_uniform: ``unique / expected_unique_uniform`` (1.0 = as diverse as a
            uniform code; comparable across codebook sizes).
        perplexity: ``exp(entropy)`` of the empirical id distribution: the effective
            number of codes in use.
        perplexity_ratio: ``perplexity / min(codebook_size, tokens)``.
        bit_balance: Per bit of the id (most significant first), the share of tokens
            with that bit set; 0.5 is perfectly balanced.
        bit_entropy: Mean over bits of the binary entropy of each bit, in bits (1.0 =
            every bit balanced, 0.0 = every bit constant).
        min_bit_entropy: The least informative bit's entropy, in bits.
        group_bits: Bits per sub-codebook for ``group_usage`` (None when not measured).
        group_usage: Per sub-codebook of ``2**group_bits`` codes (most significant
            first), the share of its codes seen.
    """

    codebook_size: int
    tokens: int
    unique: int
    usage: float
    expected_unique_uniform: float
    usage_vs_uniform: float
    perplexity: float
    perplexity_ratio: float
    bit_balance: list[float]
    bit_entropy: float
    min_bit_entropy: float
    group_bits: int | None = None
    group_usage: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_ids(ids: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().to("cpu").numpy()
    return np.asarray(ids).reshape(-1).astype(np.int64)


def _bits_for(codebook_size: int) -> int:
    if codebook_size < 2 or codebook_size & (codebook_size - 1):
        raise ValueError(f"codebook_size must be a power of two of at least 2, got {codebook_size}")
    return codebook_size.bit_length() - 1


def bit_balance(ids: np.ndarray | torch.Tensor, bits: int) -> np.ndarray:
    """Share of ids with each bit set, most significant bit first (shape ``(bits,)``)."""
    flat = _as_ids(ids)
    if flat.size == 0:
        return np.full(bits, np.nan)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    return ((flat[:, None] >> shifts) & 1).mean(axis=0)


def code_perplexity(ids: np.ndarray | torch.Tensor) -> float:
    """``exp`` of the entropy (nats) of the empirical id distribution."""
    flat = _as_ids(ids)
    if flat.size == 0:
        return 0.0
    _, counts = np.unique(flat, return_counts=True)
    p = counts / counts.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def codebook_usage(
    ids: np.ndarray | torch.Tensor, codebook_size: int, *, group_bits: int | None = None
) -> CodebookUsage:
    """Measure how ``ids`` use a codebook of ``codebook_size`` (a power of two).

    Args:
        ids: Token ids of any shape.
        codebook_size: Number of possible ids.
        group_bits: Also report the share seen of each sub-codebook of this many bits
            (must divide ``log2(codebook_size)``).

    Raises:
        ValueError: an id is outside ``[0, codebook_size)``, or the sizes are invalid.
    """
    bits = _bits_for(codebook_size)
    flat = _as_ids(ids)
    if flat.size and (flat.min() < 0 or flat.max() >= codebook_size):
        raise ValueError(
            f"ids must lie in [0, {codebook_size}), got range [{flat.min()}, {flat.max()}]"
        )
    n = int(flat.size)
    unique = int(np.unique(flat).size)
    # K (1 - (1 - 1/K)^N), computed stably for large K.
    expected = float(-codebook_size * math.expm1(n * math.log1p(-1.0 / codebook_size)))
    perplexity = code_perplexity(flat)
    balance = bit_balance(flat, bits)
    p = np.clip(balance, 1e-12, 1 - 1e-12)
    ent = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    ent = np.where((balance <= 0) | (balance >= 1), 0.0, ent)
    group_usage: list[float] = []
    if group_bits is not None:
        if group_bits < 1 or bits % group_bits:
            raise ValueError(f"group_bits must divide {bits}, got {group_bits}")
        mask = (1 << group_bits) - 1
        for g in range(bits // group_bits - 1, -1, -1):
            group = (flat >> (g * group_bits)) & mask
            group_usage.append(float(np.unique(group).size / (1 << group_bits)))
    return CodebookUsage(
        codebook_size=codebook_size,
        tokens=n,
        unique=unique,
        usage=unique / codebook_size,
        expected_unique_uniform=expected,
        usage_vs_uniform=unique / expected if expected else 0.0,
        perplexity=perplexity,
        perplexity_ratio=perplexity / min(codebook_size, n) if n else 0.0,
        bit_balance=[float(b) for b in balance],
        bit_entropy=float(ent.mean()) if n else 0.0,
        min_bit_entropy=float(ent.min()) if n else 0.0,
        group_bits=group_bits,
        group_usage=group_usage,
    )


def _frames(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames must be (H, W, 3) or (T, H, W, 3), got shape {x.shape}")
    return x


def psnr(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of uint8 frames (mean squared error over all pixels).

    Returns ``inf`` for identical inputs.
    """
    a, b = _frames(original), _frames(reconstructed)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """Mean structural similarity of uint8 frames (Gaussian window 11, sigma 1.5, per channel).

    The window shrinks (odd size) for frames smaller than 11 pixels.
    """
    a, b = _frames(original), _frames(reconstructed)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    x = torch.from_numpy(a.astype(np.float64)).permute(0, 3, 1, 2)
    y = torch.from_numpy(b.astype(np.float64)).permute(0, 3, 1, 2)
    size = min(11, a.shape[1], a.shape[2])
    size -= 1 - size % 2
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).expand(3, 1, size, size).contiguous()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=3)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())
