"""Sample grids written during training, from fixed per-seed latents so that grids of different
snapshots (and of different runs) show the same latents."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.atomic import atomic_path
from engine.stylegan2 import Generator


def fixed_latents(count: int, style_dim: int) -> torch.Tensor:
    """z `[count, style_dim]` where row i is drawn from seed i alone."""
    rows = [
        torch.randn(style_dim, generator=torch.Generator().manual_seed(seed))
        for seed in range(count)
    ]
    return torch.stack(rows)


def image_grid(images: torch.Tensor, columns: int) -> np.ndarray:
    """Float images `[N, 3, H, W]` in [-1, 1] tiled row by row as uint8 `[rows·H, cols·W, 3]`."""
    count, channels, height, width = images.shape
    rows = math.ceil(count / columns)
    padded = torch.full((rows * columns, channels, height, width), -1.0)
    padded[:count] = images.float().cpu()
    tiles = padded.view(rows, columns, channels, height, width).permute(0, 3, 1, 4, 2)
    pixels = ((tiles.reshape(rows * height, columns * width, channels) + 1) * 127.5).round()
    return pixels.clamp(0, 255).to(torch.uint8).numpy()


@torch.no_grad()
def write_sample_grid(
    generator: Generator, z: torch.Tensor, path: Path, *, batch: int = 16
) -> None:
    """Render `z` with the stored noise (fp32, deterministic) and save the grid as a PNG."""
    device = next(generator.parameters()).device
    images = torch.cat([generator(chunk.to(device)) for chunk in z.split(batch)])  # [N,3,H,W]
    columns = min(len(z), 8)
    with atomic_path(path) as temporary:
        Image.fromarray(image_grid(images, columns)).save(temporary)
