"""Codebook-use and reconstruction metrics on inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from video_assets.tokens import bit_balance, code_perplexity, codebook_usage, psnr, ssim


def test_every_code_once_is_full_use():
    u = codebook_usage(np.arange(1024), 1024, group_bits=5)
    assert (u.unique, u.usage) == (1024, 1.0)
    assert u.perplexity == pytest.approx(1024)
    assert u.perplexity_ratio == pytest.approx(1.0)
    assert u.bit_entropy == pytest.approx(1.0) and u.min_bit_entropy == pytest.approx(1.0)
    assert u.group_usage == [1.0, 1.0]
    # A uniform code would show ~63% distinct codes with N = K; a permutation shows all.
    assert u.expected_unique_uniform == pytest.approx(1024 * (1 - (1 - 1 / 1024) ** 1024))
    assert u.usage_vs_uniform > 1.5


def test_collapsed_code_uses_nothing():
    u = codebook_usage(np.full(5000, 7), 2**14)
    assert (u.unique, u.perplexity) == (1, 1.0)
    assert u.usage == pytest.approx(1 / 2**14)
    assert u.usage_vs_uniform < 0.001
    assert u.bit_entropy == 0.0 and u.min_bit_entropy == 0.0


def test_usage_vs_uniform_is_fair_across_codebook_sizes():
    rng = np.random.default_rng(0)
    small = codebook_usage(rng.integers(0, 2**14, 8000), 2**14)
    large = codebook_usage(rng.integers(0, 2**18, 8000), 2**18)
    # Raw shares differ ~16x for equally uniform codes; the fair measure does not.
    assert small.usage > 10 * large.usage
    assert small.usage_vs_uniform == pytest.approx(1.0, abs=0.02)
    assert large.usage_vs_uniform == pytest.approx(1.0, abs=0.02)


def test_bit_balance_and_groups_see_a_stuck_bit():
    ids = np.arange(256) | 0b1000_0000  # top bit always set
    assert bit_balance(ids, 8).tolist() == [1.0] + [0.5] * 7
    u = codebook_usage(ids, 256, group_bits=4)
    assert u.min_bit_entropy == 0.0 and u.bit_entropy == pytest.approx(7 / 8)
    assert u.group_usage == [0.5, 1.0]
    assert code_perplexity(ids) == pytest.approx(128)


def test_ids_out_of_range_are_rejected():
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 16\)"):
        codebook_usage(np.array([0, 16]), 16)
    with pytest.raises(ValueError, match="power of two"):
        codebook_usage(np.array([0]), 12)


def test_psnr_and_ssim():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 32, 48, 3), dtype=np.uint8)
    assert psnr(frames, frames) == math.inf
    assert ssim(frames, frames) == pytest.approx(1.0)
    noisy = np.clip(frames.astype(int) + rng.normal(0, 10, frames.shape), 0, 255).astype(np.uint8)
    noisier = np.clip(frames.astype(int) + rng.normal(0, 40, frames.shape), 0, 255).astype(np.uint8)
    assert 25 < psnr(frames, noisy) < 30  # sigma 10 -> about 28 dB
    assert psnr(frames, noisier) < psnr(frames, noisy)
    assert ssim(frames, noisier) < ssim(frames, noisy) < 1.0
    flat = np.full_like(frames, 128)
    assert ssim(frames, flat) < 0.1
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(frames, frames[:, :16])
