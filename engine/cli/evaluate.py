"""`python -m engine evaluate-gan` (measure a StyleGAN2 and write its model card),
`python -m engine coverage-weights` (sampling weights that counter its narrow coverage) and
`python -m engine examples` (save held-out renders as the app's example inputs)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch

from engine.atomic import output_file, output_folder
from engine.cli.arguments import INTERRUPTED, add_device_option, at_least, seed, threads
from engine.device import resolve_device
from engine.errors import StoppedEarly
from engine.evaluation import (
    EXAMPLE_SEED,
    CoverageReader,
    EvaluationConfig,
    coverage_weights,
    evaluate_gan,
    write_evaluation,
    write_examples,
)
from engine.evaluation.balance import balanced_labels, check_balance_settings
from engine.evaluation.evaluate import COUNT_RANGES
from engine.evaluation.training_run import check_category
from engine.progress import stop_on_signals, tqdm_progress
from engine.stylegan2 import load_checkpoint
from engine.stylegan2.training.data import find_images
from engine.synth import CATEGORIES

_DEFAULTS = EvaluationConfig(category="face")
WORK_FILE = "evaluation-work.pt"
"""Kept in --out while evaluate-gan runs: its finished work, which a rerun goes on from."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `evaluate-gan` and `examples` subcommands."""
    evaluate = subparsers.add_parser(
        "evaluate-gan",
        help="measure a StyleGAN2 against the default models' goals and write a model card",
        description="Sample grid, inversion PSNR on held-out renders, view-swap analysis and "
        "coverage of viewpoint and light; writes the figures, evaluation.json and "
        "MODEL_CARD.md to --out. Training facts come from the checkpoint's run folder. "
        f"Stopped or killed, it keeps its scored inversions and fitted coverage regressor in "
        f"--out's {WORK_FILE}, and the same command goes on from them.",
    )
    evaluate.add_argument("checkpoint", help="checkpoint file or installed model name")
    evaluate.add_argument(
        "--category", choices=CATEGORIES, required=True, help="what the GAN draws"
    )
    evaluate.add_argument("--out", required=True, help="output folder")
    evaluate.add_argument(
        "--n-samples", type=_count("n_samples"), default=_DEFAULTS.n_samples,
        help="GAN samples and held-out renders for coverage (%(default)s)",
    )  # fmt: skip
    evaluate.add_argument(
        "--n-invert", type=_count("n_invert"), default=_DEFAULTS.n_invert,
        help="held-out renders to invert (%(default)s)",
    )  # fmt: skip
    evaluate.add_argument(
        "--steps", type=_count("inversion_steps"), default=_DEFAULTS.inversion_steps,
        help="inversion steps per image (%(default)s)",
    )  # fmt: skip
    add_regressor_options(evaluate)
    evaluate.add_argument(
        "--run-dir", help="training run folder (config.json, log.jsonl); default: the "
        "checkpoint's folder",
    )  # fmt: skip
    evaluate.add_argument(
        "--training-from", metavar="EVALUATION_JSON",
        help="take the training facts from an earlier evaluation.json of this snapshot "
        "(when its run folder is gone)",
    )  # fmt: skip
    evaluate.add_argument(
        "--seed", type=seed, default=_DEFAULTS.seed, help="sampling seed (%(default)s)"
    )
    evaluate.add_argument("--threads", type=threads, help="CPU threads (default: torch's choice)")
    add_device_option(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    weights = subparsers.add_parser(
        "coverage-weights",
        help="per-image sampling weights that show a GAN more of the views and lights it "
        "rarely draws (for train-gan --sample-weights)",
        description="Fits the coverage regressor, reads the chosen labels (default: the "
        "gated ones) off the training images and off GAN samples, and weights each image by "
        "how much more often the data shows its kind than the GAN draws it (see "
        "engine.evaluation.balance).",
    )
    weights.add_argument("checkpoint", help="checkpoint file or installed model name")
    weights.add_argument(
        "--category", choices=CATEGORIES, required=True, help="what the images show"
    )
    weights.add_argument("--data", required=True, help="the GAN's training image folder")
    weights.add_argument("--out", required=True, help="JSON file to write")
    weights.add_argument(
        "--samples",
        type=_count("n_samples"),
        default=4000,
        help="GAN samples read, no fewer than --bins (%(default)s)",
    )
    weights.add_argument(
        "--labels", nargs="+", help="labels to balance (default: the category's gated ones)"
    )
    weights.add_argument(
        "--bins", type=at_least(2, maximum=1000), default=8, help="bins per label (%(default)s)"
    )
    weights.add_argument(
        "--max-weight", type=float, default=8.0, help="clip weights to [1/this, this] "
        "before scaling them to mean 1 (%(default)s)",
    )  # fmt: skip
    add_regressor_options(weights)
    weights.add_argument("--threads", type=threads, help="CPU threads (default: torch's choice)")
    weights.set_defaults(run=run_coverage_weights)

    examples = subparsers.add_parser(
        "examples",
        help="save held-out synthetic renders as example inputs (e.g. assets/examples)",
    )
    examples.add_argument("--category", choices=CATEGORIES, required=True, help="what to render")
    examples.add_argument("--out", default="assets/examples", help="folder (%(default)s)")
    examples.add_argument(
        "--n", type=at_least(1, maximum=1000), default=4, help="number of images (%(default)s)"
    )
    examples.add_argument(
        "--seed", type=seed, default=EXAMPLE_SEED, help="first test seed (%(default)s)"
    )
    examples.add_argument(
        "--size", type=at_least(16, maximum=1024), default=128, help="image size (%(default)s)"
    )
    examples.set_defaults(run=run_examples)


def add_regressor_options(parser: argparse.ArgumentParser) -> None:
    """--train-renders and --regressor-steps: how the coverage regressor is fitted."""
    parser.add_argument(
        "--train-renders", type=_count("n_train_renders"), default=_DEFAULTS.n_train_renders,
        help="training renders of the coverage regressor (%(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--regressor-steps", type=_count("regressor_steps"), default=_DEFAULTS.regressor_steps,
        help="training steps of the coverage regressor (%(default)s)",
    )  # fmt: skip


def _count(setting: str) -> Callable[[str], float]:
    """The argparse type of an `EvaluationConfig` count: its allowed range, checked at once."""
    minimum, maximum = COUNT_RANGES[setting]
    return at_least(minimum, maximum=maximum)


def _use_threads(count: int | None) -> None:
    """torch's CPU threads as --threads asks (None: torch's own choice)."""
    if count:
        torch.set_num_threads(count)


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate the checkpoint with a progress bar and print where the outputs went."""
    output_folder(args.out)
    _use_threads(args.threads)
    config = EvaluationConfig(
        category=args.category, n_samples=args.n_samples, n_invert=args.n_invert,
        inversion_steps=args.steps, n_train_renders=args.train_renders,
        regressor_steps=args.regressor_steps, seed=args.seed,
    )  # fmt: skip
    work_file = Path(args.out) / WORK_FILE
    with tqdm_progress(desc="evaluate-gan") as progress, stop_on_signals() as should_stop:
        try:
            evaluation = evaluate_gan(
                args.checkpoint, config, run_dir=args.run_dir,
                training_record=args.training_from, work_file=work_file,
                device=resolve_device(args.device), progress=progress, should_stop=should_stop,
            )  # fmt: skip
        except StoppedEarly as stopped:
            print(stopped)  # a sentence that says it stopped
            return INTERRUPTED
    paths = write_evaluation(evaluation, args.out)
    work_file.unlink(missing_ok=True)
    summary = evaluation.summary()
    print(f"inversion PSNR {summary['inversion']['mean_psnr_db']:.2f} dB")
    for label in summary["coverage"]["labels"]:
        print(f"coverage {label['name']}: GAN/data std {label['ratio']:.2f}")
    print(f"view layers: {summary['view_swap']['num_view_layers']} of {evaluation.num_ws}")
    print(f"model card: {paths['card']}")
    return 0


def run_coverage_weights(args: argparse.Namespace) -> int:
    """Write the weights and print each balanced label's bins and spread before and after."""
    _use_threads(args.threads)
    balanced_labels(args.category, args.labels)  # a typo, a wrong folder or --out fails now,
    check_balance_settings(bins=args.bins, max_weight=args.max_weight, samples=args.samples)
    find_images(args.data)  # not after the regressor's minutes of fitting
    check_category(args.category, args.data)
    output_file(args.out)
    generator = load_checkpoint(args.checkpoint).generator.eval()
    with tqdm_progress(desc="coverage-weights") as progress:
        reader = CoverageReader.fit(
            args.category, n_train=args.train_renders, regressor_steps=args.regressor_steps,
            progress=progress,
        )  # fmt: skip
        result = coverage_weights(
            reader, generator, args.data, samples=args.samples, bins=args.bins,
            max_weight=args.max_weight, labels=args.labels, progress=progress,
        )  # fmt: skip
    for index, label in enumerate(result.bins):
        shares = " ".join(f"{float(share):.2f}" for share in label.gan_share)
        print(f"{label.name}: GAN share of the {len(label.gan_share)} equal-data bins {shares}; "
              f"data std {float(result.data_std[index]):.3f} -> "
              f"{float(result.weighted_std[index]):.3f} weighted")  # fmt: skip
    weights = result.weights
    print(f"weights {float(weights.min()):.2f}..{float(weights.max()):.2f}, "
          f"{len(weights)} images; wrote {result.save(args.out)}")  # fmt: skip
    return 0


def run_examples(args: argparse.Namespace) -> int:
    """Write the example renders and list them."""
    for path in write_examples(args.out, args.category, n=args.n, seed=args.seed, size=args.size):
        print(path)
    return 0
