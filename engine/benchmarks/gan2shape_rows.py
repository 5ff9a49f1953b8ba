"""GAN2Shape's rows of the shape benchmark: fast and full quality, with and without symmetry,
for a given GAN, with the seconds each image took.

Each test image is inverted into the GAN and recovered from the image alone, with the mask an
upload would get (`own_masks`); the recovered depth lives in the canonical frame, so it is
rendered in the recovered view (`depth_in_image_view`) to be compared with the ground truth,
which is in the image's view. Rows are registered for the duration of a
`with gan2shape_rows(model):` block, because they need a loaded model.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from engine.benchmarks.shape import (
    DEPTH_PREDICTORS,
    DepthPrediction,
    DepthPredictor,
    ShapeBenchmarkSettings,
    ShapeInputs,
    register_depth_predictor,
)
from engine.errors import GANliftError
from engine.gan2shape.inputs import default_masks
from engine.gan2shape.pipeline import Gan2ShapeModel, Quality, quality_schedule
from engine.gan2shape.presets import Gan2ShapePreset
from engine.gan2shape.recover import recover
from engine.perceptual import PerceptualLoss
from engine.render import render_depth_in_view
from engine.synth import CATEGORIES


@dataclass
class Gan2ShapeRows:
    """The registered row names and the seconds each image took, per row."""

    names: list[str]
    """The timed GAN2Shape rows."""
    prior: str
    """The row of the shape those rows start from: the preset's prior (not timed)."""
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def seconds_per_image(self, name: str) -> float:
        """Mean seconds per image of row `name` (NaN before it ran)."""
        times = self.seconds.get(name, [])
        return sum(times) / len(times) if times else float("nan")


@contextmanager
def gan2shape_rows(
    model: Gan2ShapeModel,
    *,
    qualities: tuple[Quality, ...] = ("fast", "full"),
    perceptual: PerceptualLoss | None = None,
    bf16: bool = False,
) -> Iterator[Gan2ShapeRows]:
    """Register 'GAN2Shape <quality>' and 'GAN2Shape <quality> (no symmetry)' for `model`, and
    the ellipsoid prior of its preset on the same masks (which may differ from the release's
    prior row, drawn on the true masks), while the block runs. Fast rows need the model's
    pretrained networks (or the model's given start), refused here rather than scoring the
    short prior fit reconstruct falls back to under the name of fast mode."""
    check_fast_rows(model, qualities)
    preset = model.preset
    rows = Gan2ShapeRows(names=[], prior=f"prior of preset {preset.name}")
    try:
        register_depth_predictor(rows.prior)(
            lambda settings: (
                lambda inputs: DepthPrediction(preset.prior(own_masks(inputs.image, preset)))
            )
        )
        for quality in qualities:
            for symmetric in (True, False):
                name = f"GAN2Shape {quality}" + ("" if symmetric else " (no symmetry)")
                factory = _factory(model, rows, name, quality, symmetric, perceptual, bf16)
                register_depth_predictor(name)(factory)
                rows.names.append(name)
        yield rows
    finally:
        for name in [rows.prior, *rows.names]:
            DEPTH_PREDICTORS.pop(name, None)


def own_masks(images: torch.Tensor, preset: Gan2ShapePreset) -> torch.Tensor:
    """The masks `[N, H, W]` GAN2Shape gives `images [N, 3, H, W]` on its own, as for an upload
    (GrabCut's, or the whole frame for presets without masks). The benchmark's true masks only
    score: a user has none, and the release's face presets use none."""
    return default_masks(images, preset.use_mask)[:, 0]


def depth_in_image_view(
    depth: torch.Tensor, view: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Canonical depth `[N, S, S]` seen from views `[N, 6]`, resized to the benchmark's frame:
    (depth `[N, size, size]`, coverage by the canonical surface `[N, size, size]`)."""
    view_depth, covered = render_depth_in_view(depth, view)  # [N, S, S], [N, 1, S, S]
    resized = F.interpolate(view_depth[:, None], size=(size, size), mode="bilinear")
    coverage = F.interpolate(covered, size=(size, size), mode="nearest")
    return resized[:, 0], coverage[:, 0]


def synthetic_category(model: Gan2ShapeModel) -> str | None:
    """The synthetic world's category of the model's preset, or None for presets of neither."""
    return model.preset.prior_box if model.preset.prior_box in CATEGORIES else None


def check_scored_category(model: Gan2ShapeModel, category: str) -> None:
    """Refuse to score `model` on the renders of another category than its preset's (a face
    model's depth maps of cars ran without a word)."""
    own = synthetic_category(model)
    if own != category:
        made_for = f"{own}s" if own else "neither faces nor cars"
        fix = f"score it with --category {own}" if own else "score a face or car model"
        raise GANliftError(
            f"The GAN2Shape model's preset {model.preset.name} is for {made_for}, not the "
            f"{category}s the benchmark renders; {fix}."
        )


def check_fast_rows(
    model: Gan2ShapeModel, qualities: tuple[str, ...], *, full_option: str = "--quality full"
) -> None:
    """Refuse fast rows for a model with neither pretrained networks nor a given start; the
    message suggests the command's `full_option` instead."""
    if "fast" in qualities and model.start is None and not model.pretrained.is_file():
        raise GANliftError(
            f"Fast rows start from pretrained networks, and {model.pretrained} is missing; use "
            f"{full_option} or pretrain them (python -m engine gan2shape-pretrain)."
        )


def without_symmetry(preset: Gan2ShapePreset) -> Gan2ShapePreset:
    """`preset` with every flip (symmetry) flag off."""
    off = (False,) * preset.num_stages
    return preset.replace(name=f"{preset.name} (no symmetry)", flip_step1=off, flip_step3=off)


def _factory(
    model: Gan2ShapeModel,
    rows: Gan2ShapeRows,
    name: str,
    quality: Quality,
    symmetric: bool,
    perceptual: PerceptualLoss | None,
    bf16: bool,
):
    """The predictor factory of one row."""

    def factory(settings: ShapeBenchmarkSettings) -> DepthPredictor:
        if model.preset.crop is not None:
            raise GANliftError(
                f"Preset '{model.preset.name}' crops the GAN frame, which the shape benchmark "
                "cannot compare; use a preset without a crop."
            )
        preset, init = quality_schedule(
            model.preset if symmetric else without_symmetry(model.preset), quality,
            model.pretrained, model.generator, start=model.start,
        )  # fmt: skip
        times = rows.seconds.setdefault(name, [])

        def predict(inputs: ShapeInputs) -> DepthPrediction:
            depths, coverages = [], []
            for image in inputs.image:
                start = time.perf_counter()
                recovery = recover(
                    model.generator, model.discriminator, image[None], preset=preset,
                    init=init, perceptual=perceptual, device=settings.device, bf16=bf16,
                )  # fmt: skip
                times.append(time.perf_counter() - start)
                depth, covered = depth_in_image_view(
                    recovery.depth, recovery.view, inputs.mask.shape[-1]
                )  # [1, H, W] each
                depths.append(depth)
                coverages.append(covered)
            return DepthPrediction(torch.cat(depths), torch.cat(coverages))  # [N, H, W] each

        return predict

    return factory
