"""How well GAN2Shape's networks read held-out synthetic renders whose cameras, lights and
depth are known, with no GAN and no per-image refinement: a check of jointly pretrained
networks, the start of fast mode.

Step 3 of GAN2Shape learns shape only if the view network follows the views of the projected
samples, so a view net whose yaw does not follow the renders' yaw (correlation and spread near
0) is the first thing to look at; the reconstruction PSNR says whether depth, albedo, view and
light redraw an image at all, and the relief ratio whether the depth is as deep as the truth.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch

from engine.benchmarks.gan2shape_rows import depth_in_image_view
from engine.device import resolve_device
from engine.errors import GANliftError
from engine.gan2shape.networks import Gan2ShapeNetworks
from engine.gan2shape.photogeometry import decompose, render_in_views
from engine.gan2shape.presets import Gan2ShapePreset
from engine.metrics import psnr, relief_ratio
from engine.synth import CATEGORIES, SEED_RANGES, SynthBatch, render_samples, seed_run

MAX_RENDERS = 10_000
"""Most held-out renders one check reads (150 times the default 64)."""


@dataclass(frozen=True)
class NetworkCheck:
    """The networks' readings of `count` test renders against the renders' truth."""

    category: str
    count: int
    first_seed: int
    yaw_correlation: float
    """Pearson correlation of predicted and true yaw."""
    yaw_spread: float
    """Std of predicted yaw over std of true yaw (1: as varied as the renders)."""
    pitch_correlation: float
    light_x_correlation: float
    """Correlation of the light direction's x (towards the image's right) with the truth."""
    reconstruction_psnr: float
    """Mean PSNR (dB) of the networks' own redraw of each render (depth, albedo, view, light)."""
    object_psnr: float
    """The same over the object alone (the renders' mask): what presets that mask the input's
    loss (`mask_input`) train on."""
    relief_ratio: float
    """Mean relief ratio of the predicted depth, seen in the predicted view (1: as deep as the
    truth; `engine.metrics.relief_ratio`)."""

    def table(self) -> str:
        """The check as aligned text lines."""
        rows = [
            ("yaw: correlation with the truth", f"{self.yaw_correlation:.2f}"),
            ("yaw: predicted / true spread", f"{self.yaw_spread:.2f}"),
            ("pitch: correlation with the truth", f"{self.pitch_correlation:.2f}"),
            ("light x: correlation with the truth", f"{self.light_x_correlation:.2f}"),
            ("reconstruction PSNR (dB)", f"{self.reconstruction_psnr:.2f}"),
            ("reconstruction PSNR on the object (dB)", f"{self.object_psnr:.2f}"),
            ("relief ratio (1 = as deep as the truth)", f"{self.relief_ratio:.2f}"),
        ]
        width = max(len(name) for name, _ in rows) + 2
        header = (
            f"GAN2Shape networks on {self.count} held-out {self.category} renders "
            f"(test seeds from {self.first_seed})"
        )
        return "\n".join([header] + [f"{name:<{width}}{value}" for name, value in rows])

    def to_json(self) -> str:
        """The check as JSON."""
        return json.dumps(asdict(self), indent=2) + "\n"


@torch.no_grad()
def check_networks(
    networks: Gan2ShapeNetworks,
    preset: Gan2ShapePreset,
    category: str,
    *,
    n: int = 64,
    seed: int | None = None,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
) -> NetworkCheck:
    """Read `n` test renders of `category` (from test seed `seed`, default the first) with
    `networks` under `preset` and compare view, light, redraw and depth with the truth.

    The networks are moved to `device` and read in eval mode; their training mode is restored.
    """
    device = resolve_device(device)
    if category not in CATEGORIES:
        raise GANliftError(f"Unknown category '{category}'; use one of {', '.join(CATEGORIES)}.")
    if not 2 <= n <= MAX_RENDERS:
        raise GANliftError(
            f"The check reads from 2 renders (to correlate) to {MAX_RENDERS}, got --n {n}."
        )
    if preset.crop is not None:
        raise GANliftError(
            f"Preset '{preset.name}' crops the GAN frame, which the synthetic renders do not "
            "share; check networks of a preset without a crop."
        )
    first_seed = SEED_RANGES["test"].start if seed is None else seed
    seeds = seed_run(first_seed, n, split="test")
    size = preset.networks.image_size
    was_training = networks.training
    networks.to(device).eval()
    readings: dict[str, list[torch.Tensor]] = {
        key: []
        for key in ("view", "true_view", "light", "true_light", "psnr", "object_psnr", "relief")
    }
    try:
        for start in range(0, n, batch_size):
            chunk = seeds[start : start + batch_size]
            batch = render_samples(category, chunk, size=size, device=device)
            for key, value in _read_batch(networks, preset, batch).items():
                readings[key].append(value)
    finally:
        networks.train(was_training)
    values = {key: torch.cat(parts) for key, parts in readings.items()}
    view, true_view = values["view"], values["true_view"]
    light, true_light = values["light"], values["true_light"]
    return NetworkCheck(
        category=category,
        count=n,
        first_seed=first_seed,
        yaw_correlation=correlation(view[:, 1], true_view[:, 1]),
        yaw_spread=float(view[:, 1].std() / true_view[:, 1].std()),
        pitch_correlation=correlation(view[:, 0], true_view[:, 0]),
        light_x_correlation=correlation(light[:, 2], true_light[:, 2]),
        reconstruction_psnr=float(values["psnr"].mean()),
        object_psnr=float(values["object_psnr"].mean()),
        relief_ratio=float(values["relief"].mean()),
    )


def _read_batch(
    networks: Gan2ShapeNetworks, preset: Gan2ShapePreset, batch: SynthBatch
) -> dict[str, torch.Tensor]:
    """The networks' readings of one batch of renders, with the truth beside them."""
    parts = decompose(networks, batch.image, preset)
    redrawn, _ = render_in_views(parts.image, parts.depth, parts.view)  # [B, 3, S, S]
    depth, covered = depth_in_image_view(parts.depth, parts.view, batch.depth.shape[-1])
    return {
        "view": parts.view,
        "true_view": batch.view,
        "light": parts.light,
        "true_light": batch.light,
        "psnr": psnr(redrawn, batch.image),
        "object_psnr": psnr(redrawn, batch.image, batch.mask[:, None]),
        "relief": relief_ratio(depth, batch.depth, batch.mask * covered),
    }


def correlation(first: torch.Tensor, second: torch.Tensor) -> float:
    """Pearson correlation of two `[N]` series (0 when either is constant)."""
    first, second = first - first.mean(), second - second.mean()
    norm = first.norm() * second.norm()
    return float((first * second).sum() / norm) if norm > 0 else 0.0
