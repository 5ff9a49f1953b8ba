"""The README's GAN2Shape figure script: one row per run folder, the views in the order the
run asked for them, and one sentence for a folder that holds no finished run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import GANliftError
from engine.gan2shape import ViewSpec
from engine.images import save_image
from scripts.gan2shape_figure import MAPS, row

VIEWS = (ViewSpec(30.0, 0.0), ViewSpec(-30.0, 0.0), ViewSpec(0.0, 0.0, (0.8, -0.3)))


def run_folder(folder: Path) -> Path:
    """A finished run's maps and its views, each view a flat grey of its own level."""
    (folder / "views").mkdir(parents=True)
    for name in MAPS:
        if name != "depth":
            save_image(torch.zeros(1, 3, 8, 8), folder / f"{name}.png")
    np.save(folder / "depth.npy", np.linspace(0.9, 1.1, 64, dtype=np.float32).reshape(8, 8))
    for level, view in zip((-0.5, 0.0, 0.5), VIEWS, strict=True):
        save_image(torch.full((1, 3, 8, 8), level), folder / "views" / f"render_{view.name}.png")
    outputs = {"views": [view.text for view in VIEWS], "frames": 3}
    (folder / "summary.json").write_text(json.dumps({"outputs": outputs}))
    return folder


def test_views_follow_the_order_the_run_asked_for(tmp_path: Path) -> None:
    cells = row(run_folder(tmp_path / "run"), 16)
    assert len(cells) == len(MAPS) + len(VIEWS)
    levels = [float(cell.mean()) for cell in cells[len(MAPS) :]]
    assert levels == pytest.approx([-0.5, 0.0, 0.5], abs=0.01)  # not sorted by file name


def test_a_folder_without_a_finished_run_is_one_sentence(tmp_path: Path) -> None:
    folder = run_folder(tmp_path / "run")
    (folder / "summary.json").unlink()
    with pytest.raises(GANliftError, match="is not a finished reconstruct output folder"):
        row(folder, 16)
    (folder / "depth.npy").unlink()  # a folder holding pictures alone: FileNotFoundError
    with pytest.raises(GANliftError, match="is not a finished reconstruct output folder"):
        row(folder, 16)
