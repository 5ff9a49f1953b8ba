"""From the GAN's frame to the networks' frame: an optional centre crop, then a resize."""

from __future__ import annotations

import torch

from engine.images import resize_square


def centre_crop(images: torch.Tensor, crop: float | None) -> torch.Tensor:
    """`images [B, C, H, H]` centre-cropped to `crop` of their side (None: as they are)."""
    if crop is None:
        return images
    side = images.shape[-1]
    kept = round(side * crop)
    margin = (side - kept) // 2
    return images[..., margin : margin + kept, margin : margin + kept]


def to_network_frame(images: torch.Tensor, *, crop: float | None, size: int) -> torch.Tensor:
    """`images [B, C, H, H]` centre-cropped to `crop` of their side (None: uncropped) and
    resized to `size`² (area when shrinking, bilinear when growing, as the release)."""
    return resize_square(centre_crop(images, crop), size)
