"""Typed dataclass configs ↔ JSON for StyleGAN-R, with unknown keys rejected, and the one
training-state file each trainer writes atomically and resumes from.

A state file is ``torch.save`` of a plain dict {format, version, step, config (JSON text),
modules and optimisers (state dicts), rng}; it is read back with ``weights_only=True``, so
loading never runs code from the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import typing
from pathlib import Path
from typing import Any, TypeVar

import torch

from engine.atomic import atomic_path, save_torch
from engine.errors import GANliftError

ConfigT = TypeVar("ConfigT")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) dataclass config."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(cls: type[ConfigT], data: Any, source: str = "config") -> ConfigT:
    """Build dataclass ``cls`` from a dict (nested dataclasses too); unknown keys, missing keys
    and invalid values raise a GANliftError naming ``source``."""
    if not isinstance(data, dict):
        raise GANliftError(f"{source} must be a JSON object, got {type(data).__name__}.")
    hints = typing.get_type_hints(cls)
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise GANliftError(
            f"{source} has unknown keys {unknown}; allowed keys are {sorted(known)}."
        )
    values = {
        name: config_from_dict(hints[name], value, f"{source}.{name}")
        if dataclasses.is_dataclass(hints[name])
        else value
        for name, value in data.items()
    }
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise GANliftError(f"{source} is not a valid {cls.__name__}: {error}.") from error


def save_config(config: Any, path: str | os.PathLike) -> Path:
    """Write a dataclass config as indented JSON."""
    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(config_to_dict(config), indent=2, sort_keys=True) + "\n")
    return path


def load_config(cls: type[ConfigT], path: str | os.PathLike) -> ConfigT:
    """Read a dataclass config written by `save_config` (or by hand)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise GANliftError(f"Cannot read config {path} ({error}); fix or recreate it.") from error
    return config_from_dict(cls, data, str(path))


def write_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Save a training state dict to ``path``: a temporary file beside it, then one rename."""
    return save_torch(state, path)


def read_state(path: str | os.PathLike, expected_format: str) -> dict[str, Any]:
    """Load a state written by `write_state`; the file's ``format`` must be ``expected_format``."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise GANliftError(
            f"{path} does not exist; check the path or train a model first."
        ) from error
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise GANliftError(f"{path} is not a readable GANlift state file; re-create it.") from error
    if not isinstance(state, dict) or state.get("format") != expected_format:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise GANliftError(
            f"{path} holds '{found}', not a '{expected_format}' file; pass the right file."
        )
    return state
