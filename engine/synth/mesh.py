"""Mesh building blocks shared by the procedural categories: grid topology and the batch
container (one topology, per-sample vertex positions and attributes)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class MeshBatch:
    """A batch of meshes that share one triangle list, in canonical GAN2Shape camera space."""

    vertices: torch.Tensor
    """``[B, V, 3]`` positions (x right, y down, z away from the camera), object near z = 1."""
    faces: torch.Tensor
    """``[F, 3]`` int32 vertex indices, wound so that normals point out of the object."""
    attributes: torch.Tensor
    """``[B, V, A]`` per-vertex values the category's albedo shader reads after interpolation."""


def grid_faces(rows: int, cols: int, *, wrap: bool, offset: int = 0) -> torch.Tensor:
    """Triangles ``[F, 3]`` of a rows×cols vertex grid (row-major), optionally closed across
    the last column; with rows running down a surface and columns to its right, the winding
    gives normals pointing to the viewer of that layout."""
    index = torch.arange(rows * cols).view(rows, cols) + offset
    right = index.roll(-1, dims=1) if wrap else index[:, 1:]
    left = index if wrap else index[:, :-1]
    top_left, top_right = left[:-1], right[:-1]
    bottom_left, bottom_right = left[1:], right[1:]
    first = torch.stack([top_left, bottom_left, top_right], -1)
    second = torch.stack([top_right, bottom_left, bottom_right], -1)
    return torch.cat([first.reshape(-1, 3), second.reshape(-1, 3)]).int()
