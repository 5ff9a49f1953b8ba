"""Recovered depth → textured triangle mesh, and mesh files (OBJ + MTL + PNG, PLY, GLB) written
with Open3D.

Meshes leave the engine in a viewer-friendly frame: y up, the object's front facing +z (towards
a default OpenGL / glTF camera), centred on the origin and scaled to fit a box of side ``size``.
GAN2Shape's camera has y down and looks along +z, so a back-projected point (x, y, z) becomes
(x, -y, -z): a half turn about x, which keeps triangles counter-clockwise seen from the front.

UVs follow glTF (and `engine.render.sample_texture`): u runs along the texture's width, v down
its height with v = 0 at the top row.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from engine.atomic import file_path, output_file
from engine.errors import GANliftError
from engine.images import checked_image, checked_mask, to_uint8
from engine.render import depth_to_points, grid_faces, sample_texture, transform_points
from engine.wording import type_phrase

if TYPE_CHECKING:
    import open3d as o3d

MESH_FORMATS = (".obj", ".ply", ".glb")
"""File suffixes `save_mesh` writes: OBJ (+ MTL + PNG texture), PLY (vertex colours), GLB."""

_GANLIFT_FROM_CAMERA = (1.0, -1.0, -1.0)  # GAN2Shape camera (y down, z away) → y up, front +z


@dataclass
class TexturedMesh:
    """A triangle mesh with optional per-vertex colours and an optional UV-mapped texture.

    Any array-like (NumPy arrays, CPU tensors) is accepted and stored as a contiguous NumPy
    array of the dtype below; shapes are checked on construction.
    """

    vertices: np.ndarray
    """``float32 [V, 3]`` positions."""
    faces: np.ndarray
    """``int32 [F, 3]`` vertex indices, counter-clockwise seen from the front."""
    vertex_colors: np.ndarray | None = None
    """``float32 [V, 3]`` RGB in [0, 1]."""
    uv: np.ndarray | None = None
    """``float32 [T, 2]`` texture coordinates (glTF convention, v = 0 at the top row)."""
    uv_faces: np.ndarray | None = None
    """``int32 [F, 3]`` indices into ``uv`` per face corner (UV seams); None means ``faces``."""
    texture: np.ndarray | None = None
    """``uint8 [Ht, Wt, 3]`` RGB texture map, given together with ``uv``."""

    def corner_uv(self) -> np.ndarray:
        """``float32 [F, 3, 2]``: the UV at each face corner (requires ``uv``)."""
        if self.uv is None:
            raise ValueError("corner_uv needs a mesh with texture coordinates (uv)")
        return self.uv[self.faces if self.uv_faces is None else self.uv_faces]

    def __post_init__(self) -> None:
        self.vertices = _array(self.vertices, np.float32, (None, 3), "vertices")
        self.faces = _array(self.faces, np.int32, (None, 3), "faces")
        num_vertices, num_faces = len(self.vertices), len(self.faces)
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= num_vertices):
            raise ValueError(f"faces must index the {num_vertices} vertices")
        if self.vertex_colors is not None:
            self.vertex_colors = _array(
                self.vertex_colors, np.float32, (num_vertices, 3), "vertex_colors"
            )
        if (self.uv is None) != (self.texture is None):
            raise ValueError("uv and texture must be given together")
        if self.uv is not None:
            self.uv = _array(self.uv, np.float32, (None, 2), "uv")
            if np.asarray(self.texture).dtype != np.uint8:
                raise ValueError(f"texture must be uint8, got {np.asarray(self.texture).dtype}")
            self.texture = _array(self.texture, np.uint8, (None, None, 3), "texture")
        if self.uv_faces is not None:
            if self.uv is None:
                raise ValueError("uv_faces needs uv and texture")
            self.uv_faces = _array(self.uv_faces, np.int32, (num_faces, 3), "uv_faces")
            if self.uv_faces.size and (
                self.uv_faces.min() < 0 or self.uv_faces.max() >= len(self.uv)
            ):
                raise ValueError(f"uv_faces must index the {len(self.uv)} uv coordinates")
        elif self.uv is not None and len(self.uv) != num_vertices:
            raise ValueError(
                f"uv without uv_faces must have one row per vertex, got {len(self.uv)} for "
                f"{num_vertices} vertices"
            )


def depth_to_mesh(
    depth: torch.Tensor,
    texture: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    view: torch.Tensor | None = None,
    max_edge_tilt_degrees: float = 85.0,
    size: float = 1.0,
) -> TexturedMesh:
    """Mesh the pixel grid of a depth map seen by GAN2Shape's camera, textured by its image.

    ``depth [H, W]`` or ``[1, H, W]``, ``texture [3, kH, kW]`` or ``[1, 3, kH, kW]`` in
    [-1, 1] covering the same frame at k ≥ 1 times the depth's resolution (k = 1: the image
    itself), ``mask [H, W]``, ``[1, H, W]`` or ``[1, 1, H, W]`` (> 0.5 keeps a pixel) or None
    for all pixels. ``view [6]`` or
    ``[1, 6]`` poses the surface as `engine.render.transform_points` does (None: canonical).

    Triangles are dropped where a corner is masked out or has no finite positive depth, and at
    depth discontinuities: where an edge turns towards the line of sight by more than
    ``max_edge_tilt_degrees`` from square to it (a jump along the rays between neighbouring
    pixels, not a surface: off the axis a tilt from the image plane would read such a jump as
    less steep, and keep it). Vertices no
    triangle uses are removed; the rest are put y up, front +z, centred and scaled so the
    bounding box's longest side is ``size``. Each vertex gets a UV at its pixel's centre in the
    texture and the texture's mean colour over its pixel.
    """
    if not 0 < max_edge_tilt_degrees <= 90:  # NaN too: it kept every triangle
        raise GANliftError(
            f"depth_to_mesh's max_edge_tilt_degrees is the steepest edge kept, from above 0 to "
            f"90, got {max_edge_tilt_degrees!r} (outside it, every triangle was dropped)."
        )
    depth = _single(depth, 2, "depth")  # [H, W]
    texture = _single(texture, 3, "texture")  # [3, kH, kW]
    height, width = depth.shape
    if (
        texture.shape[0] != 3
        or texture.shape[1] < height
        or texture.shape[1] * width != texture.shape[2] * height
    ):
        raise ValueError(
            f"texture must be [3, kH, kW] for the [{height}, {width}] depth map with k >= 1, "
            f"got {list(texture.shape)}"
        )
    texture = checked_image(texture[None], "The mesh's texture")[0]  # pixels in 0..255, NaN
    if view is not None:
        _check_view(view)
    depth = depth.detach().float().cpu()
    valid = torch.isfinite(depth) & (depth > 0)  # [H, W]
    if mask is not None:
        valid &= checked_mask(mask, height, width, "depth_to_mesh")[0, 0].cpu() > 0.5
    depth = torch.where(valid, depth, torch.ones_like(depth))

    faces = grid_faces(height, width).long()  # [F, 3]
    keep = valid.flatten()[faces].all(1) & ~_spans_discontinuity(
        depth, faces, max_edge_tilt_degrees
    )
    faces = faces[keep]
    if len(faces) == 0:
        raise GANliftError(
            "The depth map leaves no surface to mesh after masking and trimming "
            "discontinuities; check that the mask covers the object."
        )

    points = depth_to_points(depth[None])[0].reshape(-1, 3)  # [H*W, 3]
    if view is not None:
        points = transform_points(points[None], view.detach().cpu().float().reshape(1, 6))[0]
    used = torch.zeros(height * width, dtype=torch.bool)
    used[faces.flatten()] = True
    new_index = torch.cumsum(used.long(), 0) - 1  # [H*W] old vertex → compacted vertex

    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    uv = torch.stack([(cols + 0.5) / width, (rows + 0.5) / height], -1).reshape(-1, 2)  # [H*W, 2]
    texels = texture.detach().float().cpu()
    per_pixel = F.adaptive_avg_pool2d(texels, (height, width))  # [3, H, W]
    colors = ((per_pixel + 1) / 2).clamp(0, 1)
    return TexturedMesh(
        vertices=fit_in_box(points[used] * points.new_tensor(_GANLIFT_FROM_CAMERA), size),
        faces=new_index[faces],
        vertex_colors=colors.reshape(3, -1).T[used],
        uv=uv[used],
        texture=to_uint8(texture),
    )


def mesh_file(path: str | os.PathLike) -> Path:
    """`path` checked as a mesh file to write (a suffix of `MESH_FORMATS`, not a folder, in a
    folder that can be written); commands call it before their work."""
    path = file_path(path)
    if path.suffix.lower() not in MESH_FORMATS:  # before output_file makes its folder
        raise GANliftError(
            f"Cannot save a mesh as '{path.name}'; use one of {', '.join(MESH_FORMATS)}."
        )
    return output_file(path)


def save_mesh(mesh: TexturedMesh, path: str | os.PathLike) -> Path:
    """Write ``mesh`` in the format its suffix names (see `MESH_FORMATS`), all or nothing.

    Every format carries vertex normals (its faces' normals averaged), so viewers shade it
    smoothly. ``.obj``: geometry, UVs and vertex colours, plus ``<stem>.mtl`` and the texture
    as ``<stem>_albedo.png`` beside it. ``.ply``: geometry and vertex colours (sampled from the
    texture when the mesh has none). ``.glb``: the texture when the mesh has one, else vertex
    colours (glTF multiplies the two, so never both). UVs are clamped to the texture's outer
    texel centres, so every viewer, whatever its wrap mode, shows what
    `engine.render.sample_texture` (which clamps at the border) shows at the corners, and a
    sphere's seam (u past 1) never takes the texture's opposite side. Files are written to a
    temporary folder beside ``path`` and renamed into place, the mesh file last, so a reader
    never finds a half-written mesh or one missing its texture.
    """
    if not isinstance(mesh, TexturedMesh):
        raise GANliftError(
            f"save_mesh takes a GANlift TexturedMesh (from recovery_mesh, depth_to_mesh or "
            f"car_to_mesh), got {type(mesh).__name__}; another library's mesh has its own writer."
        )
    if not isinstance(path, str | os.PathLike):
        raise GANliftError(
            f"save_mesh needs a file path such as 'mesh.glb', got {type(path).__name__}."
        )
    path = mesh_file(path)
    suffix = path.suffix.lower()
    with_texture = mesh.texture is not None and suffix != ".ply"
    if suffix == ".ply" and mesh.vertex_colors is None and mesh.texture is not None:
        mesh = replace(mesh, vertex_colors=texture_vertex_colors(mesh))
    with_colors = mesh.vertex_colors is not None and not (suffix == ".glb" and with_texture)
    open3d_mesh = _to_open3d(mesh, with_texture=with_texture, with_colors=with_colors)
    try:
        staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    except OSError as error:
        raise GANliftError(
            f"Cannot write the mesh to '{path}' ({error.strerror}); choose a folder you can "
            "write to."
        ) from error
    o3d = _open3d()
    try:
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            written = o3d.t.io.write_triangle_mesh(str(staging / path.name), open3d_mesh)
        if not written or not _reads_back_whole(staging / path.name, len(mesh.faces)):
            raise GANliftError(
                f"Open3D could not write the mesh to '{path}'; check the disk has free space."
            )
        if suffix == ".glb":
            _declare_only_used_extensions(staging / path.name)
        for file in staging.iterdir():  # before any rename: all or nothing
            if (path.parent / file.name).is_dir():
                raise GANliftError(
                    f"Cannot write '{path.parent / file.name}' beside the mesh, a folder of "
                    "that name is there; move it or choose another mesh name."
                )
        for file in sorted(staging.iterdir(), key=lambda file: file.name == path.name):
            os.replace(file, path.parent / file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _reads_back_whole(file: Path, triangles: int) -> bool:
    """Whether the mesh Open3D wrote to `file` reads back with all its `triangles`, and no file
    written beside it is empty: Open3D reports success for files a full disk cut short."""
    if any(written.stat().st_size == 0 for written in file.parent.iterdir()):
        return False
    o3d = _open3d()
    try:
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            return o3d.t.io.read_triangle_mesh(str(file)).triangle.indices.shape[0] == triangles
    except Exception:  # a cut-short file fails in the reader's own ways (IndexError, KeyError)
        return False


def _declare_only_used_extensions(glb: Path) -> None:
    """Rewrite the glTF JSON chunk of `glb` without the extensions Open3D's writer (assimp)
    declares but never uses: KHR_materials_volume, and FB_ngon_encoding, which would tell
    readers that our triangles are fans of larger polygons."""
    data = glb.read_bytes()
    json_length = int.from_bytes(data[12:16], "little")
    document = json.loads(data[20 : 20 + json_length])
    used = _extension_names(document)
    declared = document.pop("extensionsUsed", [])
    if kept := [name for name in declared if name in used]:
        document["extensionsUsed"] = kept
    chunk = json.dumps(document, separators=(",", ":")).encode()
    chunk += b" " * (-len(chunk) % 4)  # chunks are 4-byte aligned, JSON padded with spaces
    rest = data[20 + json_length :]  # the binary chunk, header and all
    header = data[:8] + (20 + len(chunk) + len(rest)).to_bytes(4, "little")
    glb.write_bytes(header + len(chunk).to_bytes(4, "little") + data[16:20] + chunk + rest)


def _extension_names(node: object) -> set[str]:
    """Names of the extensions some object in a glTF document carries."""
    if isinstance(node, list):
        return set().union(*map(_extension_names, node))
    if not isinstance(node, dict):
        return set()
    names = set(node.get("extensions", {}))
    return names.union(*(_extension_names(value) for value in node.values()))


def texture_vertex_colors(mesh: TexturedMesh) -> np.ndarray:
    """``float32 [V, 3]`` colours in [0, 1]: the texture at each vertex's UV, averaged over
    the face corners a vertex has where UV seams give it several."""
    texture = torch.from_numpy(mesh.texture).permute(2, 0, 1)[None].float() / 255  # [1, 3, H, W]
    corner_uv = torch.from_numpy(mesh.corner_uv()).reshape(1, 1, -1, 2)  # [1, 1, F*3, 2]
    corners = sample_texture(texture, corner_uv)[0, :, 0].T  # [F*3, 3]
    vertex = torch.from_numpy(mesh.faces).long().flatten()  # [F*3]
    total = torch.zeros(len(mesh.vertices), 3).index_add_(0, vertex, corners)
    count = torch.zeros(len(mesh.vertices)).index_add_(0, vertex, torch.ones(len(vertex)))
    return (total / count.clamp(min=1)[:, None]).numpy()


def _spans_discontinuity(
    depth: torch.Tensor, faces: torch.Tensor, max_tilt_degrees: float
) -> torch.Tensor:
    """``[F]`` True for grid triangles with an edge turned more than ``max_tilt_degrees`` from
    square to the line of sight: its depth jump over its sideways length across the rays at
    its mean depth (so a surface at a grazing angle is cut where it turns away from the
    camera, on whichever side of the image it is)."""
    rays = depth_to_points(torch.ones_like(depth)[None])[0, ..., :2].reshape(-1, 2)  # [H*W, 2]
    corner_depth = depth.flatten()[faces]  # [F, 3]
    corner_rays = rays[faces]  # [F, 3, 2]
    following = [1, 2, 0]
    jump = (corner_depth - corner_depth[:, following]).abs()  # [F, 3]
    mean_depth = (corner_depth + corner_depth[:, following]) / 2
    sideways = (corner_rays - corner_rays[:, following]).norm(dim=-1) * mean_depth  # [F, 3]
    return (jump > sideways * math.tan(math.radians(max_tilt_degrees))).any(1)


def fit_in_box(points: torch.Tensor, size: float = 1.0) -> torch.Tensor:
    """Centre ``points [V, 3]`` on their bounding box and scale its longest side to ``size``
    (the frame every mesh leaves the engine in)."""
    if not (math.isfinite(size) and size > 0):
        raise GANliftError(f"The mesh's size (its longest side) must be above 0, got {size}.")
    low, high = points.min(0).values, points.max(0).values
    return (points - (low + high) / 2) * (size / (high - low).max())


def _to_open3d(
    mesh: TexturedMesh, *, with_texture: bool, with_colors: bool
) -> o3d.t.geometry.TriangleMesh:
    """The Open3D tensor mesh for ``mesh``; Open3D's UVs count v from the texture's bottom."""
    o3d = _open3d()
    result = o3d.t.geometry.TriangleMesh()
    result.vertex.positions = o3d.core.Tensor(mesh.vertices)
    result.triangle.indices = o3d.core.Tensor(mesh.faces)
    result.compute_vertex_normals()  # viewers shade smoothly only with them (glTF: flat without)
    if with_colors:
        result.vertex.colors = o3d.core.Tensor(mesh.vertex_colors)
    if with_texture:
        height, width = mesh.texture.shape[:2]
        low = np.array([0.5 / width, 0.5 / height], np.float32)
        corner_uv = np.clip(mesh.corner_uv(), low, 1 - low)  # [F, 3, 2]
        corner_uv[..., 1] = 1 - corner_uv[..., 1]
        result.triangle.texture_uvs = o3d.core.Tensor(corner_uv)
        result.material.set_default_properties()
        result.material.texture_maps["albedo"] = o3d.t.geometry.Image(o3d.core.Tensor(mesh.texture))
    return result


def _check_view(view: object) -> None:
    """Refuse a `depth_to_mesh` view that is not 6 finite numbers in a tensor (a NaN one wrote
    NaN vertices, one of another size failed deep in torch)."""
    if not isinstance(view, torch.Tensor):
        got = type_phrase(view)
    elif view.numel() != 6:
        got = f"shape {list(view.shape)}"
    elif not bool(view.isfinite().all()):
        got = "NaN or infinite values"
    else:
        return
    raise GANliftError(
        "depth_to_mesh's view is a tensor [6] or [1, 6] of finite numbers (pitch, yaw, roll in "
        f"radians, tx, ty, tz), got {got}."
    )


def _single(tensor: torch.Tensor, dims: int, name: str) -> torch.Tensor:
    """Drop a leading batch of one so ``tensor`` has ``dims`` dimensions."""
    if not isinstance(tensor, torch.Tensor):
        raise GANliftError(
            f"depth_to_mesh's {name} takes a torch tensor, got {type_phrase(tensor)}; use "
            "torch.from_numpy or torch.tensor."
        )
    if tensor.dim() == dims + 1 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != dims:
        raise ValueError(
            f"{name} must have {dims} dimensions (or a batch of 1), got {list(tensor.shape)}"
        )
    return tensor


def _array(values: object, dtype: type, shape: tuple[int | None, ...], name: str) -> np.ndarray:
    """``values`` as a contiguous array of ``dtype``, checked against ``shape`` (None = any)."""
    array = np.ascontiguousarray(values, dtype=dtype)
    if array.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(array.shape, shape, strict=True)
    ):
        expected = ", ".join("N" if want is None else str(want) for want in shape)
        raise ValueError(f"{name} must be [{expected}], got {list(array.shape)}")
    return array


def _open3d() -> ModuleType:
    """Open3D, imported when a mesh is first written: at the top of this module it cost every
    command 0.7 s of start-up (`python -m engine --help` took 2.5 s)."""
    import open3d

    return open3d
