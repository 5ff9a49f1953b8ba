"""Differentiable mesh rendering: colour (per-vertex or UV texture), depth, normals and a soft
(antialiased) mask in one pass of rasterize → interpolate → antialias.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.render.batching import broadcast_batch
from engine.render.camera import apply_transform
from engine.render.rasterizer import antialias as antialias_op
from engine.render.rasterizer import interpolate, rasterize

_EPS = 1e-8


@dataclass(frozen=True)
class MeshRender:
    """What `render_mesh` produces; images are top-row-first."""

    image: torch.Tensor
    """``[B, C, H, W]`` colour composited over the background."""
    depth: torch.Tensor
    """``[B, H, W]`` distance along the view axis (clip w), 0 where empty."""
    normal: torch.Tensor
    """``[B, 3, H, W]`` unit camera-space normals (interpolated vertex normals), 0 where empty."""
    mask: torch.Tensor
    """``[B, 1, H, W]`` coverage; soft at silhouettes when antialiased."""


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals ``[B, V, 3]``; faces wound counter-clockwise (seen from
    the side the normal points to) give (v1 - v0) × (v2 - v0) outward."""
    corners = vertices[:, faces.long()]  # [B, F, 3, 3]
    face_normal = torch.linalg.cross(
        corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0], dim=-1
    )  # [B, F, 3], length = twice the area
    summed = torch.zeros_like(vertices)
    for corner in range(3):
        summed = summed.index_add(1, faces[:, corner].long(), face_normal)
    return summed / (summed.norm(dim=-1, keepdim=True) + _EPS)


def sample_texture(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup of ``texture [B or 1, C, Ht, Wt]`` at ``uv [B, H, W, 2]``: ``[B, C, H, W]``.

    u runs along the texture width, v along its height with v = 0 at the first (top) row
    (glTF's convention); texel centres sit at (i + 0.5) / size; lookups clamp at the border.
    """
    texture = broadcast_batch(texture, uv.shape[0], "texture")
    return F.grid_sample(
        texture, uv * 2 - 1, mode="bilinear", padding_mode="border", align_corners=False
    )


def render_mesh(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    resolution: tuple[int, int],
    *,
    projection: torch.Tensor,
    camera_from_world: torch.Tensor | None = None,
    vertex_colors: torch.Tensor | None = None,
    uv: torch.Tensor | None = None,
    uv_faces: torch.Tensor | None = None,
    texture: torch.Tensor | None = None,
    background: torch.Tensor | float = 0.0,
    antialias: bool = True,
    backend: str | None = None,
) -> MeshRender:
    """Render meshes ``vertices [B, V, 3]`` / ``faces int32 [F, 3]`` at ``resolution (H, W)``.

    Vertices are in camera space, or in world space when ``camera_from_world [B, 4, 4]`` is
    given; ``projection [4, 4]`` or ``[B, 4, 4]`` maps camera to clip space (`perspective` for
    OpenGL cameras, `clip_from_camera` for GAN2Shape's). Colour comes from ``vertex_colors
    [B or 1, V, C]``, or from ``texture [B or 1, C, Ht, Wt]`` looked up at per-vertex ``uv
    [B or 1, Vt, 2]`` indexed by ``uv_faces [F, 3]`` (default ``faces``), else white (1).
    Colours come out in the range they went in ([0, 1] for `TexturedMesh.vertex_colors`,
    [-1, 1] for the engine's images), and ``background`` (a float or ``[B or 1, C, H, W]``)
    must be in that range too. With ``antialias`` the image and mask
    are blended across silhouettes, so mask / image losses move the vertices.
    """
    if vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices must be [B, V, 3], got {list(vertices.shape)}")
    if (uv is not None and texture is None) or (texture is not None and uv is None):
        raise ValueError("uv and texture must be given together")
    if vertex_colors is not None and texture is not None:
        raise ValueError("give vertex_colors or uv + texture, not both")
    batch = vertices.shape[0]
    if camera_from_world is not None:
        vertices = apply_transform(vertices, camera_from_world)[..., :3]
    clip = apply_transform(vertices, projection)  # [B, V, 4]
    rast = rasterize(clip, faces, resolution, backend=backend)  # [B, H, W, 4] bottom-first
    covered = (rast[..., 3:] > 0).to(vertices.dtype)  # [B, H, W, 1]

    # One interpolation for every per-vertex attribute: colour (if any), normal, clip w.
    per_vertex = [vertex_normals(vertices, faces), clip[..., 3:]]
    if vertex_colors is not None:
        per_vertex.insert(0, broadcast_batch(vertex_colors, batch, "vertex_colors"))
    attributes = interpolate(torch.cat(per_vertex, -1), rast, faces, backend=backend)
    normal, depth = attributes[..., -4:-1], attributes[..., -1:]  # [B, H, W, 3], [B, H, W, 1]
    normal = normal / (normal.norm(dim=-1, keepdim=True) + _EPS)
    if vertex_colors is not None:
        color = attributes[..., :-4]  # [B, H, W, C]
    elif texture is not None:
        pixel_uv = interpolate(uv, rast, faces if uv_faces is None else uv_faces, backend=backend)
        color = sample_texture(texture, pixel_uv).permute(0, 2, 3, 1)  # [B, H, W, C]
    else:
        color = covered.expand(-1, -1, -1, 3)
    if isinstance(background, torch.Tensor):
        background = broadcast_batch(background, batch, "background").flip(2).permute(0, 2, 3, 1)
    color = color * covered + background * (1 - covered)

    if antialias:
        blended = antialias_op(torch.cat([color, covered], -1), rast, clip, faces, backend=backend)
        color, covered = blended[..., :-1], blended[..., -1:]

    def to_image(values: torch.Tensor) -> torch.Tensor:
        return values.flip(1).permute(0, 3, 1, 2)  # [B, H, W, C] bottom-first → [B, C, H, W]

    return MeshRender(
        image=to_image(color),
        depth=to_image(depth)[:, 0],
        normal=to_image(normal),
        mask=to_image(covered),
    )
