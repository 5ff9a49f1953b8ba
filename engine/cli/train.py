"""`python -m engine train-gan`: train a StyleGAN2 on a folder of images (resumable; torchrun
for several GPUs or CPU processes).

Every option left out takes the `TrainConfig` default; `--resume` continues the run stored in
`--out` (the snapshot is replaced in place, so the same command line can be rerun after a
crash); `--init-from` starts a new run from a trained model instead of fresh weights. The
first Ctrl-C or SIGTERM finishes the current step, writes a snapshot and exits.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.cli.arguments import INTERRUPTED, add_device_option, seed
from engine.distributed import current_process_group, process_group_from_environment
from engine.errors import GANliftError, StoppedEarly
from engine.progress import stop_on_signals, tqdm_progress
from engine.stylegan2 import load_checkpoint
from engine.stylegan2.training import TrainConfig, default_channels, parse_channels, train_gan
from engine.stylegan2.training.command import CONFIG_OPTIONS, DEFAULTS
from engine.stylegan2.training.state import write_compact_state

_OPTION_TYPES = {"seed": seed}
"""Argparse types of the config options whose check is more than their type's."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `train-gan` subcommand."""
    parser = subparsers.add_parser(
        "train-gan",
        help="train a StyleGAN2 on a folder of images",
        description=__doc__,  # wrapped to the terminal
    )
    parser.add_argument("--data", required=True, help="folder of images (read recursively)")
    parser.add_argument("--out", default="runs/stylegan2", help="output folder (%(default)s)")
    parser.add_argument(
        "--channels",
        help="max channel count (e.g. 256) or one width per resolution from 4 px up "
        "(e.g. 256,256,256,128,64); default: a 4.8M-parameter model at 64 px",
    )
    for flag, name, kind, text in CONFIG_OPTIONS:
        kind = _OPTION_TYPES.get(name, kind)
        parser.add_argument(flag, dest=name, type=kind, help=f"{text} ({getattr(DEFAULTS, name)})")
    parser.add_argument("--lr", type=float, help=f"Adam learning rate of G and D ({DEFAULTS.g_lr})")
    parser.add_argument(
        "--sample-weights",
        metavar="JSON",
        help="draw training images by these per-image weights (from `coverage-weights`) "
        "instead of uniformly",
    )
    parser.add_argument(
        "--no-xflip", dest="xflip", action="store_const", const=False, help="no mirror augmentation"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run stored in --out (start one if there is none)",
    )
    parser.add_argument(
        "--init-from",
        metavar="CHECKPOINT",
        help="start a new run from a trained model and its discriminator (a file or an "
        "installed name such as default-face); its recorded kimg counts towards --kimg; with "
        "--resume and a run in --out, that run continues (the model must fit its settings)",
    )
    add_device_option(parser)
    parser.set_defaults(run=run)

    compact = subparsers.add_parser(
        "compact-state",
        help="shrink a training state for committing (float16 networks, no optimiser moments)",
        description=write_compact_state.__doc__,
    )
    compact.add_argument("state", type=Path, help="a run's training-state.pt")
    compact.add_argument(
        "out", type=Path, help="the compact copy; put it in a run folder as training-state.pt "
        "and pass --resume to continue",
    )  # fmt: skip
    compact.set_defaults(run=run_compact_state)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of the given options (defaults for the rest)."""
    values: dict[str, Any] = {
        name: getattr(args, name)
        for _, name, _, _ in CONFIG_OPTIONS
        if getattr(args, name) is not None
    }
    size = values.get("size", DEFAULTS.size)
    values["channels"] = (
        parse_channels(args.channels, size) if args.channels else default_channels(size)
    )
    if args.lr is not None:
        values["g_lr"] = values["d_lr"] = args.lr
    if args.xflip is not None:
        values["xflip"] = args.xflip
    if args.sample_weights is not None:
        values["sample_weights"] = args.sample_weights
    return TrainConfig(**values)


def run(args: argparse.Namespace) -> int:
    """Train, then print where the model and the resumable state are."""
    config = config_from_args(args)
    init_from = load_checkpoint(args.init_from) if args.init_from else None
    with (
        process_group_from_environment(args.device) as device,
        stop_on_signals() as should_stop,
        tqdm_progress("train-gan") as progress,
    ):
        try:
            result = train_gan(
                args.data,
                args.out,
                config=config,
                device=device,
                resume=args.resume,
                init_from=init_from,
                progress=progress,
                should_stop=should_stop,
            )
        except StoppedEarly as stopped:
            print(stopped)  # a sentence that says it stopped
            return INTERRUPTED
        if not current_process_group().is_main:
            return 0
    status = "stopped" if result.stopped_early else "finished"
    print(
        f"{status} at {result.kimg:g} kimg (step {result.step}, {result.images} images, "
        f"{result.precision}); "
        f"model {result.model_path}, common layout {result.pt_path}, resume state "
        f"{result.state_path}"
    )
    return INTERRUPTED if result.stopped_early else 0


def run_compact_state(args: argparse.Namespace) -> int:
    """Write the compact copy and say how much smaller it is."""
    if not args.state.is_file():
        raise GANliftError(f"There is no training state at {args.state}; check the path.")
    if args.out.resolve() == args.state.resolve():
        raise GANliftError(
            f"{args.out} is the state being compacted, which would lose its optimiser moments "
            "and float32 weights; write the compact copy to another file."
        )
    out = write_compact_state(args.state, args.out)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, from "
          f"{args.state.stat().st_size / 2**20:.1f} MiB)")  # fmt: skip
    return 0
