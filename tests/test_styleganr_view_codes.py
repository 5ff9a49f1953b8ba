"""View codes as a multi-view data source: each pair carries the cameras of the two different
views it shows, and `sample_w` pulls w towards the mean w by exactly the truncation."""

from __future__ import annotations

import pytest
import torch

from engine.stylegan2 import Generator
from engine.styleganr import ViewCodes, gan_view_pairs
from engine.styleganr.view_codes import sample_w
from tests.tiny import tiny_generator

SIZE = 16
NUM_VIEWS = 3
PAIRS = 64


@pytest.fixture()
def generator() -> Generator:
    return tiny_generator(SIZE, style_dim=16, n_mlp=2).eval()


def test_pairs_carry_the_cameras_of_the_two_different_views_they_show(
    generator: Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each image of a pair is labelled with its own view's camera, and the two views of a
    pair differ."""
    index = torch.arange(NUM_VIEWS, dtype=torch.float32)  # [V]
    codes = index[:, None, None].repeat(1, 2, generator.style_dim)  # view v's code is all v
    cameras = torch.stack([90 * index, torch.zeros(NUM_VIEWS), torch.ones(NUM_VIEWS)], 1)
    drawn: list[torch.Tensor] = []

    def synthesis(wplus: torch.Tensor) -> torch.Tensor:
        drawn.append(wplus[:, 0, 0])  # [2B] the view each image was drawn in
        return torch.zeros(len(wplus), 3, SIZE, SIZE)

    monkeypatch.setattr(generator, "synthesis", synthesis)
    source = gan_view_pairs(generator, ViewCodes(codes, cameras), lambda images: images[:, :1])
    pairs = source(PAIRS, torch.Generator().manual_seed(0))
    (views,) = drawn
    views = views.view(PAIRS, 2)
    assert torch.equal(pairs.cameras[..., 0], 90 * views)
    assert bool((views[:, 0] != views[:, 1]).all())


def test_sample_w_pulls_w_towards_the_mean_by_the_truncation(generator: Generator) -> None:
    """Truncation 0.7 leaves w 0.7 of its way from the mean (with the lerp's ends swapped,
    0.3)."""
    centre = generator.mean_latent(1024, generator=torch.Generator().manual_seed(0))  # [1, D]
    free = sample_w(generator, 8, seed=3, truncation=1.0)  # [8, D]
    truncated = sample_w(generator, 8, seed=3, truncation=0.7)
    ratio = (truncated - centre).norm(dim=1) / (free - centre).norm(dim=1)  # [8]
    assert torch.allclose(ratio, torch.full_like(ratio, 0.7))
    assert torch.allclose(truncated, torch.lerp(centre, free, 0.7), atol=1e-6)
