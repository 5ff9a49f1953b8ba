"""Library calls leave torch's global random stream as they found it: a notebook's
`torch.manual_seed(0)`, then a model load or a training run, then `torch.rand(...)` draws the
same numbers as without the call between (loads drew random initial weights only to replace
them, and the trainings reseeded the global generator with their own seed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.evaluation.regressor import fit_label_regressor
from engine.gan2shape import load_model
from engine.stylegan2 import load_checkpoint
from engine.stylegan2.training.state import TrainingState
from engine.styleganr import load_styleganr
from engine.styleganr.labelling import LabellerConfig, load_view_labeller, train_view_labeller
from engine.styleganr.train_inverse import (
    InverseGraphicsTrainConfig,
    load_inverse_graphics,
    train_inverse_graphics,
)
from engine.styleganr.train_mapping import MappingTrainConfig, train_mapping
from engine.styleganr.view_codes import gan_view_pairs
from tests.tiny import tiny_checkpoint, tiny_styleganr, tiny_train_config


def tiny_inverse_training(path: Path) -> Callable[[], object]:
    model = tiny_styleganr()
    pairs = gan_view_pairs(model.generator, model.views, lambda images: images[:, :1] > 0)
    config = InverseGraphicsTrainConfig(
        network=model.inverse_graphics.config, steps=1, batch_size=2, checkpoint_every=1
    )
    return lambda: train_inverse_graphics(pairs, config, state_path=path / "inverse.pt")


def tiny_inverse_load(path: Path) -> Callable[[], object]:
    tiny_inverse_training(path)()
    return lambda: load_inverse_graphics(path / "inverse.pt")


def tiny_mapping_training(path: Path) -> Callable[[], object]:
    model = tiny_styleganr()
    config = MappingTrainConfig(hidden=32, warmup_steps=1, steps=1, batch_size=1)
    return lambda: train_mapping(
        model.generator, model.inverse_graphics, model.views, config, state_path=path / "m.pt"
    )


def tiny_checkpoint_load(path: Path) -> Callable[[], object]:
    checkpoint = tiny_checkpoint(path / "g", 16)
    return lambda: load_checkpoint(checkpoint)


# Each library call, made ready (its inputs drawn) by a function of a scratch folder.
CALLS: dict[str, Callable[[Path], Callable[[], object]]] = {
    "load_checkpoint": tiny_checkpoint_load,
    "load_model": lambda path: lambda: load_model("default-face"),
    "load_styleganr": lambda path: lambda: load_styleganr("default-car-styleganr"),
    "load_view_labeller": lambda path: lambda: load_view_labeller("default-car-labeller"),
    "TrainingState.create": lambda path: (
        lambda: TrainingState.create(tiny_train_config(), torch.device("cpu"))
    ),
    "train_view_labeller": lambda path: (
        lambda: train_view_labeller(
            LabellerConfig(image_size=16, width=4, steps=1, batch_size=2, checkpoint_every=1),
            state_path=path / "labeller.pt",
            image_size=16,
        )
    ),
    "train_inverse_graphics": tiny_inverse_training,
    "load_inverse_graphics": tiny_inverse_load,
    "train_mapping": tiny_mapping_training,
    "fit_label_regressor": lambda path: (
        lambda: fit_label_regressor(
            torch.linspace(-1, 1, 4 * 3 * 8 * 8).reshape(4, 3, 8, 8),
            torch.arange(8.0).reshape(4, 2),
            steps=1,
        )
    ),
}


@pytest.mark.parametrize("name", CALLS)
def test_a_library_call_leaves_the_caller_s_random_stream_alone(name: str, tmp_path) -> None:
    call = CALLS[name](tmp_path)
    torch.manual_seed(1234)
    expected = torch.rand(4)
    torch.manual_seed(1234)
    call()
    assert torch.equal(torch.rand(4), expected)


def test_a_training_run_starts_the_same_whatever_the_caller_s_seed(tmp_path) -> None:
    config = LabellerConfig(image_size=16, width=4, steps=1, batch_size=2, checkpoint_every=1)
    weights = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        labeller = train_view_labeller(config, state_path=tmp_path / f"{seed}.pt", image_size=16)
        weights.append(next(labeller.parameters()).detach().clone())
    assert torch.equal(*weights)
    other = train_view_labeller(
        replace(config, seed=config.seed + 1), state_path=tmp_path / "3.pt", image_size=16
    )
    assert not torch.equal(next(other.parameters()), weights[0])
