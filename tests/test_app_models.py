"""The app's model store: a model loads once and is shared, a checkpoint replaced on disk is
loaded again, and beyond its capacity the least recently used model goes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from app.models import ModelChoice, ModelStore, resolve_model
from engine.errors import GANliftError
from tests.e2e.tiny_model import write_tiny_cars_model, write_tiny_model


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    """Three copies of the tiny model, and its preset."""
    folder = tmp_path_factory.mktemp("models")
    checkpoint, preset = write_tiny_model(folder)
    copies = [folder / f"{name}.pt" for name in ("b", "c")]
    for copy in copies:
        shutil.copy(checkpoint, copy)
    return checkpoint, *copies, preset


def choice(path: Path, preset: Path) -> ModelChoice:
    return ModelChoice(path.stem, path, str(preset))


def test_a_model_loads_once_until_its_file_changes(files, tmp_path: Path) -> None:
    first, *_, preset = files
    own = tmp_path / "own.pt"
    shutil.copy(first, own)
    store = ModelStore(torch.device("cpu"))
    loaded = store.load(choice(own, preset))
    assert store.load(choice(own, preset)) is loaded
    later = own.stat().st_mtime_ns + 10**9
    os.utime(own, ns=(later, later))  # the checkpoint was replaced
    assert store.load(choice(own, preset)) is not loaded


def test_the_least_recently_used_model_goes_beyond_the_capacity(files) -> None:
    a, b, c, preset = files
    store = ModelStore(torch.device("cpu"), capacity=2)
    first = store.load(choice(a, preset))
    second = store.load(choice(b, preset))
    assert store.load(choice(a, preset)) is first  # a is now the most recent
    third = store.load(choice(c, preset))  # so b goes
    assert store.load(choice(c, preset)) is third and store.load(choice(a, preset)) is first
    assert store.load(choice(b, preset)) is not second  # loaded again


def test_a_checkpoint_that_is_no_regular_file_is_told_so() -> None:
    """/dev/zero was told 'does not exist'."""
    device = ModelChoice("/dev/zero", Path("/dev/zero"), None)
    assert not device.installed
    assert device.missing_message == (
        "Checkpoint /dev/zero is not a regular file; give a checkpoint file."
    )


def test_a_store_keeps_the_face_and_the_cars_model_at_once(files) -> None:
    """The default capacity holds a page's two models: switching tabs does not reload them."""
    a, b, _, preset = files
    store = ModelStore(torch.device("cpu"))
    first = store.load(choice(a, preset))
    store.load(choice(b, preset))
    assert store.load(choice(a, preset)) is first


def test_a_cars_model_replaced_on_disk_is_loaded_again(files, tmp_path: Path) -> None:
    checkpoint, *_ = files
    own = tmp_path / checkpoint.name
    shutil.copy(checkpoint, own)
    cars = write_tiny_cars_model(own)
    store = ModelStore(torch.device("cpu"))
    loaded = store.load_cars(cars)
    assert store.load_cars(cars) is loaded
    later = cars.stat().st_mtime_ns + 10**9
    os.utime(cars, ns=(later, later))
    assert store.load_cars(cars) is not loaded


def test_a_named_model_takes_the_category_asked_for_and_spaces_around_it_go(
    tmp_path: Path,
) -> None:
    assert resolve_model("default-car", "face", models_dir=tmp_path).category == "face"
    assert resolve_model("default-car", models_dir=tmp_path).category == "default-car"
    padded = resolve_model(" default-face ", models_dir=tmp_path)
    assert padded.name == "default-face" and padded.category == "default-face"
    with pytest.raises(GANliftError, match="No model given"):
        resolve_model("   ")
