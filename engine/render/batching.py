"""Batch broadcasting shared by the renderers (one canonical shape, many views or lights)."""

from __future__ import annotations

import torch


def broadcast_batch(tensor: torch.Tensor, size: int, name: str) -> torch.Tensor:
    """Expand a batch of 1 to ``size``; any other mismatch is an error naming ``name``."""
    if tensor.shape[0] == size:
        return tensor
    if tensor.shape[0] == 1:
        return tensor.expand(size, *tensor.shape[1:])
    raise ValueError(f"{name} batch must be 1 or {size}, got {tensor.shape[0]}")
