"""Discriminator-feature distance and the perceptual_loss factory's offline fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.errors import GANliftError
from engine.perceptual import DiscriminatorFeatureLoss, perceptual_loss
from engine.stylegan2 import Discriminator
from tests.tiny import random_image_pair, tiny_discriminator


@pytest.fixture(scope="module")
def discriminator() -> Discriminator:
    return tiny_discriminator(32, channels={4: 16, 8: 16, 16: 16, 32: 8})


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, torch.Tensor]:
    return random_image_pair(seed=1)


@pytest.fixture
def offline_empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def test_distance_is_the_summed_mean_l1_of_the_first_four_blocks(
    discriminator: Discriminator, images: tuple[torch.Tensor, torch.Tensor]
) -> None:
    loss = DiscriminatorFeatureLoss(discriminator)
    first, second = images
    with torch.no_grad():
        expected = sum(
            (a - b).abs().mean(dim=(1, 2, 3))
            for a, b in zip(
                discriminator.features(first, 4), discriminator.features(second, 4), strict=True
            )
        )
        distance = loss(first, second)
    assert distance.shape == (2,)
    assert torch.allclose(distance, expected, rtol=1e-5)


def test_images_of_another_size_are_resized_to_the_discriminators(
    discriminator: Discriminator, images: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """A 512-px GAN's images shrunk for a perceptual pass, or a 64-px network frame, still
    meet a discriminator of its own size: area-shrunk or bilinearly grown (as the release)."""
    loss = DiscriminatorFeatureLoss(discriminator, num_blocks=2)
    first, second = images  # [2, 3, 32, 32]
    doubled = [image.repeat_interleave(2, -1).repeat_interleave(2, -2) for image in images]
    with torch.no_grad():
        assert torch.allclose(loss(*doubled), loss(first, second), atol=1e-6)  # area: exact
        assert loss(first[..., :16, :16], second[..., :16, :16]).shape == (2,)


def test_distance_is_zero_for_identity_symmetric_and_positive(
    discriminator: Discriminator, images: tuple[torch.Tensor, torch.Tensor]
) -> None:
    loss = DiscriminatorFeatureLoss(discriminator, num_blocks=2)
    first, second = images
    with torch.no_grad():
        assert torch.equal(loss(first, first), torch.zeros(2))
        assert torch.allclose(loss(first, second), loss(second, first))
        assert torch.all(loss(first, second) > 0)


def test_callers_discriminator_is_left_untouched(
    discriminator: Discriminator, images: tuple[torch.Tensor, torch.Tensor]
) -> None:
    discriminator.train()
    loss = DiscriminatorFeatureLoss(discriminator)
    first = images[0].clone().requires_grad_(True)
    loss(first, images[1]).sum().backward()
    assert first.grad is not None and first.grad.abs().sum() > 0
    assert discriminator.training
    assert all(p.requires_grad and p.grad is None for p in discriminator.parameters())
    assert not any(p.requires_grad for p in loss.parameters())  # its copy trains nothing


def test_block_count_is_capped_at_the_discriminators(
    discriminator: Discriminator, images: tuple[torch.Tensor, torch.Tensor]
) -> None:
    capped = DiscriminatorFeatureLoss(discriminator, num_blocks=9)
    assert capped.num_blocks == 4
    with torch.no_grad():
        assert torch.equal(capped(*images), DiscriminatorFeatureLoss(discriminator)(*images))


def test_zero_blocks_is_refused(discriminator: Discriminator) -> None:
    with pytest.raises(GANliftError, match="num_blocks >= 1, got 0"):
        DiscriminatorFeatureLoss(discriminator, num_blocks=0)


def test_factory_builds_the_discriminator_loss_on_request(discriminator: Discriminator) -> None:
    loss = perceptual_loss("discriminator", discriminator=discriminator, num_blocks=3)
    assert isinstance(loss, DiscriminatorFeatureLoss) and loss.num_blocks == 3


def test_factory_refuses_the_discriminator_loss_without_one() -> None:
    with pytest.raises(GANliftError, match="needs a checkpoint with a discriminator"):
        perceptual_loss("discriminator")


def test_auto_falls_back_to_the_discriminator_offline(
    discriminator: Discriminator, offline_empty_hub: None
) -> None:
    assert isinstance(
        perceptual_loss("auto", discriminator=discriminator), DiscriminatorFeatureLoss
    )
