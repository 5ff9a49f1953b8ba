"""save_mesh round trips: OBJ / PLY / GLB read back by Open3D and by trimesh, UV seams, errors
and all-or-nothing writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
import torch
import trimesh

from engine.errors import GANliftError
from engine.mesh import (
    MESH_FORMATS,
    TexturedMesh,
    depth_to_mesh,
    save_mesh,
    texture_vertex_colors,
)
from engine.render import sample_texture

COLOR_TOLERANCE = 1.01 / 255  # colours travel as 8-bit values


@pytest.fixture(scope="module")
def bump() -> TexturedMesh:
    """A 20×20 Gaussian bump with a different colour at every pixel."""
    ramp = torch.linspace(-1, 1, 20)
    rows, cols = torch.meshgrid(ramp, ramp, indexing="ij")
    depth = 1.0 - 0.05 * torch.exp(-(rows**2 + cols**2) * 2)  # [20, 20]
    texture = torch.stack([rows, cols, -rows * cols])  # [3, 20, 20]
    return depth_to_mesh(depth, texture)


def _sample(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Nearest texel ``[N, 3]`` in [0, 1] at ``uv [N, 2]`` with v counted from row 0."""
    height, width = texture.shape[:2]
    cols = np.clip(np.floor(uv[:, 0] * width).astype(int), 0, width - 1)
    rows = np.clip(np.floor(uv[:, 1] * height).astype(int), 0, height - 1)
    return texture[rows, cols, :3] / 255.0


def _read_open3d(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and their colours as Open3D's legacy reader sees them: vertex colours for PLY,
    the texture sampled at each corner's UV otherwise (its images count v from row 0)."""
    mesh = o3d.io.read_triangle_mesh(str(path))
    vertices = np.asarray(mesh.vertices)
    if path.suffix == ".ply":
        return vertices, np.asarray(mesh.vertex_colors)
    triangles = np.asarray(mesh.triangles)  # [F, 3]
    material = np.asarray(mesh.triangle_material_ids)  # [F]
    assert np.all(material == material[0])
    texture = np.asarray(mesh.textures[material[0]])
    corner_colors = _sample(texture, np.asarray(mesh.triangle_uvs))  # [3F, 3]
    colors = np.zeros_like(vertices)
    colors[triangles.reshape(-1)] = corner_colors
    return vertices, colors


def _read_trimesh(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and their colours as trimesh sees them (it samples textures itself)."""
    mesh = trimesh.load(path, force="mesh", process=False)
    visual = mesh.visual.to_color() if mesh.visual.kind == "texture" else mesh.visual
    return np.asarray(mesh.vertices), visual.vertex_colors[:, :3] / 255.0


def _match(vertices: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """For each of ``vertices``, the index of the reference vertex at the same place."""
    distance = np.linalg.norm(vertices[:, None] - reference[None], axis=-1)  # [N, V]
    nearest = distance.argmin(1)
    assert distance[np.arange(len(vertices)), nearest].max() < 1e-5
    return nearest


@pytest.mark.parametrize("reader", [_read_open3d, _read_trimesh], ids=["open3d", "trimesh"])
@pytest.mark.parametrize("suffix", MESH_FORMATS)
def test_round_trip_keeps_vertices_bounds_and_colours(
    bump: TexturedMesh, tmp_path: Path, suffix: str, reader
) -> None:
    path = save_mesh(bump, tmp_path / f"bump{suffix}")
    vertices, colors = reader(path)

    assert len(vertices) == len(bump.vertices)
    np.testing.assert_allclose(vertices.min(0), bump.vertices.min(0), atol=1e-6)
    np.testing.assert_allclose(vertices.max(0), bump.vertices.max(0), atol=1e-6)
    same_place = _match(vertices, bump.vertices)
    np.testing.assert_allclose(colors, bump.vertex_colors[same_place], atol=COLOR_TOLERANCE)


def test_obj_comes_with_its_material_and_texture_only(bump: TexturedMesh, tmp_path: Path) -> None:
    save_mesh(bump, tmp_path / "face.obj")

    assert sorted(file.name for file in tmp_path.iterdir()) == [
        "face.mtl",
        "face.obj",
        "face_albedo.png",
    ]
    assert "map_Kd face_albedo.png" in (tmp_path / "face.mtl").read_text()


def test_glb_with_texture_carries_no_vertex_colours(bump: TexturedMesh, tmp_path: Path) -> None:
    scene = trimesh.load(save_mesh(bump, tmp_path / "bump.glb"), process=False)
    (mesh,) = scene.geometry.values()

    assert mesh.visual.kind == "texture"
    assert "color" not in mesh.visual.vertex_attributes


def test_glb_declares_only_the_extensions_it_uses(bump: TexturedMesh, tmp_path: Path) -> None:
    """Open3D's writer declared KHR_materials_volume and FB_ngon_encoding (which reads our
    triangles as fans of polygons) without using either."""
    data = save_mesh(bump, tmp_path / "bump.glb").read_bytes()
    assert data[:4] == b"glTF" and int.from_bytes(data[8:12], "little") == len(data)
    json_length = int.from_bytes(data[12:16], "little")
    assert json_length % 4 == 0 and data[16:20] == b"JSON"
    document = json.loads(data[20 : 20 + json_length])
    assert "extensionsUsed" not in document and document["textures"]
    binary = 20 + json_length
    assert data[binary + 4 : binary + 8] == b"BIN\0"
    assert binary + 8 + int.from_bytes(data[binary : binary + 4], "little") == len(data)
    mesh = o3d.io.read_triangle_mesh(str(tmp_path / "bump.glb"))
    assert len(mesh.triangles) == len(bump.faces) and mesh.has_triangle_uvs()
    (textured,) = trimesh.load(tmp_path / "bump.glb", process=False).geometry.values()
    assert textured.visual.kind == "texture" and len(textured.faces) == len(bump.faces)


def test_vertex_coloured_glb(tmp_path: Path) -> None:
    colors = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    triangle = TexturedMesh(np.eye(3), np.array([[0, 1, 2]]), vertex_colors=colors)
    mesh = o3d.io.read_triangle_mesh(str(save_mesh(triangle, tmp_path / "triangle.glb")))

    same_place = _match(np.asarray(mesh.vertices), triangle.vertices)
    np.testing.assert_allclose(np.asarray(mesh.vertex_colors), colors[same_place], atol=1e-6)


def test_uv_seams_keep_each_face_on_its_own_texel(tmp_path: Path) -> None:
    """A tetrahedron whose four faces each sample one texel of a 2×2 texture: corners shared
    between faces carry different UVs, so readers must split them."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    texel_centres = np.array([[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])
    texture = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 0]]], np.uint8)
    tetrahedron = TexturedMesh(
        vertices,
        faces,
        uv=texel_centres,
        uv_faces=np.repeat(np.arange(4)[:, None], 3, 1),
        texture=texture,
    )
    for suffix in (".obj", ".glb"):
        mesh = trimesh.load(save_mesh(tetrahedron, tmp_path / f"tet{suffix}"), force="mesh")
        corner_colors = mesh.visual.to_color().vertex_colors[mesh.faces][..., :3]  # [F, 3, 3]
        texel_colors = texture.reshape(4, 1, 3)  # face i samples texel i (row-major)
        np.testing.assert_array_equal(corner_colors, np.broadcast_to(texel_colors, (4, 3, 3)))


def test_ply_of_a_textured_mesh_carries_the_texture_as_vertex_colours(tmp_path: Path) -> None:
    """The tetrahedron above with no vertex colours: each vertex gets the mean of the texels
    its faces' corners sample (vertex 0 sits on faces 0, 1 and 2: red, green and blue)."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    texel_centres = np.array([[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])
    texture = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 0]]], np.uint8)
    tetrahedron = TexturedMesh(
        vertices, faces, uv=texel_centres, uv_faces=np.repeat(np.arange(4)[:, None], 3, 1),
        texture=texture,
    )  # fmt: skip
    mesh = o3d.io.read_triangle_mesh(str(save_mesh(tetrahedron, tmp_path / "tet.ply")))
    same_place = _match(np.asarray(mesh.vertices), vertices)
    texels = texture.reshape(4, 3) / 255
    expected = np.stack([texels[(faces == vertex).any(1)].mean(0) for vertex in range(4)])
    np.testing.assert_allclose(
        np.asarray(mesh.vertex_colors), expected[same_place], atol=COLOR_TOLERANCE
    )


def test_corner_uvs_of_a_mesh_without_uvs_say_so() -> None:
    with pytest.raises(ValueError, match=r"needs a mesh with texture coordinates \(uv\)"):
        TexturedMesh(np.eye(3), np.array([[0, 1, 2]])).corner_uv()


def test_vertex_colours_average_over_each_vertexs_own_faces() -> None:
    """A square of two faces, one red and one blue: the corners on one face only take its
    colour, the two on the diagonal the mean of both."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=np.float32)
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    texture = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)  # red texel, blue texel
    uv = np.array([[0.25, 0.5], [0.75, 0.5]], np.float32)
    square = TexturedMesh(vertices, faces, uv=uv, uv_faces=[[0, 0, 0], [1, 1, 1]], texture=texture)
    colours = texture_vertex_colors(square)
    np.testing.assert_allclose(colours[0], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(colours[3], [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(colours[[1, 2]], [[0.5, 0, 0.5]] * 2, atol=1e-6)


@pytest.mark.parametrize("suffix", [".obj", ".glb"])
def test_uvs_past_the_edge_show_the_edge_texel_in_any_viewer(tmp_path: Path, suffix) -> None:
    """A sphere's seam has u past 1; the engine's renderer clamps there, and so must a viewer
    that wraps (trimesh takes u modulo 1: unclamped, u = 1.3 would read the first texel)."""
    texture = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]]], np.uint8)
    triangle = TexturedMesh(
        np.eye(3), np.array([[0, 1, 2]]), uv=np.array([[0.875, 0.5], [1.3, 0.5], [1.1, 0.5]]),
        texture=texture,
    )  # fmt: skip
    engine_colors = sample_texture(
        torch.from_numpy(texture).permute(2, 0, 1)[None].float() / 255,
        torch.from_numpy(triangle.uv)[None, None],
    )[0, :, 0].T  # [3, 3]
    np.testing.assert_allclose(engine_colors, np.broadcast_to([1.0, 1.0, 0.0], (3, 3)))

    mesh = trimesh.load(save_mesh(triangle, tmp_path / f"seam{suffix}"), force="mesh")
    colors = mesh.visual.to_color().vertex_colors[:, :3] / 255
    np.testing.assert_allclose(colors, np.broadcast_to([1.0, 1.0, 0.0], (3, 3)))
    assert mesh.visual.uv.max() <= 1 - 0.5 / 4 + 1e-6


def test_saving_over_an_existing_mesh_replaces_it(bump: TexturedMesh, tmp_path: Path) -> None:
    path = tmp_path / "mesh.ply"
    save_mesh(TexturedMesh(np.eye(3), np.array([[0, 1, 2]])), path)
    save_mesh(bump, path)

    assert len(o3d.io.read_triangle_mesh(str(path)).vertices) == len(bump.vertices)
    assert [file.name for file in tmp_path.iterdir()] == ["mesh.ply"]


def test_unknown_suffix_is_a_user_error(bump: TexturedMesh, tmp_path: Path) -> None:
    with pytest.raises(GANliftError, match=r"'bump\.stl'; use one of \.obj, \.ply, \.glb"):
        save_mesh(bump, tmp_path / "new" / "bump.stl")
    assert not (tmp_path / "new").exists()  # refused before its folder was made


def test_a_folder_in_the_way_is_refused_before_anything_is_written(
    bump: TexturedMesh, tmp_path: Path
) -> None:
    (tmp_path / "bump.obj").mkdir()
    with pytest.raises(GANliftError, match=r"Output file .*bump\.obj is a folder"):
        save_mesh(bump, tmp_path / "bump.obj")
    assert [file.name for file in tmp_path.iterdir()] == ["bump.obj"]


@pytest.mark.parametrize("blocked", ["bump.mtl", "bump_albedo.png"])
def test_a_folder_in_the_way_of_a_file_beside_the_mesh_is_refused_whole(
    bump: TexturedMesh, tmp_path: Path, blocked: str
) -> None:
    (tmp_path / blocked).mkdir()
    with pytest.raises(GANliftError, match=f"{blocked}' beside the mesh, a folder of that name"):
        save_mesh(bump, tmp_path / "bump.obj")
    assert [file.name for file in tmp_path.iterdir()] == [blocked]  # all or nothing


def test_other_meshes_and_paths_are_refused_in_one_sentence(
    bump: TexturedMesh, tmp_path: Path
) -> None:
    with pytest.raises(GANliftError, match=r"takes a GANlift TexturedMesh .* got Trimesh"):
        save_mesh(trimesh.creation.box(), tmp_path / "box.obj")  # type: ignore[arg-type]
    with pytest.raises(GANliftError, match=r"needs a file path such as 'mesh\.glb', got NoneType"):
        save_mesh(bump, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", MESH_FORMATS)
def test_every_format_carries_outward_vertex_normals(
    bump: TexturedMesh, tmp_path: Path, suffix: str
) -> None:
    """Smooth shading needs vertex normals (glTF draws flat without them); a depth mesh faces
    the viewer (+z), and the bump's top tilts its normals outward from its centre."""
    path = save_mesh(bump, tmp_path / f"bump{suffix}")
    mesh = trimesh.load(path, force="mesh", process=False)
    if suffix == ".glb":  # trimesh computes normals when a file has none: look in the file
        data = path.read_bytes()
        document = json.loads(data[20 : 20 + int.from_bytes(data[12:16], "little")])
        assert "NORMAL" in document["meshes"][0]["primitives"][0]["attributes"]
    else:
        text = path.read_bytes()
        assert (b"\nvn " in text) if suffix == ".obj" else (b"property double nx" in text)
    normals = np.asarray(mesh.vertex_normals)
    assert (normals[:, 2] > 0).all()
    centred = mesh.vertices[:, :2] - mesh.vertices[:, :2].mean(0)
    ring = np.linalg.norm(centred, axis=1) > 0.2
    assert ((normals[ring, :2] * centred[ring]).sum(1) > 0).mean() > 0.95


def test_unwritable_folder_is_a_user_error(bump: TexturedMesh, tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    with pytest.raises(GANliftError, match="not_a_folder is a file; choose a folder"):
        save_mesh(bump, blocker / "bump.obj")


def test_failed_write_leaves_nothing_behind(
    bump: TexturedMesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def write_part_then_fail(name: str, mesh: o3d.t.geometry.TriangleMesh) -> bool:
        Path(name).with_suffix(".mtl").write_text("newmtl half_written\n")
        return False

    monkeypatch.setattr(o3d.t.io, "write_triangle_mesh", write_part_then_fail)
    with pytest.raises(GANliftError, match="could not write"):
        save_mesh(bump, tmp_path / "bump.obj")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("suffix", "cut_suffix", "kept"),
    [(".obj", ".obj", 0.5), (".obj", ".obj", 0.9), (".obj", ".mtl", 0.0), (".ply", ".ply", 0.5),
     (".glb", ".glb", 0.5)],
)  # fmt: skip
def test_files_a_full_disk_cut_short_are_refused_and_the_old_mesh_kept(
    bump: TexturedMesh,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
    cut_suffix: str,
    kept: float,
) -> None:
    """Open3D reports success for files the disk filled under: an OBJ cut off mid-face and an
    empty .mtl replaced a good mesh, with exit status 0. An OBJ cut late still reads, with
    fewer triangles."""
    path = save_mesh(bump, tmp_path / f"bump{suffix}")
    before = {file.name: file.read_bytes() for file in tmp_path.iterdir()}
    write = o3d.t.io.write_triangle_mesh

    def fill_the_disk(name: str, mesh: o3d.t.geometry.TriangleMesh) -> bool:
        assert write(name, mesh)
        cut = Path(name).with_suffix(cut_suffix)
        cut.write_bytes(cut.read_bytes()[: int(cut.stat().st_size * kept)])
        return True

    monkeypatch.setattr(o3d.t.io, "write_triangle_mesh", fill_the_disk)
    with pytest.raises(GANliftError, match=r"could not write .* check the disk has free space"):
        save_mesh(bump, path)
    assert {file.name: file.read_bytes() for file in tmp_path.iterdir()} == before


def test_obj_lands_after_its_material_and_texture(
    bump: TexturedMesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader polling for mesh.obj never finds it before the files it names."""
    landed = []

    def record(source: Path, target: Path) -> None:
        landed.append(Path(target).name)
        Path(source).rename(target)

    monkeypatch.setattr(os, "replace", record)
    save_mesh(bump, tmp_path / "bump.obj")
    assert sorted(landed) == ["bump.mtl", "bump.obj", "bump_albedo.png"]
    assert landed[-1] == "bump.obj"
