"""nvdiffrast backend: the same three ops on CUDA through NVIDIA's nvdiffrast.

Imported lazily, so machines without nvdiffrast (or without CUDA) never touch it. nvdiffrast
takes contiguous float32 positions, attributes and colours and int32 triangles (the torch
backend takes any float and strided tensor), so every op hands it those.
"""

from __future__ import annotations

import functools
from types import ModuleType

import torch


@functools.cache
def is_available() -> bool:
    """True when CUDA works and nvdiffrast's torch ops import (their compiled extension too:
    a package whose build failed is found on the path but cannot rasterize)."""
    if not torch.cuda.is_available():
        return False
    try:
        _nvdiffrast()
    except (ImportError, OSError, RuntimeError):
        return False
    return True


def _nvdiffrast() -> ModuleType:
    import nvdiffrast.torch as dr

    return dr


@functools.cache
def _context(device: torch.device):
    """One CUDA rasterizer context per device (creating one is expensive)."""
    return _nvdiffrast().RasterizeCudaContext(device=device)


def rasterize(pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int]) -> torch.Tensor:
    """``rast [B, H, W, 4]`` from nvdiffrast's rasterizer (its derivative output is dropped)."""
    rast, _ = _nvdiffrast().rasterize(
        _context(pos.device), _float32(pos), tri.contiguous(), resolution
    )
    return rast


def interpolate(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """nvdiffrast's attribute interpolation ``[B, H, W, C]``."""
    out, _ = _nvdiffrast().interpolate(_float32(attr), _float32(rast), tri.contiguous())
    return out


def antialias(
    color: torch.Tensor, rast: torch.Tensor, pos: torch.Tensor, tri: torch.Tensor
) -> torch.Tensor:
    """nvdiffrast's analytic silhouette antialiasing."""
    return _nvdiffrast().antialias(_float32(color), _float32(rast), _float32(pos), tri.contiguous())


def _float32(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as nvdiffrast reads it: contiguous float32 (no copy when it already is)."""
    return tensor.float().contiguous()
