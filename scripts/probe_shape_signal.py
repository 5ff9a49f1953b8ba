"""Does GAN2Shape's photometric loss hold a face's shape? Free canonical depth and albedo (one
pair per identity) and a light per image are fitted by Adam, from the preset's prior cap, to
several renders of each test identity: the synthetic world draws one face under any view and
light, so the renders are what GAN2Shape's step 3 hopes its projected samples are. The fitted
depth is scored with the shape benchmark's metrics in the first render's view, beside the cap
and the true canonical depth, and the loss the fit reaches beside the loss at the true depth
(the same albedo and lights fitted with the depth held at the truth).

    python -m scripts.probe_shape_signal --yaws 0,-10,10 [--light-x=-0.7,0,0.7] [--true-albedo]

The depth range is default-face's widened to hold the heads ([0.92, 1.04], the cap from 0.93
to 1.0), so the range does not limit the fit.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from engine.benchmarks.gan2shape_rows import depth_in_image_view
from engine.cli.arguments import at_least, numbers, positive, run_script, script_parser
from engine.errors import GANliftError
from engine.gan2shape import CameraRanges, Gan2ShapePreset, get_preset
from engine.gan2shape.losses import masked_l1, smoothness
from engine.gan2shape.parametrisation import compose_image
from engine.gan2shape.photogeometry import render_in_views
from engine.metrics import mad, side
from engine.render import normals_from_depth, shade
from engine.synth import SEED_RANGES, SynthBatch, seed_run
from engine.synth.generate import render_scene, sample_scene

SIZE = 64
"""default-face's frame, the benchmark's image size."""
HEAD_RANGE = CameraRanges(min_depth=0.92, max_depth=1.04)
"""A depth range that holds the synthetic heads (the nose near 0.93, the backdrop at 1.0)."""


def head_preset() -> Gan2ShapePreset:
    """default-face with a depth range and prior cap that can hold the true heads."""
    return get_preset("default-face").replace(camera=HEAD_RANGE, prior_near=0.93, prior_far=1.0)


def render_identities(
    count: int, yaws: list[float], lights_x: list[float], lights_y: list[float], supersample: int
) -> list[SynthBatch]:
    """The first `count` test faces drawn once per yaw (degrees; no other rotation or shift),
    each render with its own light x / y when given (else the face's own light), rendered at
    `supersample` times the size and area-averaged (anti-aliased) when above 1."""
    scene = sample_scene("face", seed_run(SEED_RANGES["test"].start, count, split="test"),
                         size=SIZE * supersample)  # fmt: skip
    renders = []
    for index, yaw in enumerate(yaws):
        view = torch.zeros_like(scene.view)
        view[:, 1] = math.radians(yaw)
        light = scene.light.clone()
        if lights_x:
            light[:, 2] = lights_x[index]
        if lights_y:
            light[:, 3] = lights_y[index]
        batch = render_scene(dataclasses.replace(scene, view=view, light=light))
        renders.append(downsample(batch, supersample))
    return renders


def downsample(batch: SynthBatch, factor: int) -> SynthBatch:
    """`batch` area-averaged by `factor`: colours averaged, masks where the object covers over
    half a pixel, depths averaged over the object's part of each pixel."""
    if factor == 1:
        return batch

    def pool(maps: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(maps, factor)

    def coverage_and_depth(mask: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, ...]:
        covered = pool(mask[:, None])[:, 0]  # [N, S, S]
        kept = (covered > 0.5).float()
        return kept, pool((depth * mask)[:, None])[:, 0] / covered.clamp(min=1e-6) * kept

    mask, depth = coverage_and_depth(batch.mask, batch.depth)
    canonical_mask, canonical_depth = coverage_and_depth(batch.canonical_mask,
                                                         batch.canonical_depth)  # fmt: skip
    return dataclasses.replace(
        batch, image=pool(batch.image), albedo=pool(batch.albedo), mask=mask, depth=depth,
        canonical_mask=canonical_mask, canonical_depth=canonical_depth,
        normal=F.normalize(pool(batch.normal), dim=1),
    )  # fmt: skip


def raw_depth(depth: torch.Tensor, ranges: CameraRanges) -> torch.Tensor:
    """Free variables `[N, S, S]` that `depth_in_range` maps to `depth [N, S, S]`."""
    unit = (2 * depth - ranges.min_depth - ranges.max_depth) / (ranges.max_depth - ranges.min_depth)
    return unit.clamp(-0.999, 0.999).atanh()


def depth_in_range(raw: torch.Tensor, ranges: CameraRanges) -> torch.Tensor:
    """GAN2Shape's tanh into the depth range, without the network's centring and border pins
    (which would keep a held depth from being exact)."""
    return ranges.min_depth + (ranges.max_depth - ranges.min_depth) * (1 + raw.tanh()) / 2


@dataclasses.dataclass
class Fit:
    """Where a fit ended."""

    depth: torch.Tensor  # [N, S, S] canonical depth
    l1: float
    """Mean masked L1 per render at the end (in [-1, 1] image units)."""


def fit(
    renders: list[SynthBatch],
    preset: Gan2ShapePreset,
    start: torch.Tensor,
    *,
    steps: int,
    lr: float,
    depth_free: bool,
    true_albedo: bool,
    flip: bool,
) -> Fit:
    """Adam on a canonical depth (from `start [N, S, S]`, or held there unless `depth_free`),
    an albedo (or the true one) and a light per render, for step 1's loss summed over the
    renders: masked L1 in each render's true view plus the preset's depth and shading
    smoothness (of the shading, where step 1 smooths the diffuse term alone). The lights are
    fitted because GAN2Shape shades in the canonical frame. With `flip` the mirrored depth and
    albedo must redraw every render too (GAN2Shape's symmetry)."""
    ranges, first = preset.camera, renders[0]
    raw = raw_depth(start, ranges).requires_grad_(depth_free)
    albedo_raw = (
        first.albedo.clamp(-0.999, 0.999).atanh() if true_albedo else torch.zeros_like(first.image)
    )
    albedo_raw.requires_grad_(not true_albedo)
    lights = [render.light.clone().requires_grad_(True) for render in renders]
    free = [tensor for tensor in (raw, albedo_raw, *lights) if tensor.requires_grad]
    optimizer = torch.optim.Adam(free, lr=lr)
    for _ in range(steps):
        depth = depth_in_range(raw, ranges)
        loss, l1 = preset.smooth_weight * smoothness(depth), 0.0
        albedo = albedo_raw.tanh()
        surfaces = [(depth, albedo)] + ([(depth.flip(2), albedo.flip(3))] if flip else [])
        copies = [(surface, colour, normals_from_depth(surface)) for surface, colour in surfaces]
        for render, light in zip(renders, lights, strict=True):
            for surface, colour, normal in copies:
                shading = shade(normal, light)
                image, covered = render_in_views(
                    compose_image(colour, shading), surface, render.view
                )
                photometric = masked_l1(image, render.image, covered * render.mask[:, None])
                loss = loss + photometric + preset.smooth_weight * smoothness(shading)
                l1 += photometric.item() / len(copies)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return Fit(depth_in_range(raw, ranges).detach(), l1 / len(renders))


def score(depth: torch.Tensor, render: SynthBatch) -> str:
    """SIDE (×10⁻²) and MAD (°) of canonical `depth [N, S, S]` drawn in `render`'s view."""
    drawn, coverage = depth_in_image_view(depth, render.view, SIZE)
    seen = render.mask * coverage
    truth = normals_from_depth(render.depth)
    side_error = 100 * side(drawn, render.depth, seen).mean()
    mad_error = mad(normals_from_depth(drawn), truth, seen).mean()
    return f"SIDE {side_error:.3f} / MAD {mad_error:.2f}"


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument("--n", type=at_least(1), default=16, help="test identities (%(default)s)")
    parser.add_argument(
        "--yaws",
        type=numbers(-90, 90),
        default="0,-10,10",
        help="one render per yaw, degrees (%(default)s)",
    )
    parser.add_argument(
        "--light-x", type=numbers(-1, 1), default="", help="light x per render (default: own)"
    )
    parser.add_argument(
        "--light-y", type=numbers(-1, 1), default="", help="light y per render (default: own)"
    )
    parser.add_argument("--true-albedo", action="store_true", help="hold the albedo true")
    parser.add_argument("--flip", action="store_true", help="symmetry: mirrored copies too")
    parser.add_argument(
        "--supersample",
        type=at_least(1),
        default=1,
        help="anti-aliasing factor (%(default)s: none)",
    )
    parser.add_argument("--steps", type=at_least(1), default=600, help="Adam steps (%(default)s)")
    parser.add_argument("--lr", type=positive, default=0.02, help="Adam rate (%(default)s)")
    parser.add_argument(
        "--smooth", type=at_least(0, float), default=0.05,
        help="smoothness weight (%(default)s; the preset's 0.5 holds free pixels at the cap)",
    )  # fmt: skip
    args = parser.parse_args()
    yaws, lights_x, lights_y = args.yaws, args.light_x, args.light_y
    for name, values in (("--light-x", lights_x), ("--light-y", lights_y)):
        if values and len(values) != len(yaws):
            raise GANliftError(f"{name} needs one value per yaw ({len(yaws)}), or none.")
    if not yaws:
        raise GANliftError("--yaws needs at least one value.")
    if args.true_albedo and yaws[0] != 0:
        raise GANliftError("--true-albedo takes the first render's albedo: start --yaws at 0.")
    torch.manual_seed(0)
    preset = head_preset().replace(smooth_weight=args.smooth)
    renders = render_identities(args.n, yaws, lights_x, lights_y, args.supersample)
    first = renders[0]
    cap = preset.prior(torch.ones_like(first.mask))
    truth = torch.where(first.canonical_mask > 0, first.canonical_depth, HEAD_RANGE.border_depth)
    settings = dict(steps=args.steps, lr=args.lr, true_albedo=args.true_albedo, flip=args.flip)
    at_truth = fit(renders, preset, truth, depth_free=False, **settings)
    fitted = fit(renders, preset, cap, depth_free=True, **settings)
    albedo = "true" if args.true_albedo else "fitted"
    print(f"renders: yaws {yaws}, light x {lights_x or 'own'}, light y {lights_y or 'own'}, "
          f"{albedo} albedo, supersample {args.supersample}, flip {args.flip}")  # fmt: skip
    print(f"prior cap             {score(cap, first)}")
    print(f"true canonical depth  {score(truth, first)}  loss reached {at_truth.l1:.4f}")
    print(f"fitted from the cap   {score(fitted.depth, first)}  loss reached {fitted.l1:.4f}")


if __name__ == "__main__":
    run_script(main)
