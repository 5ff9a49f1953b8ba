"""Sampling weights that show a GAN more of the training images it rarely draws.

A GAN that spreads its views or lights more narrowly than its data (see
`engine.evaluation.coverage`) can be trained on with its images drawn unevenly: the coverage
regressor reads each chosen label (by default the gated ones) off the training images and off
GAN samples, the label's range is cut into bins holding equal shares of the training images,
and an image's weight is the product over those labels of (data share / GAN share) of its
bins, clipped to ``[1 / max_weight, max_weight]`` and scaled to mean 1. Kinds of image the GAN
draws half as often as the data shows them are then shown to its discriminator about twice as
often.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.atomic import write_json
from engine.errors import GANliftError
from engine.evaluation.coverage import CoverageReader
from engine.evaluation.labels import label_set
from engine.evaluation.regressor import predict_labels
from engine.evaluation.samples import generate_samples
from engine.evaluation.training_run import check_category
from engine.progress import ProgressFn
from engine.stylegan2 import Generator
from engine.stylegan2.training.data import ImageFolder, image_names, to_model_images

CPU = torch.device("cpu")


@dataclass
class LabelBins:
    """One label cut into bins of equal data share, and the GAN's share of each bin."""

    name: str
    edges: torch.Tensor
    """Inner bin edges ``[bins - 1]`` (the data's quantiles of the regressor's readings)."""
    data_share: torch.Tensor
    """Fraction of the training images in each bin ``[bins]``."""
    gan_share: torch.Tensor
    """Fraction of the GAN samples in each bin ``[bins]``."""


@dataclass
class SampleWeights:
    """Per-image sampling weights of a training folder and the bins they came from."""

    names: list[str]
    """Image paths relative to the folder, in `find_images` order."""
    weights: torch.Tensor
    """``[N]``, mean 1."""
    bins: list[LabelBins]
    data_std: torch.Tensor
    """Each label's spread over the training images ``[L]``, drawn uniformly..."""
    weighted_std: torch.Tensor
    """...and drawn by `weights` ``[L]``."""

    def save(self, path: str | Path) -> Path:
        """Write the JSON object `train-gan --sample-weights` reads (image path -> weight)."""
        table = {name: round(float(w), 6) for name, w in zip(self.names, self.weights, strict=True)}
        return write_json(path, table, indent=0)


def check_balance_settings(*, bins: int, max_weight: float, samples: int) -> None:
    """Refuse settings `bin_weights` cannot use (commands check them before any work)."""
    if not isinstance(bins, int | np.integer) or bins < 2:
        raise GANliftError(f"Balancing needs a whole number of bins from 2 (--bins), got {bins!r}.")
    if not (max_weight >= 1 and math.isfinite(max_weight)):
        raise GANliftError(
            f"Balancing needs a finite largest weight of 1 or more (--max-weight), got "
            f"{max_weight!r}."
        )
    if not isinstance(samples, int | np.integer) or samples < bins:
        raise GANliftError(
            f"Balancing needs a whole number of GAN samples (--samples) of at least the {bins} "
            f"bins, got {samples!r}."
        )


def bin_weights(
    data_readings: torch.Tensor, gan_readings: torch.Tensor, *, bins: int, max_weight: float
) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
    """Weights ``[N]`` (mean 1) of data readings ``[N, L]`` against GAN readings ``[M, L]``,
    with each label's (edges, data share, GAN share)."""
    check_balance_settings(bins=bins, max_weight=max_weight, samples=len(gan_readings))
    quantiles = torch.arange(1, bins, dtype=torch.float64) / bins  # [bins - 1]
    log_weights = torch.zeros(len(data_readings), dtype=torch.float64)
    per_label = []
    for column in range(data_readings.shape[1]):
        data = data_readings[:, column].double().contiguous()  # [N]
        gan = gan_readings[:, column].double().contiguous()  # [M]
        edges = torch.quantile(data, quantiles)  # [bins - 1]
        data_bin, gan_bin = torch.bucketize(data, edges), torch.bucketize(gan, edges)
        data_share = torch.bincount(data_bin, minlength=bins).double() / len(data)  # [bins]
        gan_share = (torch.bincount(gan_bin, minlength=bins).double() + 1) / (len(gan) + bins)
        log_weights += (data_share / gan_share).log()[data_bin]
        per_label.append((edges, data_share, gan_share))
    weights = log_weights.exp().clamp(1 / max_weight, max_weight)
    return weights / weights.mean(), per_label


def balanced_labels(category: str, labels: Sequence[str] | None) -> tuple[str, ...]:
    """`labels` checked against `category`'s label set (None: its gated labels)."""
    known = label_set(category).names
    if isinstance(labels, str):  # one label, not its letters
        labels = [labels]
    unknown = [name for name in labels or () if name not in known]
    if unknown:
        raise GANliftError(f"Unknown label '{unknown[0]}' for {category}; use some of "
                           f"{', '.join(known)}.")  # fmt: skip
    return tuple(labels or label_set(category).gated)


def _weighted_std(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Standard deviation ``[L]`` of values ``[N, L]`` under weights ``[N]``."""
    p = (weights / weights.sum()).unsqueeze(1).to(values.dtype)  # [N, 1]
    mean = (p * values).sum(0)
    return (p * (values - mean).square()).sum(0).sqrt()


@torch.no_grad()
def coverage_weights(
    reader: CoverageReader,
    generator: Generator,
    data_dir: str | Path,
    *,
    samples: int = 4000,
    bins: int = 8,
    max_weight: float = 8.0,
    labels: Sequence[str] | None = None,
    seed: int = 1,
    progress: ProgressFn | None = None,
) -> SampleWeights:
    """Weights for the images under `data_dir` that counter `generator`'s narrow coverage of
    `labels` (default: `reader`'s gated ones), judged on `samples` untruncated GAN samples
    from z seed `seed`."""
    if not isinstance(generator, Generator):
        raise GANliftError(
            f"coverage_weights takes the generator itself, got {type(generator).__name__}; "
            "load it with load_checkpoint(path).generator."
        )
    labels = balanced_labels(reader.category, labels)
    check_balance_settings(bins=bins, max_weight=max_weight, samples=samples)
    check_category(reader.category, data_dir)
    columns = [label_set(reader.category).names.index(name) for name in labels]
    folder = ImageFolder(data_dir, size=generator.config.size, progress=progress)
    readings = []
    for start in range(0, len(folder), 512):
        batch = folder.batch(torch.arange(start, min(start + 512, len(folder))))
        images = to_model_images(batch, torch.zeros(len(batch), dtype=torch.bool), CPU)
        readings.append(predict_labels(reader.model, images))
        if progress is not None:
            progress(min(start + 512, len(folder)), len(folder), "reading training images")
    data_readings = torch.cat(readings)[:, columns].double()  # [N, L]
    gan_images = generate_samples(generator, samples, seed=seed, progress=progress)
    gan_readings = predict_labels(reader.model, gan_images)[:, columns]  # [M, L]
    weights, per_label = bin_weights(data_readings, gan_readings, bins=bins, max_weight=max_weight)
    return SampleWeights(
        names=image_names(data_dir, folder.paths),
        weights=weights,
        bins=[
            LabelBins(name, edges, data_share, gan_share)
            for name, (edges, data_share, gan_share) in zip(labels, per_label, strict=True)
        ],
        data_std=data_readings.std(0, correction=0),
        weighted_std=_weighted_std(data_readings, weights),
    )
