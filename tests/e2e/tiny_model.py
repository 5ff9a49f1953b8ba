"""A tiny StyleGAN2 checkpoint (32 px, common .pt layout), a matching GAN2Shape preset and a
tiny StyleGAN-R model on it, for the app's tests: everything runs in seconds on two CPU
cores."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.gan2shape.presets import Gan2ShapePreset
from engine.stylegan2 import load_checkpoint, save_pt_checkpoint
from engine.styleganr import (
    InverseGraphicsConfig,
    InverseGraphicsNet,
    MappingConfig,
    MappingNetwork,
    StyleGANR,
    sample_view_codes,
    save_styleganr,
)
from tests.tiny import tiny_gan, tiny_gan2shape_preset

SIZE = 32

TINY_PRESET: Gan2ShapePreset = tiny_gan2shape_preset(
    SIZE, name="tiny-face", prior_steps=3, collect_batches=1, inversion_steps=3
)


def write_tiny_model(folder: Path) -> tuple[Path, Path]:
    """Write `tiny.pt` (generator, discriminator, mean w) and `tiny-preset.json` in `folder`;
    returns their paths."""
    generator, discriminator = tiny_gan(SIZE)
    checkpoint = save_pt_checkpoint(
        folder / "tiny.pt",
        generator,
        discriminator=discriminator,
        latent_avg=generator.mean_latent(256),
    )
    preset = folder / "tiny-preset.json"
    preset.write_text(TINY_PRESET.to_json())
    return checkpoint, preset


def write_tiny_cars_model(checkpoint: Path) -> Path:
    """Write `tiny-cars.pt` beside `checkpoint`: an untrained StyleGAN-R on that GAN with four
    labelled views and decided part masks (each W+ dimension belongs to one part)."""
    generator = load_checkpoint(checkpoint).generator
    torch.manual_seed(1)
    mapping = MappingNetwork(
        MappingConfig(
            num_ws=generator.num_ws,
            style_dim=generator.style_dim,
            num_view_layers=2,
            shape_dim=8,
            texture_dim=8,
            hidden=32,
        )
    )
    with torch.no_grad():
        mapping.mask_logits.copy_(8 * torch.randn_like(mapping.mask_logits))
    views = sample_view_codes(generator, 4, num_view_layers=2, seed=3)
    views.cameras = torch.tensor([[0.0, 10, 1], [90, 10, 1], [180, 10, 1], [270, 10, 1]])
    network = InverseGraphicsNet(
        InverseGraphicsConfig(image_size=SIZE, width=4, shape_dim=8, texture_dim=8, texture_size=8)
    )
    model = StyleGANR(generator, network, mapping, views, generator_path=str(checkpoint))
    return save_styleganr(model, checkpoint.with_name("tiny-cars.pt"))
