"""Random views and lights for GAN2Shape's pseudo samples.

Views are drawn from a Gaussian over raw views (the release fits it to its view net's
predictions) with the yaw scaled by the preset's factor; lights relight the current shape with
a uniformly random direction and a random change of the diffuse and ambient terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.gan2shape.presets import Gan2ShapePreset

_YAW = 1


@dataclass
class Gaussian:
    """A multivariate normal: mean `[D]` and covariance `[D, D]`."""

    mean: torch.Tensor
    cov: torch.Tensor

    def sample(self, n: int, *, generator: torch.Generator) -> torch.Tensor:
        """`n` samples `[n, D]`; a singular (PSD) covariance is fine."""
        eigenvalues, eigenvectors = torch.linalg.eigh(self.cov)  # [D], [D, D]
        root = eigenvectors * eigenvalues.clamp(min=0).sqrt()  # [D, D], root @ root.T = cov
        noise = torch.randn(n, self.mean.shape[0], generator=generator).to(self.mean)  # [n, D]
        return self.mean + noise @ root.T


def fit_gaussian(samples: torch.Tensor) -> Gaussian:
    """Maximum-likelihood Gaussian of `samples [N, D]` (e.g. predicted raw views of GAN images)."""
    mean = samples.mean(dim=0)  # [D]
    centred = samples - mean
    return Gaussian(mean=mean, cov=centred.T @ centred / samples.shape[0])


def view_distribution(preset: Gan2ShapePreset, device: torch.device) -> Gaussian:
    """The preset's Gaussian over raw views."""
    return Gaussian(
        mean=torch.tensor(preset.view_mean, device=device),
        cov=torch.tensor(preset.view_cov, device=device),
    )


def sample_pseudo_views(
    preset: Gan2ShapePreset, n: int, *, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Raw pseudo views `[n, 6]`: Gaussian samples with the yaw scaled by `view_yaw_scale`."""
    raw = view_distribution(preset, device).sample(n, generator=generator)  # [n, 6]
    scale = torch.ones(6, device=device)
    scale[_YAW] = preset.view_yaw_scale
    return raw * scale


def sample_pseudo_lights(
    preset: Gan2ShapePreset,
    light: torch.Tensor,
    n: int,
    *,
    generator: torch.Generator,
) -> torch.Tensor:
    """Lights `[n, 4]` = (ambient, diffuse, dx, dy) that relight a shape lit by `light [1, 4]`.

    dx ~ U(dx range), dy ~ U(dy range), r ~ U(diffuse range); diffuse = diffuse₀ + r and
    ambient = ambient₀ + ambient_per_diffuse · r, as the release's pseudo samples.
    """
    ranges = preset.pseudo_light

    def uniform(bounds: tuple[float, float]) -> torch.Tensor:
        low, high = bounds
        return (low + (high - low) * torch.rand(n, generator=generator)).to(light)  # [n]

    dx, dy, r = uniform(ranges.dx), uniform(ranges.dy), uniform(ranges.diffuse)
    ambient = light[:, 0] + ranges.ambient_per_diffuse * r  # [n]
    diffuse = light[:, 1] + r
    return torch.stack([ambient, diffuse, dx, dy], dim=1)
