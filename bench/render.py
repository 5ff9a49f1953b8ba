"""Rendering speed: a depth-map mesh rendered in a new view with shading, next to Open3D's
RaycastingScene (scene build + cast of the same mesh and camera) measured in the same run.

    python -m bench.render [--repeats 20] [--threads 2]

Prints a table of median / best milliseconds and the ratio to Open3D, plus batched 64×64
throughput (images/s) for the synthetic-data generator's use.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import numpy as np
import open3d as o3d
import torch

from engine.cli.arguments import add_threads_option, at_least, run_script, script_parser
from engine.render import (
    apply_transform,
    depth_to_points,
    grid_faces,
    intrinsics,
    normals_from_depth,
    orbit_camera,
    perspective,
    rasterize,
    render_depth_in_view,
    render_mesh,
    shade,
    transform_points,
    warp_grid,
)
from engine.render.camera import clip_from_camera

VIEW = (0.1, math.radians(25), 0.05, 0.02, -0.01, 0.0)
LIGHT = (0.4, 0.6, 0.3, 0.2)


def timed(function: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, best) wall time in milliseconds after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times)


def shaded_view(
    depth: torch.Tensor, albedo: torch.Tensor, view: torch.Tensor, light: torch.Tensor
) -> torch.Tensor:
    """The GAN2Shape render step: depth in the new view, its shading, the albedo warped in."""
    view_depth, mask = render_depth_in_view(depth, view)
    shading = shade(normals_from_depth(view_depth), light)
    albedo_in_view = torch.nn.functional.grid_sample(
        albedo.expand(view.shape[0], -1, -1, -1), warp_grid(view_depth, view), align_corners=True
    )
    return albedo_in_view * shading * mask


def open3d_cast(points: np.ndarray, faces: np.ndarray, rays: o3d.core.Tensor) -> None:
    """Build a RaycastingScene for one mesh and cast one ray per pixel."""
    mesh = o3d.t.geometry.TriangleMesh()
    mesh.vertex.positions = o3d.core.Tensor(points)
    mesh.triangle.indices = o3d.core.Tensor(faces)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(mesh)
    scene.cast_rays(rays)


def depth_map_rows(size: int, repeats: int) -> list[tuple[str, float, float, float]]:
    """Rows (name, median ms, best ms, median ratio to Open3D) for one resolution."""
    generator = torch.Generator().manual_seed(0)
    rows, cols = torch.meshgrid(
        torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij"
    )
    depth = (1.0 - 0.08 * (1 - rows**2 - cols**2).clamp(min=0).sqrt())[None]  # a bump
    albedo = torch.rand(1, 3, size, size, generator=generator)
    view, light = torch.tensor([VIEW]), torch.tensor([LIGHT])
    faces = grid_faces(size, size)
    points = transform_points(depth_to_points(depth).view(1, -1, 3), view)
    clip = apply_transform(points, clip_from_camera(size, size))

    k = intrinsics(size, size)
    pixel_rows, pixel_cols = torch.meshgrid(
        torch.arange(size * 1.0), torch.arange(size * 1.0), indexing="ij"
    )
    directions = torch.stack(
        [
            (pixel_cols - k[0, 2]) / k[0, 0],
            (pixel_rows - k[1, 2]) / k[1, 1],
            torch.ones(size, size),
        ],
        -1,
    )
    rays = o3d.core.Tensor(torch.cat([torch.zeros_like(directions), directions], -1).numpy())
    points_np, faces_np = points[0].numpy(), faces.numpy()
    reference, reference_best = timed(lambda: open3d_cast(points_np, faces_np, rays), repeats)

    depth_grad = depth.clone().requires_grad_(True)

    def forward_backward() -> None:
        shaded_view(depth_grad, albedo, view, light).sum().backward()

    measured = [
        (
            f"rasterize {size}² ({faces.shape[0]} tris)",
            lambda: rasterize(clip, faces, (size, size)),
        ),
        (f"view + shading fwd {size}²", lambda: shaded_view(depth, albedo, view, light)),
        (f"view + shading fwd+bwd {size}²", forward_backward),
    ]
    table = [(f"open3d build+cast {size}² (the reference)", reference, reference_best, 1.0)]
    for name, function in measured:
        with torch.no_grad() if "bwd" not in name else torch.enable_grad():
            median, best = timed(function, repeats)
        table.append((name, median, best, median / reference))
    return table


def throughput_rows(repeats: int) -> list[tuple[str, float, float, float]]:
    """Batched 64×64 renders per second: depth-map views and a textured-sphere mesh."""
    batch, size = 64, 64
    depth = torch.full((1, size, size), 1.0)
    albedo = torch.rand(1, 3, size, size)
    views = (torch.rand(batch, 6) - 0.5) * torch.tensor([0.5, 1.0, 0.2, 0.1, 0.1, 0.0])
    lights = torch.rand(batch, 4)

    theta = torch.linspace(0.05, math.pi - 0.05, 32)
    phi = torch.linspace(0, 2 * math.pi, 65)[:-1]
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    sphere = torch.stack([t.sin() * p.cos(), t.cos(), t.sin() * p.sin()], -1).view(1, -1, 3)
    index = torch.arange(sphere.shape[1]).view(32, 64)
    a, b = index[:-1], index[1:]
    a1, b1 = a.roll(-1, 1), b.roll(-1, 1)
    faces = (
        torch.cat([torch.stack([a, a1, b], -1), torch.stack([a1, b1, b], -1)], -1).view(-1, 3).int()
    )
    colors = torch.rand(1, sphere.shape[1], 3)
    cameras = orbit_camera(
        torch.rand(batch) * 2 * math.pi, torch.rand(batch) * 0.6, torch.full((batch,), 4.0)
    )
    projection = perspective(30.0)

    def mesh_batch() -> None:
        render_mesh(
            sphere.expand(batch, -1, -1),
            faces,
            (size, size),
            projection=projection,
            camera_from_world=cameras,
            vertex_colors=colors,
        )

    table = []
    with torch.no_grad():
        for name, function in [
            (
                f"{batch}× depth-map view+shading 64²",
                lambda: shaded_view(depth, albedo, views, lights),
            ),
            (f"{batch}× sphere mesh ({faces.shape[0]} tris) 64², antialiased", mesh_batch),
        ]:
            median, best = timed(function, repeats)
            table.append((name, median, best, batch / median * 1e3))
    return table


def main() -> None:
    """Parse arguments, run every measurement, print the tables."""
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument(
        "--repeats", type=at_least(1), default=20, help="timed runs of each case (%(default)s)"
    )
    add_threads_option(parser, 2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, open3d {o3d.__version__}\n")
    print(f"{'measurement':48s} {'median ms':>10s} {'best ms':>9s} {'÷ open3d':>9s}")
    for size in (128, 256):
        for name, median, best, ratio in depth_map_rows(size, args.repeats):
            print(f"{name:48s} {median:10.2f} {best:9.2f} {ratio:9.2f}")
    print(f"\n{'batched throughput':48s} {'median ms':>10s} {'best ms':>9s} {'images/s':>9s}")
    for name, median, best, rate in throughput_rows(args.repeats):
        print(f"{name:48s} {median:10.2f} {best:9.2f} {rate:9.0f}")


if __name__ == "__main__":
    run_script(main)
