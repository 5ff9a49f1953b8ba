"""GAN2Shape's networks: depth and albedo encoder-decoders, view and light encoders, and the
latent-offset encoder that projects images onto the GAN's manifold.

The architectures are unsup3d's / GAN2Shape's, written for any power-of-two image size of 16
or more: an image of size S is halved k = log2(S) - 2 times down to 4×4, level i (1..k)
carrying `width · 2^(i-1)` channels (group norms keep the channels per group fixed). For 64 and
128 px this is layer for layer the released networks, and every module keeps the release's
attribute names (`network.N`, `conv1`, `conv2`, `conv_sc`), so released weights load with
`strict=True`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import check_sizes
from engine.errors import GANliftError


@dataclass(frozen=True)
class NetworkConfig:
    """Widths of GAN2Shape's networks (the release: width = max(4096 // size, 16))."""

    image_size: int = 128
    """Side of the square images the networks see and the depth / albedo maps they output."""
    width: int = 32
    """Channels at the first (half-resolution) level of the depth, albedo, view and light nets."""
    group_norm_base: int = 8
    """Group-norm groups at the first level (the release: 8 at ≥ 128 px, else 16)."""
    bottleneck: int = 256
    """Width of the depth and albedo nets' 1×1 code."""
    offset_width: int = 32
    """Channels at the first level of the latent-offset encoder."""

    def __post_init__(self) -> None:
        size = self.image_size
        if size < 16 or size & (size - 1):
            raise GANliftError(
                f"Network image_size {size} is not supported; use a power of two of 16 or more."
            )
        for key in ("width", "group_norm_base", "bottleneck", "offset_width"):
            if getattr(self, key) < 1:
                raise GANliftError(
                    f"Network widths must be positive; fix the preset's networks.{key}, got "
                    f"{getattr(self, key)}."
                )
        check_sizes(
            self,
            {"image_size": 1024, "width": 1024, "bottleneck": 4096, "offset_width": 1024},
            "The preset's networks.",
        )
        if self.width % self.group_norm_base:
            raise GANliftError(
                f"Network width {self.width} is not divisible by group_norm_base "
                f"{self.group_norm_base}; choose a width that is a multiple of it."
            )

    @property
    def levels(self) -> int:
        """Number of stride-2 stages from the image down to 4×4."""
        return int(math.log2(self.image_size)) - 2


def _level_channels(width: int, levels: int) -> list[int]:
    """Channels after each downsampling stage: width, 2·width, ..., width·2^(levels-1)."""
    return [width * 2**level for level in range(levels)]


class EncoderDecoder(nn.Module):
    """Image → per-pixel map of the same size (unsup3d's EDDeconv): depth (1 channel, no
    activation) or albedo (3 channels, tanh)."""

    def __init__(self, config: NetworkConfig, out_channels: int, *, tanh: bool) -> None:
        super().__init__()
        channels = _level_channels(config.width, config.levels)
        groups = _level_channels(config.group_norm_base, config.levels)
        layers: list[nn.Module] = [nn.Conv2d(3, channels[0], 4, 2, 1, bias=False)]
        for level in range(1, config.levels):
            layers += [
                nn.GroupNorm(groups[level - 1], channels[level - 1]),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(channels[level - 1], channels[level], 4, 2, 1, bias=False),
            ]
        layers += [
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels[-1], config.bottleneck, 4, 1, 0, bias=False),  # 4×4 -> 1×1
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(config.bottleneck, channels[-1], 4, 1, 0, bias=False),  # -> 4×4
            nn.ReLU(inplace=True),
            nn.Conv2d(channels[-1], channels[-1], 3, 1, 1, bias=False),
            nn.ReLU(inplace=True),
        ]
        for level in reversed(range(config.levels - 1)):
            layers += [
                nn.ConvTranspose2d(channels[level + 1], channels[level], 4, 2, 1, bias=False),
                nn.GroupNorm(groups[level], channels[level]),
                nn.ReLU(inplace=True),
                nn.Conv2d(channels[level], channels[level], 3, 1, 1, bias=False),
                nn.GroupNorm(groups[level], channels[level]),
                nn.ReLU(inplace=True),
            ]
        width, group = channels[0], groups[0]
        layers += [
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(width, width, 3, 1, 1, bias=False),
            nn.GroupNorm(group, width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 5, 1, 2, bias=False),
            nn.GroupNorm(group, width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, out_channels, 5, 1, 2, bias=False),
        ]
        if tanh:
            layers.append(nn.Tanh())
        self.network = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image [B, 3, S, S] -> map [B, out_channels, S, S]."""
        return self.network(image)


class Encoder(nn.Module):
    """Image → vector in (-1, 1) (unsup3d's Encoder): the view (6) and light (4) nets."""

    def __init__(self, config: NetworkConfig, out_features: int) -> None:
        super().__init__()
        channels = _level_channels(config.width, config.levels)
        layers: list[nn.Module] = []
        previous = 3
        for count in channels:
            layers += [nn.Conv2d(previous, count, 4, 2, 1, bias=False), nn.ReLU(inplace=True)]
            previous = count
        layers += [
            nn.Conv2d(previous, previous, 4, 1, 0, bias=False),  # 4×4 -> 1×1
            nn.ReLU(inplace=True),
            nn.Conv2d(previous, out_features, 1, 1, 0, bias=False),
            nn.Tanh(),
        ]
        self.network = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image [B, 3, S, S] -> [B, out_features]."""
        return self.network(image).flatten(1)


class ResBlockDown(nn.Module):
    """Pre-activation residual block that halves the resolution. The shortcut also sees the
    activated input, as in the release (whose in-place ReLU overwrites the block's input)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 2, 1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.conv_sc = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, C_in, H, W] -> [B, C_out, H/2, W/2]."""
        activated = F.relu(x)
        residual = self.conv2(F.relu(self.conv1(activated)))
        return self.conv_sc(F.avg_pool2d(activated, 2)) + residual


class LatentOffsetEncoder(nn.Module):
    """Image → offset in the mapping network's hidden space (GAN2Shape's ResEncoder)."""

    def __init__(self, config: NetworkConfig, out_features: int) -> None:
        super().__init__()
        channels = _level_channels(config.offset_width, config.levels)
        layers: list[nn.Module] = [nn.Conv2d(3, channels[0], 4, 2, 1, bias=False)]
        layers += [ResBlockDown(a, b) for a, b in itertools.pairwise(channels)]
        layers += [
            nn.ReLU(inplace=True),
            nn.Conv2d(channels[-1], channels[-1] * 2, 4, 1, 0, bias=False),  # 4×4 -> 1×1
            nn.ReLU(inplace=True),
            nn.Conv2d(channels[-1] * 2, out_features, 1, 1, 0, bias=False),
        ]
        self.network = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image [B, 3, S, S] -> offset [B, out_features]."""
        return self.network(image).flatten(1)


SHAPE_NETWORK_NAMES = ("depth_net", "albedo_net", "view_net", "light_net")
"""The networks step 3 trains (all but the latent-offset encoder)."""


class Gan2ShapeNetworks(nn.Module):
    """The five per-image networks of GAN2Shape."""

    def __init__(self, config: NetworkConfig, *, style_dim: int) -> None:
        super().__init__()
        self.config = config
        self.depth_net = EncoderDecoder(config, 1, tanh=False)  # image -> raw depth [B, 1, S, S]
        self.albedo_net = EncoderDecoder(config, 3, tanh=True)  # image -> albedo [B, 3, S, S]
        self.view_net = Encoder(config, 6)  # image -> raw view [B, 6]
        self.light_net = Encoder(config, 4)  # image -> raw light [B, 4]
        self.offset_net = LatentOffsetEncoder(config, style_dim)  # image -> offset [B, D]

    def shape_networks(self) -> list[nn.Module]:
        """The networks trained in step 3: all but the latent-offset encoder."""
        return [getattr(self, name) for name in SHAPE_NETWORK_NAMES]

    def drop_shape_networks(self) -> None:
        """Free the shape networks, keeping the latent-offset encoder alone: a finished
        recovery is viewed through its maps and that encoder (`RecoveryState.keep_for_viewing`)."""
        for name in SHAPE_NETWORK_NAMES:
            delattr(self, name)

    @property
    def has_shape_networks(self) -> bool:
        """False once `drop_shape_networks` freed them."""
        return all(name in self._modules for name in SHAPE_NETWORK_NAMES)

    def load_release_state(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        """Load the networks found in a GAN2Shape release checkpoint ({'netD': ..., ...}),
        strictly; networks the checkpoint lacks keep their weights."""
        for release_name, name in RELEASE_NETWORK_NAMES.items():
            if release_name not in state:
                continue
            try:
                getattr(self, name).load_state_dict(state[release_name], strict=True)
            except RuntimeError as error:
                raise GANliftError(
                    f"The checkpoint's {release_name} does not fit this preset's {name} "
                    f"({self.config.image_size} px, width {self.config.width}); use the preset "
                    "the checkpoint was trained with."
                ) from error


RELEASE_NETWORK_NAMES = {
    "netD": "depth_net",
    "netA": "albedo_net",
    "netV": "view_net",
    "netL": "light_net",
    "netEnc": "offset_net",
}
"""Names of the networks in GAN2Shape's checkpoints -> attribute names here."""
