"""Joint pretraining's files: the weights `<out>.safetensors` with `<out>.json` beside them,
which fast mode reads, and the training state `<out>.resume.pt` (networks, optimiser, random
generator, iteration), which `pretrain(resume=True)` continues. All are written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import safetensors.torch
import torch
from safetensors import SafetensorError

from engine.atomic import atomic_path, save_torch, write_json
from engine.config import is_count
from engine.device import cpu_state
from engine.errors import GANliftError
from engine.gan2shape.networks import Gan2ShapeNetworks
from engine.gan2shape.presets import Gan2ShapePreset
from engine.stylegan2 import Generator
from engine.stylegan2.checkpoint import generator_fingerprint, safetensors_path
from engine.torch_files import (
    built_with_weights,
    check_weights,
    load_optimizer_state,
    load_weights,
    read_torch_file,
    set_rng_state,
)
from engine.versions import software_versions

if TYPE_CHECKING:
    from engine.gan2shape.pretrain import PretrainConfig

FORMAT_VERSION = 4


def load_pretrained(
    path: str | os.PathLike, preset: Gan2ShapePreset, generator: Generator | None = None
) -> dict[str, torch.Tensor]:
    """The pretrained networks' state dict from `path` (`.safetensors` + `.json`), checked
    against `preset`'s network configuration and, when the file records it, against the
    `generator` they were pretrained on."""
    path = safetensors_path(path)
    if not path.is_file():
        raise GANliftError(
            f"Fast mode needs jointly pretrained GAN2Shape networks at {path}, which do not "
            f"exist; create them with `python -m engine gan2shape-pretrain --model <model> "
            f"--out {path}`, or reconstruct at the full quality, which needs none."
        )
    if not path.with_suffix(".json").is_file():
        raise GANliftError(
            f"The pretrained networks {path} have no {path.with_suffix('.json').name} beside "
            "them; copy it along with the weights (gan2shape-pretrain writes both)."
        )
    try:
        info = json.loads(path.with_suffix(".json").read_text())
        weights = safetensors.torch.load_file(str(path))
    except (OSError, ValueError, SafetensorError) as error:
        raise GANliftError(
            f"The pretrained networks {path} (or the .json beside it) cannot be read; "
            "pretrain them again."
        ) from error
    if not isinstance(info, dict):
        raise GANliftError(
            f"The {path.with_suffix('.json').name} beside the pretrained networks {path} holds "
            "no JSON object; copy the one gan2shape-pretrain wrote, or pretrain them again."
        )
    if info.get("networks") != dataclasses.asdict(preset.networks):
        raise GANliftError(
            f"The pretrained networks {path} were trained for other network sizes than preset "
            f"'{preset.name}'; pretrain them again with this preset."
        )
    recorded = info.get("generator")
    if generator is not None and recorded not in (None, generator_fingerprint(generator)):
        raise GANliftError(
            f"The pretrained networks {path} were pretrained on another StyleGAN2 than this "
            "one; pretrain them again for it (gan2shape-pretrain), or reconstruct at the full "
            "quality, which needs none."
        )
    source, fix = f"The pretrained networks {path}", "pretrain them again"
    if generator is None:
        check_weights(weights, source, fix)
    else:  # every tensor there, at its shape and finite (load_weights checks both)
        built_with_weights(
            lambda: Gan2ShapeNetworks(preset.networks, style_dim=generator.style_dim),
            weights, source, fix,
        )  # fmt: skip
    return weights


def pretraining_progress(path: str | os.PathLike) -> tuple[int, int] | None:
    """(iterations done, iterations planned) that the JSON beside the pretrained networks at
    `path` records, or None where there is none to read (so that a run stopped early can be
    told from a finished one)."""
    try:
        info = json.loads(safetensors_path(path).with_suffix(".json").read_text())
        return int(info["iteration"]), int(info["total"])
    except (OSError, ValueError, TypeError, KeyError):
        return None


@dataclass
class PretrainingRun:
    """What a pretraining run trains and saves (its networks, their optimiser, the random
    generator drawing its batches) and what a resume of it must share: its preset, settings
    and length in iterations, the fingerprint of its GAN and its precision."""

    networks: Gan2ShapeNetworks
    optimizer: torch.optim.Optimizer
    rng: torch.Generator
    preset: Gan2ShapePreset
    config: PretrainConfig
    total: int
    generator: str
    bf16: bool


def save_pretraining(path: Path, run: PretrainingRun, iteration: int) -> None:
    """Write `run`'s training state after `iteration` iterations, the weights and their JSON
    description (with the fingerprint of the GAN they were pretrained on), each atomically and
    in that order: a run killed in between holds a state to resume, and weights only beside a
    full state."""
    info = {
        "format_version": FORMAT_VERSION,
        "preset": run.preset.name,
        "generator": run.generator,
        "networks": dataclasses.asdict(run.preset.networks),
        "config": dataclasses.asdict(run.config),
        "iteration": iteration,
        "total": run.total,
        "bf16": run.bf16,
        "software": software_versions(),
    }
    weights = cpu_state(run.networks)
    state = {
        "format_version": FORMAT_VERSION,
        "preset": run.preset.to_json(),
        "config": dataclasses.asdict(run.config),
        "iteration": iteration,
        "generator": run.generator,
        "bf16": run.bf16,
        "networks": weights,
        "optimizer": run.optimizer.state_dict(),
        "rng": run.rng.get_state(),
    }
    save_torch(state, resume_path(path))
    with atomic_path(path) as temporary:
        safetensors.torch.save_file(weights, temporary)
    write_json(path.with_suffix(".json"), info)


def restore_pretraining(path: Path, run: PretrainingRun) -> int:
    """Load the training state saved beside `path` into `run`'s networks, optimiser and random
    generator; returns the iterations done. Refused where the saved run was trained on another
    GAN than `run`'s, with other settings (all but --steps and --save-every) or another
    precision, or holds more than `run.total` iterations."""
    state_path = resume_path(path)
    state = read_torch_file(
        state_path,
        missing=f"There is no pretraining state {state_path} to resume; run without --resume.",
        damaged=f"The pretraining state {state_path} is damaged; delete it and start again.",
    )
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise GANliftError(
            f"{state_path} was written by another version of GANlift; delete it and start again."
        )
    if not isinstance(state.get("config"), dict):
        raise GANliftError(
            f"{state_path} is damaged (it holds no settings); delete it and start again."
        )
    if state.get("preset") != run.preset.to_json():
        raise GANliftError(
            f"{state_path} was trained with another preset; resume with the same --model, or "
            "the same --ckpt with the same --category or --preset."
        )
    if state.get("generator", run.generator) != run.generator:
        raise GANliftError(
            f"{state_path} was trained on another StyleGAN2 than the one given; resume with the "
            "GAN it was started on."
        )
    saved = state["config"] | {"bf16": state.get("bf16", run.bf16)}
    given = dataclasses.asdict(run.config) | {"bf16": run.bf16}
    changed = [
        f"{flag} {_shown(saved[key])}"
        for key, flag in _RESUMED_SETTINGS.items()
        if saved.get(key) != given[key]
    ]
    if changed:
        raise GANliftError(
            f"{state_path} was trained with {', '.join(changed)}; resume with the same settings "
            "(only --steps and --save-every may change)."
        )
    iteration = state.get("iteration")
    if not is_count(iteration):
        raise GANliftError(
            f"{state_path} holds iteration {iteration!r}, which is no count; pretrain again "
            "into another --out."
        )
    if iteration > run.total:
        raise GANliftError(
            f"{state_path} already holds {iteration} iterations, more than the {run.total} these "
            "settings run (the prior fit, the warm-ups and --steps); raise --steps to go on."
        )
    fix = "resume from an intact copy or pretrain again into another --out"
    load_weights(run.networks, state.get("networks"), f"{state_path}'s networks", fix)
    load_optimizer_state(run.optimizer, state.get("optimizer"), str(state_path), fix)
    set_rng_state(run.rng, state.get("rng"), str(state_path), fix)
    return iteration


_RESUMED_SETTINGS = {
    "images": "--images",
    "truncation": "--truncation",
    "seed": "--seed",
    "batch": "--batch",
    "warmup_steps": "--warmup-steps",
    "warmup_batch": "--warmup-batch",
    "offset_warmup_steps": "--offset-warmup-steps",
    "bf16": "bfloat16",
}
"""The settings a resumed run must share with its start, by the option that sets them."""


def _shown(value: object) -> str:
    """A saved setting as the option takes it (a precision as on or off)."""
    return ("on" if value else "off (--fp32)") if isinstance(value, bool) else str(value)


def resume_path(path: Path) -> Path:
    """Where the training state of the weights at `path` is kept."""
    return path.with_suffix(".resume.pt")
