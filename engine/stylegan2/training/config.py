"""The typed configuration of a StyleGAN2 training run, saved as JSON beside its outputs.

Defaults suit small 64×64 models trained on a CPU or one GPU (≈4.8M-parameter G and D at
batch 16). Fields that shape the networks or the random streams are fixed once a run has
started; the schedule fields (`kimg`, intervals, precision) may change when it is resumed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, get_args

from engine.atomic import write_json
from engine.config import config_from_dict, read_json_file, whole_fields, whole_number
from engine.errors import GANliftError
from engine.limits import check_seed
from engine.stylegan2 import DiscriminatorConfig, GeneratorConfig, multiplier_channels
from engine.stylegan2.config import check_size
from engine.stylegan2.training.precision import PrecisionName

CONFIG_OPTIONS: tuple[tuple[str, str, type, str], ...] = (
    ("--size", "size", int, "image size in pixels, a power of two"),
    ("--batch", "batch", int, "images per step, summed over all processes"),
    ("--kimg", "kimg", float, "length of the run in thousands of real images"),
    ("--style-dim", "style_dim", int, "width of the z and w latents"),
    ("--n-mlp", "n_mlp", int, "depth of the mapping network"),
    ("--r1-gamma", "r1_gamma", float, "weight of the R1 penalty"),
    ("--pl-weight", "pl_weight", float, "path-length regularisation weight (0: off)"),
    ("--mixing-prob", "mixing_prob", float, "style-mixing probability"),
    ("--ema-kimg", "ema_kimg", float, "half-life of G_ema in thousands of images"),
    ("--seed", "seed", int, "seed of the weights and of every random draw"),
    ("--precision", "precision", str, "auto (bf16 where native), fp32 or bf16"),
    ("--snapshot-kimg", "snapshot_kimg", float, "checkpoint and sample-grid interval"),
    ("--log-every", "log_every", int, "steps between log.jsonl lines"),
)
"""(flag, TrainConfig field, type, help) of the options that set one field each; --channels,
--lr (both learning rates), --no-xflip and --sample-weights are the others."""

_FLAGS = {name: flag for flag, name, _, _ in CONFIG_OPTIONS} | {
    "g_lr": "--lr",
    "d_lr": "--lr",
    "channels": "--channels",
}


def _setting(name: str) -> str:
    """How a refusal names a field: 'Training setting g_lr (--lr)', with train-gan's option."""
    flag = _FLAGS.get(name)
    return f"Training setting {name}" + (f" ({flag})" if flag else "")


DEFAULT_CHANNELS_64 = [256, 256, 256, 128, 64]
"""Channels at 4, 8, 16, 32 and 64 pixels of the default small model."""


def resolution_ladder(size: int) -> list[int]:
    """The feature-map resolutions 4, 8, …, size of a network for `size`-pixel images."""
    return [2**power for power in range(2, size.bit_length())]


def default_channels(size: int) -> list[int]:
    """The small-model channel list for `size`: the 64×64 table, halved per extra octave."""
    table = dict(zip(resolution_ladder(64), DEFAULT_CHANNELS_64, strict=True))
    return [
        table.get(res, max(16, DEFAULT_CHANNELS_64[-1] * 64 // res))
        for res in resolution_ladder(size)
    ]


def parse_channels(spec: str, size: int) -> list[int]:
    """`--channels`: one number caps the common layout's widths; a comma list gives each width.

    "256" → min(256, common width) at every resolution; "256,256,128,64,32" → the widths at
    4, 8, 16, 32, 64 pixels (one per resolution up to `size`).
    """
    ladder = resolution_ladder(size)
    try:
        counts = [int(part) for part in spec.split(",")]
    except ValueError as error:
        raise GANliftError(
            f"--channels '{spec}' is not a number or a comma-separated list of numbers."
        ) from error
    if len(counts) == 1:
        return [min(counts[0], width) for width in multiplier_channels(size).values()]
    if len(counts) != len(ladder):
        raise GANliftError(
            f"--channels '{spec}' gives {len(counts)} widths; size {size} needs one per "
            f"resolution {ladder} (or a single maximum)."
        )
    return counts


WHOLE_NUMBERS = (
    "size", "batch", "style_dim", "n_mlp", "d_reg_every", "g_reg_every", "pl_batch_shrink",
    "log_every", "sample_count", "seed",
)  # fmt: skip
"""`TrainConfig` fields that count something and must be whole numbers."""


@dataclass
class TrainConfig:
    """Hyper-parameters of one StyleGAN2 training run (non-saturating loss, lazy R1, EMA)."""

    size: int = 64
    """Image size in pixels; training images are centre-cropped and resized to it."""
    channels: list[int] | None = None
    """Feature channels of G and D at each resolution 4, 8, …, size (None: `default_channels`)."""
    style_dim: int = 256
    """Width of the z and w latents."""
    n_mlp: int = 8
    """Depth of the mapping network."""
    batch: int = 16
    """Images per step, summed over all processes."""
    kimg: float = 200.0
    """Length of the run in thousands of real images shown to the discriminator."""
    g_lr: float = 0.002
    """Adam learning rate of the generator (before the lazy-regularisation correction)."""
    d_lr: float = 0.002
    """Adam learning rate of the discriminator (before the lazy-regularisation correction)."""
    adam_betas: tuple[float, float] = (0.0, 0.99)
    """Adam (beta1, beta2), also corrected for lazy regularisation."""
    r1_gamma: float = 0.1
    """Weight γ of the R1 penalty γ/2·|∇D(x)|²; ≈2× StyleGAN2-ADA's 0.0002·size²/batch at 64²."""
    d_reg_every: int = 16
    """Apply R1 every this many steps (lazy regularisation), scaled up to compensate."""
    pl_weight: float = 0.0
    """Weight of the path-length regulariser; 0 turns it off (usual for small models)."""
    pl_decay: float = 0.01
    """Decay of the running mean path length."""
    pl_batch_shrink: int = 2
    """The path-length pass uses batch / this many images."""
    g_reg_every: int = 4
    """Apply the path-length regulariser every this many steps."""
    mixing_prob: float = 0.9
    """Probability that an image mixes the styles of two latents at a random layer."""
    ema_kimg: float = 5.0
    """Half-life of the G_ema weights in thousands of images."""
    ema_rampup: float | None = 0.05
    """Cap the half-life at this fraction of the images seen so far (None: no ramp-up)."""
    xflip: bool = True
    """Mirror each training image left-right with probability 1/2."""
    seed: int = 0
    """Seed of the weights and of every random stream of the run."""
    precision: PrecisionName = "auto"
    """'auto' (bf16 where the device computes it natively, else fp32), 'fp32' or 'bf16'."""
    snapshot_kimg: float = 4.0
    """Write the checkpoint, the exported models and a sample grid every this many kimg."""
    log_every: int = 20
    """Append averaged losses and timings to log.jsonl every this many steps."""
    sample_count: int = 32
    """Images in each sample grid, from fixed latents so that grids are comparable."""
    cache_limit_mb: float = 4096.0
    """Keep decoded training images in memory when they take at most this much."""
    sample_weights: str | None = None
    """JSON file of per-image sampling weights (see `read_sample_weights`); None: uniform."""

    RESUMABLE_CHANGES: ClassVar[tuple[str, ...]] = (
        "kimg",
        "precision",
        "snapshot_kimg",
        "log_every",
        "cache_limit_mb",
    )
    """Fields that may differ when a run is resumed; every other field must match."""

    def __post_init__(self) -> None:
        whole_fields(self, WHOLE_NUMBERS, "Training setting")
        if not isinstance(self.xflip, bool):
            raise GANliftError(f"Training setting xflip must be True or False, got {self.xflip!r}.")
        check_size(self.size, _setting("size"))
        self.seed = check_seed(self.seed, _setting("seed"))
        if self.channels is None:
            self.channels = default_channels(self.size)
        if not isinstance(self.channels, list | tuple):  # a string would be read digit by digit
            raise GANliftError(
                f"{_setting('channels')} must be a list of widths, got {self.channels!r}."
            )
        self.channels = [whole_number(count, _setting("channels")) for count in self.channels]
        self.adam_betas = (float(self.adam_betas[0]), float(self.adam_betas[1]))
        if not all(0 <= beta < 1 for beta in self.adam_betas):
            raise GANliftError(
                f"Training setting adam_betas must be two numbers in [0, 1), got {self.adam_betas}."
            )
        ladder = resolution_ladder(self.size)
        if len(self.channels) != len(ladder) or min(self.channels) < 1:
            raise GANliftError(
                f"{_setting('channels')} {self.channels} must give a positive width for each "
                f"resolution {ladder}."
            )
        positive = (
            "batch",
            "kimg",
            "style_dim",
            "n_mlp",
            "d_reg_every",
            "g_reg_every",
            "pl_batch_shrink",
            "snapshot_kimg",
            "log_every",
            "sample_count",
            "g_lr",
            "d_lr",
            "ema_kimg",
        )
        for name in positive:
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise GANliftError(
                    f"{_setting(name)} must be a positive finite number, got {value}."
                )
        for name in ("g_lr", "d_lr"):
            if getattr(self, name) > 1:
                raise GANliftError(
                    f"{_setting(name)} must be at most 1 (Adam's step size; StyleGAN2 "
                    f"uses 0.002), got {getattr(self, name)}."
                )
        for name in ("r1_gamma", "pl_weight", "pl_decay", "cache_limit_mb", "ema_rampup"):
            value = getattr(self, name)
            if value is not None and not (value >= 0 and math.isfinite(value)):
                nan = " (nan weights every network's update with nan)" if math.isnan(value) else ""
                raise GANliftError(
                    f"{_setting(name)} must be a finite number of 0 or more, got {value}{nan}."
                )
        if not 0.0 <= self.mixing_prob <= 1.0:
            raise GANliftError(
                f"{_setting('mixing_prob')} is a probability from 0 to 1, got {self.mixing_prob}."
            )
        if self.precision not in get_args(PrecisionName):
            raise GANliftError(
                f"{_setting('precision')} '{self.precision}' is unknown; use auto, fp32 or bf16."
            )

    def generator_config(self) -> GeneratorConfig:
        """The architecture of G for this run."""
        return GeneratorConfig(
            size=self.size,
            channels=dict(zip(resolution_ladder(self.size), self.channels, strict=True)),
            style_dim=self.style_dim,
            n_mlp=self.n_mlp,
        )

    def discriminator_config(self) -> DiscriminatorConfig:
        """The architecture of D for this run."""
        return DiscriminatorConfig(
            size=self.size,
            channels=dict(zip(resolution_ladder(self.size), self.channels, strict=True)),
        )

    def kimg_at(self, step: int) -> float:
        """Thousands of real images shown after `step` steps."""
        return step * self.batch / 1000.0

    def total_steps(self) -> int:
        """Steps of a run that shows `kimg` thousand images (the last batch may pass it)."""
        return math.ceil(self.kimg * 1000 / self.batch)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "training config") -> TrainConfig:
        """Build a config from a dict, rejecting unknown keys with a message naming `source`."""
        return config_from_dict(cls, data, source)

    def save_json(self, path: Path) -> None:
        """Write this config as indented JSON."""
        write_json(path, self.to_dict())

    @classmethod
    def load_json(cls, path: Path) -> TrainConfig:
        """Read a config written by `save_json`."""
        return cls.from_dict(read_json_file(path, "The training config"), source=str(path))

    def fixed_differences(self, other: TrainConfig) -> list[str]:
        """Names of the fields that differ from `other` and may not change on resume."""
        return [
            item.name
            for item in dataclasses.fields(self)
            if item.name not in self.RESUMABLE_CHANGES
            and getattr(self, item.name) != getattr(other, item.name)
        ]
