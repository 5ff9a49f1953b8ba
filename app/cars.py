"""Handlers of the Cars tab (StyleGAN-R): three samples A, B, C drawn by seed or read off an
uploaded car photo, a camera for each, shape / texture / background swapped between them, and
a car lifted to a mesh.

Every handler returns the three slots' pictures (None for an empty slot), so one set of
outputs serves them all.
"""

from __future__ import annotations

import os
from typing import Any

import gradio as gr
import numpy as np

from app.display import picture
from app.inputs import numbers, seed_number
from app.session import Session
from app.uploads import read_upload
from engine.errors import GANliftError
from engine.mesh import save_mesh
from engine.styleganr import (
    Sample,
    camera_range,
    car_to_mesh,
    encode_photo,
    sample,
    set_camera,
    swap,
)

SLOTS = ("A", "B", "C")

AZIMUTH_RANGE, ELEVATION_RANGE, SCALE_RANGE = (-180.0, 180.0), (-90.0, 90.0), (0.01, 10.0)
"""The camera sliders' widest ranges, which they show while no car is chosen (locked) and
check API values against: azimuth in degrees (0 = front), elevation in degrees, scale. A
chosen car's sliders span its model's `camera_range` (`camera_sliders`), and `set_camera`
refuses the rest in a sentence naming that range (a typed 50° was refused as past 40)."""
DEFAULT_CAMERA = (0.0, 10.0, 1.0)
"""The sliders' setting while the chosen slot is empty."""

SlotPictures = tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]


def draw_car(session: Session, seed: float, slot: str) -> SlotPictures:
    """Put the StyleGAN-R sample of `seed` in `slot`."""
    with session.action("draw car"):
        seed = seed_number(seed, f"Seed {slot}")
        session.cars[_checked(slot)] = sample(session.cars_model(), 1, seed=seed)
        return slot_pictures(session)


def upload_car(session: Session, file: str | os.PathLike | None, slot: str) -> SlotPictures:
    """Put the StyleGAN-R sample read off the uploaded car photo `file` in `slot` (camera
    estimated by the inverse graphics network); an unreadable file raises a `gr.Error`. An
    emptied box changes nothing (no action)."""
    if file is None:
        return slot_pictures(session)
    with session.action("upload car"):
        _checked(slot)
        image = read_upload(file, session.context.settings.limits)  # [1, 3, H, W]
        session.cars[slot] = encode_photo(session.cars_model(), image)
        return slot_pictures(session)


def car_camera(
    session: Session, slot: str, azimuth: float, elevation: float, scale: float
) -> SlotPictures:
    """Show `slot`'s car from (`azimuth`°, `elevation`°) at `scale`, keeping its content."""
    with session.action("car camera", frequent=True):
        azimuth, elevation, scale = numbers(azimuth=azimuth, elevation=elevation, scale=scale)
        target = _car(session, slot)
        session.cars[slot] = set_camera(
            session.cars_model(), target, azimuth=azimuth, elevation=elevation, scale=scale
        )
        return slot_pictures(session)


def camera_sliders(session: Session, slot: str) -> list[dict[str, Any]]:
    """The camera sliders' updates for `slot`: its camera (azimuth wrapped into ±180°, angles
    to a tenth of a degree and the scale to a hundredth), the elevation and scale sliders
    spanning the model's `camera_range` and the car's own camera (one read off a photo may sit
    just outside: shown clamped, the first touch moved the car), movable only while the slot
    holds a car (a drag for an empty one could only be refused, once per step) and the model
    knows more than one value; `DEFAULT_CAMERA`, locked, for an empty slot."""
    with session.action("camera of sample", timed=False):
        if _checked(slot) not in session.cars:
            return [gr.update(value=value, interactive=False) for value in DEFAULT_CAMERA]
        azimuth, elevation, scale = session.cars[slot].codes.camera[0].tolist()
        taught = camera_range(session.cars_model())
        azimuth = round((azimuth - AZIMUTH_RANGE[0]) % 360.0 + AZIMUTH_RANGE[0], 1)
        return [
            gr.update(value=azimuth, interactive=True),
            *(
                gr.update(
                    value=round(value, digits),
                    minimum=min(low, round(value, digits)),
                    maximum=max(high, round(value, digits)),
                    interactive=low < high,  # hand labels give every view one elevation, scale
                )
                for value, (low, high), digits in (
                    (elevation, taught.elevation, 1),
                    (scale, taught.scale, 2),
                )
            ),
        ]


def action_buttons(
    session: Session, target: str, source: str, mesh_slot: str
) -> list[dict[str, Any]]:
    """Swap's and Car → mesh's updates: each clickable only while the samples it takes hold
    cars, and Swap only for two different samples (any other click could only be refused)."""
    with session.action("car actions", timed=False):
        held = session.cars.keys()
        return [
            gr.update(interactive=target in held and source in held and target != source),
            gr.update(interactive=mesh_slot in held),
        ]


def swap_cars(session: Session, target: str, source: str, part: str) -> SlotPictures:
    """Give `target`'s car the `part` (shape, texture or background) of `source`'s."""
    with session.action("swap"):
        if target == source:
            raise GANliftError(f"Swap needs two different samples; both are {target}.")
        session.cars[target] = swap(
            session.cars_model(), _car(session, target), _car(session, source), part=part
        )
        return slot_pictures(session)


def car_mesh(session: Session, slot: str) -> str:
    """`slot`'s car as a textured GLB mesh (inverse graphics network); returns its path."""
    with session.action("car to mesh"):
        mesh = car_to_mesh(session.cars_model(), _car(session, slot).image)
        path = save_mesh(mesh, session.work_dir / "cars" / f"car-{slot}.glb")
        session.car_mesh_slot = slot
        return str(path)


def mesh_after_change(session: Session, slot: str) -> Any:
    """What the car-mesh viewer shows once `slot`'s car has changed: nothing if it showed that
    car's mesh (now of another picture), else what it showed."""
    with session.action("car mesh of a changed sample", timed=False):
        if session.car_mesh_slot != slot:
            return gr.update()
        session.car_mesh_slot = None
        return None


def mesh_after_upload(session: Session, file: str | os.PathLike | None, slot: str) -> Any:
    """`mesh_after_change` for `slot`'s upload box: clearing the box (`file` None) changes
    no car, so the mesh stays."""
    return gr.update() if file is None else mesh_after_change(session, slot)


def slot_pictures(session: Session) -> SlotPictures:
    """The pictures of slots A, B, C (None where empty)."""
    a, b, c = (
        picture(session.cars[slot].image) if slot in session.cars else None for slot in SLOTS
    )
    return a, b, c


def _checked(slot: str) -> str:
    """`slot` if it names one of `SLOTS`."""
    if slot not in SLOTS:
        raise GANliftError(f"Unknown sample slot '{slot}'; use one of {', '.join(SLOTS)}.")
    return slot


def _car(session: Session, slot: str) -> Sample:
    """The sample in `slot`, or a GANliftError asking to draw one."""
    if _checked(slot) not in session.cars:
        raise session.missing(f"Sample {slot} is empty; draw a car for it first.")
    return session.cars[slot]
