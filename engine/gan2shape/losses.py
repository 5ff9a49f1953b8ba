"""GAN2Shape's losses: masked L1, masked discriminator-feature L1 and the second-order
smoothness of depth and shading."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.stylegan2 import Discriminator

_TINY = 1e-8


def masked_l1(first: torch.Tensor, second: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |first − second| of images `[B, C, H, W]` where `mask [B, 1, H, W]` is on."""
    mask = mask.expand_as(first)
    return ((first - second).abs() * mask).sum() / mask.sum().clamp(min=_TINY)


def smoothness(maps: torch.Tensor) -> torch.Tensor:
    """Mean absolute second differences (xx, xy, yx, yy) of `maps [B, H, W]` or `[B, 1, H, W]`."""
    maps = maps.reshape(-1, *maps.shape[-2:])  # [B, H, W]
    dx = maps[:, :, 1:] - maps[:, :, :-1]
    dy = maps[:, 1:] - maps[:, :-1]
    second = (
        dx[:, :, 1:] - dx[:, :, :-1],
        dx[:, 1:] - dx[:, :-1],
        dy[:, :, 1:] - dy[:, :, :-1],
        dy[:, 1:] - dy[:, :-1],
    )
    return sum(term.abs().mean() for term in second)


def masked_feature_l1(
    discriminator: Discriminator,
    fake: torch.Tensor,
    real: torch.Tensor,
    mask: torch.Tensor,
    *,
    blocks: int,
) -> torch.Tensor:
    """Sum over the discriminator's first `blocks` residual blocks (all of them when it has
    fewer) of the masked mean L1 between the features of `fake` and `real` `[B, 3, H, W]`.

    As in the release, the images pass through the convolutional blocks at their own size
    (not the discriminator's) and the from-RGB layer's output is not compared; the mask
    `[B, 1, H, W]` is average-pooled to each feature map; `real` carries no gradient.
    """
    layers = discriminator.convs
    compared = layers[1 : blocks + 1]
    with torch.no_grad():
        real_features = _block_outputs(compared, layers[0](real))
    total = fake.new_zeros(())
    for fake_feature, real_feature in zip(
        _block_outputs(compared, layers[0](fake)), real_features, strict=True
    ):
        pooled = F.adaptive_avg_pool2d(mask, fake_feature.shape[-2:])  # [B, 1, h, w]
        total = total + masked_l1(fake_feature.float(), real_feature.float(), pooled)
    return total


def _block_outputs(blocks: torch.nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """The output of every block of `blocks` applied in sequence to `x`."""
    outputs = []
    for block in blocks:
        x = block(x)
        outputs.append(x)
    return outputs
