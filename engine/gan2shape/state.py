"""The resumable per-image state of a GAN2Shape run, its schedule and its file format.

A run is a flat schedule of phases: the prior fit (step 0, when the depth net starts untrained),
then steps 1, 2, 3 of every stage. The state holds where the run is (phase, iteration), the
networks, the running phase's optimiser, the projected-sample cache, the random generator and
the target, so a run saved at any iteration continues exactly where it stopped. Files are one
`torch.save` dict of tensors and plain values (read back with `weights_only=True`), written
atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.atomic import save_torch
from engine.brief import brief_repr
from engine.config import is_count
from engine.device import resolve_device
from engine.errors import GANliftError
from engine.gan2shape.networks import Gan2ShapeNetworks
from engine.gan2shape.presets import Gan2ShapePreset
from engine.gan2shape.steps import ProjectedCache, Target
from engine.stylegan2 import Generator, generator_fingerprint
from engine.stylegan2.checkpoint import lowered_precision
from engine.stylegan2.config import MAX_STYLE_DIM
from engine.torch_files import built_with_weights, check_weights, read_torch_file

FORMAT_VERSION = 1
STEP_NAMES = {
    1: "reconstruct the input",
    2: "project pseudo samples",
    3: "learn the shape",
}


@dataclass(frozen=True)
class Phase:
    """One entry of the schedule: `step` 0 (prior fit) or 1..3 of `stage` (0-based)."""

    stage: int
    step: int
    length: int

    def describe(self, num_stages: int) -> str:
        """A name for progress messages, e.g. 'stage 2/4, step 3/3 (learn the shape)'."""
        if self.step == 0:
            return "prior fit (depth net -> ellipsoid)"
        return f"stage {self.stage + 1}/{num_stages}, step {self.step}/3 ({STEP_NAMES[self.step]})"


def schedule(preset: Gan2ShapePreset, *, fit_prior: bool) -> list[Phase]:
    """The phases of a run: the prior fit (if any), then steps 1-3 of every stage."""
    phases = [Phase(0, 0, preset.prior_steps)] if fit_prior else []
    for stage in range(preset.num_stages):
        lengths = preset.stage_lengths(stage)
        phases += [Phase(stage, step, lengths.of(step)) for step in (1, 2, 3)]
    return phases


@dataclass
class RecoveryState:
    """Everything needed to continue a run on one image."""

    __repr__ = brief_repr  # shapes and sizes, not every value

    preset: Gan2ShapePreset
    networks: Gan2ShapeNetworks
    target: Target
    fit_prior: bool
    """Whether the schedule starts with the prior fit."""
    rng: torch.Tensor
    """State of the run's CPU random generator (pseudo samples, cache order)."""
    phase: int = 0
    """Index in `schedule(...)` of the running (or next) phase."""
    iteration: int = 0
    """Iterations of the running phase already done."""
    optimizer: dict[str, Any] | None = None
    """Optimiser state of a phase interrupted mid-way."""
    cache: ProjectedCache | None = None
    generator: str | None = None
    """`generator_fingerprint` of the GAN the run uses (None in states saved before it was
    recorded)."""

    @property
    def phases(self) -> list[Phase]:
        """This run's schedule."""
        return schedule(self.preset, fit_prior=self.fit_prior)

    @property
    def finished(self) -> bool:
        """Whether every phase has run."""
        return self.phase >= len(self.phases)

    def keep_for_viewing(self) -> None:
        """Drop, in place, what only continuing the run needs: the shape networks, the
        projected-sample cache and the optimiser state (13 of default-face's 16.6 MiB, for an app
        that keeps every visitor's recovery). Its Recovery's views, projections, meshes and
        outputs work as before; `continue_recovery` and `save_state` refuse it."""
        self.networks.drop_shape_networks()
        self.cache, self.optimizer = None, None

    def check_continuable(self) -> None:
        """A GANliftError where `keep_for_viewing` dropped what continuing needs."""
        if not self.networks.has_shape_networks:
            raise GANliftError(
                "This GAN2Shape state was kept for viewing only (keep_for_viewing dropped its "
                "shape networks); continue or save the state before dropping them."
            )


def save_state(state: RecoveryState, path: str | os.PathLike) -> Path:
    """Write `state` to `path` atomically (a temporary file renamed into place)."""
    state.check_continuable()
    path = Path(path)
    target = state.target
    data = {
        "format_version": FORMAT_VERSION,
        "preset": state.preset.to_json(),
        "style_dim": target.latent.shape[-1],
        "networks": _cpu(state.networks.state_dict()),
        "target": {
            "image": target.image,
            "mask": target.mask,
            "latent": target.latent,
            "noises": list(target.noises),
            "gan_image": target.gan_image,
            "psnr": target.psnr,
            "mask_given": target.mask_given,
        },
        "fit_prior": state.fit_prior,
        "rng": state.rng,
        "phase": state.phase,
        "iteration": state.iteration,
        "optimizer": state.optimizer,
        "cache": None
        if state.cache is None
        else {
            "images": state.cache.images,
            "masks": state.cache.masks,
            "cursor": state.cache.cursor,
        },
        "generator": state.generator,
    }
    return save_torch(_cpu(data), path)


def load_state(path: str | os.PathLike, *, device: torch.device | str = "cpu") -> RecoveryState:
    """Read a state written by `save_state`, with its networks and tensors on `device`."""
    path, device = Path(path), resolve_device(device)
    data = read_torch_file(
        path,
        missing=f"GAN2Shape state file {path} does not exist; check the path.",
        damaged=f"GAN2Shape state file {path} is damaged or not a state file; start the run again.",
    )
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise GANliftError(
            f"GAN2Shape state file {path} is not in format version {FORMAT_VERSION}; "
            "start the run again."
        )
    fix = "start the run again"
    preset = Gan2ShapePreset.from_json(_part(data, path, "preset", str), source=f"preset in {path}")
    style_dim = _part(data, path, "style_dim", int)
    if not 1 <= style_dim <= MAX_STYLE_DIM:
        raise GANliftError(f"GAN2Shape state file {path} holds style_dim {style_dim}; {fix}.")
    networks = built_with_weights(
        lambda: Gan2ShapeNetworks(preset.networks, style_dim=style_dim),
        data.get("networks"), f"GAN2Shape state file {path}'s networks", fix,
    )  # fmt: skip
    saved = _part(data, path, "target", dict)
    side = preset.networks.image_size
    shapes = {"image": (1, 3, side, side), "mask": (1, 1, side, side), "gan_image": (1, 3)}
    for name, shape in shapes.items():
        tensor = _part(saved, path, name, torch.Tensor)
        if tuple(tensor.shape[: len(shape)]) != shape or tensor.dim() != 4:
            raise GANliftError(
                f"GAN2Shape state file {path} holds a target {name} of shape "
                f"{list(tensor.shape)}, not {list(shape)}; {fix}."
            )
    latent, noises = _part(saved, path, "latent", torch.Tensor), _part(saved, path, "noises", list)
    if latent.shape[-1] != style_dim or latent.dim() not in (2, 3):
        raise GANliftError(
            f"GAN2Shape state file {path} holds a latent of shape {list(latent.shape)} for a "
            f"{style_dim}-wide GAN; {fix}."
        )
    if not all(isinstance(noise, torch.Tensor) for noise in noises):
        raise GANliftError(
            f"GAN2Shape state file {path} holds noise maps that are no tensors; {fix}."
        )
    check_weights(
        {name: saved[name] for name in ("image", "mask", "latent", "gan_image")}
        | {f"noise {index}": noise for index, noise in enumerate(noises)},
        f"GAN2Shape state file {path}'s target",
        fix,
    )
    target = Target(
        image=saved["image"].to(device),
        mask=saved["mask"].to(device),
        latent=latent.to(device),
        noises=[noise.to(device) for noise in noises],
        gan_image=saved["gan_image"].to(device),
        psnr=float(_part(saved, path, "psnr", float)),
        mask_given=_mask_given(saved, path),
    )
    cache = _part(data, path, "cache", dict | None)
    if cache is not None:
        images, masks = (_part(cache, path, name, torch.Tensor) for name in ("images", "masks"))
        cache = ProjectedCache(images, masks, _part(cache, path, "cursor", int))
    optimizer = _part(data, path, "optimizer", dict | None)
    return RecoveryState(
        preset=preset,
        networks=networks.to(device),
        target=target,
        fit_prior=_part(data, path, "fit_prior", bool),
        rng=_part(data, path, "rng", torch.Tensor),
        phase=_part(data, path, "phase", int),
        iteration=_part(data, path, "iteration", int),
        optimizer=optimizer,
        cache=cache,
        generator=_part(data, path, "generator", str | None),
    )


def _mask_given(saved: dict, path: Path) -> bool:
    """The target's `mask_given`; False in a state written before it was recorded, which kept
    a mask only where it did not cover the whole frame."""
    return "mask_given" in saved and _part(saved, path, "mask_given", bool)


def _part(data: dict, path: Path, name: str, kind: Any) -> Any:
    """``data[name]`` of the state file ``path``, refused in a sentence unless it is a ``kind``
    (a float is any real number, NaN too; counts are whole numbers of 0 or more)."""
    value = data.get(name) if isinstance(data, dict) else None
    if kind is float:
        fits = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind is int:
        fits = is_count(value)
    else:
        fits = isinstance(value, kind)
    if not fits:
        raise GANliftError(
            f"GAN2Shape state file {path} holds a damaged {name} ({str(value)[:40]}); start the "
            "run again."
        )
    return value


def check_same_generator(state: RecoveryState, G: Generator) -> None:
    """Refuse `G` unless `state`'s run was made with it: another GAN of the same shapes draws
    its own objects from the run's latent (a face run's novel views came out as cars). A copy
    in a lower precision (bf16 or half weights) has other weights, so it is taken as it is."""
    if (
        state.generator is not None
        and not lowered_precision(G)
        and state.generator != generator_fingerprint(G)
    ):
        raise GANliftError(
            "This GAN2Shape run was made with another generator than the one given (weight "
            f"fingerprint {state.generator}); pass the model it was run with."
        )


def _cpu(value: Any) -> Any:
    """`value` with every tensor (in dicts, lists, tuples) detached and moved to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _cpu(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_cpu(item) for item in value)
    return value
