"""Seconds for GAN2Shape's fast mode on one 64×64 image, and where they go.

Times the fast mode (`recover` with the fast preset, started from the jointly pretrained
networks) end to end on one synthetic test render of the preset's category (a face for presets
of neither): GAN inversion, then the short refinement,
split by phase from the progress messages. The reference measured in the same run is one
generator forward + backward pass at the preset's batch size, the unit most phases are made
of; `ratio` = phase seconds / reference. When the pretrained networks are missing, freshly
initialised ones stand in (the timing is the same; the shape is not). Goal: ≤ 30 s per image
on a 2-core CPU. `--shape-rows N` also scores the shape benchmark's rows on N test renders
(`--shape-quality fast|full|both`; the full schedule costs minutes per image).

    python -m bench.gan2shape [--model default-face | --ckpt FILE --category default-face]
                              [--threads 2] [--fp32] [--shape-rows N] [--shape-quality fast]

(from the repository root).
"""

from __future__ import annotations

import time
from collections import defaultdict

import torch

from engine.benchmarks import run_shape_benchmark
from engine.benchmarks.gan2shape_rows import (
    check_fast_rows,
    gan2shape_rows,
    synthetic_category,
)
from engine.cli.arguments import add_threads_option, at_least, run_script, script_parser
from engine.errors import GANliftError
from engine.gan2shape import (
    Gan2ShapeModel,
    Gan2ShapeNetworks,
    fast_preset,
    get_preset,
    load_model,
    load_pretrained,
    recover,
)
from engine.perceptual import perceptual_loss
from engine.stylegan2 import bf16_autocast, bf16_supported
from engine.synth import CATEGORIES, SEED_RANGES, render_samples


def reference_seconds(model: Gan2ShapeModel, bf16: bool, repeats: int = 3) -> float:
    """Best time of one generator forward + backward pass at the preset's batch size."""
    G = model.generator
    latents = G.mean_latent(64).repeat(model.preset.batch_size, 1).requires_grad_(True)
    best = float("inf")
    for run in range(repeats + 1):
        start = time.perf_counter()
        with bf16_autocast(latents.device, enabled=bf16):
            image = G.synthesis(latents)
        image.float().square().mean().backward()
        if run > 0:  # the first run warms up and is not counted
            best = min(best, time.perf_counter() - start)
    return best


def time_fast_mode(model: Gan2ShapeModel, bf16: bool) -> tuple[float, dict[str, float], bool]:
    """(total seconds, seconds per phase, whether pretrained networks were used) of the fast
    mode on the first synthetic test render of the model's category."""
    category = synthetic_category(model) or "face"
    image = render_samples(category, [SEED_RANGES["test"].start], size=model.generator.config.size)
    try:
        init = load_pretrained(model.pretrained, model.preset, model.generator)
        pretrained = True
    except GANliftError:
        networks = Gan2ShapeNetworks(model.preset.networks, style_dim=model.generator.style_dim)
        init, pretrained = networks.state_dict(), False
    phases: dict[str, float] = defaultdict(float)

    def record(done: int, total: int, message: str) -> None:
        nonlocal last
        now = time.perf_counter()
        phases[message.split(":")[0]] += now - last
        last = now

    perceptual = perceptual_loss("auto", discriminator=model.discriminator)  # never downloads
    start = last = time.perf_counter()  # the phases count from recover's start, as the total
    recover(
        model.generator, model.discriminator, image.image, preset=fast_preset(model.preset),
        init=init, perceptual=perceptual, bf16=bf16, progress=record,
    )  # fmt: skip
    return time.perf_counter() - start, dict(phases), pretrained


def check_shape_rows(model: Gan2ShapeModel, qualities: tuple[str, ...]) -> None:
    """Refuse, before any timing, shape rows that cannot be scored for `model`."""
    if synthetic_category(model) is None:
        raise GANliftError(
            f"The shape benchmark renders {' and '.join(f'{name}s' for name in CATEGORIES)}; "
            f"preset {model.preset.name} is for neither, so --shape-rows cannot score it."
        )
    check_fast_rows(model, qualities, full_option="--shape-quality full")


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", default="default-face", help="a bundled model (%(default)s)")
    source.add_argument("--ckpt", help="checkpoint file instead of a bundled model")
    parser.add_argument("--category", help="preset for --ckpt (default-face)")
    parser.add_argument(
        "--preset", help="preset for --ckpt instead of --category: a name or a JSON file"
    )
    add_threads_option(parser, 2)
    parser.add_argument("--fp32", action="store_true", help="no bfloat16 autocast")
    parser.add_argument(
        "--shape-rows", type=at_least(0), default=0,
        help="also score the shape benchmark's rows on this many test renders of the category "
        "(%(default)s: none)",
    )  # fmt: skip
    parser.add_argument(
        "--shape-quality", choices=("fast", "full", "both"),
        help="GAN2Shape rows to score (fast; full: several minutes per image)",
    )  # fmt: skip
    args = parser.parse_args()
    if (args.category or args.preset) and not args.ckpt:
        raise GANliftError("--category and --preset name a --ckpt file's preset; give --ckpt too.")
    if args.category and args.preset:
        raise GANliftError("--category and --preset both name the preset; give one of them.")
    if args.shape_quality and not args.shape_rows:
        raise GANliftError("--shape-quality chooses the rows of --shape-rows N; give it too.")
    torch.set_num_threads(args.threads)
    preset = (args.category or "default-face") if args.ckpt else None
    if args.preset:
        preset = get_preset(args.preset)
    model = load_model(args.ckpt or args.model, preset=preset)
    quality = args.shape_quality or "fast"
    qualities = ("fast", "full") if quality == "both" else (quality,)
    if args.shape_rows:
        check_shape_rows(model, qualities)
    bf16 = not args.fp32 and bf16_supported("cpu")
    reference = reference_seconds(model, bf16)
    total, phases, pretrained = time_fast_mode(model, bf16)
    print(
        f"GAN2Shape fast mode, {model.preset.name}, {model.generator.config.size}px, "
        f"{'bf16' if bf16 else 'fp32'}, {args.threads} threads"
        + ("" if pretrained else " (no pretrained networks: fresh ones stand in)")
    )
    print(f"reference: G forward+backward at batch {model.preset.batch_size}: {reference:.3f} s")
    print(f"{'phase':<58}{'seconds':>9}{'ratio':>9}")
    for name, seconds in phases.items():
        print(f"{name:<58}{seconds:>9.2f}{seconds / reference:>9.1f}")
    print(f"{'total (goal <= 30 s)':<58}{total:>9.2f}{total / reference:>9.1f}")
    if args.shape_rows:
        with gan2shape_rows(model, qualities=qualities, bf16=bf16) as rows:
            result = run_shape_benchmark(
                model.preset.prior_box,
                n=args.shape_rows,
                methods=["const. null depth", "ellipsoid prior", rows.prior, *rows.names],
                size=model.generator.config.size,
                batch_size=4,
            )
        print(result.table())
        for name in rows.names:
            print(f"{name}: {rows.seconds_per_image(name):.1f} s per image")


if __name__ == "__main__":
    run_script(main)
