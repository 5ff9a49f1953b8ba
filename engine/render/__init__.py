"""Differentiable rendering for GANlift: a rasterizer with two backends, GAN2Shape's camera,
depth-map geometry and shading, 2.5D view warping and mesh rendering.

Conventions
-----------
Rasterizer (nvdiffrast's contract, either backend serves every caller):
  * ``pos [B, V, 4]`` float32 clip-space vertices, ``tri [F, 3]`` int32 shared by the batch.
  * ``rast [B, H, W, 4]`` = (u, v, z/w, triangle_id + 1); empty pixels are all zero.
    Row 0 is the BOTTOM of the image (OpenGL): pixel (row r, column c) has its centre at
    NDC ((2c+1)/W - 1, (2r+1)/H - 1). Renderers below flip to the engine's top-row-first
    images. Triangles are drawn from both sides; z/w must lie in [-1, 1]; the torch backend
    drops (rather than clips) triangles with a corner at w <= 0.
  * An attribute interpolates as u·a0 + v·a1 + (1-u-v)·a2 over the triangle's corners
    (perspective-correct). (u, v) carry gradients to ``pos``; z/w and ids do not, so
    visibility changes reach ``pos`` only through `antialias`.
  * Backend: ``backend=`` argument, else env GANLIFT_RASTERIZER=torch|nvdiffrast, else
    nvdiffrast for CUDA tensors when it imports, else the pure-PyTorch one (any device).

GAN2Shape camera (`camera`): x right, y down, z forward; fov 10°, principal point at the
image centre, canonical depth in [0.9, 1.1]; a view ``[B, 6]`` = (pitch, yaw, roll in radians,
tx, ty, tz) rotates by Rz·Ry·Rx about (0, 0, 1) then translates. Light ``[B, 4]`` =
(ambient, diffuse, dx, dy), direction normalise(dx, dy, 1); shading =
ambient + diffuse·max(0, n·l) with n = (0, 0, 1) for a surface facing the camera.

Mesh cameras: OpenGL (`look_at`, `orbit_camera`, `perspective`), world y up.

Images are ``[B, C, H, W]`` top-row-first everywhere outside the rasterizer ops.

Example: render a depth map from 30° to the left::

    depth = torch.full((1, 64, 64), 1.0)
    view = torch.tensor([[0.0, math.radians(30), 0, 0, 0, 0]])
    image, mask = warp_image(canonical_image, depth, view)
"""

from engine.render.camera import (
    FOV_DEGREES,
    MAX_DEPTH,
    MIN_DEPTH,
    ROTATION_CENTER_DEPTH,
    apply_transform,
    clip_from_camera,
    intrinsics,
    inverse_transform_points,
    light_direction,
    look_at,
    orbit_camera,
    perspective,
    project_to_pixels,
    rotation_matrix,
    transform_points,
)
from engine.render.depth import depth_to_points, grid_faces, normals_from_depth, outward_normals
from engine.render.mesh import MeshRender, render_mesh, sample_texture, vertex_normals
from engine.render.rasterizer import antialias, interpolate, rasterize, resolve_backend
from engine.render.shading import diffuse_term, shade
from engine.render.warp import (
    render_depth_in_view,
    sampling_grid,
    warp_grid,
    warp_image,
    warp_images,
)

__all__ = [
    "FOV_DEGREES",
    "MAX_DEPTH",
    "MIN_DEPTH",
    "ROTATION_CENTER_DEPTH",
    "MeshRender",
    "antialias",
    "apply_transform",
    "clip_from_camera",
    "depth_to_points",
    "diffuse_term",
    "grid_faces",
    "interpolate",
    "intrinsics",
    "inverse_transform_points",
    "light_direction",
    "look_at",
    "normals_from_depth",
    "orbit_camera",
    "outward_normals",
    "perspective",
    "project_to_pixels",
    "rasterize",
    "render_depth_in_view",
    "render_mesh",
    "resolve_backend",
    "rotation_matrix",
    "sample_texture",
    "sampling_grid",
    "shade",
    "transform_points",
    "vertex_normals",
    "warp_grid",
    "warp_image",
    "warp_images",
]
