"""Coverage: does the GAN spread its viewpoints and lights as widely as its training data?

A `LabelRegressor` learns viewpoint and light labels from training renders; it then reads
the same labels off GAN samples and off held-out renders (test seeds). Both go through the
same regressor, so its own shrinkage towards the mean affects both alike, and the ratio of
the two standard deviations per label measures how much of the data's variety the GAN
reproduces (1 = all of it; a collapsed GAN scores near 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from engine.device import cpu_state, resolve_device
from engine.errors import GANliftError, StoppedEarly
from engine.evaluation.labels import label_set
from engine.evaluation.regressor import (
    LabelRegressor,
    fit_label_regressor,
    predict_labels,
    r_squared,
)
from engine.evaluation.samples import generate_samples
from engine.progress import ProgressFn, StopFn
from engine.stylegan2 import Generator
from engine.synth import SEED_RANGES, SynthBatch, render_samples

COVERAGE_GOAL = 0.8
"""The GAN's spread of each gated label must reach this fraction of the data's."""

ViewReader = Callable[[torch.Tensor], torch.Tensor]
"""``views [N, K] = read(images [N, 3, H, W])``: viewpoint labels, comparable across labels."""

TRAIN_RENDERS = 64_000
"""Training renders of the regressor. With 4,000 (and 1,500 steps) it explained only 0.69 and
0.64 of the held-out variance of a car's azimuth cosine and light x, and its shrinkage then
hid how narrow the GAN's spread is; with 64,000 and 24,000 steps every gated label of both
categories reaches R² ≥ 0.89 (docs/models/coverage_regressor.txt)."""
REGRESSOR_STEPS = 24_000
"""Optimisation steps of the regressor (batch 64), see `TRAIN_RENDERS`."""

RENDER_SIZE = 64
"""Renders are made at this size; the regressor downsizes everything to 32 anyway."""


@dataclass
class LabelSpread:
    """One label's statistics on GAN samples and on held-out renders, as the regressor reads
    them, and its regressor accuracy on the held-out renders."""

    name: str
    data_mean: float
    data_std: float
    gan_mean: float
    gan_std: float
    heldout_r2: float
    """R² of the regressor against the true labels of the held-out renders."""
    gated: bool
    """Whether the coverage goal is judged on this label."""

    @property
    def ratio(self) -> float:
        """GAN std / data std."""
        return self.gan_std / max(self.data_std, 1e-12)

    @property
    def passed(self) -> bool | None:
        """Whether the ratio reaches `COVERAGE_GOAL`; None for a label the goal does not judge
        (a card or JSON reading "passed" beside an ungated label's low ratio would mislead)."""
        return self.ratio >= COVERAGE_GOAL if self.gated else None


@dataclass
class CoverageResult:
    """Per-label spreads and the settings they were measured with."""

    labels: list[LabelSpread]
    n_gan: int
    n_data: int
    n_train: int
    view_reader: ViewReader | None = None
    """The fitted regressor's viewpoint labels, in held-out data standard deviations."""
    gan_readings: torch.Tensor | None = None
    """The regressor's labels of the GAN samples ``[N_gan, K]``."""
    data_readings: torch.Tensor | None = None
    """Its labels of the held-out renders ``[N_data, K]``."""

    @property
    def passed(self) -> bool:
        """True when every gated label reaches the goal."""
        return all(label.passed for label in self.labels if label.gated)


@dataclass
class AngleReading:
    """An angle label regressed as its (cos, sin) pair, split into what the pair's spread
    mixes: the spread of the angle itself and the length of the readings. The regressor
    shrinks a pair towards 0 where an image does not show the angle clearly (a car whose
    front cannot be told from its back), which lowers the pair's std without any loss of
    variety in the angles."""

    name: str
    angle_ratio: float
    """GAN / data std of the unit vectors (cos, sin) of the read angles, averaged over both."""
    gan_length: float
    """Median length of the GAN samples' readings (1: as certain as on a clean render)."""
    data_length: float
    """Median length of the held-out renders' readings."""


def angle_reading(result: CoverageResult, name: str, cos: str, sin: str) -> AngleReading:
    """The `AngleReading` of the angle whose cosine and sine are the labels `cos` and `sin`."""
    if result.gan_readings is None or result.data_readings is None:
        raise GANliftError("This coverage result keeps no readings; measure it again.")
    columns = [label.name for label in result.labels]
    pairs = [
        readings[:, [columns.index(cos), columns.index(sin)]]
        for readings in (result.gan_readings, result.data_readings)
    ]  # [N, 2] each
    units = [F.normalize(pair, dim=1) for pair in pairs]
    angle_ratio = (units[0].std(0) / units[1].std(0).clamp_min(1e-12)).mean()
    gan_length, data_length = (pair.norm(dim=1).quantile(0.5) for pair in pairs)
    return AngleReading(name, float(angle_ratio), float(gan_length), float(data_length))


def azimuth_reading(result: CoverageResult) -> AngleReading | None:
    """The `AngleReading` of a car's azimuth; None for labels without one or no readings."""
    names = {label.name for label in result.labels}
    if not {"azimuth_cos", "azimuth_sin"} <= names or result.gan_readings is None:
        return None
    return angle_reading(result, "azimuth", "azimuth_cos", "azimuth_sin")


def label_spreads(
    names: tuple[str, ...],
    gated: tuple[str, ...],
    gan_predictions: torch.Tensor,
    data_predictions: torch.Tensor,
    data_labels: torch.Tensor,
) -> list[LabelSpread]:
    """Spreads of predictions ``[N_gan, K]`` and ``[N_data, K]`` (true data labels
    ``[N_data, K]`` give the regressor's R²), one `LabelSpread` per name."""
    r2 = r_squared(data_predictions, data_labels)  # [K]
    return [
        LabelSpread(
            name=name,
            data_mean=float(data_predictions[:, k].mean()),
            data_std=float(data_predictions[:, k].std()),
            gan_mean=float(gan_predictions[:, k].mean()),
            gan_std=float(gan_predictions[:, k].std()),
            heldout_r2=float(r2[k]),
            gated=name in gated,
        )
        for k, name in enumerate(names)
    ]


def render_labelled(
    category: str,
    first_seed: int,
    count: int,
    *,
    batch_size: int = 128,
    device: torch.device | str = "cpu",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Renders of seeds `first_seed …` ``[count, 3, 64, 64]`` and their labels ``[count, K]``
    (both on the CPU); `should_stop` ends it between batches with StoppedEarly (a part of the
    set would skew what is fitted or read on it)."""
    device = resolve_device(device)
    extract = label_set(category).extract
    images, labels = [], []
    for start in range(first_seed, first_seed + count, batch_size):
        if should_stop is not None and should_stop():
            raise StoppedEarly("Rendering the labelled images was stopped.")
        seeds = list(range(start, min(start + batch_size, first_seed + count)))
        batch: SynthBatch = render_samples(category, seeds, size=RENDER_SIZE, device=device)
        images.append(batch.image.cpu())
        labels.append(extract(batch).cpu())
        if progress is not None:
            progress(start + len(seeds) - first_seed, count, "rendering")
    return torch.cat(images), torch.cat(labels)


def _phase(progress: ProgressFn | None, phase: str) -> ProgressFn | None:
    """`progress` with its messages prefixed by the coverage phase (None stays None)."""
    if progress is None:
        return None
    return lambda done, total, text: progress(done, total, f"coverage {phase}: {text}")


@dataclass
class CoverageReader:
    """A label regressor fitted on training renders, with its readings of the held-out renders:
    it reads any number of GANs of its category alike (the snapshots of one run, say)."""

    category: str
    model: LabelRegressor
    heldout_predictions: torch.Tensor
    """The regressor's labels of the held-out renders ``[N_data, K]``."""
    heldout_labels: torch.Tensor
    """Their true labels ``[N_data, K]``."""
    n_train: int

    @classmethod
    def fit(
        cls,
        category: str,
        *,
        n_heldout: int = 1000,
        n_train: int = TRAIN_RENDERS,
        regressor_steps: int = REGRESSOR_STEPS,
        train_seed: int = SEED_RANGES["train"].start,
        heldout_seed: int = SEED_RANGES["test"].start + 100_000,
        device: torch.device | str = "cpu",
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> CoverageReader:
        """Train the regressor on `n_train` training renders and read `n_heldout` held-out ones;
        `should_stop` ends it with StoppedEarly (a regressor fitted part-way would misread)."""
        device = resolve_device(device)
        train_images, train_labels = render_labelled(
            category, train_seed, n_train, device=device,
            progress=_phase(progress, "train renders"), should_stop=should_stop,
        )  # fmt: skip
        fit = fit_label_regressor(
            train_images, train_labels, steps=regressor_steps, device=device,
            progress=_phase(progress, "regressor"), should_stop=should_stop,
        )  # fmt: skip
        if should_stop is not None and should_stop():
            raise StoppedEarly("The coverage regressor's fit was stopped.")
        heldout_images, heldout_labels = render_labelled(
            category, heldout_seed, n_heldout, device=device,
            progress=_phase(progress, "held-out renders"), should_stop=should_stop,
        )  # fmt: skip
        return cls(
            category=category,
            model=fit.model,
            heldout_predictions=predict_labels(fit.model, heldout_images),
            heldout_labels=heldout_labels,
            n_train=n_train,
        )

    def state(self) -> dict[str, Any]:
        """The fitted reader as tensors and plain values on the CPU (a weights-only file)."""
        return {
            "category": self.category,
            "model": cpu_state(self.model),
            "heldout_predictions": self.heldout_predictions.cpu(),
            "heldout_labels": self.heldout_labels.cpu(),
            "n_train": self.n_train,
        }

    @classmethod
    def from_state(
        cls, state: dict[str, Any], device: torch.device | str = "cpu"
    ) -> CoverageReader:
        """The reader `state()` described, its regressor on `device`."""
        device = resolve_device(device)
        model = LabelRegressor(len(state["model"]["label_mean"]))
        model.load_state_dict(state["model"])
        return cls(
            category=state["category"],
            model=model.to(device).eval(),
            heldout_predictions=state["heldout_predictions"],
            heldout_labels=state["heldout_labels"],
            n_train=state["n_train"],
        )

    def read(
        self, generator: Generator, *, seed: int = 0, progress: ProgressFn | None = None
    ) -> CoverageResult:
        """Compare the regressor's readings of as many untruncated GAN samples (z from `seed`)
        as there are held-out renders with its readings of those renders."""
        labels = label_set(self.category)
        count = len(self.heldout_labels)
        gan_images = generate_samples(
            generator, count, seed=seed, progress=_phase(progress, "GAN samples")
        )
        gan_readings = predict_labels(self.model, gan_images)  # [N, K]
        spreads = label_spreads(
            labels.names, labels.gated, gan_readings, self.heldout_predictions, self.heldout_labels
        )
        view_columns = [labels.names.index(name) for name in labels.view]
        view_scale = torch.tensor([max(spreads[k].data_std, 1e-6) for k in view_columns])
        model = self.model

        def read_views(images: torch.Tensor) -> torch.Tensor:
            return predict_labels(model, images)[:, view_columns] / view_scale

        return CoverageResult(
            labels=spreads, n_gan=count, n_data=count, n_train=self.n_train,
            view_reader=read_views, gan_readings=gan_readings,
            data_readings=self.heldout_predictions,
        )  # fmt: skip


def evaluate_coverage(
    generator: Generator,
    category: str,
    *,
    n_samples: int = 1000,
    n_train: int = TRAIN_RENDERS,
    regressor_steps: int = REGRESSOR_STEPS,
    train_seed: int = SEED_RANGES["train"].start,
    heldout_seed: int = SEED_RANGES["test"].start + 100_000,
    sample_seed: int = 0,
    device: torch.device | str = "cpu",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> CoverageResult:
    """Train the label regressor on `n_train` training renders, then compare its readings on
    `n_samples` untruncated GAN samples and `n_samples` held-out renders."""
    reader = CoverageReader.fit(
        category, n_heldout=n_samples, n_train=n_train, regressor_steps=regressor_steps,
        train_seed=train_seed, heldout_seed=heldout_seed, device=device, progress=progress,
        should_stop=should_stop,
    )  # fmt: skip
    return reader.read(generator, seed=sample_seed, progress=progress)
