"""Quantizers: lookup-free (LFQ, the production tokenizer) and nearest-neighbour VQ (baseline).

Both wrap ``vector-quantize-pytorch`` rather than re-implementing the quantizer. Both
take a channel-first latent ``(B, D, T, H, W)``, return the quantized latent with a
straight-through gradient, integer token ids ``(B, T, H, W)`` and their auxiliary losses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn
from vector_quantize_pytorch import LFQ, VectorQuantize

from video_assets.tokens.config import TokenizerConfig


@dataclass
class QuantizerOutput:
    """What a quantizer returns for one latent batch.

    Attributes:
        quantized: Quantized latent ``(B, D, T, H, W)``; in training its gradient flows
            straight through to the encoder output.
        ids: Token ids ``(B, T, H, W)``, int64, in ``[0, codebook_size)``.
        aux_loss: The weighted sum of the quantizer's losses, to add to the
            reconstruction loss (zero outside training).
        commitment: Unweighted commitment loss (mean squared distance between latent
            and its code).
        entropy: Unweighted entropy penalty (per-token entropy minus
            ``diversity_gamma`` x batch entropy); zero for VQ.
        batch_entropy: Entropy in nats of the batch-averaged code distribution, averaged
            over LFQ sub-codebooks; zero for VQ.
    """

    quantized: torch.Tensor
    ids: torch.Tensor
    aux_loss: torch.Tensor
    commitment: torch.Tensor
    entropy: torch.Tensor
    batch_entropy: torch.Tensor


class Quantizer(nn.Module, ABC):
    """Base class: maps a latent to discrete ids and ids back to a latent."""

    codebook_size: int
    bits: int

    @abstractmethod
    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        """Quantize a latent ``(B, D, T, H, W)``."""

    @abstractmethod
    def ids_to_latent(self, ids: torch.Tensor) -> torch.Tensor:
        """The quantized latent ``(B, D, T, H, W)`` of ids ``(B, T, H, W)``."""


class LFQQuantizer(Quantizer):
    """Lookup-free quantization (MagViT-v2): the sign of each of D latent dimensions is one bit.

    The token id is the D-bit integer whose most significant bit is latent channel 0.
    The entropy penalty is computed over ``D / group_bits`` sub-codebooks of
    ``2**group_bits`` codes each (the Open-MAGVIT2 factorization) because the batch
    entropy against the full ``2**D`` codebook costs ``tokens x 2**D`` per step; the
    quantization itself, and the id, do not depend on the factorization.
    """

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.bits = config.bits
        self.group_bits = config.group_bits
        self.groups = config.bits // config.group_bits
        self.codebook_size = 2**config.bits
        self.lfq = LFQ(
            dim=config.bits,
            codebook_size=2**config.group_bits,
            num_codebooks=self.groups,
            keep_num_codebooks_dim=True,
            entropy_loss_weight=config.entropy_weight,
            diversity_gamma=config.diversity_gamma,
            commitment_loss_weight=config.commitment_weight,
        )
        shifts = torch.arange(self.groups - 1, -1, -1) * self.group_bits
        self.register_buffer("group_shift", shifts, persistent=False)
        self.register_buffer("bit_shift", torch.arange(self.bits - 1, -1, -1), persistent=False)

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        (quantized, group_ids, aux), breakdown = self.lfq(z, return_loss_breakdown=True)
        ids = (group_ids.long() << self.group_shift).sum(dim=-1)
        entropy = breakdown.per_sample_entropy - self.lfq.diversity_gamma * breakdown.batch_entropy
        return QuantizerOutput(
            quantized=quantized,
            ids=ids,
            aux_loss=aux,
            commitment=breakdown.commitment,
            entropy=entropy,
            batch_entropy=breakdown.batch_entropy,
        )

    def ids_to_latent(self, ids: torch.Tensor) -> torch.Tensor:
        shift: torch.Tensor = self.bit_shift  # type: ignore[assignment]
        bits = (ids.long().unsqueeze(1) >> shift.view(1, -1, 1, 1, 1)) & 1
        return bits.to(torch.float32) * 2.0 - 1.0


class VQQuantizer(Quantizer):
    """Plain nearest-neighbour VQ baseline (VQ-VAE with an EMA codebook).

    No k-means initialisation, no dead-code restarts and the plain straight-through
    estimator (not the rotation trick): the setting in which VQ codebooks are known to
    collapse, and which LFQ is measured against.
    """

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.codebook_size = config.vq_codebook_size
        self.bits = config.code_bits
        self.vq = VectorQuantize(
            dim=config.vq_dim,
            codebook_size=config.vq_codebook_size,
            accept_3d_fmap=True,
            commitment_weight=config.commitment_weight,
            rotation_trick=False,
            kmeans_init=False,
            threshold_ema_dead_code=0,
        )

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        quantized, ids, loss, breakdown = self.vq(z, return_loss_breakdown=True)
        zero = z.new_zeros(())
        return QuantizerOutput(
            quantized=quantized,
            ids=ids.long(),
            aux_loss=loss,
            commitment=breakdown.commitment,
            entropy=zero,
            batch_entropy=zero,
        )

    def ids_to_latent(self, ids: torch.Tensor) -> torch.Tensor:
        return self.vq.get_output_from_indices(ids.long())


def build_quantizer(config: TokenizerConfig) -> Quantizer:
    """The quantizer named by ``config.quantizer``."""
    return LFQQuantizer(config) if config.quantizer == "lfq" else VQQuantizer(config)
