"""How GAN2Shape turns raw network outputs into depth, view and light.

- Depth: the raw map minus its spatial mean, tanh, mapped linearly from (-1, 1) into
  [min_depth, max_depth]; the two outermost columns on the left and right are then pinned
  near the far end (the release blends them as 1.02 · border − 0.02 · depth with
  border = 0.7 · max + 0.3 · min), which keeps the mesh from wrapping around the image sides.
- View: raw (-1, 1) values (plus the preset's mean view) scaled to pitch / yaw / roll =
  v · rotation range (60°) and translation x, y = v · 0.1, z = v · z range (0).
- Light: ambient = l0 / 2 + 0.5, diffuse = l1 / 2 + 0.5, direction (l2, l3, 1) normalised
  (the normalisation lives in `engine.render.light_direction`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.render import MAX_DEPTH, MIN_DEPTH

BORDER_COLUMNS = 2
"""Columns pinned at each side of the depth map."""
_BORDER_BLEND = 1.02
"""The release pads its border mask with 1.02 rather than 1 (kept for parity)."""


@dataclass(frozen=True)
class CameraRanges:
    """Ranges of GAN2Shape's depth and view parametrisations."""

    min_depth: float = MIN_DEPTH
    max_depth: float = MAX_DEPTH
    rotation_degrees: float = 60.0
    """Raw view angle 1 maps to this many degrees (pitch, yaw and roll)."""
    xy_translation: float = 0.1
    """Raw x / y translation 1 maps to this distance."""
    z_translation: float = 0.0
    """Raw z translation 1 maps to this distance (0: no depth translation)."""

    @property
    def border_depth(self) -> float:
        """Depth near the far end that the side borders are pinned to."""
        return 0.7 * self.max_depth + 0.3 * self.min_depth


def depth_from_raw(
    raw: torch.Tensor, ranges: CameraRanges, *, pin_border: bool = True
) -> torch.Tensor:
    """Raw depth-net output `[B, 1, H, W]` -> depth `[B, H, W]` in [min_depth, max_depth].

    With `pin_border` the 2-px left and right borders are pinned near the far end.
    """
    raw = raw[:, 0]  # [B, H, W]
    centred = raw - raw.mean(dim=(1, 2), keepdim=True)
    unit = centred.tanh()  # [B, H, W] in (-1, 1)
    depth = (1 + unit) / 2 * ranges.max_depth + (1 - unit) / 2 * ranges.min_depth
    if not pin_border:
        return depth
    border = torch.zeros_like(depth[:1])  # [1, H, W]
    border[..., :BORDER_COLUMNS] = _BORDER_BLEND
    border[..., -BORDER_COLUMNS:] = _BORDER_BLEND
    return depth * (1 - border) + border * ranges.border_depth


def view_from_raw(raw: torch.Tensor, ranges: CameraRanges) -> torch.Tensor:
    """Raw view `[B, 6]` -> view `[B, 6]` = (pitch, yaw, roll in radians, tx, ty, tz)."""
    angles = raw[:, :3] * math.radians(ranges.rotation_degrees)  # [B, 3]
    xy = raw[:, 3:5] * ranges.xy_translation  # [B, 2]
    z = raw[:, 5:] * ranges.z_translation  # [B, 1]
    return torch.cat([angles, xy, z], dim=1)


def light_from_raw(raw: torch.Tensor) -> torch.Tensor:
    """Raw light `[B, 4]` -> light `[B, 4]` = (ambient, diffuse, dx, dy), as `shade` takes it."""
    return torch.cat([raw[:, :2] / 2 + 0.5, raw[:, 2:]], dim=1)


def compose_image(albedo: torch.Tensor, shading: torch.Tensor) -> torch.Tensor:
    """Lit image `[B, 3, H, W]` in [-1, 1] units from albedo `[B, 3, H, W]` and shading
    `[B, 1, H, W]`: albedo is taken to [0, 1], multiplied by the shading and mapped back."""
    return (albedo / 2 + 0.5) * shading * 2 - 1
