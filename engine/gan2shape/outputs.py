"""Everything a GAN2Shape run leaves in its output folder, each file written atomically.

- maps: `depth.npy` (float32 canonical depth), `depth.png` (16-bit, linear over the preset's
  depth range), `normal.png` (outward, x right, y up, z towards the viewer: the mesh's
  frame), `albedo.png`, `shading.png` (diffuse max(0, n·l) with summary.json's towards_light),
  `canonical.png`, `input.png` (the input in the networks' frame), `inversion.png` (the GAN's
  reconstruction of it);
- `summary.json`: view, light, inversion and redraw PSNR, depth range, preset and the files
  written;
- `views/render_<view>.png` and `views/projected_<view>.png` for each requested view;
- `rotation.gif|mp4`, `relight.gif|mp4`;
- the mesh trimmed to the object: `mesh.obj` (+ `mesh.mtl`, `mesh_albedo.png`), `mesh.ply`,
  `mesh.glb`, textured with the albedo (solved at the photo's resolution when given).
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from engine.animation import (
    check_fps,
    circling_lights,
    relight_frames,
    rotation_frames,
    save_animation,
    swing_angles,
)
from engine.atomic import output_folder, write_bytes, write_json
from engine.errors import GANliftError
from engine.gan2shape.meshing import recovery_mesh
from engine.gan2shape.recover import Recovery
from engine.gan2shape.state import check_same_generator
from engine.gan2shape.views import (
    check_view_angles,
    generator_beside,
    project_view,
    render_view,
)
from engine.images import checked_image, save_image
from engine.mesh import save_mesh
from engine.progress import ProgressFn
from engine.render import diffuse_term, light_direction, outward_normals
from engine.stylegan2 import Generator
from engine.versions import software_versions

DEPTH_PNG_MAX = 65535


@dataclass(frozen=True)
class ViewSpec:
    """A view to render: degrees about the canonical frame, and optionally a new light
    direction (dx, dy) with the recovered ambient and diffuse strengths."""

    azimuth: float
    elevation: float
    light_direction: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        check_view_angles(self.azimuth, self.elevation, f"View '{self.text}'")

    @classmethod
    def parse(cls, text: str) -> ViewSpec:
        """Parse 'AZIMUTH,ELEVATION' or 'AZIMUTH,ELEVATION,DX,DY'."""
        try:
            values = [float(part) for part in text.split(",")]
        except ValueError:
            values = []
        if len(values) not in (2, 4) or not all(math.isfinite(value) for value in values):
            raise GANliftError(
                f"View '{text}' is not AZIMUTH,ELEVATION or AZIMUTH,ELEVATION,DX,DY (degrees "
                "and a light direction), e.g. 30,0 or 0,10,0.5,-0.2."
            )
        light = (values[2], values[3]) if len(values) == 4 else None
        return cls(values[0], values[1], light)

    @property
    def text(self) -> str:
        """The spec as `parse` reads it, e.g. '30,0' or '0,0,0.5,-0.2'."""
        values = (self.azimuth, self.elevation, *(self.light_direction or ()))
        return ",".join(f"{value:g}" for value in values)

    @property
    def name(self) -> str:
        """A file-name-safe label, e.g. 'az+30_el+0' or 'az+0_el+0_light+0.5-0.2'."""
        label = f"az{self.azimuth:+g}_el{self.elevation:+g}"
        if self.light_direction is not None:
            label += "_light{:+g}{:+g}".format(*self.light_direction)
        return label


DEFAULT_VIEWS = (
    ViewSpec(-30.0, 0.0),
    ViewSpec(30.0, 0.0),
    ViewSpec(0.0, 15.0),
    ViewSpec(0.0, 0.0, (0.8, -0.3)),
)


MIN_FRAMES = 3
"""Fewest frames per animation: a swing needs its centre and both sides (with 2 frames the
rotation would show the centre twice)."""
MAX_FRAMES = 1440
"""Most frames per animation: a minute at 24 frames per second."""


@dataclass(frozen=True)
class OutputSettings:
    """What `write_outputs` renders."""

    views: tuple[ViewSpec, ...] = DEFAULT_VIEWS
    frames: int = 24
    """Frames of each animation."""
    swing_degrees: float = 30.0
    """Largest azimuth of the rotation animation."""
    fps: float = 12.0
    mesh_size: float = 1.0
    """Longest side of the mesh's bounding box."""

    def __post_init__(self) -> None:
        frames = self.frames
        if type(frames) is not int or not MIN_FRAMES <= frames <= MAX_FRAMES:
            raise GANliftError(
                f"Animations take a whole number of frames from {MIN_FRAMES} (the rotation "
                f"swings to both sides) to {MAX_FRAMES} (a minute at 24 frames per second; "
                f"--frames on the command line), got {frames!r}."
            )
        check_fps(self.fps, "OutputSettings.fps")
        for name, least in (("swing_degrees", -math.inf), ("mesh_size", 0.0)):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not least < value < math.inf:
                above = "a finite number" if least < 0 else "a number above 0"
                raise GANliftError(f"OutputSettings.{name} must be {above}, got {value!r}.")
        if abs(self.swing_degrees) > 90:
            raise GANliftError(
                f"OutputSettings.swing_degrees must be from -90 to 90 (a recovered surface has "
                f"no back to turn to), got {self.swing_degrees!r}."
            )

    def recorded(self) -> dict[str, Any]:
        """These settings and the outputs' format as summary.json records them (a batch rerun
        compares them, and writes the outputs again where they differ)."""
        return {
            "format": OUTPUTS_FORMAT,
            "views": [view.text for view in self.views],
            "frames": self.frames,
        }


OUTPUTS_FORMAT = 2
"""The conventions of the written outputs; raised when one changes (format 1, unrecorded, had
normal.png's x axis mirrored and the light as one direction)."""


OUTPUT_NAMES = frozenset(
    {
        "summary.json", "depth.npy", "depth.png", "normal.png", "albedo.png", "shading.png",
        "canonical.png", "input.png", "inversion.png", "views", "rotation.gif", "rotation.mp4",
        "relight.gif", "relight.mp4", "mesh.obj", "mesh.mtl", "mesh_albedo.png", "mesh.ply",
        "mesh.glb",
    }
)  # fmt: skip
"""The names `write_outputs` writes in its folder (files, and the views folder)."""


def write_outputs(
    recovery: Recovery,
    G: Generator,
    out_dir: str | os.PathLike,
    *,
    settings: OutputSettings = OutputSettings(),
    photo: torch.Tensor | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Path]:
    """Write every output of `recovery` into `out_dir` (see the module docstring); `G` projects
    the views (as one copy on the recovery's device where it lives elsewhere); `photo`
    (`PreparedInput.photo`) gives the mesh its texture at the photo's resolution. Returns the
    files by label. summary.json, which lists
    the files, goes first and comes back last, so a write cut short (Ctrl-C) leaves none that
    names files of an earlier call's settings. A generator the run was not made with, or a
    photo that is no image, is refused before any file is touched."""
    check_same_generator(recovery.state, G)
    if photo is not None:
        checked_image(photo, "The mesh's photo")
    G = generator_beside(recovery, G)  # one copy for every view, where G lives elsewhere
    out_dir = output_folder(out_dir)
    (out_dir / "summary.json").unlink(missing_ok=True)
    writers = [
        lambda: _write_maps(recovery, out_dir),
        lambda: _write_views(recovery, G, out_dir, settings.views),
        lambda: _write_animations(recovery, out_dir, settings),
        lambda: _write_meshes(recovery, out_dir, settings.mesh_size, photo),
    ]
    files: dict[str, Path] = {}
    for done, write in enumerate(writers):
        if progress is not None:
            progress(done, len(writers) + 1, "writing outputs")
        files |= write()
    summary = _summary(recovery, files, out_dir) | {"outputs": settings.recorded()}
    files["summary"] = write_json(out_dir / "summary.json", summary)
    if progress is not None:
        progress(len(writers) + 1, len(writers) + 1, "outputs written")
    return files


def write_maps(recovery: Recovery, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Only the maps of `recovery` (depth as npy and 16-bit PNG, normal, albedo, shading,
    canonical, input, inversion) and a summary.json that records the depth PNG's range, into
    `out_dir`; returns the files by label (what the app's maps export downloads)."""
    out_dir = Path(out_dir)
    files = _write_maps(recovery, out_dir)
    files["summary"] = write_json(out_dir / "summary.json", _summary(recovery, files, out_dir))
    return files


def _write_maps(recovery: Recovery, out_dir: Path) -> dict[str, Path]:
    """Depth (npy, 16-bit PNG), normal, albedo, diffuse shading, canonical, input, inversion."""
    camera = recovery.state.preset.camera
    depth = recovery.depth[0].detach().cpu().numpy().astype(np.float32)  # [S, S]
    diffuse = diffuse_term(recovery.normal, recovery.light)  # [1, 1, S, S] in [0, 1]
    images = {
        "normal": outward_normals(recovery.normal),
        "albedo": recovery.albedo,
        "shading": (diffuse * 2 - 1).expand(-1, 3, -1, -1),
        "canonical": recovery.canonical_image,
        "input": recovery.image,
        "inversion": recovery.state.target.gan_image,
    }
    files = {
        "depth_npy": write_npy(out_dir / "depth.npy", depth),
        "depth_png": write_depth_png(
            out_dir / "depth.png", depth, (camera.min_depth, camera.max_depth)
        ),
    }
    for label, image in images.items():
        files[label] = save_image(image.clamp(-1, 1), out_dir / f"{label}.png")
    return files


def _write_views(
    recovery: Recovery, G: Generator, out_dir: Path, views: tuple[ViewSpec, ...]
) -> dict[str, Path]:
    """Each view rendered, and the rendering projected onto the GAN's manifold; renders of
    views written before for other settings are removed, so the folder matches the summary."""
    files = {}
    for view in views:
        light = None
        if view.light_direction is not None:
            direction = recovery.light.new_tensor(view.light_direction)  # [2]
            light = torch.cat([recovery.light[0, :2], direction])  # [4]
        angles = {"azimuth": view.azimuth, "elevation": view.elevation, "light": light}
        rendered = render_view(recovery, **angles)
        projected = project_view(recovery, G, **angles)
        files[f"render_{view.name}"] = save_image(
            rendered, out_dir / "views" / f"render_{view.name}.png"
        )
        files[f"projected_{view.name}"] = save_image(
            projected, out_dir / "views" / f"projected_{view.name}.png"
        )
    for stale in (out_dir / "views").glob("*_az*.png"):  # views an earlier call asked for
        if stale not in files.values():
            stale.unlink()
    return files


def _write_animations(
    recovery: Recovery, out_dir: Path, settings: OutputSettings
) -> dict[str, Path]:
    """A swing about the vertical axis and a light circling the view axis, as GIF and MP4."""
    rotation = rotation_frames(
        lambda azimuth, elevation: render_view(
            recovery, azimuth=math.degrees(azimuth), elevation=math.degrees(elevation)
        ),
        azimuths=swing_angles(math.radians(settings.swing_degrees), settings.frames),
    )  # [N, 3, S, S]
    ambient, diffuse = recovery.light[0, :2].tolist()
    relight = relight_frames(
        lambda light: render_view(recovery, azimuth=0.0, elevation=0.0, light=light),
        circling_lights(settings.frames, ambient=ambient, diffuse=diffuse),
    )  # [N, 3, S, S]
    files = {}
    for name, frames in (("rotation", rotation), ("relight", relight)):
        for suffix in (".gif", ".mp4"):
            path = out_dir / f"{name}{suffix}"
            files[f"{name}_{suffix[1:]}"] = save_animation(frames, path, fps=settings.fps)
    return files


def _write_meshes(
    recovery: Recovery, out_dir: Path, size: float, photo: torch.Tensor | None
) -> dict[str, Path]:
    """The mesh of `recovery_mesh` as OBJ, PLY and GLB."""
    mesh = recovery_mesh(recovery, photo=photo, size=size)
    return {
        f"mesh_{suffix}": save_mesh(mesh, out_dir / f"mesh.{suffix}")
        for suffix in ("obj", "ply", "glb")
    }


def _summary(recovery: Recovery, files: dict[str, Path], out_dir: Path) -> dict[str, Any]:
    """The JSON summary: view (degrees and translation), light, PSNR, depth range, files."""
    pitch, yaw, roll, tx, ty, tz = recovery.view[0].tolist()
    ambient, diffuse, dx, dy = recovery.light[0].tolist()
    camera = recovery.state.preset.camera
    return {
        "preset": recovery.state.preset.name,
        "finished": recovery.finished,
        "view": {
            "pitch_degrees": math.degrees(pitch),
            "yaw_degrees": math.degrees(yaw),
            "roll_degrees": math.degrees(roll),
            "translation": [tx, ty, tz],
        },
        "light": {
            "ambient": ambient,
            "diffuse": diffuse,
            "dx": dx,
            "dy": dy,
            "towards_light": outward_normals(light_direction(recovery.light))[0].tolist(),
        },
        "inversion_psnr_db": _finite(recovery.psnr),
        "redraw_psnr_db": _finite(recovery.redraw_psnr),
        "depth_png_range": [camera.min_depth, camera.max_depth],
        "software": software_versions(),
        "files": {label: str(path.relative_to(out_dir)) for label, path in sorted(files.items())},
    }


def write_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write `array` as a .npy file, atomically."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return write_bytes(path, buffer.getvalue())


def write_depth_png(
    path: str | os.PathLike, depth: np.ndarray, depth_range: tuple[float, float]
) -> Path:
    """Write `depth [H, W]` as a 16-bit grey PNG, 0 … 65535 spanning `depth_range` linearly
    (values outside are clipped), atomically."""
    low, high = depth_range
    scaled = np.clip((depth - low) / (high - low), 0.0, 1.0) * DEPTH_PNG_MAX
    encoded, data = cv2.imencode(".png", np.round(scaled).astype(np.uint16))
    if not encoded:
        raise GANliftError(f"OpenCV could not encode the depth map for {path}.")
    return write_bytes(path, data.tobytes())


def read_depth_png(path: str | os.PathLike, depth_range: tuple[float, float]) -> np.ndarray:
    """Depth `[H, W]` float32 from a PNG written by `write_depth_png` with the same range."""
    data = np.fromfile(str(path), dtype=np.uint8)
    values = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if values is None or values.dtype != np.uint16 or values.ndim != 2:
        raise GANliftError(f"{path} is not a 16-bit grey depth PNG; use the depth.png of a run.")
    low, high = depth_range
    return (low + values.astype(np.float32) / DEPTH_PNG_MAX * (high - low)).astype(np.float32)


def _finite(value: float) -> float | None:
    """`value`, or None (JSON null) for an infinite PSNR (identical images) or an undefined one
    (NaN: nothing to compare)."""
    return value if math.isfinite(value) else None
