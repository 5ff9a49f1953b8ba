"""Depth maps as geometry in GAN2Shape's camera: back-projection to points, the grid mesh
over the pixels, and surface normals.
"""

from __future__ import annotations

import torch

from engine.render.camera import intrinsics

_TINY = 1e-20  # cross products of neighbouring points are ~1e-5; only guard exact zeros


def _check_depth(depth: torch.Tensor) -> None:
    if depth.dim() != 3 or depth.shape[1] < 2 or depth.shape[2] < 2:
        raise ValueError(f"depth must be [B, H, W] with H, W >= 2, got {list(depth.shape)}")


def depth_to_points(depth: torch.Tensor) -> torch.Tensor:
    """Back-project ``depth [B, H, W]`` to camera-space points ``[B, H, W, 3]`` = d·K⁻¹(j, i, 1)."""
    _check_depth(depth)
    _, height, width = depth.shape
    k = intrinsics(height, width, device=depth.device).to(depth.dtype)
    cols = (torch.arange(width, device=depth.device, dtype=depth.dtype) - k[0, 2]) / k[0, 0]
    rows = (torch.arange(height, device=depth.device, dtype=depth.dtype) - k[1, 2]) / k[1, 1]
    rays = torch.stack(
        [
            cols.expand(height, width),
            rows[:, None].expand(height, width),
            depth.new_ones(height, width),
        ],
        -1,
    )  # [H, W, 3]
    return depth[..., None] * rays


def grid_faces(height: int, width: int, *, device: torch.device | None = None) -> torch.Tensor:
    """Triangles ``int32 [2·(H-1)·(W-1), 3]`` over the vertices of an H×W pixel grid.

    Vertex index = row·W + column; each grid cell gives the triangles (top-left, bottom-left,
    top-right) and (top-right, bottom-left, bottom-right) as GAN2Shape does.
    """
    index = torch.arange(height * width, device=device, dtype=torch.int32).view(height, width)
    top_left, top_right = index[:-1, :-1], index[:-1, 1:]
    bottom_left, bottom_right = index[1:, :-1], index[1:, 1:]
    upper = torch.stack([top_left, bottom_left, top_right], -1).view(-1, 3)
    lower = torch.stack([top_right, bottom_left, bottom_right], -1).view(-1, 3)
    return torch.cat([upper, lower])


def normals_from_depth(depth: torch.Tensor) -> torch.Tensor:
    """Unit surface normals ``[B, 3, H, W]`` of a depth map, GAN2Shape's convention.

    Central differences of the back-projected points, n = ∂P/∂column × ∂P/∂row: in the camera
    frame (x right, y down, z forward) they point into the surface, so a surface facing the
    camera has n = (0, 0, 1); the one-pixel border is set to (0, 0, 1). `outward_normals`
    turns them into a normal map's usual axes.
    """
    points = depth_to_points(depth)  # [B, H, W, 3]
    along_cols = points[:, 1:-1, 2:] - points[:, 1:-1, :-2]  # [B, H-2, W-2, 3]
    along_rows = points[:, 2:, 1:-1] - points[:, :-2, 1:-1]
    inner = torch.linalg.cross(along_cols, along_rows, dim=-1).permute(
        0, 3, 1, 2
    )  # [B, 3, H-2, W-2]
    normal = torch.nn.functional.pad(inner, (1, 1, 1, 1))
    border = torch.ones_like(depth, dtype=torch.bool)[:, None]  # [B, 1, H, W]
    border[:, :, 1:-1, 1:-1] = False
    normal = normal + border * normal.new_tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1)
    return normal / normal.norm(dim=1, keepdim=True).clamp(min=_TINY)


def outward_normals(normal: torch.Tensor) -> torch.Tensor:
    """`normals_from_depth`'s normals ``[B, 3, ...]`` (a map, or directions such as the light's
    of `light_direction`) on a normal map's usual axes, those of the exported meshes: out of
    the surface, x right, y up, z towards the viewer (red right, green up, blue towards the
    viewer as colours). A light's direction becomes the one towards the light."""
    flip = normal.new_tensor([-1.0, 1.0, 1.0]).view(1, 3, *([1] * (normal.dim() - 2)))
    return normal * flip
