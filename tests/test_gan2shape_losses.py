"""GAN2Shape's losses on hand-computed cases."""

from __future__ import annotations

import pytest
import torch

from engine.gan2shape.losses import masked_feature_l1, masked_l1, smoothness
from tests.tiny import tiny_channels, tiny_discriminator


def test_masked_l1_averages_over_the_mask_only() -> None:
    first = torch.zeros(1, 3, 4, 4)
    second = torch.zeros(1, 3, 4, 4)
    second[..., :2] = 2.0  # differs by 2 in the left half
    second[..., 2:] = 5.0  # and by 5 in the right half
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1
    assert float(masked_l1(first, second, mask)) == 2.0
    assert float(masked_l1(first, second, torch.ones(1, 1, 4, 4))) == 3.5


def test_smoothness_is_zero_on_planes_and_constant_on_parabolas() -> None:
    rows = torch.arange(8.0)[:, None].expand(8, 8)
    cols = torch.arange(8.0)[None, :].expand(8, 8)
    assert float(smoothness((2 * rows + 3 * cols)[None])) == 0.0
    # d²/dx² of x² is 2 per pixel; the other three second differences vanish
    assert float(smoothness((cols**2)[None, None])) == 2.0
    assert float(smoothness((rows**2)[None])) == 2.0  # d²/dy² alike
    assert float(smoothness((rows * cols)[None])) == 2.0  # the two mixed terms, 1 each


def test_feature_loss_compares_residual_blocks_and_trains_only_the_fake() -> None:
    D = tiny_discriminator(32, channels=tiny_channels(32, width=8)).requires_grad_(False)
    real = torch.rand(2, 3, 16, 16) * 2 - 1  # smaller than D's size: the blocks are convolutional
    mask = torch.ones(2, 1, 16, 16)
    assert float(masked_feature_l1(D, real, real, mask, blocks=4)) == 0.0
    fake = (real + 0.3 * torch.randn_like(real)).requires_grad_(True)
    real.requires_grad_(True)
    loss = masked_feature_l1(D, fake, real, mask, blocks=2)
    loss.backward()
    assert loss > 0 and fake.grad is not None and real.grad is None


def test_feature_loss_adds_one_term_per_block_and_counts_only_the_mask() -> None:
    D = tiny_discriminator(32, channels=tiny_channels(32, width=8)).requires_grad_(False)
    real = torch.rand(1, 3, 16, 16) * 2 - 1
    fake = real + 0.5 * torch.randn_like(real)
    everywhere = torch.ones(1, 1, 16, 16)
    losses = [float(masked_feature_l1(D, fake, real, everywhere, blocks=n)) for n in (1, 2)]
    assert 0 < losses[0] < losses[1]  # blocks=1 compares the first residual block's output
    nowhere = torch.zeros(1, 1, 16, 16)
    assert float(masked_feature_l1(D, fake, real, nowhere, blocks=2)) == 0.0


def test_the_mask_is_averaged_onto_each_feature_map() -> None:
    """A feature cell half inside the object counts half (max pooling would give the backdrop's
    features at the silhouette full weight)."""
    D = tiny_discriminator(32, channels=tiny_channels(32, width=8)).requires_grad_(False)
    real = torch.rand(1, 3, 16, 16) * 2 - 1
    fake = real + 0.5 * torch.randn_like(real)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., :5] = 1  # the edge splits the 2x2 cells of the first block's 8x8 features
    first_block = D.convs[1]
    fake_feature, real_feature = (first_block(D.convs[0](image)) for image in (fake, real))
    assert fake_feature.shape[-1] == 8
    half = torch.nn.functional.avg_pool2d(mask, 2)
    assert set(half.unique().tolist()) == {0.0, 0.5, 1.0}
    expected = masked_l1(fake_feature, real_feature, half)
    assert float(masked_feature_l1(D, fake, real, mask, blocks=1)) == pytest.approx(float(expected))
