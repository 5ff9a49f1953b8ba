"""Handlers of the 3D viewer tab: the recovered mesh as a GLB for `gr.Model3D`, and a picture of
it from orbit sliders through the app's `MeshViewer` (Open3D offscreen, or engine.render)."""

from __future__ import annotations

import numpy as np

from app.inputs import numbers
from app.reconstruct import export_mesh
from app.session import Session
from app.viewer import open_desktop_window

VIEW_SIZE = 256
"""Side of the orbit picture, in pixels."""


def show_mesh(
    session: Session, azimuth: float, elevation: float, distance: float
) -> tuple[str, np.ndarray]:
    """Export the recovery as GLB (for the interactive viewer) and render the orbit picture;
    with --desktop the GLB also opens in Open3D's own window."""
    glb_path = export_mesh(session, ".glb")[0]
    if session.context.settings.desktop:
        open_desktop_window(glb_path)
    return glb_path, orbit(session, azimuth, elevation, distance)


def orbit(session: Session, azimuth: float, elevation: float, distance: float) -> np.ndarray:
    """The recovered mesh seen from (`azimuth`, `elevation`) degrees at `distance`."""
    with session.action("orbit view", frequent=True):
        azimuth, elevation, distance = numbers(
            azimuth=azimuth, elevation=elevation, distance=distance
        )
        return session.context.viewer.render(
            session.mesh(),
            azimuth=azimuth,
            elevation=elevation,
            distance=distance,
            size=VIEW_SIZE,
        )
