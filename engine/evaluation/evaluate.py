"""Evaluate a StyleGAN2 against issue 5's quality goals for the embedded default models.

`evaluate_gan` runs every measurement on one checkpoint — a sample grid, inversion PSNR on
held-out renders, the view-swap analysis and the coverage of viewpoint and light — and
returns a `GanEvaluation`, whose `summary()` is the JSON of figures the model card and
`engine.evaluation.report` are written from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.config import whole_fields
from engine.device import resolve_device
from engine.errors import GANliftError, StoppedEarly
from engine.evaluation.coverage import (
    COVERAGE_GOAL,
    REGRESSOR_STEPS,
    TRAIN_RENDERS,
    CoverageReader,
    CoverageResult,
    azimuth_reading,
)
from engine.evaluation.inversion_psnr import PSNR_GOAL_DB, InversionEvaluation, evaluate_inversion
from engine.evaluation.labels import label_set
from engine.evaluation.samples import generate_samples
from engine.evaluation.saved_work import EvaluationWork
from engine.evaluation.training_run import (
    TrainingRun,
    check_category,
    read_training_run,
    recorded_training_run,
)
from engine.evaluation.view_swap import ViewSwapEvaluation, evaluate_view_swap
from engine.images import make_grid
from engine.progress import ProgressFn, StopFn
from engine.stylegan2 import check_truncation, generator_fingerprint, load_checkpoint
from engine.versions import software_versions

PROTOCOL_SAMPLES = 1000
"""GAN samples and held-out renders the issue's coverage protocol asks for."""
PROTOCOL_INVERSIONS = 50
"""Held-out renders the issue's inversion protocol asks for."""

COUNT_RANGES = {
    "n_samples": (2, 100_000), "n_invert": (1, 10_000), "inversion_steps": (1, 100_000),
    "n_train_renders": (2, 1_000_000), "regressor_steps": (1, 1_000_000),
    "grid_samples": (1, 1024), "view_pairs": (2, 10_000),
}  # fmt: skip
"""Smallest and largest value of each count in `EvaluationConfig` (spreads need two samples;
the largest are far beyond the protocol, refused before hours of work end out of memory)."""


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (so a card written
    in a clone names the file as any clone would), else as is."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class EvaluationConfig:
    """Settings of one evaluation; the defaults are the issue's protocol."""

    category: str
    """'face' or 'car': which synthetic world the GAN was trained on."""
    n_samples: int = PROTOCOL_SAMPLES
    """GAN samples and held-out renders the coverage regressor reads."""
    n_invert: int = PROTOCOL_INVERSIONS
    """Held-out renders projected for the inversion PSNR."""
    inversion_steps: int = 1000
    """Optimisation steps per projection (in W, stored noise): the StyleGAN2 projector's 1000."""
    n_train_renders: int = TRAIN_RENDERS
    """Training renders the coverage regressor learns from."""
    regressor_steps: int = REGRESSOR_STEPS
    """Optimisation steps of the coverage regressor."""
    grid_samples: int = 64
    """Samples in the sample grid (8 per row)."""
    grid_truncation: float = 1.0
    """Truncation of the sample grid (1 = the GAN's full variety)."""
    view_pairs: int = 16
    """Sample pairs the view-layer analysis averages over."""
    seed: int = 0
    """Seed of the GAN samples (z): grid, coverage and view-swap pairs."""

    def __post_init__(self) -> None:
        label_set(self.category)
        whole_fields(self, [*COUNT_RANGES, "seed"], "The evaluation setting")
        check_truncation(self.grid_truncation, "The evaluation setting grid_truncation")
        for name, (minimum, maximum) in COUNT_RANGES.items():
            value = getattr(self, name)
            if not minimum <= value <= maximum:
                raise GANliftError(
                    f"The evaluation setting {name} must be from {minimum} to {maximum}, "
                    f"got {value}."
                )

    @property
    def follows_protocol(self) -> bool:
        """True when sample and inversion counts are at least the issue's."""
        return self.n_samples >= PROTOCOL_SAMPLES and self.n_invert >= PROTOCOL_INVERSIONS


@dataclass
class GanEvaluation:
    """Everything measured on one checkpoint."""

    checkpoint: Path
    config: EvaluationConfig
    generator_size: int
    num_ws: int
    fingerprint: str
    """`generator_fingerprint` of the generator measured (its weights, wherever the file is)."""
    training: TrainingRun
    sample_grid: torch.Tensor
    """``[1, 3, H', W']`` grid of `config.grid_samples` samples."""
    inversion: InversionEvaluation
    view_swap: ViewSwapEvaluation
    coverage: CoverageResult
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of each measurement."""

    def summary(self) -> dict[str, Any]:
        """The figures as plain JSON-able values (what ``evaluation.json`` holds)."""
        training = asdict(self.training)
        training["run_dir"] = str(self.training.run_dir) if self.training.run_dir else None
        training["still_training"] = self.training.still_training
        training["stopped_early"] = self.training.stopped_early
        view_transfer, appearance_kept = self.view_swap.chosen_scores
        angle = azimuth_reading(self.coverage)
        return {
            "checkpoint": shown_path(self.checkpoint),
            "category": self.config.category,
            "generator": {
                "size": self.generator_size,
                "num_ws": self.num_ws,
                "fingerprint": self.fingerprint,
            },
            "settings": asdict(self.config),
            "software": software_versions(),
            "follows_protocol": self.config.follows_protocol,
            "training": training,
            "inversion": {
                "space": "W+" if self.inversion.w_plus else "W",
                "optimize_noise": self.inversion.optimize_noise,
                "num_steps": self.inversion.num_steps,
                "n_images": len(self.inversion.psnr),
                "seeds": [self.inversion.seeds[0], self.inversion.seeds[-1]],
                "mean_psnr_db": self.inversion.mean_psnr,
                "std_psnr_db": self.inversion.std_psnr,
                "goal_db": PSNR_GOAL_DB,
                "passed": self.inversion.passed,
                "psnr_db": self.inversion.psnr,
            },
            "view_swap": {
                "num_view_layers": self.view_swap.num_view_layers,
                "num_ws": self.view_swap.num_ws,
                "view_transfer": view_transfer,
                "appearance_kept": appearance_kept,
                "passed": self.view_swap.passed,
                "per_prefix": {
                    "prefix_lengths": self.view_swap.prefix_lengths,
                    "view_transfer": self.view_swap.view_transfer,
                    "appearance_kept": self.view_swap.appearance_kept,
                },
            },
            "coverage": {
                "goal_ratio": COVERAGE_GOAL,
                "passed": self.coverage.passed,
                "n_gan": self.coverage.n_gan,
                "n_data": self.coverage.n_data,
                "n_train": self.coverage.n_train,
                "labels": [
                    {**asdict(label), "ratio": label.ratio, "passed": label.passed}
                    for label in self.coverage.labels
                ],
                "azimuth_angle": asdict(angle) if angle is not None else None,
            },
            "seconds": self.seconds,
        }


def _refuse_if_stopped(should_stop: StopFn | None, stage: str, work: EvaluationWork) -> None:
    """End a stopped evaluation: its cut-short figures would read as a finished card's."""
    if should_stop is not None and should_stop():
        raise _stopped(stage, work)


def _stopped(stage: str, work: EvaluationWork) -> StoppedEarly:
    """The error that ends an evaluation stopped during `stage`, saying what is kept."""
    return StoppedEarly(f"The evaluation was stopped during {stage}; {work.kept()}")


def evaluate_gan(
    checkpoint: str | Path,
    config: EvaluationConfig,
    *,
    run_dir: str | Path | None = None,
    training_record: str | Path | None = None,
    work_file: str | Path | None = None,
    device: torch.device | str = "cpu",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> GanEvaluation:
    """Load `checkpoint` (a file or an installed model name) and measure it.

    `run_dir` is the training run folder the card's training facts come from; by default
    the checkpoint's own folder (where `train-gan` writes its snapshots). `training_record`,
    an earlier ``evaluation.json`` of the same snapshot, replaces a run folder since removed.
    `work_file` keeps each scored inversion and the fitted coverage reader as they finish; an
    evaluation of the same generator with the same settings goes on from them (the caller
    removes the file once the results are written).
    """
    device = resolve_device(device)
    if run_dir is not None and not any(
        (Path(run_dir) / name).is_file() for name in ("config.json", "log.jsonl")
    ):
        kind = "holds no training run" if Path(run_dir).is_dir() else "is not a folder"
        raise GANliftError(
            f"--run-dir {run_dir} {kind}; give the training run's folder (config.json, "
            "log.jsonl) or leave it out."
        )
    loaded = load_checkpoint(checkpoint, device)
    generator = loaded.generator
    if training_record is not None:
        training = recorded_training_run(training_record, loaded.extra)
    else:
        training = read_training_run(loaded.extra, run_dir or loaded.source.parent)
    check_category(config.category, training.data_dir)
    key = {"generator": generator_fingerprint(generator), "settings": asdict(config)}
    work = EvaluationWork.load(work_file, key, device)
    seconds = dict(work.seconds)
    with _stopwatch(seconds, "samples"):
        grid = generate_samples(
            generator, config.grid_samples, seed=config.seed, truncation=config.grid_truncation
        )
    with _stopwatch(seconds, "inversion") as elapsed:

        def keep_inversion(scored: InversionEvaluation) -> None:
            work.inversion, work.seconds["inversion"] = scored, elapsed()
            work.save()

        inversion = evaluate_inversion(
            generator, config.category, n_images=config.n_invert,
            num_steps=config.inversion_steps, device=device, progress=progress,
            should_stop=should_stop, done=work.inversion, on_image=keep_inversion,
        )  # fmt: skip
    _refuse_if_stopped(should_stop, "the inversions", work)
    with _stopwatch(seconds, "coverage") as elapsed:
        if work.reader is None:
            try:
                reader = CoverageReader.fit(
                    config.category, n_heldout=config.n_samples, n_train=config.n_train_renders,
                    regressor_steps=config.regressor_steps, device=device, progress=progress,
                    should_stop=should_stop,
                )  # fmt: skip
            except StoppedEarly:
                raise _stopped("the coverage regressor's fit", work) from None
            work.reader, work.seconds["coverage"] = reader, elapsed()
            work.save()
        coverage = work.reader.read(generator, seed=config.seed, progress=progress)
    _refuse_if_stopped(should_stop, "the coverage", work)
    with _stopwatch(seconds, "view_swap"):
        view_swap = evaluate_view_swap(
            generator, num_pairs=config.view_pairs, seed=config.seed, view_fn=coverage.view_reader,
            progress=progress,
        )  # fmt: skip
    _refuse_if_stopped(should_stop, "the view-swap analysis", work)
    return GanEvaluation(
        checkpoint=loaded.source,
        config=config,
        generator_size=generator.config.size,
        num_ws=generator.num_ws,
        fingerprint=key["generator"],
        training=training,
        sample_grid=make_grid(grid, 8),
        inversion=inversion,
        view_swap=view_swap,
        coverage=coverage,
        seconds=seconds,
    )


@contextmanager
def _stopwatch(seconds: dict[str, float], name: str) -> Iterator[Callable[[], float]]:
    """Add the wall time of the `with` body to `seconds[name]` (time spent on that stage by an
    earlier, stopped run stays counted); yields a function giving the stage's total so far."""
    earlier = seconds.get(name, 0.0)
    start = time.perf_counter()

    def elapsed() -> float:
        return round(earlier + time.perf_counter() - start, 1)

    yield elapsed
    seconds[name] = elapsed()
