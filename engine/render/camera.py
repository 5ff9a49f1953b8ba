"""Cameras: GAN2Shape's fixed perspective camera (the one place its conventions live) and
look-at / orbit / perspective matrices for full 360° mesh rendering.

GAN2Shape camera space (as in unsup3d and GAN2Shape's renderer.py): x to the right, y down,
z forward (away from the camera). Pixel (row i, column j) of an H×W image, row 0 at the top,
has its centre at image coordinates (u, v) = (j, i); the intrinsics are
``fx = (W-1) / 2 / tan(fov/2)``, ``fy = (H-1) / 2 / tan(fov/2)``, ``cx = (W-1)/2``,
``cy = (H-1)/2`` with fov = 10°, so a point (x, y, z) lands at ``u = fx·x/z + cx``,
``v = fy·y/z + cy``. Canonical depth lies in [0.9, 1.1].

A GAN2Shape view is ``[B, 6]`` = (pitch, yaw, roll in radians, tx, ty, tz). It moves a
canonical point p to ``R (p - c) + c + t`` with c = (0, 0, 1), t = (tx, ty, tz) and
``R = Rz(roll) · Ry(yaw) · Rx(pitch)`` (right-handed rotations about the camera axes); the
inverse warp is ``R^T (p - t - c) + c``.

Mesh cameras follow OpenGL: world y up, the camera looks down its -z axis with y up, and
`perspective` maps camera space to clip space with w = -z (the distance along the view axis).
"""

from __future__ import annotations

import math

import torch

FOV_DEGREES = 10.0
MIN_DEPTH = 0.9
MAX_DEPTH = 1.1
ROTATION_CENTER_DEPTH = (MIN_DEPTH + MAX_DEPTH) / 2
NEAR = 0.1
FAR = 10.0


def intrinsics(
    height: int, width: int, *, fov_degrees: float = FOV_DEGREES, device: torch.device | None = None
) -> torch.Tensor:
    """GAN2Shape's pinhole intrinsics K (principal point at the image centre): ``[3, 3]``."""
    scale = 1.0 / math.tan(math.radians(fov_degrees) / 2)
    fx, fy = (width - 1) / 2 * scale, (height - 1) / 2 * scale
    cx, cy = (width - 1) / 2, (height - 1) / 2
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], device=device)


def rotation_matrix(angles: torch.Tensor) -> torch.Tensor:
    """``R = Rz(roll) · Ry(yaw) · Rx(pitch)`` from angles ``[B, 3]`` in radians: ``[B, 3, 3]``."""
    cos, sin = angles.cos(), angles.sin()  # [B, 3]
    one, zero = torch.ones_like(cos[:, 0]), torch.zeros_like(cos[:, 0])

    def matrix(*rows: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return torch.stack([torch.stack(row, -1) for row in rows], -2)  # [B, 3, 3]

    c, s = cos[:, 0], sin[:, 0]
    pitch = matrix((one, zero, zero), (zero, c, -s), (zero, s, c))
    c, s = cos[:, 1], sin[:, 1]
    yaw = matrix((c, zero, s), (zero, one, zero), (-s, zero, c))
    c, s = cos[:, 2], sin[:, 2]
    roll = matrix((c, -s, zero), (s, c, zero), (zero, zero, one))
    return roll @ yaw @ pitch


def _check_view(view: torch.Tensor) -> None:
    if view.dim() != 2 or view.shape[1] != 6:
        raise ValueError(f"view must be [B, 6] (3 angles, 3 translations), got {list(view.shape)}")


def transform_points(points: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
    """Move canonical camera-space points ``[B, N, 3]`` into view ``[B, 6]``: R (p-c) + c + t."""
    _check_view(view)
    center = points.new_tensor([0.0, 0.0, ROTATION_CENTER_DEPTH])
    rotation = rotation_matrix(view[:, :3])  # [B, 3, 3]
    rotated = (points - center) @ rotation.transpose(1, 2) + center  # [B, N, 3]
    return rotated + view[:, None, 3:]


def inverse_transform_points(points: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
    """Undo `transform_points`: points ``[B, N, 3]`` seen in view ``[B, 6]`` back to canonical."""
    _check_view(view)
    center = points.new_tensor([0.0, 0.0, ROTATION_CENTER_DEPTH])
    rotation = rotation_matrix(view[:, :3])  # [B, 3, 3]
    return (points - view[:, None, 3:] - center) @ rotation + center  # [B, N, 3]


def project_to_pixels(points: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Camera-space points ``[..., 3]`` to image coordinates ``[..., 2]`` = (u column, v row)."""
    k = intrinsics(height, width, device=points.device).to(points.dtype)
    homogeneous = points / points[..., 2:3]  # [..., 3]
    return (homogeneous @ k.T)[..., :2]


def clip_from_camera(
    height: int, width: int, *, near: float = NEAR, far: float = FAR
) -> torch.Tensor:
    """4×4 projection taking GAN2Shape camera space to clip space for the rasterizer.

    Pixel centres of the rasterized image (flipped to row 0 at the top) land exactly where
    `intrinsics` puts them, so depth maps and rendered meshes share one pixel grid.
    w_clip = z; z/w maps [near, far] to [-1, 1].
    """
    scale = 1.0 / math.tan(math.radians(FOV_DEGREES) / 2)
    sx = (width - 1) / width * scale
    sy = (height - 1) / height * scale
    a, b = (far + near) / (far - near), -2 * far * near / (far - near)
    return torch.tensor(
        [[sx, 0.0, 0.0, 0.0], [0.0, -sy, 0.0, 0.0], [0.0, 0.0, a, b], [0.0, 0.0, 1.0, 0.0]]
    )


def apply_transform(points: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply a 4×4 matrix ``[4, 4]`` or ``[B, 4, 4]`` to 3D points ``[B, N, 3]``: ``[B, N, 4]``."""
    matrix = matrix.to(points)
    return points @ matrix[..., :, :3].transpose(-1, -2) + matrix[..., None, :, 3]


def light_direction(light: torch.Tensor) -> torch.Tensor:
    """Unit light direction ``[B, 3]`` = normalise(dx, dy, 1) from a light ``[B, 4]``."""
    if light.dim() != 2 or light.shape[1] != 4:
        raise ValueError(
            f"light must be [B, 4] (ambient, diffuse, dx, dy), got {list(light.shape)}"
        )
    direction = torch.cat([light[:, 2:4], torch.ones_like(light[:, :1])], 1)  # [B, 3]
    return direction / direction.norm(dim=1, keepdim=True)


def perspective(
    fov_y_degrees: float, *, aspect: float = 1.0, near: float = NEAR, far: float = 100.0
) -> torch.Tensor:
    """OpenGL perspective projection ``[4, 4]``: camera (looking down -z) to clip space."""
    f = 1.0 / math.tan(math.radians(fov_y_degrees) / 2)
    a, b = (far + near) / (near - far), 2 * far * near / (near - far)
    return torch.tensor(
        [[f / aspect, 0.0, 0.0, 0.0], [0.0, f, 0.0, 0.0], [0.0, 0.0, a, b], [0.0, 0.0, -1.0, 0.0]]
    )


def look_at(eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """World-to-camera matrices ``[B, 4, 4]`` for cameras at ``eye [B, 3]`` facing ``target``.

    ``up [B, 3]`` (or ``[3]``) fixes the roll; the camera looks down its -z axis with y up.
    """
    forward = target - eye
    forward = forward / forward.norm(dim=-1, keepdim=True)  # [B, 3]
    right = torch.linalg.cross(forward, up.expand_as(forward), dim=-1)
    right = right / right.norm(dim=-1, keepdim=True)
    true_up = torch.linalg.cross(right, forward, dim=-1)
    rotation = torch.stack([right, true_up, -forward], 1)  # [B, 3, 3] rows = camera axes
    translation = -(rotation @ eye[..., None])  # [B, 3, 1]
    bottom = eye.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(eye.shape[0], 1, 4)
    return torch.cat([torch.cat([rotation, translation], 2), bottom], 1)


def orbit_camera(
    azimuth: torch.Tensor, elevation: torch.Tensor, distance: torch.Tensor
) -> torch.Tensor:
    """World-to-camera ``[B, 4, 4]`` for a camera orbiting the origin (world y up).

    Angles ``[B]`` in radians: azimuth 0 puts the camera on +z, positive azimuth turns it
    towards +x; elevation lifts it towards +y. ``distance [B]`` is the radius.
    """
    eye = distance[:, None] * torch.stack(
        [elevation.cos() * azimuth.sin(), elevation.sin(), elevation.cos() * azimuth.cos()], 1
    )  # [B, 3]
    up = eye.new_tensor([0.0, 1.0, 0.0])
    return look_at(eye, torch.zeros_like(eye), up)
