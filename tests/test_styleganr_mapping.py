"""Mapping-network training: the cycle term, what each step is fed, resuming and the periodic
state file."""

from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.errors import GANliftError
from engine.styleganr import StyleGANR, encode_image, sample, train_mapping
from engine.styleganr.config_io import read_state
from engine.styleganr.mapping import camera_features
from engine.styleganr.model import MODEL_FORMAT
from engine.styleganr.train_mapping import MappingTrainConfig, mapping_losses
from engine.styleganr.view_codes import sample_w
from tests.tiny import tiny_styleganr

MODULE = importlib.import_module("engine.styleganr.train_mapping")  # not the function


@pytest.fixture(scope="module")
def model() -> StyleGANR:
    return tiny_styleganr()


def _train(model: StyleGANR, state: Path, **settings: float) -> StyleGANR:
    config = MappingTrainConfig(**({"hidden": 32, "batch_size": 4, "view_fit_steps": 0} | settings))
    return train_mapping(
        model.generator, model.inverse_graphics, model.views, config, state_path=state
    )


def test_the_cycle_term_is_the_weighted_error_of_every_code_read_back(model: StyleGANR) -> None:
    """Shape, texture, background and camera features all count, times cycle_weight."""
    codes = sample(model, 2, seed=3).codes
    config = MappingTrainConfig(hidden=32, cycle_weight=2.0)
    with torch.no_grad():
        wplus = model.mapping(codes) + 0.1
        cycle = mapping_losses(model, wplus, codes, config, cycle=True)["cycle"]
        again = encode_image(
            model.inverse_graphics, model.generator.synthesis(model.mapping(codes)), codes.camera
        )
    errors = [
        (again.shape - codes.shape).square().mean(),
        (again.texture - codes.texture).square().mean(),
        (again.background - codes.background).square().mean(),
        (camera_features(again.camera) - camera_features(codes.camera)).square().mean(),
    ]
    assert all(error > 0 for error in errors)
    torch.testing.assert_close(cycle, 2.0 * sum(errors))


def test_each_sample_is_read_with_its_view_codes_camera_at_the_configs_truncation(
    model: StyleGANR, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Content w is drawn at the config's truncation, the codes of each sample are read with
    the camera labelled for the view code it was given, and the mapping starts from the mean
    of 1024 untruncated w."""
    truncations: list[float] = []
    given: list[tuple[torch.Tensor, torch.Tensor]] = []
    draw, read, combine = MODULE.sample_w, MODULE.encode_image, MODULE.compose

    def recorded_draw(generator, count, *, seed, truncation):
        truncations.append(truncation)
        return draw(generator, count, seed=seed, truncation=truncation)

    def recorded_compose(view_codes, content, num_ws):
        given.append((view_codes, torch.empty(0)))
        return combine(view_codes, content, num_ws)

    def recorded_read(network, images, cameras):
        given[-1] = (given[-1][0], cameras)
        return read(network, images, cameras)

    monkeypatch.setattr(MODULE, "sample_w", recorded_draw)
    monkeypatch.setattr(MODULE, "compose", recorded_compose)
    monkeypatch.setattr(MODULE, "encode_image", recorded_read)
    trained = _train(model, tmp_path / "model.pt", steps=2, warmup_steps=5, truncation=0.5)
    assert truncations == [1.0, 0.5, 0.5]
    labelled = model.views.labelled()
    for view_codes, cameras in given:
        for code, camera in zip(view_codes, cameras, strict=True):
            [index] = [k for k, known in enumerate(model.views.codes) if torch.equal(code, known)]
            assert torch.equal(camera, labelled[index])
    mean_w = sample_w(model.generator, 1024, seed=0, truncation=1.0).mean(0)
    torch.testing.assert_close(trained.mapping.mean_w.reshape(mean_w.shape), mean_w)


def test_a_resumed_run_draws_new_batches_keeps_its_optimiser_and_checks_the_cameras(
    model: StyleGANR, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resuming continues the data stream (not its first batches again) and Adam's state, and
    refuses view codes whose cameras were relabelled."""
    batches: list[torch.Tensor] = []
    losses = MODULE.mapping_losses

    def recorded(model_, wplus, codes, config, *, cycle):
        batches.append(wplus)
        return losses(model_, wplus, codes, config, cycle=cycle)

    monkeypatch.setattr(MODULE, "mapping_losses", recorded)
    state = tmp_path / "model.pt"
    _train(model, state, steps=2, warmup_steps=5)
    _train(model, state, steps=3, warmup_steps=5)
    assert len(batches) == 3 and not torch.equal(batches[2], batches[0])
    optimiser = read_state(state, MODEL_FORMAT)["training"]["optimiser"]
    assert int(optimiser["state"][0]["step"]) == 3
    relabelled = replace(model.views, cameras=model.views.labelled() + 1)
    config = MappingTrainConfig(hidden=32, batch_size=4, view_fit_steps=0, steps=4, warmup_steps=5)
    with pytest.raises(GANliftError, match="another inverse graphics network or other view"):
        train_mapping(model.generator, model.inverse_graphics, relabelled, config, state_path=state)


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(model: StyleGANR, tmp_path) -> None:
    """The batches' random generator restarted from seed + step: 51 tensors differed."""
    straight = _train(model, tmp_path / "straight.pt", steps=4, warmup_steps=2)
    _train(model, tmp_path / "resumed.pt", steps=1, warmup_steps=2)
    resumed = _train(model, tmp_path / "resumed.pt", steps=4, warmup_steps=2)
    for key, value in straight.mapping.state_dict().items():
        torch.testing.assert_close(resumed.mapping.state_dict()[key], value, rtol=0, atol=0)


def test_a_run_that_fails_midway_keeps_its_last_periodic_state(
    model: StyleGANR, tmp_path: Path
) -> None:
    """The model file is saved every checkpoint_every steps, so a crash loses at most that
    many; checkpoint_every must be at least 1."""

    def progress(step: int, total: int, message: str) -> None:
        if step == 3:
            raise RuntimeError("interrupted")

    config = MappingTrainConfig(
        hidden=32, batch_size=2, view_fit_steps=0, steps=5, warmup_steps=5, checkpoint_every=2
    )
    state = tmp_path / "model.pt"
    with pytest.raises(RuntimeError, match="interrupted"):
        train_mapping(
            model.generator, model.inverse_graphics, model.views, config, state_path=state,
            progress=progress,
        )  # fmt: skip
    assert read_state(state, MODEL_FORMAT)["training"]["step"] == 2
    with pytest.raises(GANliftError, match="checkpoint_every must be at least 1"):
        MappingTrainConfig(checkpoint_every=0)


def test_the_camera_branch_is_fitted_for_its_own_steps_at_its_own_rate(
    model: StyleGANR, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new run fits the view layers for view_fit_steps at view_fit_learning_rate, not the
    warm-up's length or the networks' rate."""
    options: list[dict] = []
    fit = MODULE.fit_view_layers

    def recorded_fit(*args, **given):
        options.append(given)
        return fit(*args, **given)

    monkeypatch.setattr(MODULE, "fit_view_layers", recorded_fit)
    _train(
        model, tmp_path / "model.pt", steps=1, warmup_steps=4, view_fit_steps=3,
        view_fit_learning_rate=5e-3,
    )  # fmt: skip
    [given] = options
    assert (given["steps"], given["learning_rate"]) == (3, 5e-3)


def test_a_state_without_its_generator_state_resumes_drawing_from_seed_plus_step(
    model: StyleGANR, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state from before the batches' generator was kept continues from seed + step: its
    next batch is the first batch of a new run seeded with seed + step."""
    batches: list[torch.Tensor] = []
    losses = MODULE.mapping_losses

    def recorded(model_, wplus, codes, config, *, cycle):
        batches.append(wplus)
        return losses(model_, wplus, codes, config, cycle=cycle)

    state = tmp_path / "model.pt"
    _train(model, state, steps=1, warmup_steps=5)
    saved = torch.load(state, weights_only=True)
    del saved["training"]["rng"]
    torch.save(saved, state)
    monkeypatch.setattr(MODULE, "mapping_losses", recorded)
    _train(model, state, steps=2, warmup_steps=5)
    _train(model, tmp_path / "seed-1.pt", steps=1, warmup_steps=5, seed=1)
    _train(model, tmp_path / "seed-0.pt", steps=1, warmup_steps=5, seed=0)
    resumed, seed_1, seed_0 = batches
    assert torch.equal(resumed, seed_1) and not torch.equal(seed_1, seed_0)
