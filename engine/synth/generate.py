"""Render synthetic samples with ground truth: procedural object → view → GAN2Shape camera.

Each sample is drawn from its own seed (see `engine.synth.seeds`), in a fixed order —
identity, view, light, background — so it is the same whatever the batch it is rendered in.
Rendering uses `engine.render`'s rasterizer with GAN2Shape's camera and its Lambertian
shading (ambient + diffuse · max(0, n·l)), the image model of the methods themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from engine.device import resolve_device
from engine.errors import GANliftError
from engine.render import (
    apply_transform,
    clip_from_camera,
    interpolate,
    rasterize,
    shade,
    transform_points,
    vertex_normals,
)
from engine.synth import car, face, scene
from engine.synth.mesh import MeshBatch
from engine.synth.seeds import sample_generators

Category = Literal["face", "car"]
CATEGORIES: tuple[Category, ...] = ("face", "car")
MIN_SIZE = 16
"""Smallest synthetic render (the view labeller halves its input four times)."""
SIZES = (64, 128)
"""Image sizes the CLI offers; any size from `MIN_SIZE` up works when called from Python."""


@dataclass
class SynthBatch:
    """Rendered samples with their ground truth. Maps are zero outside the object mask."""

    category: str
    seeds: torch.Tensor
    """``[N]`` int64 per-sample seeds."""
    image: torch.Tensor
    """``[N, 3, H, W]`` RGB in [-1, 1], object over background."""
    mask: torch.Tensor
    """``[N, H, W]`` float {0, 1}: where the object is seen."""
    depth: torch.Tensor
    """``[N, H, W]`` depth (camera z) of the object in the image view."""
    canonical_depth: torch.Tensor
    """``[N, H, W]`` depth of the object in its canonical (frontal) pose, view = 0."""
    canonical_mask: torch.Tensor
    """``[N, H, W]`` float {0, 1}: where the object is seen in the canonical pose."""
    normal: torch.Tensor
    """``[N, 3, H, W]`` unit normals in the image view, GAN2Shape's convention (n = (0, 0, 1)
    for a surface facing the camera), from the mesh's interpolated vertex normals."""
    albedo: torch.Tensor
    """``[N, 3, H, W]`` albedo in [-1, 1] in the image view."""
    view: torch.Tensor
    """``[N, 6]`` GAN2Shape view: pitch, yaw, roll (radians), tx, ty, tz."""
    light: torch.Tensor
    """``[N, 4]`` ambient, diffuse, dx, dy (direction normalise(dx, dy, 1))."""

    def __len__(self) -> int:
        return int(self.seeds.shape[0])


@dataclass(frozen=True)
class _CategoryModel:
    """How one category samples, builds and paints its objects and picks its views."""

    sample_parameters: Callable[[list[np.random.Generator]], torch.Tensor]
    build_meshes: Callable[[torch.Tensor, int], MeshBatch]
    shade_albedo: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    sample_views: Callable[[list[np.random.Generator], torch.Tensor], torch.Tensor]


def _car_views(rngs: list[np.random.Generator], params: torch.Tensor) -> torch.Tensor:
    """Orbit views of cars ``[B, 6]``, each at a distance that frames its car."""
    azimuth, elevation, draws = scene.sample_car_orbits(rngs)
    translation = car.car_views_for_framing(params.cpu(), azimuth, elevation, draws)
    return scene.car_view(azimuth, elevation, translation)


_MODELS: dict[str, _CategoryModel] = {
    "face": _CategoryModel(
        face.sample_face_parameters,
        face.build_face_meshes,
        face.shade_face_albedo,
        lambda rngs, params: scene.sample_face_views(rngs),
    ),
    "car": _CategoryModel(
        car.sample_car_parameters, car.build_car_meshes, car.shade_car_albedo, _car_views
    ),
}


@dataclass
class Scene:
    """Everything drawn from a batch of seeds, ready to render."""

    category: str
    seeds: list[int]
    params: torch.Tensor
    """``[N, P]`` identity parameters of the category."""
    mesh: MeshBatch
    """The objects in canonical pose."""
    view: torch.Tensor
    """``[N, 6]`` GAN2Shape views."""
    light: torch.Tensor
    """``[N, 4]`` lights."""
    background: torch.Tensor
    """``[N, 3, H, W]`` in [0, 1]."""


def sample_scene(
    category: str, seeds: list[int], *, size: int = 64, device: torch.device | str = "cpu"
) -> Scene:
    """Draw identities, views, lights and backgrounds for `seeds` and build the meshes."""
    model = _model(category)
    if size < MIN_SIZE:
        raise GANliftError(
            f"Image size {size} is too small; use {MIN_SIZE} or more (64 or 128 usual)."
        )
    device = resolve_device(device)
    rngs = sample_generators(seeds, category)
    params = model.sample_parameters(rngs)
    view = model.sample_views(rngs, params).to(device)
    light = scene.sample_lights(rngs).to(device)
    background = scene.render_backgrounds(scene.sample_backgrounds(rngs).to(device), size)
    params = params.to(device)
    mesh = model.build_meshes(params, size)
    return Scene(category, list(seeds), params, mesh, view, light, background)


def render_scene(scene_batch: Scene) -> SynthBatch:
    """Render a sampled scene: the view pass (attributes, normals, depth) and the canonical
    pass (depth), then albedo, Lambertian shading and the background."""
    model = _model(scene_batch.category)
    mesh, size = scene_batch.mesh, scene_batch.background.shape[-1]
    viewed = transform_points(mesh.vertices, scene_batch.view)  # [N, V, 3]
    outward = vertex_normals(viewed, mesh.faces)  # [N, V, 3]
    seen, mask = _rasterize_attributes(viewed, mesh.faces, [mesh.attributes, outward], size)
    attributes, normal, depth = seen.split([mesh.attributes.shape[-1], 3, 1], dim=1)
    normal = -torch.nn.functional.normalize(normal, dim=1) * mask  # GAN2Shape's convention
    canonical_depth, canonical_mask = _rasterize_attributes(mesh.vertices, mesh.faces, [], size)

    albedo = model.shade_albedo(attributes.permute(0, 2, 3, 1), scene_batch.params) * mask
    colour = albedo * shade(normal, scene_batch.light)  # [N, 3, H, W]
    image = (colour * mask + scene_batch.background * (1 - mask)).clamp(0, 1)
    return SynthBatch(
        category=scene_batch.category,
        seeds=torch.tensor(scene_batch.seeds, dtype=torch.int64),
        image=image * 2 - 1,
        mask=mask[:, 0],
        depth=depth[:, 0],
        canonical_depth=canonical_depth[:, 0],
        canonical_mask=canonical_mask[:, 0],
        normal=normal,
        albedo=(albedo * 2 - 1) * mask,
        view=scene_batch.view,
        light=scene_batch.light,
    )


def _rasterize_attributes(
    points: torch.Tensor, faces: torch.Tensor, attributes: list[torch.Tensor], size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One rasterizer pass of camera-space meshes ``[N, V, 3]`` through GAN2Shape's camera.

    Returns the interpolated per-vertex `attributes` (each ``[N, V, C]``) followed by the
    depth (camera z), as top-row-first maps ``[N, ΣC + 1, H, W]`` that are zero off the
    object, and the coverage ``[N, 1, H, W]``.
    """
    clip = apply_transform(points, clip_from_camera(size, size).to(points.device))  # [N, V, 4]
    rast = rasterize(clip, faces, (size, size))  # [N, H, W, 4], row 0 at the bottom
    values = interpolate(torch.cat([*attributes, clip[..., 3:]], -1), rast, faces)
    covered = (rast[..., 3:] > 0).to(points.dtype)  # [N, H, W, 1]
    return values.flip(1).permute(0, 3, 1, 2), covered.flip(1).permute(0, 3, 1, 2)


def render_samples(
    category: str, seeds: list[int], *, size: int = 64, device: torch.device | str = "cpu"
) -> SynthBatch:
    """Render one batch: the samples of `seeds` at `size`×`size` on `device`."""
    return render_scene(sample_scene(category, seeds, size=size, device=device))


def _model(category: str) -> _CategoryModel:
    if category not in _MODELS:
        raise GANliftError(f"Unknown category '{category}'; use one of {', '.join(CATEGORIES)}.")
    return _MODELS[category]
