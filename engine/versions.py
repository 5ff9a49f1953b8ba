"""The software an output was made with, recorded beside its figures so they can be made again:
GANlift's commit (when it runs from a git checkout), torch and Python."""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def software_versions() -> dict[str, str | None]:
    """{"ganlift": commit or None, "torch": version, "python": version}."""
    return {
        "ganlift": _commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


@functools.cache
def _commit() -> str | None:
    """The checkout's commit, with "+changes" when files differ from it; None outside git. A
    checkout another user owns (a shared install) is read too: git refuses those by default."""
    git = ["git", "-c", f"safe.directory={PROJECT_ROOT}", "-C", str(PROJECT_ROOT)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+changes" if changed else head or None
