"""Photos visitors upload, read as the app keeps them: shrunk to `KEPT_UPLOAD_SIDE`, and refused
in one sentence where that leaves too few pixels."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from engine.errors import GANliftError
from engine.images import load_photo, shrunk_to
from engine.limits import Limits

KEPT_UPLOAD_SIDE = 2048
"""Longest side, in pixels, an upload is kept at in its session: a 20-megapixel photo held at
full size took 228 MB, so 64 sessions could hold 15 GB; at this side it takes at most 50 MB,
and a face filling a quarter of its width still gives the mesh a 512-px texture."""


def read_upload(file: str | os.PathLike, limits: Limits) -> torch.Tensor:
    """The uploaded photo `file` as an image `[1, 3, H, W]` with its longer side at most
    `KEPT_UPLOAD_SIDE`; a file that is unreadable, or too long and thin to keep, raises a
    GANliftError naming it by its own name (not the server's path)."""
    name = f"Image '{Path(file).name}'"
    photo = load_photo(file, limits, name=name)  # [1, 3, H, W]
    image = shrunk_to(photo, KEPT_UPLOAD_SIDE)
    if min(image.shape[-2:]) < limits.min_image_side:
        raise GANliftError(
            f"{name} is {photo.shape[-1]}x{photo.shape[-2]} pixels, too long and thin: at "
            f"{KEPT_UPLOAD_SIDE} px on its longer side (as the app keeps uploads) it is "
            f"{image.shape[-1]}x{image.shape[-2]}; crop it nearer a square."
        )
    return image
