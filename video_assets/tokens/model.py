"""Causal 3D-convolutional video tokenizer in the MagViT-v2 manner.

Layout conventions:

- Video tensors are ``(B, 3, T, H, W)`` floats in ``[-1, 1]``.
- Every temporal convolution is causal: it pads the past (by repeating the first frame)
  and never the future, so latent frame ``j`` depends only on input frames ``<= j * s``
  (``s`` = temporal stride).
- No normalisation layers. Each residual branch starts at zero (the block starts as the
  identity, as in Fixup and SkipInit) and every down- and upsampling has a
  parameter-free shortcut (average pooling, nearest-neighbour repeat, as in DC-AE), so
  the untrained network already passes each token cell's mean colour towards the
  output. With per-frame GroupNorm instead, the benchmark's decoders stayed below a
  clip's mean colour (docs/tokens.md).
- The first frame is coded on its own: ``T`` frames give ``T' = 1 + ceil((T - 1) / s)``
  latent frames; a tail shorter than ``s`` is padded by repeating the last frame.
  The decoder inverts this: ``T'`` latent frames give ``1 + s * (T' - 1)`` frames.
- Because everything is causal, long clips are encoded and decoded in chunks with a
  small cache per convolution (``chunk_frames``); the result equals the one-pass result.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from video_assets.tokens.config import TokenizerConfig
from video_assets.tokens.quantizers import Quantizer, QuantizerOutput, build_quantizer


@dataclass
class _StreamState:
    seen: int = 0
    tail: torch.Tensor | None = None
    tail_start: int = 0


class CausalConv3d(nn.Module):
    """A 3D convolution that pads only the past along time.

    Output frame ``j`` is computed from input frames ``j * st - (kt - 1) .. j * st``;
    indices before 0 repeat frame 0. In streaming mode the frames a later chunk still
    needs are kept, so chunked and one-pass outputs are equal.
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: tuple[int, int, int] = (3, 3, 3),
        stride: tuple[int, int, int] = (1, 1, 1),
    ):
        super().__init__()
        kt, kh, kw = kernel
        if kt < stride[0]:
            raise ValueError(
                f"temporal kernel {kt} must be at least the temporal stride {stride[0]}"
            )
        self.kt, self.st = kt, stride[0]
        self.conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=(0, kh // 2, kw // 2))
        self.stream: _StreamState | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = self._with_past(x)
        return self.conv(seq)

    def _with_past(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` preceded by the past frames the convolution needs (updates the stream state)."""
        state = self.stream
        if state is None or state.seen == 0:
            pad = x[:, :, :1].expand(-1, -1, self.kt - 1, -1, -1)
            seq = torch.cat([pad, x], dim=2)
            seq_start = -(self.kt - 1)
        else:
            assert state.tail is not None
            seq = torch.cat([state.tail, x], dim=2)
            seq_start = state.tail_start
        if seq.shape[2] < self.kt:
            raise RuntimeError(
                f"causal conv got {x.shape[2]} new frames, fewer than its stride; "
                "stream chunks must be multiples of the temporal stride"
            )
        if state is not None:
            state.seen += x.shape[2]
            new_start = self.st * math.ceil(state.seen / self.st) - (self.kt - 1)
            state.tail = seq[:, :, new_start - seq_start :].detach()
            state.tail_start = new_start
        return seq


class Downsample(CausalConv3d):
    """A strided causal convolution (spatial 2x, temporal 1x or 2x) plus a shortcut.

    The shortcut is parameter-free: output frame ``j`` adds the 2x2 average pool of the
    newest input frame its convolution window sees (so it stays causal, and chunked
    streaming gives the same result). Channels are repeated or averaged in groups when
    the widths differ by a whole factor; otherwise there is no shortcut.
    """

    def __init__(self, cin: int, cout: int, temporal: bool):
        super().__init__(cin, cout, stride=(2 if temporal else 1, 2, 2))
        self.cin, self.cout = cin, cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = self._with_past(x)
        out = self.conv(seq)
        newest = seq[:, :, self.kt - 1 :: self.st]
        b, c, t, h, w = newest.shape
        pooled = F.avg_pool2d(newest.transpose(1, 2).reshape(b * t, c, h, w), 2)
        pooled = pooled.reshape(b, t, c, h // 2, w // 2).transpose(1, 2)
        if self.cout == self.cin:
            return out + pooled
        if self.cout % self.cin == 0:
            return out + pooled.repeat_interleave(self.cout // self.cin, dim=1)
        if self.cin % self.cout == 0:
            return out + pooled.reshape(
                b, self.cout, self.cin // self.cout, t, *out.shape[3:]
            ).mean(2)
        return out


class TemporalUpsample(nn.Module):
    """Repeat each frame ``factor`` times and drop the first ``factor - 1`` of the clip.

    ``T'`` frames become ``1 + factor * (T' - 1)``: the first latent frame decodes to
    the first frame alone, mirroring the encoder.
    """

    def __init__(self, factor: int):
        super().__init__()
        self.factor = factor
        self.stream: _StreamState | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.factor == 1:
            return x
        first = self.stream is None or self.stream.seen == 0
        if self.stream is not None:
            self.stream.seen += x.shape[2]
        x = x.repeat_interleave(self.factor, dim=2)
        return x[:, :, self.factor - 1 :] if first else x


class ResBlock(nn.Module):
    """``skip(x) + conv2(silu(conv1(silu(x))))``, starting as ``skip(x)``.

    ``conv2`` is initialised to zero, so an untrained block is the identity (or its
    1x1x1 skip convolution where the width changes).
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = CausalConv3d(cin, cout)
        self.conv2 = CausalConv3d(cout, cout)
        nn.init.zeros_(self.conv2.conv.weight)
        if self.conv2.conv.bias is not None:
            nn.init.zeros_(self.conv2.conv.bias)
        self.skip = CausalConv3d(cin, cout, (1, 1, 1)) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(x))
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


def _temporal_levels(config: TokenizerConfig) -> list[bool]:
    """Which encoder levels halve time: the last log2(temporal_stride) of them."""
    n = int(math.log2(config.temporal_stride))
    return [i >= config.levels - n for i in range(config.levels)]


class Encoder(nn.Module):
    """Video ``(B, 3, T, H, W)`` to latent ``(B, D, T', H/s, W/s)``."""

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        widths = [config.channels * m for m in config.channel_mult]
        self.conv_in = CausalConv3d(3, widths[0])
        blocks: list[nn.Module] = []
        cin = widths[0]
        for width, temporal in zip(widths, _temporal_levels(config), strict=True):
            for _ in range(config.res_blocks):
                blocks.append(ResBlock(cin, width))
                cin = width
            blocks.append(Downsample(cin, width, temporal))
            cin = width
        blocks.append(ResBlock(cin, cin))
        self.blocks = nn.Sequential(*blocks)
        self.conv_out = CausalConv3d(cin, config.latent_dim, (1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.conv_in(x))
        return self.conv_out(F.silu(h))


class Upsample(nn.Module):
    """Temporal (optional) and 2x nearest-neighbour spatial upsampling, then ``x + conv(x)``."""

    def __init__(self, channels: int, temporal: bool):
        super().__init__()
        self.time = TemporalUpsample(2 if temporal else 1)
        self.conv = CausalConv3d(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.time(x)
        b, c, t, h, w = x.shape
        x = F.interpolate(x.reshape(b, c * t, h, w), scale_factor=2.0, mode="nearest")
        x = x.reshape(b, c, t, 2 * h, 2 * w)
        return x + self.conv(x)


class Decoder(nn.Module):
    """Latent ``(B, D, T', H', W')`` to video ``(B, 3, 1 + s (T' - 1), H' x, W' x)``."""

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        widths = [config.channels * m for m in config.channel_mult]
        cin = widths[-1]
        self.conv_in = CausalConv3d(config.latent_dim, cin)
        blocks: list[nn.Module] = [ResBlock(cin, cin)]
        for width, temporal in reversed(list(zip(widths, _temporal_levels(config), strict=True))):
            for _ in range(config.res_blocks):
                blocks.append(ResBlock(cin, width))
                cin = width
            blocks.append(Upsample(cin, temporal))
        self.blocks = nn.Sequential(*blocks)
        self.conv_out = CausalConv3d(cin, 3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # No activation on the output: pixels are regressed directly (clamped only when decoding).
        h = self.blocks(self.conv_in(z))
        return self.conv_out(F.silu(h))


@dataclass
class TokenizerOutput:
    """A training forward pass.

    Attributes:
        reconstruction: Decoded video ``(B, 3, T_pad, H, W)`` (not clamped).
        ids: Token ids ``(B, T', H', W')``, int64.
        quant: The quantizer's output with its losses.
    """

    reconstruction: torch.Tensor
    ids: torch.Tensor
    quant: QuantizerOutput


@contextlib.contextmanager
def _streaming(module: nn.Module) -> Iterator[None]:
    stateful = [m for m in module.modules() if isinstance(m, CausalConv3d | TemporalUpsample)]
    for m in stateful:
        m.stream = _StreamState()
    try:
        yield
    finally:
        for m in stateful:
            m.stream = None


class VideoTokenizer(nn.Module):
    """Causal encoder, quantizer (LFQ or VQ) and causal decoder.

    The encoder and decoder are built before the quantizer, so two tokenizers built
    from the same seed with different quantizers start from the same encoder and
    decoder weights.

    Args:
        config: Architecture and quantizer settings.
    """

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantizer: Quantizer = build_quantizer(config)

    def pad_frames(self, video: torch.Tensor) -> torch.Tensor:
        """Repeat the last frame so ``T = 1 + k * temporal_stride``."""
        t = video.shape[2]
        target = self.config.padded_frames(t)
        if target == t:
            return video
        return torch.cat([video, video[:, :, -1:].expand(-1, -1, target - t, -1, -1)], dim=2)

    def forward(self, video: torch.Tensor) -> TokenizerOutput:
        """Encode, quantize and decode ``video`` ``(B, 3, T, H, W)`` in one pass."""
        z = self.encoder(self.pad_frames(video))
        quant = self.quantizer(z)
        return TokenizerOutput(
            reconstruction=self.decoder(quant.quantized), ids=quant.ids, quant=quant
        )

    @torch.no_grad()
    def encode(self, video: torch.Tensor, chunk_frames: int | None = None) -> torch.Tensor:
        """Token ids ``(B, T', H', W')`` (int64) of ``video`` ``(B, 3, T, H, W)``.

        Args:
            video: Frames in ``[-1, 1]``; H and W multiples of the spatial stride.
            chunk_frames: Encode at most this many frames at a time (a multiple of the
                temporal stride) to bound memory; ``None`` encodes in one pass. The ids
                are the same either way.

        The quantizer runs in eval mode here even if the model is training, so encoding
        never updates a VQ codebook's running averages.
        """
        was_training = self.quantizer.training
        self.quantizer.eval()
        try:
            return self._encode(self.pad_frames(video), chunk_frames)
        finally:
            self.quantizer.train(was_training)

    def _encode(self, video: torch.Tensor, chunk_frames: int | None) -> torch.Tensor:
        if chunk_frames is None or chunk_frames >= video.shape[2]:
            return self.quantizer(self.encoder(video)).ids
        _check_chunk("chunk_frames", chunk_frames, self.config.temporal_stride)
        parts = []
        with _streaming(self.encoder):
            # The first chunk holds 1 + k * stride frames, every later one k * stride.
            bounds = [0, 1 + chunk_frames - self.config.temporal_stride]
            while bounds[-1] < video.shape[2]:
                bounds.append(min(bounds[-1] + chunk_frames, video.shape[2]))
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                parts.append(self.quantizer(self.encoder(video[:, :, a:b])).ids)
        return torch.cat(parts, dim=1)

    @torch.no_grad()
    def decode(self, ids: torch.Tensor, chunk_latents: int | None = None) -> torch.Tensor:
        """Video ``(B, 3, 1 + s (T' - 1), H, W)`` in ``[-1, 1]`` from ids ``(B, T', H', W')``.

        Args:
            ids: Token ids as returned by :meth:`encode`.
            chunk_latents: Decode at most this many latent frames at a time; ``None``
                decodes in one pass. The frames are the same either way.
        """
        z = self.quantizer.ids_to_latent(ids)
        if chunk_latents is None or chunk_latents >= z.shape[2]:
            return self.decoder(z).clamp(-1.0, 1.0)
        _check_chunk("chunk_latents", chunk_latents, 1)
        with _streaming(self.decoder):
            parts = [
                self.decoder(z[:, :, a : a + chunk_latents])
                for a in range(0, z.shape[2], chunk_latents)
            ]
        return torch.cat(parts, dim=2).clamp(-1.0, 1.0)


def _check_chunk(name: str, value: int, multiple: int) -> None:
    if value < multiple or value % multiple:
        raise ValueError(f"{name} must be a positive multiple of {multiple}, got {value}")
