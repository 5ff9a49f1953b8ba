"""Typed architecture configs for the StyleGAN2 generator and discriminator, stored as JSON.

A config names every architectural choice that the weights alone cannot be used without: image
size, latent width, mapping depth and the number of channels at each resolution (the common
layout derives them from a channel multiplier; our own small models use a custom table).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from engine.config import config_from_dict, finite_number, is_whole, read_json_file, whole_number
from engine.errors import GANliftError

BASE_CHANNELS = 512
"""Channel count of the low resolutions (4..32) in the common layout."""
MAX_CHANNELS = 65_536
"""Most feature channels a resolution may have (StyleGAN2 has at most 512): a config file with
a typo such as 1e30 is refused rather than met as a failed allocation."""
MAX_MAPPING_LAYERS = 64
"""Deepest mapping network a config may ask for (StyleGAN2's has 8): the layers are built
before the weights are compared, so 10 million of them would hang the loader."""
MAX_STYLE_DIM = 65_536
"""Widest z and w latents a config may ask for (StyleGAN2's are 512)."""


def multiplier_channels(size: int, channel_multiplier: int = 2) -> dict[int, int]:
    """The channel table of the common layout: 512 up to 32x32, then (16384 / res) * multiplier."""
    check_size(size)
    resolutions = [2**power for power in range(2, size.bit_length())]
    return {
        res: BASE_CHANNELS if res <= 32 else (16384 // res) * channel_multiplier
        for res in resolutions
    }


def standard_multiplier(size: int, channels: Mapping[int, int]) -> int | None:
    """The channel multiplier (1, 2 or 4) whose `multiplier_channels` table `channels` is, or
    None for another table; 2, the layout's default, where several fit (up to 32×32 every
    multiplier gives the same table)."""
    for multiplier in (2, 1, 4):
        if multiplier_channels(size, multiplier) == dict(channels):
            return multiplier
    return None


def check_size(size: int, what: str = "Image size") -> None:
    """Refuse image sizes that are not a power of two of at least 8 (`what` names the setting)."""
    if size < 8 or size & (size - 1):
        raise GANliftError(f"{what} {size} is not supported; use a power of two of 8 or more.")


def _check_channels(size: int, channels: dict[int, int], what: str) -> dict[int, int]:
    """Normalise JSON string keys to ints and demand one count from 1 to `MAX_CHANNELS` per
    resolution 4..size."""
    expected = [2**power for power in range(2, size.bit_length())]
    refusal = GANliftError(
        f"The {what} channel table must map each resolution {expected} to a whole number of "
        f"channels from 1 to {MAX_CHANNELS}, got {str(channels)[:80]}."
    )
    if not isinstance(channels, dict):
        raise refusal
    try:
        table = {int(resolution): _whole(count) for resolution, count in channels.items()}
    except (TypeError, ValueError) as error:
        raise refusal from error
    if not all(1 <= count <= MAX_CHANNELS for count in table.values()):
        raise refusal
    if sorted(table) != expected:
        raise GANliftError(
            f"The {what} channel table has resolutions {sorted(table)}; "
            f"expected a count for each of {expected}."
        )
    return table


def _whole(value: Any) -> int:
    """`value` as an int where it is a whole number (an int or a whole float; no bool)."""
    if not is_whole(value):
        raise ValueError(f"{value!r} is no whole number")
    return int(value)


def _check_clamp(conv_clamp: float | None, what: str) -> None:
    """A conv clamp is None (off) or a finite number above 0 (0 clamps every feature to 0)."""
    if conv_clamp is not None and not (finite_number(conv_clamp) and conv_clamp > 0):
        raise GANliftError(
            f"The {what} conv_clamp must be null (no clamp) or a number above 0 (StyleGAN2-ADA "
            f"uses 256), got {conv_clamp!r}."
        )


@dataclass
class GeneratorConfig:
    """Architecture of a StyleGAN2 generator (compact PyTorch-port layout)."""

    size: int
    """Output image size in pixels (square, a power of two)."""
    channels: dict[int, int]
    """Feature channels per resolution, from 4 up to `size`."""
    style_dim: int = 512
    """Width of the z and w latents."""
    n_mlp: int = 8
    """Number of fully connected layers in the mapping network."""
    lr_mlp: float = 0.01
    """Learning-rate multiplier of the mapping network (part of its weight scaling)."""
    conv_clamp: float | None = None
    """Clamp of conv activations to +-value (StyleGAN2-ADA mixed precision models), or None."""

    def __post_init__(self) -> None:
        check_size(self.size)
        self.channels = _check_channels(self.size, self.channels, "generator")
        for name, most in (("style_dim", MAX_STYLE_DIM), ("n_mlp", MAX_MAPPING_LAYERS)):
            value = whole_number(getattr(self, name), f"The generator {name}")
            if not 1 <= value <= most:
                raise GANliftError(
                    f"The generator {name} must be a whole number from 1 to {most}, got {value}."
                )
            setattr(self, name, value)
        if not (finite_number(self.lr_mlp) and self.lr_mlp > 0):
            raise GANliftError(
                "The generator lr_mlp must be a number above 0 (StyleGAN2 uses 0.01; 0 makes "
                f"every latent draw one image), got {self.lr_mlp!r}."
            )
        _check_clamp(self.conv_clamp, "generator")

    @classmethod
    def from_multiplier(
        cls, size: int, channel_multiplier: int = 2, **kwargs: Any
    ) -> GeneratorConfig:
        """The common layout's generator for `size` and `channel_multiplier`."""
        return cls(size=size, channels=multiplier_channels(size, channel_multiplier), **kwargs)

    @property
    def log_size(self) -> int:
        """log2 of the image size."""
        return self.size.bit_length() - 1

    @property
    def num_ws(self) -> int:
        """Number of per-layer w vectors that the synthesis network consumes (W+ length)."""
        return self.log_size * 2 - 2

    @property
    def num_noises(self) -> int:
        """Number of noise inputs: one per styled conv."""
        return (self.log_size - 2) * 2 + 1


@dataclass
class DiscriminatorConfig:
    """Architecture of a StyleGAN2 residual discriminator (compact PyTorch-port layout)."""

    size: int
    """Input image size in pixels."""
    channels: dict[int, int]
    """Feature channels per resolution, from 4 up to `size`."""
    mbstd_group_size: int | None = 4
    """Group size of the minibatch standard-deviation layer (None: the whole batch)."""
    mbstd_channels: int = 1
    """Number of minibatch standard-deviation features appended at 4x4."""
    conv_clamp: float | None = None
    """Clamp of conv activations to +-value (StyleGAN2-ADA), or None."""

    def __post_init__(self) -> None:
        check_size(self.size)
        self.channels = _check_channels(self.size, self.channels, "discriminator")
        group, features = self.mbstd_group_size, self.mbstd_channels
        if group is not None:
            group = self.mbstd_group_size = whole_number(group, "Discriminator mbstd_group_size")
        features = self.mbstd_channels = whole_number(features, "Discriminator mbstd_channels")
        if (group is not None and not 1 <= group <= MAX_CHANNELS) or not (
            1 <= features <= MAX_CHANNELS
        ):
            raise GANliftError(
                "Discriminator mbstd_group_size and mbstd_channels must be whole numbers from 1 "
                f"to {MAX_CHANNELS}, got {group!r} and {features!r}."
            )
        _check_clamp(self.conv_clamp, "discriminator")

    @classmethod
    def from_multiplier(
        cls, size: int, channel_multiplier: int = 2, **kwargs: Any
    ) -> DiscriminatorConfig:
        """The common layout's discriminator for `size` and `channel_multiplier`."""
        return cls(size=size, channels=multiplier_channels(size, channel_multiplier), **kwargs)


ConfigT = TypeVar("ConfigT", GeneratorConfig, DiscriminatorConfig)


def config_to_dict(config: GeneratorConfig | DiscriminatorConfig) -> dict[str, Any]:
    """A JSON-ready dict of a config (channel keys become strings, as JSON requires)."""
    data = dataclasses.asdict(config)
    data["channels"] = {str(resolution): count for resolution, count in config.channels.items()}
    return data


@dataclass
class ModelConfig:
    """What our JSON file beside a safetensors checkpoint holds."""

    generator: GeneratorConfig
    discriminator: DiscriminatorConfig | None = None
    format_version: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form metadata (training step, dataset name, ...), kept as is."""

    def to_json(self) -> str:
        """The JSON text of this config."""
        data = {
            "format_version": self.format_version,
            "generator": config_to_dict(self.generator),
            "discriminator": None
            if self.discriminator is None
            else config_to_dict(self.discriminator),
            "extra": self.extra,
        }
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json_file(cls, path: Path) -> ModelConfig:
        """Read and validate a model config JSON file."""
        fix = "restore the .json written with the weights"
        data = read_json_file(path, "The model config", fix)
        if not isinstance(data, dict):
            raise GANliftError(f"The model config {path} holds no JSON object; {fix}.")
        if "networks" in data and not isinstance(data.get("generator"), dict):  # its fingerprint
            raise GANliftError(
                f"{path.with_suffix('.safetensors')} holds GAN2Shape networks (written by "
                "gan2shape-pretrain), not a StyleGAN2; pass the generator's checkpoint instead."
            )
        unknown = sorted(set(data) - {"format_version", "generator", "discriminator", "extra"})
        if unknown:
            raise GANliftError(f"Model config {path} has unknown keys {unknown}.")
        if data.get("format_version") != 1:
            raise GANliftError(
                f"Model config {path} has format_version {data.get('format_version')!r}; "
                "this GANlift reads version 1."
            )
        if "generator" not in data:
            raise GANliftError(f"Model config {path} has no 'generator' section.")
        discriminator, extra = data.get("discriminator"), data.get("extra") or {}
        if not isinstance(extra, dict):
            raise GANliftError(f"Model config {path} has an 'extra' that is no JSON object; {fix}.")
        try:
            return cls(
                generator=config_from_dict(GeneratorConfig, data["generator"], "generator"),
                discriminator=None
                if discriminator is None
                else config_from_dict(DiscriminatorConfig, discriminator, "discriminator"),
                extra=dict(extra),
            )
        except GANliftError as error:  # the configs' own checks name no file
            reason = str(error).rstrip(".")
            raise GANliftError(
                f"In the model config {path}, {reason[0].lower()}{reason[1:]}; {fix}."
            ) from error
