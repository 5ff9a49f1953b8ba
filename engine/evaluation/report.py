"""Write an evaluation to a folder: the figures, ``evaluation.json`` and ``MODEL_CARD.md``."""

from __future__ import annotations

from pathlib import Path

from engine.atomic import output_folder, write_json, write_text
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
    paths["json"] = write_json(out / "evaluation.json", summary)
    paths["card"] = write_text(out / "MODEL_CARD.md", model_card(evaluation, out))
    return paths
