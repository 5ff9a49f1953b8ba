"""Does projecting onto a GAN's manifold give GAN2Shape's pseudo samples an object's true shading?

Step 2 relights the current shape (at first the prior cap) and projects each such pseudo sample
onto the GAN's manifold; step 3 can learn the shape from the projections only if the GAN redraws
them with the shading the true object would have under the new light. The synthetic world
draws that truth. For each test face or car seen in its canonical view: the input is inverted;
pseudo samples are drawn from the category's default preset's prior cap (on the object's mask
where the preset uses masks) with the input's albedo solved per pixel under its true light
(GAN2Shape's best start) and lit from each `--light-x`; each pseudo sample, and for comparison
the true relit render, is projected from the input's latent by Adam (L1 + discriminator
features, as step 2). Scored over the object, against the true relit render:

- L1 of the pseudo sample, its projection and the true render's projection (the GAN's floor);
- *correction*: how the projection's change of the pseudo sample's shading (log brightness)
  correlates with what the pseudo sample lacks, the true render's minus its own (1: the GAN
  supplies the true shading, 0: it adds nothing of it); *ceiling*: the same for the true
  render's own projection.

    python -m scripts.probe_gan_shading [--category face|car] [--model M] [--n 8]
                                        [--light-x=-0.7,0.7] [--space wplus|w] [--steps 200]
"""

from __future__ import annotations

import dataclasses
import statistics

import torch

from engine.cli.arguments import (
    add_threads_option,
    at_least,
    numbers,
    positive,
    run_script,
    script_parser,
)
from engine.errors import GANliftError
from engine.evaluation.gan2shape_check import correlation
from engine.gan2shape import get_preset
from engine.gan2shape.parametrisation import compose_image
from engine.gan2shape.photogeometry import DIM_SHADING
from engine.inversion import project
from engine.perceptual import DiscriminatorFeatureLoss
from engine.render import normals_from_depth, shade
from engine.stylegan2 import load_checkpoint
from engine.synth import SEED_RANGES, SynthBatch, seed_run
from engine.synth.generate import render_scene, sample_scene

BRIGHTNESS_FLOOR = 0.02
"""Added to [0, 1] brightness before its log, so black pixels do not dominate a change."""
INVERSION_LR = 0.05
"""Adam rate of each input's inversion (the projections start from it at `--lr`)."""
METRICS = ("l1_pseudo", "l1_projection", "l1_truth_projection", "correction", "ceiling")


def canonical_renders(
    category: str, count: int, size: int, lights_x: list[float]
) -> list[SynthBatch]:
    """The first `count` test objects of `category` in their canonical view (a face frontal)
    at `size`²: under their own light, then once per light x (the rest of the light kept)."""
    seeds = seed_run(SEED_RANGES["test"].start, count, split="test")
    scene = sample_scene(category, seeds, size=size)
    scene = dataclasses.replace(scene, view=torch.zeros_like(scene.view))
    renders = [render_scene(scene)]
    for light_x in lights_x:
        light = scene.light.clone()
        light[:, 2] = light_x
        renders.append(render_scene(dataclasses.replace(scene, light=light)))
    return renders


def pseudo_samples(
    image: torch.Tensor, normal: torch.Tensor, light: torch.Tensor, new_lights: torch.Tensor
) -> torch.Tensor:
    """`image [1, 3, H, W]` (frontal) relit: its albedo solved per pixel under `light [1, 4]` on
    a surface of `normal [1, 3, H, W]`, then shaded by each of `new_lights [L, 4]` on the same
    surface; `[L, 3, H, W]`. With the true normals and light it redraws the true relit object."""
    shading = shade(normal, light).clamp(min=DIM_SHADING)  # [1, 1, H, W]
    albedo = ((image / 2 + 0.5) / shading).clamp(0, 1) * 2 - 1
    return compose_image(albedo, shade(normal, new_lights))


def log_brightness(image: torch.Tensor) -> torch.Tensor:
    """Log brightness `[..., H, W]` of `image [..., 3, H, W]` in [-1, 1], averaged over colour
    channels: differences of it are changes of shading wherever the albedo stays put."""
    return torch.log(image / 2 + 0.5 + BRIGHTNESS_FLOOR).mean(-3)


def correction(
    projection: torch.Tensor, pseudo: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor
) -> float:
    """Whether the projection of `pseudo` changed its shading the way `truth`'s differs from it
    (`[3, H, W]` each): the correlation over `mask` of the two log-brightness differences
    (1: towards the truth, 0: unrelated, -1: away from it)."""
    start = log_brightness(pseudo)
    moved, missing = log_brightness(projection) - start, log_brightness(truth) - start
    return correlation(moved[mask], missing[mask])


def mean_l1(image: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean absolute difference of `[3, H, W]` images over `mask [H, W]` (bool)."""
    return float((image - target).abs().mean(0)[mask].mean())


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument(
        "--category", choices=("face", "car"), default="face", help="what to probe (%(default)s)"
    )
    parser.add_argument("--model", help="a GAN of the category (default-CATEGORY)")
    parser.add_argument("--n", type=at_least(1), default=8, help="test objects (%(default)s)")
    parser.add_argument(
        "--light-x", type=numbers(-1, 1), default="-0.7,0.7", help="pseudo lights' x (%(default)s)"
    )
    parser.add_argument(
        "--space", choices=("wplus", "w"), default="wplus", help="latent space (%(default)s)"
    )
    parser.add_argument(
        "--inversion-steps",
        type=at_least(1),
        default=300,
        help="steps inverting each input (%(default)s)",
    )
    parser.add_argument(
        "--steps", type=at_least(1), default=200, help="projection steps (%(default)s)"
    )
    parser.add_argument("--lr", type=positive, default=0.02, help="projection rate (%(default)s)")
    add_threads_option(parser, 1)
    args = parser.parse_args()
    lights_x = args.light_x
    if not lights_x:
        raise GANliftError("--light-x needs at least one value.")
    model_name = args.model or f"default-{args.category}"
    model = load_checkpoint(model_name)
    if model.discriminator is None:
        raise GANliftError(f"{model_name} has no discriminator; its features are the loss.")
    torch.set_num_threads(args.threads)
    generator = model.generator
    features = DiscriminatorFeatureLoss(model.discriminator)
    settings = dict(w_plus=args.space == "wplus", pixel_loss="l1", perceptual=features,
                    optimize_noise=False)  # fmt: skip
    size = generator.config.size
    inputs, *relit = canonical_renders(args.category, args.n, size, lights_x)
    preset = get_preset(f"default-{args.category}")
    cap = preset.prior(inputs.mask if preset.use_mask else torch.ones_like(inputs.mask))
    cap_normal = normals_from_depth(cap)
    scores: dict[str, list[float]] = {name: [] for name in METRICS}
    print(f"{model_name}, {args.space}, {args.steps} projection steps; per object and light x: "
          f"L1 to the true relit render (pseudo / projection / true render's projection), "
          f"correction / ceiling")  # fmt: skip
    for item in range(args.n):
        image, mask = inputs.image[item : item + 1], inputs.mask[item] > 0.5
        start = project(
            generator, image, num_steps=args.inversion_steps, lr=INVERSION_LR, **settings
        )
        new_lights = inputs.light[item].repeat(len(lights_x), 1)
        new_lights[:, 2] = torch.tensor(lights_x)
        pseudo = pseudo_samples(image, cap_normal[item : item + 1], inputs.light[item : item + 1],
                                new_lights)  # fmt: skip
        line = [f"{args.category} {item} (inversion {start.psnr:.1f} dB):"]
        for index, light_x in enumerate(lights_x):
            truth = relit[index].image[item]
            projected = [
                project(
                    generator,
                    target[None],
                    num_steps=args.steps,
                    lr=args.lr,
                    initial_latent=start.latent,
                    **settings,
                ).image[0]
                for target in (pseudo[index], truth)
            ]
            values = {
                "l1_pseudo": mean_l1(pseudo[index], truth, mask),
                "l1_projection": mean_l1(projected[0], truth, mask),
                "l1_truth_projection": mean_l1(projected[1], truth, mask),
                "correction": correction(projected[0], pseudo[index], truth, mask),
                "ceiling": correction(projected[1], pseudo[index], truth, mask),
            }
            for name, value in values.items():
                scores[name].append(value)
            line.append(f"x {light_x:+.2f}: L1 {values['l1_pseudo']:.3f} / "
                        f"{values['l1_projection']:.3f} / {values['l1_truth_projection']:.3f}, "
                        f"{values['correction']:.2f} / {values['ceiling']:.2f}")  # fmt: skip
        print(" ".join(line), flush=True)
    print("mean: " + ", ".join(f"{name} {statistics.mean(scores[name]):.3f}" for name in METRICS))


if __name__ == "__main__":
    run_script(main)
