"""Exponential moving average of the generator weights (the G_ema that samples are drawn from).

The decay is given as a half-life in thousands of images, so it does not depend on the batch
size, with an optional ramp-up that shortens it early in training.
"""

from __future__ import annotations

import torch
from torch import nn


def ema_beta(*, batch: int, images_seen: int, half_life_kimg: float, rampup: float | None) -> float:
    """Per-step decay so that the average's weights halve every `half_life_kimg` thousand images.

    With a `rampup` the half-life is at most `rampup · images_seen`, the images seen before
    this step (as in StyleGAN2-ADA: the first step's average is the generator itself).
    """
    half_life_images = half_life_kimg * 1000.0
    if rampup is not None:
        half_life_images = min(half_life_images, rampup * images_seen)
    return 0.5 ** (batch / max(half_life_images, 1e-8))


@torch.no_grad()
def update_ema(average: nn.Module, model: nn.Module, beta: float) -> None:
    """average ← beta·average + (1-beta)·model for parameters; buffers are copied as they are."""
    for avg_param, param in zip(average.parameters(), model.parameters(), strict=True):
        avg_param.lerp_(param.detach(), 1.0 - beta)
    for avg_buffer, buffer in zip(average.buffers(), model.buffers(), strict=True):
        avg_buffer.copy_(buffer)
