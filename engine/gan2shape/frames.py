"""From the GAN's frame to the networks' frame: an optional centre crop, then a resize."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def to_network_frame(images: torch.Tensor, *, crop: float | None, size: int) -> torch.Tensor:
    """`images [B, C, H, H]` centre-cropped to `crop` of their side (None: uncropped) and
    resized to `size`² (area when shrinking, bilinear when growing, as the release)."""
    side = images.shape[-1]
    if crop is not None:
        kept = round(side * crop)
        margin = (side - kept) // 2
        images = images[..., margin : margin + kept, margin : margin + kept]
    if images.shape[-1] == size:
        return images
    if images.shape[-1] > size:
        return F.interpolate(images, size=(size, size), mode="area")
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
