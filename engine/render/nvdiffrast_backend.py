"""nvdiffrast backend: the same three ops on CUDA through NVIDIA's nvdiffrast.

Imported lazily, so machines without nvdiffrast (or without CUDA) never touch it.
"""

from __future__ import annotations

import functools
import importlib.util
from types import ModuleType

import torch


def is_available() -> bool:
    """True when CUDA works and the nvdiffrast package can be imported."""
    return torch.cuda.is_available() and importlib.util.find_spec("nvdiffrast") is not None


def _nvdiffrast() -> ModuleType:
    import nvdiffrast.torch as dr

    return dr


@functools.cache
def _context(device: torch.device):
    """One CUDA rasterizer context per device (creating one is expensive)."""
    return _nvdiffrast().RasterizeCudaContext(device=device)


def rasterize(pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int]) -> torch.Tensor:
    """``rast [B, H, W, 4]`` from nvdiffrast's rasterizer (its derivative output is dropped)."""
    rast, _ = _nvdiffrast().rasterize(_context(pos.device), pos, tri, resolution)
    return rast


def interpolate(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """nvdiffrast's attribute interpolation ``[B, H, W, C]``."""
    out, _ = _nvdiffrast().interpolate(attr.contiguous(), rast, tri)
    return out


def antialias(
    color: torch.Tensor, rast: torch.Tensor, pos: torch.Tensor, tri: torch.Tensor
) -> torch.Tensor:
    """nvdiffrast's analytic silhouette antialiasing."""
    return _nvdiffrast().antialias(color.contiguous(), rast, pos, tri)
