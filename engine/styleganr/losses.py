"""The inverse graphics losses (DIB-R style): silhouette IoU, colour L1, and the mesh
regularisers that keep a deformed sphere smooth (Laplacian), locally flat (flatten) and close
to its template (move).

Each loss returns one value per sample ``[B]``, so callers can weight and average freely.
"""

from __future__ import annotations

import torch

from engine.styleganr.icosphere import MeshTopology


def iou_loss(predicted: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """1 - soft IoU of masks ``[B, 1, H, W]`` or ``[B, H, W]`` in [0, 1]: ``[B]``.

    Soft intersection Σ p·t over soft union Σ (p + t - p·t), both smoothed by `eps`; 0 when
    the masks agree, two empty ones too.
    """
    predicted, target = predicted.flatten(1), target.flatten(1)  # [B, H*W]
    intersection = (predicted * target).sum(1)
    union = (predicted + target - predicted * target).sum(1)
    return 1 - (intersection + eps) / (union + eps)


def colour_loss(rendered: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of images ``[B, 3, H, W]``: ``[B]``."""
    return (rendered - target).abs().flatten(1).mean(1)


def uniform_laplacian(values: torch.Tensor, mesh: MeshTopology) -> torch.Tensor:
    """Each vertex's value minus the mean of its neighbours': ``[B, V, C]`` → ``[B, V, C]``."""
    first, second = mesh.edges[:, 0], mesh.edges[:, 1]
    neighbour_sum = torch.zeros_like(values)
    neighbour_sum = neighbour_sum.index_add(1, first, values[:, second])
    neighbour_sum = neighbour_sum.index_add(1, second, values[:, first])
    degree = torch.zeros(values.shape[1], device=values.device, dtype=values.dtype)
    degree = degree.index_add(
        0, mesh.edges.reshape(-1), torch.ones_like(mesh.edges.reshape(-1), dtype=values.dtype)
    )
    return values - neighbour_sum / degree[None, :, None]


def laplacian_loss(deformation: torch.Tensor, mesh: MeshTopology) -> torch.Tensor:
    """Mean squared uniform Laplacian of per-vertex displacements ``[B, V, 3]``: ``[B]``.

    Zero for any rigid shift of every vertex (and for no displacement); large when one vertex
    moves away from its neighbours, so the deformed sphere stays smooth.
    """
    return uniform_laplacian(deformation, mesh).square().sum(-1).mean(1)


def flatten_loss(vertices: torch.Tensor, mesh: MeshTopology) -> torch.Tensor:
    """Mean (1 - cos)² of the angle between the normals of faces sharing an edge: ``[B]``.

    Zero where neighbouring faces are coplanar; penalises creases and spikes (SoftRas's
    flatten regulariser).
    """
    corners = vertices[:, mesh.faces.long()]  # [B, F, 3, 3]
    normal = torch.linalg.cross(
        corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0], dim=-1
    )
    normal = normal / (normal.norm(dim=-1, keepdim=True) + 1e-12)  # [B, F, 3]
    cosine = (normal[:, mesh.edge_faces[:, 0]] * normal[:, mesh.edge_faces[:, 1]]).sum(-1)
    return (1 - cosine).square().mean(1)  # [B]


def move_loss(deformation: torch.Tensor) -> torch.Tensor:
    """Mean squared length of per-vertex displacements ``[B, V, 3]``: ``[B]``."""
    return deformation.square().sum(-1).mean(1)
