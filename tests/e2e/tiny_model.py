"""A tiny StyleGAN2 checkpoint (32 px, common .pt layout), a matching GAN2Shape preset, a
tiny StyleGAN-R model on it and an app context over them, for the app's tests: everything runs
in seconds on two CPU cores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from app.models import ModelStore
from app.session import AppContext
from app.settings import AppSettings
from app.viewer import TorchViewer
from engine.gan2shape.presets import Gan2ShapePreset
from engine.stylegan2 import load_checkpoint, save_pt_checkpoint
from engine.styleganr import save_styleganr
from tests.tiny import tiny_gan, tiny_gan2shape_preset, tiny_styleganr

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
    """Write `tiny-cars.pt` beside `checkpoint`: an untrained StyleGAN-R on that GAN
    (`tests.tiny.tiny_styleganr`)."""
    model = tiny_styleganr(load_checkpoint(checkpoint).generator, generator_path=str(checkpoint))
    return save_styleganr(model, checkpoint.with_name("tiny-cars.pt"))


def tiny_app_context(checkpoint: Path, preset: Path, **settings: Any) -> AppContext:
    """An app context on the CPU (engine.render's viewer) whose model is `checkpoint` with
    `preset` (as `write_tiny_model` writes them); `settings` are further `AppSettings` fields."""
    options = {"model": str(checkpoint), "category": str(preset)} | settings
    return AppContext(AppSettings(**options), ModelStore(torch.device("cpu")), TorchViewer())
