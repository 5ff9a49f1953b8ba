"""The `train-gan` command line of a `TrainConfig`: which fields its options set one for one,
and the command that resumes (or reproduces) a run. The CLI builds its options from the same
table, and a model card prints the command."""

from __future__ import annotations

from pathlib import Path
from shlex import quote

from engine.stylegan2.training.config import TrainConfig

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

DEFAULTS = TrainConfig()
"""The settings a run has when the command line names none."""


def train_command(config: TrainConfig, data_dir: str | Path, out: str | Path) -> str:
    """The `train-gan --resume` command line that gives a run of `config`: every setting that
    differs from the defaults, so it resumes the run (and would reproduce it) rather than
    being refused for other settings."""
    parts = ["python -m engine train-gan", "--data", quote(str(data_dir)), "--out", quote(str(out))]
    for flag, name, _, _ in CONFIG_OPTIONS:
        if getattr(config, name) != getattr(DEFAULTS, name):
            parts += [flag, _exact(getattr(config, name))]
    if config.channels:
        parts += ["--channels", ",".join(str(width) for width in config.channels)]
    if config.g_lr != DEFAULTS.g_lr:
        parts += ["--lr", _exact(config.g_lr)]
    if not config.xflip:
        parts.append("--no-xflip")
    if config.sample_weights:
        parts += ["--sample-weights", quote(str(config.sample_weights))]
    return " ".join([*parts, "--resume"])


def _exact(value: object) -> str:
    """`value` as a command-line word that parses back to it (floats short where exact)."""
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return quote(str(value))
