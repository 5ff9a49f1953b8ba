"""Training the mapping network, as in the paper: a warm-up that matches the GAN's real W+
(codes read off GAN samples by the inverse graphics network) while an entropy term hardens the
soft masks, then cycle-consistency fine-tuning — an image generated from codes must give the
same codes back when the inverse graphics network reads it. Before the warm-up, the camera
branch is fitted to the labelled view codes on their own (`fit_view_layers`): the warm-up's
few steps, spread over all of W+, leave it close to the mean w otherwise.

The run's state file also is the finished StyleGAN-R model file (see `engine.styleganr.model`):
mapping network, inverse graphics network, view codes and the generator checkpoint's path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.config import config_from_dict, config_to_dict
from engine.device import frozen_copy, gradients_on, module_device, resolve_device
from engine.errors import GANliftError
from engine.progress import ProgressFn, StopFn
from engine.randomness import global_rng_kept
from engine.stylegan2 import Generator, check_float32
from engine.styleganr.config_io import (
    STATE_FIX,
    check_not_past_steps,
    check_resumable,
    check_run_counts,
    read_state,
    run_steps,
    state_step,
)
from engine.styleganr.encoding import encode_image
from engine.styleganr.inverse_graphics import InverseGraphicsNet
from engine.styleganr.mapping import (
    MappingConfig,
    MappingNetwork,
    StyleCodes,
    camera_features,
    mask_entropy,
)
from engine.styleganr.model import MODEL_FORMAT, StyleGANR, load_styleganr, save_styleganr
from engine.styleganr.view_codes import ViewCodes, compose, sample_w
from engine.torch_files import load_optimizer_state, set_rng_state


@dataclass
class MappingTrainConfig:
    """Everything that defines a mapping-network training run."""

    hidden: int = 256
    """Width of each part's hidden layer."""
    warmup_steps: int = 2_000
    """Steps matching real W+ before the cycle loss is switched on."""
    steps: int = 6_000
    """Total steps (warm-up included)."""
    batch_size: int = 8
    learning_rate: float = 1e-4
    mask_learning_rate: float = 1e-2
    """Learning rate of the soft masks' logits. Adam moves a weight by about its rate a step,
    and a mask hardens only once its logits are a few units apart: at the networks' rate, the
    shipped 900-step run left every content dimension shared equally by the three parts."""
    entropy_weight: float = 0.01
    """Weight of the soft masks' entropy."""
    cycle_weight: float = 1.0
    """Weight of the cycle-consistency terms after warm-up."""
    truncation: float = 0.7
    """Truncation of the GAN samples the codes are read from."""
    checkpoint_every: int = 500
    seed: int = 0
    view_fit_steps: int = 2_000
    """Steps fitting the camera branch to the labelled (camera, view code) pairs before the
    warm-up. Without them it regressed the codes to 80-120 % relative error, and every camera
    showed nearly the mean w's view."""
    view_fit_learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        check_run_counts(self)
        for name in ("warmup_steps", "view_fit_steps"):
            if getattr(self, name) < 0:
                raise GANliftError(f"{name} must be 0 or more, got {getattr(self, name)}.")


def fit_view_layers(
    mapping: MappingNetwork,
    cameras: torch.Tensor,
    codes: torch.Tensor,
    *,
    steps: int,
    learning_rate: float,
    progress: ProgressFn | None = None,
) -> float:
    """Fit ``mapping``'s camera branch so that each labelled camera ``[V, 3]`` gives its view
    code ``[V, L, D]`` (full batch, Adam); the final mean squared error."""
    optimiser = torch.optim.Adam(mapping.camera_net.parameters(), lr=learning_rate)
    for step in range(steps):
        error = (mapping.view_layers(cameras) - codes).square().mean()
        optimiser.zero_grad(set_to_none=True)
        error.backward()
        optimiser.step()
        if progress is not None:
            progress(step + 1, steps, f"view codes {float(error.detach()):.4f}")
    with torch.no_grad():
        return float((mapping.view_layers(cameras) - codes).square().mean())


def mapping_losses(
    model: StyleGANR,
    wplus: torch.Tensor,
    codes: StyleCodes,
    config: MappingTrainConfig,
    *,
    cycle: bool,
) -> dict[str, torch.Tensor]:
    """Loss terms for real W+ ``[N, num_ws, D]`` and the codes read off its images."""
    predicted = model.mapping(codes)
    terms = {
        "latent": (predicted - wplus).square().mean(),
        "entropy": config.entropy_weight * mask_entropy(model.mapping.masks()),
    }
    if cycle:
        regenerated = model.generator.synthesis(predicted)
        again = encode_image(model.inverse_graphics, regenerated, codes.camera)
        terms["cycle"] = config.cycle_weight * (
            (again.shape - codes.shape).square().mean()
            + (again.texture - codes.texture).square().mean()
            + (again.background - codes.background).square().mean()
            + (camera_features(again.camera) - camera_features(codes.camera)).square().mean()
        )
    terms["total"] = torch.stack(list(terms.values())).sum()
    return terms


@gradients_on("train_mapping")
def train_mapping(
    generator: Generator,
    inverse_graphics: InverseGraphicsNet,
    views: ViewCodes,
    config: MappingTrainConfig,
    *,
    state_path: str | os.PathLike,
    generator_path: str = "",
    device: torch.device | str | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> StyleGANR:
    """Train (or resume) the mapping network; the state file at ``state_path`` is the model.

    ``generator_path`` is recorded in the model file so `load_styleganr` can find the GAN.
    The model holds frozen copies of ``generator`` and ``inverse_graphics``; the caller's are
    left as they were. It trains on ``device``, by default where ``generator`` is.
    """
    device = resolve_device(module_device(generator) if device is None else device)
    check_float32(generator, "train_mapping")  # before the fingerprint, which would differ
    views.check_drawn_from(generator)
    cameras = views.labelled().to(device)
    generator = frozen_copy(generator, device)  # the caller's stay as they are
    inverse_graphics = frozen_copy(inverse_graphics, device)
    mean_w = sample_w(generator, 1024, seed=config.seed, truncation=1.0).mean(0)
    with global_rng_kept(config.seed):
        mapping = MappingNetwork(
            MappingConfig(
                num_ws=generator.num_ws,
                style_dim=generator.style_dim,
                num_view_layers=views.num_view_layers,
                shape_dim=inverse_graphics.config.shape_dim,
                texture_dim=inverse_graphics.config.texture_dim,
                hidden=config.hidden,
            ),
            mean_w=mean_w,
        ).to(device)
    model = StyleGANR(generator, inverse_graphics, mapping, views, generator_path)
    networks = [weight for weight in mapping.parameters() if weight is not mapping.mask_logits]
    optimiser = torch.optim.Adam(
        [{"params": networks}, {"params": [mapping.mask_logits], "lr": config.mask_learning_rate}],
        lr=config.learning_rate,
    )
    rng = torch.Generator().manual_seed(config.seed)
    step = _resume(Path(state_path), config, model, optimiser, rng)
    if step == 0:
        fit_view_layers(
            mapping,
            cameras,
            views.codes.to(device),
            steps=config.view_fit_steps,
            learning_rate=config.view_fit_learning_rate,
            progress=progress,
        )

    def train_step(step: int) -> float:
        seed = int(torch.randint(0, 2**31 - 1, (), generator=rng))
        content = sample_w(generator, config.batch_size, seed=seed, truncation=config.truncation)
        chosen = torch.randint(0, len(views.codes), (config.batch_size,), generator=rng)
        wplus = compose(views.codes[chosen].to(device), content, generator.num_ws)
        with torch.no_grad():
            codes = encode_image(inverse_graphics, generator.synthesis(wplus), cameras[chosen])
        terms = mapping_losses(model, wplus, codes, config, cycle=step >= config.warmup_steps)
        optimiser.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimiser.step()
        return float(terms["total"].detach())

    run_steps(
        train_step, lambda step: _save(Path(state_path), model, config, optimiser, rng, step),
        start=step, steps=config.steps, checkpoint_every=config.checkpoint_every,
        progress=progress, should_stop=should_stop,
    )  # fmt: skip
    return model


def _save(
    path: Path,
    model: StyleGANR,
    config: MappingTrainConfig,
    optimiser: torch.optim.Optimizer,
    rng: torch.Generator,
    step: int,
) -> None:
    save_styleganr(
        model,
        path,
        training={
            "step": step,
            "train_config": config_to_dict(config),
            "optimiser": optimiser.state_dict(),
            "rng": rng.get_state(),
        },
    )


def _resume(
    path: Path,
    config: MappingTrainConfig,
    model: StyleGANR,
    optimiser: torch.optim.Optimizer,
    rng: torch.Generator,
) -> int:
    """Continue from the state file if there is one, the batches' random generator included
    (a state from before it was kept draws from seed + step); the step to continue from."""
    if not path.exists():
        return 0
    state = read_state(path, MODEL_FORMAT)
    training = state.get("training") or {}
    if "train_config" not in training:
        raise GANliftError(
            f"{path} holds no training state (an exported model?); choose a new state file."
        )
    stored = config_from_dict(MappingTrainConfig, training["train_config"], str(path))
    check_resumable(path, stored, config)
    step = state_step(state, path, "training", "step")
    check_not_past_steps(path, step, config.steps)
    stored_model = load_styleganr(path, generator=model.generator)
    if not _same_weights(stored_model.inverse_graphics, model.inverse_graphics) or not (
        torch.equal(stored_model.views.codes.cpu(), model.views.codes.cpu())
        and torch.equal(stored_model.views.labelled().cpu(), model.views.labelled().cpu())
    ):
        raise GANliftError(
            f"{path} was trained with another inverse graphics network or other view codes; "
            "pass the ones it started with, or choose a new --out to start afresh."
        )
    model.mapping.load_state_dict(stored_model.mapping.state_dict(), strict=True)
    load_optimizer_state(optimiser, training.get("optimiser"), str(path), STATE_FIX)
    if "rng" in training:
        set_rng_state(rng, training["rng"], str(path), STATE_FIX)
    else:
        rng.manual_seed(config.seed + step)
    return step


def _same_weights(first: torch.nn.Module, second: torch.nn.Module) -> bool:
    """Whether two networks hold the same weights (as float32, on the CPU)."""
    a, b = first.state_dict(), second.state_dict()
    return a.keys() == b.keys() and all(
        torch.equal(a[key].float().cpu(), b[key].float().cpu()) for key in a
    )
