"""The template mesh of the inverse graphics network: a subdivided icosahedron on the unit
sphere with a UV map, and the adjacency its regularisers need.

Object coordinates follow GAN2Shape's camera axes in the canonical pose: x right, y down,
z away from the camera, so a car's front faces -z and its roof -y. UVs are spherical:
u = 0.5 + atan2(x, -z) / 2π runs round the vertical axis with the seam at the back (+z),
v = acos(y) / π runs from the top (v = 0, y = -1) to the bottom. Faces that straddle the
seam get their own UV corners with u past 1, so they do not smear the whole texture row
(glTF's default REPEAT wrap shows them exactly; our renderer clamps them to the edge column).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MeshTopology:
    """Edge adjacency of a triangle mesh, as the mesh regularisers need it."""

    faces: torch.Tensor
    """``int32 [F, 3]`` vertex indices."""
    edges: torch.Tensor
    """``int64 [E, 2]`` undirected edges, each once, lower index first."""
    edge_faces: torch.Tensor
    """``int64 [E_inner, 2]`` the two faces on either side of each edge shared by two faces."""
    boundary_edges: int
    """Number of edges with only one face (0 for a closed mesh)."""

    @property
    def num_vertices(self) -> int:
        """Number of vertices the faces index (the largest index + 1)."""
        return int(self.faces.max()) + 1

    def to(self, device: torch.device | str) -> MeshTopology:
        """The same topology with every tensor on ``device``."""
        return MeshTopology(
            self.faces.to(device),
            self.edges.to(device),
            self.edge_faces.to(device),
            self.boundary_edges,
        )


@dataclass(frozen=True)
class Icosphere:
    """A closed triangle mesh on the unit sphere, with UVs and edge adjacency."""

    vertices: torch.Tensor
    """``float32 [V, 3]`` unit vectors."""
    faces: torch.Tensor
    """``int32 [F, 3]`` counter-clockwise seen from outside ((v1-v0)×(v2-v0) points out)."""
    uv: torch.Tensor
    """``float32 [T, 2]`` texture coordinates (u may exceed 1 on seam faces)."""
    uv_faces: torch.Tensor
    """``int32 [F, 3]`` indices into ``uv`` per face corner."""
    topology: MeshTopology
    """Edges and face adjacency for the regularisers."""

    def to(self, device: torch.device | str) -> Icosphere:
        """The same mesh with every tensor on ``device``."""
        return Icosphere(
            self.vertices.to(device),
            self.faces.to(device),
            self.uv.to(device),
            self.uv_faces.to(device),
            self.topology.to(device),
        )


def icosphere(subdivisions: int = 3) -> Icosphere:
    """The icosahedron split ``subdivisions`` times: 12, 42, 162, 642 (the paper's), 2562 ...
    vertices, each edge halved and pushed back onto the sphere."""
    if subdivisions < 0:
        raise ValueError(f"subdivisions must be >= 0, got {subdivisions}")
    vertices, faces = _icosahedron()
    for _ in range(subdivisions):
        vertices, faces = _subdivide(vertices, faces)
    points = torch.tensor(vertices, dtype=torch.float32)
    points = points / points.norm(dim=1, keepdim=True)  # [V, 3]
    triangles = torch.tensor(faces, dtype=torch.int64)  # [F, 3]
    triangles = _orient_outwards(points, triangles)
    uv, uv_faces = _spherical_uv(points, triangles)
    return Icosphere(
        vertices=points,
        faces=triangles.to(torch.int32),
        uv=uv,
        uv_faces=uv_faces.to(torch.int32),
        topology=mesh_topology(triangles),
    )


def _icosahedron() -> tuple[list[tuple[float, float, float]], list[tuple[int, int, int]]]:
    """The 12 vertices (0, ±1, ±φ) and cyclic permutations, and the 20 faces."""
    phi = (1 + math.sqrt(5)) / 2
    vertices = [
        (-1, phi, 0), (1, phi, 0), (-1, -phi, 0), (1, -phi, 0),
        (0, -1, phi), (0, 1, phi), (0, -1, -phi), (0, 1, -phi),
        (phi, 0, -1), (phi, 0, 1), (-phi, 0, -1), (-phi, 0, 1),
    ]  # fmt: skip
    faces = [
        (0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11),
        (1, 5, 9), (5, 11, 4), (11, 10, 2), (10, 7, 6), (7, 1, 8),
        (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9),
        (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1),
    ]  # fmt: skip
    return [tuple(float(c) for c in v) for v in vertices], faces


def _subdivide(
    vertices: list[tuple[float, float, float]], faces: list[tuple[int, int, int]]
) -> tuple[list[tuple[float, float, float]], list[tuple[int, int, int]]]:
    """Split every triangle into four at its edge midpoints (shared between neighbours)."""
    vertices = list(vertices)
    midpoint_of: dict[tuple[int, int], int] = {}

    def midpoint(a: int, b: int) -> int:
        key = (min(a, b), max(a, b))
        if key not in midpoint_of:
            middle = tuple((p + q) / 2 for p, q in zip(vertices[a], vertices[b], strict=True))
            length = math.sqrt(sum(c * c for c in middle))
            vertices.append(tuple(c / length for c in middle))
            midpoint_of[key] = len(vertices) - 1
        return midpoint_of[key]

    split = []
    for a, b, c in faces:
        ab, bc, ca = midpoint(a, b), midpoint(b, c), midpoint(c, a)
        split += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
    return vertices, split


def _orient_outwards(points: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Reorder corners so every face normal (v1-v0)×(v2-v0) points away from the centre."""
    corners = points[faces]  # [F, 3, 3]
    normal = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    inward = (normal * corners.mean(1)).sum(1) < 0  # [F]
    return torch.where(inward[:, None], faces[:, [0, 2, 1]], faces)


def _spherical_uv(points: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Spherical UVs per face corner, seam faces unwrapped, then shared corners merged.

    The two pole vertices have no azimuth of their own: each of their faces gives them the
    mean u of its other two corners, so the texture does not fan out around the poles.
    """
    u = 0.5 + torch.atan2(points[:, 0], -points[:, 2]) / (2 * math.pi)  # [V]
    v = torch.acos(points[:, 1].clamp(-1, 1)) / math.pi  # [V]
    at_pole = (points[:, 1].abs() > 1 - 1e-6)[faces]  # [F, 3]
    corner_u = u[faces]  # [F, 3]
    regular_u = torch.where(at_pole, float("nan"), corner_u)
    spread = regular_u.nan_to_num(0.5).max(1).values - regular_u.nan_to_num(0.5).min(1).values
    straddles = spread > 0.5  # [F]
    corner_u = torch.where(straddles[:, None] & (corner_u < 0.5), corner_u + 1, corner_u)
    others_mean = (corner_u * ~at_pole).sum(1, keepdim=True) / (~at_pole).sum(1, keepdim=True)
    corner_u = torch.where(at_pole, others_mean, corner_u)
    corner_uv = torch.stack([corner_u, v[faces]], -1).reshape(-1, 2)  # [F*3, 2]
    # Merge identical corners (same vertex, same side of the seam) into one UV entry; pole
    # corners stay one per face.
    corner_index = torch.arange(faces.numel())
    keys = torch.where(
        at_pole.reshape(-1),
        2 * len(points) + corner_index,
        faces.reshape(-1) * 2 + (corner_uv[:, 0] > 1).long(),
    )  # [F*3]
    unique_keys, uv_faces = torch.unique(keys, return_inverse=True)
    uv = torch.zeros(len(unique_keys), 2)
    uv[uv_faces] = corner_uv
    return uv, uv_faces.reshape(-1, 3)


def mesh_topology(faces: torch.Tensor) -> MeshTopology:
    """Undirected edges and, for every edge two faces share, those two faces."""
    faces = faces.long()
    directed = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)  # [F*3, 2]
    face_index = torch.arange(len(faces), device=faces.device).repeat_interleave(3)  # [F*3]
    edges, inverse, counts = torch.unique(
        directed.sort(1).values, dim=0, return_inverse=True, return_counts=True
    )
    if bool((counts > 2).any()):
        raise ValueError("the mesh is not a manifold: some edge has more than two faces")
    order = torch.argsort(inverse, stable=True)
    sorted_faces, sorted_edges = face_index[order], inverse[order]  # [F*3]
    first_of_pair = torch.nonzero(sorted_edges[1:] == sorted_edges[:-1]).squeeze(1)
    edge_faces = torch.stack([sorted_faces[first_of_pair], sorted_faces[first_of_pair + 1]], 1)
    return MeshTopology(
        faces=faces.to(torch.int32),
        edges=edges,
        edge_faces=edge_faces,
        boundary_edges=int((counts == 1).sum()),
    )
