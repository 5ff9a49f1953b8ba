"""GAN2Shape's ellipsoid prior against a pixel-by-pixel transcription of the release's loop."""

from __future__ import annotations

import math

import pytest
import torch

from engine.errors import GANliftError
from engine.gan2shape import ellipsoid_prior


def _reference(mask: torch.Tensor, preset: str, near: float = 0.91, far: float = 1.02):
    """The release's construction, written out one pixel at a time."""
    h, w = mask.shape
    rows = [i for i in range(h) if (mask[i] >= 0.7).any()]
    cols = [j for j in range(w) if (mask[:, j] >= 0.7).any()]
    min_y, max_y, min_x, max_x = rows[0], rows[-1], cols[0], cols[-1]
    if preset == "synface":
        min_y -= (max_y - min_y) / 6
    elif preset == "face":
        max_y = h - 1
        width = max_x - min_x
        max_x -= width / 12
        min_x += width / 12
    elif preset in ("car", "church"):
        max_y += (max_y - min_y) / 6
    r_pixel = (max_x - min_x) / 2
    ratio = (max_y - min_y) / (max_x - min_x)
    c_x, c_y = (max_x + min_x) / 2, (max_y + min_y) / 2
    radius = 0.4
    rim = math.sqrt(radius**2 - (radius - (far - near)) ** 2)
    out = torch.full((h, w), far)
    for i in range(h):
        for j in range(w):
            stretched = (i - h / 2) / ratio + h / 2
            dist = math.hypot(stretched - c_y, j - c_x)
            if dist <= r_pixel:
                scaled = dist / r_pixel * rim
                out[i, j] = radius - math.sqrt(abs(radius**2 - scaled**2)) + near
    return out


@pytest.mark.parametrize("preset", ["none", "synface", "face", "car", "church"])
def test_prior_matches_the_release_construction(preset: str) -> None:
    mask = torch.zeros(2, 24, 24)
    mask[0, 5:19, 7:16] = 1.0  # off-centre, taller than wide
    mask[1, 10:20, 3:21] = 0.8  # wide, low; 0.8 passes the 0.7 threshold
    mask[1, 0, 0], mask[1, 23, 23] = 0.5, 0.69  # below the threshold: ignored
    mask[1, 21, 12] = 0.7  # at it: a row more
    prior = ellipsoid_prior(mask, preset=preset)
    for index in range(2):
        assert torch.allclose(prior[index], _reference(mask[index], preset), atol=1e-5)


def test_prior_runs_from_near_at_the_centre_to_far_outside() -> None:
    mask = torch.zeros(1, 33, 33)
    mask[0, 8:25, 8:25] = 1.0
    prior = ellipsoid_prior(mask)
    assert prior[0, 16, 16].item() == pytest.approx(0.91, abs=1e-6)
    assert prior[0, 0, 0].item() == pytest.approx(1.02)
    assert prior.min() >= 0.91 - 1e-6 and prior.max() <= 1.02 + 1e-6


@pytest.mark.parametrize("near", [0.91, 0.8, 0.62])
def test_every_cap_the_prior_takes_meets_far_at_its_rim(near: float) -> None:
    """A relief beyond the sphere's radius put a wall at the rim (0.5: from 0.8 to 1.0)."""
    mask = torch.zeros(1, 33, 33)
    mask[0, 8:25, 8:25] = 1.0  # the cap's rim passes through pixel (16, 8)
    prior = ellipsoid_prior(mask, near=near, far=1.02)
    assert prior[0, 16, 8].item() == pytest.approx(1.02, abs=1e-3)  # steep at a hemisphere
    assert prior[0, 16, 16].item() == pytest.approx(near, abs=1e-6)
    for deeper in (0.52, 0.22, 1.02, 1.1):  # too deep, flat, inside out (a math error)
        with pytest.raises(GANliftError, match=r"near below far by at most 0\.4"):
            ellipsoid_prior(mask, near=deeper, far=1.02)


def test_prior_rejects_empty_masks_and_unknown_presets() -> None:
    with pytest.raises(GANliftError, match=r"image\(s\) \[1\]"):
        ellipsoid_prior(torch.stack([torch.ones(8, 8), torch.zeros(8, 8)]))
    with pytest.raises(GANliftError, match="Unknown prior preset"):
        ellipsoid_prior(torch.ones(1, 8, 8), preset="boat")  # type: ignore[arg-type]


def test_prior_refuses_masks_one_pixel_wide_or_high() -> None:
    """A box one column wide has no width to scale the cap by (a NaN prior), one row high no
    aspect ratio."""
    column, row = torch.zeros(1, 8, 8), torch.zeros(1, 8, 8)
    column[0, 2:6, 3] = 1
    row[0, 4, 1:7] = 1
    for mask in (column, row):
        with pytest.raises(GANliftError, match=r"image\(s\) \[0\] spans less than two rows"):
            ellipsoid_prior(mask)
    assert torch.isfinite(ellipsoid_prior(column + column.roll(1, dims=2))).all()


@pytest.mark.parametrize("shape", [(8, 8), (1, 1, 8, 8)])
def test_prior_refuses_masks_not_shaped_n_h_w(shape: tuple[int, ...]) -> None:
    with pytest.raises(GANliftError, match=r"object masks of shape \[N, H, W\], got"):
        ellipsoid_prior(torch.ones(shape))
