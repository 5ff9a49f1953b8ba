"""The textured mesh of a GAN2Shape recovery: its canonical surface trimmed to the object, with
the albedo solved again at the resolution of the photo it came from."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.gan2shape.frames import to_network_frame
from engine.gan2shape.inputs import trimming_mask
from engine.gan2shape.photogeometry import albedo_from_image
from engine.gan2shape.presets import Gan2ShapePreset
from engine.gan2shape.recover import Recovery
from engine.gan2shape.steps import canonical_mask
from engine.images import checked_image, fit_to_frame
from engine.mesh import TexturedMesh, depth_to_mesh
from engine.render import normals_from_depth, shade


def mesh_mask(recovery: Recovery) -> torch.Tensor:
    """The canonical-frame mask `[S, S]` that a mesh of `recovery` keeps: its object mask, or,
    where the whole frame was lifted by a preset without masks (such as faces') for want of
    one, the object that `trimming_mask` finds in the input, so that the mesh leaves the
    backdrop out. A masking preset's mask and a user's are kept even where they cover the whole
    frame (an all-white mask says the whole frame is the object)."""
    target = recovery.state.target
    whole_frame = bool((target.mask > 0.5).all())
    if recovery.state.preset.use_mask or target.mask_given or not whole_frame:
        return recovery.mask[0, 0]
    with torch.no_grad():
        found = trimming_mask(recovery.image)  # [1, 1, S, S]
        return canonical_mask(recovery.depth, recovery.view, found)[0, 0]


MAX_TEXTURE_SIDE = 1024
"""Texels along a side of a mesh texture solved from a photo (`photo_albedo`)."""


def texture_source(photo: torch.Tensor, preset: Gan2ShapePreset) -> torch.Tensor:
    """`photo [1, 3, H, W]` centre-cropped to a square and shrunk to the most `photo_albedo`
    reads of it (its networks' frame at `MAX_TEXTURE_SIDE` px): what to keep of an upload."""
    largest = math.ceil(MAX_TEXTURE_SIDE / (preset.crop or 1.0))
    return fit_to_frame(photo, min(*photo.shape[-2:], largest))


def photo_albedo(recovery: Recovery, photo: torch.Tensor) -> torch.Tensor:
    """`recovery`'s albedo solved again at the resolution of `photo [1, 3, H, W]`, the image
    `recover` was given at its own resolution (e.g. the square crop around a face): the
    networks' frame of it, at most `MAX_TEXTURE_SIDE` px and at least the networks' size, with
    the recovered depth, view and light carried over. A mesh of a 600-px face crop then keeps
    its texels instead of the networks' 64²."""
    preset, size = recovery.state.preset, recovery.depth.shape[-1]
    photo = checked_image(photo, "The mesh's photo")
    frame = texture_source(photo.to(recovery.depth), preset)  # [1, 3, B, B]
    side = max(size, min(round(frame.shape[-1] * (preset.crop or 1.0)), MAX_TEXTURE_SIDE))
    image = to_network_frame(frame, crop=preset.crop, size=side)  # [1, 3, T, T]
    with torch.no_grad():
        depth = F.interpolate(
            recovery.depth[:, None], size=(side, side), mode="bilinear", align_corners=True
        )[:, 0]  # [1, T, T]
        fallback = F.interpolate(
            recovery.albedo, size=(side, side), mode="bilinear", align_corners=True
        )
        shading = shade(normals_from_depth(depth), recovery.light)  # [1, 1, T, T]
        return albedo_from_image(image, depth, recovery.view, shading, fallback)


def recovery_mesh(
    recovery: Recovery, *, photo: torch.Tensor | None = None, size: float = 1.0
) -> TexturedMesh:
    """The canonical surface of `recovery` trimmed by `mesh_mask`, its longest side `size`
    long, textured by its albedo (viewers light it themselves): solved from `photo` at the
    photo's resolution when given (`photo_albedo`), else the recovery's."""
    texture = recovery.albedo if photo is None else photo_albedo(recovery, photo)
    return depth_to_mesh(recovery.depth, texture, mesh_mask(recovery), size=size)
