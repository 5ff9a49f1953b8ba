"""Mesh rendering: depth, normals, colours, textures and mask gradients."""

from __future__ import annotations

import math

import pytest
import torch

from engine.render import (
    clip_from_camera,
    depth_to_points,
    grid_faces,
    orbit_camera,
    perspective,
    render_depth_in_view,
    render_mesh,
    sample_texture,
    vertex_normals,
)

QUAD_FACES = torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.int32)


def test_a_screen_filling_quad_reproduces_its_texture():
    # Identity projection, quad = the whole NDC square: each pixel centre lands on a texel centre.
    vertices = torch.tensor([[[-1.0, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]]])
    uv = torch.tensor([[[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]]])  # v = 0 at the top row
    texture = torch.rand(1, 3, 12, 12)
    out = render_mesh(
        vertices, QUAD_FACES, (12, 12), projection=torch.eye(4), uv=uv, texture=texture
    )
    torch.testing.assert_close(out.image, texture, atol=1e-5, rtol=0)
    assert bool((out.mask == 1).all())


def test_vertex_colours_depth_and_normals_of_a_facing_plane():
    distance = 3.0
    vertices = torch.tensor(
        [[[-1.0, -1, -distance], [1, -1, -distance], [1, 1, -distance], [-1, 1, -distance]]]
    )
    colors = torch.tensor([[0.2, 0.4, 0.6]]).expand(4, 3)[None]
    out = render_mesh(
        vertices,
        QUAD_FACES,
        (16, 16),
        projection=perspective(45.0),
        vertex_colors=colors,
        background=-1.0,
    )
    inside = out.mask[0, 0] == 1
    assert inside.sum() > 50 and not bool(inside.all())
    torch.testing.assert_close(out.depth[0][inside], torch.full((int(inside.sum()),), distance))
    torch.testing.assert_close(
        out.image[0][:, inside].T, colors[0, :1].expand(int(inside.sum()), 3)
    )
    assert bool((out.image[0][:, out.mask[0, 0] == 0] == -1).all())
    facing = out.normal[0][:, inside].T  # counter-clockwise seen from the camera -> +z
    torch.testing.assert_close(facing, torch.tensor([[0.0, 0, 1]]).expand_as(facing))


def test_world_space_vertices_with_an_orbit_camera():
    vertices = torch.tensor([[[-1.0, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]]])
    camera = orbit_camera(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([4.0]))
    out = render_mesh(
        vertices, QUAD_FACES, (16, 16), projection=perspective(45.0), camera_from_world=camera
    )
    covered = out.mask[0, 0] == 1
    torch.testing.assert_close(out.depth[0][covered], torch.full((int(covered.sum()),), 4.0))


def test_depth_map_mesh_matches_the_depth_map_renderer():
    # The GAN2Shape projection puts mesh vertices of a depth map exactly on their pixels.
    depth = 0.95 + 0.1 * torch.rand(1, 20, 20)
    points = depth_to_points(depth).view(1, -1, 3)
    out = render_mesh(
        points, grid_faces(20, 20), (20, 20), projection=clip_from_camera(20, 20), antialias=False
    )
    rendered, _ = render_depth_in_view(depth, torch.zeros(1, 6))
    torch.testing.assert_close(out.depth, rendered, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.depth, depth, atol=1e-5, rtol=0)


def _uv_sphere() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A coarse unit sphere without its caps: points ``[1, 8*16, 3]``, faces ``[F, 3]``
    (counter-clockwise seen from outside) and the indices of rows with faces on both sides."""
    theta = torch.linspace(0.3, math.pi - 0.3, 8)
    phi = torch.linspace(0, 2 * math.pi, 17)[:-1]
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    points = torch.stack([t.sin() * p.cos(), t.cos(), t.sin() * p.sin()], -1).view(1, -1, 3)
    index = torch.arange(8 * 16).view(8, 16)
    a, b = index[:-1], index[1:]
    a1, b1 = a.roll(-1, 1), b.roll(-1, 1)
    faces = torch.cat([torch.stack([a, a1, b], -1), torch.stack([a1, b1, b], -1)], -1).view(-1, 3)
    return points, faces.int(), index[1:-1].flatten()


def test_vertex_normals_of_a_sphere_point_outward():
    points, faces, interior = _uv_sphere()
    normals = vertex_normals(points, faces)
    cosine = (normals[0, interior] * points[0, interior]).sum(-1)
    assert cosine.min() > 0.97


def test_interpolated_normals_are_unit_length_across_faces():
    """Between vertices of a coarse sphere the blend of their normals is shorter than 1; the
    render renormalises it (the viewer's headlight reads its z)."""
    points, faces, _ = _uv_sphere()
    out = render_mesh(
        points + torch.tensor([0.0, 0, -4]), faces, (48, 48), projection=perspective(45.0)
    )
    inside = out.mask[0, 0] == 1
    assert inside.sum() > 300
    torch.testing.assert_close(out.normal[0].norm(dim=0)[inside], torch.ones(int(inside.sum())))


def test_an_image_background_stays_upright_where_nothing_is_drawn():
    """The rasterizer works bottom row first; a background picture must not be flipped with it
    (StyleGAN-R composites its renders over the photo)."""
    ramp = torch.linspace(-1, 1, 16)[:, None].expand(16, 16)  # -1 on the top row
    background = torch.stack([ramp, -ramp, ramp.T])[None]  # [1, 3, 16, 16], no mirror symmetry
    vertices = torch.tensor([[[-0.3, -0.3, 0.0], [0.3, -0.3, 0], [0.3, 0.3, 0], [-0.3, 0.3, 0]]])
    out = render_mesh(
        vertices, QUAD_FACES, (16, 16), projection=torch.eye(4), background=background
    )
    empty = out.mask[0, 0] == 0
    assert empty.sum() > 100
    torch.testing.assert_close(out.image[0][:, empty], background[0][:, empty])


def test_mask_loss_moves_vertices_towards_the_target():
    # A square slightly too small: an IoU-style loss against a bigger target grows it.
    vertices = torch.tensor(
        [[[-0.4, -0.4, -2.0], [0.4, -0.4, -2], [0.4, 0.4, -2], [-0.4, 0.4, -2]]]
    )
    vertices.requires_grad_(True)
    target = render_mesh(
        (vertices * torch.tensor([1.3, 1.3, 1.0])).detach(),
        QUAD_FACES,
        (32, 32),
        projection=perspective(45.0),
    ).mask
    mask = render_mesh(vertices, QUAD_FACES, (32, 32), projection=perspective(45.0)).mask
    loss = 1 - (mask * target).sum() / (mask + target - mask * target).sum()
    loss.backward()
    outward = (vertices.grad[0, :, :2] * vertices[0, :, :2].detach().sign()).sum(-1)
    assert bool((outward < 0).all())  # descending the loss moves every corner outward


def test_vertex_normals_are_area_weighted_sums_of_every_corners_faces() -> None:
    """Two faces meet at a right angle along the edge v0-v2: the edge's vertices get the sum
    of both face normals weighted by area, the others their one face's normal."""
    vertices = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 2]]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.int32)  # normals +z (area 1/2), +x (1)
    shared = torch.tensor([2.0, 0, 1]) / math.sqrt(5)
    expected = torch.stack([shared, torch.tensor([0.0, 0, 1]), shared, torch.tensor([1.0, 0, 0])])
    torch.testing.assert_close(vertex_normals(vertices, faces), expected[None])


def test_texture_lookups_are_bilinear_between_texel_centres_and_clamp_at_the_border() -> None:
    """uv (0, 0) is the top-left corner: texel centres read exactly, between them linearly."""
    texture = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])  # [1, 1, 2, 2], v = 0 on the top row
    uv = torch.tensor([[[[0.25, 0.25], [0.75, 0.25], [0.5, 0.5], [0.5, 0.25], [-0.5, 0.75]]]])
    sampled = sample_texture(texture, uv)  # [1, 1, 1, 5]
    torch.testing.assert_close(sampled[0, 0, 0], torch.tensor([0.0, 1.0, 1.5, 0.5, 2.0]))


def test_render_mesh_rejects_inconsistent_inputs() -> None:
    """Misshapen vertices, uv without texture (or back) and two colour sources are named."""
    vertices = torch.tensor([[[-1.0, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]]])
    uv, texture = torch.rand(1, 4, 2), torch.rand(1, 3, 4, 4)
    common = {"resolution": (8, 8), "projection": torch.eye(4)}
    with pytest.raises(ValueError, match=r"vertices must be \[B, V, 3\]"):
        render_mesh(vertices[0], QUAD_FACES, **common)
    with pytest.raises(ValueError, match="uv and texture must be given together"):
        render_mesh(vertices, QUAD_FACES, uv=uv, **common)
    with pytest.raises(ValueError, match="uv and texture must be given together"):
        render_mesh(vertices, QUAD_FACES, texture=texture, **common)
    with pytest.raises(ValueError, match="not both"):
        render_mesh(
            vertices,
            QUAD_FACES,
            vertex_colors=torch.rand(1, 4, 3),
            uv=uv,
            texture=texture,
            **common,
        )


def test_a_mesh_without_colours_renders_white_in_three_channels() -> None:
    """No colours and no texture draw an RGB white silhouette."""
    vertices = torch.tensor([[[-0.5, -0.5, 0.0], [0.5, -0.5, 0], [0.5, 0.5, 0], [-0.5, 0.5, 0]]])
    out = render_mesh(vertices, QUAD_FACES, (8, 8), projection=torch.eye(4))
    assert out.image.shape == (1, 3, 8, 8) and 0 < out.mask.mean() < 1
    torch.testing.assert_close(out.image, out.mask.expand(-1, 3, -1, -1))


def test_texture_coordinates_follow_their_own_faces() -> None:
    """``uv_faces`` index the uv list, which need not follow the vertex list (a seam splits
    uv vertices): a permuted uv list with matching uv faces shows the same texture."""
    vertices = torch.tensor([[[-1.0, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]]])
    uv = torch.tensor([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    order = torch.tensor([4, 2, 3, 0, 1])  # uv list slot k holds uv[order[k]]; 4 is unused
    uv_list = torch.cat([uv, torch.tensor([[0.3, 0.7]])])[order][None]  # [1, 5, 2]
    uv_faces = torch.argsort(order)[QUAD_FACES.long()].int()  # slot of each corner's uv
    texture = torch.rand(1, 3, 12, 12)
    out = render_mesh(
        vertices,
        QUAD_FACES,
        (12, 12),
        projection=torch.eye(4),
        uv=uv_list,
        uv_faces=uv_faces,
        texture=texture,
    )
    torch.testing.assert_close(out.image, texture, atol=1e-5, rtol=0)


def test_normals_are_in_camera_space_for_world_space_vertices() -> None:
    """A quad facing world +z seen from an orbit camera 60° to its side: its normal in the
    render is the camera's rotation of (0, 0, 1), not the world's normal."""
    vertices = torch.tensor([[[-1.0, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]]])
    camera = orbit_camera(
        torch.tensor([math.radians(60)]), torch.tensor([0.0]), torch.tensor([4.0])
    )
    out = render_mesh(
        vertices, QUAD_FACES, (16, 16), projection=perspective(45.0), camera_from_world=camera
    )
    inside = out.mask[0, 0] == 1
    assert inside.sum() > 20
    expected = camera[0, :3, 2]  # rotation @ (0, 0, 1): world +z points to the camera's left
    torch.testing.assert_close(expected, torch.tensor([-math.sin(math.radians(60)), 0, 0.5]))
    normals = out.normal[0][:, inside].T
    torch.testing.assert_close(normals, expected.expand_as(normals), atol=1e-5, rtol=0)
