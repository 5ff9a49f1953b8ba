"""Library calls leave torch's global random stream as they found it: a notebook's
`torch.manual_seed(0)`, then a model load or a training run, then `torch.rand(...)` draws the
same numbers as without the call between (loads drew random initial weights only to replace
them, and the trainings reseeded the global generator with their own seed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pytest
import torch

from engine.evaluation.regressor import fit_label_regressor
from engine.gan2shape import load_model, load_state, recover
from engine.gan2shape.pretrained_files import load_pretrained
from engine.perceptual import (
    LPIPS_VGG_WEIGHTS,
    VGG16_WEIGHTS,
    DiscriminatorFeatureLoss,
    load_lpips,
)
from engine.randomness import global_rng_kept
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
from tests.test_perceptual_lpips import official_lpips_state, official_vgg16_state
from tests.tiny import (
    tiny_checkpoint,
    tiny_gan,
    tiny_gan2shape_preset,
    tiny_styleganr,
    tiny_train_config,
)


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


def tiny_lpips_load(path: Path) -> Callable[[], object]:
    hub = path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    torch.save(official_vgg16_state(0), hub / "checkpoints" / VGG16_WEIGHTS.file_name)
    torch.save(official_lpips_state(1), hub / "checkpoints" / LPIPS_VGG_WEIGHTS.file_name)

    def load() -> object:
        with mock.patch.object(torch.hub, "get_dir", lambda: str(hub)):
            return load_lpips()

    return load


def tiny_state_load(path: Path) -> Callable[[], object]:
    tiny_recovery_depth(path, 0, checkpoint=path / "state.pt")
    return lambda: load_state(path / "state.pt")


def pretrained_load(path: Path) -> Callable[[], object]:
    model = load_model("default-face")
    return lambda: load_pretrained(model.pretrained, model.preset, model.generator)


def tiny_checkpoint_load(path: Path) -> Callable[[], object]:
    checkpoint = tiny_checkpoint(path / "g", 16)
    return lambda: load_checkpoint(checkpoint)


# Each library call, made ready (its inputs drawn) by a function of a scratch folder.
CALLS: dict[str, Callable[[Path], Callable[[], object]]] = {
    "load_checkpoint": tiny_checkpoint_load,
    "load_model": lambda path: lambda: load_model("default-face"),
    "load_pretrained": pretrained_load,
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
    "load_lpips": tiny_lpips_load,
    "load_state": tiny_state_load,
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


def first_weight(module: torch.nn.Module) -> torch.Tensor:
    return next(module.parameters()).detach().clone()


def made_alike(make: Callable[[], object]) -> object:
    """`make()` drawn from seed 0 whatever the caller's stream (tiny networks start random)."""
    with global_rng_kept(0):
        return make()


def tiny_recovery_depth(path: Path, seed: int, **options: object) -> torch.Tensor:
    G, D = made_alike(lambda: tiny_gan(16))
    latent = G.mean_latent(8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        image = G.synthesis(latent).clamp(-1, 1)
    preset = tiny_gan2shape_preset(16, num_stages=1, prior_steps=1, inversion_steps=1)
    perceptual = DiscriminatorFeatureLoss(D)
    return recover(
        G, D, image, preset=preset, latent=latent, perceptual=perceptual, seed=seed, **options
    ).depth


def seeded_inverse_training(path: Path, seed: int) -> object:
    model = made_alike(tiny_styleganr)
    pairs = gan_view_pairs(model.generator, model.views, lambda images: images[:, :1] > 0)
    config = InverseGraphicsTrainConfig(
        network=model.inverse_graphics.config, steps=1, batch_size=2, checkpoint_every=1, seed=seed
    )
    return train_inverse_graphics(pairs, config, state_path=path / "inverse.pt")


def seeded_mapping_training(path: Path, seed: int) -> object:
    model = made_alike(tiny_styleganr)
    config = MappingTrainConfig(hidden=32, warmup_steps=1, steps=1, batch_size=1, seed=seed)
    return train_mapping(
        model.generator, model.inverse_graphics, model.views, config, state_path=path / "m.pt"
    )


# Each seeded run, as a function of a scratch folder and its own seed, returning what it made.
SEEDED: dict[str, Callable[[Path, int], torch.Tensor]] = {
    "train_view_labeller": lambda path, seed: first_weight(
        train_view_labeller(
            LabellerConfig(
                image_size=16, width=4, steps=1, batch_size=2, checkpoint_every=1, seed=seed
            ),
            state_path=path / "labeller.pt",
            image_size=16,
        )
    ),
    "fit_label_regressor": lambda path, seed: first_weight(
        fit_label_regressor(
            torch.linspace(-1, 1, 4 * 3 * 8 * 8).reshape(4, 3, 8, 8),
            torch.arange(8.0).reshape(4, 2),
            steps=1,
            seed=seed,
        ).model
    ),
    "TrainingState.create": lambda path, seed: first_weight(
        TrainingState.create(tiny_train_config(seed=seed), torch.device("cpu")).generator
    ),
    "recover": tiny_recovery_depth,
    "train_inverse_graphics": lambda path, seed: first_weight(
        seeded_inverse_training(path, seed).network
    ),
    "train_mapping": lambda path, seed: first_weight(seeded_mapping_training(path, seed).mapping),
}


@pytest.mark.parametrize("name", SEEDED)
def test_a_seeded_run_is_the_same_whatever_the_caller_s_seed(name: str, tmp_path) -> None:
    """A run's own seed, not the caller's global one, sets its start: from the command line,
    where torch's start-up seed is random, results would otherwise not repeat."""
    made = []
    for caller, own in ((1, 0), (2, 0), (1, 1)):
        torch.manual_seed(caller)
        made.append(SEEDED[name](tmp_path / f"{caller}-{own}", own))
    assert torch.equal(made[0], made[1]) and not torch.equal(made[0], made[2])
