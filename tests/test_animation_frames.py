"""rotation_frames / relight_frames: one renderer call per frame, in order, with analytic
shading, progress and cancellation; the looping angle and light schedules."""

from __future__ import annotations

import math

import pytest
import torch

from engine.animation import circling_lights, relight_frames, rotation_frames, swing_angles
from engine.render import orbit_camera, perspective, render_mesh, shade


def _flat_render(value: float, size: int = 8) -> torch.Tensor:
    return torch.full((1, 3, size, size), value)


def test_rotation_calls_the_renderer_once_per_azimuth_in_order() -> None:
    calls: list[tuple[float, float]] = []

    def render(azimuth: float, elevation: float) -> torch.Tensor:
        calls.append((azimuth, elevation))
        return _flat_render(azimuth)

    azimuths = [-0.5, 0.0, 0.25, 0.5]
    frames = rotation_frames(render, azimuths=azimuths, elevation=0.1)

    assert calls == [(azimuth, 0.1) for azimuth in azimuths]
    assert frames.shape == (4, 3, 8, 8)
    assert frames[:, 0, 0, 0].tolist() == azimuths


def test_rotating_a_mesh_turns_its_coloured_face_away() -> None:
    """A triangle facing +z, red in front: seen from azimuth 0 it covers the centre; from
    90° it is edge-on and from 180° it is seen from behind (rasterized from both sides)."""
    vertices = torch.tensor([[[-0.5, -0.5, 0.0], [0.5, -0.5, 0.0], [0.0, 0.5, 0.0]]])
    faces = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    colors = torch.tensor([[[1.0, -1.0, -1.0]] * 3])

    def render(azimuth: float, elevation: float) -> torch.Tensor:
        camera = orbit_camera(
            torch.tensor([azimuth]), torch.tensor([elevation]), torch.tensor([3.0])
        )
        return render_mesh(
            vertices,
            faces,
            (16, 16),
            projection=perspective(40.0),
            camera_from_world=camera,
            vertex_colors=colors,
            background=-1.0,
            antialias=False,
            backend="torch",
        ).image

    frames = rotation_frames(render, azimuths=[0.0, math.pi / 2, math.pi])

    centre = frames[:, 0, 8, 8]  # red channel at the image centre
    assert centre.tolist() == [1.0, -1.0, 1.0]


def test_relighting_follows_lambertian_shading() -> None:
    normal = torch.nn.functional.normalize(torch.tensor([0.6, 0.0, 0.8]), dim=0)
    normal_map = normal.view(1, 3, 1, 1).expand(1, 3, 4, 4)
    lights = circling_lights(8, ambient=0.2, diffuse=0.7, radius=0.9)

    frames = relight_frames(lambda light: shade(normal_map, light).expand(-1, 3, -1, -1), lights)

    direction = torch.cat([lights[:, 2:], torch.ones(8, 1)], 1)
    direction = direction / direction.norm(dim=1, keepdim=True)
    expected = 0.2 + 0.7 * (direction @ normal).clamp(min=0)  # [8]
    assert frames.shape == (8, 3, 4, 4)
    torch.testing.assert_close(frames[:, 0, 0, 0], expected)


def test_progress_reports_every_frame() -> None:
    reports: list[tuple[int, int, str]] = []
    rotation_frames(
        lambda azimuth, elevation: _flat_render(0.0),
        azimuths=[0.0, 0.1, 0.2],
        progress=lambda done, total, message: reports.append((done, total, message)),
    )
    assert reports == [(1, 3, "rotating"), (2, 3, "rotating"), (3, 3, "rotating")]


def test_should_stop_returns_the_frames_so_far() -> None:
    rendered: list[float] = []

    def render(azimuth: float, elevation: float) -> torch.Tensor:
        rendered.append(azimuth)
        return _flat_render(azimuth)

    frames = rotation_frames(
        render, azimuths=[0.0, 0.1, 0.2, 0.3], should_stop=lambda: len(rendered) == 2
    )
    assert frames.shape[0] == 2
    assert rendered == [0.0, 0.1]


def test_frames_of_different_sizes_are_rejected() -> None:
    def render(azimuth: float, elevation: float) -> torch.Tensor:
        return _flat_render(0.0, size=8 if azimuth == 0 else 9)

    with pytest.raises(ValueError, match="frames of different sizes"):
        rotation_frames(render, azimuths=[0.0, 1.0])


def test_a_renderer_returning_a_batch_is_refused() -> None:
    """Only a batch of one is a frame; the first of two was taken without a word."""

    def render(azimuth: float, elevation: float) -> torch.Tensor:
        return _flat_render(0.0, size=8).expand(2, 3, 8, 8)

    with pytest.raises(ValueError, match=r"must return \[1, 3, H, W\] or \[3, H, W\]"):
        rotation_frames(render, azimuths=[0.0])


def test_lights_must_be_rows_of_four() -> None:
    with pytest.raises(ValueError, match=r"lights must be \[N, 4\]"):
        relight_frames(lambda light: _flat_render(0.0), torch.zeros(3, 3))


def test_swing_angles_reach_both_sides_and_loop() -> None:
    angles = swing_angles(0.5, 12)

    assert len(angles) == 12
    assert angles[0] == 0.0
    assert max(angles) == pytest.approx(0.5)
    assert min(angles) == pytest.approx(-0.5)
    step = angles[1] - angles[0]
    assert angles[-1] == pytest.approx(-step)  # the next frame after the last is the first


def test_circling_lights_keep_their_strength_and_radius() -> None:
    lights = circling_lights(6, ambient=0.3, diffuse=0.5, radius=0.8)

    assert lights.shape == (6, 4)
    assert (lights[:, 0] == 0.3).all()
    assert (lights[:, 1] == 0.5).all()
    torch.testing.assert_close(lights[:, 2:].norm(dim=1), torch.full((6,), 0.8))
    assert len({tuple(light.tolist()) for light in lights}) == 6
    angles = torch.atan2(lights[:, 3], lights[:, 2])  # one turn in equal steps: it loops
    steps = (angles.roll(-1) - angles) % (2 * math.pi)
    torch.testing.assert_close(steps, torch.full((6,), 2 * math.pi / 6))
