"""The synthetic world's viewpoints span their documented ranges: face yaw to both sides of
frontal, car azimuth all the way round."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.synth.scene import FACE_VIEW_RANGES, sample_car_orbits, sample_face_views

DRAWS = 2000


def generators() -> list[np.random.Generator]:
    return [np.random.default_rng(seed) for seed in range(DRAWS)]


def test_face_yaw_turns_both_ways() -> None:
    """Yaw is drawn from both sides of frontal, not from 0 to +40° only."""
    yaw = torch.rad2deg(sample_face_views(generators())[:, 1])  # [N]
    limit = FACE_VIEW_RANGES["yaw"]
    assert yaw.abs().max() <= limit
    assert yaw.min() < -0.95 * limit and yaw.max() > 0.95 * limit
    assert abs(float(yaw.mean())) < 0.05 * limit


def test_car_azimuth_goes_all_the_way_round() -> None:
    """Azimuth goes all the way round, not from 0 to 180° only."""
    azimuth, _, _ = sample_car_orbits(generators())  # [N] radians
    assert azimuth.min() >= 0 and azimuth.max() < 2 * math.pi
    assert azimuth.min() < 0.05 * math.pi and azimuth.max() > 1.95 * math.pi
    assert float(azimuth.mean()) == pytest.approx(math.pi, rel=0.05)
