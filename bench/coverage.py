"""How the coverage figures depend on the accuracy of the label regressor that reads them.

    python -m bench.coverage [--model default-face [run/model.safetensors ...]]
                             [--category face] [--settings 4000:1500 64000:24000]
                             [--seeds 0 [1 ...]] [--threads 2]

For each setting (training renders : regressor steps) the regressor is trained afresh and
read off the same 1,000 held-out renders and, for each model and sample seed, 1,000 GAN
samples, as `evaluate-gan` reads them (seed 0); the table prints each label's GAN / data
spread ratio and the regressor's R² on the held-out renders' true labels, so a ratio is only
believed where its R² is high. Several models (the snapshots of one run) are read by one
regressor; several seeds show how much a ratio moves with the draw of samples alone. For
cars the azimuth is also read as an angle (`engine.evaluation.coverage.AngleReading`): the
spread of the read angles apart from the regressor's certainty, which its cos / sin std mixes.
"""

from __future__ import annotations

import argparse

import torch

from engine.cli.arguments import add_threads_option, run_script, script_parser, seed
from engine.evaluation import CoverageReader
from engine.evaluation.coverage import azimuth_reading
from engine.stylegan2 import load_checkpoint
from engine.synth import CATEGORIES

MODEL_COLUMN = 32
"""Width of the table's model column."""


def parse_setting(text: str) -> tuple[int, int]:
    """'RENDERS:STEPS' as two positive whole numbers."""
    try:
        renders, steps = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected RENDERS:STEPS, got {text!r}") from None
    if renders < 2 or steps < 1:
        raise argparse.ArgumentTypeError(f"need at least 2 renders and 1 step, got {text!r}")
    return renders, steps


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument(
        "--model", nargs="+", help="checkpoints or installed names (default: default-CATEGORY)"
    )
    parser.add_argument(
        "--category", choices=CATEGORIES, default="face", help="the model's category (%(default)s)"
    )
    parser.add_argument(
        "--settings",
        nargs="+",
        type=parse_setting,
        default=[(4000, 1500), (64000, 24000)],
        metavar="RENDERS:STEPS",
        help="the regressor's training renders and steps, one pair a setting (default: "
        "4000:1500 64000:24000)",
    )
    parser.add_argument(
        "--seeds", nargs="+", type=seed, default=[0], help="z seeds of the samples (0)"
    )
    add_threads_option(parser, 2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.model or [f"default-{args.category}"]
    generators = {name: load_checkpoint(name).generator for name in names}
    print(f"{args.category}: GAN / data std, regressor R² on held-out renders")
    columns = f"{'renders:steps':>14} | {model_column('model')} | seed"
    print(f"{columns} | label        | ratio | R²    | gated")
    angles: list[str] = []
    for renders, steps in args.settings:
        reader = CoverageReader.fit(args.category, n_train=renders, regressor_steps=steps)
        for name, generator in generators.items():
            for sample_seed in args.seeds:
                result = reader.read(generator, seed=sample_seed)
                for label in result.labels:
                    gated = "yes" if label.gated else ""
                    print(
                        f"{renders:>7}:{steps:<6} | {model_column(name)} | {sample_seed:>4} "
                        f"| {label.name:<12} | {label.ratio:5.2f} | {label.heldout_r2:5.3f} "
                        f"| {gated}"
                    )
                angle = azimuth_reading(result)
                if angle is not None:
                    angles.append(
                        f"{renders:>7}:{steps:<6} | {model_column(name)} | {sample_seed:>4} "
                        f"| {angle.angle_ratio:11.2f} | {angle.gan_length:10.2f} "
                        f"| {angle.data_length:11.2f}"
                    )
    if angles:
        print("\ncar azimuth read as an angle: GAN / data std of the unit vector of the reading,")
        print("and the median length of the readings (the regressor's certainty; 1 on renders)")
        print(f"{columns} | angle ratio | GAN length | data length")
        print("\n".join(angles))


def model_column(name: str, width: int = MODEL_COLUMN) -> str:
    """`name` in a column of `width` characters: a longer path keeps its end, marked as cut."""
    return name.ljust(width) if len(name) <= width else "…" + name[len(name) - width + 1 :]


if __name__ == "__main__":
    run_script(main)
