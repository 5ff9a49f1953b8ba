"""`python -m engine synth` (write a synthetic dataset) and `python -m engine bench shape`
(score depth predictors on synthetic test images)."""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from engine.atomic import output_file, output_folder
from engine.benchmarks import run_shape_benchmark
from engine.benchmarks.gan2shape_rows import check_scored_category, gan2shape_rows
from engine.cli.arguments import (
    INTERRUPTED,
    add_device_option,
    at_least,
    refuse_networks_as_output,
    seed,
)
from engine.device import resolve_device
from engine.errors import GANliftError
from engine.gan2shape.pipeline import load_model
from engine.images import image_format
from engine.progress import stop_on_signals, tqdm_progress
from engine.synth import CATEGORIES, SEED_RANGES, SIZES, render_samples, save_preview, write_dataset
from engine.wording import counted

_PREVIEW_COUNT = 32
MAX_SYNTH_SAMPLES = 1_000_000
"""Most samples one synth command renders (about 10 GB of PNGs at 64 px, a day on this CPU);
a count typed with extra zeros ran on for terabytes."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `synth` and `bench` subcommands."""
    synth = subparsers.add_parser(
        "synth",
        help="render procedural faces or cars with ground truth (PNGs + npz shards)",
        description="Render samples seed..seed+n-1: PNGs for GAN training and npz shards with "
        "depth, normals, albedo, masks, view and light (format: engine.synth.dataset).",
    )
    synth.add_argument("--category", choices=CATEGORIES, required=True, help="what to render")
    synth.add_argument(
        "--n", type=at_least(1, maximum=MAX_SYNTH_SAMPLES), required=True,
        help="number of samples",
    )  # fmt: skip
    synth.add_argument(
        "--size", type=int, choices=SIZES, default=64, help="image size (%(default)s)"
    )
    synth.add_argument("--out", required=True, help="output directory")
    synth.add_argument(
        "--seed", type=seed, default=SEED_RANGES["train"].start,
        help="first per-sample seed (%(default)s, the first train seed; see engine.synth.seeds)",
    )  # fmt: skip
    synth.add_argument("--preview", help="also write a grid of the first samples to this PNG")
    synth.add_argument(
        "--shard-size", type=int, default=1000, help="samples per npz shard (%(default)s)"
    )
    synth.add_argument(
        "--batch-size", type=int, default=64, help="samples rendered at once (%(default)s)"
    )
    add_device_option(synth)
    synth.set_defaults(run=run_synth)

    bench = subparsers.add_parser("bench", help="benchmarks with ground truth")
    kinds = bench.add_subparsers(dest="benchmark", metavar="<benchmark>", required=True)
    shape = kinds.add_parser(
        "shape",
        help="SIDE / MAD of depth predictors on synthetic test images",
        description="Score every registered depth predictor on synthetic test images "
        "(test seeds only) and print SIDE (x1e-2) and MAD (degrees), mean ± std.",
    )
    shape.add_argument(
        "--category", choices=CATEGORIES, default="face", help="test renders of (%(default)s)"
    )
    shape.add_argument("--n", type=int, default=200, help="number of test images (%(default)s)")
    shape.add_argument(
        "--seed", type=seed, default=SEED_RANGES["test"].start, help="first test seed (%(default)s)"
    )
    shape.add_argument(
        "--size", type=int, choices=SIZES, default=64, help="image size (%(default)s)"
    )
    shape.add_argument(
        "--train-samples", type=int, default=500,
        help="training renders the average-depth baseline averages (%(default)s)",
    )  # fmt: skip
    shape.add_argument("--json", help="also write the scores to this JSON file")
    shape.add_argument(
        "--gan2shape",
        metavar="MODEL",
        help="also score GAN2Shape (with and without symmetry) on this model: a bundled name "
        "(default-face) or a checkpoint with --preset",
    )
    shape.add_argument(
        "--preset", help="GAN2Shape preset (a name or a JSON file) of a --gan2shape checkpoint"
    )
    shape.add_argument(
        "--quality",
        choices=("fast", "full", "both"),
        help="GAN2Shape rows to score (fast needs the model's pretrained networks; default full)",
    )
    add_device_option(shape)
    shape.set_defaults(run=run_shape_bench)


def run_synth(args: argparse.Namespace) -> int:
    """Write the dataset (and the preview) with a progress bar."""
    output_folder(args.out)
    if args.preview:
        output_file(args.preview)
        image_format(args.preview)
    device = resolve_device(args.device)
    with (
        tqdm_progress(desc=f"synth {args.category}", unit="img") as progress,
        stop_on_signals() as should_stop,
    ):
        info = write_dataset(
            args.out, args.category, n=args.n, size=args.size, seed=args.seed,
            shard_size=args.shard_size, batch_size=args.batch_size, device=device,
            progress=progress, should_stop=should_stop,
        )  # fmt: skip
    if info.count:
        written = counted(info.count, f"{info.category} sample")
        print(f"wrote {written} ({info.split} seeds) to {args.out}")
    if info.count < args.n:
        held = f"the first {info.count} of {args.n} as a set of its own" if info.count else "none"
        print(f"stopped: {args.out} holds {held}; run the same command to continue it")
        return INTERRUPTED
    if args.preview:
        count = min(args.n, _PREVIEW_COUNT)
        first = render_samples(
            args.category, list(range(args.seed, args.seed + count)), size=args.size, device=device
        )
        print(f"preview: {save_preview(first, args.preview)}")
    return 0


def run_shape_bench(args: argparse.Namespace) -> int:
    """Run the shape benchmark (baselines, and GAN2Shape rows when asked) and print its table."""
    if not args.gan2shape and (args.preset or args.quality):
        raise GANliftError(
            "--preset and --quality choose the GAN2Shape rows; add --gan2shape MODEL to score them."
        )
    if args.json:
        output_file(args.json)
    device = resolve_device(args.device)
    with ExitStack() as stack:
        rows = None
        if args.gan2shape:
            model = load_model(args.gan2shape, preset=args.preset, device=device)
            refuse_networks_as_output("json", args.json, model.pretrained)
            check_scored_category(model, args.category)
            quality = args.quality or "full"
            qualities = ("fast", "full") if quality == "both" else (quality,)
            rows = stack.enter_context(gan2shape_rows(model, qualities=qualities))
        progress = stack.enter_context(
            tqdm_progress(desc=f"bench shape {args.category}", unit="img")
        )
        result = run_shape_benchmark(
            args.category, n=args.n, seed=args.seed, size=args.size,
            train_samples=args.train_samples, device=device, progress=progress,
        )  # fmt: skip
    print(result.table())
    for name in rows.names if rows else []:
        print(f"{name}: {rows.seconds_per_image(name):.1f} s per image")
    if args.json:
        print(f"scores: {result.save_json(args.json)}")
    return 0
