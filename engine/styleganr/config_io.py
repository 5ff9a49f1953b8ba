"""Typed dataclass configs as JSON files for StyleGAN-R (engine.config), the one
training-state file each trainer writes atomically and resumes from, and the step loop they
share.

A state file is ``torch.save`` of a plain dict {format, version, step, config (JSON text),
modules and optimisers (state dicts), rng}; it is read back with ``weights_only=True``, so
loading never runs code from the file.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from engine.atomic import save_torch, write_json
from engine.config import (
    config_changes,
    config_from_dict,
    config_to_dict,
    is_count,
    read_json_file,
)
from engine.errors import GANliftError
from engine.progress import ProgressFn, StopFn
from engine.state_kinds import STATE_KINDS, state_kind
from engine.stylegan2.checkpoint import MODELS_DIR, is_model_name
from engine.torch_files import read_torch_file

ConfigT = TypeVar("ConfigT")


def save_config(config: Any, path: str | os.PathLike) -> Path:
    """Write a dataclass config as indented JSON."""
    return write_json(path, config_to_dict(config), sort_keys=True)


def load_config(cls: type[ConfigT], path: str | os.PathLike, what: str) -> ConfigT:
    """Read a dataclass config written by `save_config` (or by hand); `what` ("The hand labels
    file") begins a refusal of a file that cannot be read as one."""
    data = read_json_file(path, what)
    try:
        return config_from_dict(cls, data, cls.__name__)
    except GANliftError as error:
        raise GANliftError(f"In {what.lower()} {path}: {error}") from error


def write_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Save a training state dict to ``path``: a temporary file beside it, then one rename."""
    return save_torch(state, path)


def bundled_path(spec: str | os.PathLike, models_dir: Path = MODELS_DIR) -> Path:
    """`spec` as a path, or a bundled name ("default-car-styleganr") as `<models_dir>/<name>.pt`
    when no such file exists where the user is."""
    path = Path(spec).expanduser()
    if path.exists() or not is_model_name(spec):
        return path
    return models_dir / f"{spec}.pt"


def read_state(path: str | os.PathLike, *expected_formats: str) -> dict[str, Any]:
    """Load a state written by `write_state` (a bundled one by name, "default-car-labeller",
    where there is one and no such file is here); the file's ``format`` must be one of
    ``expected_formats``."""
    bundled = bundled_path(path)
    path = bundled if bundled.is_file() else Path(path)
    kinds = [STATE_KINDS.get(tag, (f"a '{tag}' file", "GANlift")) for tag in expected_formats]
    wanted = " or ".join(kind for kind, _ in kinds)
    fix = f"pass the file {', or '.join(writer for _, writer in kinds)} wrote"
    state = read_torch_file(
        path,
        missing=f"{path} does not exist; check the path or train a model first.",
        damaged=f"{path} cannot be read as {wanted} (a StyleGAN2 checkpoint or another kind of "
        f"file?); {fix}.",
    )
    if not isinstance(state, dict) or state.get("format") not in expected_formats:
        found = state.get("format") if isinstance(state, dict) else None
        holds = state_kind(found) if found else "plain weights"
        raise GANliftError(f"{path} holds {holds}, not {wanted}; {fix}.")
    return state


STATE_FIX = "pass the file GANlift wrote, or train it again"
"""How a refusal of a damaged or edited state file ends."""


def state_part(state: dict[str, Any], path: str | os.PathLike, *names: str) -> Any:
    """``state[names[0]][names[1]]...`` of a state read from ``path``; a state that lacks it
    (damaged or edited: a KeyError or TypeError deep in a loader before) is refused."""
    part: Any = state
    for depth, name in enumerate(names):
        if not isinstance(part, dict) or name not in part:
            raise GANliftError(
                f"{path} lacks its {'.'.join(names[: depth + 1])} (a damaged or edited file); "
                f"{STATE_FIX}."
            )
        part = part[name]
    return part


def state_step(state: dict[str, Any], path: str | os.PathLike, *names: str) -> int:
    """The step count at ``names`` (default ``step``) of a state, a whole number of 0 or more."""
    step = state_part(state, path, *(names or ("step",)))
    if not is_count(step):
        raise GANliftError(f"{path} holds step {step!r}, which is no count of steps; {STATE_FIX}.")
    return step


def check_run_counts(config: Any) -> None:
    """Refuse a trainer's config whose steps, batch size or checkpoint_every is below 1 (a
    run of no steps, batches of nothing, or a state written never)."""
    steps, batch_size, every = config.steps, config.batch_size, config.checkpoint_every
    if min(steps, batch_size, every) < 1:
        raise GANliftError(
            f"steps, batch size and checkpoint_every must be at least 1, got {steps}, "
            f"{batch_size} and {every}; fix --steps / --batch-size or the config file."
        )


def check_resumable(
    path: str | os.PathLike, stored: Any, config: Any, *, free: tuple[str, ...] = ("steps",)
) -> None:
    """Refuse to resume the state file at ``path``, written with config ``stored``, under a
    different ``config`` (only the fields in ``free`` may change), naming each field that
    differs."""
    names = [field.name for field in dataclasses.fields(config) if field.name not in free]
    changed = config_changes(stored, config, names)
    if changed:
        raise GANliftError(
            f"{path} was written by a run with a different config ({'; '.join(changed)}); "
            f"pass the same config (only {', '.join(free)} may change) or choose a new state "
            "file."
        )


def check_not_past_steps(path: str | os.PathLike, step: int, steps: int) -> None:
    """Refuse a run asked for `steps` whose state file at `path` already holds more: it would
    train nothing, yet report success."""
    if step > steps:
        raise GANliftError(
            f"{path} already holds {step} training steps, more than the {steps} asked for; pass "
            f"--steps {step} or more to go on, or choose a new --out."
        )


def run_steps(
    train_step: Callable[[int], float],
    save: Callable[[int], None],
    *,
    start: int,
    steps: int,
    checkpoint_every: int,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> int:
    """The loop every StyleGAN-R trainer runs: `train_step(step)` (0-based; returns its loss)
    from `start` until `steps` or `should_stop()`, `save(steps done)` every `checkpoint_every`
    steps and once more at the end if any step ran (a state already at `steps` is left as it
    is); returns the steps done."""
    step = start
    while step < steps and not (should_stop is not None and should_stop()):
        loss = train_step(step)
        step += 1
        if step % checkpoint_every == 0:
            save(step)
        if progress is not None:
            progress(step, steps, f"loss {loss:.4f}")
    if step > start:
        save(step)
    return step
