"""Training the inverse graphics network on multi-view pairs through the differentiable
rasterizer (the paper's DIB-R losses): silhouette IoU, colour L1, perceptual distance after a
warm-up, Laplacian / flatten / move regularisers, and multi-view consistency — the shape and
texture predicted from one view must also explain the other view.

`train_inverse_graphics` is resumable: it replaces one state file atomically every
`checkpoint_every` steps and continues from it when called again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.config import config_from_dict, config_to_dict
from engine.device import cpu_state, gradients_on, resolve_device
from engine.errors import GANliftError
from engine.progress import ProgressFn, StopFn
from engine.randomness import global_rng_kept
from engine.styleganr.config_io import (
    STATE_FIX,
    check_not_past_steps,
    check_resumable,
    check_run_counts,
    read_state,
    run_steps,
    state_part,
    state_step,
    write_state,
)
from engine.styleganr.inverse_graphics import (
    InverseGraphicsConfig,
    InverseGraphicsNet,
    MeshPrediction,
    refine_camera,
    render_prediction,
)
from engine.styleganr.losses import (
    colour_loss,
    flatten_loss,
    iou_loss,
    laplacian_loss,
    move_loss,
)
from engine.styleganr.multiview import ViewPairs
from engine.torch_files import built_with_weights, load_optimizer_state, load_weights, set_rng_state

STATE_FORMAT = "ganlift-styleganr-inverse-graphics"
STATE_VERSION = 1
SYNTHETIC_PAIRS = "synthetic"
"""`train_inverse_graphics`'s ``pairs_from`` for pairs of the synthetic world's renders."""

PerceptualFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""A distance ``[N]`` between image batches ``[N, 3, H, W]`` (see `engine.perceptual`)."""
PairSource = Callable[[int, torch.Generator], ViewPairs]
"""``source(batch_size, generator)`` → a fresh batch of `ViewPairs`."""


@dataclass
class LossWeights:
    """Weights of the inverse graphics losses (the paper's values)."""

    iou: float = 3.0
    colour: float = 20.0
    laplacian: float = 5.0
    flatten: float = 5.0
    move: float = 2.5
    perceptual: float = 0.5
    """Applied only after `InverseGraphicsTrainConfig.perceptual_after` steps."""


@dataclass
class InverseGraphicsTrainConfig:
    """Everything that defines an inverse graphics training run."""

    network: InverseGraphicsConfig = field(default_factory=InverseGraphicsConfig)
    weights: LossWeights = field(default_factory=LossWeights)
    steps: int = 20_000
    """Total optimisation steps."""
    batch_size: int = 8
    """Objects per step (each seen in two views)."""
    learning_rate: float = 1e-4
    """Adam learning rate."""
    perceptual_after: int = 2_000
    """Warm-up steps before the perceptual loss is switched on."""
    multiview: bool = True
    """Also render each prediction in the other view of its pair (multi-view consistency)."""
    checkpoint_every: int = 500
    """Steps between state-file writes (and one at the end)."""
    seed: int = 0
    """Seed of the network initialisation and of the data stream."""

    def __post_init__(self) -> None:
        check_run_counts(self)


@dataclass
class InverseGraphicsResult:
    """A finished (or stopped) training run."""

    network: InverseGraphicsNet
    step: int
    """Steps done in total, including earlier runs resumed from the state file."""
    history: list[dict[str, float]]
    """Loss terms of each step of this call."""


def inverse_graphics_losses(
    network: InverseGraphicsNet,
    pairs: ViewPairs,
    weights: LossWeights,
    *,
    multiview: bool = True,
    perceptual: PerceptualFn | None = None,
) -> dict[str, torch.Tensor]:
    """The weighted loss terms and their sum (key "total") for one batch of view pairs."""
    count, size = pairs.images.shape[0], pairs.images.shape[-1]
    images = pairs.images.flatten(0, 1)  # [2B, 3, H, W]
    masks = pairs.masks.flatten(0, 1)  # [2B, 1, H, W]
    prediction = network(images)
    cameras = refine_camera(pairs.cameras.flatten(0, 1), prediction.camera_correction)
    # Each prediction is rendered in its own view, and with multiview also in its partner's:
    # the partner of image 2k is 2k+1 and vice versa.
    own = torch.arange(2 * count, device=images.device)
    targets = torch.cat([own, own ^ 1]) if multiview else own  # [R]
    sources = torch.cat([own, own]) if multiview else own  # [R]
    rendered = render_prediction(
        prediction.vertices[sources],
        prediction.texture[sources],
        network.template,
        cameras[targets],
        size=size,
        shift=prediction.shift[targets],
        background=images[targets],
    )
    terms = {
        "iou": weights.iou * iou_loss(rendered.mask, masks[targets]).mean(),
        "colour": weights.colour * colour_loss(rendered.image, images[targets]).mean(),
        **_mesh_regularisers(network, prediction, weights),
    }
    if perceptual is not None and weights.perceptual > 0:
        terms["perceptual"] = (
            weights.perceptual * perceptual(rendered.image, images[targets]).mean()
        )
    terms["total"] = torch.stack(list(terms.values())).sum()
    return terms


def _mesh_regularisers(
    network: InverseGraphicsNet, prediction: MeshPrediction, weights: LossWeights
) -> dict[str, torch.Tensor]:
    topology = network.template.topology
    return {
        "laplacian": weights.laplacian * laplacian_loss(prediction.deformation, topology).mean(),
        "flatten": weights.flatten * flatten_loss(prediction.vertices, topology).mean(),
        "move": weights.move * move_loss(prediction.deformation).mean(),
    }


@gradients_on("train_inverse_graphics")
def train_inverse_graphics(
    source: PairSource,
    config: InverseGraphicsTrainConfig,
    *,
    state_path: str | Path,
    device: torch.device | str = "cpu",
    perceptual: PerceptualFn | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    initial_weights: dict[str, torch.Tensor] | None = None,
    pairs_from: str | None = None,
) -> InverseGraphicsResult:
    """Train (or continue training) an inverse graphics network on pairs from ``source``.

    When ``state_path`` exists the run resumes from it (its config must equal ``config``);
    it is replaced atomically every ``config.checkpoint_every`` steps and when the run ends
    or ``should_stop()`` turns true, and left untouched when it already holds ``config.steps``
    (one that holds more is refused).
    A new run starts from ``initial_weights`` (a trained network's state dict) if given.
    ``pairs_from`` names what ``source`` draws (`SYNTHETIC_PAIRS`, or a GAN's
    `generator_fingerprint`); it is recorded, and a run resumes only with the same, or goes on
    from synthetic renders to a GAN's pairs, as a GAN's run starts from the synthetic stage
    (None: not checked).
    """
    device = resolve_device(device)
    with global_rng_kept(config.seed):
        network = InverseGraphicsNet(config.network)
    if initial_weights is not None:  # float16 weights of an exported model are copied as float32
        load_weights(network, initial_weights, "The network to start from", STATE_FIX)
    network = network.to(device)
    optimiser = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    data_rng = torch.Generator().manual_seed(config.seed)
    step, pairs_from = _resume(Path(state_path), config, network, optimiser, data_rng, pairs_from)
    history: list[dict[str, float]] = []

    def train_step(step: int) -> float:
        pairs = source(config.batch_size, data_rng).to(device)
        use_perceptual = perceptual if step >= config.perceptual_after else None
        terms = inverse_graphics_losses(
            network, pairs, config.weights, multiview=config.multiview, perceptual=use_perceptual
        )
        optimiser.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimiser.step()
        history.append({name: float(value.detach()) for name, value in terms.items()})
        return history[-1]["total"]

    def save(step: int) -> None:
        _save(Path(state_path), config, network, optimiser, data_rng, step, pairs_from)

    step = run_steps(
        train_step, save, start=step, steps=config.steps, checkpoint_every=config.checkpoint_every,
        progress=progress, should_stop=should_stop,
    )  # fmt: skip
    return InverseGraphicsResult(network=network.eval(), step=step, history=history)


def load_inverse_graphics(
    path: str | Path, device: torch.device | str = "cpu"
) -> InverseGraphicsNet:
    """The network stored in an inverse graphics state file, in eval mode."""
    return inverse_graphics_from_state(read_state(path, STATE_FORMAT), path, device)


def inverse_graphics_from_state(
    state: dict[str, Any], path: str | Path, device: torch.device | str = "cpu"
) -> InverseGraphicsNet:
    """The network of an inverse graphics `state` read from `path`, in eval mode."""
    config = config_from_dict(
        InverseGraphicsTrainConfig, state_part(state, path, "config"), str(path)
    )
    network = built_with_weights(
        lambda: InverseGraphicsNet(config.network),
        state_part(state, path, "network"), f"{path}'s network", STATE_FIX,
    )  # fmt: skip
    return network.to(resolve_device(device)).eval()


def stored_config(path: str | Path) -> InverseGraphicsTrainConfig | None:
    """The config of the run saved at ``path``, or None when there is none yet."""
    if not Path(path).exists():
        return None
    state = read_state(path, STATE_FORMAT)
    return config_from_dict(InverseGraphicsTrainConfig, state["config"], str(path))


def _resume(
    path: Path,
    config: InverseGraphicsTrainConfig,
    network: nn.Module,
    optimiser: torch.optim.Optimizer,
    data_rng: torch.Generator,
    pairs_from: str | None,
) -> tuple[int, str | None]:
    """Load the state file into the run if it exists; the step to continue from and the
    source of the pairs to record (the state's, where the run names none)."""
    if not path.exists():
        return 0, pairs_from
    state = read_state(path, STATE_FORMAT)
    check_resumable(
        path, config_from_dict(InverseGraphicsTrainConfig, state["config"], str(path)), config
    )
    trained_on = state.get("pairs_from")
    if None not in (trained_on, pairs_from) and trained_on not in (pairs_from, SYNTHETIC_PAIRS):
        raise GANliftError(
            f"{path} was trained on {_pairs_text(trained_on)}, not {_pairs_text(pairs_from)}; "
            "pass the same pairs to resume it, or choose a new --out for these."
        )
    step = state_step(state, path)
    check_not_past_steps(path, step, config.steps)
    load_weights(network, state_part(state, path, "network"), f"{path}'s network", STATE_FIX)
    load_optimizer_state(optimiser, state_part(state, path, "optimiser"), str(path), STATE_FIX)
    set_rng_state(data_rng, state_part(state, path, "rng"), str(path), STATE_FIX)
    return step, pairs_from or trained_on


def _pairs_text(pairs_from: str) -> str:
    """`pairs_from` in words."""
    if pairs_from == SYNTHETIC_PAIRS:
        return "synthetic renders"
    return f"the pairs of the StyleGAN2 with weight fingerprint {pairs_from}"


def _save(
    path: Path,
    config: InverseGraphicsTrainConfig,
    network: nn.Module,
    optimiser: torch.optim.Optimizer,
    data_rng: torch.Generator,
    step: int,
    pairs_from: str | None,
) -> None:
    write_state(
        path,
        {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "step": step,
            "config": config_to_dict(config),
            "network": cpu_state(network),
            "optimiser": optimiser.state_dict(),
            "rng": data_rng.get_state(),
            "pairs_from": pairs_from,
        },
    )
