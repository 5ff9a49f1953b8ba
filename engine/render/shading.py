"""Lambertian shading under GAN2Shape's light model: ambient + diffuse · max(0, n · l)."""

from __future__ import annotations

import torch

from engine.render.batching import broadcast_batch
from engine.render.camera import light_direction


def shade(normal: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """Shading ``[B, 1, H, W]`` of normals ``[B or 1, 3, H, W]`` under lights ``[B, 4]``.

    A light is (ambient, diffuse, dx, dy) with direction normalise(dx, dy, 1) in the normals'
    camera frame; one normal map may be lit by a batch of lights.
    """
    if normal.dim() != 4 or normal.shape[1] != 3:
        raise ValueError(f"normal must be [B, 3, H, W], got {list(normal.shape)}")
    direction = light_direction(light)  # [B, 3]
    normal = broadcast_batch(normal, light.shape[0], "normal")
    diffuse = torch.einsum("bchw,bc->bhw", normal, direction).clamp(min=0)[:, None]  # [B, 1, H, W]
    return light[:, 0, None, None, None] + light[:, 1, None, None, None] * diffuse


def diffuse_term(normal: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """max(0, n·l) ``[B, 1, H, W]`` of normals ``[B or 1, 3, H, W]`` under the directions of
    lights ``[B, 4]``: `shade` with ambient 0 and diffuse 1."""
    unit = torch.cat([torch.zeros_like(light[:, :1]), torch.ones_like(light[:, :1])], 1)
    return shade(normal, torch.cat([unit, light[:, 2:]], 1))
