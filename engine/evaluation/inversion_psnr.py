"""Inversion PSNR: how well the GAN reproduces held-out renders (test seeds) from a latent.

Each render is projected with `engine.inversion.project` and scored by the PSNR of the
reconstruction. By default the projection searches W only and keeps the generator's stored
noise maps, so the figure measures what the latent space can express (optimised noise maps
could paint in detail that no latent holds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from engine.device import module_device, resolve_device
from engine.errors import GANliftError
from engine.images import make_grid
from engine.inversion import project
from engine.progress import ProgressFn, StopFn
from engine.stylegan2 import Generator
from engine.synth import SEED_RANGES, render_samples, seed_run

PSNR_GOAL_DB = 24.0
"""The mean inversion PSNR (in W) the default models must reach."""


@dataclass
class InversionEvaluation:
    """Per-image PSNRs of the projections of held-out renders, and a figure."""

    seeds: list[int]
    psnr: list[float]
    """dB, one per seed (in order)."""
    num_steps: int
    w_plus: bool
    optimize_noise: bool
    targets: torch.Tensor
    """``[K, 3, S, S]``: the first K renders (K up to the figure's columns), on the CPU."""
    reconstructions: torch.Tensor
    """``[K, 3, S, S]``: their projections."""

    @property
    def figure(self) -> torch.Tensor:
        """``[1, 3, H', W']``: targets on the top row, reconstructions below."""
        return make_grid(torch.cat([self.targets, self.reconstructions]), len(self.targets))

    @property
    def mean_psnr(self) -> float:
        """Mean PSNR in dB."""
        return sum(self.psnr) / len(self.psnr)

    @property
    def std_psnr(self) -> float:
        """Standard deviation of the PSNRs in dB (0 for one image)."""
        return float(torch.tensor(self.psnr).std()) if len(self.psnr) > 1 else 0.0

    @property
    def passed(self) -> bool:
        """True when the mean reaches `PSNR_GOAL_DB`."""
        return self.mean_psnr >= PSNR_GOAL_DB


def evaluate_inversion(
    generator: Generator,
    category: str,
    *,
    n_images: int = 50,
    num_steps: int = 300,
    first_seed: int = SEED_RANGES["test"].start,
    w_plus: bool = False,
    optimize_noise: bool = False,
    figure_columns: int = 8,
    device: torch.device | str | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    done: InversionEvaluation | None = None,
    on_image: Callable[[InversionEvaluation], None] | None = None,
) -> InversionEvaluation:
    """Project the renders of test seeds `first_seed … + n_images - 1` and score each one.

    Renders are made at the generator's size. Stopping early (`should_stop`) scores the
    images projected so far (the one in flight with the steps it had). `done`, the scores of
    the first images under the same settings, is continued rather than redone; `on_image`
    is handed the scores so far after each image projected in full (to keep them on disk).
    """
    device = resolve_device(module_device(generator) if device is None else device)
    seeds = seed_run(first_seed, n_images, split="test")
    size = generator.config.size
    total = n_images * num_steps
    scored = done or InversionEvaluation(
        seeds=[], psnr=[], num_steps=num_steps, w_plus=w_plus, optimize_noise=optimize_noise,
        targets=torch.empty(0, 3, size, size), reconstructions=torch.empty(0, 3, size, size),
    )  # fmt: skip
    _check_continues(scored, seeds, num_steps=num_steps, w_plus=w_plus,
                     optimize_noise=optimize_noise, size=size)  # fmt: skip
    for index in range(len(scored.seeds), n_images):
        seed = seeds[index]
        target = render_samples(category, [seed], size=size, device=device).image  # [1, 3, S, S]

        def step_progress(step: int, steps: int, message: str, index: int = index) -> None:
            if progress is not None:
                label = f"inversion {index + 1}/{n_images}: {message}"
                progress(index * steps + step, total, label)

        result = project(
            generator, target, num_steps=num_steps, w_plus=w_plus,
            optimize_noise=optimize_noise, device=device, progress=step_progress,
            should_stop=should_stop,
        )  # fmt: skip
        scored = replace(scored, seeds=[*scored.seeds, seed], psnr=[*scored.psnr, result.psnr])
        if index < figure_columns:
            scored.targets = torch.cat([scored.targets, result.target.cpu()])
            scored.reconstructions = torch.cat([scored.reconstructions, result.image.cpu()])
        if should_stop is not None and should_stop():
            break
        if on_image is not None:
            on_image(scored)
    return scored


def _check_continues(
    done: InversionEvaluation, seeds: list[int], *, size: int, **settings: int | bool
) -> None:
    """Refuse to continue scores made on other seeds, settings or image size."""
    made = {name: getattr(done, name) for name in settings}
    size_made = done.targets.shape[-1]
    if made != settings or done.seeds != seeds[: len(done.seeds)] or size_made != size:
        raise GANliftError(
            f"The inversion scores to continue were made with {made} on seeds "
            f"{done.seeds[:3]}... at {size_made} px; this evaluation asks for "
            f"{settings} on seeds {seeds[:3]}... at {size} px: start it afresh."
        )
