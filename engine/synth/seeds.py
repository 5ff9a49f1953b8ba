"""Seed ranges of the synthetic world: the one place that keeps training and test data apart.

Every sample is generated from its own integer seed, so sample `s` is the same image
whatever the batch size or the order of generation. Seeds are split into ranges:

- ``train``: seeds ``[0, 1_000_000_000)`` — GAN training sets and the statistics that
  baselines may learn from (e.g. the average ground-truth depth);
- ``test``: seeds ``[1_000_000_000, 2_000_000_000)`` — benchmark and test images only.

A dataset is the run of seeds ``start, start + 1, …, start + n - 1``, which must lie in one
range. Each category draws from the same seeds independently (a face and a car with seed 7
share nothing but the number).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from engine.errors import GANliftError

SplitName = Literal["train", "test"]


@dataclass(frozen=True)
class SeedRange:
    """A half-open range of per-sample seeds `[start, stop)`."""

    name: SplitName
    start: int
    stop: int

    def __contains__(self, seed: int) -> bool:
        return self.start <= seed < self.stop


SEED_RANGES: dict[SplitName, SeedRange] = {
    "train": SeedRange("train", 0, 1_000_000_000),
    "test": SeedRange("test", 1_000_000_000, 2_000_000_000),
}


def split_of(start: int, n: int) -> SplitName:
    """The split that holds all of seeds `[start, start + n)`; a GANliftError if none does."""
    for seed_range in SEED_RANGES.values():
        if start in seed_range and start + n - 1 in seed_range:
            return seed_range.name
    ranges = ", ".join(f"{r.name} [{r.start}, {r.stop})" for r in SEED_RANGES.values())
    raise GANliftError(
        f"Seeds {start}..{start + n - 1} do not lie in one seed range; pick --seed so that "
        f"all {n} samples fall in one of: {ranges}."
    )


def seed_run(
    start: int, n: int, *, split: SplitName | None = None, count_option: str = "--n"
) -> list[int]:
    """The seeds `start … start + n - 1`, checked to lie in one range (and in `split` if given);
    a refusal of `n` names the command's `count_option`."""
    if n < 1:
        raise GANliftError(f"The number of samples ({count_option}) must be at least 1, got {n}.")
    found = split_of(start, n)
    if split is not None and found != split:
        wanted = SEED_RANGES[split]
        seeds = (
            f"Seed {start} is a {found} seed"
            if n == 1
            else f"Seeds {start}..{start + n - 1} are {found} seeds"
        )
        raise GANliftError(
            f"{seeds} but {split} seeds are needed; use a seed in [{wanted.start}, "
            f"{wanted.stop - n}]."
        )
    return list(range(start, start + n))


def sample_generators(seeds: list[int], category: str) -> list[np.random.Generator]:
    """One independent random generator per seed, keyed by category so categories differ."""
    key = sum(ord(char) << (8 * i) for i, char in enumerate(category))
    return [np.random.default_rng([seed, key]) for seed in seeds]
