"""Parity with the reference StyleGAN2 implementation on the shared 64x64 cm2 fixture.

Every path (mapping, const-noise synthesis, truncation, W+, discriminator) must match the
reference outputs to 1e-4, with both the fast and the reference implementation of the ops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from engine.stylegan2 import Checkpoint, load_checkpoint

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def checkpoint(parity_checkpoint: Path) -> Checkpoint:
    return load_checkpoint(parity_checkpoint)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a - b).abs().max().item()


def test_loader_infers_the_fixture_architecture(checkpoint: Checkpoint) -> None:
    config = checkpoint.generator.config
    assert (config.size, config.style_dim, config.n_mlp, config.num_ws) == (64, 512, 8, 10)
    assert config.channels == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512}
    assert checkpoint.discriminator is not None
    assert checkpoint.extra["channel_multiplier"] == 2
    assert "64x64" in checkpoint.describe()


@pytest.mark.parametrize("impl", ["fast", "reference"])
@torch.no_grad()
def test_generator_and_discriminator_match_reference(
    checkpoint: Checkpoint, parity_reference: dict[str, Any], impl: str
) -> None:
    ref = parity_reference
    G = checkpoint.generator.set_impl(impl)
    D = checkpoint.discriminator.set_impl(impl)
    assert max_diff(G.mapping(ref["z"]), ref["w_z"]) < TOLERANCE
    assert max_diff(G(ref["z"]), ref["img_z"]) < TOLERANCE
    trunc = G(ref["z"], truncation=0.7, truncation_latent=ref["mean_w"])
    assert max_diff(trunc, ref["img_trunc07"]) < TOLERANCE
    assert max_diff(G.synthesis(ref["wplus"]), ref["img_wplus"]) < TOLERANCE
    assert max_diff(D(ref["img_z"]), ref["d_out"]) < TOLERANCE


@torch.no_grad()
def test_stored_latent_avg_is_the_default_truncation_centre(
    checkpoint: Checkpoint, parity_reference: dict[str, Any]
) -> None:
    image = checkpoint.generator.set_impl("fast")(parity_reference["z"], truncation=0.7)
    assert max_diff(image, parity_reference["img_trunc07"]) < TOLERANCE


SHARED_FIXTURE_DIR = (
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "stylegan2_parity"
)


@pytest.mark.skipif(not SHARED_FIXTURE_DIR.is_dir(), reason="no shared folder beside this checkout")
def test_the_committed_fixture_is_the_shared_one() -> None:
    """The copy in tests/data (so that clones anywhere run these tests; the shared folder sits
    only beside some checkouts) is byte for byte the team's."""
    for name in ("public_s64_cm2.ref.pt", "make_checkpoint.py", "README.md"):
        committed = Path(__file__).parent / "data" / "stylegan2_parity" / name
        assert committed.read_bytes() == (SHARED_FIXTURE_DIR / name).read_bytes(), name
