"""`python -m engine info | sample | invert`: look into a StyleGAN2 checkpoint, draw samples
from it, and project an image into its latent space.

CKPT is a checkpoint file (.pt, .pkl, .safetensors) or a bundled model name (default-face).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from engine.atomic import output_file
from engine.cli.arguments import INTERRUPTED, add_device_option, at_least, seed, torch_output
from engine.device import resolve_device
from engine.errors import GANliftError
from engine.evaluation.samples import generate_samples
from engine.images import SAVE_FORMATS, image_format, load_photo, make_grid, save_image
from engine.inversion import project, save_latent
from engine.limits import PHOTO_CAPS, add_limit_arguments, limits_from_arguments
from engine.perceptual import perceptual_loss
from engine.progress import stop_on_signals, tqdm_progress
from engine.stylegan2 import load_checkpoint
from engine.wording import counted

_SAMPLE_BATCH = 8
"""Images generated per forward pass by `sample` (bounds memory for large grids)."""
MAX_GRID_SAMPLES = 1024
"""Most samples one `sample` grid holds (32 x 32)."""
MAX_INVERSION_STEPS = 100_000
"""Most steps `invert` takes (as evaluate-gan's inversions): a hundred times the projector's
1,000, where more is a typo that would run for days."""
MAX_TRUNCATION = 2.0
"""Largest truncation psi `sample` takes: above 1 exaggerates each sample's distance from the
mean w, and far above it the images saturate (and float32 overflows)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `info`, `sample` and `invert` subcommands."""
    info = subparsers.add_parser("info", help="print a checkpoint's architecture summary")
    info.add_argument("checkpoint", metavar="CKPT", help="checkpoint file or model name")
    info.set_defaults(run=run_info)

    sample = subparsers.add_parser("sample", help="save a grid of random samples")
    sample.add_argument("checkpoint", metavar="CKPT", help="checkpoint file or model name")
    sample.add_argument(
        "--n",
        type=at_least(1, maximum=MAX_GRID_SAMPLES),
        default=16,
        help="number of samples (%(default)s)",
    )
    sample.add_argument("--seed", type=seed, default=0, help="seed of the z draws (%(default)s)")
    sample.add_argument(
        "--truncation",
        type=at_least(0, float, maximum=MAX_TRUNCATION),
        default=0.7,
        help="truncation psi, 0 to 2: 0 draws the mean w, 1 none, above 1 exaggerates "
        "(%(default)s)",
    )
    sample.add_argument("--out", default="grid.png", help="output image (%(default)s)")
    add_device_option(sample)
    sample.set_defaults(run=run_sample)

    invert = subparsers.add_parser("invert", help="find the latent that reproduces an image")
    invert.add_argument("checkpoint", metavar="CKPT", help="checkpoint file or model name")
    invert.add_argument(
        "image", metavar="IMAGE", help="image file (centre-cropped; any size within the limits)"
    )
    invert.add_argument(
        "--out", type=torch_output, default="latent.pt", help="latent file (%(default)s)"
    )
    invert.add_argument(
        "--steps",
        type=at_least(1, maximum=MAX_INVERSION_STEPS),
        default=1000,
        help="optimisation steps (%(default)s)",
    )
    invert.add_argument(
        "--wplus", action="store_true", help="optimise one w per layer (W+) instead of one w"
    )
    invert.add_argument("--recon", help="also save the reconstruction to this image file")
    invert.add_argument(
        "--perceptual",
        choices=("auto", "lpips", "discriminator", "none"),
        default="auto",
        help="perceptual loss: auto takes LPIPS if its weights are on disk, else the "
        "checkpoint's discriminator features; lpips downloads them if missing (%(default)s)",
    )
    invert.add_argument(
        "--seed", type=seed, default=0, help="seed of the optimisation noise (%(default)s)"
    )
    add_device_option(invert)
    add_limit_arguments(invert, PHOTO_CAPS)
    invert.set_defaults(run=run_invert)


def run_info(args: argparse.Namespace) -> int:
    """Print the architecture summary of a checkpoint."""
    print(load_checkpoint(args.checkpoint).describe())
    return 0


def run_sample(args: argparse.Namespace) -> int:
    """Draw `--n` samples with truncation and save them as one grid image; --out is checked
    (a picture's name, not a folder) before the checkpoint is opened."""
    image_format(output_file(args.out))
    device = resolve_device(args.device)
    checkpoint = load_checkpoint(args.checkpoint, device=device)
    with tqdm_progress(desc="sample", unit="image") as progress:
        images = generate_samples(
            checkpoint.generator, args.n, seed=args.seed, truncation=args.truncation,
            batch_size=_SAMPLE_BATCH, progress=progress,
        )  # fmt: skip
    path = save_image(make_grid(images, nrow=math.ceil(math.sqrt(args.n))), args.out)
    print(f"saved {counted(args.n, 'sample')} to {path}")
    return 0


def run_invert(args: argparse.Namespace) -> int:
    """Project an image into the checkpoint's latent space; save the latent (and recon)."""
    if Path(args.out).suffix.lower() in SAVE_FORMATS:
        raise GANliftError(
            f"--out {args.out} names the latent file, not a picture; "
            "pass a .pt path there and save the reconstruction with --recon."
        )
    output_file(args.out)
    if args.recon:
        output_file(args.recon)
        image_format(args.recon)
    device = resolve_device(args.device)
    target = load_photo(args.image, limits_from_arguments(args))  # [1, 3, H, W]
    checkpoint = load_checkpoint(args.checkpoint, device=device)
    perceptual = None
    if args.perceptual != "none":
        perceptual = perceptual_loss(
            args.perceptual, discriminator=checkpoint.discriminator, device=device
        )
    with tqdm_progress(desc="invert") as progress, stop_on_signals() as should_stop:
        result = project(
            checkpoint.generator,
            target,
            num_steps=args.steps,
            w_plus=args.wplus,
            perceptual=perceptual,
            seed=args.seed,
            device=device,
            progress=progress,
            should_stop=should_stop,
        )
    if not result.losses:
        print("stopped before the first step; nothing saved")
        return INTERRUPTED
    stopped = f"stopped after step {len(result.losses)} of {args.steps}"
    existing = [path for path in (args.out, args.recon) if path and Path(path).exists()]
    if len(result.losses) < args.steps and existing:
        print(f"{stopped}; kept {' and '.join(existing)} (a stopped run replaces no results)")
        return INTERRUPTED
    used = "none" if perceptual is None else type(perceptual).__name__  # what "auto" chose
    settings = {"steps": len(result.losses), "seed": args.seed, "wplus": args.wplus}
    latent_path = save_latent(
        args.out, result.latent, result.noises, target=result.target,
        generator=checkpoint.generator, settings=settings | {"perceptual": used},
    )  # fmt: skip
    print(f"PSNR {result.psnr:.2f} dB; latent {list(result.latent.shape)} saved to {latent_path}")
    if args.recon:
        print(f"reconstruction saved to {save_image(result.image, args.recon)}")
    if len(result.losses) < args.steps:
        print(f"{stopped}; the latent is that step's")
        return INTERRUPTED
    return 0
