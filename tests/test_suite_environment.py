"""The suite runs on an environment of its own: a user's `GANLIFT_*` settings and torch hub
cache (documented ways to tune GANlift) change no test's result."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def test_a_user_s_limits_change_no_test(tmp_path: Path) -> None:
    """With GANLIFT_MIN_IMAGE_SIDE=32 set, six tests' 40x24 photos were refused."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/test_images_load.py"],
        cwd=REPO, env=os.environ | {"GANLIFT_MIN_IMAGE_SIDE": "32"}, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]


def test_the_torch_hub_cache_is_the_suite_s_own(tmp_path_factory) -> None:
    """LPIPS weights a user downloaded made "auto" pick LPIPS in the tests and their apps."""
    hub = Path(torch.hub.get_dir())
    assert hub.parent == Path(os.environ["TORCH_HOME"])
    assert hub.is_relative_to(tmp_path_factory.getbasetemp())
