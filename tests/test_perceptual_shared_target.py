"""Batches compared with one target (an inversion's steps, GAN2Shape's flipped copies) take the
target's features once, and get the distances that comparing each batch alone gives."""

from __future__ import annotations

import pytest
import torch

from engine.perceptual import LPIPS, DiscriminatorFeatureLoss, FeatureDistance, distance_to
from tests.tiny import random_image_pair, tiny_discriminator


def distance_of(kind: str) -> DiscriminatorFeatureLoss | LPIPS:
    """A perceptual distance with seeded random weights (the structure is what is tested)."""
    if kind == "discriminator":
        return DiscriminatorFeatureLoss(tiny_discriminator(32))
    torch.manual_seed(0)
    return LPIPS().eval().requires_grad_(False)


class EncodingsCounted:
    """Wraps a `FeatureDistance`, recording every batch it encodes."""

    def __init__(self, distance: DiscriminatorFeatureLoss | LPIPS) -> None:
        self.distance = distance
        self.encoded: list[torch.Tensor] = []

    def __call__(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return self.distance(first, second)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        self.encoded.append(images)
        return self.distance.features(images)

    def compare(self, first: list[torch.Tensor], second: list[torch.Tensor]) -> torch.Tensor:
        return self.distance.compare(first, second)


@pytest.mark.parametrize("kind", ["discriminator", "lpips"])
def test_the_target_is_encoded_once_and_each_distance_is_a_single_calls(kind: str) -> None:
    distance = distance_of(kind)
    assert isinstance(distance, FeatureDistance)
    first, second = random_image_pair(seed=3)
    target = random_image_pair(seed=4)[0]
    counted = EncodingsCounted(distance)
    with torch.no_grad():
        measure = distance_to(counted, target)
        shared = [measure(batch) for batch in (first, second)]
        alone = [distance(batch, target) for batch in (first, second)]
    assert sum(encoded is target for encoded in counted.encoded) == 1
    assert len(counted.encoded) == 3  # the target, then each batch
    for got, expected in zip(shared, alone, strict=True):
        assert torch.equal(got, expected) and float(got.abs().min()) > 0


def test_a_plain_distance_is_called_for_each_batch() -> None:
    calls = []

    def mean_l1(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        calls.append(first)
        return (first - second).abs().flatten(1).mean(1)

    first, second = random_image_pair(seed=5)
    measure = distance_to(mean_l1, second)
    shared = [measure(batch) for batch in (first, second, first)]
    assert [float(d.sum()) for d in shared] == [float(mean_l1(b, second).sum()) for b in calls[:3]]
    assert len(calls) == 6 and calls[2] is first


@pytest.mark.parametrize("kind", ["discriminator", "lpips"])
def test_bfloat16_features_are_summed_in_float32(kind: str) -> None:
    """Under autocast the features are bfloat16; the per-image sum over layers is not."""
    distance = distance_of(kind)
    first, second = random_image_pair(seed=6)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert distance.features(first)[-1].dtype == torch.bfloat16
        assert distance(first, second).dtype == torch.float32
