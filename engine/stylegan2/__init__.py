"""StyleGAN2 networks in the common PyTorch layout, checkpoint formats and a fast CPU path.

from engine.stylegan2 import load_checkpoint
ckpt = load_checkpoint("stylegan2-car.pt")           # or a .pkl, or "default-face"
image = ckpt.generator(z, truncation=0.7)            # [N, 3, H, W] in [-1, 1]
"""

from engine.stylegan2.autocast import bf16_autocast, bf16_supported
from engine.stylegan2.checkpoint import (
    Checkpoint,
    check_float32,
    generator_fingerprint,
    load_checkpoint,
    resolve_checkpoint_path,
    save_checkpoint,
    save_pt_checkpoint,
)
from engine.stylegan2.config import (
    DiscriminatorConfig,
    GeneratorConfig,
    ModelConfig,
    multiplier_channels,
)
from engine.stylegan2.discriminator import Discriminator
from engine.stylegan2.generator import Generator, NoiseSpec, check_truncation
from engine.stylegan2.ops import OpsImpl

__all__ = [
    "Checkpoint",
    "Discriminator",
    "DiscriminatorConfig",
    "Generator",
    "GeneratorConfig",
    "ModelConfig",
    "NoiseSpec",
    "OpsImpl",
    "bf16_autocast",
    "bf16_supported",
    "check_float32",
    "check_truncation",
    "generator_fingerprint",
    "load_checkpoint",
    "multiplier_channels",
    "resolve_checkpoint_path",
    "save_checkpoint",
    "save_pt_checkpoint",
]
