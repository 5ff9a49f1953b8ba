"""Everything a training run needs to continue exactly where it stopped, and its one file.

The file `training-state.pt` holds {format, version, step, kimg, config, G, D, G_ema,
optimisers, RNG states, latent_avg, pl_mean, data}; it is written to a temporary file and renamed
over the previous one, so a crash never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.atomic import save_torch
from engine.config import config_changes, finite_number, is_count
from engine.errors import GANliftError
from engine.randomness import global_rng_kept
from engine.stylegan2 import Checkpoint, Discriminator, Generator
from engine.stylegan2.safe_pickle import load_torch_file
from engine.stylegan2.training.config import TrainConfig
from engine.torch_files import load_optimizer_state, load_weights

STATE_FORMAT = "ganlift-stylegan2-training"
STATE_VERSION = 1
COMPACT_DTYPE = torch.float16
"""Network precision of a compact state: 11-bit mantissas, half the bytes."""


def lazy_regularisation_ratio(reg_every: int | None) -> float:
    """reg_every / (reg_every + 1): how lr and betas shrink when a penalty runs every N steps."""
    return 1.0 if reg_every is None else reg_every / (reg_every + 1)


def _adam(
    module: torch.nn.Module, lr: float, betas: tuple[float, float], ratio: float
) -> torch.optim.Adam:
    """Adam with StyleGAN2's lazy-regularisation correction of lr and betas."""
    return torch.optim.Adam(
        module.parameters(), lr=lr * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio), eps=1e-8
    )


@dataclass
class TrainingState:
    """Networks, optimisers, random stream and counters of one run."""

    generator: Generator
    discriminator: Discriminator
    generator_ema: Generator
    g_optim: torch.optim.Adam
    d_optim: torch.optim.Adam
    rng: torch.Generator
    """CPU generator of every random draw of the run (data, latents, mixing, noise)."""
    pl_mean: torch.Tensor
    """Running mean path length (a 0-d tensor)."""
    step: int = 0
    data: dict[str, Any] | None = None
    """What the run trains on (`engine.stylegan2.training.data.data_identity`); None for a
    state written before it was recorded."""

    @classmethod
    def create(cls, config: TrainConfig, device: torch.device) -> TrainingState:
        """Fresh networks initialised from `config.seed` (identical in every process)."""
        with global_rng_kept(config.seed):
            generator = Generator(config.generator_config()).to(device)
            discriminator = Discriminator(config.discriminator_config()).to(device)
        generator_ema = copy.deepcopy(generator).eval().requires_grad_(False)
        g_ratio = lazy_regularisation_ratio(config.g_reg_every if config.pl_weight > 0 else None)
        d_ratio = lazy_regularisation_ratio(config.d_reg_every)
        return cls(
            generator=generator,
            discriminator=discriminator,
            generator_ema=generator_ema,
            g_optim=_adam(generator, config.g_lr, config.adam_betas, g_ratio),
            d_optim=_adam(discriminator, config.d_lr, config.adam_betas, d_ratio),
            rng=torch.Generator().manual_seed(config.seed),
            pl_mean=torch.zeros((), device=device),
        )

    def save(self, path: Path, config: TrainConfig, latent_avg: torch.Tensor) -> None:
        """Write the state atomically to `path` (temp file in the same folder, then rename)."""
        data = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "step": self.step,
            "kimg": config.kimg_at(self.step),
            "config": config.to_dict(),
            "G": self.generator.state_dict(),
            "D": self.discriminator.state_dict(),
            "G_ema": self.generator_ema.state_dict(),
            "G_optim": self.g_optim.state_dict(),
            "D_optim": self.d_optim.state_dict(),
            "rng": {
                "train": self.rng.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
            "latent_avg": latent_avg.detach().cpu(),
            "pl_mean": self.pl_mean.detach().cpu(),
            "data": self.data,
        }
        save_torch(data, path)

    def load(self, data: dict[str, Any], source: str) -> None:
        """Restore networks, optimisers, RNG states and counters from `read_state_file` output
        (of the file `source`), each checked before any is used: a damaged state is refused in
        one sentence before the run's folder is touched."""
        fix = "resume from an intact copy or start a new run in another --out folder"
        for key, network in (("G", self.generator), ("D", self.discriminator),
                             ("G_ema", self.generator_ema)):  # fmt: skip
            load_weights(network, data.get(key), f"{source}'s {key}", fix)
        if not data.get("compact"):
            load_optimizer_state(self.g_optim, data.get("G_optim"), f"{source}'s G_optim", fix)
            load_optimizer_state(self.d_optim, data.get("D_optim"), f"{source}'s D_optim", fix)
        rng, pl_mean, step = data.get("rng"), data.get("pl_mean"), data.get("step")
        try:
            self.rng.set_state(rng["train"])
            torch.set_rng_state(rng["torch"])
            if torch.cuda.is_available():  # one per GPU the run saw; fewer may be visible now
                for index, state in enumerate(rng["cuda"][: torch.cuda.device_count()]):
                    torch.cuda.set_rng_state(state, index)
        except (TypeError, KeyError, RuntimeError) as error:
            raise GANliftError(f"{source} holds damaged random generator states; {fix}.") from error
        if not (
            isinstance(pl_mean, torch.Tensor) and pl_mean.numel() == 1 and pl_mean.isfinite().all()
        ):
            raise GANliftError(f"{source} holds no finite path-length mean; {fix}.")
        if not is_count(step):
            raise GANliftError(f"{source} holds step {step!r}, which is no count of steps; {fix}.")
        self.pl_mean = pl_mean.to(self.pl_mean.device).reshape(self.pl_mean.shape)
        self.step = step
        self.data = data.get("data")

    def start_from(self, checkpoint: Checkpoint, config: TrainConfig) -> None:
        """Continue a trained model in a new run: G and G_ema from its EMA generator, D from its
        discriminator, fresh Adam moments. The step resumes at the kimg a GANlift model records
        (so `kimg` stays the run's total length and the EMA ramp-up goes on), else at 0."""
        check_can_start_from(checkpoint, config)
        weights = checkpoint.generator.state_dict()  # checked as the checkpoint was read
        self.generator.load_state_dict(weights, strict=True)
        self.generator_ema.load_state_dict(weights, strict=True)
        self.discriminator.load_state_dict(checkpoint.discriminator.state_dict(), strict=True)
        kimg = checkpoint.extra.get("kimg", 0.0)
        if not (finite_number(kimg) and kimg >= 0):
            raise GANliftError(
                f"{checkpoint.source} records kimg {kimg!r}, which is no count of images; "
                "restore the .json written with its weights."
            )
        self.step = round(kimg * 1000 / config.batch)


def check_can_start_from(checkpoint: Checkpoint, config: TrainConfig) -> None:
    """Refuse a model a run of `config` cannot start from: one without its discriminator, or
    with other networks than the config's."""
    source = checkpoint.source
    if checkpoint.discriminator is None:
        raise GANliftError(
            f"{source} holds no discriminator, so training cannot continue from it; pass a "
            "checkpoint saved with its discriminator (GANlift's model.safetensors or model.pt)."
        )
    changed = config_changes(checkpoint.generator.config, config.generator_config())
    changed += config_changes(checkpoint.discriminator.config, config.discriminator_config())
    if changed:
        raise GANliftError(
            f"{source} has other networks than this run's settings "
            f"({', '.join(dict.fromkeys(changed))}); "
            "pass the settings it was trained with (--size, --channels, --style-dim, --n-mlp)."
        )


def read_state_file(path: Path) -> tuple[TrainConfig, dict[str, Any]]:
    """The config and raw state of a `training-state.pt`, checked to be one this version wrote."""
    data = load_torch_file(path)
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        raise GANliftError(
            f"{path} is not a GANlift training state; pass the training-state.pt a train-gan "
            "run wrote in its --out folder."
        )
    if data.get("version") != STATE_VERSION:
        raise GANliftError(
            f"{path} is a version {data.get('version')} training state; this GANlift resumes "
            f"version {STATE_VERSION}; start a new run in another --out folder."
        )
    return TrainConfig.from_dict(data.get("config"), source=f"{path} config"), data


def write_compact_state(source: Path, target: Path) -> Path:
    """A small copy of a training state, for committing a run that must continue in a later
    sitting: networks in float16 and no optimiser moments. Resuming from it restarts Adam's
    moment estimates (with beta1 = 0 and beta2 = 0.99 they settle again within a few hundred
    steps); step, RNG streams, path-length mean and config continue exactly."""
    _, data = read_state_file(source)
    for key in ("G", "D", "G_ema"):
        data[key] = {
            name: value.to(COMPACT_DTYPE) if value.is_floating_point() else value
            for name, value in data[key].items()
        }
    data.pop("G_optim", None)
    data.pop("D_optim", None)
    data["compact"] = True
    return save_torch(data, target)
