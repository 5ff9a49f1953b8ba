"""Procedural cars: body types and paints, the shared mesh, wheels, roof line, albedo and the
framing distance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.render import vertex_normals
from engine.synth.car import (
    BODY_COLS,
    BODY_ROWS,
    BODY_TYPES,
    CAR_PARAMETERS,
    PAINT_COLOURS,
    WHEEL_SEGMENTS,
    _dimensions,
    _roof_line,
    body_type_names,
    build_car_meshes,
    car_topology,
    car_views_for_framing,
    sample_car_parameters,
    shade_car_albedo,
)
from engine.synth.scene import CAR_VIEW_RANGES

NAMES = list(CAR_PARAMETERS)


def cars(count: int, **fixed: float) -> torch.Tensor:
    """Parameters ``[count, P]`` of seeded cars, with the `fixed` ones set for all."""
    params = sample_car_parameters([np.random.default_rng(seed) for seed in range(count)])
    for name, value in fixed.items():
        params[:, NAMES.index(name)] = value
    return params


def test_every_body_type_is_drawn() -> None:
    """The body-type parameter picks each of the four profiles about equally often."""
    names = body_type_names(cars(400))
    counts = [names.count(name) for name in BODY_TYPES]
    assert min(counts) > 60, counts


def test_the_mesh_uses_every_vertex_once_in_one_triangle_list() -> None:
    """Body and wheel faces index every vertex of the mesh, and none beyond it."""
    mesh = build_car_meshes(cars(1), 64)
    faces = car_topology(torch.device("cpu"))
    assert mesh.vertices.shape[1] == BODY_ROWS * BODY_COLS + 4 * 4 * WHEEL_SEGMENTS
    assert torch.equal(faces.unique(), torch.arange(mesh.vertices.shape[1]))


def test_cars_are_as_wide_as_their_width_ratio_and_stand_on_their_wheels() -> None:
    """The mesh spans length × width_ratio across (wheels flush with the body), and every
    wheel touches the ground at half the car's height below its centre (y points down)."""
    params = cars(6)
    mesh = build_car_meshes(params, 64)
    length, _, height = _dimensions(params)  # [B, 1] each
    across = mesh.vertices[..., 0].amax(1) - mesh.vertices[..., 0].amin(1)  # [B]
    width = length[:, 0] * params[:, NAMES.index("width_ratio")]
    torch.testing.assert_close(across, width, rtol=0.03, atol=0)
    wheels = mesh.vertices[:, BODY_ROWS * BODY_COLS :].reshape(6, 4, -1, 3)  # [B, 4, 4·S, 3]
    bottoms = wheels[..., 1].amax(2)  # [B, 4]
    torch.testing.assert_close(bottoms, (height / 2).expand(-1, 4), rtol=1e-3, atol=1e-5)


def test_every_wheel_hub_faces_outwards_like_the_body() -> None:
    """The mirrored (left) wheels are wound like the right ones, so all hub normals point away
    from the car, as the body's side normals do."""
    mesh = build_car_meshes(cars(1), 64)
    normals = vertex_normals(mesh.vertices, car_topology(torch.device("cpu")))[0]  # [V, 3]
    body_x = mesh.vertices[0, : BODY_ROWS * BODY_COLS, 0]
    outward = torch.sign(normals[body_x.argmax(), 0])  # the body's +x flank
    first_wheel = BODY_ROWS * BODY_COLS
    for wheel in range(4):
        block = slice(
            first_wheel + wheel * 4 * WHEEL_SEGMENTS, first_wheel + (wheel + 1) * 4 * WHEEL_SEGMENTS
        )
        x = mesh.vertices[0, block, 0]
        outer = x.abs().argmax()  # a vertex of the outer hub face
        assert torch.sign(normals[block][outer, 0]) == outward * torch.sign(x[outer]), wheel


def test_the_roof_line_passes_through_its_keypoints() -> None:
    """Without jitter the roof-line height at each keypoint's position is the keypoint's."""
    for index, (name, keypoints) in enumerate(BODY_TYPES.items()):
        params = cars(1, body_type=(index + 0.5) / len(BODY_TYPES), roof_jitter=0, hood_jitter=0)
        assert body_type_names(params) == [name]
        along = torch.tensor(keypoints[:, 0], dtype=torch.float32)
        heights = _roof_line(params, along)[0]
        torch.testing.assert_close(heights, torch.tensor(keypoints[:, 1], dtype=torch.float32))


def test_plain_paint_takes_every_palette_colour_and_rims_their_brightness() -> None:
    """A plain body pixel shows the car's palette colour (all twelve can be drawn); a wheel's
    centre shows the rim brightness and its tread the dark tyre."""
    count = len(PAINT_COLOURS)
    params = cars(count, paint_jitter=0.0, rim_brightness=0.5)
    params[:, NAMES.index("paint")] = (torch.arange(count) + 0.5) / count
    # part, along, height, lateral, top, radial: a body side, a hub centre, a tread
    pixels = torch.tensor([[0, 0.5, 0.3, 0, 0, 0], [1, 0.2, 0, 1, 0, 0.3], [1, 0.2, 0, 1, 0, 1]])
    albedo = shade_car_albedo(pixels.view(1, 1, 3, 6).expand(count, -1, -1, -1), params)
    torch.testing.assert_close(albedo[:, :, 0, 0], torch.tensor(PAINT_COLOURS, dtype=torch.float32))
    torch.testing.assert_close(albedo[:, :, 0, 1], torch.full((count, 3), 0.5))
    torch.testing.assert_close(albedo[:, :, 0, 2], torch.full((count, 3), 0.05))


def _framing(
    params: torch.Tensor, azimuth: float, elevation: float, draws: list[float]
) -> torch.Tensor:
    count = len(params)
    return car_views_for_framing(
        params, torch.full((count,), azimuth), torch.full((count,), elevation),
        torch.tensor([draws]).expand(count, 3),
    )  # fmt: skip


def test_framing_shifts_by_the_first_draws_and_fills_by_the_last() -> None:
    """Draws (a, b, f) shift the car by the shift range times (a, b), and f from -1 to 0 moves
    the fill from the range's low end to its middle (distance ∝ 1 / fill)."""
    params = cars(8)
    shift = _framing(params, 0.4, 0.0, [0.5, -1.0, 0.0])[:, :2]
    torch.testing.assert_close(
        shift, torch.tensor([[0.5, -1.0]]).expand(8, 2) * CAR_VIEW_RANGES["shift"]
    )
    low, high = CAR_VIEW_RANGES["fill"]
    ratios = []
    for azimuth in torch.linspace(0.3, 0.6, 31).tolist():
        sparse = _framing(params, azimuth, 0.0, [0, 0, -1.0])[:, 2]
        middle = _framing(params, azimuth, 0.0, [0, 0, 0.0])[:, 2]
        free = (sparse > -0.12) & (sparse < 0.06) & (middle > -0.12) & (middle < 0.06)
        ratios += ((1 + sparse[free]) / (1 + middle[free])).tolist()
    assert ratios and ratios == pytest.approx([(low + high) / 2 / low] * len(ratios), rel=1e-4)


def test_a_car_seen_from_above_head_on_stands_further_away() -> None:
    """Seen from above, the roof adds to the height shown, so the car is framed from further."""
    params = cars(8)
    level, above = (_framing(params, 0.0, elevation, [0, 0, 0])[:, 2] for elevation in (0.0, 0.5))
    assert (above >= level).all() and (above > level).any()
