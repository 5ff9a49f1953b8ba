"""Per-sample viewpoints, lights and backgrounds of the synthetic world.

Views are GAN2Shape views ``[B, 6]`` = (pitch, yaw, roll in radians, tx, ty, tz): the
canonical object is rotated by Rz·Ry·Rx about (0, 0, 1), then translated. Lights are
``[B, 4]`` = (ambient, diffuse, dx, dy), in the ranges GAN2Shape samples its pseudo
images from. Backgrounds are flat colours, gradients or smooth noise, all drawn from one
formula so a batch renders in one go.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

FACE_VIEW_RANGES = {"yaw": 40.0, "pitch": 20.0, "roll": 10.0, "shift": 0.008, "depth_shift": 0.02}
"""Faces: yaw ±40°, pitch ±20°, roll ±10°, x/y shift ±0.008, z shift ±0.02 (camera units)."""

CAR_VIEW_RANGES = {"elevation": (0.0, 30.0), "shift": 0.006, "fill": (0.70, 0.86)}
"""Cars: azimuth 0–360°, elevation 0–30° (camera above), x/y shift ±0.006, and a distance at
which the car's projected width fills this fraction of the frame (within GAN2Shape's depth
range, see `engine.synth.car.car_views_for_framing`)."""

LIGHT_RANGES = {"ambient": (0.3, 0.6), "diffuse": (0.4, 0.7), "dx": (-1.0, 1.0), "dy": (-0.2, 0.8)}
"""Ambient and diffuse strengths and the light direction's (dx, dy), as in GAN2Shape."""

_NOISE_GRID = 6


def sample_face_views(rngs: list[np.random.Generator]) -> torch.Tensor:
    """Views ``[B, 6]`` of heads around the frontal pose."""
    r = FACE_VIEW_RANGES
    rows = []
    for rng in rngs:
        pitch, yaw, roll = (
            math.radians(rng.uniform(-r[k], r[k])) for k in ("pitch", "yaw", "roll")
        )
        tx, ty = rng.uniform(-r["shift"], r["shift"], size=2)
        tz = rng.uniform(-r["depth_shift"], r["depth_shift"])
        rows.append([pitch, yaw, roll, tx, ty, tz])
    return torch.tensor(rows, dtype=torch.float32)


def car_view(
    azimuth: torch.Tensor, elevation: torch.Tensor, translation: torch.Tensor
) -> torch.Tensor:
    """GAN2Shape views ``[B, 6]`` for orbit angles ``[B]`` (radians) and translations ``[B, 3]``.

    The car first turns about its vertical axis by the azimuth (0 = front towards the
    camera), then tilts towards the camera by the elevation (camera above the car). That
    rotation, Rx(elevation)·Ry(azimuth), is re-expressed as GAN2Shape's Rz·Ry·Rx angles.
    """
    ca, sa = azimuth.cos(), azimuth.sin()
    ce, se = elevation.cos(), elevation.sin()
    # The entries of Rx(e) @ Ry(a) that the Euler decomposition needs.
    r00, r10, r20 = ca, se * sa, -ce * sa
    r21, r22 = se, ce * ca
    pitch = torch.atan2(r21, r22)
    yaw = torch.asin((-r20).clamp(-1, 1))
    roll = torch.atan2(r10, r00)
    return torch.cat([torch.stack([pitch, yaw, roll], 1), translation], 1)


def sample_car_orbits(
    rngs: list[np.random.Generator],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Azimuth and elevation ``[B]`` (radians) and raw shift/jitter draws ``[B, 3]`` in [-1, 1]."""
    low, high = CAR_VIEW_RANGES["elevation"]
    draws = np.array(
        [
            [
                rng.uniform(0, 2 * math.pi),
                math.radians(rng.uniform(low, high)),
                *rng.uniform(-1, 1, 3),
            ]
            for rng in rngs
        ]
    )
    as_tensor = torch.tensor(draws, dtype=torch.float32)
    return as_tensor[:, 0], as_tensor[:, 1], as_tensor[:, 2:]


def sample_lights(rngs: list[np.random.Generator]) -> torch.Tensor:
    """Lights ``[B, 4]`` = (ambient, diffuse, dx, dy)."""
    low = np.array([bounds[0] for bounds in LIGHT_RANGES.values()])
    high = np.array([bounds[1] for bounds in LIGHT_RANGES.values()])
    return torch.tensor(np.stack([rng.uniform(low, high) for rng in rngs]), dtype=torch.float32)


def sample_backgrounds(rngs: list[np.random.Generator]) -> torch.Tensor:
    """Background parameters ``[B, 10 + 3·G²]``: two colours, gradient direction and strength,
    noise amplitude, and a G×G grid of colour noise (G = 6)."""
    rows = []
    for rng in rngs:
        kind = rng.integers(3)  # 0 flat, 1 gradient, 2 noise
        grey = rng.uniform(0.1, 0.9)
        first = np.clip(grey + rng.uniform(0.15, 0.6) * (rng.uniform(0, 1, 3) - 0.5), 0, 1)
        second = np.clip(first + rng.normal(0, 0.2, 3), 0, 1)
        angle = rng.uniform(0, 2 * math.pi)
        gradient = 0.0 if kind == 0 else 1.0
        noise = (0.02, 0.04, 0.15)[kind] * rng.uniform(0.5, 1.0)
        grid = rng.uniform(-1, 1, 3 * _NOISE_GRID * _NOISE_GRID)
        rows.append(
            np.concatenate(
                [first, second, [math.cos(angle), math.sin(angle), gradient, noise], grid]
            )
        )
    return torch.tensor(np.stack(rows), dtype=torch.float32)


def render_backgrounds(params: torch.Tensor, size: int) -> torch.Tensor:
    """Backgrounds ``[B, 3, size, size]`` in [0, 1] from `sample_backgrounds` parameters."""
    batch = params.shape[0]
    first, second = params[:, 0:3, None, None], params[:, 3:6, None, None]  # [B, 3, 1, 1]
    direction, gradient, noise = params[:, 6:8], params[:, 8], params[:, 9]
    axis = torch.linspace(-1, 1, size, device=params.device)
    along = direction[:, 0, None, None] * axis.view(1, 1, -1) + direction[
        :, 1, None, None
    ] * axis.view(1, -1, 1)
    blend = (0.5 + 0.5 * along / math.sqrt(2)) * gradient.view(-1, 1, 1)  # [B, H, W]
    grid = params[:, 10:].view(batch, 3, _NOISE_GRID, _NOISE_GRID)
    smooth = F.interpolate(
        grid, size=(size, size), mode="bicubic", align_corners=True
    )  # [B, 3, H, W]
    colour = first + (second - first) * blend[:, None] + noise.view(-1, 1, 1, 1) * smooth
    return colour.clamp(0, 1)
