"""The `train-gan` command line of a `TrainConfig`: which fields its options set one for one,
and the command that resumes (or reproduces) a run. The CLI builds its options from the same
table, and a model card prints the command."""

from __future__ import annotations

from pathlib import Path
from shlex import quote

from engine.stylegan2.training.config import CONFIG_OPTIONS, TrainConfig

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
