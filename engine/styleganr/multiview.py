"""Multi-view training data for the inverse graphics network: the same object seen from two
cameras, with silhouettes.

Two sources produce `ViewPairs`: the synthetic car world (exact cameras and masks, for tests
and for the labeller) here, and a StyleGAN2 generator driven by labelled view codes
(`engine.styleganr.view_codes.gan_view_pairs`), the paper's "GAN as a multi-view data
generator".
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from engine.styleganr.camera import camera_from_view
from engine.synth.car import car_views_for_framing
from engine.synth.generate import render_scene, sample_scene
from engine.synth.scene import CAR_VIEW_RANGES, car_view


@dataclass
class ViewPairs:
    """``B`` objects, each seen in two views."""

    images: torch.Tensor
    """``[B, 2, 3, H, W]`` in [-1, 1]."""
    masks: torch.Tensor
    """``[B, 2, 1, H, W]`` object silhouettes in [0, 1]."""
    cameras: torch.Tensor
    """``[B, 2, 3]`` (azimuth°, elevation°, scale) of each view."""

    def to(self, device: torch.device | str) -> ViewPairs:
        """The same pairs on ``device``."""
        return ViewPairs(self.images.to(device), self.masks.to(device), self.cameras.to(device))


def synthetic_view_pairs(
    seeds: list[int],
    *,
    size: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> ViewPairs:
    """Synthetic cars of ``seeds``: view 0 is each seed's own view, view 1 a random orbit view
    (azimuth 0–360°, elevation in the world's range) of the same car, light and background."""
    scene = sample_scene("car", seeds, size=size, device=device)
    count = len(seeds)
    low, high = CAR_VIEW_RANGES["elevation"]
    draws = torch.rand(count, 2, generator=generator)  # [B, 2]
    azimuth = 2 * math.pi * draws[:, 0]
    elevation = torch.deg2rad(low + (high - low) * draws[:, 1])
    translation = car_views_for_framing(
        scene.params.cpu(), azimuth, elevation, torch.zeros(count, 3)
    )
    other_view = car_view(azimuth, elevation, translation).to(scene.view.device)
    first = render_scene(scene)
    second = render_scene(dataclasses.replace(scene, view=other_view))
    return ViewPairs(
        images=torch.stack([first.image, second.image], 1),
        masks=torch.stack([first.mask, second.mask], 1)[:, :, None],
        cameras=torch.stack([camera_from_view(first.view), camera_from_view(other_view)], 1),
    )
