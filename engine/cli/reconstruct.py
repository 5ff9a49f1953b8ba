"""`python -m engine reconstruct` (GAN2Shape on one image or GAN sample, resumable, writing
maps, views, animations and meshes), `python -m engine gan2shape-pretrain` (the jointly
pretrained networks that the fast quality mode starts from; `torchrun --nproc_per_node N -m
engine gan2shape-pretrain ...` splits each iteration's batch over N processes) and
`python -m engine gan2shape-check` (how those networks read held-out synthetic renders).

The model is a bundled name (`--model default-face`, whose preset has the same name) or a
checkpoint file with its category (`--ckpt stylegan2-car.pt --category car`); `--preset FILE`
replaces the preset with one saved as JSON (`Gan2ShapePreset.to_json`), and takes a category's
name too, as the app's `--category` and `bench shape --preset` do. With the release's
checkpoints, `--release-dir checkpoints` samples and starts as its configs do
(`engine.gan2shape.release`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from engine.atomic import atomic_path, output_file, output_folder
from engine.cli.arguments import (
    INTERRUPTED,
    MAX_BATCH,
    MAX_STEPS,
    add_device_option,
    at_least,
    refuse_networks_as_output,
    seed,
)
from engine.device import resolve_device
from engine.distributed import current_process_group, process_group_from_environment
from engine.errors import GANliftError, StoppedEarly
from engine.evaluation.gan2shape_check import check_networks
from engine.gan2shape import PRESETS, Gan2ShapeNetworks, get_preset
from engine.gan2shape.inputs import load_mask
from engine.gan2shape.outputs import (
    DEFAULT_VIEWS,
    OutputSettings,
    ViewSpec,
    write_outputs,
)
from engine.gan2shape.pipeline import (
    QUALITIES,
    Gan2ShapeModel,
    load_model,
    reconstruct,
    sample_input,
)
from engine.gan2shape.pretrain import PretrainConfig, pretrain
from engine.gan2shape.pretrained_files import load_pretrained, pretraining_progress
from engine.images import load_photo
from engine.inversion import load_latent
from engine.limits import PHOTO_CAPS, add_limit_arguments, limits_from_arguments
from engine.metrics import psnr_text
from engine.progress import stop_on_signals, tqdm_progress
from engine.stylegan2 import bf16_supported
from engine.stylegan2.checkpoint import safetensors_path

MAX_PRETRAIN_IMAGES = 65_536
"""Most GAN samples pretraining may hold (all are drawn up front and kept in memory)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `reconstruct` and `gan2shape-pretrain` subcommands."""
    parser = subparsers.add_parser(
        "reconstruct",
        help="GAN2Shape: depth, albedo, light, views, animations and meshes of one image",
        description="Lift one image (or a GAN sample) to 3D with GAN2Shape. The run is saved in "
        "--out after every phase and on Ctrl-C; run the same command again to continue it.",
    )
    parser.add_argument(
        "image", metavar="IMAGE", nargs="?", help="image file (any size within the limits below)"
    )
    parser.add_argument(
        "--seed-sample", type=seed, metavar="N", help="lift the GAN's sample of seed N instead"
    )
    parser.add_argument("--mask", help="object mask image (white object on black), same size")
    parser.add_argument(
        "--latent",
        help="IMAGE's inversion from `python -m engine invert` (skips the inversion step)",
    )
    parser.add_argument(
        "--quality",
        choices=QUALITIES,
        default="full",
        help="full: the preset's schedule from the shape prior; fast: refine the jointly "
        "pretrained networks (%(default)s)",
    )
    parser.add_argument("--out", required=True, help="output folder (holds the resumable run)")
    add_output_options(parser)
    add_model_options(parser, release=True)
    add_limit_arguments(parser, PHOTO_CAPS)
    parser.set_defaults(run=run_reconstruct)

    pretrain_parser = subparsers.add_parser(
        "gan2shape-pretrain",
        help="train GAN2Shape's networks jointly on many GAN samples (for --quality fast)",
        description="Joint pretraining on GAN samples; writes FILE.safetensors + FILE.json "
        "(and FILE.resume.pt to continue with --resume).",
    )
    pretrain_parser.add_argument(
        "--out",
        required=True,
        help="weights file (.safetensors, with a .json beside it); reconstruct's fast mode "
        "looks for them beside the checkpoint as <checkpoint stem>-gan2shape.safetensors",
    )
    pretrain_parser.add_argument(
        "--images",
        type=at_least(1, maximum=MAX_PRETRAIN_IMAGES),
        default=PretrainConfig.images,
        help="GAN samples (%(default)s)",
    )
    pretrain_parser.add_argument(
        "--steps",
        type=at_least(0, maximum=MAX_STEPS),
        default=PretrainConfig.steps,
        help="joint iterations after the prior fit and the warm-ups (%(default)s)",
    )
    pretrain_parser.add_argument(
        "--warmup-steps",
        type=at_least(0, maximum=MAX_STEPS),
        default=PretrainConfig.warmup_steps,
        help="photo-geometric warm-up iterations before the joint ones, so that the view net "
        "learns to read views (%(default)s)",
    )
    pretrain_parser.add_argument(
        "--warmup-batch",
        type=at_least(1, maximum=MAX_BATCH),
        default=PretrainConfig.warmup_batch,
        help="samples per warm-up iteration, summed over all processes (%(default)s)",
    )
    pretrain_parser.add_argument(
        "--offset-warmup-steps",
        metavar="STEPS",
        type=at_least(0, maximum=MAX_STEPS),
        default=PretrainConfig.offset_warmup_steps,
        help="iterations training the latent-offset encoder alone after the warm-up, so that "
        "step 2's projections follow the pseudo samples' lights (%(default)s)",
    )
    pretrain_parser.add_argument(
        "--batch",
        type=at_least(1, maximum=MAX_BATCH),
        default=PretrainConfig.batch,
        help="samples per iteration, summed over all processes (%(default)s)",
    )
    pretrain_parser.add_argument(
        "--truncation",
        type=at_least(0, float, maximum=1),
        default=PretrainConfig.truncation,
        help="how far the samples' w stay from the mean w: 0 to 1, 1 = no truncation (%(default)s)",
    )
    pretrain_parser.add_argument(
        "--seed", type=seed, default=PretrainConfig.seed,
        help="seed of the samples and the networks' start (%(default)s)",
    )  # fmt: skip
    pretrain_parser.add_argument(
        "--save-every", type=at_least(1, maximum=MAX_STEPS), default=PretrainConfig.save_every,
        help="iterations between saves of the resumable run (%(default)s)",
    )  # fmt: skip
    pretrain_parser.add_argument("--resume", action="store_true", help="continue a saved run")
    add_model_options(pretrain_parser)
    pretrain_parser.set_defaults(run=run_pretrain)

    check_parser = subparsers.add_parser(
        "gan2shape-check",
        help="read held-out synthetic renders with pretrained GAN2Shape networks",
        description="View, light, redraw and depth relief of pretrained GAN2Shape networks "
        "against the known truth of held-out synthetic renders (no refinement).",
    )
    check_parser.add_argument(
        "--weights", help="pretrained networks (default: the ones fast mode uses for the model)"
    )
    check_parser.add_argument(
        "--n", type=int, default=64, help="held-out renders, 2 to 10000 (%(default)s)"
    )
    check_parser.add_argument("--json", help="also write the figures to this JSON file")
    add_model_options(check_parser, autocast=False)  # it runs in float32 (no --fp32 to give)
    check_parser.set_defaults(run=run_check)


def run_reconstruct(args: argparse.Namespace) -> int:
    """Prepare the input, run (or resume) the recovery, write every output."""
    if args.image is None and args.seed_sample is None and not _is_view(args.views[-1]):
        raise GANliftError(
            f"--views took '{args.views[-1]}' as a view; put IMAGE before --views, which takes "
            "every value after it."
        )
    if (args.image is None) == (args.seed_sample is None):
        raise GANliftError("Give either an IMAGE file or --seed-sample N (not both, not none).")
    if args.image is not None and Path(args.out).resolve() in _folders_of(Path(args.image)):
        raise GANliftError(
            f"--out {args.out} is the folder {args.image} is in; the outputs (input.png, "
            "depth.png, ...) would overwrite files there, so choose a folder of their own."
        )
    settings = output_settings(args)
    output_folder(args.out)
    device = resolve_device(args.device)
    model = load_model_from_args(args, device)
    G = model.generator
    latent = None
    if args.seed_sample is not None:
        if args.mask:
            raise GANliftError("--mask applies to an IMAGE; a --seed-sample needs none.")
        if args.latent:
            raise GANliftError("--latent applies to an IMAGE; a --seed-sample knows its latent.")
        prepared, latent = sample_input(G, args.seed_sample)
    else:
        if args.latent:
            latent = load_latent(args.latent, style_dim=G.style_dim, num_ws=G.num_ws)
        limits = limits_from_arguments(args)
        image = load_photo(args.image, limits)  # [1, 3, H, W]
        mask = load_mask(args.mask, limits) if args.mask else None
        if mask is not None and mask.shape[-2:] != image.shape[-2:]:
            (height, width), (image_height, image_width) = mask.shape[-2:], image.shape[-2:]
            raise GANliftError(
                f"--mask {args.mask} is {width}x{height} px but the image {args.image} is "
                f"{image_width}x{image_height} px; pass a mask of the image's size."
            )
        prepared = model.prepare(image, mask)
    print(f"input: {prepared.framing}")
    note_fast_start(model, args.quality)
    with tqdm_progress(desc="gan2shape") as progress, stop_on_signals() as should_stop:
        try:
            run = reconstruct(
                model, prepared, out_dir=args.out, quality=args.quality, latent=latent,
                device=device, bf16=bf16_wanted(args, device),
                progress=progress, should_stop=should_stop,
            )  # fmt: skip
        except StoppedEarly as stopped:
            print(stopped)  # a sentence that says it stopped
            return INTERRUPTED
    if run.resumed:
        print(f"continued the run saved in {run.out_dir}")
    if not run.recovery.finished:
        print(f"stopped; the run is saved in {run.out_dir}: run the same command to continue")
        return INTERRUPTED
    with tqdm_progress(desc="outputs") as progress:
        files = write_outputs(
            run.recovery, G, run.out_dir, settings=settings, photo=prepared.photo,
            progress=progress,
        )  # fmt: skip
    recovery = run.recovery
    print(
        f"inversion PSNR {psnr_text(recovery.psnr, 2)}, "
        f"redraw PSNR {psnr_text(recovery.redraw_psnr, 2)}; "
        f"{len(files)} files in {run.out_dir}"
    )
    return 0


def run_pretrain(args: argparse.Namespace) -> int:
    """Pretrain the networks jointly (resumable, data-parallel under torchrun) and report,
    from rank 0, where they are."""
    output_file(safetensors_path(args.out))
    config = PretrainConfig(
        images=args.images,
        steps=args.steps,
        batch=args.batch,
        truncation=args.truncation,
        seed=args.seed,
        save_every=args.save_every,
        warmup_steps=args.warmup_steps,
        warmup_batch=args.warmup_batch,
        offset_warmup_steps=args.offset_warmup_steps,
    )
    with (
        process_group_from_environment(args.device) as device,
        stop_on_signals() as stop,
        tqdm_progress(desc="gan2shape-pretrain") as progress,
    ):
        model = load_model_from_args(args, device)
        result = pretrain(
            model.generator, model.discriminator, preset=model.preset, out=args.out,
            config=config, resume=args.resume, device=device,
            bf16=bf16_wanted(args, device), progress=progress, should_stop=stop,
        )  # fmt: skip
        if not current_process_group().is_main:
            return 0
    if not result.finished:
        print(f"stopped at {result.iteration}/{result.total}; continue with --resume")
        return INTERRUPTED
    print(f"pretrained networks saved to {result.path}")
    if result.path.resolve() != model.pretrained.resolve():
        print(
            f"note: reconstruct --quality fast looks for them at {model.pretrained}; copy both "
            "files there (or pretrain with --out there) for it to use them",
            file=sys.stderr,
        )
    return 0


def note_fast_start(model: Gan2ShapeModel, quality: str) -> None:
    """Say when fast mode has no pretrained networks to start from (and no given start), or
    ones whose pretraining stopped early."""
    if quality != "fast" or model.start is not None:
        return
    pretrained = model.pretrained
    if not pretrained.is_file():
        print(
            f"note: no pretrained networks at {pretrained}, so fast mode starts from the shape "
            "prior (make them with `python -m engine gan2shape-pretrain`)",
            file=sys.stderr,
        )
    elif (progress := pretraining_progress(pretrained)) and progress[0] < progress[1]:
        print(
            f"note: the pretraining of {pretrained} stopped at iteration {progress[0]} of "
            f"{progress[1]}; finish it with `python -m engine gan2shape-pretrain ... --resume`",
            file=sys.stderr,
        )


def run_check(args: argparse.Namespace) -> int:
    """Print (and optionally save) `check_networks` for the model's pretrained networks."""
    if args.json:
        output_file(args.json)
    device = resolve_device(args.device)
    model = load_model_from_args(args, device)
    weights = Path(args.weights) if args.weights else model.pretrained
    pretrained = safetensors_path(weights)
    if args.weights and weights.exists() and not pretrained.is_file():
        raise GANliftError(
            f"--weights {weights} holds no pretrained networks (there is no {pretrained.name}); "
            "pass the .safetensors file `python -m engine gan2shape-pretrain` wrote."
        )
    if not pretrained.is_file():
        raise GANliftError(
            f"No pretrained networks at {pretrained}; make them with `python -m "
            "engine gan2shape-pretrain` or pass --weights the .safetensors file it wrote."
        )
    refuse_networks_as_output("json", args.json, pretrained)
    category = _SYNTH_CATEGORY.get(model.preset.name)
    if category is None:
        raise GANliftError(
            f"Preset '{model.preset.name}' has no synthetic renders to check against; use a "
            f"{' or '.join(sorted(_SYNTH_CATEGORY))} preset."
        )
    networks = Gan2ShapeNetworks(model.preset.networks, style_dim=model.generator.style_dim)
    networks.load_state_dict(load_pretrained(weights, model.preset, model.generator))  # checked
    check = check_networks(networks, model.preset, category, n=args.n, device=device)
    print(check.table())
    if args.json:
        with atomic_path(args.json) as temporary:
            temporary.write_text(check.to_json())
    return 0


_SYNTH_CATEGORY = {"face": "face", "default-face": "face", "car": "car", "default-car": "car"}
"""The synthetic category whose renders check each preset's networks."""


def add_model_options(
    parser: argparse.ArgumentParser, *, release: bool = False, autocast: bool = True
) -> None:
    """--model / --ckpt + --category / --preset, --device, with `autocast` --fp32 (for the
    commands that train or run under bfloat16), and with `release` --release-dir (for the
    commands whose runs start from the release's networks)."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", help="bundled model name (default: default-face)")
    source.add_argument("--ckpt", help="StyleGAN2 checkpoint file (.pt, .pkl, .safetensors)")
    parser.add_argument(
        "--category",
        choices=sorted(PRESETS),
        metavar="CATEGORY",  # the usage line listed all six and ran past 80 columns
        help=f"GAN2Shape preset for --ckpt: {', '.join(sorted(PRESETS))}",
    )
    parser.add_argument(
        "--preset", help="GAN2Shape preset: a name as --category takes or a JSON file (wins)"
    )
    parser.set_defaults(release_dir=None)
    if release:
        parser.add_argument(
            "--release-dir",
            metavar="DIR",
            help="the GAN2Shape release's checkpoints/ folder, with --ckpt and --category: its "
            "view and light statistics, and for face and cat the pretrained networks every run "
            "starts from, as the release's configs use them",
        )
    add_device_option(parser)
    if autocast:
        parser.add_argument("--fp32", action="store_true", help="never use bfloat16 autocast")


def bf16_wanted(args: argparse.Namespace, device: torch.device) -> bool:
    """Whether a command with `add_model_options`' --fp32 runs under bfloat16 autocast: unless
    --fp32 says not to, wherever `device` has bfloat16."""
    return not args.fp32 and bf16_supported(device)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """--views and --frames, the outputs `reconstruct` and `reconstruct-batch` write."""
    defaults = [view.text for view in DEFAULT_VIEWS]
    parser.add_argument(
        "--views", nargs="+", metavar="AZ,EL[,DX,DY]", default=defaults,
        help="views to render and project: azimuth and elevation in degrees, then optionally a "
        f"light direction (default: {' '.join(defaults)})",
    )  # fmt: skip
    parser.add_argument(
        "--frames", type=int, default=24, help="frames per animation, 3 to 1440 (%(default)s)"
    )


def output_settings(args: argparse.Namespace) -> OutputSettings:
    """The --views and --frames of `reconstruct` and `reconstruct-batch`, checked."""
    return OutputSettings(views=tuple(map(ViewSpec.parse, args.views)), frames=args.frames)


def _folders_of(image: Path) -> set[Path]:
    """The folder `image` is in, as given and, for a link, where its file is."""
    return {image.absolute().parent.resolve(), image.resolve().parent}


def _is_view(text: str) -> bool:
    """Whether `text` reads as a --views value."""
    try:
        ViewSpec.parse(text)
    except GANliftError:
        return False
    return True


def load_model_from_args(args: argparse.Namespace, device: torch.device) -> Gan2ShapeModel:
    """The model and preset named by the model options (a checkpoint other than a shipped
    model's file needs --category or --preset)."""
    preset = get_preset(args.preset) if args.preset else args.category
    return load_model(
        args.ckpt or args.model or "default-face",
        preset=preset,
        device=device,
        release_dir=args.release_dir,
    )
