"""Rasterizer contract (nvdiffrast's), gradients, antialiasing and backend selection."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import open3d as o3d
import pytest
import torch

from engine.errors import GANliftError
from engine.render import (
    antialias,
    apply_transform,
    interpolate,
    nvdiffrast_backend,
    orbit_camera,
    perspective,
    rasterize,
    resolve_backend,
)

SQUARE_FACES = torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.int32)


def square(x0: float, x1: float, y0: float, y1: float, *, z: float = 0.0, dtype=torch.float32):
    """An axis-aligned NDC rectangle at w = 1 as two triangles: pos [1, 4, 4]."""
    corners = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    return torch.tensor([[[x, y, z, 1.0] for x, y in corners]], dtype=dtype)


def pixel_centres_ndc(height: int, width: int) -> torch.Tensor:
    """NDC (x, y) of every rast pixel [H, W, 2], row 0 at the bottom."""
    ys = (2 * torch.arange(height) + 1) / height - 1
    xs = (2 * torch.arange(width) + 1) / width - 1
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)


def test_row_zero_is_the_bottom_and_empty_pixels_are_zero():
    pos = square(-1, 1, -1, 0)  # lower half of the screen
    rast = rasterize(pos, SQUARE_FACES, (8, 6))
    assert rast.shape == (1, 8, 6, 4)
    assert (rast[0, :4, :, 3] > 0).all()
    assert (rast[0, 4:] == 0).all()


def test_triangle_ids_z_over_w_and_barycentrics():
    pos = square(-1, 1, -1, 1, z=0.25)
    rast = rasterize(pos, SQUARE_FACES, (16, 16))[0]
    ids = rast[..., 3]
    assert set(ids.unique().tolist()) == {1.0, 2.0}
    centres = pixel_centres_ndc(16, 16)
    # Triangle 0 = (v0, v1, v2) lies below the diagonal; centres on it go to the lower id.
    below_diagonal = centres[..., 1] <= centres[..., 0]
    assert torch.equal(ids == 1, below_diagonal)
    torch.testing.assert_close(rast[..., 2], torch.full((16, 16), 0.25))
    # For triangle 0 at w = 1, u weights corner (-1,-1), v weights (1,-1), 1-u-v weights (1,1).
    u, v = rast[..., 0], rast[..., 1]
    rebuilt_x = -u + v + (1 - u - v)
    rebuilt_y = -u - v + (1 - u - v)
    torch.testing.assert_close(rebuilt_x[below_diagonal], centres[..., 0][below_diagonal])
    torch.testing.assert_close(rebuilt_y[below_diagonal], centres[..., 1][below_diagonal])


def test_triangles_given_as_a_transposed_view_rasterize_as_any_other():
    """`tri.long()` kept a transposed view's strides, and the corner lookup's `view` failed."""
    pos = square(-0.5, 0.5, -0.5, 0.5)
    strided = SQUARE_FACES.T.contiguous().T
    assert not strided.is_contiguous()
    assert torch.equal(rasterize(pos, strided, (8, 8)), rasterize(pos, SQUARE_FACES, (8, 8)))


def test_huge_triangles_cover_only_pixels_inside_and_leave_no_holes():
    """A barycentric slack of 1e-5 is a pixel's width outside an edge 1e5 pixels from its
    corner; the slack is capped at 0.05 pixels, and the shared diagonal still has no hole."""
    height = width = 64
    slanted = torch.tensor([[[-0.69, -3125.0, 0, 1], [0.89, 3125.0, 0, 1], [-3125.0, 0, 0, 1]]])
    covered = rasterize(slanted, torch.tensor([[0, 1, 2]], dtype=torch.int32), (height, width))
    centres = pixel_centres_ndc(height, width).double()
    a, b = slanted[0, 0, :2].double(), slanted[0, 1, :2].double()
    normal = torch.stack([b[1] - a[1], a[0] - b[0]])  # points away from the third corner
    outside = (centres - a) @ (normal / normal.norm()) * width / 2  # in pixels
    inside = covered[0, ..., 3] > 0
    assert inside.any() and (outside[inside] <= 0.05).all()
    assert (outside[~inside] > 0).all()  # and every centre inside is covered
    huge = rasterize(square(-3000, 3000, -3000, 3000), SQUARE_FACES, (16, 16))[0, ..., 3]
    assert (huge > 0).all()  # its diagonal runs through the pixel centres (i, i)
    # Each corner's slack follows its own opposite edge: here a short one (corners 1-2) seen
    # from a corner 1e5 pixels away, whose slack must not be taken from a long edge's.
    wedge = torch.tensor([[[3125.0, 0.03, 0, 1], [-0.67, -1.6, 0, 1], [0.59, 1.6, 0, 1]]])
    covered = rasterize(wedge, torch.tensor([[0, 1, 2]], dtype=torch.int32), (height, width))
    a, b = wedge[0, 1, :2].double(), wedge[0, 2, :2].double()
    normal = torch.stack([b[1] - a[1], a[0] - b[0]])
    normal = normal if (wedge[0, 0, :2].double() - a) @ normal < 0 else -normal  # away from 0
    outside = (centres - a) @ (normal / normal.norm()) * width / 2
    inside = covered[0, ..., 3] > 0
    assert inside.any() and (outside[inside] <= 0.05).all()


def test_nearer_triangle_wins_whatever_the_order():
    near = square(-1, 0.5, -1, 0.5, z=-0.5)
    far = square(-0.5, 1, -0.5, 1, z=0.5)
    faces = torch.cat([SQUARE_FACES, SQUARE_FACES + 4])
    for pos, near_ids in ((torch.cat([near, far], 1), {1, 2}), (torch.cat([far, near], 1), {3, 4})):
        ids = rasterize(pos, faces, (16, 16))[0, ..., 3]
        overlap = ids[6:10, 6:10]  # inside both squares
        assert set(overlap.unique().int().tolist()) <= near_ids


def test_interpolation_is_perspective_correct():
    # A plane tilted in depth: camera-space depth interpolated over the screen must equal
    # the ray-plane intersection at every pixel centre.
    projection = perspective(60.0, near=0.5, far=10.0)
    world = torch.tensor([[[-2.0, -2, -2], [2, -2, -5], [2, 2, -5], [-2, 2, -2]]])
    clip = apply_transform(world, projection)
    rast = rasterize(clip, SQUARE_FACES, (24, 24))
    depth = interpolate(-world[..., 2:], rast, SQUARE_FACES)[0, ..., 0]
    covered = rast[0, ..., 3] > 0
    centres = pixel_centres_ndc(24, 24)
    focal = 1 / math.tan(math.radians(30))
    rays = torch.cat([centres / focal, -torch.ones(24, 24, 1)], -1)  # camera-space, z = -1
    # Plane through the quad: z = -2 - 0.75 (x + 2)  ->  t (depth) solves -t = -2 - 0.75 (t rx + 2)
    expected = 3.5 / (1 - 0.75 * rays[..., 0])
    assert covered.sum() > 100
    torch.testing.assert_close(depth[covered], expected[covered], rtol=1e-5, atol=1e-5)


def _random_blob(
    generator: torch.Generator, centre: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """A bumpy closed UV sphere (self-occluding) around ``centre``: vertices, int32 faces."""
    rings, segments = 12, 16
    theta = torch.linspace(0, math.pi, rings + 1)[1:-1]
    phi = torch.arange(segments) * 2 * math.pi / segments
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    direction = torch.stack([t.sin() * p.cos(), t.cos(), t.sin() * p.sin()], -1).view(-1, 3)
    radius = 1 + 0.35 * torch.rand(direction.shape[0], 1, generator=generator)
    vertices = torch.cat([direction * radius, torch.tensor([[0.0, 1, 0], [0, -1, 0]])]) + centre
    index = torch.arange((rings - 1) * segments).view(rings - 1, segments)
    a, b = index[:-1], index[1:]
    a1, b1 = a.roll(-1, 1), b.roll(-1, 1)
    quads = torch.cat([torch.stack([a, b, a1], -1), torch.stack([a1, b, b1], -1)], -1).view(-1, 3)
    top, bottom = (rings - 1) * segments, (rings - 1) * segments + 1
    caps_top = torch.stack([torch.full((segments,), top), index[0].roll(-1), index[0]], -1)
    caps_bottom = torch.stack([torch.full((segments,), bottom), index[-1], index[-1].roll(-1)], -1)
    faces = torch.cat([quads, caps_top, caps_bottom]).int()
    return vertices, faces


def test_depth_and_ids_agree_with_open3d_raycasting():
    generator = torch.Generator().manual_seed(0)
    height = width = 48
    projection = perspective(40.0, near=0.5, far=50.0)
    focal = projection[0, 0].item()
    centres = pixel_centres_ndc(height, width)
    rays = torch.cat([centres / focal, -torch.ones(height, width, 1)], -1)  # t_hit = depth
    for trial in range(3):
        first, faces = _random_blob(generator, torch.zeros(3))
        second, _ = _random_blob(generator, torch.rand(3, generator=generator) - 0.5)
        world = torch.cat([first, second])[None]
        faces = torch.cat([faces, faces + first.shape[0]])
        angles = torch.rand(2, generator=generator) * 2 - 1
        camera = orbit_camera(angles[:1] * math.pi, angles[1:] * 0.8, torch.tensor([6.0 + trial]))
        points = apply_transform(world, camera)[..., :3]  # camera space
        rast = rasterize(apply_transform(points, projection), faces, (height, width))
        depth = interpolate(-points[..., 2:], rast, faces)[0, ..., 0]
        ids = rast[0, ..., 3].long() - 1

        mesh = o3d.t.geometry.TriangleMesh()
        mesh.vertex.positions = o3d.core.Tensor(points[0].numpy())
        mesh.triangle.indices = o3d.core.Tensor(faces.numpy())
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(mesh)
        cast = scene.cast_rays(
            o3d.core.Tensor(
                torch.cat([torch.zeros_like(rays), rays], -1).numpy().astype(np.float32)
            )
        )
        hit = torch.from_numpy(np.isfinite(cast["t_hit"].numpy()))
        reference_ids = torch.where(
            hit, torch.from_numpy(cast["primitive_ids"].numpy().astype(np.int64)), -1
        )
        same = ids == reference_ids
        assert same.float().mean() > 0.985, f"trial {trial}: ids agree on {same.float().mean():.3f}"
        reference_depth = torch.from_numpy(cast["t_hit"].numpy())
        both = same & hit
        assert both.sum() > 300
        torch.testing.assert_close(depth[both], reference_depth[both], rtol=1e-4, atol=1e-4)


def test_interpolate_gradcheck():
    pos = square(-0.9, 0.8, -0.7, 0.9, dtype=torch.float64)
    rast = rasterize(pos, SQUARE_FACES, (6, 5)).detach()
    uv = rast[..., :2].clone().requires_grad_(True)
    attr = torch.randn(1, 4, 2, dtype=torch.float64, requires_grad=True)

    def interpolate_uv(a: torch.Tensor, barycentrics: torch.Tensor) -> torch.Tensor:
        return interpolate(a, torch.cat([barycentrics, rast[..., 2:]], -1), SQUARE_FACES)

    assert torch.autograd.gradcheck(interpolate_uv, (attr, uv))


def test_barycentrics_gradcheck_against_positions():
    generator = torch.Generator().manual_seed(3)
    pos = square(-0.83, 0.77, -0.71, 0.87, dtype=torch.float64)
    pos[..., 3] = 1 + 0.3 * torch.rand(4, generator=generator, dtype=torch.float64)
    pos.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda p: rasterize(p, SQUARE_FACES, (7, 6))[..., :2], (pos,), atol=1e-6
    )


def test_antialiased_mask_has_the_exact_area_and_edge_gradients():
    height = width = 32
    x0, x1, y0, y1 = -0.53, 0.31, -0.43, 0.57
    pos = square(x0, x1, y0, y1, dtype=torch.float64).requires_grad_(True)
    rast = rasterize(pos, SQUARE_FACES, (height, width))
    mask = antialias((rast[..., 3:] > 0).double(), rast, pos, SQUARE_FACES)
    exact_area = (x1 - x0) * (y1 - y0) * width * height / 4  # in pixels
    assert mask.sum().item() == pytest.approx(exact_area, abs=1.0)
    mask.sum().backward()
    grad_x, grad_y = pos.grad[0, :, 0], pos.grad[0, :, 1]
    # d(area)/d(edge x) = edge length in pixels · W/2, outward positive.
    vertical_edge = (y1 - y0) * height / 2 * width / 2
    horizontal_edge = (x1 - x0) * width / 2 * height / 2
    assert (grad_x[[1, 2]].sum() / vertical_edge).item() == pytest.approx(1.0, abs=0.1)
    assert (grad_x[[0, 3]].sum() / -vertical_edge).item() == pytest.approx(1.0, abs=0.1)
    assert (grad_y[[2, 3]].sum() / horizontal_edge).item() == pytest.approx(1.0, abs=0.15)
    assert (grad_y[[0, 1]].sum() / -horizontal_edge).item() == pytest.approx(1.0, abs=0.15)


def test_antialias_ignores_edges_inside_a_surface():
    # The shared diagonal of the square is no silhouette: a constant colour stays constant.
    pos = square(-1.2, 1.2, -1.2, 1.2)
    rast = rasterize(pos, SQUARE_FACES, (16, 16))
    color = torch.ones(1, 16, 16, 3)
    torch.testing.assert_close(antialias(color, rast, pos, SQUARE_FACES), color)


def test_backend_selection(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.delenv("GANLIFT_RASTERIZER", raising=False)
    assert resolve_backend(None, cpu) == "torch"
    monkeypatch.setenv("GANLIFT_RASTERIZER", "opengl")
    with pytest.raises(GANliftError, match="GANLIFT_RASTERIZER"):
        resolve_backend(None, cpu)
    monkeypatch.setenv("GANLIFT_RASTERIZER", "torch")
    assert resolve_backend(None, cpu) == "torch"
    if not nvdiffrast_backend.is_available():
        with pytest.raises(GANliftError, match="nvdiffrast"):
            resolve_backend("nvdiffrast", cpu)


def test_shape_errors_name_the_expected_shape():
    with pytest.raises(ValueError, match=r"\[B, V, 4\]"):
        rasterize(torch.zeros(4, 4), SQUARE_FACES, (4, 4))
    with pytest.raises(ValueError, match="int32"):
        rasterize(torch.zeros(1, 4, 4), SQUARE_FACES.long(), (4, 4))


needs_nvdiffrast = pytest.mark.skipif(
    not nvdiffrast_backend.is_available(), reason="needs CUDA and the nvdiffrast package"
)


@needs_nvdiffrast
def test_nvdiffrast_parity():
    generator = torch.Generator().manual_seed(1)
    vertices, faces = _random_blob(generator, torch.zeros(3))
    camera = orbit_camera(torch.tensor([0.4]), torch.tensor([0.3]), torch.tensor([5.0]))
    points = apply_transform(vertices[None], camera)[..., :3]
    clip = apply_transform(points, perspective(40.0)).cuda().requires_grad_(True)
    faces = faces.cuda()
    outputs = {}
    for backend in ("torch", "nvdiffrast"):
        rast = rasterize(clip, faces, (64, 64), backend=backend)
        color = interpolate(points.cuda(), rast, faces, backend=backend)
        image = antialias(color, rast, clip, faces, backend=backend)
        (grad,) = torch.autograd.grad(image.square().sum(), clip)
        outputs[backend] = (rast, image, grad)
    (rast_t, image_t, grad_t), (rast_n, image_n, grad_n) = outputs["torch"], outputs["nvdiffrast"]
    same = rast_t[..., 3] == rast_n[..., 3]
    assert same.float().mean() > 0.99
    torch.testing.assert_close(rast_t[same], rast_n[same], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(image_t, image_n, rtol=0.05, atol=0.05)
    assert torch.nn.functional.cosine_similarity(grad_t.flatten(), grad_n.flatten(), dim=0) > 0.9


def test_nvdiffrast_counts_only_when_its_ops_import(tmp_path, monkeypatch):
    """A package whose compiled extension is missing is found on the path but cannot
    rasterize: the automatic choice falls back to torch instead of crashing on first use."""
    package = tmp_path / "nvdiffrast"
    (package / "torch").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "torch" / "__init__.py").write_text("import _nvdiffrast_c\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("GANLIFT_RASTERIZER", raising=False)
    nvdiffrast_backend.is_available.cache_clear()
    try:
        assert not nvdiffrast_backend.is_available()
        assert resolve_backend(None, torch.device("cuda")) == "torch"
    finally:
        nvdiffrast_backend.is_available.cache_clear()
        for name in ("nvdiffrast", "nvdiffrast.torch"):
            sys.modules.pop(name, None)


def test_nvdiffrast_gets_contiguous_float32_and_int32(monkeypatch):
    """nvdiffrast rejects what the torch backend takes (float64 or strided positions, strided
    triangles); the backend hands it the layout it reads."""
    seen = []

    def record(*tensors):
        for tensor in tensors:
            if isinstance(tensor, torch.Tensor):
                seen.append((tensor.dtype, tensor.is_contiguous()))

    def rasterize_op(context, pos, tri, resolution):
        record(pos, tri)
        return torch.zeros(pos.shape[0], *resolution, 4), None

    def interpolate_op(attr, rast, tri):
        record(attr, rast, tri)
        return torch.zeros(*rast.shape[:3], attr.shape[-1]), None

    def antialias_op(color, rast, pos, tri):
        record(color, rast, pos, tri)
        return color

    fake = types.SimpleNamespace(
        rasterize=rasterize_op, interpolate=interpolate_op, antialias=antialias_op
    )
    monkeypatch.setattr(nvdiffrast_backend, "_nvdiffrast", lambda: fake)
    monkeypatch.setattr(nvdiffrast_backend, "_context", lambda device: None)
    pos = square(-0.5, 0.5, -0.5, 0.5).double().transpose(1, 2).contiguous().transpose(1, 2)
    tri = SQUARE_FACES.t().contiguous().t()
    assert not pos.is_contiguous() and not tri.is_contiguous()
    rast = nvdiffrast_backend.rasterize(pos, tri, (8, 8))
    nvdiffrast_backend.interpolate(pos[..., :3], rast.double(), tri)
    nvdiffrast_backend.antialias(torch.ones(1, 8, 8, 3, dtype=torch.float64), rast, pos, tri)
    assert len(seen) == 9
    for dtype, contiguous in seen:
        assert dtype in (torch.float32, torch.int32) and contiguous


def test_triangles_with_a_corner_behind_the_camera_are_dropped() -> None:
    """The torch backend drops (rather than clips) a triangle with a corner at w <= 0: its
    projected corner lands on the wrong side and would draw a bogus sliver."""
    tri = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    behind = torch.tensor([[[-0.5, -0.5, 0, 1], [0.5, -0.5, 0, 1], [0, 0.5, 0, -0.5]]])
    assert (rasterize(behind, tri, (16, 16)) == 0).all()
    in_front = behind.clone()
    in_front[0, 2, 3] = 0.5  # the same corner in front of the camera draws
    assert (rasterize(in_front, tri, (16, 16))[..., 3] > 0).any()


@pytest.mark.parametrize("z", [1.5, -1.5])
def test_triangles_outside_the_depth_range_are_not_drawn(z: float) -> None:
    """z/w must lie in [-1, 1]: a square beyond the far or near plane leaves the image empty,
    and one reaching past it is drawn only where it is inside the range."""
    assert (rasterize(square(-1, 1, -1, 1, z=z), SQUARE_FACES, (8, 8)) == 0).all()
    tilted = square(-1, 1, -1, 1)
    tilted[0, [1, 2], 2] = 2 * z  # z/w runs from 0 at x = -1 to 2z at x = 1
    rast = rasterize(tilted, SQUARE_FACES, (8, 8))[0]
    x = pixel_centres_ndc(8, 8)[..., 0]
    in_range = (z * (x + 1)).abs() <= 1  # z/w = z (x + 1) at the pixel centres
    assert 0 < in_range.sum() < 64
    assert torch.equal(rast[..., 3] > 0, in_range)
    torch.testing.assert_close(rast[..., 2][in_range], (z * (x + 1))[in_range])


def test_the_nearer_of_two_squares_wins_in_front_of_the_depth_range_middle() -> None:
    """The depth test's key must order negative z/w too (an int32 view of a negative float
    sorts backwards)."""
    near = square(-1, 0.5, -1, 0.5, z=-0.6)
    far = square(-0.5, 1, -0.5, 1, z=-0.2)
    faces = torch.cat([SQUARE_FACES, SQUARE_FACES + 4])
    for pos, near_ids in ((torch.cat([near, far], 1), {1, 2}), (torch.cat([far, near], 1), {3, 4})):
        rast = rasterize(pos, faces, (16, 16))[0]
        overlap = rast[6:10, 6:10]  # inside both squares
        assert set(overlap[..., 3].unique().int().tolist()) <= near_ids
        torch.testing.assert_close(overlap[..., 2], torch.full((4, 4), -0.6))


def test_rasterized_depth_is_z_over_w_under_perspective() -> None:
    """rast's third channel is clip z / clip w at the pixel, not z interpolated alone."""
    near, far = 0.5, 10.0
    projection = perspective(60.0, near=near, far=far)
    world = torch.tensor([[[-2.0, -2, -2], [2, -2, -5], [2, 2, -5], [-2, 2, -2]]])
    rast = rasterize(apply_transform(world, projection), SQUARE_FACES, (24, 24))
    distance = interpolate(-world[..., 2:], rast, SQUARE_FACES)[0, ..., 0]
    covered = rast[0, ..., 3] > 0
    assert covered.sum() > 100
    # OpenGL: z_ndc = (far + near) / (far - near) - 2 far near / ((far - near) distance)
    expected = (far + near) / (far - near) - 2 * far * near / ((far - near) * distance)
    torch.testing.assert_close(rast[0, ..., 2][covered], expected[covered], rtol=0, atol=1e-5)


def test_interpolate_takes_attributes_shared_by_the_batch() -> None:
    """``[V, C]`` and ``[1, V, C]`` attributes serve every image of the batch alike."""
    pos = torch.cat([square(-0.8, 0.8, -0.8, 0.8), square(-0.5, 0.9, -0.9, 0.4)])
    rast = rasterize(pos, SQUARE_FACES, (8, 8))
    attr = torch.rand(4, 3)
    shared = interpolate(attr, rast, SQUARE_FACES)
    assert shared.shape == (2, 8, 8, 3)
    torch.testing.assert_close(shared, interpolate(attr[None], rast, SQUARE_FACES))
    torch.testing.assert_close(shared, interpolate(attr.expand(2, 4, 3), rast, SQUARE_FACES))


def test_misshapen_inputs_are_rejected_with_the_expected_shape() -> None:
    """Each op names the shape it expected of a misshapen input."""
    pos = torch.cat([square(-0.8, 0.8, -0.8, 0.8)] * 2)
    rast = rasterize(pos, SQUARE_FACES, (8, 8))
    with pytest.raises(ValueError, match=r"B = 1 or 2"):
        interpolate(torch.rand(3, 4, 2), rast, SQUARE_FACES)  # 3 attribute sets for 2 images
    with pytest.raises(ValueError, match=r"rast must be \[B, H, W, 4\]"):
        interpolate(torch.rand(1, 4, 2), rast[..., :3], SQUARE_FACES)
    with pytest.raises(ValueError, match=r"color must be \[B, H, W, C\]"):
        antialias(torch.ones(2, 8, 7, 3), rast, pos, SQUARE_FACES)
    with pytest.raises(ValueError, match="floating point"):
        rasterize(pos.round().int(), SQUARE_FACES, (8, 8))
    for resolution in ((0, 8), (8, 0)):
        with pytest.raises(ValueError, match="resolution must be positive"):
            rasterize(pos, SQUARE_FACES, resolution)


def test_corners_outside_the_vertices_are_named_not_an_index_error() -> None:
    """A corner past the vertices (or negative) was torch's bare "index out of range in self"
    from inside the backend, in rasterize and antialias, and in interpolate given fewer
    attributes than vertices."""
    pos = square(-0.8, 0.8, -0.8, 0.8)  # [1, 4, 4]
    rast = rasterize(pos, SQUARE_FACES, (8, 8))
    for faces in ([[0, 1, 4]], [[0, -1, 2]]):
        tri = torch.tensor(faces, dtype=torch.int32)
        with pytest.raises(ValueError, match=r"^tri must index the 4 vertices of pos \(0 to 3\)"):
            rasterize(pos, tri, (8, 8))
        with pytest.raises(ValueError, match=r"^tri must index the 4 vertices of pos"):
            antialias(torch.ones(1, 8, 8, 3), rast, pos, tri)
    with pytest.raises(ValueError, match=r"^tri must index the 3 vertices of attr \(0 to 2\), "):
        interpolate(torch.rand(1, 3, 2), rast, SQUARE_FACES)


def test_antialiasing_blends_an_occluding_edge_by_its_coverage() -> None:
    """A near square in front of a far one that fills the screen: the near square's outline is
    a silhouette over the far surface, so the blended colour sums to its exact area."""
    height = width = 32
    x0, x1, y0, y1 = -0.53, 0.31, -0.43, 0.57
    near = square(x0, x1, y0, y1, z=-0.5, dtype=torch.float64)
    far = square(-1.5, 1.5, -1.5, 1.5, z=0.5, dtype=torch.float64)
    faces = torch.cat([SQUARE_FACES, SQUARE_FACES + 4])
    for pos, near_ids in ((torch.cat([near, far], 1), (1, 2)), (torch.cat([far, near], 1), (3, 4))):
        rast = rasterize(pos, faces, (height, width))
        ids = rast[..., 3:]
        color = ((ids == near_ids[0]) | (ids == near_ids[1])).double()  # 1 on the near square
        blended = antialias(color, rast, pos, faces)
        exact_area = (x1 - x0) * (y1 - y0) * width * height / 4  # in pixels
        assert color.sum().item() != pytest.approx(exact_area, abs=1.0)  # aliased: off
        assert blended.sum().item() == pytest.approx(exact_area, abs=1.0)


def test_antialias_leaves_a_smooth_colour_across_an_inner_edge_unchanged() -> None:
    """The shared diagonal of a screen-filling square is no silhouette, also where the colour
    differs on its two sides."""
    pos = square(-1.2, 1.2, -1.2, 1.2)
    rast = rasterize(pos, SQUARE_FACES, (16, 16))
    color = interpolate(
        torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]]), rast, SQUARE_FACES
    )
    torch.testing.assert_close(antialias(color, rast, pos, SQUARE_FACES), color)
