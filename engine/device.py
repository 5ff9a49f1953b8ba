"""Device selection shared by the CLI, the app and the tests, and the frozen copies of a
caller's networks and the gradient mode that library functions work on."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from engine.errors import GANliftError

SUPPORTED_DEVICE_TYPES = ("cpu", "cuda")
"""The devices GANlift runs and tests on; torch's others (Apple's 'mps', 'xpu', ...) lack ops
that the renderer and the networks use, or are untested, and are refused by name."""


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """'auto' picks CUDA when available, else CPU (never Apple's MPS); 'cpu' / 'cuda' /
    'cuda:N' (or a torch.device) are taken as is. Every library entry point that takes a device
    calls it, so a device this machine lacks is one sentence rather than torch's assertion."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise GANliftError(
            f"Unknown device {name!r}; use 'auto', 'cpu' or 'cuda' (--device on the command line)."
        ) from error
    if device.type not in SUPPORTED_DEVICE_TYPES:
        raise GANliftError(
            f"Device '{device}' is not supported: GANlift runs on 'cpu' or 'cuda' (--device on "
            "the command line; 'auto' picks CUDA where there is one, else the CPU)."
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GANliftError(
            f"Device '{name}' was asked for but CUDA is not available; use 'cpu' (--device cpu "
            "on the command line)."
        )
    return device


def module_device(module: torch.nn.Module) -> torch.device:
    """Where `module`'s parameters live (the CPU for a module without any): the device a
    function that runs it works on unless told otherwise."""
    parameter = next(module.parameters(), None)
    return torch.device("cpu") if parameter is None else parameter.device


def same_device(first: torch.device, second: torch.device) -> bool:
    """Whether two devices are one ('cuda' names the current CUDA device, as torch places it)."""
    if first.type != second.type:
        return False
    if first.type != "cuda":
        return True
    current = torch.cuda.current_device()
    return (first.index if first.index is not None else current) == (
        second.index if second.index is not None else current
    )


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached, contiguous CPU copy of `module`'s state dict: what a file or a returned
    result keeps, unchanged by later training of the module."""
    return {
        key: value.detach().cpu().contiguous().clone() for key, value in module.state_dict().items()
    }


def frozen_copy(module: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
    """A frozen, evaluation-mode copy of `module` on `device`: what a function that only runs
    a caller's network uses, so the caller's mode, gradients and device stay as they were."""
    return copy.deepcopy(module).eval().requires_grad_(False).to(device)


@contextmanager
def gradients_on(what: str) -> Iterator[None]:
    """Autograd on for `what`, a function that optimises (under a caller's torch.no_grad() its
    first backward pass failed deep in torch); torch.inference_mode(), whose tensors take no
    gradients, is refused in one sentence."""
    if torch.is_inference_mode_enabled():
        raise GANliftError(
            f"{what} optimises with gradients, which torch.inference_mode() turns off; call it "
            "outside that block (under torch.no_grad() it runs as it is)."
        )
    with torch.enable_grad():
        yield
