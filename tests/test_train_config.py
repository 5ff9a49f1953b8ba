"""The training config: channel specs, JSON round trip, unknown keys, resume rules, CLI mapping."""

from __future__ import annotations

import math
import shlex
from pathlib import Path

import pytest

from engine.cli import build_parser
from engine.cli.train import config_from_args
from engine.errors import GANliftError
from engine.stylegan2 import Discriminator, Generator
from engine.stylegan2.training import TrainConfig, default_channels, parse_channels
from engine.stylegan2.training.command import train_command


def test_parse_channels_caps_the_common_layout_or_takes_a_list() -> None:
    assert parse_channels("256", 64) == [256] * 5
    assert parse_channels("1000", 128) == [512, 512, 512, 512, 512, 256]
    assert parse_channels("64,64,32,16", 32) == [64, 64, 32, 16]
    with pytest.raises(GANliftError, match="one per resolution"):
        parse_channels("64,32", 32)
    with pytest.raises(GANliftError, match="not a number"):
        parse_channels("wide", 32)


def test_default_model_has_about_five_million_parameters_per_network() -> None:
    config = TrainConfig()
    g_params = sum(p.numel() for p in Generator(config.generator_config()).parameters())
    d_params = sum(p.numel() for p in Discriminator(config.discriminator_config()).parameters())
    assert 4e6 < g_params < 5e6 and 4e6 < d_params < 5e6
    assert default_channels(32) == config.channels[:4]
    assert len(default_channels(256)) == 7


def test_config_json_round_trip_and_unknown_keys(tmp_path: Path) -> None:
    config = TrainConfig(size=32, batch=8, adam_betas=(0.1, 0.9), ema_rampup=None)
    config.save_json(tmp_path / "config.json")
    assert TrainConfig.load_json(tmp_path / "config.json") == config
    data = config.to_dict() | {"learning_rate": 0.1}
    with pytest.raises(GANliftError, match=r"unknown keys \['learning_rate'\]"):
        TrainConfig.from_dict(data)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(
        GANliftError, match=r"^Training setting batch \(--batch\) must be a positive finite number"
    ):
        TrainConfig(batch=0)
    for setting in ({"kimg": math.nan}, {"kimg": math.inf}, {"g_lr": -1.0}, {"d_lr": math.nan}):
        (name,) = setting
        with pytest.raises(
            GANliftError, match=f"{name} (\\(--[a-z0-9-]+\\) )?must be a positive finite number"
        ):
            TrainConfig(**setting)
    for setting in ({"ema_kimg": 0.0}, {"ema_kimg": math.nan}):  # nan: half the weights nan
        with pytest.raises(
            GANliftError, match=r"ema_kimg \(--ema-kimg\) must be a positive finite number"
        ):
            TrainConfig(**setting)
    for name in ("r1_gamma", "pl_weight", "pl_decay", "cache_limit_mb", "ema_rampup"):
        for value in (math.nan, math.inf, -1.0):  # r1_gamma nan made a model of nans
            with pytest.raises(
                GANliftError, match=f"{name} (\\(--[a-z0-9-]+\\) )?must be a finite"
            ) as refused:
                TrainConfig(**{name: value})
            assert ("nan weights" in str(refused.value)) == math.isnan(value)  # -1 is no nan
    assert TrainConfig(r1_gamma=0.0, pl_weight=0.0, ema_rampup=None).r1_gamma == 0.0
    for name in ("g_lr", "d_lr"):  # 1e300 overflowed float32 in the optimiser's first step
        with pytest.raises(
            GANliftError, match=f"{name} \\(--lr\\) must be at most 1 .*, got 1e\\+300"
        ):
            TrainConfig(**{name: 1e300})
    with pytest.raises(GANliftError, match=r"^Training setting channels \(--channels\) \[8, 8\]"):
        TrainConfig(size=32, channels=[8, 8])
    with pytest.raises(GANliftError, match=r"channels \(--channels\) must be a list of widths"):
        TrainConfig.from_dict({"size": 32, "channels": "8888"})  # was read as [8, 8, 8, 8]
    with pytest.raises(GANliftError, match=r"channels \(--channels\) must be a whole number"):
        TrainConfig.from_dict({"size": 32, "channels": [8, 8, 8, math.inf]})  # OverflowError
    for seed in (-1, 10**30):  # -1 was taken, 10**30 overflowed torch's manual_seed mid-run
        with pytest.raises(GANliftError, match=r"seed \(--seed\) must be a whole number from 0"):
            TrainConfig(seed=seed)
    with pytest.raises(
        GANliftError, match=r"mixing_prob \(--mixing-prob\) is a probability from 0"
    ):
        TrainConfig(mixing_prob=1.5)
    with pytest.raises(GANliftError, match=r"precision \(--precision\) 'fp16' is unknown"):
        TrainConfig(precision="fp16")
    with pytest.raises(GANliftError, match=r"size \(--size\) 48 is not supported; use a power"):
        TrainConfig(size=48)


def test_only_schedule_fields_may_change_on_resume() -> None:
    base = TrainConfig()
    assert base.fixed_differences(TrainConfig(kimg=999, precision="fp32", log_every=5)) == []
    assert base.fixed_differences(TrainConfig(batch=32, seed=3)) == ["batch", "seed"]


def test_cli_options_map_onto_the_config() -> None:
    command = "train-gan --data d --size 32 --channels 128 --lr 0.001 --no-xflip --kimg 10"
    args = build_parser().parse_args([*command.split(), "--batch", "8"])
    config = config_from_args(args)
    assert config == TrainConfig(
        size=32, channels=[128] * 4, g_lr=0.001, d_lr=0.001, xflip=False, kimg=10.0, batch=8
    )
    defaults = config_from_args(build_parser().parse_args(["train-gan", "--data", "d"]))
    assert defaults == TrainConfig()


def test_the_model_cards_command_gives_back_the_runs_settings() -> None:
    """The card's `train-gan ... --resume` line must carry every setting that differs from
    the defaults: without --n-mlp 2 a tiny run's resume was refused (n_mlp 2 -> 8)."""
    config = TrainConfig(
        size=32, channels=[16, 16, 16, 16], style_dim=32, n_mlp=2, batch=4, kimg=1234.5678,
        g_lr=0.0025, d_lr=0.0025, r1_gamma=0.0123456789, mixing_prob=0.5, xflip=False, seed=7,
        snapshot_kimg=1.0, sample_weights="my weights.json",
    )  # fmt: skip
    command = train_command(config, "My Photos/cars", "runs/my run")
    assert command.startswith("python -m engine train-gan --data 'My Photos/cars' --out")
    assert command.endswith("--resume")
    args = build_parser().parse_args(shlex.split(command)[3:])
    assert config_from_args(args) == config
    assert (args.data, args.out) == ("My Photos/cars", "runs/my run")
