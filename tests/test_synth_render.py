"""The synthetic world: determinism by seed, seed ranges, and ground truth that agrees with
the rendered image and with GAN2Shape's camera conventions."""

from __future__ import annotations

import math
import re

import pytest
import torch

from engine.errors import GANliftError
from engine.metrics import erode_mask
from engine.render import normals_from_depth, rotation_matrix, shade
from engine.synth import SEED_RANGES, render_samples, seed_run, split_of
from engine.synth.car import car_views_for_framing
from engine.synth.generate import render_scene, sample_scene
from engine.synth.scene import car_view

SIZE = 48


@pytest.fixture(scope="module", params=["face", "car"])
def batch(request: pytest.FixtureRequest):
    return render_samples(request.param, [3, 4, 5, 6], size=SIZE)


def test_a_sample_is_the_same_whatever_its_batch() -> None:
    alone = render_samples("face", [5], size=SIZE)
    within = render_samples("face", [4, 5, 6], size=SIZE)
    assert torch.allclose(alone.image[0], within.image[1], atol=1e-5)
    assert torch.allclose(alone.depth[0], within.depth[1], atol=1e-5)
    assert torch.equal(alone.view[0], within.view[1])
    other = render_samples("face", [7], size=SIZE)
    assert not torch.allclose(alone.image, other.image, atol=0.05)


def test_ground_truth_shapes_and_ranges(batch) -> None:
    n = len(batch)
    assert batch.image.shape == (n, 3, SIZE, SIZE) and batch.normal.shape == (n, 3, SIZE, SIZE)
    assert batch.image.min() >= -1 and batch.image.max() <= 1
    covered = batch.mask.flatten(1).mean(1)
    assert (covered > 0.08).all() and (covered < 0.9).all()
    inside = batch.depth[batch.mask > 0]
    assert inside.min() > 0.75 and inside.max() < 1.25
    assert (batch.depth[batch.mask == 0] == 0).all()
    canonical = batch.canonical_depth[batch.canonical_mask > 0]
    assert canonical.min() > 0.88 and canonical.max() < 1.12  # GAN2Shape's canonical range


def test_image_is_albedo_times_lambertian_shading(batch) -> None:
    albedo = batch.albedo / 2 + 0.5
    expected = (albedo * shade(batch.normal, batch.light)).clamp(0, 1) * 2 - 1
    inside = batch.mask[:, None].expand_as(expected) > 0
    assert torch.allclose(batch.image[inside], expected[inside], atol=1e-5)


def test_mesh_normals_agree_with_normals_from_depth(batch) -> None:
    interior = erode_mask(erode_mask(batch.mask))
    from_depth = normals_from_depth(batch.depth)
    cosine = (from_depth * batch.normal).sum(1)[interior]
    angle = torch.rad2deg(cosine.clamp(-1, 1).acos())
    assert angle.median() < 12.0  # same convention: n = (0, 0, 1) faces the camera


def test_face_views_stay_in_the_documented_ranges() -> None:
    views = render_samples("face", list(range(40, 56)), size=16).view
    degrees = torch.rad2deg(views[:, :3]).abs()
    assert (degrees <= torch.tensor([20.0, 40.0, 10.0])).all()


def test_car_view_is_azimuth_then_elevation_in_gan2shape_angles() -> None:
    azimuth = torch.tensor([0.3, 2.0, -2.8, 4.0])
    elevation = torch.tensor([0.0, 0.2, 0.5, 0.35])
    view = car_view(azimuth, elevation, torch.zeros(4, 3))
    zero = torch.zeros(4)
    spin = rotation_matrix(torch.stack([zero, azimuth, zero], 1))
    tilt = rotation_matrix(torch.stack([elevation, zero, zero], 1))
    assert torch.allclose(rotation_matrix(view[:, :3]), tilt @ spin, atol=1e-5)
    # Elevation lifts the camera: the roof (−y) comes towards it (−z).
    roof = rotation_matrix(view[1:2, :3]) @ torch.tensor([0.0, -1.0, 0.0])
    assert roof[0, 2] < 0


def test_seed_ranges_are_disjoint_and_checked() -> None:
    train, test = SEED_RANGES["train"], SEED_RANGES["test"]
    assert train.stop <= test.start
    assert split_of(0, 10) == "train" and split_of(test.start, 10) == "test"
    with pytest.raises(GANliftError, match="one seed range"):
        seed_run(train.stop - 2, 5)
    assert split_of(train.stop - 5, 5) == "train"  # a run may end on a range's last seed
    with pytest.raises(GANliftError, match="one seed range"):
        seed_run(train.stop - 1, 2)  # the train range's last seed and the test range's first
    with pytest.raises(GANliftError, match="test seeds are needed") as refused:
        seed_run(5, 3, split="test")
    advised = re.search(r"use a seed in \[(\d+), (\d+)\]", str(refused.value))
    assert advised and [int(seed) for seed in advised.groups()] == [test.start, test.stop - 3]
    assert seed_run(test.stop - 3, 3, split="test")[-1] == test.stop - 1  # the advice holds


def test_unknown_category_and_tiny_size_are_user_errors() -> None:
    with pytest.raises(GANliftError, match="Unknown category 'boat'"):
        render_samples("boat", [0])
    with pytest.raises(GANliftError, match="too small"):
        render_samples("car", [0], size=8)


def test_canonical_depth_matches_the_view_depth_for_a_frontal_view() -> None:
    batch = render_samples("face", list(range(60, 76)), size=SIZE)
    nearly_frontal = batch.view[:, :3].abs().max(1).values < math.radians(12)
    assert nearly_frontal.any()
    for index in nearly_frontal.nonzero().flatten().tolist():
        both = (batch.mask[index] > 0) & (batch.canonical_mask[index] > 0)
        difference = (batch.depth[index] - batch.canonical_depth[index])[both].abs()
        assert difference.median() < 0.03


def test_the_nose_tip_is_a_frontal_faces_nearest_point() -> None:
    """On the midline, below the eyes: the relief stands out of the head, not into it."""
    batch = render_samples("face", list(range(60, 68)), size=64)
    depth = torch.where(batch.canonical_mask > 0, batch.canonical_depth, math.inf)  # [B, 64, 64]
    nearest = depth.flatten(1).argmin(1)  # [B]
    rows, columns = nearest // 64, nearest % 64
    assert ((columns - 31.5).abs() <= 1).all()  # the midline
    assert ((rows > 34) & (rows < 48)).all()  # the lower middle of the frame


def test_cars_are_framed_by_the_width_they_show() -> None:
    """A car seen from the side shows its length and stands further away than seen head-on,
    where it shows its width; a smaller fill puts it further away too; the distance stays
    within the clamp near GAN2Shape's depth range."""
    params = sample_scene("car", list(range(10, 26)), size=64).params
    count = len(params)

    def depth(azimuth: float, fill: float) -> torch.Tensor:
        draws = torch.tensor([[0.0, 0.0, fill]]).expand(count, 3)
        angle = torch.full((count,), azimuth)
        return car_views_for_framing(params, angle, torch.zeros(count), draws)[:, 2]

    head_on, side_on = depth(0.0, 1.0), depth(math.pi / 2, 1.0)
    assert (side_on > head_on).all()
    assert (depth(math.pi / 2, -1.0) >= side_on).all()
    every = torch.cat([head_on, side_on])
    assert every.min() == pytest.approx(-0.12) and every.max() <= 0.06 + 1e-6


def test_the_background_shows_wherever_the_object_does_not() -> None:
    """Off the object mask the image is the sampled background (mapped to [-1, 1])."""
    scene = sample_scene("car", [7, 8], size=32)
    batch = render_scene(scene)
    outside = (batch.mask == 0)[:, None].expand_as(batch.image)  # [2, 3, 32, 32]
    assert outside.any()
    expected = scene.background * 2 - 1
    torch.testing.assert_close(batch.image[outside], expected[outside])
