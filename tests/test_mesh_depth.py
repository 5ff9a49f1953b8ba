"""depth_to_mesh on analytic depth maps: planes, a sphere cap, masks and depth steps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.errors import GANliftError
from engine.mesh import TexturedMesh, depth_to_mesh
from engine.render import depth_to_points, intrinsics, rotation_matrix

SIZE = 24


def _rays(size: int = SIZE) -> torch.Tensor:
    """GAN2Shape camera rays ``[H, W, 3]`` scaled to unit depth (z = 1)."""
    return depth_to_points(torch.ones(1, size, size))[0]


def _plane_depth(normal: tuple[float, float, float]) -> torch.Tensor:
    """Depth ``[H, W]`` of the plane through (0, 0, 1) with camera-space ``normal``."""
    n = torch.tensor(normal, dtype=torch.float32)
    return n[2] / (_rays() @ n)


def _sphere_depth(center_z: float, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth ``[H, W]`` of the near side of a sphere on the view axis, and the pixels it hits."""
    rays = _rays()
    along = rays[..., 2] * center_z  # d·c for c = (0, 0, center_z)
    squared = (rays * rays).sum(-1)
    discriminant = along**2 - squared * (center_z**2 - radius**2)
    hit = discriminant > 0
    depth = (along - discriminant.clamp(min=0).sqrt()) / squared
    return torch.where(hit, depth, torch.full_like(depth, 1.1)), hit


def _texture(size: int = SIZE) -> torch.Tensor:
    """A texture ``[3, H, W]`` in [-1, 1] with a different colour at every pixel."""
    ramp = torch.linspace(-1, 1, size)
    rows, cols = torch.meshgrid(ramp, ramp, indexing="ij")
    return torch.stack([rows, cols, rows * cols])


def _face_normals(mesh: TexturedMesh) -> np.ndarray:
    """Unit normals ``[F, 3]`` of the triangles as wound (counter-clockwise = front)."""
    corners = mesh.vertices[mesh.faces]  # [F, 3, 3]
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    return normal / np.linalg.norm(normal, axis=1, keepdims=True)


def _assert_every_face_normal(mesh: TexturedMesh, expected: np.ndarray) -> None:
    normals = _face_normals(mesh)
    np.testing.assert_allclose(normals, np.broadcast_to(expected, normals.shape), atol=1e-4)


def _pixels(mesh: TexturedMesh, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The (row, column) each vertex came from, read back from its UV at the pixel centre."""
    cols = np.rint(mesh.uv[:, 0] * size - 0.5).astype(int)
    rows = np.rint(mesh.uv[:, 1] * size - 0.5).astype(int)
    return rows, cols


def test_tilted_plane_is_flat_with_its_normal_turned_to_y_up_front_z() -> None:
    camera_normal = (0.3, -0.2, -1.0)  # towards the camera, which looks along +z
    mesh = depth_to_mesh(_plane_depth(camera_normal), _texture())

    expected = np.array(camera_normal) * [1, -1, -1] / np.linalg.norm(camera_normal)
    _assert_every_face_normal(mesh, expected)
    assert len(mesh.vertices) == SIZE * SIZE
    assert len(mesh.faces) == 2 * (SIZE - 1) ** 2


def test_view_turns_the_surface() -> None:
    yaw = math.radians(25)
    view = torch.tensor([0.0, yaw, 0.0, 0.0, 0.0, 0.0])
    mesh = depth_to_mesh(torch.ones(SIZE, SIZE), _texture(), view=view)

    turned = rotation_matrix(view[None, :3])[0].numpy() @ np.array([0.0, 0.0, -1.0])
    expected = turned * [1, -1, -1]
    _assert_every_face_normal(mesh, expected)


def test_sphere_cap_vertices_lie_on_a_sphere_and_face_outwards() -> None:
    depth, hit = _sphere_depth(center_z=1.0, radius=0.06)
    mesh = depth_to_mesh(depth, _texture(), hit)

    # Least-squares sphere |p|² = 2 c·p + (r² - |c|²); the mesh is a scaled, moved copy.
    points = mesh.vertices.astype(np.float64)
    system = np.concatenate([2 * points, np.ones((len(points), 1))], 1)
    solution, *_ = np.linalg.lstsq(system, (points**2).sum(1), rcond=None)
    center = solution[:3]
    radius = math.sqrt(solution[3] + center @ center)
    distance = np.linalg.norm(points - center, axis=1)
    np.testing.assert_allclose(distance, radius, rtol=1e-4)
    np.testing.assert_allclose(center[:2], 0, atol=1e-4)
    assert center[2] < points[:, 2].min()  # the cap bulges towards +z
    centroids = mesh.vertices[mesh.faces].mean(1)
    assert (np.einsum("fc,fc->f", _face_normals(mesh), centroids - center) > 0).all()


def test_mesh_is_centred_and_fits_the_box() -> None:
    depth, hit = _sphere_depth(center_z=1.0, radius=0.06)
    mesh = depth_to_mesh(depth, _texture(), hit, size=2.0)

    low, high = mesh.vertices.min(0), mesh.vertices.max(0)
    np.testing.assert_allclose((low + high) / 2, 0, atol=1e-6)
    assert (high - low).max() == pytest.approx(2.0, rel=1e-6)


def test_mask_keeps_exactly_the_masked_pixels_with_their_colours() -> None:
    mask = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    mask[4:12, 6:20] = True
    texture = _texture()
    mesh = depth_to_mesh(_plane_depth((0.1, 0.1, -1.0)), texture, mask)

    assert len(mesh.vertices) == 8 * 14
    assert len(mesh.faces) == 2 * 7 * 13
    rows, cols = _pixels(mesh)
    assert mask[rows, cols].all()
    expected_colors = ((texture[:, rows, cols].T + 1) / 2).numpy()
    np.testing.assert_allclose(mesh.vertex_colors, expected_colors, atol=1e-6)
    assert mesh.texture.shape == (SIZE, SIZE, 3)


def test_depth_step_splits_the_mesh_and_drops_no_vertex_that_a_face_uses() -> None:
    depth = torch.full((SIZE, SIZE), 0.95)
    depth[:, SIZE // 2 :] = 1.08
    mesh = depth_to_mesh(depth, _texture())

    straddling_cells = SIZE - 1  # one column of grid cells spans the step
    assert len(mesh.faces) == 2 * (SIZE - 1) ** 2 - 2 * straddling_cells
    assert len(mesh.vertices) == SIZE * SIZE
    assert np.array_equal(np.unique(mesh.faces), np.arange(len(mesh.vertices)))

    lenient = depth_to_mesh(depth, _texture(), max_edge_tilt_degrees=89.99)
    assert len(lenient.faces) == 2 * (SIZE - 1) ** 2


def test_a_step_is_cut_exactly_where_its_edge_tilts_past_the_limit() -> None:
    near, far = 0.95, 1.08
    depth = torch.full((SIZE, SIZE), near)
    depth[:, SIZE // 2 :] = far
    across = 1 / intrinsics(SIZE, SIZE)[0, 0].item()  # a pixel's width across the rays at z = 1
    # The step's shortest edges run along a row: a jump of far - near over the pixel's width at
    # their mean depth, on either side of the step.
    slope = (far - near) / (across * (near + far) / 2)  # the tangent of the edges' tilt
    steeper, flatter = (math.degrees(math.atan(slope * factor)) for factor in (1.01, 0.99))
    whole = 2 * (SIZE - 1) ** 2
    for step in (depth, depth.flip(1)):
        assert len(depth_to_mesh(step, _texture(), max_edge_tilt_degrees=steeper).faces) == whole
        cut = depth_to_mesh(step, _texture(), max_edge_tilt_degrees=flatter)
        assert len(cut.faces) == whole - 2 * (SIZE - 1)


def test_depths_that_are_no_distance_in_front_of_the_camera_are_not_meshed() -> None:
    depth = torch.ones(SIZE, SIZE)
    depth[2:5, 2:5] = 0.0
    depth[8:11, 2:5] = -1.0
    depth[14:17, 2:5] = float("nan")
    depth[2:5, 14:17] = float("inf")
    mesh = depth_to_mesh(depth, _texture())

    rows, cols = _pixels(mesh)
    assert np.isfinite(mesh.vertices).all()
    assert (depth[rows, cols] == 1.0).all()
    assert len(mesh.vertices) == SIZE * SIZE - 4 * 9


def test_unreferenced_vertices_are_removed() -> None:
    mask = torch.ones(SIZE, SIZE, dtype=torch.bool)
    mask[10, 10] = False  # an inner hole: its neighbours keep their other triangles
    mask[0, 1] = False  # the corner pixel (0, 0) loses its only triangle
    mesh = depth_to_mesh(torch.ones(SIZE, SIZE), _texture(), mask)

    assert len(mesh.vertices) == SIZE * SIZE - 3
    assert np.array_equal(np.unique(mesh.faces), np.arange(len(mesh.vertices)))


def test_batched_inputs_give_the_same_mesh() -> None:
    depth, hit = _sphere_depth(center_z=1.0, radius=0.06)
    plain = depth_to_mesh(depth, _texture(), hit)
    batched = depth_to_mesh(depth[None], _texture()[None], hit)

    np.testing.assert_array_equal(plain.vertices, batched.vertices)
    np.testing.assert_array_equal(plain.faces, batched.faces)


def test_empty_mask_is_a_user_error() -> None:
    with pytest.raises(GANliftError, match="no surface"):
        depth_to_mesh(torch.ones(SIZE, SIZE), _texture(), torch.zeros(SIZE, SIZE))


@pytest.mark.parametrize("tilt", [0.0, -1.0, 91.0, float("nan")])
def test_an_edge_tilt_outside_its_range_is_a_user_error(tilt: float) -> None:
    """91 or -1 dropped every triangle and blamed the mask; NaN kept every triangle."""
    with pytest.raises(GANliftError, match="max_edge_tilt_degrees is the steepest edge kept"):
        depth_to_mesh(torch.ones(SIZE, SIZE), _texture(), max_edge_tilt_degrees=tilt)
    assert len(depth_to_mesh(torch.ones(SIZE, SIZE), _texture(), max_edge_tilt_degrees=90).faces)


def test_a_finer_texture_is_kept_whole_and_averaged_into_vertex_colours() -> None:
    coarse = _texture()
    fine = coarse.repeat_interleave(4, dim=1).repeat_interleave(4, dim=2)  # [3, 4S, 4S]
    fine[:, ::4, ::4] += 0.04  # texel detail the coarse grid cannot hold, mean 0.0025
    at_pixels = depth_to_mesh(torch.ones(SIZE, SIZE), coarse)
    finer = depth_to_mesh(torch.ones(SIZE, SIZE), fine)

    assert finer.texture.shape == (4 * SIZE, 4 * SIZE, 3)
    np.testing.assert_array_equal(finer.uv, at_pixels.uv)  # same frame, same UVs
    expected = np.clip(at_pixels.vertex_colors + 0.00125, 0, 1)  # colours are clamped to 1
    np.testing.assert_allclose(finer.vertex_colors, expected, atol=1e-6)


@pytest.mark.parametrize("shape", [(3, SIZE, SIZE + 1), (3, SIZE - 4, SIZE - 4), (4, SIZE, SIZE)])
def test_mismatched_texture_is_rejected(shape: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match=r"texture must be \[3, kH, kW\] for the \[24, 24\]"):
        depth_to_mesh(torch.ones(SIZE, SIZE), torch.zeros(shape))


def test_integer_textures_and_sizes_that_are_no_length_are_refused() -> None:
    """A uint8 texture read as [-1, 1] values made a white mesh; a size of 0 collapsed it, a
    negative one turned it inside out and NaN wrote NaN vertices."""
    pixels = torch.full((3, SIZE, SIZE), 200, dtype=torch.uint8)
    with pytest.raises(GANliftError, match=r"texture takes floats in \[-1, 1\], got torch.uint8"):
        depth_to_mesh(torch.ones(SIZE, SIZE), pixels)
    for size in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(GANliftError, match=r"size \(its longest side\) must be above 0"):
            depth_to_mesh(torch.ones(SIZE, SIZE), _texture(), size=size)


def test_textures_out_of_range_views_and_arrays_are_refused_in_one_sentence() -> None:
    """A texture in 0..255 floats made a white mesh and a NaN one a black one, a NaN view wrote
    NaN vertices, and numpy arrays or a view of another size failed deep in torch."""
    depth = torch.ones(SIZE, SIZE)
    texture = _texture()
    cases = [
        ({"texture": (texture + 1) * 127.5}, r"texture takes floats in \[-1, 1\], got values up"),
        ({"texture": torch.full_like(texture, math.nan)}, r"texture takes .*got NaN or infinite"),
        ({"depth": depth.numpy()}, r"^depth_to_mesh's depth takes a torch tensor, got an ndarr"),
        ({"texture": texture.numpy()}, r"^depth_to_mesh's texture takes a torch tensor, got an"),
        ({"view": torch.zeros(3)}, r"^depth_to_mesh's view is a tensor \[6\] .*, got shape \[3\]"),
        ({"view": torch.full((1, 6), math.nan)}, r"view is a tensor .*, got NaN or infinite"),
        ({"view": np.zeros(6)}, r"^depth_to_mesh's view is a tensor .*, got an ndarray\.$"),
    ]
    for change, message in cases:
        arguments = {"depth": depth, "texture": texture} | change
        with pytest.raises(GANliftError, match=message):
            depth_to_mesh(**arguments)
    assert len(depth_to_mesh(depth, texture, view=torch.zeros(6)).faces)


def test_textured_mesh_checks_its_arrays() -> None:
    vertices = np.zeros((3, 3))
    with pytest.raises(ValueError, match="faces must index the 3 vertices"):
        TexturedMesh(vertices, np.array([[0, 1, 3]]))
    with pytest.raises(ValueError, match="uv and texture must be given together"):
        TexturedMesh(vertices, np.array([[0, 1, 2]]), uv=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="texture must be uint8, got float64"):
        TexturedMesh(
            vertices, np.array([[0, 1, 2]]), uv=np.zeros((3, 2)), texture=np.ones((2, 2, 3))
        )
    with pytest.raises(ValueError, match=r"vertex_colors must be \[3, 3\], got \[2, 3\]"):
        TexturedMesh(vertices, np.array([[0, 1, 2]]), vertex_colors=np.zeros((2, 3)))
