"""Joint pretraining (the paper's extension): one set of GAN2Shape networks trained on many GAN
samples at once, so that a new image needs only a short refinement (`quality="fast"`).

The samples are the generator's own images from seeded latents, so no inversion is needed.
Training fits the depth net to the ellipsoid prior for the preset's `prior_steps`, then warms
the photo-geometric networks up (optional `warmup_steps`: step 1's L1 loss on batches of
samples, with symmetry where the joint steps use it, the view and light nets at a higher rate,
as unsup3d trains them; the release starts from view and light nets pretrained that way), then
the latent-offset encoder (optional `offset_warmup_steps`: step 2's loss alone), then runs
joint iterations on a random batch of samples each: step 2's projection loss (trains the
latent-offset encoder) plus step 3's shape loss on projected samples collected fresh from that
encoder (trains depth, albedo, view and light), with the first stage's symmetry flag. All losses
come from `engine.gan2shape.steps`, so per-image and joint training cannot drift apart. For
presets with `use_mask`, each sample's object mask comes from GrabCut, as an uploaded image's
does.

Under torchrun every process draws the same global batch (sample indices and one random seed
per sample) and keeps its rows; the mean gradient is all-reduced and only rank 0 writes files,
so the weights do not depend on the number of processes.

Files (`engine.gan2shape.pretrained_files`): the weights as `<out>.safetensors` with
`<out>.json` beside it, and the training state as `<out>.resume.pt` so `resume=True` continues.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.config import whole_fields
from engine.device import cpu_state, frozen_copy, gradients_on, module_device, resolve_device
from engine.distributed import current_process_group
from engine.errors import GANliftError
from engine.gan2shape.frames import to_network_frame
from engine.gan2shape.inputs import default_masks
from engine.gan2shape.networks import Gan2ShapeNetworks
from engine.gan2shape.presets import Gan2ShapePreset, PresetChoice, get_preset
from engine.gan2shape.pretrained_files import (
    PretrainingRun,
    restore_pretraining,
    resume_path,
    save_pretraining,
)
from engine.gan2shape.recover import check_generator, latent_projector
from engine.gan2shape.steps import (
    StepContext,
    Target,
    autoencoder_loss,
    collect_projected,
    prior_loss,
    projection_loss,
    shape_loss,
    take_snapshot,
)
from engine.limits import check_seed
from engine.perceptual import PerceptualLoss, perceptual_loss
from engine.progress import ProgressFn, StopFn
from engine.randomness import global_rng_kept
from engine.stylegan2 import Discriminator, Generator
from engine.stylegan2.checkpoint import check_float32, generator_fingerprint, safetensors_path

WARMUP_VIEW_LR_SCALE = 10.0
"""The view and light nets' learning rate in the warm-up, in units of the preset's. At the
preset's rate, 300 iterations of batches of 16 taught a view net almost no yaw even against the
true canonical face (correlation 0.18 with the truth); at 10 times it, 0.67. The warm-up's
loss is L1 alone: with the discriminator-feature term each iteration took 5 times as long on a
CPU, and after 250 iterations its view net read yaw no better (0.20 against 0.33)."""

OFFSET_LR_SCALE = 10.0
"""The latent-offset encoder's learning rate from its warm-up on, in units of the preset's (a
run without an encoder warm-up keeps the preset's rate throughout, as before). At the preset's
rate the encoder of 150 joint steps (batches of 4) had learnt nothing: its projections of
default-face pseudo samples relit across the preset's light range did not follow the light
(slope 0.05 against the pseudo samples' own 1.36, as scripts/probe_relighting.py reads them),
so step 3 trained on copies of the input. Trained alone at 10 times the rate, it followed the
light after 800 single-sample iterations (slope 1.01 in a scratch run of the same probe)."""


@dataclass(frozen=True)
class PretrainConfig:
    """How many samples and iterations joint pretraining uses."""

    images: int = 256
    """GAN samples trained on (seeds `seed` .. `seed + images - 1`)."""
    steps: int = 1000
    """Joint iterations after the prior fit."""
    batch: int = 1
    """Samples per iteration (the global batch, split over torchrun processes)."""
    truncation: float = 0.7
    """Pull of the samples' w towards the mean w (1 = none)."""
    seed: int = 0
    save_every: int = 50
    """Iterations between saves of weights and training state."""
    warmup_steps: int = 0
    """Warm-up iterations between the prior fit and the joint ones (see the module doc)."""
    warmup_batch: int = 16
    """Samples per warm-up iteration (the global batch, like `batch`)."""
    offset_warmup_steps: int = 0
    """Iterations training the latent-offset encoder alone (step 2's loss on batches of `batch`
    samples) after the warm-up, before the joint ones."""

    def __post_init__(self) -> None:
        whole_fields(
            self,
            ("images", "steps", "batch", "seed", "save_every", "warmup_steps", "warmup_batch",
             "offset_warmup_steps"),
            "The pretraining setting",
        )  # fmt: skip
        if (
            self.images < 1
            or self.steps < 0
            or self.batch < 1
            or self.save_every < 1
            or self.warmup_steps < 0
            or self.offset_warmup_steps < 0
            or self.warmup_batch < 1
        ):
            raise GANliftError(
                "Pretraining needs at least 1 image, 0 or more steps and warm-up steps, "
                "batches of at least 1 and save_every >= 1."
            )
        if not 0 <= self.truncation <= 1:
            raise GANliftError(
                f"Pretraining truncation {self.truncation} is outside [0, 1]; pass --truncation "
                "between 0 (every sample at the mean w) and 1 (no truncation)."
            )

    def check_split(self, processes: int) -> None:
        """Refuse global batches that do not split evenly over `processes` torchrun processes."""
        batches = [("--batch", self.batch)]
        if self.warmup_steps:
            batches.append(("--warmup-batch", self.warmup_batch))
        for name, batch in batches:
            if batch % processes:
                raise GANliftError(
                    f"Pretraining {name} {batch} does not split into {processes} processes; "
                    f"pass a multiple of {processes}."
                )


@dataclass
class PretrainResult:
    """Where joint pretraining stands."""

    weights: dict[str, torch.Tensor]
    """The networks' state dict (CPU), ready for `recover(init=...)`."""
    iteration: int
    """Iterations done, the prior fit included."""
    total: int
    path: Path

    @property
    def finished(self) -> bool:
        """False when stopped before the last iteration."""
        return self.iteration >= self.total


@gradients_on("Pretraining")
def pretrain(
    G: Generator,
    D: Discriminator,
    *,
    preset: PresetChoice,
    out: str | os.PathLike,
    config: PretrainConfig = PretrainConfig(),
    resume: bool = False,
    perceptual: PerceptualLoss | None = None,
    device: torch.device | str | None = None,
    bf16: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> PretrainResult:
    """Train `preset`'s networks (a preset or its name) jointly on GAN samples of `G` on
    `device` (default: where `G` lives), saving to `out` (`.safetensors` + `.json` +
    `.resume.pt`). With `resume` the saved training state is continued (and must exist);
    without it an existing `out` is refused rather than overwritten.

    Under torch.distributed every process calls this with the same arguments; `config.batch`
    is the global batch, and only rank 0 reports progress and writes files."""
    preset = get_preset(preset)
    if Path(out).is_dir():
        raise GANliftError(
            f"{out} is a folder; give the weights file's name (for example "
            f"{Path(out) / 'gan2shape.safetensors'})."
        )
    check_generator(G, preset)  # not after the pretraining: recover refuses its networks
    check_float32(G, "Pretraining")
    if D is None:
        raise GANliftError(
            "Pretraining needs the GAN's discriminator (its features are the perceptual loss); "
            "load a checkpoint saved with it."
        )
    device = resolve_device(module_device(G) if device is None else device)
    group = current_process_group(device)
    config.check_split(group.world_size)
    path = safetensors_path(out)
    fingerprint = generator_fingerprint(G)
    G = frozen_copy(G, device)
    D = frozen_copy(D, device)
    perceptual = perceptual or perceptual_loss("auto", discriminator=D, device=device)
    with global_rng_kept(config.seed):
        networks = Gan2ShapeNetworks(preset.networks, style_dim=G.style_dim).to(device)
    optimizer = _optimizer(networks, preset)
    rng = torch.Generator().manual_seed(config.seed)
    schedule, total = _schedule(preset, config), _total_iterations(preset, config)
    run = PretrainingRun(networks, optimizer, rng, preset, config, total, fingerprint, bf16)
    iteration = restore_pretraining(path, run) if resume else 0
    if not resume and (path.exists() or resume_path(path).exists()):
        raise GANliftError(
            f"{path} already exists (or its run's {resume_path(path).name}); pass --resume to "
            "continue it or choose another --out."
        )
    latents, images = _samples(G, config, preset)
    masks = default_masks(images, preset.use_mask, progress if group.is_main else None)
    samples = _Samples(latents, images, masks)
    step_preset = preset.replace(collect_batches=1)  # step 3 takes a fresh batch every time
    warmup_preset = preset.replace(perceptual_weight=0.0)  # see WARMUP_VIEW_LR_SCALE
    size = preset.networks.image_size
    prior = preset.prior(torch.ones(1, size, size, device=device))  # [1, S, S]
    networks.train()
    while iteration < total:
        if group.any(should_stop is not None and should_stop()):
            break
        phase = _phase(iteration, schedule)
        view_light, offset = optimizer.param_groups[:2]
        view_light["lr"] = preset.lr * phase.view_light_lr_scale
        offset["lr"] = preset.lr * phase.offset_lr_scale
        optimizer.zero_grad(set_to_none=True)
        if phase.sample_loss is None:
            drawn = torch.randint(len(images), (config.warmup_batch,), generator=rng)  # [B]
            indices = group.shard(drawn)
            local_loss, _ = autoencoder_loss(
                networks, warmup_preset, perceptual, samples.images[indices],
                samples.masks[indices], flip=preset.flip_step3[0],
            )  # fmt: skip
            local_loss.backward()
            local_loss = local_loss.detach()
        else:
            indices = torch.randint(len(latents), (config.batch,), generator=rng)  # [B]
            seeds = torch.randint(2**62, (config.batch,), generator=rng)  # [B]
            mine = zip(group.shard(indices).tolist(), group.shard(seeds).tolist(), strict=True)
            contexts = [
                sample_context(
                    G,
                    D,
                    networks,
                    step_preset,
                    perceptual,
                    *samples.row(index),
                    seed=seed,
                    bf16=bf16,
                )
                for index, seed in mine
            ]
            local_loss = _backward_mean_loss(contexts, phase.sample_loss, prior)
        group.average_gradients(networks)
        optimizer.step()
        iteration += 1
        loss = float(group.mean(local_loss))
        if progress is not None and group.is_main:
            progress(iteration, total, f"{phase.name}: loss {loss:.4f}")
        if group.is_main and iteration % config.save_every == 0:
            save_pretraining(path, run, iteration)
    if group.is_main:
        save_pretraining(path, run, iteration)
    return PretrainResult(cpu_state(networks), iteration, total, path)


@dataclass(frozen=True)
class _Phase:
    """One part of pretraining: its name (for progress), the per-sample loss its iterations
    train on (None: the warm-up, which autoencodes whole batches) and its learning rates for
    the view and light nets and for the latent-offset encoder, in units of the preset's."""

    name: str
    sample_loss: SampleLoss | None
    view_light_lr_scale: float = 1.0
    offset_lr_scale: float = 1.0


def _schedule(preset: Gan2ShapePreset, config: PretrainConfig) -> list[tuple[_Phase, int]]:
    """The run's phases and their iterations, in order: the prior fit, the warm-up, the
    encoder's warm-up, then the joint steps 2 and 3 (whose encoder keeps its raised rate when
    it had a warm-up of its own)."""
    raised_offset = OFFSET_LR_SCALE if config.offset_warmup_steps > 0 else 1.0
    return [
        (_Phase("prior fit", prior_loss), preset.prior_steps),
        (_Phase("warm-up", None, view_light_lr_scale=WARMUP_VIEW_LR_SCALE), config.warmup_steps),
        (_Phase("encoder warm-up", _encoder_loss, offset_lr_scale=OFFSET_LR_SCALE),
         config.offset_warmup_steps),
        (_Phase("joint steps 2+3", _joint_loss, offset_lr_scale=raised_offset), config.steps),
    ]  # fmt: skip


def _total_iterations(preset: Gan2ShapePreset, config: PretrainConfig) -> int:
    """Iterations of a whole run."""
    return sum(length for _, length in _schedule(preset, config))


def _phase(iteration: int, schedule: list[tuple[_Phase, int]]) -> _Phase:
    """The phase of `schedule` that iteration `iteration` (0-based) belongs to."""
    end = 0
    for phase, length in schedule:
        end += length
        if iteration < end:
            return phase
    return schedule[-1][0]


def _optimizer(networks: Gan2ShapeNetworks, preset: Gan2ShapePreset) -> torch.optim.Adam:
    """Adam over three groups whose rates the phases set apart: the view and light nets, the
    latent-offset encoder, and the rest."""
    view_light = [*networks.view_net.parameters(), *networks.light_net.parameters()]
    offset = list(networks.offset_net.parameters())
    chosen = {id(parameter) for parameter in view_light + offset}
    rest = [parameter for parameter in networks.parameters() if id(parameter) not in chosen]
    return torch.optim.Adam(
        [{"params": view_light}, {"params": offset}, {"params": rest}],
        lr=preset.lr,
        betas=(0.9, 0.999),
        weight_decay=preset.weight_decay,
    )


def sample_latents(G: Generator, count: int, *, seed: int, truncation: float) -> torch.Tensor:
    """`count` latents w `[count, D]` of `G` drawn from `seed`, pulled towards its
    `truncation_centre` by `truncation` (1 = none)."""
    device = next(G.parameters()).device
    rng = torch.Generator().manual_seed(check_seed(seed))
    z = torch.randn(count, G.style_dim, generator=rng)
    with torch.no_grad():
        return torch.lerp(G.truncation_centre(), G.mapping(z.to(device)), truncation)


def _samples(
    G: Generator, config: PretrainConfig, preset: Gan2ShapePreset
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training samples: w `[N, D]` and their images in the networks' frame
    `[N, 3, S, S]`, all from `config.seed` (the same on every resume)."""
    latents = sample_latents(G, config.images, seed=config.seed, truncation=config.truncation)
    with torch.no_grad():
        images = torch.cat(
            [
                to_network_frame(
                    G.synthesis(batch).clamp(-1, 1),
                    crop=preset.crop,
                    size=preset.networks.image_size,
                )
                for batch in latents.split(16)
            ]
        )  # [N, 3, S, S]
    return latents, images


@dataclass(frozen=True)
class _Samples:
    """The training samples: w `[N, D]`, images `[N, 3, S, S]` and object masks `[N, 1, S, S]`."""

    latents: torch.Tensor
    images: torch.Tensor
    masks: torch.Tensor

    def row(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample `index`'s (w `[1, D]`, image `[1, 3, S, S]`, mask `[1, 1, S, S]`)."""
        rows = slice(index, index + 1)
        return self.latents[rows], self.images[rows], self.masks[rows]


def sample_context(
    G: Generator,
    D: Discriminator,
    networks: Gan2ShapeNetworks,
    preset: Gan2ShapePreset,
    perceptual: PerceptualLoss,
    latent: torch.Tensor,
    image: torch.Tensor,
    mask: torch.Tensor,
    *,
    seed: int,
    bf16: bool = False,
) -> StepContext:
    """The step context of the GAN sample with w `latent [1, D]`, its image `[1, 3, S, S]` in
    the networks' frame and object mask `[1, 1, S, S]`: its own GAN image is its target, so the
    relative offset of its reconstruction is exactly zero. Its random stream starts from
    `seed`, so it draws the same numbers in whichever process handles it."""
    target = Target(
        image=image,
        mask=mask,
        latent=latent,
        noises=[],
        gan_image=image,
        psnr=float("inf"),
    )
    projector = latent_projector(G, preset, target)
    rng = torch.Generator().manual_seed(seed)
    return StepContext(preset, networks, target, D, perceptual, projector, rng, bf16)


SampleLoss = Callable[[StepContext, torch.Tensor], torch.Tensor]
"""One sample's loss in a phase, given its context and the prior `[1, S, S]`."""


def _backward_mean_loss(
    contexts: list[StepContext], sample_loss: SampleLoss, prior: torch.Tensor
) -> torch.Tensor:
    """Accumulate the gradients of the samples' mean loss, one sample's graph at a time (so
    memory does not grow with the batch); returns that mean, detached."""
    total = torch.zeros((), device=prior.device)
    for context in contexts:
        loss = sample_loss(context, prior) / len(contexts)
        loss.backward()
        total += loss.detach()
    return total


def _encoder_loss(context: StepContext, prior: torch.Tensor) -> torch.Tensor:
    """Step 2's projection loss alone (it trains only the latent-offset encoder)."""
    return projection_loss(context, take_snapshot(context))


def _joint_loss(context: StepContext, prior: torch.Tensor) -> torch.Tensor:
    """Step 2's projection loss plus step 3's shape loss on projected samples collected fresh
    (with the first stage's symmetry flag), refined for the preset's `projection_steps` (each
    step costs a GAN pass over the batch)."""
    snapshot = take_snapshot(context)
    cache = collect_projected(context, snapshot)
    flip = context.preset.flip_step3[0]
    return projection_loss(context, snapshot) + shape_loss(context, cache, flip=flip)
