"""Open3D's offscreen renderer in a child process of its own, serving frames over a pipe.

Filament holds the GIL for a whole frame (the app's server would stand still meanwhile), is
not thread-safe, and a faulty graphics driver can crash or wedge it; in a child process none of
that reaches the app. This module imports only NumPy and Open3D, so the child starts quickly;
the kernel kills the child when its parent dies, however it dies.

Messages, parent to child: `("mesh", vertices, faces, vertex_colors or None)`, then any number
of `("frame", azimuth, elevation, distance, size, fov)` (degrees; distance in units of the
mesh's box); `None` ends the child. Each frame is answered by `("image", [size, size, 3] uint8)`
or `("error", message)`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import os
import signal
from multiprocessing.connection import Connection

import numpy as np
import open3d as o3d


def serve_frames(connection: Connection, parent: int) -> None:
    """The child's body: render the frames asked for until told to stop or the pipe closes
    (or process `parent`, which started it, is gone)."""
    die_with_parent(parent)
    renderer: o3d.visualization.rendering.OffscreenRenderer | None = None
    renderer_size = 0
    mesh: o3d.geometry.TriangleMesh | None = None
    mesh_added = False
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message is None:
            return
        kind, *fields = message
        if kind == "mesh":
            mesh, mesh_added = to_open3d(*fields), False
            continue
        azimuth, elevation, distance, size, fov = fields
        try:
            if renderer is None or renderer_size != size:
                # Filament aborts the process when the old renderer is freed after the new one
                # is made ("destroying MaterialInstance ... still in use"): free it first.
                renderer = None
                renderer = o3d.visualization.rendering.OffscreenRenderer(size, size)
                renderer.scene.set_background(np.array([1.0, 1.0, 1.0, 1.0]))
                renderer_size, mesh_added = size, False
            if not mesh_added:
                if mesh is None:
                    raise ValueError("a frame was asked for before any mesh")
                material = o3d.visualization.rendering.MaterialRecord()
                material.shader = "defaultLit"
                renderer.scene.clear_geometry()
                renderer.scene.add_geometry("mesh", mesh, material)
                mesh_added = True
            renderer.setup_camera(
                fov, np.zeros(3), orbit_eye(azimuth, elevation, distance), np.array([0.0, 1, 0])
            )
            connection.send(("image", np.asarray(renderer.render_to_image())))
        except Exception as error:
            connection.send(("error", f"{type(error).__name__}: {error}"))


_PR_SET_PDEATHSIG = 1
"""`prctl` option of Linux: the signal a process gets when the thread that started it ends."""


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when the thread that started it ends (Linux; the
    parent starts it from a thread that lasts as long as the parent), and end now if `parent`
    is already gone: a server killed outright left a wedged renderer running at full CPU."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)


def orbit_eye(azimuth: float, elevation: float, distance: float) -> np.ndarray:
    """The camera position orbiting the origin: azimuth 0 looks along -z from +z, y is up;
    `engine.render.orbit_camera`'s (angles in degrees here), written without torch for the
    child's quick start."""
    azimuth, elevation = math.radians(azimuth), math.radians(elevation)
    return distance * np.array(
        [
            math.cos(elevation) * math.sin(azimuth),
            math.sin(elevation),
            math.cos(elevation) * math.cos(azimuth),
        ]
    )


def to_open3d(
    vertices: np.ndarray, faces: np.ndarray, vertex_colors: np.ndarray | None = None
) -> o3d.geometry.TriangleMesh:
    """A legacy Open3D triangle mesh with vertex colours (when given) and normals."""
    result = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(vertices.astype(np.float64)),
        o3d.utility.Vector3iVector(faces),
    )
    if vertex_colors is not None:
        result.vertex_colors = o3d.utility.Vector3dVector(vertex_colors.astype(np.float64))
    result.compute_vertex_normals()
    return result
