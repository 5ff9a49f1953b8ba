"""GAN2Shape's ellipsoid shape prior: a spherical cap fitted to the object mask's bounding box.

GAN2Shape initialises its depth network to output this map before the first stage. The
construction follows the released code exactly:

1. threshold the object mask (≥ 0.7) and take its bounding box in pixel indices;
2. widen the box by a per-category preset (`PRIOR_BOX_PRESETS`), because the parsing
   masks of some datasets miss part of the object;
3. centre a circle of radius half the box width on the box centre, stretched vertically
   by the box's aspect ratio; in the release the stretch is taken about the image's
   centre row, so for an off-centre, non-square box the cap sits slightly off the box
   centre — kept here so that the baseline matches the method;
4. inside the circle, a spherical cap (sphere radius 0.4) rises from `far` at the rim to
   `near` at the centre; outside it the depth is `far`.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from engine.errors import GANliftError

PriorBoxPreset = Literal["none", "synface", "face", "car", "church"]

PRIOR_BOX_PRESETS: tuple[PriorBoxPreset, ...] = ("none", "synface", "face", "car", "church")
"""Bounding-box adjustments of the release: 'synface' extends the box up by 1/6 of its height
(BFM masks miss the top of the head), 'face' (CelebA) runs it to the bottom row and trims 1/12
of the width from each side, 'car' and 'church' extend it down by 1/6 of its height."""

_MASK_THRESHOLD = 0.7
_SPHERE_RADIUS = 0.4
MAX_PRIOR_RELIEF = _SPHERE_RADIUS
"""The deepest cap (far - near) the prior's sphere holds, a hemisphere: a deeper one no longer
reaches `far` at its rim (a wall), and one of twice the radius is flat."""


def ellipsoid_prior(
    mask: torch.Tensor,
    *,
    preset: PriorBoxPreset = "none",
    near: float = 0.91,
    far: float = 1.02,
) -> torch.Tensor:
    """GAN2Shape's initial depth `[N, H, W]` for object masks `[N, H, W]` (values in [0, 1]).

    `preset` picks the release's per-category bounding-box adjustment; `near` is the depth at
    the cap's centre and `far` at its rim and outside it (both in GAN2Shape's canonical range).
    """
    if mask.dim() != 3:
        raise GANliftError(
            f"The prior needs object masks of shape [N, H, W], got {tuple(mask.shape)}; "
            "pass one mask per image."
        )
    if preset not in PRIOR_BOX_PRESETS:
        raise GANliftError(
            f"Unknown prior preset '{preset}'; use one of {', '.join(PRIOR_BOX_PRESETS)}."
        )
    if not 0 < far - near <= MAX_PRIOR_RELIEF:
        raise GANliftError(
            f"The prior needs near below far by at most {MAX_PRIOR_RELIEF:g} (its sphere's "
            f"radius), got {near} and {far}."
        )
    n, h, w = mask.shape
    top, bottom, left, right = _adjusted_boxes(mask >= _MASK_THRESHOLD, preset)  # each [N]
    half_width = (right - left) / 2  # [N]
    aspect = (bottom - top) / (right - left)  # [N]
    centre_row = ((bottom + top) / 2).view(n, 1, 1)
    centre_col = ((right + left) / 2).view(n, 1, 1)

    rows = torch.arange(h, dtype=torch.float32, device=mask.device).view(1, h, 1)
    cols = torch.arange(w, dtype=torch.float32, device=mask.device).view(1, 1, w)
    stretched_rows = (rows - h / 2) / aspect.view(n, 1, 1) + h / 2  # [N, H, 1]
    distance = ((stretched_rows - centre_row).square() + (cols - centre_col).square()).sqrt()

    cap_rim = math.sqrt(_SPHERE_RADIUS**2 - (_SPHERE_RADIUS - (far - near)) ** 2)
    on_sphere = distance / half_width.view(n, 1, 1) * cap_rim  # [N, H, W]
    cap = _SPHERE_RADIUS - (_SPHERE_RADIUS**2 - on_sphere.square()).abs().sqrt() + near
    inside = distance <= half_width.view(n, 1, 1)  # [N, H, W]
    return torch.where(inside, cap, torch.full_like(cap, far))


def _adjusted_boxes(
    binary: torch.Tensor, preset: PriorBoxPreset
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image (top, bottom, left, right) pixel indices of `binary [N, H, W]`, then the preset."""
    _, h, w = binary.shape
    rows_hit = binary.any(2)  # [N, H]
    cols_hit = binary.any(1)  # [N, W]
    degenerate = (cols_hit.sum(1) < 2) | (rows_hit.sum(1) < 2)
    if degenerate.any():
        bad = degenerate.nonzero().flatten().tolist()
        raise GANliftError(
            f"The object mask of image(s) {bad} spans less than two rows or columns; "
            "pass a mask that outlines the object."
        )
    row_index = torch.arange(h, device=binary.device).float()
    col_index = torch.arange(w, device=binary.device).float()
    top = torch.where(rows_hit, row_index, math.inf).amin(1)  # [N]
    bottom = torch.where(rows_hit, row_index, -math.inf).amax(1)  # [N]
    left = torch.where(cols_hit, col_index, math.inf).amin(1)  # [N]
    right = torch.where(cols_hit, col_index, -math.inf).amax(1)  # [N]
    height = bottom - top
    if preset == "synface":
        top = top - height / 6
    elif preset == "face":
        bottom = torch.full_like(bottom, h - 1)
        trim = (right - left) / 12
        left, right = left + trim, right - trim
    elif preset in ("car", "church"):
        bottom = bottom + height / 6
    return top, bottom, left, right
