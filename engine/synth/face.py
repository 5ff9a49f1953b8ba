"""Procedural human heads: a displaced ellipsoid with a neck, and a per-pixel albedo shader.

The head is one closed latitude/longitude grid. Its vertices start on an ellipsoid
(``base``), from which each vertex keeps face coordinates (u, v, w) = base / radii: u to the
right, v down (eyes near v ≈ 0, mouth near v ≈ 0.55, chin near v ≈ 0.8), w < 0 on the face
side. Facial features are smooth bumps and dents in (u, v), pushed along the ellipsoid
normal: forehead and brow ridge, eye sockets and eyeballs, nose (bridge, tip, wings),
cheekbones, lips, chin, ears, and a hair shell above a hairline. The bottom of the grid
is pulled into a neck that leaves the frame. Albedo (skin, brows, eyes, lips, hair) is
evaluated per pixel from the interpolated (u, v, w), so details stay sharp at any mesh
resolution.

All sizes are in GAN2Shape camera units: the head is about 0.11 wide and sits around
z = 1, so its visible surface spans roughly the canonical depth range [0.9, 1.1].
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from engine.synth.mesh import MeshBatch, grid_faces

GRID_BY_SIZE = ((64, (40, 52)), (10_000, (72, 96)))
"""Grid resolution (latitude rows from the crown to the bottom of the neck, longitudes) for
images up to each size: about one vertex per pixel over the face."""

HEAD_CENTRE_Z = 1.0
"""Depth of the head's centre, which is also GAN2Shape's rotation centre."""

FACE_PARAMETERS: dict[str, tuple[float, float]] = {
    "half_width": (0.047, 0.056),  # skull radii, camera units
    "half_height": (0.062, 0.071),
    "half_depth": (0.056, 0.064),
    "centre_y": (-0.010, 0.002),  # head placement: slightly above the image centre
    "jaw_narrowing": (0.05, 0.30),  # fraction of width lost towards the chin
    "eye_height": (-0.02, 0.07),  # v of the eye centres
    "eye_spacing": (0.29, 0.37),  # |u| of the eye centres
    "socket_depth": (0.07, 0.14),  # all depths/heights below in units of half_depth
    "brow_ridge": (0.03, 0.10),
    "nose_height": (0.20, 0.36),
    "nose_tip": (0.30, 0.40),  # v of the nose tip
    "nose_width": (0.07, 0.13),
    "cheekbones": (0.02, 0.09),
    "mouth_height": (0.53, 0.62),  # v of the mouth line
    "mouth_width": (0.17, 0.27),
    "lip_fullness": (0.03, 0.08),
    "chin": (0.03, 0.10),
    "ears": (0.0, 1.0),  # < 0.2: hidden; larger values grow the ears
    "hair_volume": (0.02, 0.22),
    "hairline": (-0.55, -0.3),  # v of the front hairline
    "hair_length": (0.0, 1.0),  # 0: short crop; 1: down to the nape
    "asymmetry": (0.0, 1.0),
    "skin_tone": (0.0, 1.0),  # position along SKIN_TONES: 0 very light … 1 very dark
    "skin_red": (-1.0, 1.0),
    "hair_colour": (0.0, 1.0),  # position along HAIR_COLOURS
    "hair_shade": (-1.0, 1.0),
    "eye_colour": (0.0, 1.0),  # position along IRIS_COLOURS
    "brow_thickness": (0.5, 1.0),
    "brow_arch": (0.0, 1.0),
    "lip_tint": (-1.0, 1.0),
    "blush": (0.0, 1.0),
    "tilt_left": (-1.0, 1.0),  # left/right offsets of eyes and brows (mild asymmetry)
    "tilt_right": (-1.0, 1.0),
}

SKIN_TONES = np.array(
    [[0.96, 0.80, 0.69], [0.90, 0.70, 0.56], [0.80, 0.58, 0.43], [0.62, 0.43, 0.30],
     [0.42, 0.28, 0.19], [0.28, 0.18, 0.12]]
)  # fmt: skip
HAIR_COLOURS = np.array(
    [[0.06, 0.05, 0.05], [0.18, 0.11, 0.07], [0.33, 0.20, 0.11], [0.62, 0.45, 0.24],
     [0.85, 0.70, 0.42], [0.55, 0.22, 0.10], [0.62, 0.60, 0.58]]
)  # fmt: skip
IRIS_COLOURS = np.array(
    [[0.25, 0.14, 0.07], [0.40, 0.25, 0.12], [0.25, 0.42, 0.62], [0.30, 0.45, 0.30],
     [0.45, 0.48, 0.50]]
)  # fmt: skip

ATTRIBUTE_NAMES = ("u", "v", "w", "hair", "neck")
"""Per-vertex attributes of `MeshBatch.attributes`, in order."""


def sample_face_parameters(rngs: list[np.random.Generator]) -> torch.Tensor:
    """Draw one identity per generator: ``[B, P]`` in the order of `FACE_PARAMETERS`."""
    low = np.array([bounds[0] for bounds in FACE_PARAMETERS.values()])
    high = np.array([bounds[1] for bounds in FACE_PARAMETERS.values()])
    return torch.tensor(np.stack([rng.uniform(low, high) for rng in rngs]), dtype=torch.float32)


def _column(params: torch.Tensor, name: str) -> torch.Tensor:
    """One parameter as ``[B, 1]``, ready to broadcast against per-vertex ``[B, V]`` values."""
    return params[:, list(FACE_PARAMETERS).index(name), None]


Scalar = float | torch.Tensor


def _bump(
    u: torch.Tensor, v: torch.Tensor, u0: Scalar, v0: Scalar, su: Scalar, sv: Scalar
) -> torch.Tensor:
    """Gaussian bump of unit height centred at (u0, v0) with widths (su, sv)."""
    return torch.exp(-(((u - u0) / su) ** 2) - ((v - v0) / sv) ** 2)


def _smoothstep(edge0: Scalar, edge1: Scalar, x: torch.Tensor) -> torch.Tensor:
    """Hermite step from 0 at `edge0` to 1 at `edge1` (either order)."""
    t = ((x - edge0) / (edge1 - edge0)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def grid_shape(size: int) -> tuple[int, int]:
    """Rows and columns of the head grid for images of `size` pixels."""
    return next(shape for limit, shape in GRID_BY_SIZE if size <= limit)


def _grid_angles(rows: int, cols: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Latitude θ ``[R, 1]`` (0 = crown, π = bottom of the neck) and longitude φ ``[1, C]``
    (0 = facing the camera), spaced more densely over the face."""
    t = torch.linspace(0, 1, rows, device=device)
    theta = math.pi * (t + 0.12 * torch.sin(2 * math.pi * t))  # denser around mid-height
    s = torch.linspace(-1, 1, cols + 1, device=device)[:-1]
    phi = math.pi * (0.55 * s + 0.45 * s**3)  # denser at the front
    return theta.view(rows, 1), phi.view(1, cols)


def build_face_meshes(params: torch.Tensor, size: int) -> MeshBatch:
    """Heads for identities ``[B, P]`` in canonical (frontal) pose, meshed for `size`² images."""
    device = params.device
    rows, cols = grid_shape(size)
    theta, phi = _grid_angles(rows, cols, device)
    direction = torch.stack(
        torch.broadcast_tensors(
            theta.sin() * phi.sin(), -theta.cos() * torch.ones_like(phi), -theta.sin() * phi.cos()
        ),
        -1,
    ).reshape(1, -1, 3)  # [1, V, 3] unit sphere, y down, front towards -z
    radii = torch.cat(
        [
            _column(params, "half_width"),
            _column(params, "half_height"),
            _column(params, "half_depth"),
        ],
        1,
    )  # [B, 3]
    u, v, w = direction.unbind(-1)  # each [1, V]
    ellipsoid_normal = torch.nn.functional.normalize(
        direction / radii[:, None], dim=-1
    )  # [B, V, 3]

    jaw = 1 - _column(params, "jaw_narrowing") * _smoothstep(0.1, 0.95, v) * (w < 0.3)
    base = (
        direction
        * radii[:, None]
        * torch.stack(torch.broadcast_tensors(jaw, torch.ones_like(jaw), torch.ones_like(jaw)), -1)
    )  # [B, V, 3]

    relief, hair = _relief(params, u, v, w)  # [B, V] each, relief in units of half_depth
    surface = base + (relief * radii[:, 2:3])[..., None] * ellipsoid_normal

    # The neck joins under the chin in front and at the nape behind.
    neck_start = math.pi * (0.86 - 0.14 * (1 - phi.cos()) / 2)  # [1, C]
    neck_weight = _smoothstep(neck_start, neck_start + 0.1 * math.pi, theta).reshape(1, -1)
    neck = _neck_points(params, theta, phi, neck_start)  # [B, V, 3]
    vertices = surface + neck_weight[..., None] * (neck - surface)
    centre = torch.cat(
        [torch.zeros_like(_column(params, "centre_y")), _column(params, "centre_y"),
         torch.full_like(_column(params, "centre_y"), HEAD_CENTRE_Z)],
        1,
    )  # fmt: skip
    vertices = vertices + centre[:, None]  # [B, V, 3]

    attributes = torch.stack(torch.broadcast_tensors(u, v, w, hair, neck_weight), -1)  # [B, V, 5]
    faces = grid_faces(rows, cols, wrap=True).to(device)
    return MeshBatch(vertices=vertices, faces=faces, attributes=attributes)


def _neck_points(
    params: torch.Tensor, theta: torch.Tensor, phi: torch.Tensor, start: torch.Tensor
) -> torch.Tensor:
    """A tube below the head from latitude `start` ``[1, C]`` on, closing to a point far below
    the frame: ``[B, V, 3]``."""
    half_width = _column(params, "half_width")[:, :, None]  # [B, 1, 1]
    half_height = _column(params, "half_height")[:, :, None]
    along = ((theta - start) / (math.pi - start)).clamp(0, 1)[None]  # [1, R, C]
    radius = 0.5 * half_width * (1 - _smoothstep(0.97, 1.0, along))  # [B, R, C]
    x = radius * phi.sin()[None]
    y = half_height * (0.55 + 4.0 * along)
    z = 0.2 * half_height - radius * phi.cos()[None] * 1.1
    return torch.stack(torch.broadcast_tensors(x, y, z), -1).reshape(params.shape[0], -1, 3)


def _relief(
    params: torch.Tensor, u: torch.Tensor, v: torch.Tensor, w: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Displacement along the normal (units of half_depth) and hair coverage, each ``[B, V]``."""
    p = {name: _column(params, name) for name in FACE_PARAMETERS}
    front = _smoothstep(0.05, 0.45, -w)  # [1, V] 1 on the face, 0 at the sides and back
    eye_v = p["eye_height"] + 0.03 * torch.where(u < 0, p["tilt_left"], p["tilt_right"])
    eye_u = p["eye_spacing"]

    sockets = -p["socket_depth"] * _bump(u.abs(), v, eye_u, eye_v, 0.17, 0.11)
    eyeballs = 0.6 * p["socket_depth"] * _bump(u.abs(), v, eye_u, eye_v + 0.01, 0.085, 0.055)
    brow = p["brow_ridge"] * _bump(u.abs() * 0.55, v, 0.0, eye_v - 0.15, 0.33, 0.06)
    cheeks = p["cheekbones"] * _bump(u.abs(), v, 0.45, eye_v + 0.22, 0.17, 0.13)

    bridge = eye_v - 0.06
    along = ((v - bridge) / (p["nose_tip"] - bridge)).clamp(0, 1.2)
    nose_width = 0.05 + (p["nose_width"] - 0.05) * along
    nose_profile = p["nose_height"] * (0.25 + 0.75 * along**1.6)
    nose_profile = nose_profile * _smoothstep(bridge - 0.12, bridge, v)
    nose_profile = nose_profile * (1 - _smoothstep(p["nose_tip"] + 0.01, p["nose_tip"] + 0.09, v))
    nose = nose_profile * torch.exp(-((u / nose_width) ** 2))
    nose = nose + 0.35 * p["nose_height"] * _bump(
        u.abs(), v, p["nose_width"] * 1.1, p["nose_tip"] + 0.03, 0.06, 0.045
    )

    mouth = p["mouth_height"]
    muzzle = 0.07 * _bump(u, v, 0.0, mouth, 0.35, 0.2)
    upper_lip = p["lip_fullness"] * _bump(u, v, 0.0, mouth - 0.035, p["mouth_width"], 0.035)
    lower_lip = (
        1.15 * p["lip_fullness"] * _bump(u, v, 0.0, mouth + 0.045, p["mouth_width"] * 0.85, 0.04)
    )
    mouth_line = -0.6 * p["lip_fullness"] * _bump(u, v, 0.0, mouth, p["mouth_width"] * 1.05, 0.012)
    chin = p["chin"] * _bump(u, v, 0.0, 0.84, 0.2, 0.11)
    asymmetry = 0.04 * p["asymmetry"] * (u * v + 0.5 * u * p["tilt_left"])

    face = front * (
        sockets + eyeballs + brow + cheeks + nose + muzzle + upper_lip + lower_lip
        + mouth_line + chin + asymmetry
    )  # fmt: skip

    ear_size = _smoothstep(0.2, 0.45, p["ears"]) * (0.6 + 0.6 * p["ears"])
    ear_shape = _bump(w, v, 0.1, eye_v + 0.16, 0.1, 0.2)
    ears = 0.16 * ear_size * ear_shape * _smoothstep(0.8, 0.95, u.abs())

    hairline = _hairline(p, w)
    hair = _smoothstep(hairline + 0.06, hairline - 0.04, v)  # 1 above the hairline
    thickness = _smoothstep(hairline + 0.05, hairline - 0.25, v)  # the shell thins out at its edge
    hair_shell = p["hair_volume"] * thickness * (0.4 + 0.6 * _smoothstep(0.4, -0.6, v))
    return face + ears * (1 - 0.8 * hair) + hair_shell, hair.expand_as(face)


def _hairline(p: dict[str, torch.Tensor], w: torch.Tensor) -> torch.Tensor:
    """v of the hair's lower edge around the head: the forehead in front, above the ears at
    the sides, the nape (or lower, for long hair) at the back."""
    back = 0.35 + 0.45 * p["hair_length"]
    side = -0.05 + 0.1 * p["hair_length"]
    around = w.clamp(-1, 1)  # -1 front, 0 sides, 1 back
    front_to_side = p["hairline"] + (side - p["hairline"]) * _smoothstep(-0.9, -0.1, around)
    return front_to_side + (back - side) * _smoothstep(0.0, 0.9, around)


class _FacePixels(NamedTuple):
    """Per-pixel face coordinates ``[B, H, W]`` and the sample's eye placement."""

    u: torch.Tensor
    v: torch.Tensor
    front: torch.Tensor
    """``[B, 1, H, W]``: 1 on the face, 0 at the sides and back."""
    eye_u: torch.Tensor
    eye_v: torch.Tensor


def shade_face_albedo(attributes: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Per-pixel albedo ``[B, 3, H, W]`` in [0, 1] from interpolated attributes ``[B, H, W, 5]``:
    skin, then lips, eyes, brows and hair painted over it."""
    p = {name: _column(params, name)[..., None] for name in FACE_PARAMETERS}  # [B, 1, 1]
    u, v, w, hair, neck = attributes.unbind(-1)  # [B, H, W]
    eye_v = p["eye_height"] + 0.03 * torch.where(u < 0, p["tilt_left"], p["tilt_right"])
    pixels = _FacePixels(u, v, _smoothstep(0.05, 0.4, -w)[:, None], p["eye_spacing"], eye_v)
    skin = _palette(SKIN_TONES, p["skin_tone"])  # [B, 3, 1, 1]
    skin = skin * (1 + 0.05 * p["skin_red"][:, None] * _rgb(skin, [1.0, -0.4, -0.6]))
    hair_colour = _palette(HAIR_COLOURS, p["hair_colour"]) * (1 + 0.15 * p["hair_shade"][:, None])

    colour = skin.expand(-1, -1, *u.shape[1:])  # [B, 3, H, W]
    blush = 0.12 * p["blush"] * _bump(u.abs(), v, 0.42, eye_v + 0.28, 0.16, 0.12)
    colour = colour * (1 - blush[:, None] * pixels.front * _rgb(skin, [0.0, 0.5, 0.5]))
    colour = _paint_lips(colour, skin, pixels, p)
    colour = _paint_eyes(colour, pixels, p)
    colour = _paint_brows(colour, hair_colour, pixels, p)
    streaks = 1 + 0.1 * torch.sin(90 * u + 25 * w)
    colour = colour + hair[:, None] * (hair_colour * streaks[:, None] - colour)
    colour = colour * (1 - 0.08 * neck[:, None])  # the neck sits in the chin's shade
    return colour.clamp(0, 1)


def _paint_lips(
    colour: torch.Tensor, skin: torch.Tensor, pixels: _FacePixels, p: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Lips (a darker, redder skin tone) and the dark line between them."""
    u, v, mouth = pixels.u, pixels.v, p["mouth_height"]
    lip_shape = (u / (p["mouth_width"] * 1.05)) ** 2 + ((v - mouth - 0.005) / 0.075) ** 2
    lips = _smoothstep(1.0, 0.75, lip_shape)[:, None] * pixels.front  # [B, 1, H, W]
    lip_colour = skin * _rgb(skin, [0.86, 0.6, 0.58]) * (1 + 0.15 * p["lip_tint"][:, None])
    colour = colour + lips * (lip_colour - colour)
    line = _smoothstep(0.012, 0.0, (v - mouth).abs())
    line = line * _smoothstep(1.0, 0.8, u.abs() / p["mouth_width"])
    return colour * (1 - 0.6 * line[:, None] * pixels.front)


def _paint_eyes(
    colour: torch.Tensor, pixels: _FacePixels, p: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Almond-shaped eyes (sclera, iris, pupil) with a dark upper lash line."""
    eye_du, eye_dv = (pixels.u.abs() - pixels.eye_u) * 1.15, pixels.v - pixels.eye_v
    opening = 0.055 * (1 - (eye_du / 0.14) ** 2).clamp(min=0).sqrt()  # lid outline half-height
    in_eye = _smoothstep(0.008, -0.004, eye_dv.abs() - opening) * (opening > 0)
    radius = (eye_du**2 + (eye_dv * 1.1) ** 2).sqrt()[:, None]  # [B, 1, H, W]
    iris = _palette(IRIS_COLOURS, p["eye_colour"])
    eye_colour = torch.where(
        radius < 0.022, colour.new_tensor(0.03), torch.where(radius < 0.05, iris, 0.88)
    )  # [B, 3, H, W] pupil / iris / sclera
    colour = colour + in_eye[:, None] * pixels.front * (eye_colour - colour)
    lash = _smoothstep(0.012, 0.0, (eye_dv + opening).abs()) * (opening > 0.005)
    return colour * (1 - 0.7 * lash[:, None] * pixels.front)


def _paint_brows(
    colour: torch.Tensor,
    hair_colour: torch.Tensor,
    pixels: _FacePixels,
    p: dict[str, torch.Tensor],
) -> torch.Tensor:
    """Arched eyebrows above the eyes, in a darker shade of the hair colour."""
    offset = pixels.u.abs() - pixels.eye_u
    brow_v = pixels.eye_v - 0.13 - 0.04 * p["brow_arch"] * (1 - (offset / 0.2) ** 2)
    brow = _smoothstep(0.025 * p["brow_thickness"], 0.005, (pixels.v - brow_v).abs())
    brow = brow * _smoothstep(0.26, 0.2, (offset + 0.02).abs())
    return colour + 0.85 * brow[:, None] * pixels.front * (hair_colour * 0.8 - colour)


def _rgb(like: torch.Tensor, values: list[float]) -> torch.Tensor:
    """An RGB triple as ``[1, 3, 1, 1]`` on `like`'s device and dtype."""
    return like.new_tensor(values).view(1, 3, 1, 1)


def _palette(colours: np.ndarray, position: torch.Tensor) -> torch.Tensor:
    """Linear interpolation along a colour ramp at `position` in [0, 1]: ``[B, 3, 1, 1]``."""
    ramp = torch.tensor(colours, dtype=position.dtype, device=position.device)  # [K, 3]
    scaled = position.flatten() * (len(colours) - 1)
    low = scaled.floor().clamp(0, len(colours) - 2).long()
    frac = (scaled - low).clamp(0, 1)[:, None]
    return (ramp[low] * (1 - frac) + ramp[low + 1] * frac)[:, :, None, None]
