"""The view labeller's training augmentation: a mirrored car is the same car at azimuth −a
(checked on the synthetic world itself), and the blur is a normalised Gaussian."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from engine.evaluation.styleganr import mask_iou
from engine.styleganr.camera import camera_from_view
from engine.styleganr.labelling import augment_views, gaussian_blur
from engine.synth.generate import render_scene, sample_scene
from engine.synth.scene import car_view


def test_a_mirrored_render_is_the_car_seen_at_minus_its_azimuth() -> None:
    scene = sample_scene("car", [5, 6, 7], size=32)
    camera = camera_from_view(scene.view)
    mirrored_view = car_view(
        torch.deg2rad(-camera[:, 0]),
        torch.deg2rad(camera[:, 1]),
        scene.view[:, 3:] * torch.tensor([-1.0, 1.0, 1.0]),
    )
    seen = render_scene(scene).mask[:, None]
    mirrored = render_scene(replace(scene, view=mirrored_view)).mask[:, None]
    assert mask_iou(seen.flip(-1), mirrored).min().item() > 0.99
    assert mask_iou(seen, mirrored).max().item() < 0.9


def test_augmentation_mirrors_cameras_and_masks_together() -> None:
    count = 16
    images = -torch.ones(count, 3, 8, 8)
    images[..., :3] = 1.0  # a bright bar on the left
    masks = torch.zeros(count, 8, 8)
    masks[..., :3] = 1.0
    cameras = torch.tensor([[30.0, 12.0, 0.9]]).repeat(count, 1)
    out, out_cameras, out_masks = augment_views(
        images, cameras, masks, torch.Generator().manual_seed(0)
    )
    mirrored = out_cameras[:, 0] == 330.0
    assert 0 < int(mirrored.sum()) < count
    assert bool(((out_cameras[:, 0] == 30.0) | mirrored).all())
    assert torch.equal(out_cameras[:, 1:], cameras[:, 1:])
    assert torch.equal(out_masks[mirrored], masks[mirrored].flip(-1))
    assert torch.equal(out_masks[~mirrored], masks[~mirrored])
    right_brighter = out[..., 5:].mean((1, 2, 3)) > out[..., :3].mean((1, 2, 3))
    assert torch.equal(right_brighter, mirrored)
    assert out.shape == images.shape and out.abs().max() <= 1
    again = augment_views(images, cameras, masks, torch.Generator().manual_seed(0))[0]
    assert torch.equal(out, again)


def test_gaussian_blur_keeps_constants_and_mass_and_widens_with_sigma() -> None:
    flat = torch.full((2, 3, 9, 9), 0.25)
    assert torch.allclose(gaussian_blur(flat, torch.tensor([0.5, 2.0])), flat)
    impulse = torch.zeros(2, 1, 11, 11)
    impulse[:, :, 5, 5] = 1.0
    blurred = gaussian_blur(impulse, torch.tensor([0.5, 1.5]))
    assert blurred.sum((1, 2, 3)).tolist() == pytest.approx([1.0, 1.0])
    assert blurred[0, 0, 5, 5] > blurred[1, 0, 5, 5]
    assert torch.allclose(blurred[1, 0], blurred[1, 0].T)


def test_gaussian_blur_spreads_an_impulse_by_sigma_squared() -> None:
    """Each image's blur of an impulse has variance sigma² along each axis (sigma in pixels)."""
    impulse = torch.zeros(2, 1, 11, 11)
    impulse[:, :, 5, 5] = 1.0
    sigma = torch.tensor([0.8, 1.0])
    blurred = gaussian_blur(impulse, sigma)[:, 0]  # [2, 11, 11]
    offsets = torch.arange(-5.0, 6.0)
    variance = (blurred.sum(1) * offsets**2).sum(1)  # along x, [2]
    torch.testing.assert_close(variance, sigma**2, rtol=0.02, atol=0.0)


def test_a_mirrored_front_view_stays_at_azimuth_0() -> None:
    """Mirroring wraps azimuths round the circle: 0° stays 0° (not 360°), 90° becomes 270°."""
    count = 16
    images, masks = torch.zeros(count, 3, 8, 8), torch.zeros(count, 8, 8)
    cameras = torch.tensor([[0.0, 12.0, 0.9], [90.0, 12.0, 0.9]]).repeat(count // 2, 1)
    _, out_cameras, _ = augment_views(images, cameras, masks, torch.Generator().manual_seed(0))
    assert bool(((out_cameras[:, 0] >= 0) & (out_cameras[:, 0] < 360)).all())
    assert set(out_cameras[0::2, 0].tolist()) == {0.0}
    assert set(out_cameras[1::2, 0].tolist()) == {90.0, 270.0}
