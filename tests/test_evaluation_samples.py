"""Seeded GAN samples: batch independence, clamping and truncation towards the mean w."""

from __future__ import annotations

import pytest
import torch

from engine.evaluation.samples import generate_samples
from engine.stylegan2 import Generator
from tests.tiny import tiny_generator


@pytest.fixture(scope="module")
def generator() -> Generator:
    return tiny_generator(16, style_dim=16, n_mlp=2).eval()


def test_a_samples_image_does_not_depend_on_the_batch_size(generator: Generator) -> None:
    """Sample i is drawn from the same z whatever the batches, and every sample is made."""
    whole = generate_samples(generator, 5, seed=3, batch_size=5)
    assert whole.shape == (5, 3, 16, 16)
    torch.testing.assert_close(generate_samples(generator, 5, seed=3, batch_size=2), whole)
    assert not torch.equal(generate_samples(generator, 5, seed=4), whole)


def test_samples_are_clamped_to_the_image_range(generator: Generator) -> None:
    """The samples' pixels stay in [-1, 1] (the tiny generator's raw output goes past it)."""
    with torch.no_grad():
        raw = generator(torch.randn(4, 16, generator=torch.Generator().manual_seed(0)))
    assert raw.abs().max() > 1
    samples = generate_samples(generator, 4, seed=0)
    torch.testing.assert_close(samples, raw.clamp(-1, 1))


def test_full_truncation_draws_the_stored_mean_w_for_every_sample() -> None:
    """Truncation pulls w towards the generator's stored latent_avg when it has one."""
    generator = tiny_generator(16, style_dim=16, n_mlp=2).eval()
    with torch.no_grad():
        generator.latent_avg = generator.mapping(torch.randn(1, 16))  # [1, 16]
        mean_image = generator(torch.zeros(1, 16), truncation=0.0).clamp(-1, 1)
    samples = generate_samples(generator, 3, seed=0, truncation=0.0)
    torch.testing.assert_close(samples, mean_image.expand(3, -1, -1, -1))


def test_truncation_without_a_stored_mean_pulls_towards_seeded_z(generator: Generator) -> None:
    """Without latent_avg, truncation uses the mean w of seeded z: full truncation draws one
    image, and half truncation changes the samples."""
    samples = generate_samples(generator, 3, seed=0, truncation=0.0)
    torch.testing.assert_close(samples, samples[:1].expand(3, -1, -1, -1))
    assert not torch.equal(
        generate_samples(generator, 3, seed=0, truncation=0.5), generate_samples(generator, 3)
    )


def test_progress_counts_the_samples_made_up_to_the_total(generator: Generator) -> None:
    """Progress reports each batch's running count, the last one exactly the total."""
    reports = []
    generate_samples(
        generator, 5, batch_size=2, progress=lambda done, total, _: reports.append((done, total))
    )
    assert reports == [(2, 5), (4, 5), (5, 5)]
