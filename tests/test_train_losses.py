"""StyleGAN2 training objectives and the EMA against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from engine.stylegan2 import Discriminator, DiscriminatorConfig
from engine.stylegan2.training.ema import ema_beta, update_ema
from engine.stylegan2.training.losses import (
    d_logistic_loss,
    g_nonsaturating_loss,
    path_lengths,
    r1_penalty,
)


class QuadraticCritic(nn.Module):
    """D(x) = Σ a·x², whose input gradient 2·a·x is known in closed form."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(0.7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.a * x.square()).sum(dim=(1, 2, 3))[:, None]  # [B, 1]


def test_logistic_losses_match_their_formulas() -> None:
    real = torch.tensor([[2.0], [-1.0]])
    fake = torch.tensor([[0.5], [-3.0]])

    def softplus(v: float) -> float:
        return math.log1p(math.exp(v))

    expected_d = (softplus(0.5) + softplus(-3.0)) / 2 + (softplus(-2.0) + softplus(1.0)) / 2
    assert d_logistic_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)
    expected_g = (softplus(-0.5) + softplus(3.0)) / 2
    assert g_nonsaturating_loss(fake).item() == pytest.approx(expected_g, rel=1e-6)
    # At D = 0 everywhere the discriminator loss is 2·log 2.
    assert d_logistic_loss(torch.zeros(3, 1), torch.zeros(3, 1)).item() == pytest.approx(
        2 * math.log(2)
    )


def test_r1_penalty_is_the_hand_computed_gradient_norm_and_trains_d() -> None:
    critic = QuadraticCritic()
    x = torch.randn(3, 3, 2, 2, generator=torch.Generator().manual_seed(0), requires_grad=True)
    penalty = r1_penalty(x, critic(x))
    a = critic.a.item()
    expected = (2 * a * x.detach()).square().sum(dim=(1, 2, 3)).mean()  # |2·a·x|² per image
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-6)
    # The graph is kept: d(penalty)/da = mean Σ 8·a·x².
    penalty.backward()
    expected_grad = (8 * a * x.detach().square()).sum(dim=(1, 2, 3)).mean()
    assert critic.a.grad.item() == pytest.approx(expected_grad.item(), rel=1e-6)


def test_r1_penalty_of_the_discriminator_matches_finite_differences() -> None:
    torch.manual_seed(0)
    config = DiscriminatorConfig(size=8, channels={4: 4, 8: 4}, mbstd_group_size=1)
    discriminator = Discriminator(config).double().set_impl("reference")
    images = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    penalty = r1_penalty(images, discriminator(images))
    # With stddev groups of one, images are scored independently: all 2·192 central
    # differences of every pixel of every image fit in one batch.
    step = 1e-6
    flat = images.detach().view(2, 1, -1)  # [2, 1, 192]
    offsets = torch.eye(flat.shape[-1], dtype=torch.float64) * step  # [192, 192]
    with torch.no_grad():
        plus = discriminator((flat + offsets).view(-1, 3, 8, 8)).view(2, -1)  # [2, 192]
        minus = discriminator((flat - offsets).view(-1, 3, 8, 8)).view(2, -1)
    numeric = (plus - minus) / (2 * step)  # ∂D(x_b)/∂x_b
    expected = numeric.square().sum(dim=1).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-6)
    penalty.backward()  # double backward reaches the convolution weights
    assert discriminator.convs[0][0].weight.grad.abs().sum() > 0


def test_path_lengths_of_a_linear_generator() -> None:
    # images = (Σ_layers w) · A, so J_wᵀ y = y · Aᵀ for every layer, in closed form.
    batch, layers, dim = 3, 2, 4
    matrix = torch.randn(dim, 3 * 2 * 2, generator=torch.Generator().manual_seed(1))
    matrix.requires_grad_(True)
    ws = torch.randn(batch, layers, dim, generator=torch.Generator().manual_seed(2))
    ws.requires_grad_(True)
    images = (ws.sum(dim=1) @ matrix).view(batch, 3, 2, 2)
    direction = torch.randn(images.shape, generator=torch.Generator().manual_seed(3))
    lengths = path_lengths(images, ws, direction)
    per_layer = (direction / 2.0).view(batch, -1) @ matrix.t()  # [B, D]; y = direction/√(2·2)
    expected = per_layer.square().sum(dim=1).sqrt()
    assert torch.allclose(lengths, expected, rtol=1e-5)
    # The graph is kept, so the penalty trains the generator's weights.
    (grad,) = torch.autograd.grad(lengths.sum(), matrix)
    (expected_grad,) = torch.autograd.grad(expected.sum(), matrix)
    assert torch.allclose(grad, expected_grad, rtol=1e-5)


def test_ema_beta_halves_the_weight_every_half_life() -> None:
    beta = ema_beta(batch=16, images_seen=10**6, half_life_kimg=2.0, rampup=None)
    assert beta ** (2000 / 16) == pytest.approx(0.5)
    # Early in training the ramp-up shortens the half-life to rampup · images seen.
    early = ema_beta(batch=16, images_seen=1600, half_life_kimg=2.0, rampup=0.05)
    assert early ** (80 / 16) == pytest.approx(0.5)


def test_update_ema_moves_parameters_and_copies_buffers() -> None:
    model, average = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        average.weight.copy_(torch.tensor([3.0, 2.0, 1.0]))
        model.running_mean.copy_(torch.tensor([5.0, 6.0, 7.0]))
    update_ema(average, model, beta=0.75)
    assert torch.allclose(average.weight, torch.tensor([2.5, 2.0, 1.5]))
    assert torch.equal(average.running_mean, model.running_mean)
    assert model.weight.tolist() == [1.0, 2.0, 3.0]
