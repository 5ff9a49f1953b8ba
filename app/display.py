"""Engine tensors as pictures for Gradio (uint8 HWC): images, depth maps and normal maps.

Browsers do not enlarge small images to fill their frame, so pictures smaller than
`DISPLAY_SIDE` are enlarged by a whole factor (nearest neighbour: every pixel stays visible).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from engine.images import shrunk_to, to_uint8
from engine.render import outward_normals

DISPLAY_SIDE = 256
"""Pictures are enlarged until their longer side reaches at least this many pixels."""
LARGEST_DISPLAY_SIDE = 1024
"""Larger pictures (a 24-megapixel upload) are shrunk to this longer side before sending:
the page shows them a few hundred pixels tall, and the full size takes seconds to encode."""


def picture(image: torch.Tensor) -> np.ndarray:
    """An engine image `[1, 3, H, W]` in [-1, 1] as uint8 `[H·k, W·k, 3]`, enlarged `k` times
    (or shrunk, antialiased, to `LARGEST_DISPLAY_SIDE`)."""
    image = image.detach().float().cpu()
    longest = max(image.shape[-2:])
    factor = math.ceil(DISPLAY_SIDE / longest)
    if factor > 1:
        image = F.interpolate(image, scale_factor=factor, mode="nearest")  # [1, 3, H·k, W·k]
    else:
        image = shrunk_to(image, LARGEST_DISPLAY_SIDE)
    return to_uint8(image)


def depth_picture(depth: torch.Tensor) -> np.ndarray:
    """Depth `[1, H, W]` as grey levels, near = white, stretched to its own range."""
    depth = depth.detach().float().cpu()[0]  # [H, W]
    near, far = depth.min(), depth.max()
    closeness = (far - depth) / (far - near).clamp_min(1e-8)  # [H, W] in [0, 1]
    return picture((closeness * 2 - 1).expand(1, 3, -1, -1))


def normal_picture(normal: torch.Tensor) -> np.ndarray:
    """GAN2Shape normals `[1, 3, H, W]` in the usual normal-map colours, as `normal.png` holds
    them: red = right, green = up, blue = towards the viewer."""
    return picture(outward_normals(normal))
