"""Quantitative benchmarks of the 3D methods on synthetic data with ground truth.

`engine.benchmarks.shape` scores depth predictors (SIDE / MAD); methods join its table by
registering a factory with `register_depth_predictor`.
"""

from engine.benchmarks.shape import (
    DEPTH_PREDICTORS,
    DepthPrediction,
    DepthPredictor,
    ShapeBenchmarkResult,
    ShapeBenchmarkSettings,
    ShapeInputs,
    ShapeScores,
    register_depth_predictor,
    run_shape_benchmark,
)

__all__ = [
    "DEPTH_PREDICTORS",
    "DepthPrediction",
    "DepthPredictor",
    "ShapeBenchmarkResult",
    "ShapeBenchmarkSettings",
    "ShapeInputs",
    "ShapeScores",
    "register_depth_predictor",
    "run_shape_benchmark",
]
