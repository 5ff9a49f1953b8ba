"""StyleGAN2 residual discriminator with the common state-dict layout.

Keys: `convs.0` (1x1 from RGB), `convs.1..` (residual blocks halving the size down to 4x4),
`final_conv` (after the minibatch-stddev features) and `final_linear` (two dense layers).
"""

from __future__ import annotations

import torch
from torch import nn

from engine.errors import GANliftError
from engine.images import check_float_pixels
from engine.stylegan2.config import DiscriminatorConfig
from engine.stylegan2.layers import ConvLayer, EqualLinear, ResBlock
from engine.stylegan2.ops import OpsImpl, minibatch_stddev


class Discriminator(nn.Module):
    """Image [N, 3, size, size] in [-1, 1] -> realness logit [N, 1]."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        channels = config.channels
        blocks: list[nn.Module] = [ConvLayer(3, channels[config.size], 1, clamp=config.conv_clamp)]
        resolution = config.size
        while resolution > 4:
            blocks.append(
                ResBlock(channels[resolution], channels[resolution // 2], clamp=config.conv_clamp)
            )
            resolution //= 2
        self.convs = nn.Sequential(*blocks)
        self.final_conv = ConvLayer(
            channels[4] + config.mbstd_channels, channels[4], 3, clamp=config.conv_clamp
        )
        self.final_linear = nn.Sequential(
            EqualLinear(channels[4] * 4 * 4, channels[4], activate=True),
            EqualLinear(channels[4], 1),
        )
        self.impl: OpsImpl = "fast"

    def set_impl(self, impl: OpsImpl) -> Discriminator:
        """Choose the fast (channels-last, default) or the reference memory layout; returns self."""
        self.impl = impl
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image [N, 3, size, size] -> logits [N, 1]."""
        x = self.convs(self._prepare(image))  # [N, C4, 4, 4]
        x = minibatch_stddev(
            x, group_size=self.config.mbstd_group_size, channels=self.config.mbstd_channels
        )
        x = self.final_conv(x)  # [N, C4, 4, 4]
        return self.final_linear(x.contiguous().flatten(1))

    def features(self, image: torch.Tensor, n: int) -> list[torch.Tensor]:
        """Feature maps after each of the first `n` blocks of `convs` (block 0 is from-RGB).

        GAN2Shape compares images through these (its discriminator feature loss uses n = 4).
        """
        if not 1 <= n <= len(self.convs):
            raise GANliftError(
                f"Discriminator.features: n must be in 1..{len(self.convs)}, got {n}."
            )
        x = self._prepare(image)
        feats = []
        for block in self.convs[:n]:
            x = block(x)
            feats.append(x.contiguous())
        return feats

    def _prepare(self, image: torch.Tensor) -> torch.Tensor:
        """Check the input shape and put it in the memory layout of the chosen implementation."""
        size = self.config.size
        if image.ndim != 4 or image.shape[1:] != (3, size, size):
            raise GANliftError(
                f"The discriminator takes images [N, 3, {size}, {size}], got {list(image.shape)}."
            )
        check_float_pixels(image, "The discriminator")
        if self.impl == "fast":
            return image.contiguous(memory_format=torch.channels_last)
        return image.contiguous()
