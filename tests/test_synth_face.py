"""Procedural heads: mesh resolution, the head's placement, jaw and neck, hair coverage and the
albedo shader's palettes, eyes and neck shade."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.render import FOV_DEGREES
from engine.synth.face import (
    FACE_PARAMETERS,
    IRIS_COLOURS,
    SKIN_TONES,
    _palette,
    _smoothstep,
    build_face_meshes,
    grid_shape,
    sample_face_parameters,
    shade_face_albedo,
)

NAMES = list(FACE_PARAMETERS)


def heads(count: int, **fixed: float) -> torch.Tensor:
    """Parameters ``[count, P]`` of seeded heads, with the `fixed` ones set for all."""
    params = sample_face_parameters([np.random.default_rng(seed) for seed in range(count)])
    for name, value in fixed.items():
        params[:, NAMES.index(name)] = value
    return params


def test_the_mesh_resolution_covers_images_up_to_each_size() -> None:
    """64-px images still get the small grid; larger ones the fine grid."""
    assert grid_shape(64) == (40, 52)
    assert grid_shape(65) == grid_shape(128) == (72, 96)


def test_smoothstep_is_the_hermite_step_in_either_order() -> None:
    """3t² - 2t³ between the edges, clamped outside, and mirrored for reversed edges."""
    x = torch.tensor([-1.0, 0.0, 0.25, 0.5, 1.0, 2.0])
    expected = torch.tensor([0.0, 0.0, 0.15625, 0.5, 1.0, 1.0])
    torch.testing.assert_close(_smoothstep(0.0, 1.0, x), expected)
    torch.testing.assert_close(_smoothstep(1.0, 0.0, x), 1 - expected)


def test_the_head_is_centred_at_the_rotation_centre_and_the_neck_leaves_the_frame() -> None:
    """The head (without its neck) spans depths around z = 1, GAN2Shape's rotation centre,
    and the neck runs down past the bottom edge of the frame."""
    mesh = build_face_meshes(heads(4), 64)
    on_head = mesh.attributes[..., 4] == 0  # neck weight 0
    for vertices, head in zip(mesh.vertices, on_head, strict=True):
        depth = vertices[head, 2]
        assert (depth.min() + depth.max()) / 2 == pytest.approx(1.0, abs=0.02)
        below = vertices[:, 1] / vertices[:, 2]  # tangent of the angle below the axis
        assert below.max() > math.tan(math.radians(FOV_DEGREES / 2))


def test_a_narrower_jaw_makes_the_lower_face_narrower() -> None:
    """jaw_narrowing takes width off towards the chin, not the other way."""
    params = heads(1).repeat(2, 1)
    params[:, NAMES.index("jaw_narrowing")] = torch.tensor([0.05, 0.30])
    mesh = build_face_meshes(params, 64)
    _, v, w, _, neck = mesh.attributes[0].unbind(-1)
    jaw = (v > 0.6) & (v < 0.9) & (w < 0) & (neck == 0)
    widths = mesh.vertices[:, jaw, 0].abs().amax(1)  # [2]
    assert widths[1] < widths[0]


def test_hair_covers_the_crown_and_not_the_face() -> None:
    """The hair attribute is 1 on top of the head and 0 over the mouth."""
    mesh = build_face_meshes(heads(3), 64)
    u, v, w, hair, _ = mesh.attributes.unbind(-1)  # [B, V] each
    crown = v[0] < -0.95
    mouth = ((v[0] - 0.55).abs() < 0.1) & (u[0].abs() < 0.1) & (w[0] < -0.8)
    assert crown.any() and mouth.any()
    assert (hair[:, crown] > 0.99).all() and (hair[:, mouth] == 0).all()


def test_palettes_run_from_their_first_colour_to_their_last() -> None:
    """Position 0 gives the first colour, 1 the last, and halfway between two neighbours their
    mean."""
    ends = _palette(SKIN_TONES, torch.tensor([0.0, 1.0, 0.1]))[..., 0, 0]  # [3, 3]
    expected = np.stack([SKIN_TONES[0], SKIN_TONES[-1], (SKIN_TONES[0] + SKIN_TONES[1]) / 2])
    torch.testing.assert_close(ends, torch.tensor(expected, dtype=torch.float32))


def test_eyes_have_a_dark_pupil_inside_a_coloured_iris_and_the_neck_is_shaded() -> None:
    """At the eye centre the albedo is the pupil's, 0.035 out it is the iris colour, and the
    neck is 8 % darker than the skin above it."""
    params = heads(1, eye_colour=0.0, tilt_right=0.0)
    eye_u = params[0, NAMES.index("eye_spacing")].item()
    eye_v = params[0, NAMES.index("eye_height")].item()
    # u, v, w, hair, neck: the pupil, the iris, the back of the neck and above it
    pixels = torch.tensor(
        [[eye_u, eye_v, -1, 0, 0], [eye_u + 0.035 / 1.15, eye_v, -1, 0, 0],
         [0, 1.2, 1, 0, 1], [0, 1.2, 1, 0, 0]]
    )  # fmt: skip
    albedo = shade_face_albedo(pixels.view(1, 1, 4, 5), params)[0, :, 0]  # [3, 4]
    torch.testing.assert_close(albedo[:, 0], torch.full((3,), 0.03))
    torch.testing.assert_close(albedo[:, 1], torch.tensor(IRIS_COLOURS[0], dtype=torch.float32))
    torch.testing.assert_close(albedo[:, 2], 0.92 * albedo[:, 3])
