"""The synthetic world's viewpoints, lights and backgrounds span their documented ranges: face
yaw to both sides of frontal, car azimuth all the way round."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.gan2shape.presets import PseudoLightRanges
from engine.synth.scene import (
    CAR_VIEW_RANGES,
    FACE_VIEW_RANGES,
    LIGHT_RANGES,
    render_backgrounds,
    sample_backgrounds,
    sample_car_orbits,
    sample_face_views,
    sample_lights,
)

DRAWS = 2000


def generators() -> list[np.random.Generator]:
    return [np.random.default_rng(seed) for seed in range(DRAWS)]


def test_face_yaw_turns_both_ways() -> None:
    """Yaw is drawn from both sides of frontal, not from 0 to +40° only."""
    yaw = torch.rad2deg(sample_face_views(generators())[:, 1])  # [N]
    limit = FACE_VIEW_RANGES["yaw"]
    assert yaw.abs().max() <= limit
    assert yaw.min() < -0.95 * limit and yaw.max() > 0.95 * limit
    assert abs(float(yaw.mean())) < 0.05 * limit


def test_car_azimuth_goes_all_the_way_round() -> None:
    """Azimuth goes all the way round, not from 0 to 180° only."""
    azimuth, _, _ = sample_car_orbits(generators())  # [N] radians
    assert azimuth.min() >= 0 and azimuth.max() < 2 * math.pi
    assert azimuth.min() < 0.05 * math.pi and azimuth.max() > 1.95 * math.pi
    assert float(azimuth.mean()) == pytest.approx(math.pi, rel=0.05)


def test_face_view_shifts_go_both_ways_within_their_ranges() -> None:
    """x/y and depth shifts are drawn symmetrically about the centred head."""
    shifts = sample_face_views(generators())[:, 3:]  # [N, 3] tx, ty, tz
    limits = torch.tensor([FACE_VIEW_RANGES["shift"]] * 2 + [FACE_VIEW_RANGES["depth_shift"]])
    assert (shifts.abs() <= limits).all()
    assert (shifts.min(0).values < -0.9 * limits).all() and (
        shifts.max(0).values > 0.9 * limits
    ).all()


def test_car_elevations_put_the_camera_above_and_draws_span_both_signs() -> None:
    """Elevation stays in the documented 0–30° above the car; shift/fill draws fill [-1, 1]."""
    _, elevation, draws = sample_car_orbits(generators())
    low, high = CAR_VIEW_RANGES["elevation"]
    degrees = torch.rad2deg(elevation)
    assert degrees.min() >= low and degrees.max() <= high + 1e-4
    assert degrees.min() < low + 1 and degrees.max() > high - 1
    assert (draws.min(0).values < -0.95).all() and (draws.max(0).values > 0.95).all()


def test_lights_fill_their_documented_ranges() -> None:
    """Ambient, diffuse and the light direction are drawn over their whole ranges (light from
    both sides)."""
    lights = sample_lights(generators())  # [N, 4]
    bounds = torch.tensor(list(LIGHT_RANGES.values()), dtype=torch.float32)  # [4, 2]
    span = bounds[:, 1] - bounds[:, 0]
    assert (lights.min(0).values >= bounds[:, 0]).all() and (
        lights.max(0).values <= bounds[:, 1]
    ).all()
    assert (lights.min(0).values < bounds[:, 0] + 0.05 * span).all()
    assert (lights.max(0).values > bounds[:, 1] - 0.05 * span).all()
    assert lights[:, 2].min() < -0.9 and lights[:, 2].max() > 0.9  # from the left and right
    assert (lights[:, 3] > 0).float().mean() > 0.7  # mostly from above, as GAN2Shape's


def test_the_world_is_lit_from_the_directions_gan2shape_relights_with() -> None:
    """GAN2Shape's pseudo samples take light directions from its release's ranges; the renders
    the default GANs learn from are lit from the same ones, so step 2 asks for lights the GAN
    has seen."""
    pseudo = PseudoLightRanges()
    assert (LIGHT_RANGES["dx"], LIGHT_RANGES["dy"]) == (pseudo.dx, pseudo.dy)


def test_backgrounds_are_flat_gradients_or_noise_in_the_image_range() -> None:
    """About a third of the backgrounds are flat (no gradient, faint noise); the rest are
    gradients, and only the noise kind is strongly noisy; rendered colours stay in [0, 1]."""
    params = sample_backgrounds(generators()[:300])  # [300, 10 + 3·36]
    gradient, noise = params[:, 8], params[:, 9]
    flat = gradient == 0
    assert 0.2 < flat.float().mean() < 0.45 and ((gradient == 0) | (gradient == 1)).all()
    assert noise[flat].max() <= 0.02 and noise.max() > 0.1
    extreme = params.clone()
    extreme[:, 9] = 5.0  # noise far beyond the drawn amplitudes
    rendered = render_backgrounds(extreme, 16)
    assert rendered.min() == 0 and rendered.max() == 1


def test_a_diagonal_gradient_runs_from_the_first_colour_to_the_second() -> None:
    """Along the diagonal the blend reaches exactly 0 and 1 in the corners; noise adds the
    upsampled grid on top."""
    params = torch.zeros(1, 10 + 3 * 36)
    params[0, :3], params[0, 3:6] = 0.2, 0.6  # first, second colour
    params[0, 6:8] = torch.tensor([1.0, 1.0]) / math.sqrt(2)  # towards the bottom right
    params[0, 8] = 1.0  # gradient
    image = render_backgrounds(params, 16)  # [1, 3, 16, 16]
    torch.testing.assert_close(image[0, :, 0, 0], torch.full((3,), 0.2))
    torch.testing.assert_close(image[0, :, -1, -1], torch.full((3,), 0.6))
    params[0, 8], params[0, 9], params[0, 10:] = 0.0, 0.1, 1.0  # flat, noise grid all ones
    torch.testing.assert_close(render_backgrounds(params, 16), torch.full((1, 3, 16, 16), 0.3))
