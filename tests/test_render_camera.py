"""GAN2Shape camera, depth-map geometry and shading against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from engine.render import (
    FOV_DEGREES,
    clip_from_camera,
    depth_to_points,
    grid_faces,
    intrinsics,
    inverse_transform_points,
    look_at,
    normals_from_depth,
    orbit_camera,
    perspective,
    project_to_pixels,
    rotation_matrix,
    shade,
    transform_points,
)


def test_rotation_order_is_roll_yaw_pitch():
    pitch, yaw, roll = 0.3, -0.7, 1.1
    combined = rotation_matrix(torch.tensor([[pitch, yaw, roll]]))
    single = [
        rotation_matrix(torch.tensor([angles]))
        for angles in ([pitch, 0, 0], [0, yaw, 0], [0, 0, roll])
    ]
    torch.testing.assert_close(combined, single[2] @ single[1] @ single[0])
    quarter_yaw = rotation_matrix(torch.tensor([[0.0, math.pi / 2, 0.0]]))[0]
    torch.testing.assert_close(quarter_yaw @ torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 0, -1]))


def test_views_rotate_about_the_rotation_centre_and_invert():
    view = torch.tensor([[0.2, -0.4, 0.1, 0.0, 0.0, 0.0]])
    centre = torch.tensor([[[0.0, 0.0, 1.0]]])
    torch.testing.assert_close(transform_points(centre, view), centre)
    points = torch.randn(1, 10, 3) * 0.1 + centre
    moved = transform_points(points, torch.tensor([[0.2, -0.4, 0.1, 0.03, -0.02, 0.05]]))
    back = inverse_transform_points(moved, torch.tensor([[0.2, -0.4, 0.1, 0.03, -0.02, 0.05]]))
    torch.testing.assert_close(back, points)


def test_intrinsics_put_the_field_of_view_edge_on_the_outer_pixel_centres():
    height, width = 32, 48
    half_fov = math.tan(math.radians(FOV_DEGREES) / 2)
    points = torch.tensor(
        [[0.0, 0.0, 1.0], [half_fov * 2, half_fov * 2, 2.0], [-half_fov, -half_fov, 1.0]]
    )
    pixels = project_to_pixels(points, height, width)
    expected = torch.tensor([[23.5, 15.5], [47.0, 31.0], [0.0, 0.0]])
    torch.testing.assert_close(pixels, expected)
    k = intrinsics(height, width)
    assert k[0, 2] == (width - 1) / 2 and k[1, 2] == (height - 1) / 2


def test_depth_to_points_projects_back_onto_its_pixels():
    depth = 0.9 + 0.2 * torch.rand(2, 5, 7)
    pixels = project_to_pixels(depth_to_points(depth), 5, 7)  # [2, 5, 7, 2]
    rows, cols = torch.meshgrid(torch.arange(5.0), torch.arange(7.0), indexing="ij")
    torch.testing.assert_close(
        pixels, torch.stack([cols, rows], -1).expand_as(pixels), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(depth_to_points(depth)[..., 2], depth)


def test_grid_faces_count_range_and_consistent_winding():
    faces = grid_faces(128, 128)
    assert faces.dtype == torch.int32 and faces.shape == (32258, 3)
    assert faces.min() == 0 and faces.max() == 128 * 128 - 1
    rows, cols = torch.meshgrid(torch.arange(4.0), torch.arange(5.0), indexing="ij")
    grid = torch.stack([cols, rows], -1).view(-1, 2)
    corners = grid[grid_faces(4, 5).long()]  # [F, 3, 2]
    a, b = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    signed_area = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    assert (signed_area == signed_area[0]).all() and signed_area[0].abs() == 1


def test_normals_of_a_sphere_match_the_analytic_ones():
    size, radius, centre = 64, 0.06, torch.tensor([0.0, 0.0, 1.0])
    k = intrinsics(size, size)
    rows, cols = torch.meshgrid(torch.arange(size * 1.0), torch.arange(size * 1.0), indexing="ij")
    rays = torch.stack(
        [(cols - k[0, 2]) / k[0, 0], (rows - k[1, 2]) / k[1, 1], torch.ones_like(cols)], -1
    )
    # Ray-sphere intersection (nearest root) where the ray hits; a far plane elsewhere.
    b = (rays @ centre) / (rays * rays).sum(-1)
    c = (centre @ centre - radius**2) / (rays * rays).sum(-1)
    disc = b * b - c
    hit = disc > 0
    depth = torch.where(hit, b - disc.clamp(min=0).sqrt(), 1.1)
    normal = normals_from_depth(depth[None])[0]  # [3, H, W]
    points = rays * depth[..., None]
    expected = ((centre - points) / radius).permute(2, 0, 1)  # GAN2Shape: facing camera = +z
    interior = hit & (disc > 0.4 * disc.max())  # away from the silhouette
    cosine = (normal * expected).sum(0)[interior]
    assert interior.sum() > 200
    assert cosine.min() > math.cos(math.radians(3))


def test_a_tilted_plane_has_its_normal_everywhere_inside_the_border() -> None:
    height, width, slope = 9, 11, 0.4  # the plane z = 1 + slope · x, seen along the rays
    k = intrinsics(height, width)
    ray_x = (torch.arange(width * 1.0) - k[0, 2]) / k[0, 0]
    depth = (1.0 / (1.0 - slope * ray_x)).expand(1, height, width)
    normal = normals_from_depth(depth)[0]  # [3, H, W]
    plane = torch.nn.functional.normalize(torch.tensor([-slope, 0.0, 1.0]), dim=0)
    inside = normal[:, 1:-1, 1:-1].permute(1, 2, 0)
    torch.testing.assert_close(inside, plane.expand_as(inside), atol=1e-5, rtol=0)
    border = torch.ones(height, width, dtype=torch.bool)
    border[1:-1, 1:-1] = False
    assert bool((normal[:, border] == torch.tensor([[0.0], [0.0], [1.0]])).all())


def test_flat_depth_has_normals_facing_the_camera():
    normal = normals_from_depth(torch.ones(2, 6, 6))
    torch.testing.assert_close(
        normal, torch.tensor([0.0, 0, 1]).view(1, 3, 1, 1).expand(2, 3, 6, 6)
    )


def test_shading_is_ambient_plus_clamped_diffuse():
    normal = torch.tensor([0.0, 0, 1]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    light = torch.tensor([[0.3, 0.5, 0.0, 0.0], [0.2, 0.6, 1.0, 0.0], [0.1, 0.4, 0.0, -1e6]])
    shading = shade(normal, light)
    assert shading.shape == (3, 1, 2, 2)
    expected = torch.tensor([0.8, 0.2 + 0.6 / math.sqrt(2), 0.1])
    torch.testing.assert_close(shading[:, 0, 0, 0], expected, atol=1e-5, rtol=0)
    away = shade(-normal, light)  # facing away from every light: ambient alone, not |n·l|
    torch.testing.assert_close(away[:, 0, 0, 0], light[:, 0])


def test_shade_rejects_a_bad_light():
    with pytest.raises(ValueError, match=r"\[B, 4\]"):
        shade(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3))


def test_orbit_camera_looks_at_the_origin_from_its_distance():
    camera = orbit_camera(
        torch.tensor([0.0, math.pi / 2]), torch.tensor([0.0, 0.3]), torch.tensor([4.0, 2.5])
    )
    origin = torch.tensor([0.0, 0.0, 0.0, 1.0])
    in_camera = camera @ origin  # [2, 4]
    torch.testing.assert_close(
        in_camera[:, :3], torch.tensor([[0.0, 0, -4], [0, 0, -2.5]]), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(
        camera[:, :3, :3] @ camera[:, :3, :3].transpose(1, 2), torch.eye(3).expand(2, 3, 3)
    )
    # From +x looking at the origin with y up, world -z is to the camera's right (+x).
    side = look_at(torch.tensor([[4.0, 0, 0]]), torch.zeros(1, 3), torch.tensor([0.0, 1, 0]))
    torch.testing.assert_close(
        side[0] @ torch.tensor([0.0, 0, -1, 1]), torch.tensor([1.0, 0, -4, 1])
    )
    torch.testing.assert_close(
        camera[1, 2, :3], torch.tensor([math.cos(0.3), math.sin(0.3), 0.0]), atol=1e-6, rtol=0
    )
    assert torch.allclose(torch.linalg.det(camera[:, :3, :3]), torch.ones(2))  # right-handed
    above = camera[0] @ torch.tensor([0.0, 1.0, 0.0, 1.0])  # world up stays up in the image
    torch.testing.assert_close(above[:3], torch.tensor([0.0, 1.0, -4.0]), atol=1e-6, rtol=0)


def test_perspective_maps_the_near_and_far_planes_to_the_depth_range_ends() -> None:
    matrix = perspective(40.0, near=0.5, far=20.0)
    for z, ndc_depth in ((-0.5, -1.0), (-20.0, 1.0)):
        clip = matrix @ torch.tensor([0.0, 0.0, z, 1.0])
        assert float(clip[2] / clip[3]) == pytest.approx(ndc_depth, abs=1e-6)
    edge = matrix @ torch.tensor([0.0, math.tan(math.radians(20)) * 2.0, -2.0, 1.0])
    assert float(edge[1] / edge[3]) == pytest.approx(1.0)  # the field of view's top edge
    wide = perspective(40.0, aspect=2.0, near=0.5, far=20.0)
    right = wide @ torch.tensor([math.tan(math.radians(20)) * 2.0 * 2.0, 0.0, -2.0, 1.0])
    assert float(right[0] / right[3]) == pytest.approx(1.0)  # twice as wide as it is tall


def test_gan2shape_projection_maps_near_and_far_to_the_depth_range_ends() -> None:
    """Only the near and far planes pin the depth row: depth order alone survives a wrong one."""
    matrix = clip_from_camera(16, 16, near=0.2, far=5.0)
    for z, ndc_depth in ((0.2, -1.0), (5.0, 1.0)):  # GAN2Shape's camera looks along +z
        clip = matrix @ torch.tensor([0.0, 0.0, z, 1.0])
        assert float(clip[3]) == pytest.approx(z)
        assert float(clip[2] / clip[3]) == pytest.approx(ndc_depth, abs=1e-6)


def test_views_must_be_six_numbers_per_image() -> None:
    """A view is (pitch, yaw, roll, tx, ty, tz) for each image of the batch."""
    points = torch.zeros(1, 2, 3)
    for view in (torch.zeros(1, 5), torch.zeros(6)):
        with pytest.raises(ValueError, match=r"view must be \[B, 6\]"):
            transform_points(points, view)
        with pytest.raises(ValueError, match=r"view must be \[B, 6\]"):
            inverse_transform_points(points, view)
