"""Pictures of the exported mesh from orbiting cameras, and Open3D's native window.

Two interchangeable viewers render a `TexturedMesh` (y up, front +z, inside a unit box, as
`engine.mesh` makes it) from a camera orbiting its centre: `Open3DViewer` with Open3D's
offscreen renderer (Filament; on CPU through Mesa's software Vulkan / EGL) in a child process,
and `TorchViewer` with `engine.render.render_mesh`, the fallback wherever offscreen rendering
is unavailable or fails.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import logging
import math
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Literal, Protocol

import numpy as np
import open3d as o3d
import torch

from app import offscreen
from engine.mesh import TexturedMesh
from engine.render import orbit_camera, perspective, render_mesh

logger = logging.getLogger("ganlift.app")

ViewerKind = Literal["auto", "open3d", "torch"]

FOV_DEGREES = 30.0
"""Vertical field of view of the orbiting camera."""
START_SECONDS = 60.0
"""Longest wait for a fresh child's first Open3D frame, its start (imports, graphics driver)
included (measured on a 2-core CPU with Mesa's software Vulkan: 2-5 s, up to 12 s while
another process kept both cores busy)."""
FRAME_SECONDS = 20.0
"""Longest wait for any later frame, a new mesh's upload included (the same CPU: 1.3 s median,
2 s for a 4,096-vertex mesh's first frame), so a mesh that wedges Filament costs 20 s, not 60."""
SOFTWARE_DEVICE_MARKERS = ("software device", "llvmpipe", "swiftshader", "softpipe")
"""Words in Open3D's start-up log that name a software graphics device."""
_STOP_SECONDS = 5.0
_SPAWN = multiprocessing.get_context("spawn")
_SPAWNER = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="open3d-spawner")
"""The one thread that starts renderer children: each asks the kernel to kill it when the
thread that started it ends, so that thread must last as long as the server (Gradio's worker
threads come and go)."""
"""Children start from a fresh interpreter: never a fork of a process running torch threads."""

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
    """`engine.render.render_mesh` with the mesh's vertex colours and a headlight."""

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
    """Open3D's offscreen renderer (Filament), run by `app.offscreen` in a child process so that
    its frames never hold the app's GIL. A child that dies or errs is stopped, the frame is
    drawn by `TorchViewer` instead, and the next frame starts a fresh child. A child that takes
    longer than `start_seconds` for its first frame, or `frame_seconds` for a later one, is
    stopped too, and its mesh is drawn by `TorchViewer` from then on: Filament on Mesa's
    software Vulkan wedges on some meshes every time (measured: a trimmed 1,699-vertex face
    mesh; the same mesh padded to 4,096 vertices drew in 2 s)."""

    name = "Open3D offscreen"

    def __init__(
        self, frame_seconds: float = FRAME_SECONDS, start_seconds: float = START_SECONDS
    ) -> None:
        self.frame_seconds = frame_seconds
        self.start_seconds = start_seconds
        self._started = False
        """The child has served a frame: later ones get `frame_seconds`."""
        self._lock = threading.Lock()
        self._child: multiprocessing.process.BaseProcess | None = None
        self._pipe: Connection | None = None
        self._shown: TexturedMesh | None = None
        self._wedged: TexturedMesh | None = None
        self._fallback = TorchViewer()
        atexit.register(self.close)

    def render(
        self, mesh: TexturedMesh, *, azimuth: float, elevation: float, distance: float, size: int
    ) -> np.ndarray:
        """See `MeshViewer.render`."""
        with self._lock:
            if mesh is not self._wedged:
                try:
                    return self._render_in_child(mesh, (azimuth, elevation, distance, size))
                except TimeoutError as error:
                    logger.warning(
                        "Open3D's offscreen renderer wedged on this mesh (%s); engine.render "
                        "draws it from now on, and the next mesh gets a fresh Open3D process.",
                        error,
                    )
                    self._wedged = mesh
                    self._stop_child(grace_seconds=0.0)
                except (OSError, EOFError, RuntimeError) as error:
                    logger.warning(
                        "Open3D's offscreen renderer failed (%s); this view is drawn with "
                        "engine.render, the next one by a fresh Open3D process.",
                        error,
                    )
                    self._stop_child(grace_seconds=0.0)  # it failed once: no clean-exit wait
        return self._fallback.render(
            mesh, azimuth=azimuth, elevation=elevation, distance=distance, size=size
        )

    @property
    def child_pid(self) -> int | None:
        """The renderer process's id while one runs (for tests and diagnostics)."""
        return self._child.pid if self._child is not None else None

    def close(self) -> None:
        """Stop the child process, if any; one still drawing a frame after `_STOP_SECONDS` is
        killed rather than waited for (a wedged one held the lock, and so the server's exit,
        for up to a minute)."""
        if self._lock.acquire(timeout=_STOP_SECONDS):
            try:
                self._stop_child()
            finally:
                self._lock.release()
        elif (child := self._child) is not None:
            child.kill()  # the frame's wait then ends at once, and its render falls back

    def _render_in_child(
        self, mesh: TexturedMesh, view: tuple[float, float, float, int]
    ) -> np.ndarray:
        if self._child is None or not self._child.is_alive():
            self._start_child()
        assert self._pipe is not None
        if self._shown is not mesh:
            self._pipe.send(("mesh", mesh.vertices, mesh.faces, mesh.vertex_colors))
            self._shown = mesh
        self._pipe.send(("frame", *view, FOV_DEGREES))
        limit = self.frame_seconds if self._started else self.start_seconds
        if not self._pipe.poll(limit):
            raise TimeoutError(f"no frame within {limit:g} s")
        kind, payload = self._pipe.recv()
        if kind == "error":
            raise RuntimeError(payload)
        self._started = True
        return payload

    def _start_child(self) -> None:
        """A fresh child; the viewer keeps it only once it has started."""
        self._stop_child()
        pipe, child_end = _SPAWN.Pipe()
        child = _SPAWN.Process(
            target=offscreen.serve_frames, args=(child_end, os.getpid()), name="open3d-offscreen",
            daemon=True,
        )  # fmt: skip
        try:
            _SPAWNER.submit(child.start).result()  # the child dies with the thread that starts it
        except BaseException:
            pipe.close()
            raise
        finally:
            child_end.close()
        self._child, self._pipe = child, pipe

    def _stop_child(self, grace_seconds: float = _STOP_SECONDS) -> None:
        """Ask the child to exit, and kill it if it has not within `grace_seconds`."""
        if self._child is not None:
            with contextlib.suppress(OSError):
                self._pipe.send(None)
            self._child.join(timeout=grace_seconds)
            if self._child.is_alive():
                self._child.kill()
                self._child.join()
            self._pipe.close()
        self._child, self._pipe, self._shown, self._started = None, None, None, False


@dataclass(frozen=True)
class OffscreenProbe:
    """What a trial Open3D offscreen frame in a child process showed."""

    works: bool
    software: bool
    """It ran on a software graphics device (Mesa's llvmpipe, SwiftShader): seconds a frame."""


class PendingProbe:
    """`probe_open3d_offscreen` started in the background, so that its child's second or so
    overlaps other work (the app loads its models meanwhile): `result()` waits for the answer,
    and leaving the `with` block stops a child still running."""

    def __init__(self) -> None:
        self._deadline = time.monotonic() + _PROBE_SECONDS
        self._child = subprocess.Popen(
            [sys.executable, "-c", _PROBE_SCRIPT],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        self._answer: OffscreenProbe | None = None

    def result(self) -> OffscreenProbe:
        """What the trial frame showed; a child still rendering `_PROBE_SECONDS` after its start
        is stopped and counts as not working (one that has finished is read however late the
        answer is asked for)."""
        if self._answer is None:
            ended = self._child.poll() is not None
            try:
                stdout, stderr = self._child.communicate(
                    timeout=None if ended else max(0.0, self._deadline - time.monotonic())
                )
            except subprocess.TimeoutExpired:
                self._stop()
                self._answer = OffscreenProbe(works=False, software=False)
            else:
                log = f"{stdout}\n{stderr}"
                self._answer = OffscreenProbe(
                    self._child.returncode == 0, names_software_device(log)
                )
        return self._answer

    def __enter__(self) -> PendingProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._child.poll() is None:
            self._stop()

    def _stop(self) -> None:
        self._child.kill()
        self._child.communicate()


def probe_open3d_offscreen() -> OffscreenProbe:
    """Render one small Open3D frame in a child process (a missing graphics driver can crash
    the process instead of raising) and read from its log whether the device is software."""
    with PendingProbe() as probe:
        return probe.result()


def names_software_device(log: str) -> bool:
    """Whether Open3D's start-up `log` names a software graphics device."""
    log = log.lower()
    return any(marker in log for marker in SOFTWARE_DEVICE_MARKERS)


def create_viewer(kind: ViewerKind = "auto", probe: OffscreenProbe | None = None) -> MeshViewer:
    """The viewer asked for. "auto" takes Open3D on a graphics device and `engine.render`
    elsewhere, saying why in the log: on a software device Open3D needs seconds a frame
    (`python -m bench.viewer` on a 2-core CPU: median 1.3 s, against 25 ms for
    `engine.render`). `probe` is `probe_open3d_offscreen()`'s answer, run when not given."""
    if kind == "torch":
        return TorchViewer()
    if kind == "open3d":
        return Open3DViewer()
    probe = probe or probe_open3d_offscreen()
    if probe.works and not probe.software:
        return Open3DViewer()
    if probe.works:
        logger.warning(
            "Open3D renders on a software graphics device here (seconds a frame); the 3D "
            "viewer's orbit view uses engine.render.render_mesh instead (--viewer open3d "
            "uses Open3D all the same)."
        )
    else:
        logger.warning(
            "Open3D offscreen rendering is unavailable here; the 3D viewer renders meshes with "
            "engine.render.render_mesh instead."
        )
    return TorchViewer()


def open_desktop_window(mesh_path: str) -> multiprocessing.Process:
    """Show a mesh file in Open3D's native window, in its own process (GUI toolkits want the
    main thread of their process)."""
    process = _SPAWN.Process(target=_show_mesh_file, args=(mesh_path,), daemon=True)
    process.start()
    return process


def _show_mesh_file(mesh_path: str) -> None:
    """Child-process body of `open_desktop_window`."""
    mesh = o3d.io.read_triangle_mesh(mesh_path, enable_post_processing=True)
    mesh.compute_vertex_normals()
    o3d.visualization.draw_geometries([mesh], window_name=f"GANlift: {mesh_path}")
