"""`albedo_from_image`: the per-pixel albedo that redraws an image, exact on a frontal plane,
blind to what a turn hides, and what makes a recovery redraw its input."""

from __future__ import annotations

import math

import torch

from engine.gan2shape.parametrisation import compose_image
from engine.gan2shape.photogeometry import (
    albedo_from_image,
    canonical_to_view_grid,
    render_in_views,
)

SIZE = 32
RED, BLUE = torch.tensor([1.0, -1.0, -1.0]), torch.tensor([-1.0, -1.0, 1.0])


def test_a_frontal_plane_gives_back_the_albedo_it_was_lit_with() -> None:
    generator = torch.Generator().manual_seed(0)
    albedo = torch.rand(1, 3, SIZE, SIZE, generator=generator) * 2 - 1
    shading = 0.2 + 0.8 * torch.rand(1, 1, SIZE, SIZE, generator=generator)
    image = compose_image(albedo, shading)
    depth, view = torch.ones(1, SIZE, SIZE), torch.zeros(1, 6)
    solved = albedo_from_image(image, depth, view, shading, torch.zeros_like(albedo))
    torch.testing.assert_close(solved, albedo, atol=1e-4, rtol=0)


def test_dark_pixels_keep_the_fallback() -> None:
    shading = torch.ones(1, 1, SIZE, SIZE)
    shading[..., :, : SIZE // 2] = 0.0
    fallback = torch.full((1, 3, SIZE, SIZE), 0.25)
    image = torch.full((1, 3, SIZE, SIZE), -0.5)
    solved = albedo_from_image(
        image, torch.ones(1, SIZE, SIZE), torch.zeros(1, 6), shading, fallback
    )
    assert torch.equal(solved[..., : SIZE // 2], fallback[..., : SIZE // 2])
    torch.testing.assert_close(solved[..., SIZE // 2 + 1 :], image[..., SIZE // 2 + 1 :])


def _box_scene() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A red box standing out of a blue backdrop, seen turned by 25°: (depth, albedo, box
    mask, view)."""
    box = torch.zeros(1, SIZE, SIZE, dtype=torch.bool)
    box[:, 8:24, 12:20] = True
    depth = torch.where(box, 0.97, 1.03)
    albedo = torch.where(box[:, None], RED.view(1, 3, 1, 1), BLUE.view(1, 3, 1, 1))
    view = torch.tensor([[0.0, math.radians(25), 0.0, 0.0, 0.0, 0.0]])
    return depth, albedo, box, view


def test_what_a_turn_hides_is_not_painted_with_what_hides_it() -> None:
    depth, albedo, box, view = _box_scene()
    shading = torch.ones(1, 1, SIZE, SIZE)
    image, _ = render_in_views(compose_image(albedo, shading), depth, view)
    fallback = torch.zeros_like(albedo)
    solved = albedo_from_image(image, depth, view, shading, fallback)
    far_from_box = ~torch.nn.functional.max_pool2d(box[:, None].float(), 5, 1, 2).bool()[:, 0]
    hidden = (solved == fallback).all(dim=1) & far_from_box  # [1, S, S]
    assert hidden.sum() >= 8  # the box hides a strip of backdrop beside it
    looks_red = solved[:, 0] > 0  # [1, S, S]
    assert not (looks_red & far_from_box).any()
    inner_box = torch.zeros_like(box)
    inner_box[:, 10:22, 14:18] = True
    torch.testing.assert_close(
        solved.permute(0, 2, 3, 1)[inner_box], RED.expand(int(inner_box.sum()), 3), atol=0.1, rtol=0
    )
    # Without the visibility test those backdrop pixels would be painted with the box's red:
    grid_colour = _image_colour_at_canonical_pixels(image, depth, view)
    assert ((grid_colour[:, 0] > 0) & hidden).sum() >= 8


def _image_colour_at_canonical_pixels(
    image: torch.Tensor, depth: torch.Tensor, view: torch.Tensor
) -> torch.Tensor:
    """The image's colour where each canonical pixel lands, whether seen or not."""
    grid = canonical_to_view_grid(depth, view)
    return torch.nn.functional.grid_sample(image, grid, align_corners=True)


def test_a_shallow_step_still_hides_what_is_behind_it() -> None:
    """A box standing 0.03 out of its backdrop (a surface step, far above the visibility
    tolerance), turned by 45°, hides a strip of backdrop that must not be painted red."""
    box = torch.zeros(1, SIZE, SIZE, dtype=torch.bool)
    box[:, 8:24, 12:20] = True
    depth = torch.where(box, 0.985, 1.015)
    albedo = torch.where(box[:, None], RED.view(1, 3, 1, 1), BLUE.view(1, 3, 1, 1))
    view = torch.tensor([[0.0, math.radians(45), 0.0, 0.0, 0.0, 0.0]])
    shading = torch.ones(1, 1, SIZE, SIZE)
    image, _ = render_in_views(compose_image(albedo, shading), depth, view)
    solved = albedo_from_image(image, depth, view, shading, torch.zeros_like(albedo))
    far_from_box = ~torch.nn.functional.max_pool2d(box[:, None].float(), 5, 1, 2).bool()[:, 0]
    assert not ((solved[:, 0] > 0) & far_from_box).any()
    grid_colour = _image_colour_at_canonical_pixels(image, depth, view)
    assert ((grid_colour[:, 0] > 0) & far_from_box).sum() >= 8  # what the turn hides
