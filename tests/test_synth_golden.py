"""The synthetic world draws its seeds as it did when the default models were trained on it and
the benchmarks scored against it: any change to a face's or car's geometry, colours, labels or
the order the draws are made in shows here. A deliberate change writes the reference again with
`python -m tests.test_synth_golden` (and says why in its commit)."""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch
import torch

from engine.synth import render_samples

REFERENCE = Path(__file__).parent / "data" / "synth" / "golden.safetensors"
SEEDS, SIZE = list(range(6)), 32
FIELDS = ("image", "mask", "depth", "canonical_depth", "albedo", "view", "light")


def draws(category: str) -> dict[str, torch.Tensor]:
    """The reference's fields for `category`, drawn now."""
    batch = render_samples(category, SEEDS, size=SIZE)
    return {f"{category}.{name}": getattr(batch, name).contiguous().float() for name in FIELDS}


@pytest.mark.parametrize("category", ["face", "car"])
def test_seeds_draw_what_they_drew(category: str) -> None:
    reference = safetensors.torch.load_file(str(REFERENCE))
    for key, value in draws(category).items():
        torch.testing.assert_close(
            value, reference[key], atol=1e-4, rtol=0, msg=lambda text, key=key: f"{key}: {text}"
        )


if __name__ == "__main__":
    safetensors.torch.save_file(draws("face") | draws("car"), str(REFERENCE))
    print(f"wrote {REFERENCE}")
