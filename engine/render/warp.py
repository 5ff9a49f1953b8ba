"""GAN2Shape's 2.5D view warping: render a canonical depth map in another view, then pull the
canonical image's colours along the inverse warp.

All images here are top-row-first ``[B, C, H, W]``; one canonical depth / image (batch 1) may
be warped into a batch of views.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from engine.render.batching import broadcast_batch
from engine.render.camera import (
    MAX_DEPTH,
    MIN_DEPTH,
    apply_transform,
    clip_from_camera,
    inverse_transform_points,
    project_to_pixels,
    transform_points,
)
from engine.render.depth import depth_to_points, grid_faces
from engine.render.rasterizer import interpolate, rasterize

DEPTH_MARGIN = (MAX_DEPTH - MIN_DEPTH) / 2
"""Rendered depths are clamped to [MIN_DEPTH - margin, MAX_DEPTH + margin] as in GAN2Shape."""


def render_depth_in_view(
    depth: torch.Tensor, view: torch.Tensor, *, backend: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth ``[N, H, W]`` and coverage mask ``[N, 1, H, W]`` of the canonical depth-map
    surface ``depth [N or 1, H, W]`` seen from views ``[N, 6]``.

    The depth map is meshed over its pixel grid, moved by the view and rasterized with the
    same camera. Uncovered pixels get MAX_DEPTH + margin; all values are clamped to the
    margin around [MIN_DEPTH, MAX_DEPTH]. Differentiable w.r.t. ``depth`` and ``view``.
    """
    num_views = view.shape[0]
    depth = broadcast_batch(depth, num_views, "depth")
    _, height, width = depth.shape
    points = transform_points(depth_to_points(depth).reshape(num_views, -1, 3), view)  # [N, HW, 3]
    clip = apply_transform(points, clip_from_camera(height, width))  # [N, HW, 4]
    faces = grid_faces(height, width, device=depth.device)
    rast = rasterize(clip, faces, (height, width), backend=backend)  # [N, H, W, 4] bottom-first
    view_depth = interpolate(points[..., 2:3], rast, faces, backend=backend)[..., 0].flip(1)
    covered = (rast[..., 3] > 0).flip(1)  # [N, H, W]
    view_depth = torch.where(covered, view_depth, MAX_DEPTH + DEPTH_MARGIN)
    view_depth = view_depth.clamp(MIN_DEPTH - DEPTH_MARGIN, MAX_DEPTH + DEPTH_MARGIN)
    return view_depth, covered[:, None].to(depth.dtype)


def warp_grid(view_depth: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
    """Sampling grid ``[N, H, W, 2]`` that pulls canonical pixels into the view.

    Each target pixel is back-projected with its depth in the view ``[N, H, W]``, moved back
    by the inverse of ``view [N, 6]`` and projected into the canonical image; coordinates are
    normalised for ``grid_sample(..., align_corners=True)`` (-1 and 1 = outer pixel centres).
    """
    num_views, height, width = view_depth.shape
    points = depth_to_points(view_depth).reshape(num_views, -1, 3)  # [N, HW, 3]
    pixels = project_to_pixels(inverse_transform_points(points, view), height, width)  # [N, HW, 2]
    return sampling_grid(pixels, height, width)


def sampling_grid(pixels: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixel coordinates ``[N, H*W, 2]`` (x, y) of an ``H×W`` image as the grid
    ``[N, H, W, 2]`` of ``grid_sample(..., align_corners=True)`` (-1 and 1 = outer pixel
    centres)."""
    scale = pixels.new_tensor([width - 1, height - 1])
    return (pixels / scale * 2 - 1).view(pixels.shape[0], height, width, 2)


def warp_image(
    image: torch.Tensor,
    depth: torch.Tensor,
    view: torch.Tensor,
    *,
    mode: str = "bilinear",
    backend: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Canonical ``image [N or 1, C, H, W]`` with canonical ``depth [N or 1, H, W]`` re-rendered
    in views ``[N, 6]``: (image ``[N, C, H, W]``, mask ``[N, 1, H, W]``).

    `grid_sample` with `mode` ("nearest" for masks) and align_corners=True; the mask marks
    pixels covered by the surface (outside it the image holds whatever the far-plane warp
    sampled, as in GAN2Shape).
    """
    [warped], mask = warp_images([(image, mode)], depth, view, backend=backend)
    return warped, mask


def warp_images(
    layers: Sequence[tuple[torch.Tensor, str]],
    depth: torch.Tensor,
    view: torch.Tensor,
    *,
    backend: str | None = None,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """`warp_image` of several canonical images, each ``(image [N or 1, C, H, W], mode)``, over
    one rasterisation of ``depth`` (a picture and its mask rasterised the surface twice):
    (the warped images, the mask of covered pixels ``[N, 1, H, W]``)."""
    for image, _ in layers:
        if image.dim() != 4:
            raise ValueError(f"image must be [B, C, H, W], got {list(image.shape)}")
    view_depth, mask = render_depth_in_view(depth, view, backend=backend)
    grid = warp_grid(view_depth, view)
    batch = view.shape[0]
    warped = [
        F.grid_sample(broadcast_batch(image, batch, "image"), grid, mode=mode, align_corners=True)
        for image, mode in layers
    ]  # grid_sample's padding is zeros
    return warped, mask
