"""Probe GAN2Shape's step 2 with the truth: can a projection onto a GAN's manifold follow a
held-out synthetic face turned to known yaws? Each face's frontal render is inverted into w,
renders of the same face turned to fixed yaws are projected two ways, and a label regressor
trained on other renders reads the yaw of every image.

The two projections:

- `optimised w`: Adam on w from the input's w (L1 + discriminator-feature L1, as step 2);
- `encoder`: the pretrained latent-offset encoder, before and after training on turned renders
  of the face for --steps (the ideal pseudo samples step 2 could ever get).

    python -m scripts.probe_projection --faces 2 --steps 150 --lr 1e-4
"""

from __future__ import annotations

import math
import time

import torch

from engine.cli.arguments import at_least, positive, run_script, script_parser
from engine.evaluation.coverage import render_labelled
from engine.evaluation.regressor import LabelRegressor, fit_label_regressor, predict_labels
from engine.gan2shape.latent_offset import LatentProjector
from engine.gan2shape.losses import masked_feature_l1, masked_l1
from engine.gan2shape.networks import Gan2ShapeNetworks
from engine.gan2shape.presets import get_preset
from engine.gan2shape.pretrained_files import load_pretrained
from engine.inversion import project
from engine.stylegan2 import Discriminator, Generator, load_checkpoint
from engine.synth.generate import Scene, render_scene, sample_scene
from engine.synth.seeds import SEED_RANGES, seed_run

YAWS = (-25.0, -12.0, 0.0, 12.0, 25.0)
"""Degrees the probed faces are turned to."""
BANK = 64
"""Turned renders (uniform yaw within the YAWS range) the encoder is trained on."""


def yaw_reader(renders: int, steps: int) -> LabelRegressor:
    """A label regressor trained on `renders` training-seed faces; column 0 reads yaw."""
    images, labels = render_labelled("face", SEED_RANGES["train"].start, renders)
    return fit_label_regressor(images, labels, steps=steps).model


def turned(scene: Scene, yaws: list[float]) -> torch.Tensor:
    """The scene's face rendered at each yaw (degrees), all else fixed: `[len(yaws), 3, S, S]`."""
    images = []
    for yaw in yaws:
        scene.view[:, 1] = math.radians(yaw)
        images.append(render_scene(scene).image)
    return torch.cat(images)


def step2_loss(D: Discriminator, projected: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Step 2's image terms over the whole frame: L1 + discriminator-feature L1."""
    mask = torch.ones_like(target[:, :1])
    return masked_l1(projected, target, mask) + masked_feature_l1(
        D, projected, target, mask, blocks=4
    )


def optimised_w(
    G: Generator, D: Discriminator, w0: torch.Tensor, targets: torch.Tensor, steps: int
) -> torch.Tensor:
    """One w per target, optimised from `w0 [1, D]` by Adam; their images `[N, 3, S, S]`."""
    shift = torch.zeros(len(targets), w0.shape[1], requires_grad=True)
    optimiser = torch.optim.Adam([shift], lr=0.02)
    for _ in range(steps):
        loss = step2_loss(D, G.synthesis(w0 + shift).clamp(-1, 1), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        return G.synthesis(w0 + shift).clamp(-1, 1)


def encoder_projections(
    projector: LatentProjector,
    D: Discriminator,
    networks: Gan2ShapeNetworks,
    bank: torch.Tensor,
    probes: torch.Tensor,
    *,
    steps: int,
    lr: float,
) -> torch.Tensor:
    """Train the offset encoder on batches of `bank` for `steps`; then project `probes`."""
    encoder = networks.offset_net
    optimiser = torch.optim.Adam(encoder.parameters(), lr=lr, weight_decay=5e-4)
    rng = torch.Generator().manual_seed(1)
    for _ in range(steps):
        batch = bank[torch.randint(len(bank), (8,), generator=rng)]
        projected, offset = projector.project(encoder, batch)
        loss = step2_loss(D, projected, batch) + 0.01 * offset.square().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        return projector.project(encoder, probes)[0]


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--model", default="default-face", help="a face GAN (%(default)s)")
    parser.add_argument(
        "--faces", type=at_least(1), default=2, help="held-out test faces probed (%(default)s)"
    )
    parser.add_argument(
        "--steps", type=at_least(1), default=150, help="encoder training steps (%(default)s)"
    )
    parser.add_argument(
        "--lr", type=positive, default=1e-4, help="encoder learning rate (%(default)s)"
    )
    parser.add_argument(
        "--w-steps", type=at_least(1), default=150, help="w optimisation steps (%(default)s)"
    )
    args = parser.parse_args()

    torch.manual_seed(0)
    checkpoint = load_checkpoint(args.model)
    G = checkpoint.generator.eval().requires_grad_(False)
    D = checkpoint.discriminator.eval().requires_grad_(False)
    preset = get_preset(args.model)
    pretrained = load_pretrained(f"assets/models/{args.model}-gan2shape", preset)
    reader = yaw_reader(2000, 600)
    print("yaw read off each image, for true yaws " + " ".join(f"{y:+.0f}" for y in YAWS))
    for seed in seed_run(SEED_RANGES["test"].start, args.faces, split="test"):
        started = time.time()
        scene = sample_scene("face", [seed])
        w0 = project(G, turned(scene, [0.0]), num_steps=200, optimize_noise=False).latent
        probes = turned(scene, list(YAWS))
        bank = turned(scene, (torch.rand(BANK) * 50 - 25).tolist())
        rows = {"true renders": probes, "optimised w": optimised_w(G, D, w0, probes, args.w_steps)}
        for steps in (0, args.steps):
            networks = Gan2ShapeNetworks(preset.networks, style_dim=G.style_dim)
            networks.load_state_dict(pretrained)
            projector = LatentProjector(
                G, w0, noise="const", offset_layers=preset.offset_layers, crop=None,
                image_size=preset.networks.image_size, reference=G.synthesis(w0).clamp(-1, 1),
            )  # fmt: skip
            rows[f"encoder, {steps} steps"] = encoder_projections(
                projector, D, networks, bank, probes, steps=steps, lr=args.lr
            )
        print(f"face {seed} ({time.time() - started:.0f} s)")
        for name, images in rows.items():
            yaws = predict_labels(reader, images)[:, 0].tolist()
            print(f"  {name:<22}" + " ".join(f"{yaw:+6.1f}" for yaw in yaws))


if __name__ == "__main__":
    run_script(main)
