"""Evaluation of StyleGAN2 checkpoints against the default models' quality goals.

`evaluate_gan` measures a checkpoint (sample grid, inversion PSNR on held-out renders,
view-swap analysis, coverage of viewpoint and light); `write_evaluation` writes its figures,
``evaluation.json`` and ``MODEL_CARD.md``; `write_examples` saves held-out renders for the app.
"""

from engine.evaluation.balance import SampleWeights, coverage_weights
from engine.evaluation.coverage import (
    COVERAGE_GOAL,
    CoverageReader,
    CoverageResult,
    LabelSpread,
    evaluate_coverage,
)
from engine.evaluation.evaluate import EvaluationConfig, GanEvaluation, evaluate_gan
from engine.evaluation.examples import EXAMPLE_SEED, write_examples
from engine.evaluation.inversion_psnr import PSNR_GOAL_DB, InversionEvaluation, evaluate_inversion
from engine.evaluation.labels import LABEL_SETS, LabelSet, car_orbit, label_set
from engine.evaluation.regressor import (
    LabelRegressor,
    RegressorFit,
    fit_label_regressor,
    predict_labels,
    r_squared,
)
from engine.evaluation.report import write_evaluation
from engine.evaluation.training_run import TrainingRun, read_training_run
from engine.evaluation.view_swap import ViewSwapEvaluation, evaluate_view_swap

__all__ = [
    "COVERAGE_GOAL",
    "EXAMPLE_SEED",
    "LABEL_SETS",
    "PSNR_GOAL_DB",
    "CoverageReader",
    "CoverageResult",
    "EvaluationConfig",
    "GanEvaluation",
    "InversionEvaluation",
    "LabelRegressor",
    "LabelSet",
    "LabelSpread",
    "RegressorFit",
    "SampleWeights",
    "TrainingRun",
    "ViewSwapEvaluation",
    "car_orbit",
    "coverage_weights",
    "evaluate_coverage",
    "evaluate_gan",
    "evaluate_inversion",
    "evaluate_view_swap",
    "fit_label_regressor",
    "label_set",
    "predict_labels",
    "r_squared",
    "read_training_run",
    "write_evaluation",
    "write_examples",
]
