"""The app's model store: a model loads once and is shared, a checkpoint replaced on disk is
loaded again, and beyond its capacity the least recently used model goes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from app.models import ModelChoice, ModelStore
from tests.e2e.tiny_model import write_tiny_model


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
