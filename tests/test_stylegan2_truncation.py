"""Where truncation pulls a generator's w: one centre for every caller and sample seed."""

from __future__ import annotations

import torch

from engine.evaluation.samples import generate_samples
from tests.tiny import tiny_generator


def test_the_truncation_centre_is_the_stored_mean_or_one_shared_estimate() -> None:
    """Every caller (and every sample seed) truncates towards the same w: the checkpoint's
    latent_avg, else the mean of 4096 z from seed 0."""
    generator = tiny_generator(16, style_dim=16, n_mlp=2).eval()
    estimate = generator.truncation_centre()
    expected = generator.mean_latent(4096, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(estimate, expected)
    first = generate_samples(generator, 2, seed=1, truncation=0.0)
    second = generate_samples(generator, 2, seed=2, truncation=0.0)
    torch.testing.assert_close(first, second)  # fully truncated: the centre alone, whatever seed
    generator.latent_avg = torch.ones(16)
    torch.testing.assert_close(generator.truncation_centre(), torch.ones(1, 16))
