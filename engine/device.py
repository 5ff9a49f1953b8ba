"""Device selection shared by the CLI, the app and the tests."""

from __future__ import annotations

import torch

from engine.errors import GANliftError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when available, else CPU; 'cpu' / 'cuda' / 'cuda:N' are taken as is."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise GANliftError(f"Unknown device '{name}'; use auto, cpu or cuda.") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GANliftError(
            f"Device '{name}' was asked for but CUDA is not available; use --device cpu."
        )
    return device
