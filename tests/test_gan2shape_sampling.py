"""Pseudo-sample views and lights: ranges, yaw scaling, Gaussian fits."""

from __future__ import annotations

import torch

from engine.gan2shape.presets import PRESETS
from engine.gan2shape.sampling import (
    Gaussian,
    fit_gaussian,
    sample_pseudo_lights,
    sample_pseudo_views,
)

CPU = torch.device("cpu")


def test_pseudo_lights_follow_the_release_ranges() -> None:
    preset = PRESETS["face"]
    base = torch.tensor([[0.4, 0.5, 0.0, 0.0]])
    lights = sample_pseudo_lights(preset, base, 4000, generator=torch.Generator().manual_seed(0))
    ambient, diffuse, dx, dy = lights.unbind(1)
    assert dx.min() >= -1 and dx.max() <= 1 and dx.min() < -0.95 and dx.max() > 0.95
    assert dy.min() >= -0.2 and dy.max() <= 0.8 and dy.min() < -0.15 and dy.max() > 0.75
    r = diffuse - 0.5
    assert r.min() >= -0.1 - 1e-6 and r.max() <= 0.6 + 1e-6
    assert torch.allclose(ambient, 0.4 - 0.6 * r, atol=1e-6)


def test_pseudo_views_scale_the_yaw() -> None:
    face = PRESETS["face"]
    car = PRESETS["car"]
    views = sample_pseudo_views(face, 20000, generator=torch.Generator().manual_seed(0), device=CPU)
    plain = sample_pseudo_views(car, 20000, generator=torch.Generator().manual_seed(0), device=CPU)
    assert torch.allclose(views[:, 1], 1.2 * plain[:, 1])
    assert torch.equal(views[:, [0, 2, 3, 4]], plain[:, [0, 2, 3, 4]])
    std = plain.std(dim=0)
    expected = torch.tensor(car.view_cov).diagonal().sqrt()
    assert torch.allclose(std, expected, atol=0.01)
    assert views[:, 5].abs().max() == 0  # zero variance: no z translation


def test_gaussian_fit_recovers_a_sampled_gaussian() -> None:
    mean = torch.tensor([0.1, -0.2, 0.3])
    factor = torch.tensor([[0.3, 0.0, 0.0], [0.1, 0.2, 0.0], [0.0, -0.1, 0.1]])
    source = Gaussian(mean=mean, cov=factor @ factor.T)
    fitted = fit_gaussian(source.sample(50000, generator=torch.Generator().manual_seed(1)))
    assert torch.allclose(fitted.mean, mean, atol=0.01)
    assert torch.allclose(fitted.cov, source.cov, atol=0.005)
    three = fit_gaussian(torch.tensor([[0.0], [1.0], [2.0]]))  # the maximum-likelihood
    torch.testing.assert_close(three.cov, torch.tensor([[2 / 3]]))  # (biased) covariance


def test_pseudo_views_centre_on_the_presets_mean_view() -> None:
    """The release's views (read from its files) are centred on its view net's mean reading,
    not on the canonical view; the yaw of the centre is scaled too."""
    mean = (0.1, -0.2, 0.05, 0.03, -0.04, 0.0)
    preset = PRESETS["face"].replace(view_mean=mean)
    generator = torch.Generator().manual_seed(0)
    views = sample_pseudo_views(preset, 20000, generator=generator, device=CPU)
    expected = torch.tensor(mean) * torch.tensor([1.0, 1.2, 1.0, 1.0, 1.0, 1.0])
    torch.testing.assert_close(views.mean(dim=0), expected, atol=0.01, rtol=0)
