"""Map NVIDIA StyleGAN2-ADA networks (unpickled as records) onto our common-layout modules.

ADA names its layers `mapping.fcN`, `synthesis.bR.{const,conv0,conv1,torgb}` (each with an
`affine`), and `bR.{fromrgb,conv0,conv1,skip}`, `b4.{mbstd,conv,fc,out}` in the discriminator.
The arithmetic is the same as the compact port's except where the weight scaling lives: ADA's
synthesis convs keep their weights unscaled (demodulation removes the scale), so they are
multiplied by sqrt(fan_in) here to cancel our equalized-learning-rate constant exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from engine.config import finite_number, is_whole
from engine.errors import GANliftError
from engine.stylegan2.config import DiscriminatorConfig, GeneratorConfig
from engine.stylegan2.layers import BLUR_TAPS
from engine.stylegan2.ops import make_blur_kernel
from engine.stylegan2.safe_pickle import PersistentRecord, error_summary
from engine.torch_files import float_weight_problem
from engine.wording import shown


@dataclass
class AdaNetworks:
    """A StyleGAN2-ADA snapshot converted to the common layout (kernels are not included)."""

    generator_name: str
    """"G_ema", or "G" in a snapshot that holds only the training generator."""
    generator_config: GeneratorConfig
    generator_state: dict[str, torch.Tensor]
    latent_avg: torch.Tensor | None
    discriminator_config: DiscriminatorConfig | None
    discriminator_state: dict[str, torch.Tensor] | None


def convert_ada_snapshot(snapshot: Any, source: str) -> AdaNetworks:
    """Convert the unpickled `{'G_ema': ..., 'D': ...}` dict of an ADA snapshot (its training
    generator `G` where it holds no `G_ema`). A network GANlift cannot build, or a tensor of a
    shape its layer cannot have (reshaping and indexing fail with almost any exception type),
    is one sentence naming the file."""
    try:
        return _convert_snapshot(snapshot, source)
    except GANliftError:
        raise
    except (LookupError, TypeError, ValueError, OverflowError, RuntimeError) as error:
        raise GANliftError(
            f"{source} is not a supported StyleGAN2-ADA network ({error_summary(error)}); pass "
            "the snapshot as stylegan2-ada-pytorch saved it."
        ) from error


def _convert_snapshot(snapshot: Any, source: str) -> AdaNetworks:
    networks = snapshot if isinstance(snapshot, dict) else {}
    held = [key for key in ("G_ema", "G") if isinstance(networks.get(key), PersistentRecord)]
    name = held[0] if held else None
    if name is None:
        raise GANliftError(
            f"{source} is not a StyleGAN2-ADA snapshot (it has no G_ema or G network)."
        )
    g_config, g_state, latent_avg = _convert_generator(_Module(networks[name], name, source))
    discriminator = networks.get("D")
    d_config = d_state = None
    if isinstance(discriminator, PersistentRecord):
        d_config, d_state = _convert_discriminator(_Module(discriminator, "D", source))
    return AdaNetworks(name, g_config, g_state, latent_avg, d_config, d_state)


class _Module:
    """Read access to one unpickled ADA module: its tensors, children and attributes."""

    def __init__(self, record: Any, path: str, source: str) -> None:
        if not isinstance(record, PersistentRecord):
            raise GANliftError(f"{source}: {path} is not a network module.")
        self.record = record
        self.path = path
        self.source = source

    def child(self, name: str) -> _Module:
        modules = self.record.state.get("_modules") or {}
        if name not in modules:
            raise self.error(f"has no submodule '{name}'")
        return _Module(modules[name], f"{self.path}.{name}", self.source)

    def has_child(self, name: str) -> bool:
        return name in (self.record.state.get("_modules") or {})

    def tensor(self, name: str) -> torch.Tensor:
        for table in ("_parameters", "_buffers"):
            value = (self.record.state.get(table) or {}).get(name)
            if isinstance(value, torch.Tensor):
                if (problem := float_weight_problem(name, value)) is not None:
                    raise self.error(problem)
                return value.detach().float().contiguous()
        raise self.error(f"has no tensor '{name}'")

    def has_tensor(self, name: str) -> bool:
        tables = (self.record.state.get(table) or {} for table in ("_parameters", "_buffers"))
        return any(isinstance(table.get(name), torch.Tensor) for table in tables)

    def attr(self, name: str) -> Any:
        if name not in self.record.state:
            raise self.error(f"has no attribute '{name}'")
        return self.record.state[name]

    def whole(self, name: str) -> int:
        """An attribute that is a whole number (a size, a count)."""
        value = self.attr(name)
        if not is_whole(value):
            raise self.error(f"has {name} {shown(value, quoted=True)}, not a whole number")
        return int(value)

    def number(self, name: str, *, optional: bool = False) -> float | None:
        """An attribute that is a finite number (None too where `optional`: no clamping)."""
        value = self.attr(name)
        if value is None and optional:
            return None
        if not finite_number(value):
            raise self.error(f"has {name} {shown(value, quoted=True)}, not a finite number")
        return float(value)

    def flag(self, name: str) -> bool:
        value = self.attr(name)
        if not isinstance(value, bool):
            raise self.error(f"has {name} {shown(value, quoted=True)}, not True or False")
        return value

    def expect_class(self, class_name: str) -> None:
        if self.record.class_name != class_name:
            raise self.error(f"is a {self.record.class_name}, expected a {class_name}")

    def error(self, problem: str) -> GANliftError:
        return GANliftError(
            f"{self.source} is not a supported StyleGAN2-ADA network: {self.path} {problem}."
        )


def _check_filter(module: _Module) -> None:
    """ADA blocks carry their resampling filter; ours is fixed to the standard [1, 3, 3, 1]."""
    if module.has_tensor("resample_filter"):
        expected = make_blur_kernel(BLUR_TAPS)
        stored = module.tensor("resample_filter")
        if stored.shape != expected.shape or not torch.allclose(stored.float(), expected):
            raise module.error("uses a resampling filter other than [1, 3, 3, 1]")


def _convert_generator(
    g: _Module,
) -> tuple[GeneratorConfig, dict[str, torch.Tensor], torch.Tensor | None]:
    g.expect_class("Generator")
    if g.whole("c_dim") != 0:
        raise g.error("is class-conditional, which GANlift does not support")
    mapping, synthesis = g.child("mapping"), g.child("synthesis")
    mapping.expect_class("MappingNetwork")
    synthesis.expect_class("SynthesisNetwork")
    size = synthesis.whole("img_resolution")
    if g.whole("img_resolution") != size or synthesis.has_child(f"b{2 * size}"):
        raise synthesis.error(f"has blocks that disagree with its img_resolution {size}")
    resolutions = [2**power for power in range(2, size.bit_length())]
    blocks = {res: synthesis.child(f"b{res}") for res in resolutions}
    n_mlp = mapping.whole("num_layers")
    if mapping.has_child(f"fc{n_mlp}"):
        raise mapping.error(f"has more layers than its num_layers {n_mlp}")
    style_dim = g.whole("w_dim")
    if g.whole("z_dim") != style_dim:
        raise g.error("has z_dim different from w_dim, which the common layout cannot express")
    for block in blocks.values():
        if block.attr("architecture") != "skip":
            raise block.error("uses a synthesis architecture other than 'skip'")
        _check_filter(block)

    state: dict[str, torch.Tensor] = {}
    for index in range(n_mlp):
        layer = mapping.child(f"fc{index}")
        state[f"style.{index + 1}.weight"] = layer.tensor("weight")
        state[f"style.{index + 1}.bias"] = layer.tensor("bias")
    state["input.input"] = blocks[4].tensor("const")[None]
    noises = [_styled_layer(state, "conv1", blocks[4].child("conv1"), 4)]
    _to_rgb(state, "to_rgb1", blocks[4].child("torgb"))
    for index, res in enumerate(resolutions[1:]):
        for conv in range(2):
            layer = blocks[res].child(f"conv{conv}")
            noises.append(_styled_layer(state, f"convs.{2 * index + conv}", layer, res))
        _to_rgb(state, f"to_rgbs.{index}", blocks[res].child("torgb"))
    for index, noise in enumerate(noises):
        state[f"noises.noise_{index}"] = noise[None, None]

    channels = {4: int(blocks[4].tensor("const").shape[0])}
    for res in resolutions[1:]:
        channels[res] = int(blocks[res].child("conv1").tensor("weight").shape[0])
    config = _network_config(
        g,
        GeneratorConfig,
        size=size,
        channels=channels,
        style_dim=style_dim,
        n_mlp=n_mlp,
        lr_mlp=mapping.child("fc0").number("bias_gain"),
        conv_clamp=blocks[4].child("conv1").number("conv_clamp", optional=True),
    )
    latent_avg = mapping.tensor("w_avg") if mapping.has_tensor("w_avg") else None
    return config, state, latent_avg


def _network_config(module: _Module, kind: type, **fields: Any) -> Any:
    """`kind(**fields)`, the config of the network `module` describes; one it cannot hold
    (an image size of 7, a style width of 10**9) is refused naming the file."""
    try:
        return kind(**fields)
    except GANliftError as error:
        problem = f"describes a network GANlift cannot build ({error_summary(error)})"
        raise module.error(problem) from error


def _styled_layer(
    state: dict[str, torch.Tensor], prefix: str, layer: _Module, resolution: int
) -> torch.Tensor:
    """Fill one StyledConv from an ADA SynthesisLayer of a block at `resolution`; returns its
    constant noise [resolution, resolution] (zeros where the layer uses none: the size its
    file states is not read, as 16384 would allocate a gigabyte)."""
    weight = layer.tensor("weight")  # [O, I, k, k]
    fan_in = weight[0].numel()
    state[f"{prefix}.conv.weight"] = (weight * math.sqrt(fan_in))[None]
    state[f"{prefix}.conv.modulation.weight"] = layer.child("affine").tensor("weight")
    state[f"{prefix}.conv.modulation.bias"] = layer.child("affine").tensor("bias")
    state[f"{prefix}.activate.bias"] = layer.tensor("bias")
    if layer.flag("use_noise"):
        state[f"{prefix}.noise.weight"] = layer.tensor("noise_strength").reshape(1)
        return layer.tensor("noise_const")
    state[f"{prefix}.noise.weight"] = torch.zeros(1)
    return torch.zeros(resolution, resolution)


def _to_rgb(state: dict[str, torch.Tensor], prefix: str, layer: _Module) -> None:
    """Fill one ToRGB from an ADA ToRGBLayer (same weight scaling as ours)."""
    state[f"{prefix}.conv.weight"] = layer.tensor("weight")[None]
    state[f"{prefix}.conv.modulation.weight"] = layer.child("affine").tensor("weight")
    state[f"{prefix}.conv.modulation.bias"] = layer.child("affine").tensor("bias")
    state[f"{prefix}.bias"] = layer.tensor("bias").reshape(1, -1, 1, 1)


def _convert_discriminator(d: _Module) -> tuple[DiscriminatorConfig, dict[str, torch.Tensor]]:
    d.expect_class("Discriminator")
    if d.whole("c_dim") != 0:
        raise d.error("is class-conditional, which GANlift does not support")
    size = d.whole("img_resolution")
    block_resolutions = [2**power for power in range(size.bit_length() - 1, 2, -1)]
    state: dict[str, torch.Tensor] = {}
    channels: dict[int, int] = {}
    conv_clamp = None
    for index, res in enumerate(block_resolutions):
        block = d.child(f"b{res}")
        if block.attr("architecture") != "resnet":
            raise block.error("uses a discriminator architecture other than 'resnet'")
        _check_filter(block)
        if index == 0:
            _conv(state, "convs.0.0", "convs.0.1", block.child("fromrgb"))
            conv_clamp = block.child("conv0").number("conv_clamp", optional=True)
        prefix = f"convs.{index + 1}"
        _conv(state, f"{prefix}.conv1.0", f"{prefix}.conv1.1", block.child("conv0"))
        _conv(state, f"{prefix}.conv2.1", f"{prefix}.conv2.2", block.child("conv1"))
        _conv(state, f"{prefix}.skip.1", None, block.child("skip"))
        channels[res] = int(block.child("conv0").tensor("weight").shape[0])
    epilogue = d.child("b4")
    epilogue.expect_class("DiscriminatorEpilogue")
    if epilogue.attr("architecture") != "resnet" or not epilogue.has_child("mbstd"):
        raise epilogue.error("is not a 'resnet' epilogue with a minibatch-stddev layer")
    _conv(state, "final_conv.0", "final_conv.1", epilogue.child("conv"))
    for index, name in enumerate(("fc", "out")):
        state[f"final_linear.{index}.weight"] = epilogue.child(name).tensor("weight")
        state[f"final_linear.{index}.bias"] = epilogue.child(name).tensor("bias")
    channels[4] = int(epilogue.child("conv").tensor("weight").shape[0])
    mbstd = epilogue.child("mbstd")
    config = _network_config(
        d,
        DiscriminatorConfig,
        size=size,
        channels=channels,
        mbstd_group_size=None if mbstd.attr("group_size") is None else mbstd.whole("group_size"),
        mbstd_channels=mbstd.whole("num_channels"),
        conv_clamp=conv_clamp,
    )
    return config, state


def _conv(
    state: dict[str, torch.Tensor], weight_key: str, bias_key: str | None, layer: _Module
) -> None:
    """Fill an equalized conv (and the bias of its activation) from an ADA Conv2dLayer."""
    state[f"{weight_key}.weight"] = layer.tensor("weight")
    if bias_key is not None:
        state[f"{bias_key}.bias"] = layer.tensor("bias")
