"""Example inputs for the app: a few held-out renders (test seeds) saved as small PNGs."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.images import save_image
from engine.synth import SEED_RANGES, render_samples, seed_run

EXAMPLE_SEED = SEED_RANGES["test"].start + 900_000_000
"""First test seed of the examples: apart from the seeds the evaluations score on."""


def write_examples(
    out_dir: str | Path,
    category: str,
    *,
    n: int = 4,
    seed: int = EXAMPLE_SEED,
    size: int = 128,
    device: torch.device | str = "cpu",
) -> list[Path]:
    """Render test seeds `seed … seed + n - 1` of `category` as ``<category>-<seed>.png``."""
    seeds = seed_run(seed, n, split="test")
    batch = render_samples(category, seeds, size=size, device=device)
    out = Path(out_dir)
    return [
        save_image(image, out / f"{category}-{seed_value}.png")
        for seed_value, image in zip(seeds, batch.image, strict=True)
    ]
