"""The shape benchmark: depth and normal accuracy on synthetic test images, like the BFM table
of Unsup3d and GAN2Shape (SIDE ×10⁻² and MAD in degrees, mean ± std over images).

Test images come from test seeds (`engine.synth.seeds`), disjoint from anything a method or
baseline may learn from. Each method is a *depth predictor* registered under a name: a
factory that, given the benchmark's settings, returns a function from a batch of inputs
(images and object masks) to depth maps in the image view, with where the predicted surface
covers the image. Normals of both the prediction and the ground truth come from their depth
maps (`engine.render.normals_from_depth`), and both metrics average over the pixels that the
ground-truth object and the predicted surface both cover, each mask eroded by one pixel, as in
Unsup3d's evaluation (its `mask_gt * mask_pred`): a depth map drawn in a turned view leaves
uncovered what its canonical view hid, and those pixels hold no prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from engine.atomic import write_json
from engine.device import resolve_device
from engine.errors import GANliftError
from engine.gan2shape.prior import PriorBoxPreset, ellipsoid_prior
from engine.metrics import mad, side
from engine.progress import ProgressFn, no_progress
from engine.render import normals_from_depth
from engine.synth import CATEGORIES, SEED_RANGES, render_samples, seed_run


@dataclass(frozen=True)
class ShapeBenchmarkSettings:
    """What a predictor factory may know about the benchmark it is set up for."""

    category: str
    size: int
    device: torch.device
    train_samples: int
    """How many training renders (seeds from the start of the train range) a baseline may use."""
    batch_size: int


@dataclass(frozen=True)
class ShapeInputs:
    """What a depth predictor sees of a batch of test images."""

    image: torch.Tensor
    """``[N, 3, H, W]`` in [-1, 1]."""
    mask: torch.Tensor
    """``[N, H, W]`` true object masks (baselines may use them; GAN2Shape's rows make their
    own, as for an upload)."""


@dataclass(frozen=True)
class DepthPrediction:
    """What a depth predictor returns for a batch of inputs."""

    depth: torch.Tensor
    """``[N, H, W]`` positive depth in the image view."""
    covered: torch.Tensor | None = None
    """``[N, H, W]`` float {0, 1}: where the predicted surface covers the image; None: all of it."""


DepthPredictor = Callable[[ShapeInputs], DepthPrediction]
"""Maps a batch of inputs to its depth prediction."""

PredictorFactory = Callable[[ShapeBenchmarkSettings], DepthPredictor]

DEPTH_PREDICTORS: dict[str, PredictorFactory] = {}
"""Registered methods, in table order: display name → factory."""


def register_depth_predictor(name: str) -> Callable[[PredictorFactory], PredictorFactory]:
    """Decorator adding a predictor factory to `DEPTH_PREDICTORS` under `name`."""

    def register(factory: PredictorFactory) -> PredictorFactory:
        if name in DEPTH_PREDICTORS:
            raise ValueError(f"A depth predictor named '{name}' is already registered")
        DEPTH_PREDICTORS[name] = factory
        return factory

    return register


@register_depth_predictor("const. null depth")
def constant_depth(settings: ShapeBenchmarkSettings) -> DepthPredictor:
    """A flat surface: every pixel at depth 1."""
    return lambda inputs: DepthPrediction(torch.ones_like(inputs.mask))


@register_depth_predictor("average g.t. depth")
def average_depth(settings: ShapeBenchmarkSettings) -> DepthPredictor:
    """The per-pixel mean of the view depth over the object in training renders (pixels no
    training object covers take the mean object depth)."""
    total = torch.zeros(settings.size, settings.size, device=settings.device)
    coverage = torch.zeros_like(total)
    seeds = seed_run(
        SEED_RANGES["train"].start, settings.train_samples, split="train",
        count_option="--train-samples",
    )  # fmt: skip
    for start in range(0, len(seeds), settings.batch_size):
        batch = render_samples(
            settings.category, seeds[start : start + settings.batch_size],
            size=settings.size, device=settings.device,
        )  # fmt: skip
        total += (batch.depth * batch.mask).sum(0)
        coverage += batch.mask.sum(0)
    fallback = total.sum() / coverage.sum()
    mean_depth = torch.where(coverage > 0, total / coverage.clamp(min=1), fallback)  # [H, W]
    return lambda inputs: DepthPrediction(mean_depth.expand_as(inputs.mask).clone())


_PRIOR_PRESET_BY_CATEGORY: dict[str, PriorBoxPreset] = {"face": "face", "car": "car"}


@register_depth_predictor("ellipsoid prior")
def ellipsoid_baseline(settings: ShapeBenchmarkSettings) -> DepthPredictor:
    """GAN2Shape's initial shape: the spherical cap fitted to the mask's bounding box."""
    preset = _PRIOR_PRESET_BY_CATEGORY[settings.category]
    return lambda inputs: DepthPrediction(ellipsoid_prior(inputs.mask, preset=preset))


@dataclass
class ShapeScores:
    """One table row: per-image SIDE and MAD of a method, with their summaries."""

    method: str
    side: list[float]
    mad: list[float]
    side_mean: float = field(init=False)
    side_std: float = field(init=False)
    mad_mean: float = field(init=False)
    mad_std: float = field(init=False)

    def __post_init__(self) -> None:
        self.side_mean, self.side_std = _mean_and_std(self.side)
        self.mad_mean, self.mad_std = _mean_and_std(self.mad)


def _mean_and_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation of per-image scores; one image has a spread of 0
    (not nan, which strict JSON readers refuse)."""
    scores = torch.tensor(values)
    return scores.mean().item(), scores.std(0).item() if len(values) > 1 else 0.0


@dataclass
class ShapeBenchmarkResult:
    """Scores of every method on one set of test images."""

    category: str
    size: int
    first_seed: int
    count: int
    rows: list[ShapeScores]

    def table(self) -> str:
        """The result as a text table (SIDE ×10⁻², MAD °, mean ± std)."""
        header = (
            f"Shape benchmark: {self.category}, {self.count} test images of "
            f"{self.size}x{self.size} (seeds {self.first_seed}..{self.first_seed + self.count - 1})"
        )
        width = max(len(row.method) for row in self.rows) + 2
        lines = [header, f"{'method':<{width}}{'SIDE (x1e-2)':>18}{'MAD (deg)':>18}"]
        for row in self.rows:
            side_text = f"{100 * row.side_mean:.3f} ± {100 * row.side_std:.3f}"
            mad_text = f"{row.mad_mean:.2f} ± {row.mad_std:.2f}"
            lines.append(f"{row.method:<{width}}{side_text:>18}{mad_text:>18}")
        return "\n".join(lines)

    def save_json(self, path: str | Path) -> Path:
        """Write the result, per-image scores included, as JSON."""
        return write_json(path, asdict(self))


def run_shape_benchmark(
    category: str,
    *,
    n: int = 200,
    seed: int | None = None,
    size: int = 64,
    methods: list[str] | None = None,
    train_samples: int = 500,
    batch_size: int = 50,
    device: torch.device | str = "cpu",
    progress: ProgressFn | None = None,
) -> ShapeBenchmarkResult:
    """Score `methods` (default: every registered predictor) on `n` test images of `category`
    starting at test seed `seed` (default: the first test seed). `progress` counts images
    scored by each method (n × methods in all) and names the method at work: a GAN2Shape row
    takes minutes."""
    if category not in CATEGORIES:
        raise GANliftError(f"Unknown category '{category}'; use one of {', '.join(CATEGORIES)}.")
    names = list(DEPTH_PREDICTORS) if methods is None else methods
    unknown = [name for name in names if name not in DEPTH_PREDICTORS]
    if unknown:
        raise GANliftError(
            f"Unknown {'method' if len(unknown) == 1 else 'methods'} {', '.join(unknown)}; "
            f"registered: {', '.join(DEPTH_PREDICTORS)}."
        )
    first_seed = SEED_RANGES["test"].start if seed is None else seed
    seeds = seed_run(first_seed, n, split="test")
    settings = ShapeBenchmarkSettings(
        category, size, resolve_device(device), train_samples, batch_size
    )
    predictors = {name: DEPTH_PREDICTORS[name](settings) for name in names}
    scores: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in names}
    report = progress or no_progress
    done, total = 0, n * len(names)
    for start in range(0, n, batch_size):
        batch = render_samples(
            category, seeds[start : start + batch_size], size=size, device=settings.device
        )
        inputs = ShapeInputs(image=batch.image, mask=batch.mask)
        gt_normal = normals_from_depth(batch.depth)  # [N, 3, H, W]
        for name, predict in predictors.items():
            report(done, total, f"{category}: {name}")
            prediction = predict(inputs)
            depth = prediction.depth  # [N, H, W]
            seen = batch.mask if prediction.covered is None else batch.mask * prediction.covered
            scores[name][0].extend(side(depth, batch.depth, seen).tolist())
            scores[name][1].extend(mad(normals_from_depth(depth), gt_normal, seen).tolist())
            done += len(batch.image)
    report(done, total, category)
    rows = [ShapeScores(name, *scores[name]) for name in names]
    return ShapeBenchmarkResult(category, size, first_seed, n, rows)
