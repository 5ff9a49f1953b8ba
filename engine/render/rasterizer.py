"""The rasterizer ops every caller uses: `rasterize`, `interpolate`, `antialias`.

One code path above two backends with nvdiffrast's exact contract (see the package docstring):
"torch" (pure PyTorch, any device) and "nvdiffrast" (CUDA). The backend is chosen per call:
the ``backend`` argument, else the GANLIFT_RASTERIZER environment variable, else nvdiffrast
when the tensors live on CUDA and nvdiffrast imports, else torch.
"""

from __future__ import annotations

import os
from typing import Literal

import torch

from engine.errors import GANliftError
from engine.render import nvdiffrast_backend, torch_backend

BackendName = Literal["torch", "nvdiffrast"]
BACKENDS: tuple[str, ...] = ("torch", "nvdiffrast")
ENV_VARIABLE = "GANLIFT_RASTERIZER"


def resolve_backend(backend: str | None, device: torch.device) -> BackendName:
    """The backend that serves a call on ``device``: argument, then env var, then automatic."""
    name = backend or os.environ.get(ENV_VARIABLE) or None
    if name is None:
        return (
            "nvdiffrast" if device.type == "cuda" and nvdiffrast_backend.is_available() else "torch"
        )
    if name not in BACKENDS:
        raise GANliftError(
            f"Unknown rasterizer '{name}' (argument or {ENV_VARIABLE}); use torch or nvdiffrast."
        )
    if name == "nvdiffrast":
        if not nvdiffrast_backend.is_available():
            raise GANliftError(
                f"Rasterizer 'nvdiffrast' was asked for but CUDA or the nvdiffrast package is "
                f"missing; install nvdiffrast on a CUDA machine or set {ENV_VARIABLE}=torch."
            )
        if device.type != "cuda":
            raise GANliftError(
                f"Rasterizer 'nvdiffrast' needs CUDA tensors but got {device}; move the model "
                f"to cuda or set {ENV_VARIABLE}=torch."
            )
    return name  # type: ignore[return-value]


def _module(backend: str | None, device: torch.device):
    if resolve_backend(backend, device) == "nvdiffrast":
        return nvdiffrast_backend
    return torch_backend


def _check_mesh(pos: torch.Tensor, tri: torch.Tensor) -> None:
    if pos.dim() != 3 or pos.shape[-1] != 4:
        raise ValueError(f"pos must be clip-space [B, V, 4], got {list(pos.shape)}")
    if tri.dim() != 2 or tri.shape[-1] != 3 or tri.dtype != torch.int32:
        raise ValueError(f"tri must be int32 [F, 3], got {tri.dtype} {list(tri.shape)}")
    if not pos.is_floating_point():
        raise ValueError(f"pos must be floating point, got {pos.dtype}")
    _check_indices(tri, pos.shape[1], "pos")


def _check_indices(tri: torch.Tensor, count: int, name: str) -> None:
    """Refuse corners of ``tri`` outside the ``count`` vertices of ``name`` (torch's bare
    "index out of range in self" deep in the backend)."""
    if not tri.numel():
        return
    low, high = (int(end) for end in torch.aminmax(tri))  # one reduction: a sync on a GPU
    if not 0 <= low <= high < count:
        raise ValueError(
            f"tri must index the {count} vertices of {name} (0 to {count - 1}), got corners "
            f"from {low} to {high}"
        )


def _check_rast(rast: torch.Tensor) -> None:
    if rast.dim() != 4 or rast.shape[-1] != 4:
        raise ValueError(f"rast must be [B, H, W, 4], got {list(rast.shape)}")


def rasterize(
    pos: torch.Tensor,
    tri: torch.Tensor,
    resolution: tuple[int, int],
    *,
    backend: str | None = None,
) -> torch.Tensor:
    """Rasterize triangles ``tri [F, 3]`` (int32) of clip-space vertices ``pos [B, V, 4]``.

    Returns ``rast [B, H, W, 4]`` = (u, v, z/w, triangle_id + 1), row 0 at the bottom, empty
    pixels all zero. (u, v) are differentiable w.r.t. ``pos``; z/w and the id are not.
    """
    _check_mesh(pos, tri)
    height, width = (int(size) for size in resolution)
    if height <= 0 or width <= 0:
        raise ValueError(f"resolution must be positive (height, width), got {resolution}")
    return _module(backend, pos.device).rasterize(pos, tri, (height, width))


def interpolate(
    attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor, *, backend: str | None = None
) -> torch.Tensor:
    """Interpolate vertex attributes ``attr [B, V, C]`` (or ``[1, V, C]`` / ``[V, C]``,
    shared by the batch) at every pixel of ``rast``: ``[B, H, W, C]``, zero where empty.

    Value = u·a0 + v·a1 + (1-u-v)·a2 for the triangle's corners; differentiable w.r.t.
    ``attr`` and the (u, v) channels of ``rast``.
    """
    _check_rast(rast)
    if attr.dim() == 2:
        attr = attr[None]
    if attr.dim() != 3 or attr.shape[0] not in (1, rast.shape[0]):
        raise ValueError(
            f"attr must be [B, V, C] with B = 1 or {rast.shape[0]}, got {list(attr.shape)}"
        )
    _check_indices(tri, attr.shape[1], "attr")
    return _module(backend, rast.device).interpolate(attr, rast, tri)


def antialias(
    color: torch.Tensor,
    rast: torch.Tensor,
    pos: torch.Tensor,
    tri: torch.Tensor,
    *,
    backend: str | None = None,
) -> torch.Tensor:
    """Blend ``color [B, H, W, C]`` across silhouette edges, like nvdiffrast's ``antialias``.

    Pixels next to an object's outline mix with their neighbour by how far the edge is from
    the pixel centre, which gives mask / image losses gradients w.r.t. vertex positions.
    ``rast``, ``pos`` and ``tri`` are those that produced ``color``.
    """
    _check_mesh(pos, tri)
    _check_rast(rast)
    if color.dim() != 4 or color.shape[:3] != rast.shape[:3]:
        raise ValueError(
            f"color must be [B, H, W, C] matching rast {list(rast.shape[:3])}, "
            f"got {list(color.shape)}"
        )
    return _module(backend, color.device).antialias(color, rast, pos, tri)
