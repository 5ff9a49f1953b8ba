"""GAN2Shape on one image: `recover` sets up a run (framing, GAN inversion, networks, prior) and
`continue_recovery` runs (or resumes) its schedule of prior fit and stages × three steps."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from engine.brief import brief_repr
from engine.device import (
    frozen_copy,
    gradients_on,
    module_device,
    resolve_device,
    same_device,
)
from engine.errors import GANliftError, StoppedEarly
from engine.gan2shape.frames import to_network_frame
from engine.gan2shape.inputs import default_mask
from engine.gan2shape.latent_offset import LatentProjector
from engine.gan2shape.networks import Gan2ShapeNetworks
from engine.gan2shape.parametrisation import compose_image
from engine.gan2shape.photogeometry import albedo_from_image, decompose, render_in_views
from engine.gan2shape.presets import PRESETS, Gan2ShapePreset, PresetChoice, get_preset
from engine.gan2shape.state import Phase, RecoveryState, check_same_generator, save_state
from engine.gan2shape.steps import (
    StepContext,
    Target,
    canonical_mask,
    collect_projected,
    prior_loss,
    projection_loss,
    reconstruction_loss,
    shape_loss,
    take_snapshot,
)
from engine.images import checked_image, checked_mask, fit_to_frame
from engine.inversion import GivenLatent, check_latent_fits, latent_parts, project
from engine.metrics import psnr
from engine.perceptual import PerceptualLoss, perceptual_loss
from engine.progress import ProgressFn, StopFn
from engine.randomness import global_rng_kept
from engine.stylegan2 import Discriminator, Generator, generator_fingerprint
from engine.torch_files import load_optimizer_state


@dataclass
class Recovery:
    """What GAN2Shape recovered for one image (networks' frame, batch 1, detached)."""

    __repr__ = brief_repr  # shapes and sizes, not every value

    depth: torch.Tensor  # [1, S, S] canonical depth in the preset's camera depth range
    albedo: torch.Tensor  # [1, 3, S, S] in [-1, 1], solved per pixel (`albedo_from_image`)
    view: torch.Tensor  # [1, 6] (pitch, yaw, roll in radians, unlike render_view's degrees; t)
    light: torch.Tensor  # [1, 4] (ambient, diffuse, dx, dy)
    normal: torch.Tensor  # [1, 3, S, S] canonical normals
    shading: torch.Tensor  # [1, 1, S, S]
    canonical_image: torch.Tensor  # [1, 3, S, S] albedo lit by the recovered light
    image: torch.Tensor  # [1, 3, S, S] the input in the networks' frame
    mask: torch.Tensor  # [1, 1, S, S] the object mask carried into the canonical frame
    latent: torch.Tensor  # [1, D] or [1, num_ws, D] the input's GAN inversion
    psnr: float
    """PSNR of the GAN inversion, dB."""
    redraw_psnr: float
    """PSNR of the recovery drawn in its own view against the input where it covers it, dB."""
    state: RecoveryState
    """The run's networks, counters and cache: pass to `continue_recovery` to refine or resume."""

    @property
    def finished(self) -> bool:
        """False when the run was stopped before its last phase."""
        return self.state.finished


@gradients_on("GAN2Shape")
def recover(
    G: Generator,
    D: Discriminator,
    image: torch.Tensor,
    *,
    preset: PresetChoice,
    mask: torch.Tensor | None = None,
    latent: GivenLatent | None = None,
    device: torch.device | str | None = None,
    perceptual: PerceptualLoss | None = None,
    init: Mapping[str, torch.Tensor] | None = None,
    seed: int = 0,
    bf16: bool = False,
    checkpoint: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> Recovery:
    """Recover depth, albedo, view and light of `image [1, 3, H, W]` (in [-1, 1], any size;
    centre-cropped to the GAN's frame) with generator `G` and discriminator `D`.

    `mask` (`[1, 1, H, W]` in [0, 1], same frame as `image`) outlines the object for the
    prior and, with the preset's `use_mask`, the losses; without it such presets take
    GrabCut's (`object_mask`), the others the whole frame.
    `latent` is the image's inversion, with its noise maps if it has them (else
    `engine.inversion.project` runs for the preset's `inversion_steps`). The run works on
    `device` (default: where `G` lives) with copies of the networks. `init` is a
    `Gan2ShapeNetworks` state dict (e.g. pretrained weights): then the prior fit is skipped.
    `perceptual` defaults to LPIPS when its weights are on disk, else discriminator features.
    `bf16` runs the generator, discriminator and perceptual passes under bfloat16 autocast
    where the hardware has it (faster on AMX CPUs; float32 otherwise). `checkpoint` is a file
    the state is saved to after every phase and on stop. `progress(done, total, message)`
    names stage and step; `should_stop()` is polled before every iteration. A stop during the
    inversion raises `StoppedEarly`: a half-done inversion would be kept as the target for
    good, so nothing is saved then.
    """
    preset = get_preset(preset)
    device = resolve_device(module_device(G) if device is None else device)
    check_generator(G, preset)
    image = checked_image(image, "GAN2Shape")
    if latent is not None:
        check_latent_fits(latent, G, image)
    fingerprint = generator_fingerprint(G)  # the caller's G: kept from its last use, not the copy's
    G, D = frozen_copy(G, device), frozen_copy(D, device)
    perceptual = perceptual or perceptual_loss("auto", discriminator=D, device=device)
    target = _prepare_target(
        G, image, mask, latent, preset, perceptual, device, progress, should_stop
    )
    with global_rng_kept(seed):
        networks = Gan2ShapeNetworks(preset.networks, style_dim=G.style_dim)
    if init is not None:
        _load_init(networks, init)
    state = RecoveryState(
        preset=preset,
        networks=networks.to(device),
        target=target,
        fit_prior=init is None,
        rng=torch.Generator().manual_seed(seed).get_state(),
        generator=fingerprint,
    )
    return _run(G, D, state, perceptual, bf16, checkpoint, progress, should_stop)


@gradients_on("GAN2Shape")
def continue_recovery(
    G: Generator,
    D: Discriminator,
    state: RecoveryState,
    *,
    device: torch.device | str | None = None,
    perceptual: PerceptualLoss | None = None,
    bf16: bool = False,
    checkpoint: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> Recovery:
    """Run the rest of `state`'s schedule (e.g. a stopped run's `Recovery.state`, or a state
    loaded with `load_state(path, device=device)`) with the generator it was started with,
    on the state's device (a `device` other than it is refused); arguments as in `recover`.
    The state is updated in place."""
    state.check_continuable()
    state_device = module_device(state.networks)
    device = resolve_device(state_device if device is None else device)
    if not same_device(device, state_device):
        raise GANliftError(
            f"The GAN2Shape state is on {state_device}, not {device}; load it with "
            f"load_state(path, device='{device}') or leave device out."
        )
    check_generator(G, state.preset)
    check_same_generator(state, G)
    G, D = frozen_copy(G, device), frozen_copy(D, device)
    perceptual = perceptual or perceptual_loss("auto", discriminator=D, device=device)
    return _run(G, D, state, perceptual, bf16, checkpoint, progress, should_stop)


def _run(
    G: Generator,
    D: Discriminator,
    state: RecoveryState,
    perceptual: PerceptualLoss,
    bf16: bool,
    checkpoint: str | os.PathLike | None,
    progress: ProgressFn | None,
    should_stop: StopFn | None,
) -> Recovery:
    """Run `state`'s remaining phases with frozen `G` and `D` on the state's device."""
    preset, target = state.preset, state.target
    rng = torch.Generator()
    rng.set_state(state.rng)
    context = StepContext(
        preset=preset,
        networks=state.networks,
        target=target,
        discriminator=D,
        perceptual=perceptual,
        projector=latent_projector(G, state.preset, state.target),
        rng=rng,
        bf16=bf16,
    )
    phases = state.phases
    total = sum(phase.length for phase in phases)
    while not state.finished:
        start = sum(phase.length for phase in phases[: state.phase])
        stopped = _run_phase(
            state, context, phases[state.phase], start, total, progress, should_stop
        )
        state.rng = rng.get_state()
        if stopped:
            break
        state.phase, state.iteration = state.phase + 1, 0
        if checkpoint is not None:
            save_state(state, checkpoint)
    if checkpoint is not None:
        save_state(state, checkpoint)
    return _summarise(state)


def latent_projector(G: Generator, preset: Gan2ShapePreset, target: Target) -> LatentProjector:
    """The projector onto `G`'s manifold around `target`'s latent, as `preset` projects (its
    offset layers, crop and frame; offsets relative to the GAN image where it says so)."""
    return LatentProjector(
        G,
        target.latent,
        noise=target.noises or "const",
        offset_layers=preset.offset_layers,
        crop=preset.crop,
        image_size=preset.networks.image_size,
        reference=target.gan_image if preset.relative_offset else None,
    )


def _run_phase(
    state: RecoveryState,
    context: StepContext,
    phase: Phase,
    start: int,
    total: int,
    progress: ProgressFn | None,
    should_stop: StopFn | None,
) -> bool:
    """Run `phase` from `state.iteration` on (then collect the cache after step 2), reporting
    progress as `start` + iterations of `total`; returns True when `should_stop` interrupted
    it (the optimiser state is then kept in `state`; an interrupted collection is redone)."""
    preset, networks = state.preset, state.networks
    trained = {
        0: [networks.depth_net],
        1: [networks.albedo_net],
        2: [networks.offset_net],
        3: networks.shape_networks(),
    }[phase.step]
    networks.requires_grad_(False)
    for network in trained:
        network.requires_grad_(True)
    optimizer = torch.optim.Adam(
        [parameter for network in trained for parameter in network.parameters()],
        lr=preset.lr,
        betas=(0.9, 0.999),
        weight_decay=preset.weight_decay,
    )
    if state.optimizer is not None:
        load_optimizer_state(optimizer, state.optimizer, "The run's saved state", "start it again")
    name = phase.describe(preset.num_stages)
    loss_of = _phase_loss(state, context, phase)
    try:
        for iteration in range(state.iteration, phase.length):
            if should_stop is not None and should_stop():
                state.optimizer = optimizer.state_dict()
                return True
            loss = loss_of()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            state.iteration = iteration + 1
            if progress is not None:
                progress(start + state.iteration, total, f"{name}: loss {float(loss.detach()):.4f}")
    finally:  # stopped or failed too: views and meshes of the state build no autograd graphs
        networks.requires_grad_(False)
    state.optimizer = None
    if phase.step != 2:
        return False
    if progress is not None:
        progress(start + phase.length, total, f"{name}: caching projected samples")
    rng_before = context.rng.get_state()
    state.cache = collect_projected(context, take_snapshot(context), should_stop=should_stop)
    if state.cache is None:  # stopped: a resumed run collects again from the same samples
        context.rng.set_state(rng_before)
        return True
    return False


def _phase_loss(
    state: RecoveryState, context: StepContext, phase: Phase
) -> Callable[[], torch.Tensor]:
    """A function computing one iteration's loss for `phase`."""
    preset = state.preset
    if phase.step == 0:
        prior = preset.prior(context.target.mask[:, 0])  # [1, S, S]
        return lambda: prior_loss(context, prior)
    if phase.step == 1:
        flip = preset.flip_step1[phase.stage]
        return lambda: reconstruction_loss(context, flip=flip)[0]
    if phase.step == 2:
        snapshot = take_snapshot(context)
        return lambda: projection_loss(context, snapshot)
    if state.cache is None:
        raise GANliftError("Step 3 needs the projected samples of step 2; start the run again.")
    cache, flip = state.cache, preset.flip_step3[phase.stage]
    return lambda: shape_loss(context, cache, flip=flip)


def _summarise(state: RecoveryState) -> Recovery:
    """The recovered factors of the input under the state's current networks, with the albedo
    solved per pixel so that the recovery redraws the input (the albedo net's where unseen)."""
    target = state.target
    with torch.no_grad():
        parts = decompose(state.networks, target.image, state.preset)
        mask = canonical_mask(parts.depth, parts.view, target.mask)
        albedo = albedo_from_image(
            target.image, parts.depth, parts.view, parts.shading, fallback=parts.albedo
        )
        canonical_image = compose_image(albedo, parts.shading)
        redrawn, covered = render_in_views(canonical_image, parts.depth, parts.view)
    return Recovery(
        depth=parts.depth,
        albedo=albedo,
        view=parts.view,
        light=parts.light,
        normal=parts.normal,
        shading=parts.shading,
        canonical_image=canonical_image,
        image=target.image,
        mask=mask,
        latent=target.latent,
        psnr=target.psnr,
        redraw_psnr=float(psnr(redrawn, target.image, covered)[0]),
        state=state,
    )


def _prepare_target(
    G: Generator,
    image: torch.Tensor,
    mask: torch.Tensor | None,
    latent: GivenLatent | None,
    preset: Gan2ShapePreset,
    perceptual: PerceptualLoss,
    device: torch.device,
    progress: ProgressFn | None,
    should_stop: StopFn | None,
) -> Target:
    """Frame the image `[1, 3, H, W]` (and mask) and invert it into the GAN unless a latent
    is given (both checked by `recover`)."""
    size, frame = preset.networks.image_size, G.config.size
    gan_frame = fit_to_frame(image.to(device, torch.float32), frame)  # [1, 3, G, G]
    given_mask = mask is not None
    if given_mask:
        mask = _framed_mask(mask, image, frame, device)
    else:
        mask = default_mask(gan_frame, preset.use_mask)
    if latent is None:
        latent = project(
            G,
            gan_frame,
            num_steps=preset.inversion_steps,
            perceptual=perceptual,
            device=device,
            progress=None if progress is None else _prefixed(progress, "GAN inversion"),
            should_stop=should_stop,
        )
        if len(latent.losses) < preset.inversion_steps:  # a half-done inversion is no target
            raise StoppedEarly(
                f"Stopped during the GAN inversion (step {len(latent.losses)} of "
                f"{preset.inversion_steps}), before anything was saved; start again to redo it."
            )
    codes, noises = latent_parts(latent)
    codes, noises = codes.to(device, torch.float32), [noise.to(device) for noise in noises]
    with torch.no_grad():
        generated = G.synthesis(codes, noise=noises or "const").clamp(-1, 1)  # [1, 3, G, G]
    return Target(
        image=to_network_frame(gan_frame, crop=preset.crop, size=size),
        mask=to_network_frame(mask, crop=preset.crop, size=size),
        latent=codes,
        noises=noises,
        gan_image=to_network_frame(generated, crop=preset.crop, size=size),
        psnr=float(psnr(generated, gan_frame)[0]),
        mask_given=given_mask,
    )


def _prefixed(progress: ProgressFn, prefix: str) -> ProgressFn:
    """`progress` with `prefix: ` put before every message."""
    return lambda done, total, message: progress(done, total, f"{prefix}: {message}")


def _framed_mask(
    mask: torch.Tensor, image: torch.Tensor, frame: int, device: torch.device
) -> torch.Tensor:
    """`mask` as `[1, 1, frame, frame]`, cropped and resized like the image."""
    mask = checked_mask(mask, *image.shape[-2:], "GAN2Shape")
    return fit_to_frame(mask.to(device), frame).clamp(0, 1)


def _load_init(networks: Gan2ShapeNetworks, init: Mapping[str, torch.Tensor]) -> None:
    """Load initial weights strictly, naming the mismatch in a GANliftError."""
    try:
        networks.load_state_dict(dict(init), strict=True)
    except RuntimeError as error:
        raise GANliftError(
            "The initial GAN2Shape weights do not match the preset's networks; use weights "
            "saved from a run with the same preset."
        ) from error


def check_generator(G: Generator, preset: Gan2ShapePreset) -> None:
    """Refuse a generator whose image size is not the preset's."""
    if G.config.size != preset.gan_size:
        fitting = [name for name, known in PRESETS.items() if known.gan_size == G.config.size]
        fix = (
            f"choose a preset for it ({', '.join(fitting)})"
            if fitting
            else f'give it a preset JSON file of its own with "gan_size": {G.config.size} '
            "(the commands' --preset FILE, the app's --category FILE), made from the closest "
            "preset as the README's GAN2Shape section shows"
        )
        raise GANliftError(
            f"Preset '{preset.name}' is for {preset.gan_size}-px generators but this one makes "
            f"{G.config.size}-px images; {fix}."
        )
