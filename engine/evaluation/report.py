"""Write an evaluation to a folder: the figures, ``evaluation.json`` and ``MODEL_CARD.md``."""

from __future__ import annotations

import json
from pathlib import Path

from engine.atomic import atomic_path, output_folder
from engine.evaluation.card import FIGURE_FILES, model_card
from engine.evaluation.evaluate import GanEvaluation
from engine.images import save_image


def write_evaluation(evaluation: GanEvaluation, out_dir: str | Path) -> dict[str, Path]:
    """Write every output of `evaluation` into `out_dir`; returns the path of each by name."""
    out = output_folder(out_dir)
    figures = {
        "samples": evaluation.sample_grid,
        "inversion": evaluation.inversion.figure,
        "view_swap": evaluation.view_swap.matrix,
        "view_layers": evaluation.view_swap.analysis_figure,
    }
    paths = {name: save_image(image, out / FIGURE_FILES[name]) for name, image in figures.items()}
    summary = evaluation.summary() | {"figures": FIGURE_FILES}
    paths["json"] = _write_text(out / "evaluation.json", json.dumps(summary, indent=2) + "\n")
    paths["card"] = _write_text(out / "MODEL_CARD.md", model_card(evaluation))
    return paths


def _write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return path
