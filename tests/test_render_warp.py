"""2.5D view warping: analytic depths of moved planes, identity and translation round trips."""

from __future__ import annotations

import math

import pytest
import torch

from engine.render import (
    MAX_DEPTH,
    MIN_DEPTH,
    intrinsics,
    normals_from_depth,
    render_depth_in_view,
    shade,
    warp_image,
    warp_images,
)


def test_identity_view_leaves_the_image_unchanged():
    for height, width in ((24, 24), (16, 28)):  # square, and wider than tall
        image = torch.rand(2, 3, height, width) * 2 - 1
        depth = 0.95 + 0.1 * torch.rand(2, height, width)
        warped, mask = warp_image(image, depth, torch.zeros(2, 6))
        assert mask.shape == (2, 1, height, width) and bool((mask == 1).all())
        torch.testing.assert_close(warped, image, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    ("height", "width", "pitch", "yaw"),
    [(40, 40, 0.0, 25.0), (24, 40, 20.0, 0.0), (40, 24, 0.0, 25.0)],
)
def test_a_turned_plane_has_the_analytic_depth(
    height: int, width: int, pitch: float, yaw: float
) -> None:
    pitch, yaw = math.radians(pitch), math.radians(yaw)
    view_depth, mask = render_depth_in_view(
        torch.ones(1, height, width), torch.tensor([[pitch, yaw, 0, 0, 0, 0]])
    )
    # The plane z = 1 turns about (0, 0, 1): Rx(pitch) and Ry(yaw) take its normal (0, 0, 1)
    # to n = (sin yaw, -sin pitch, cos pitch · cos yaw) (one of the two angles is 0 here).
    k = intrinsics(height, width)
    ray_x = ((torch.arange(width * 1.0) - k[0, 2]) / k[0, 0]).view(1, width)
    ray_y = ((torch.arange(height * 1.0) - k[1, 2]) / k[1, 1]).view(height, 1)
    facing = math.cos(pitch) * math.cos(yaw)
    expected = facing / (math.sin(yaw) * ray_x - math.sin(pitch) * ray_y + facing)
    covered = mask[0, 0] > 0
    assert covered.float().mean() > 0.5
    torch.testing.assert_close(view_depth[0][covered], expected[covered], atol=1e-5, rtol=0)
    assert bool((view_depth[0][~covered] == MAX_DEPTH + 0.1).all())


def test_translation_shifts_the_image_by_whole_pixels():
    size, shift = 32, 3
    k = intrinsics(size, size)
    image = torch.rand(1, 3, size, size)
    tx = shift / k[0, 0].item()  # at depth 1, x moves by fx · tx pixels
    warped, mask = warp_image(
        image, torch.ones(1, size, size), torch.tensor([[0.0, 0, 0, tx, 0, 0]])
    )
    assert bool((mask[0, 0, :, :shift] == 0).all()) and bool((mask[0, 0, :, shift:] == 1).all())
    torch.testing.assert_close(warped[..., shift:], image[..., :-shift], atol=1e-4, rtol=0)


def test_one_canonical_shape_renders_a_batch_of_views_and_lights_with_gradients():
    depth = (0.95 + 0.1 * torch.rand(1, 16, 16)).requires_grad_(True)
    image = torch.rand(1, 3, 16, 16)
    views = torch.tensor(
        [[0.0, 0.2, 0, 0, 0, 0], [0.1, -0.3, 0.05, 0.01, 0, 0], [0, 0, 0, 0, 0, 0.0]]
    )
    warped, mask = warp_image(image, depth, views)
    lights = torch.tensor([[0.5, 0.5, 0.3, 0.2], [0.4, 0.6, -0.5, 0.1], [1.0, 0.0, 0.0, 0.0]])
    shading = shade(normals_from_depth(depth), lights)
    assert warped.shape == (3, 3, 16, 16) and mask.shape == (3, 1, 16, 16)
    assert shading.shape == (3, 1, 16, 16)
    (warped * mask).sum().backward()
    assert depth.grad is not None and depth.grad.abs().sum() > 0


def test_rendered_depths_are_clamped_to_the_margin_around_the_depth_range() -> None:
    """A surface moved far back or forth renders at the clamp, as GAN2Shape's renderer does."""
    for tz, clamped in ((0.3, MAX_DEPTH + 0.1), (-0.3, MIN_DEPTH - 0.1)):
        view_depth, mask = render_depth_in_view(
            torch.ones(1, 16, 16), torch.tensor([[0.0, 0, 0, 0, 0, tz]])
        )
        covered = mask[0, 0] > 0  # a plane moved back covers less of the frame
        assert covered.float().mean() > 0.5
        torch.testing.assert_close(
            view_depth[0][covered], torch.full_like(view_depth[0][covered], clamped)
        )


def test_several_images_warp_as_each_would_alone() -> None:
    """A picture and its mask share one rasterisation (pseudo samples rasterised it twice)."""
    depth = 1.0 + 0.05 * torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(0))
    picture = torch.rand(1, 3, 16, 16) * 2 - 1
    mask = (torch.rand(1, 1, 16, 16) > 0.5).float()
    views = torch.tensor([[0.1, -0.2, 0.0, 0.01, 0.0, 0.0], [0.0, 0.3, 0.05, 0.0, -0.02, 0.0]])
    (warped_picture, warped_mask), covered = warp_images(
        [(picture, "bilinear"), (mask, "nearest")], depth, views
    )
    alone_picture, alone_covered = warp_image(picture, depth, views)
    alone_mask, _ = warp_image(mask, depth, views, mode="nearest")
    assert torch.equal(warped_picture, alone_picture) and torch.equal(warped_mask, alone_mask)
    assert torch.equal(covered, alone_covered)


def test_warp_rejects_images_without_a_batch_axis() -> None:
    """An image of three axes is named, not broadcast against the views."""
    with pytest.raises(ValueError, match=r"image must be \[B, C, H, W\]"):
        warp_image(torch.rand(3, 8, 8), torch.ones(1, 8, 8), torch.zeros(1, 6))
