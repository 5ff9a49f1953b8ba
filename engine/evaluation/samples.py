"""Seeded GAN samples in batches: the images the sample grid and the coverage measure use."""

from __future__ import annotations

import torch

from engine.progress import ProgressFn
from engine.stylegan2 import Generator


@torch.no_grad()
def generate_samples(
    generator: Generator,
    count: int,
    *,
    seed: int = 0,
    truncation: float = 1.0,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """`count` images ``[count, 3, H, W]`` (CPU, clamped to [-1, 1]) from seeded z.

    The z of sample i does not depend on `batch_size`; truncation < 1 pulls w towards the
    generator's `truncation_centre` (the same whatever `seed`).
    """
    device = generator.input.input.device
    z = torch.randn(count, generator.style_dim, generator=torch.Generator().manual_seed(seed))
    centre = generator.truncation_centre() if truncation != 1.0 else None
    parts = []
    for start in range(0, count, batch_size):
        batch = z[start : start + batch_size].to(device)  # [B, D]
        images = generator(batch, truncation=truncation, truncation_latent=centre)
        parts.append(images.clamp(-1, 1).float().cpu())  # [B, 3, H, W]
        if progress is not None:
            progress(min(start + batch_size, count), count, "sampling")
    return torch.cat(parts)
