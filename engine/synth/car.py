"""Procedural cars: a lofted body (sedan, hatchback, SUV or van profile) on four wheels, and a
per-pixel albedo shader (paint, glass, lights, grille, trim, tyres and rims).

The body is one closed grid: rows run from the front bumper to the rear along the car's
length, columns go round a rounded-box cross-section whose top follows the body type's
roof-line profile and narrows above the belt line into the cabin. The end rows collapse
to a point, which closes the nose and tail. Each wheel is a closed cylinder. All share
one triangle list, so a batch renders in one rasterizer call.

Canonical pose: the car's centre at (0, 0, 1), its front towards the camera (−z), its roof
up (−y); it is about 0.16 long, so its surface spans roughly depths [0.92, 1.08].
"""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.render import FOV_DEGREES
from engine.synth.mesh import MeshBatch, grid_faces
from engine.synth.scene import CAR_VIEW_RANGES

BODY_ROWS, BODY_COLS, WHEEL_SEGMENTS = 40, 32, 18

BODY_TYPES: dict[str, np.ndarray] = {
    # (length position, roof-line height as a fraction of the car's height) keypoints: nose,
    # hood front, windshield base, roof front, roof rear, rear-window base, tail top, tail.
    "sedan": np.array(
        [[0.0, 0.42], [0.06, 0.55], [0.30, 0.60], [0.46, 1.0],
         [0.70, 1.0], [0.86, 0.66], [0.98, 0.63], [1.0, 0.45]]
    ),
    "hatchback": np.array(
        [[0.0, 0.42], [0.06, 0.56], [0.30, 0.62], [0.47, 1.0],
         [0.82, 0.98], [0.96, 0.70], [0.99, 0.62], [1.0, 0.45]]
    ),
    "suv": np.array(
        [[0.0, 0.48], [0.05, 0.62], [0.26, 0.68], [0.40, 1.0],
         [0.90, 1.0], [0.97, 0.92], [0.995, 0.80], [1.0, 0.5]]
    ),
    "van": np.array(
        [[0.0, 0.45], [0.04, 0.55], [0.13, 0.62], [0.30, 1.0],
         [0.96, 1.0], [0.99, 0.95], [0.998, 0.85], [1.0, 0.5]]
    ),
}  # fmt: skip
"""Roof-line keypoints per body type; samples jitter them."""

BODY_HEIGHTS = {"sedan": 0.30, "hatchback": 0.33, "suv": 0.40, "van": 0.45}
"""Height as a fraction of the length."""

PAINT_COLOURS = np.array(
    [[0.92, 0.92, 0.92], [0.05, 0.05, 0.06], [0.62, 0.63, 0.65], [0.35, 0.36, 0.38],
     [0.70, 0.06, 0.06], [0.08, 0.20, 0.55], [0.05, 0.09, 0.25], [0.10, 0.35, 0.16],
     [0.90, 0.75, 0.10], [0.90, 0.40, 0.08], [0.40, 0.26, 0.15], [0.55, 0.75, 0.85]]
)  # fmt: skip

CAR_PARAMETERS: dict[str, tuple[float, float]] = {
    "body_type": (0.0, 1.0),  # index into BODY_TYPES
    "length": (0.150, 0.168),
    "width_ratio": (0.37, 0.43),  # width / length
    "height_scale": (0.92, 1.08),
    "cabin_taper": (0.70, 0.86),  # roof width / body width
    "belt_line": (0.55, 0.66),  # height fraction where the glass starts
    "clearance": (0.10, 0.16),  # body bottom above the ground, fraction of height
    "wheel_radius": (0.062, 0.074),  # fraction of length
    "front_axle": (0.15, 0.20),
    "rear_axle": (0.78, 0.84),
    "roof_jitter": (-0.04, 0.04),
    "hood_jitter": (-0.04, 0.04),
    "paint": (0.0, 1.0),  # index into PAINT_COLOURS
    "paint_jitter": (-1.0, 1.0),
    "rim_brightness": (0.3, 0.85),
    "tinted_glass": (0.0, 1.0),
}

ATTRIBUTE_NAMES = ("part", "along", "height", "lateral", "top", "radial")
"""Per-vertex attributes: part (0 body, 1 wheel), position along the length (0 front … 1 rear),
height above the ground and lateral offset (fractions of the car's height and half-width),
top-ness of the body surface (1 on the roof, 0 on the sides) and, for wheels, the radius
fraction on the hub faces (1 on the tread)."""


def sample_car_parameters(rngs: list[np.random.Generator]) -> torch.Tensor:
    """Draw one car per generator: ``[B, P]`` in the order of `CAR_PARAMETERS`."""
    low = np.array([bounds[0] for bounds in CAR_PARAMETERS.values()])
    high = np.array([bounds[1] for bounds in CAR_PARAMETERS.values()])
    return torch.tensor(np.stack([rng.uniform(low, high) for rng in rngs]), dtype=torch.float32)


def _column(params: torch.Tensor, name: str) -> torch.Tensor:
    """One parameter as ``[B, 1]``."""
    return params[:, list(CAR_PARAMETERS).index(name), None]


def body_type_names(params: torch.Tensor) -> list[str]:
    """The body type of each car in a batch of parameters ``[B, P]``."""
    names = list(BODY_TYPES)
    index = (_column(params, "body_type")[:, 0] * len(names)).long().clamp(max=len(names) - 1)
    return [names[i] for i in index.tolist()]


def car_topology(device: torch.device) -> torch.Tensor:
    """The shared triangle list ``[F, 3]``: body grid, then four wheel cylinders."""
    body = grid_faces(BODY_ROWS, BODY_COLS, wrap=True)
    wheel_vertices = 4 * WHEEL_SEGMENTS
    first_wheel = BODY_ROWS * BODY_COLS
    wheels = [
        grid_faces(4, WHEEL_SEGMENTS, wrap=True, offset=first_wheel + k * wheel_vertices)
        for k in range(4)
    ]
    return torch.cat([body, *wheels]).to(device)


def build_car_meshes(params: torch.Tensor, size: int) -> MeshBatch:
    """Cars for parameters ``[B, P]`` in canonical pose (front towards the camera); one mesh
    resolution serves every image `size`."""
    body_vertices, body_attributes = _body(params)
    wheel_vertices, wheel_attributes = _wheels(params)
    vertices = torch.cat([body_vertices, wheel_vertices], 1)
    vertices = vertices + vertices.new_tensor([0.0, 0.0, 1.0])
    attributes = torch.cat([body_attributes, wheel_attributes], 1)
    return MeshBatch(vertices=vertices, faces=car_topology(params.device), attributes=attributes)


def _dimensions(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Length, half-width and height ``[B, 1]`` of each car."""
    heights = torch.tensor(
        [BODY_HEIGHTS[name] for name in body_type_names(params)], device=params.device
    )
    length = _column(params, "length")
    height = length * heights[:, None] * _column(params, "height_scale")
    return length, length * _column(params, "width_ratio") / 2, height


def _roof_line(params: torch.Tensor, along: torch.Tensor) -> torch.Tensor:
    """Roof-line height fraction ``[B, R]`` at length positions ``along [R]``."""
    keypoints = torch.tensor(
        np.stack([BODY_TYPES[name] for name in body_type_names(params)]),
        dtype=params.dtype,
        device=params.device,
    )  # [B, K, 2]
    heights = keypoints[..., 1].clone()
    heights[:, 3:5] += _column(params, "roof_jitter")
    heights[:, 1:3] += _column(params, "hood_jitter")
    positions = keypoints[..., 0].contiguous()
    query = along.expand(params.shape[0], -1).contiguous()  # [B, R]
    upper = torch.searchsorted(positions, query).clamp(1, positions.shape[1] - 1)
    lower = upper - 1
    x0, x1 = positions.gather(1, lower), positions.gather(1, upper)
    y0, y1 = heights.gather(1, lower), heights.gather(1, upper)
    return y0 + (y1 - y0) * ((query - x0) / (x1 - x0)).clamp(0, 1)


def _body(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Body vertices ``[B, R·C, 3]`` (centred on the origin) and attributes ``[B, R·C, 6]``."""
    device = params.device
    t = torch.linspace(0, 1, BODY_ROWS, device=device)
    along = 0.5 - 0.5 * torch.cos(math.pi * t)  # denser at the nose and tail
    roof = _roof_line(params, along)[..., None]  # [B, R, 1]
    length, half_width, height = _dimensions(params)
    clearance = _column(params, "clearance")[..., None]  # [B, 1, 1]

    angle = torch.linspace(0, 2 * math.pi, BODY_COLS + 1, device=device)[:-1]
    # Loop starts at the bottom centre and runs through the +x side (the car's left) to the roof.
    lateral = angle.sin().view(1, 1, -1)
    vertical = -angle.cos().view(1, 1, -1)  # -1 bottom … 1 top
    lateral = lateral.sign() * lateral.abs() ** 0.35  # boxy section
    vertical = vertical.sign() * vertical.abs() ** 0.35
    height_fraction = clearance + (roof - clearance) * (vertical + 1) / 2  # [B, R, C]
    belt = _column(params, "belt_line")[..., None]
    cabin = ((height_fraction - belt) / (1 - belt)).clamp(0, 1)
    width_fraction = 1 - (1 - _column(params, "cabin_taper")[..., None]) * cabin**0.8
    # Shrinks the section to a point at both ends, closing the nose and the tail.
    nose_and_tail = (torch.sin(math.pi * t).clamp(min=0) ** 0.25).view(1, -1, 1)
    x = half_width[..., None] * lateral * width_fraction * nose_and_tail
    y = height[..., None] * (0.5 - clearance - (height_fraction - clearance) * nose_and_tail)
    z = (length * (along - 0.5))[..., None].expand_as(x)
    vertices = torch.stack([x, y, z], -1).reshape(params.shape[0], -1, 3)

    attributes = torch.stack(
        torch.broadcast_tensors(
            torch.zeros_like(x), along.view(1, -1, 1), 0.5 - y / height[..., None],
            x / half_width[..., None], vertical, torch.zeros_like(x),
        ),
        -1,
    ).reshape(params.shape[0], -1, 6)  # fmt: skip
    return vertices, attributes


def _wheels(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Four wheel cylinders: vertices ``[B, 4·4·S, 3]`` and attributes ``[B, 4·4·S, 6]``."""
    device = params.device
    length, half_width, height = _dimensions(params)
    radius = (_column(params, "wheel_radius") * length)[..., None]  # [B, 1, 1]
    tyre_width = 0.28 * half_width[..., None]
    angle = torch.linspace(0, 2 * math.pi, WHEEL_SEGMENTS + 1, device=device)[:-1].view(1, 1, -1)
    # Rings: outer hub centre, outer rim, inner rim, inner hub centre.
    ring_radius = torch.tensor([0.0, 1.0, 1.0, 0.0], device=device).view(1, 4, 1)
    ring_offset = torch.tensor([0.5, 0.5, -0.5, -0.5], device=device).view(1, 4, 1)
    wheels, attributes = [], []
    for side in (1.0, -1.0):
        for axle in ("front_axle", "rear_axle"):
            centre_z = (length * (_column(params, axle) - 0.5))[..., None]
            centre_y = height[..., None] / 2 - radius
            lateral = side * (half_width[..., None] - tyre_width * 0.45 + tyre_width * ring_offset)
            rim = radius * ring_radius
            x = lateral.expand(-1, 4, WHEEL_SEGMENTS)
            y = centre_y + rim * angle.cos()
            z = centre_z + rim * angle.sin()
            rings = torch.stack(torch.broadcast_tensors(x, y, z), -1)  # [B, 4, S, 3]
            radial = ring_radius.expand(1, 4, WHEEL_SEGMENTS)
            if side < 0:  # mirrored wheel: reverse the rings so its normals still point out
                rings, radial = rings.flip(1), radial.flip(1)
            wheels.append(rings)
            along = (centre_z / length[..., None] + 0.5).expand_as(x)
            attr = torch.stack(
                torch.broadcast_tensors(
                    torch.ones_like(x), along, torch.zeros_like(x),
                    torch.full_like(x, side), torch.zeros_like(x), radial,
                ),
                -1,
            )  # fmt: skip
            attributes.append(attr)
    batch = params.shape[0]
    return (
        torch.cat([w.reshape(batch, -1, 3) for w in wheels], 1),
        torch.cat([a.reshape(batch, -1, 6) for a in attributes], 1),
    )


def car_views_for_framing(
    params: torch.Tensor, azimuth: torch.Tensor, elevation: torch.Tensor, draws: torch.Tensor
) -> torch.Tensor:
    """Translations ``[B, 3]`` that frame each car: the distance makes its projected width at
    this azimuth fill part of the frame (clamped to stay near GAN2Shape's depth range), and
    ``draws [B, 3]`` in [-1, 1] pick the x/y shift and the fill fraction
    (`engine.synth.scene.CAR_VIEW_RANGES`)."""
    length, half_width, height = _dimensions(params)
    extent = length[:, 0] * azimuth.sin().abs() + 2 * half_width[:, 0] * azimuth.cos().abs()
    extent = torch.maximum(extent, 1.6 * height[:, 0] * (1 + elevation.sin()))
    low, high = CAR_VIEW_RANGES["fill"]
    fill = low + (high - low) * (draws[:, 2] + 1) / 2
    distance = extent / (2 * fill * math.tan(math.radians(FOV_DEGREES / 2)))
    tz = (distance - 1.0).clamp(-0.12, 0.06)
    shift = CAR_VIEW_RANGES["shift"] * draws[:, :2]
    return torch.cat([shift, tz[:, None]], 1)


def shade_car_albedo(attributes: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Per-pixel albedo ``[B, 3, H, W]`` in [0, 1] from interpolated attributes ``[B, H, W, 6]``."""
    part, along, height, lateral, top, radial = attributes.unbind(-1)  # [B, H, W]
    p = {name: _column(params, name)[..., None] for name in CAR_PARAMETERS}  # [B, 1, 1]
    palette = torch.tensor(PAINT_COLOURS, dtype=attributes.dtype, device=attributes.device)
    index = (p["paint"].flatten() * len(PAINT_COLOURS)).long().clamp(max=len(PAINT_COLOURS) - 1)
    paint = (palette[index] * (1 + 0.08 * p["paint_jitter"].view(-1, 1))).clamp(0, 1)
    colour = paint.view(-1, 3, 1, 1).expand(-1, -1, *part.shape[1:])  # [B, 3, H, W]

    belt = p["belt_line"]
    body = part < 0.5
    roof_front, roof_rear = _roof_span(params)
    glass_side = body & (height > belt + 0.04) & (top.abs() < 0.93) & (along > 0.2) & (along < 0.93)
    pillar = (along - (roof_front + roof_rear) / 2).abs() < 0.015
    glass_top = (
        body
        & (top > 0.9)
        & (height > belt + 0.03)
        & ((along < roof_front - 0.01) | (along > roof_rear + 0.01))
    )
    glass_colour = (
        0.10 + 0.25 * (1 - p["tinted_glass"]) * ((height - belt) / (1 - belt)).clamp(0, 1)
    )[:, None]
    glass_colour = glass_colour * colour.new_tensor([0.85, 0.95, 1.1]).view(1, 3, 1, 1)
    front, rear, wheel = along < 0.025, along > 0.975, part >= 0.5
    lamp_band = (height > 0.42) & (height < 0.55) & (lateral.abs() > 0.5) & (lateral.abs() < 0.92)
    grille = front & (lateral.abs() < 0.45) & (height > 0.25) & (height < 0.45)
    grey = colour.new_tensor
    layers = [  # painted in order over the body colour
        ((glass_side & ~pillar) | glass_top, glass_colour),
        (body & front & lamp_band, grey(0.95)),  # headlights
        (body & rear & lamp_band, grey([0.75, 0.05, 0.04]).view(1, 3, 1, 1)),  # tail lights
        (body & grille, grey(0.08)),
        (body & (height < 0.2), grey(0.12)),  # lower bumper trim and sills
        (wheel, grey(0.05)),  # tyres
        (wheel & (radial < 0.62), p["rim_brightness"][:, None].expand(-1, 3, 1, 1)),  # rims
    ]
    for region, value in layers:
        colour = torch.where(region[:, None], value, colour)
    return colour.clamp(0, 1)


def _roof_span(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Length positions ``[B, 1, 1]`` where the flat roof starts and ends."""
    keypoints = np.stack([BODY_TYPES[name] for name in body_type_names(params)])  # [B, K, 2]
    span = torch.tensor(keypoints[:, 3:5, 0], dtype=params.dtype, device=params.device)
    return span[:, 0, None, None], span[:, 1, None, None]
