"""Atomic writes give files the mode a plain write would: mkstemp's temporaries are 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import torch

from engine.atomic import save_torch
from engine.images import save_image


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_umask_default_like_open(tmp_path: Path) -> None:
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"")
    saved = save_image(torch.zeros(3, 4, 4), tmp_path / "image.png")
    assert mode_of(saved) == mode_of(plain)
    assert mode_of(save_torch({"x": torch.ones(1)}, tmp_path / "x.pt")) == mode_of(plain)


def test_overwriting_keeps_the_files_own_mode(tmp_path: Path) -> None:
    path = tmp_path / "latent.pt"
    save_torch({"x": torch.ones(1)}, path)
    os.chmod(path, 0o640)
    save_torch({"x": torch.zeros(1)}, path)
    assert mode_of(path) == 0o640
    assert torch.load(path, weights_only=True)["x"].item() == 0
