"""Pictures of the exported mesh from orbiting cameras, and Open3D's native window.

Two interchangeable viewers render a `TexturedMesh` (y up, front +z, inside a unit box, as
`engine.mesh` makes it) from a camera orbiting its centre: `Open3DViewer` with Open3D's
offscreen renderer (Filament; on CPU through Mesa's software Vulkan / EGL), and `TorchViewer`
with `engine.render.render_mesh`, the fallback wherever offscreen rendering is unavailable.
"""

from __future__ import annotations

import atexit
import functools
import gc
import logging
import math
import multiprocessing
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Literal, Protocol

import numpy as np
import open3d as o3d
import torch

from engine.mesh import TexturedMesh
from engine.render import orbit_camera, perspective, render_mesh

logger = logging.getLogger("ganlift.app")

ViewerKind = Literal["auto", "open3d", "torch"]

FOV_DEGREES = 30.0
"""Vertical field of view of the orbiting camera."""

_PROBE_SECONDS = 120.0
_PROBE_SCRIPT = (
    "import open3d as o3d; o3d.visualization.rendering.OffscreenRenderer(16, 16).render_to_image()"
)


class MeshViewer(Protocol):
    """Renders a mesh seen from an orbiting camera as a uint8 picture."""

    name: str

    def render(
        self, mesh: TexturedMesh, *, azimuth: float, elevation: float, distance: float, size: int
    ) -> np.ndarray:
        """`[size, size, 3]` uint8; angles in degrees, distance in units of the mesh's box."""


class TorchViewer:
    """`engine.render.render_mesh` with the mesh's texture and a headlight."""

    name = "engine.render"

    def render(
        self, mesh: TexturedMesh, *, azimuth: float, elevation: float, distance: float, size: int
    ) -> np.ndarray:
        """See `MeshViewer.render`."""
        vertices = torch.from_numpy(mesh.vertices)[None]  # [1, V, 3]
        faces = torch.from_numpy(mesh.faces)  # [F, 3]
        colors = torch.from_numpy(
            mesh.vertex_colors if mesh.vertex_colors is not None else np.ones_like(mesh.vertices)
        )[None]  # [1, V, 3]
        camera = orbit_camera(
            torch.tensor([math.radians(azimuth)]),
            torch.tensor([math.radians(elevation)]),
            torch.tensor([distance]),
        )  # [1, 4, 4]
        with torch.no_grad():
            result = render_mesh(
                vertices,
                faces,
                (size, size),
                projection=perspective(FOV_DEGREES),
                camera_from_world=camera,
                vertex_colors=colors,
                background=1.0,
            )
        headlight = result.normal[:, 2:3].abs()  # [1, 1, H, W] cosine to the view axis
        shaded = result.image * (0.35 + 0.65 * headlight)  # [1, 3, H, W]
        image = shaded * result.mask + (1 - result.mask)  # white background
        return (image[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


class Open3DViewer:
    """Open3D's offscreen renderer, driven from one private thread (Filament is not
    thread-safe, and Gradio calls handlers from a pool)."""

    name = "Open3D offscreen"

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], Future]] = queue.Queue()
        self._renderer: o3d.visualization.rendering.OffscreenRenderer | None = None
        self._renderer_size = 0
        self._shown: TexturedMesh | None = None
        threading.Thread(target=self._serve, name="open3d", daemon=True).start()
        atexit.register(self.close)

    def render(
        self, mesh: TexturedMesh, *, azimuth: float, elevation: float, distance: float, size: int
    ) -> np.ndarray:
        """See `MeshViewer.render`."""
        return self._call(functools.partial(self._render, mesh, azimuth, elevation, distance, size))

    def close(self) -> None:
        """Release the renderer on its own thread (Filament refuses to shut down elsewhere)."""
        self._call(self._release)

    def _call(self, job: Callable[[], Any]) -> Any:
        """Run `job` on the renderer's thread and return its result."""
        future: Future = Future()
        self._jobs.put((job, future))
        return future.result()

    def _serve(self) -> None:
        """The renderer's thread: run jobs in order, forever."""
        while True:
            job, future = self._jobs.get()
            try:
                future.set_result(job())
            except Exception as error:
                future.set_exception(error)

    def _release(self) -> None:
        self._renderer, self._shown = None, None
        gc.collect()

    def _render(
        self, mesh: TexturedMesh, azimuth: float, elevation: float, distance: float, size: int
    ) -> np.ndarray:
        renderer = self._renderer_of_size(size)
        if self._shown is not mesh:
            material = o3d.visualization.rendering.MaterialRecord()
            material.shader = "defaultLit"
            renderer.scene.clear_geometry()
            renderer.scene.add_geometry("mesh", to_open3d(mesh), material)
            self._shown = mesh
        azimuth, elevation = math.radians(azimuth), math.radians(elevation)
        eye = distance * np.array(
            [
                math.cos(elevation) * math.sin(azimuth),
                math.sin(elevation),
                math.cos(elevation) * math.cos(azimuth),
            ]
        )
        renderer.setup_camera(FOV_DEGREES, np.zeros(3), eye, np.array([0.0, 1.0, 0.0]))
        return np.asarray(renderer.render_to_image())

    def _renderer_of_size(self, size: int) -> o3d.visualization.rendering.OffscreenRenderer:
        """The renderer, made again when the picture size changes."""
        if self._renderer is None or self._renderer_size != size:
            self._renderer = o3d.visualization.rendering.OffscreenRenderer(size, size)
            self._renderer.scene.set_background(np.array([1.0, 1.0, 1.0, 1.0]))
            self._renderer_size, self._shown = size, None
        return self._renderer


def to_open3d(mesh: TexturedMesh) -> o3d.geometry.TriangleMesh:
    """The mesh as a legacy Open3D triangle mesh with vertex colours and normals."""
    result = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(mesh.vertices.astype(np.float64)),
        o3d.utility.Vector3iVector(mesh.faces),
    )
    if mesh.vertex_colors is not None:
        result.vertex_colors = o3d.utility.Vector3dVector(mesh.vertex_colors.astype(np.float64))
    result.compute_vertex_normals()
    return result


def open3d_offscreen_works() -> bool:
    """Whether Open3D can render offscreen here, probed in a child process (a missing
    graphics driver can crash the process instead of raising)."""
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE_SCRIPT],
            capture_output=True,
            timeout=_PROBE_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


def create_viewer(kind: ViewerKind = "auto") -> MeshViewer:
    """The viewer asked for; "auto" prefers Open3D and falls back to `engine.render`, saying so
    in the log."""
    if kind == "torch":
        return TorchViewer()
    if kind == "open3d" or open3d_offscreen_works():
        return Open3DViewer()
    logger.warning(
        "Open3D offscreen rendering is unavailable here; the 3D viewer renders meshes with "
        "engine.render.render_mesh instead."
    )
    return TorchViewer()


def open_desktop_window(mesh_path: str) -> multiprocessing.Process:
    """Show a mesh file in Open3D's native window, in its own process (GUI toolkits want the
    main thread of their process)."""
    process = multiprocessing.get_context("spawn").Process(
        target=_show_mesh_file, args=(mesh_path,), daemon=True
    )
    process.start()
    return process


def _show_mesh_file(mesh_path: str) -> None:
    """Child-process body of `open_desktop_window`."""
    mesh = o3d.io.read_triangle_mesh(mesh_path, enable_post_processing=True)
    mesh.compute_vertex_normals()
    o3d.visualization.draw_geometries([mesh], window_name=f"GANlift: {mesh_path}")
