"""`python -m engine reconstruct-batch DIR --out OUT`: GAN2Shape on every image of a folder,
resumable, failure-tolerant, with a summary report; `torchrun --nproc_per_node N -m engine
reconstruct-batch ...` shards the images over N processes (NCCL on GPUs, gloo on CPU)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.atomic import output_folder
from engine.batch import find_images, images_in_subfolders, reconstruct_batch
from engine.cli.arguments import INTERRUPTED
from engine.cli.reconstruct import (
    add_model_options,
    add_output_options,
    bf16_wanted,
    load_model_from_args,
    note_fast_start,
    output_settings,
)
from engine.distributed import current_process_group, process_group_from_environment
from engine.errors import GANliftError
from engine.gan2shape.pipeline import QUALITIES
from engine.limits import PHOTO_CAPS, add_limit_arguments, limits_from_arguments
from engine.progress import stop_on_signals, tqdm_progress

SOME_FAILED = 3
"""Exit status of a batch in which some images failed (each with its reason in the report): not
1, which a crash exits with, nor 2, a refused command."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `reconstruct-batch` subcommand."""
    parser = subparsers.add_parser(
        "reconstruct-batch",
        help="GAN2Shape on every image of a folder (resumable; one failure stops nothing)",
        description="Lift every image in DIR to OUT/<image name>/ (with --recursive, those in "
        "its subfolders too, to OUT/<subfolder>/<image name>/). Finished images are skipped "
        "when the command runs again; OUT/batch-report.json lists every outcome. Exits "
        f"{SOME_FAILED} when some image failed.",
    )
    parser.add_argument("images", metavar="DIR", help="folder of images")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--recursive", action="store_true", help="read the images in DIR's subfolders too"
    )
    parser.add_argument(
        "--quality", choices=QUALITIES, default="full",
        help="as reconstruct's: full or fast (%(default)s)",
    )  # fmt: skip
    add_output_options(parser)
    add_model_options(parser, release=True)
    add_limit_arguments(parser, PHOTO_CAPS)
    parser.set_defaults(run=run_batch)


def run_batch(args: argparse.Namespace) -> int:
    """Reconstruct this process's share of the folder; rank 0 prints the merged report."""
    settings = output_settings(args)
    limits = limits_from_arguments(args)
    out, folder = Path(args.out).resolve(), Path(args.images).resolve()
    if out == folder:
        raise GANliftError(
            f"--out {args.out} is the image folder itself; results go to OUT/<image name>/, "
            "so choose another folder."
        )
    if args.recursive and folder in out.parents:
        raise GANliftError(
            f"--out {args.out} lies inside {args.images}, whose subfolders --recursive reads "
            "(the results' pictures would become inputs); choose a folder outside it."
        )
    images = find_images(args.images, recursive=args.recursive, leaving_out=out)
    if not args.recursive and (nested := images_in_subfolders(args.images, leaving_out=out)):
        images_are = "1 image is" if nested == 1 else f"{nested} images are"
        print(
            f"note: {images_are} in subfolders of {args.images}, not read; add --recursive to "
            "read them",
            file=sys.stderr,
        )
    output_folder(args.out)
    with (
        process_group_from_environment(args.device) as device,
        stop_on_signals() as should_stop,
        tqdm_progress("reconstruct-batch", unit="image") as progress,
    ):
        model = load_model_from_args(args, device)
        if current_process_group().is_main:
            note_fast_start(model, args.quality)
        report = reconstruct_batch(
            model, images, args.out, image_folder=args.images, quality=args.quality,
            settings=settings, limits=limits, device=device,
            bf16=bf16_wanted(args, device), progress=progress,
            should_stop=should_stop,
        )  # fmt: skip
    if report.path is None:
        return 0
    print(report.table())
    print(f"report: {report.path}")
    if report.count("stopped"):
        print("stopped; run the same command again to continue")
        return INTERRUPTED
    return SOME_FAILED if report.count("failed") else 0
