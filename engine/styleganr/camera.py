"""StyleGAN-R's interpretable camera and where it puts an object in GAN2Shape's camera space.

A camera is ``[B, 3]`` = (azimuth in degrees, elevation in degrees, scale). The object sits
in object coordinates (x to the right of one facing its front, which is its own left; y down;
front towards -z; about unit size; see `engine.styleganr.icosphere`). It is turned about its
vertical axis by the azimuth (0 = front towards the camera, positive turns its +x side, the
car's own left, into view: at 90 its nose points to the image's left), tilted towards the
camera by the elevation (camera above the object), sized by `OBJECT_RADIUS` and placed at
depth 1 / scale, so a larger scale makes it look bigger. That is exactly how the synthetic car
world (`engine.synth`) poses its cars, so its views convert to cameras without loss
(`camera_from_view`), apart from its tiny x/y shifts.
"""

from __future__ import annotations

import math

import torch

from engine.render import clip_from_camera, rotation_matrix

OBJECT_RADIUS = 0.08
"""Camera-space size of one object unit: a synthetic car (about 0.16 long) spans [-1, 1]."""


def camera_rotation(camera: torch.Tensor) -> torch.Tensor:
    """``Rx(elevation) · Ry(azimuth)`` ``[B, 3, 3]`` for cameras ``[B, 3]`` (y points down, so
    a positive elevation brings the top of the object into view)."""
    _check_camera(camera)
    angles = torch.deg2rad(camera[:, :2])  # [B, 2]
    zero = torch.zeros_like(angles[:, 0])
    tilt = rotation_matrix(torch.stack([angles[:, 1], zero, zero], 1))  # [B, 3, 3]
    turn = rotation_matrix(torch.stack([zero, angles[:, 0], zero], 1))  # [B, 3, 3]
    return tilt @ turn


def object_to_camera(points: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """Object-coordinate points ``[B, N, 3]`` to GAN2Shape camera space ``[B, N, 3]``."""
    rotated = OBJECT_RADIUS * points @ camera_rotation(camera).transpose(1, 2)  # [B, N, 3]
    depth = 1.0 / camera[:, 2].clamp_min(1e-3)  # [B]
    offset = torch.stack([torch.zeros_like(depth), torch.zeros_like(depth), depth], 1)
    return rotated + offset[:, None]


def projection(size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The clip-space projection ``[4, 4]`` of GAN2Shape's camera for ``size``² images."""
    return clip_from_camera(size, size).to(device)


def camera_from_view(view: torch.Tensor) -> torch.Tensor:
    """Cameras ``[B, 3]`` of synthetic car views ``[B, 6]`` (`engine.synth`'s GAN2Shape views).

    The view's rotation is Rx(e)·Ry(a): its row 2 is (-cos e·sin a, sin e, cos e·cos a), so
    e = asin(r21) and a = atan2(-r20, r22); its depth 1 + tz gives scale = 1 / (1 + tz).
    """
    if view.dim() != 2 or view.shape[1] != 6:
        raise ValueError(f"view must be [B, 6], got {list(view.shape)}")
    rotation = rotation_matrix(view[:, :3])  # [B, 3, 3]
    elevation = torch.asin(rotation[:, 2, 1].clamp(-1, 1))
    azimuth = torch.atan2(-rotation[:, 2, 0], rotation[:, 2, 2]) % (2 * math.pi)
    scale = 1.0 / (1.0 + view[:, 5])
    return torch.stack([torch.rad2deg(azimuth), torch.rad2deg(elevation), scale], 1)


def azimuth_difference(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Absolute angular difference in degrees, in [0, 180], of azimuths ``[...]``."""
    return ((first - second + 180) % 360 - 180).abs()


def axis_difference(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Absolute difference in degrees, in [0, 90], of the axes of azimuths ``[...]``: azimuths
    taken modulo 180, so a car seen from the front and from the back share an axis."""
    return 90 - (azimuth_difference(first, second) - 90).abs()


def _check_camera(camera: torch.Tensor) -> None:
    if camera.dim() != 2 or camera.shape[1] != 3:
        raise ValueError(
            f"camera must be [B, 3] (azimuth°, elevation°, scale), got {list(camera.shape)}"
        )
