"""Training StyleGAN2 on a folder of images: `train_gan(data_dir, out_dir, config=, device=)`.

Non-saturating logistic loss, lazy R1, optional path-length regularisation, style mixing and
an EMA generator; resumable, data-parallel across processes, bf16 where it is fast.
"""

from engine.stylegan2.training.config import TrainConfig, default_channels, parse_channels
from engine.stylegan2.training.loop import TrainResult, train_gan

__all__ = [
    "TrainConfig",
    "TrainResult",
    "default_channels",
    "parse_channels",
    "train_gan",
]
