"""Batches compared with one target (an inversion's steps, GAN2Shape's flipped copies) take the
target's features once, and get the distances that comparing each batch alone gives; a
distance that is not one of ours as built is called as it is."""

from __future__ import annotations

import pytest
import torch

from engine.perceptual import LPIPS, DiscriminatorFeatureLoss, distance_to
from tests.tiny import random_image_pair, tiny_discriminator


def distance_of(kind: str) -> DiscriminatorFeatureLoss | LPIPS:
    """A perceptual distance with seeded random weights (the structure is what is tested)."""
    if kind == "discriminator":
        return DiscriminatorFeatureLoss(tiny_discriminator(32))
    torch.manual_seed(0)
    return LPIPS().eval().requires_grad_(False)


def count_encodings(distance: DiscriminatorFeatureLoss | LPIPS) -> list[torch.Tensor]:
    """The batches `distance` encodes from now on, in order (its `features` is wrapped)."""
    encoded, features = [], distance.features

    def counted(images: torch.Tensor) -> list[torch.Tensor]:
        encoded.append(images)
        return features(images)

    distance.features = counted
    return encoded


@pytest.mark.parametrize("kind", ["discriminator", "lpips"])
def test_the_target_is_encoded_once_and_each_distance_is_a_single_calls(kind: str) -> None:
    distance = distance_of(kind)
    first, second = random_image_pair(seed=3)
    target = random_image_pair(seed=4)[0]
    with torch.no_grad():
        alone = [distance(batch, target) for batch in (first, second)]
        encoded = count_encodings(distance)
        measure = distance_to(distance, target)
        shared = [measure(batch) for batch in (first, second)]
    assert sum(images is target for images in encoded) == 1
    assert len(encoded) == 3  # the target, then each batch
    for got, expected in zip(shared, alone, strict=True):
        assert torch.equal(got, expected) and float(got.abs().min()) > 0


@pytest.mark.parametrize("kind", ["discriminator", "lpips"])
def test_the_target_carries_no_gradient(kind: str) -> None:
    first, second = random_image_pair(seed=4)
    target, batch = first.requires_grad_(True), second.requires_grad_(True)
    distance_to(distance_of(kind), target)(batch).sum().backward()
    assert target.grad is None and batch.grad is not None and batch.grad.abs().sum() > 0


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


class Squared(DiscriminatorFeatureLoss):
    """A user's distance built on ours, with its own `forward`."""

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return super().forward(first, second).square()


def test_a_replaced_forward_is_called_as_it_is() -> None:
    """Taking the features apart would skip a subclass's or an instance's own `forward`."""
    first, target = random_image_pair(seed=7)
    squared = Squared(tiny_discriminator(32))
    patched = DiscriminatorFeatureLoss(tiny_discriminator(32))
    plain_forward = patched.forward
    patched.forward = lambda a, b: plain_forward(a, b).square()
    with torch.no_grad():
        for distance in (squared, patched):
            assert torch.equal(distance_to(distance, target)(first), distance(first, target))


@pytest.mark.parametrize(
    "register",
    [
        lambda module, hook: module.register_forward_hook(hook),
        lambda module, hook: module.register_forward_pre_hook(hook),
        lambda module, hook: torch.nn.modules.module.register_module_forward_hook(hook),
    ],
    ids=["forward hook", "forward pre-hook", "global forward hook"],
)
def test_a_distance_with_hooks_is_called_as_it_is(register) -> None:
    """Taking the features apart would skip the hooks a call runs."""
    first, target = random_image_pair(seed=7)
    hooked = DiscriminatorFeatureLoss(tiny_discriminator(32))
    calls = []
    handle = register(hooked, lambda module, *args: calls.append(module))
    try:
        with torch.no_grad():
            distance_to(hooked, target)(first)
    finally:
        handle.remove()
    assert hooked in calls


def test_a_full_backward_hook_still_runs() -> None:
    first, target = random_image_pair(seed=8)
    hooked = DiscriminatorFeatureLoss(tiny_discriminator(32))
    calls = []
    hooked.register_full_backward_hook(lambda module, grad_in, grad_out: calls.append(module))
    first.requires_grad_(True)
    distance_to(hooked, target)(first).sum().backward()
    assert calls == [hooked]


@pytest.mark.parametrize("kind", ["discriminator", "lpips"])
def test_distances_come_in_the_images_dtype(kind: str) -> None:
    """Under autocast the features are bfloat16 and the images float32; the per-image sum over
    layers is float32, as the images. A bfloat16 model's distance stays bfloat16."""
    distance = distance_of(kind)
    first, second = random_image_pair(seed=6)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert distance.features(first)[-1].dtype == torch.bfloat16
            assert distance(first, second).dtype == torch.float32
        halved = distance.to(torch.bfloat16)
        assert halved(first.bfloat16(), second.bfloat16()).dtype == torch.bfloat16
