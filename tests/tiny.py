"""Tiny StyleGAN2 networks and checkpoints, tiny GAN2Shape presets and small random images for
the tests: one place to build them, so every test file runs in seconds on two CPU cores and
tests that depend on the initial weights keep the same seeds and sizes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from engine.gan2shape.networks import NetworkConfig
from engine.gan2shape.presets import Gan2ShapePreset, StepLengths, get_preset
from engine.stylegan2 import (
    Discriminator,
    DiscriminatorConfig,
    Generator,
    GeneratorConfig,
    save_checkpoint,
)
from engine.stylegan2.training import TrainConfig
from engine.styleganr import (
    InverseGraphicsConfig,
    InverseGraphicsNet,
    MappingConfig,
    MappingNetwork,
    StyleGANR,
    sample_view_codes,
)
from engine.synth import SEED_RANGES
from engine.synth.generate import render_scene, sample_scene

TINY_STEPS = StepLengths(2, 2, 2)
"""The default lengths of `tiny_gan2shape_preset`'s one stage."""
STYLEGANR_STYLE_DIM = 16
"""w width of `tiny_styleganr`'s generator."""
STYLEGANR_VIEW_LAYERS = 2
"""W+ rows `tiny_styleganr`'s camera drives."""
NUMBERED_PNGS = tuple(f"{index}.png" for index in range(8))
"""The default file names of `write_random_images`: 0.png to 7.png."""


def tiny_channels(size: int, width: int = 16) -> dict[int, int]:
    """`width` channels at every resolution from 4 px up to `size`."""
    return {2**power: width for power in range(2, size.bit_length())}


def tiny_generator(
    size: int = 32,
    *,
    channels: dict[int, int] | None = None,
    style_dim: int = 32,
    n_mlp: int = 4,
    seed: int = 0,
) -> Generator:
    """A `size`-px generator initialised right after `torch.manual_seed(seed)`; channels default
    to 16 at every resolution."""
    torch.manual_seed(seed)
    channels = channels or tiny_channels(size)
    return Generator(GeneratorConfig(size, channels, style_dim=style_dim, n_mlp=n_mlp))


def tiny_discriminator(
    size: int = 32, *, channels: dict[int, int] | None = None, seed: int = 0
) -> Discriminator:
    """A `size`-px discriminator initialised right after `torch.manual_seed(seed)`."""
    torch.manual_seed(seed)
    return Discriminator(DiscriminatorConfig(size, channels or tiny_channels(size)))


def tiny_gan(
    size: int = 32,
    *,
    channels: dict[int, int] | None = None,
    style_dim: int = 32,
    n_mlp: int = 4,
    seed: int = 0,
) -> tuple[Generator, Discriminator]:
    """A generator and a discriminator with the same channels, built in that order after
    `torch.manual_seed(seed)` (the discriminator's weights follow on from the generator's)."""
    generator = tiny_generator(size, channels=channels, style_dim=style_dim, n_mlp=n_mlp, seed=seed)
    return generator, Discriminator(DiscriminatorConfig(size, channels or tiny_channels(size)))


def tiny_checkpoint(path: Path, size: int = 32, **gan_options: Any) -> Path:
    """`tiny_gan(size, **gan_options)` saved at `path` in GANlift's safetensors format; returns
    the file."""
    generator, discriminator = tiny_gan(size, **gan_options)
    return save_checkpoint(path, generator, discriminator=discriminator)


def tiny_gan2shape_preset(
    size: int = 32, *, steps: StepLengths = TINY_STEPS, **changes: Any
) -> Gan2ShapePreset:
    """The default face preset for a `size`-px GAN with tiny networks, one stage of `steps`
    (symmetry in step 3 only) and two images a batch; `changes` replace any field."""
    tiny = {
        "gan_size": size,
        "networks": NetworkConfig(size, 8, 2, bottleneck=16, offset_width=8),
        "num_stages": 1,
        "first_stage": steps,
        "flip_step1": (False,),
        "flip_step3": (True,),
        "batch_size": 2,
    }
    return get_preset("default-face").replace(**(tiny | changes))


def tiny_train_config(**changes: Any) -> TrainConfig:
    """A 16-px GAN training run with 8 channels a resolution, both regularisers every second
    step, fp32 and a log line every step; `changes` replace any field (batch, kimg, ...)."""
    tiny = {
        "size": 16,
        "channels": [8, 8, 8],
        "style_dim": 16,
        "n_mlp": 2,
        "d_reg_every": 2,
        "pl_weight": 2.0,
        "g_reg_every": 2,
        "precision": "fp32",
        "log_every": 1,
    }
    return TrainConfig(**(tiny | changes))


def write_random_images(
    folder: Path,
    names: Sequence[str] = NUMBERED_PNGS,
    *,
    height: int = 16,
    width: int = 16,
    seed: int = 0,
) -> Path:
    """Write one seeded uniform-noise RGB image per name (format from its suffix) in `folder`,
    created if missing; returns `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)  # [H, W, 3]
        Image.fromarray(pixels).save(folder / name)
    return folder


def random_image_pair(seed: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Two batches of two uniform-noise images in [-1, 1], both drawn from one seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.rand(2, 3, size, size, generator=generator) * 2 - 1,  # [2, 3, size, size]
        torch.rand(2, 3, size, size, generator=generator) * 2 - 1,  # [2, 3, size, size]
    )


def disc_on_noise(
    height: int, width: int, centre: tuple[float, float], radius: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """An orange disc on dark noise (seed 0), the object GrabCut should outline: the image
    `[1, 3, H, W]` in [-1, 1] and the disc's mask `[H, W]`."""
    rows, cols = torch.meshgrid(
        torch.arange(height * 1.0), torch.arange(width * 1.0), indexing="ij"
    )
    disc = ((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 < radius**2).float()  # [H, W]
    noise = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)) * 0.4 - 1
    colour = torch.tensor([0.9, 0.5, -0.2]).view(1, 3, 1, 1)
    return noise * (1 - disc) + colour * disc, disc


def face_photo(top: int, left: int, side: int, photo: tuple[int, int] = (300, 400)) -> torch.Tensor:
    """A frontal synthetic face (`side` px, test seed) pasted at (`top`, `left`) into a grey
    photo `[1, 3, *photo]` (300×400): what OpenCV's face detector should find."""
    scene = sample_scene("face", [SEED_RANGES["test"].start], size=side)
    scene.view = torch.zeros_like(scene.view)  # look straight at the camera
    canvas = torch.full((1, 3, *photo), 0.6)
    canvas[..., top : top + side, left : left + side] = render_scene(scene).image
    return canvas


def tiny_styleganr(generator: Generator | None = None, generator_path: str = "") -> StyleGANR:
    """A StyleGAN-R with random networks on ``generator`` (default: a 16-px one): its soft
    masks decided (each W+ dimension belongs to one part), its codes spread out, and four
    view codes labelled at azimuths 0, 90, 180 and 270 (elevations 5 to 20, scales 0.9 to
    1.2)."""
    if generator is None:
        generator = tiny_generator(
            16, channels={4: 16, 8: 16, 16: 8}, style_dim=STYLEGANR_STYLE_DIM, n_mlp=2
        )
    generator = generator.eval().requires_grad_(False)
    torch.manual_seed(1)
    network = InverseGraphicsNet(
        InverseGraphicsConfig(
            image_size=generator.config.size, width=4, shape_dim=8, texture_dim=8, texture_size=8
        )
    ).eval()
    mapping = MappingNetwork(
        MappingConfig(
            num_ws=generator.num_ws,
            style_dim=generator.style_dim,
            num_view_layers=STYLEGANR_VIEW_LAYERS,
            shape_dim=8,
            texture_dim=8,
            hidden=32,
        )
    ).eval()
    with torch.no_grad():
        mapping.mask_logits.copy_(8 * torch.randn_like(mapping.mask_logits))
        # A random encoder maps every image close to its bias, and a fresh mapping network
        # stays near the mean w (made so for training); scale both up so that different
        # samples get clearly different codes and a swapped part visibly changes the image.
        network.to_codes.weight.mul_(20)
        for part in mapping.part_nets.values():
            part[-1].weight.mul_(30)
    views = sample_view_codes(generator, 4, num_view_layers=STYLEGANR_VIEW_LAYERS, seed=3)
    views.cameras = torch.tensor([[0.0, 5, 0.9], [90, 10, 1], [180, 20, 1.2], [270, 10, 1]])
    return StyleGANR(generator, network, mapping, views, generator_path=generator_path)
