"""Probe GAN2Shape's step 2 on lighting: do the projections of the pseudo samples follow the
pseudo samples' light? For GAN samples of a default model, the pretrained networks' shape of
each sample is relit across the preset's pseudo-light range and drawn in pseudo views (step 2's
pseudo samples), then projected onto the GAN's manifold by the latent-offset encoder (and, with
--refine K, by K Adam steps on the offsets). A label regressor trained on renders reads light x
off every image; the probe prints the slope of those readings against the pseudo light's x,
for the pseudo samples themselves (what a perfect projection would follow) and for their
projections, and how well the light net reads the projections' light.

    python -m scripts.probe_relighting --model default-face [--weights W] [--samples 8]
        [--figure relight.png]

--figure draws the first sample's shape frontally under lights from the left to the right
(top row) and the encoder's projections of those renders (bottom row).
"""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import torch

from engine.atomic import output_folder
from engine.cli.arguments import at_least, run_script, script_parser, seed
from engine.evaluation.coverage import render_labelled
from engine.evaluation.gan2shape_check import correlation
from engine.evaluation.labels import label_set
from engine.evaluation.regressor import fit_label_regressor, predict_labels
from engine.gan2shape.frames import to_network_frame
from engine.gan2shape.networks import Gan2ShapeNetworks
from engine.gan2shape.parametrisation import compose_image
from engine.gan2shape.photogeometry import predict_light
from engine.gan2shape.pipeline import load_model
from engine.gan2shape.pretrain import sample_context, sample_latents
from engine.gan2shape.pretrained_files import load_pretrained
from engine.gan2shape.sampling import sample_pseudo_lights
from engine.gan2shape.steps import (
    ShapeSnapshot,
    StepContext,
    collect_projected,
    pseudo_samples,
    take_snapshot,
)
from engine.images import image_format
from engine.perceptual import perceptual_loss
from engine.render.shading import shade
from engine.stylegan2.training.samples import image_grid
from engine.synth.seeds import SEED_RANGES

FIGURE_LIGHTS_X = (-1.0, -0.5, 0.0, 0.5, 1.0)
"""The figure's light directions (dx of (dx, 0.3, 1)): the preset's pseudo-light range."""

CATEGORIES = {"default-face": "face", "default-car": "car"}


def slope(x: torch.Tensor, y: torch.Tensor) -> float:
    """Least-squares slope of `y` on `x` (both `[N]`)."""
    centred = x - x.mean()
    return float((centred * (y - y.mean())).sum() / centred.square().sum())


def relight_figure(context: StepContext, snapshot: ShapeSnapshot) -> torch.Tensor:
    """The snapshot's shape drawn frontally under FIGURE_LIGHTS_X (top row) and the encoder's
    projections of those images (bottom row): `[2 · L, 3, S, S]`."""
    light = snapshot.light.expand(len(FIGURE_LIGHTS_X), 4).clone()  # [L, 4]
    light[:, 2] = torch.tensor(FIGURE_LIGHTS_X)
    light[:, 3] = 0.3
    with torch.no_grad():
        relit = compose_image(snapshot.albedo, shade(snapshot.normal, light))  # [L, 3, S, S]
        projected, _ = context.projector.project(context.networks.offset_net, relit)
    return torch.cat([relit, projected])


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument(
        "--model",
        choices=sorted(CATEGORIES),
        default="default-face",
        help="model probed (%(default)s)",
    )
    parser.add_argument("--weights", help="pretrained networks (default: the model's own)")
    parser.add_argument("--samples", type=at_least(1), default=8, help="GAN samples probed (8)")
    parser.add_argument("--seed", type=seed, default=7, help="their first seed (7)")
    parser.add_argument(
        "--refine", type=at_least(0), default=0, help="Adam steps on the offsets (0)"
    )
    parser.add_argument(
        "--renders", type=at_least(1), default=8000, help="regressor renders (8000)"
    )
    parser.add_argument("--reader-steps", type=at_least(1), default=3000, help="its steps (3000)")
    parser.add_argument("--figure", help="PNG of the first sample relit and projected")
    args = parser.parse_args()

    model = load_model(args.model)
    G, D = model.generator.eval(), model.discriminator.eval()
    if args.figure:  # checked, like the weights, before the minutes of fitting the reader
        image_format(args.figure)
        output_folder(Path(args.figure).absolute().parent)
    preset = model.preset.replace(collect_batches=1, projection_steps=args.refine)
    weights = load_pretrained(args.weights or model.pretrained, preset)
    networks = Gan2ShapeNetworks(preset.networks, style_dim=G.style_dim)
    networks.load_state_dict(weights)
    networks.eval()

    category = CATEGORIES[args.model]
    light_x = label_set(category).names.index("light_x")
    images, labels = render_labelled(category, SEED_RANGES["train"].start, args.renders)
    reader = fit_label_regressor(images, labels, steps=args.reader_steps).model.eval()
    perceptual = perceptual_loss("auto", discriminator=D)
    latents = sample_latents(G, args.samples, seed=args.seed, truncation=1.0)  # [N, D]
    with torch.no_grad():
        frames = to_network_frame(
            G.synthesis(latents).clamp(-1, 1), crop=preset.crop, size=preset.networks.image_size
        )  # [N, 3, S, S]

    rows = []
    for index in range(args.samples):
        image = frames[index : index + 1]
        context = sample_context(
            G, D, networks, preset, perceptual, latents[index : index + 1], image,
            torch.ones_like(image[:, :1]), seed=index,
        )  # fmt: skip
        snapshot = take_snapshot(context)
        if args.figure and index == 0:
            figure = relight_figure(context, snapshot)
            iio.imwrite(args.figure, image_grid(figure, columns=len(FIGURE_LIGHTS_X)))
        start = context.rng.get_state()
        # pseudo_samples draws its lights first, so replaying the stream gives them back
        lights = sample_pseudo_lights(
            preset, snapshot.light, preset.batch_size, generator=context.rng
        )
        context.rng.set_state(start)
        pseudo, _ = pseudo_samples(context, snapshot, preset.batch_size)
        context.rng.set_state(start)
        projected = collect_projected(context, snapshot).images
        with torch.no_grad():
            read_by_light_net = predict_light(networks, projected, preset)[:, 2]
        base = predict_labels(reader, image)[0, light_x]
        rows.append(
            torch.stack(
                [
                    lights[:, 2],
                    predict_labels(reader, pseudo)[:, light_x] - base,
                    predict_labels(reader, projected)[:, light_x] - base,
                    read_by_light_net,
                ],
                dim=1,
            )
        )
    table = torch.cat(rows)  # [N · batch, 4]
    dx = table[:, 0]
    print(
        f"{len(table)} pseudo samples of {args.samples} {args.model} samples, refine {args.refine}"
    )
    print(
        f"regressor's light x against the pseudo light's x: slope on the pseudo samples "
        f"{slope(dx, table[:, 1]):.2f}, on their projections {slope(dx, table[:, 2]):.2f}"
    )
    print(
        f"light net on the projections: correlation with the pseudo light's x "
        f"{correlation(dx, table[:, 3]):.2f}"
    )


if __name__ == "__main__":
    run_script(main)
