"""Shared pytest fixtures. Tests never download: GANLIFT_OFFLINE is set for the whole session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

PARITY_FIXTURE_DIR = (
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "stylegan2_parity"
)
PARITY_REFERENCE = PARITY_FIXTURE_DIR / "public_s64_cm2.ref.pt"


@pytest.fixture(autouse=True, scope="session")
def _offline() -> None:
    """Forbid every download path in the engine (LPIPS weights, hub caches)."""
    os.environ["GANLIFT_OFFLINE"] = "1"


@pytest.fixture(autouse=True, scope="session")
def _one_thread_per_worker() -> None:
    """Tests use tiny tensors, where one thread beats two; pytest-xdist runs one worker per core."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def parity_reference() -> dict[str, Any]:
    """The StyleGAN2 parity reference: inputs and the reference implementation's outputs."""
    if not PARITY_REFERENCE.is_file():
        pytest.skip(f"StyleGAN2 parity fixture missing at {PARITY_REFERENCE}")
    return torch.load(PARITY_REFERENCE, weights_only=False)


@pytest.fixture(scope="session")
def parity_checkpoint(
    parity_reference: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The 64x64 channel-multiplier-2 checkpoint in the common .pt layout, rebuilt into tmp
    (~200 MB, never committed) by the fixture's own make_checkpoint.py."""
    out = tmp_path_factory.mktemp("stylegan2_parity") / "public_s64_cm2.pt"
    subprocess.run(
        [
            sys.executable,
            str(PARITY_FIXTURE_DIR / "make_checkpoint.py"),
            str(PARITY_REFERENCE),
            str(out),
        ],
        check=True,
    )
    return out
