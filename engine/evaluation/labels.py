"""The scene labels the coverage measurement regresses: viewpoint and light direction.

Each category names the labels it reports and the ones its coverage goal is judged on.
Faces: yaw and pitch (degrees) and the light direction's x / y. Cars turn all the way
round, so their azimuth is given as its cosine and sine (no wrap-around at ±180°), with
the camera elevation (degrees) and the light direction's x / y.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.errors import GANliftError
from engine.synth import CATEGORIES, SynthBatch

LabelFn = Callable[[SynthBatch], torch.Tensor]


@dataclass(frozen=True)
class LabelSet:
    """The labels of one category and the subset whose spread the coverage goal checks."""

    names: tuple[str, ...]
    gated: tuple[str, ...]
    """Labels whose GAN spread must reach the goal fraction of the data's."""
    view: tuple[str, ...]
    """Labels that describe the viewpoint (what the view-layer analysis compares)."""
    extract: LabelFn
    """``labels = extract(batch)``: ``[N, len(names)]`` float32, columns in `names` order."""


def car_orbit(view: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Azimuth and elevation ``[N]`` (radians) of car views ``[N, 6]``.

    Inverts `engine.synth.scene.car_view`: with R = Rz(roll)·Ry(yaw)·Rx(pitch) equal to
    Rx(elevation)·Ry(azimuth), sin(elevation) = R[2, 1] = cos(yaw)·sin(pitch) and
    tan(azimuth) = -R[2, 0] / (cos(elevation)·R[0, 0]).
    """
    pitch, yaw, roll = view[:, 0], view[:, 1], view[:, 2]
    elevation = torch.asin((yaw.cos() * pitch.sin()).clamp(-1, 1))
    azimuth = torch.atan2(yaw.sin(), elevation.cos() * yaw.cos() * roll.cos())
    return azimuth, elevation


def _face_labels(batch: SynthBatch) -> torch.Tensor:
    degrees = batch.view[:, :2] * (180 / math.pi)  # [N, 2] pitch, yaw
    return torch.stack(
        [degrees[:, 1], degrees[:, 0], batch.light[:, 2], batch.light[:, 3]], 1
    ).float()  # [N, 4]


def _car_labels(batch: SynthBatch) -> torch.Tensor:
    azimuth, elevation = car_orbit(batch.view)
    return torch.stack(
        [
            azimuth.cos(),
            azimuth.sin(),
            elevation * (180 / math.pi),
            batch.light[:, 2],
            batch.light[:, 3],
        ],
        1,
    ).float()  # [N, 5]


LABEL_SETS: dict[str, LabelSet] = {
    "face": LabelSet(
        names=("yaw", "pitch", "light_x", "light_y"),
        gated=("yaw", "light_x"),
        view=("yaw", "pitch"),
        extract=_face_labels,
    ),
    "car": LabelSet(
        names=("azimuth_cos", "azimuth_sin", "elevation", "light_x", "light_y"),
        gated=("azimuth_cos", "azimuth_sin", "light_x"),
        view=("azimuth_cos", "azimuth_sin", "elevation"),
        extract=_car_labels,
    ),
}


def label_set(category: str) -> LabelSet:
    """The `LabelSet` of `category`; a GANliftError for an unknown one."""
    if category not in LABEL_SETS:
        raise GANliftError(f"Unknown category '{category}'; use one of {', '.join(CATEGORIES)}.")
    return LABEL_SETS[category]
