"""GAN2Shape's photo-geometric autoencoder: image → depth, albedo, view, light → normals,
shading → canonical image → the image re-rendered in its view (unsup3d's forward pass), and
its inverse for the albedo alone: the per-pixel albedo that redraws an image exactly."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.gan2shape.networks import Gan2ShapeNetworks
from engine.gan2shape.parametrisation import (
    compose_image,
    depth_from_raw,
    light_from_raw,
    view_from_raw,
)
from engine.gan2shape.presets import Gan2ShapePreset
from engine.render import (
    depth_to_points,
    diffuse_term,
    normals_from_depth,
    project_to_pixels,
    render_depth_in_view,
    sampling_grid,
    shade,
    transform_points,
    warp_image,
)


@dataclass
class Decomposition:
    """Factors of a batch of images (and, with symmetry, of their flipped twins after them)."""

    depth: torch.Tensor  # [B, H, W] canonical depth
    albedo: torch.Tensor  # [B, 3, H, W] in (-1, 1)
    view: torch.Tensor  # [B, 6] (pitch, yaw, roll, tx, ty, tz)
    light: torch.Tensor  # [B, 4] (ambient, diffuse, dx, dy)
    normal: torch.Tensor  # [B, 3, H, W]
    diffuse: torch.Tensor  # [B, 1, H, W] max(0, n·l)
    shading: torch.Tensor  # [B, 1, H, W] ambient + diffuse · max(0, n·l)
    image: torch.Tensor  # [B, 3, H, W] canonical lit image


def predict_view(
    networks: Gan2ShapeNetworks, images: torch.Tensor, preset: Gan2ShapePreset
) -> torch.Tensor:
    """Views `[B, 6]` of `images [B, 3, S, S]` (the preset's mean view added to the raw output)."""
    raw = networks.view_net(images) + images.new_tensor(preset.view_mean)  # [B, 6]
    return view_from_raw(raw, preset.camera)


def predict_light(
    networks: Gan2ShapeNetworks, images: torch.Tensor, preset: Gan2ShapePreset
) -> torch.Tensor:
    """Lights `[B, 4]` of `images [B, 3, S, S]` (the preset's mean light added to the raw one)."""
    raw = networks.light_net(images) + images.new_tensor(preset.light_mean)  # [B, 4]
    return light_from_raw(raw)


def decompose(
    networks: Gan2ShapeNetworks,
    image: torch.Tensor,
    preset: Gan2ShapePreset,
    *,
    flip: bool = False,
) -> Decomposition:
    """Factor `image [B, 3, S, S]`; with `flip` the horizontally mirrored shapes and albedos
    (same views and lights) are appended after the B originals, which is how GAN2Shape
    imposes symmetry."""
    depth = depth_from_raw(networks.depth_net(image), preset.camera)  # [B, S, S]
    albedo = networks.albedo_net(image)  # [B, 3, S, S]
    view = predict_view(networks, image, preset)
    light = predict_light(networks, image, preset)
    if flip:
        depth = torch.cat([depth, depth.flip(2)])  # [2B, S, S]
        albedo = torch.cat([albedo, albedo.flip(3)])
        view, light = view.repeat(2, 1), light.repeat(2, 1)
    normal = normals_from_depth(depth)  # [B or 2B, 3, S, S]
    diffuse = diffuse_term(normal, light)
    shading = shade(normal, light)  # [B, 1, S, S]
    return Decomposition(
        depth=depth,
        albedo=albedo,
        view=view,
        light=light,
        normal=normal,
        diffuse=diffuse,
        shading=shading,
        image=compose_image(albedo, shading),
    )


def render_in_views(
    canonical: torch.Tensor, depth: torch.Tensor, view: torch.Tensor, *, nearest: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Canonical images `[B or 1, C, H, W]` on canonical depth `[B or 1, H, W]` seen from views
    `[B, 6]`: (images `[B, C, H, W]`, coverage `[B, 1, H, W]`).

    Bilinear sampling by default (`nearest` for masks); results are clamped to [-1, 1] as the
    release clamps its reconstructions.
    """
    images, covered = warp_image(canonical, depth, view, mode="nearest" if nearest else "bilinear")
    return images.clamp(-1, 1), covered


def canonical_to_view_grid(depth: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
    """Sampling grid `[B, H, W, 2]` (align_corners=True) that pulls, for every canonical pixel of
    `depth [B, H, W]`, the pixel it lands on in views `[B, 6]` (e.g. to carry a mask of the
    input image into the canonical frame)."""
    batch, height, width = depth.shape
    points = transform_points(depth_to_points(depth).reshape(batch, -1, 3), view)  # [B, HW, 3]
    return sampling_grid(project_to_pixels(points, height, width), height, width)


VISIBILITY_TOLERANCE = 0.005
"""A canonical point counts as seen when it lies at most this far (depth units) behind the
nearest surface on its line of sight. Reading the rendered depth bilinearly puts a seen point
up to 0.002 behind it (99.9th percentile over the example recoveries, as recovered and turned
by 20°); a part a turn hides lies a surface step behind."""
DIM_SHADING = 0.05
"""Shading under which the image tells little of a surface's colour: below it the solved
albedo fades into the fallback."""


def albedo_from_image(
    image: torch.Tensor,
    depth: torch.Tensor,
    view: torch.Tensor,
    shading: torch.Tensor,
    fallback: torch.Tensor,
) -> torch.Tensor:
    """The albedo `[B, 3, H, W]` that, shaded by `shading [B, 1, H, W]` on the canonical
    `depth [B, H, W]` and seen from `view [B, 6]`, redraws `image [B, 3, H, W]`: each canonical
    pixel's colour in the image divided by its shading (clamped to [0, 1]), where the view sees
    it; `fallback [B, 3, H, W]` (the albedo net's) where it is hidden, outside the frame or in
    the dark. The networks' albedo, trained briefly, is a blur; this keeps the image's detail
    under new views and lights, and leaves depth, view and light as they are."""
    grid = canonical_to_view_grid(depth, view)  # [B, H, W, 2]
    batch, height, width = depth.shape
    nearest, _ = render_depth_in_view(depth, view)  # [B, H, W]
    points = transform_points(depth_to_points(depth).reshape(batch, -1, 3), view)  # [B, HW, 3]
    own = points[..., 2].view(batch, 1, height, width)
    front = F.grid_sample(nearest[:, None], grid, mode="bilinear", align_corners=True)
    inside = (grid.abs() <= 1).all(dim=-1)[:, None]  # [B, 1, H, W]
    seen = (inside & (own <= front + VISIBILITY_TOLERANCE)).to(image.dtype)
    colour = F.grid_sample(image, grid, mode="bilinear", align_corners=True) / 2 + 0.5
    solved = (colour / shading.clamp(min=DIM_SHADING)).clamp(0, 1) * 2 - 1
    weight = seen * (shading / DIM_SHADING).clamp(max=1)
    return torch.lerp(fallback, solved, weight)
