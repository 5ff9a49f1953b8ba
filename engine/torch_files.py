"""Reading GANlift's own PyTorch files (states, latents, resume files) safely: the
weights-only unpickler, on the CPU, with a missing or damaged file turned into one sentence
that says what to do."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from engine.errors import GANliftError


def read_torch_file(path: str | os.PathLike, *, missing: str, damaged: str) -> Any:
    """``torch.load`` of ``path`` (weights only, on the CPU); a GANliftError with message
    ``missing`` when there is no such file and ``damaged`` when it cannot be unpickled."""
    path = Path(path)
    if path.is_dir():
        raise GANliftError(f"{path} is a folder; pass a file.")
    if not path.is_file():
        raise GANliftError(missing)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise  # the machine's limit, not the file's fault
    except Exception as error:  # a file that is not a pickle fails in many ways (KeyError, ...)
        raise GANliftError(damaged) from error
