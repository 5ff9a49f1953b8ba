"""StyleGAN2 training speed: seconds per G+D step of the default small model at 64×64, batch
16, in fp32 and bf16 measured in the same run (the ratio is what `--precision auto` bets on).

    python -m bench.train [--steps 12] [--warmup 3] [--threads 2] [--precisions fp32,bf16]

Each precision runs `train_gan` for warmup + steps steps on random images; the log's timing
windows exclude snapshots, and the first window (kernel warm-up) is dropped.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.cli.arguments import add_threads_option, at_least, run_script, script_parser
from engine.stylegan2 import Discriminator, Generator
from engine.stylegan2.training import TrainConfig, train_gan
from engine.stylegan2.training.precision import resolve_precision


def write_random_images(folder: Path, count: int, size: int) -> None:
    """Seeded noise images: decoding and content do not change the step time."""
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")


def seconds_per_step(data: Path, out: Path, config: TrainConfig) -> list[float]:
    """Mean seconds per step of each log window of a short run but the first (warm-up)."""
    train_gan(data, out, config=config, device=torch.device("cpu"))
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [record["sec_per_step"] for record in records if "sec_per_step" in record][1:]


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument(
        "--steps", type=at_least(1), default=12, help="timed steps per precision (%(default)s)"
    )
    parser.add_argument(
        "--warmup", type=at_least(1), default=3, help="untimed first steps (%(default)s)"
    )
    add_threads_option(parser, torch.get_num_threads())
    parser.add_argument(
        "--precisions", default="fp32,bf16", help="comma-separated precisions (%(default)s)"
    )
    parser.add_argument(
        "--batch", type=at_least(1), default=16, help="training batch size (%(default)s)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    window = args.warmup  # log windows are as long as the warm-up
    total = window * (1 + math.ceil(args.steps / window))
    base = TrainConfig(batch=args.batch, snapshot_kimg=1e6, log_every=window, sample_count=1)
    g_params = sum(p.numel() for p in Generator(base.generator_config()).parameters())
    d_params = sum(p.numel() for p in Discriminator(base.discriminator_config()).parameters())
    print(
        f"64x64, batch {args.batch}, G {g_params / 1e6:.2f}M, D {d_params / 1e6:.2f}M params, "
        f"{args.threads} threads; --precision auto picks "
        f"{resolve_precision('auto', torch.device('cpu'))} here"
    )
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "images"
        data.mkdir()
        write_random_images(data, 64, base.size)
        for precision in args.precisions.split(","):
            config = TrainConfig.from_dict(
                base.to_dict() | {"precision": precision, "kimg": total * args.batch / 1000}
            )
            windows = seconds_per_step(data, Path(scratch) / precision, config)
            results[precision] = statistics.median(windows)
    reference = results.get("fp32")
    print(f"{'precision':>9}  {'s/step':>7}  {'img/s':>6}  {'vs fp32':>7}")
    for precision, seconds in results.items():
        ratio = f"{reference / seconds:.2f}x" if reference else "-"
        print(f"{precision:>9}  {seconds:7.3f}  {args.batch / seconds:6.1f}  {ratio:>7}")


if __name__ == "__main__":
    run_script(main)
