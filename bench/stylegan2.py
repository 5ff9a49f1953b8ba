"""StyleGAN2 generator speed: fast vs reference ops (and bf16 autocast where the CPU has it).

    python -m bench.stylegan2 [--size 128] [--channel-multiplier 1] [--repeats 1]

(from the repository root; `PYTHONPATH=. python bench/stylegan2.py` is the same).

Prints ms per image at batch 1 and 8, forward (no grad) and forward+backward (a loss on the
image, gradients for all weights), with the reference/fast time ratio measured in the same run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from engine.cli.arguments import at_least, run_script, script_parser
from engine.stylegan2 import Generator, GeneratorConfig, bf16_autocast, bf16_supported


def time_ms(step: Callable[[], None], repeats: int) -> float:
    """Median wall time of `step` in ms, after one warm-up call."""
    step()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def make_step(G: Generator, batch: int, *, backward: bool, bf16: bool) -> Callable[[], None]:
    """One generator call on a fixed z batch, optionally with backward, optionally in bf16."""
    z = torch.randn(batch, G.style_dim, generator=torch.Generator().manual_seed(0))

    def step() -> None:
        G.zero_grad(set_to_none=True)
        with bf16_autocast("cpu", enabled=bf16), torch.set_grad_enabled(backward):
            image = G(z)
        if backward:
            image.float().square().mean().backward()

    return step


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument(
        "--size", type=at_least(4), default=128, help="generator image side (%(default)s)"
    )
    parser.add_argument(
        "--channel-multiplier",
        type=at_least(1),
        default=1,
        help="StyleGAN2's width factor (%(default)s)",
    )
    parser.add_argument(
        "--repeats", type=at_least(1), default=1, help="timed calls after a warm-up (%(default)s)"
    )
    args = parser.parse_args()

    G = Generator(GeneratorConfig.from_multiplier(args.size, args.channel_multiplier))
    with_bf16 = bf16_supported("cpu")
    print(
        f"StyleGAN2 G {args.size}x{args.size}, channel multiplier {args.channel_multiplier}, "
        f"{torch.get_num_threads()} threads, bf16 {'available' if with_bf16 else 'unavailable'}"
    )
    header = f"{'case':<22}{'reference':>12}{'fast':>10}{'ratio':>8}"
    if with_bf16:
        header += f"{'fast+bf16':>12}{'ratio':>8}"
    print(header + "   (ms per image)")
    for backward in (False, True):
        for batch in (1, 8):
            case = f"{'fwd+bwd' if backward else 'forward'} batch {batch}"
            times = {}
            for name, impl, bf16 in (
                ("reference", "reference", False),
                ("fast", "fast", False),
                ("bf16", "fast", True),
            ):
                if bf16 and not with_bf16:
                    continue
                G.set_impl(impl)
                step = make_step(G, batch, backward=backward, bf16=bf16)
                times[name] = time_ms(step, args.repeats) / batch
            row = f"{case:<22}{times['reference']:>12.1f}{times['fast']:>10.1f}"
            row += f"{times['reference'] / times['fast']:>7.2f}x"
            if with_bf16:
                row += f"{times['bf16']:>12.1f}{times['reference'] / times['bf16']:>7.2f}x"
            print(row, flush=True)


if __name__ == "__main__":
    run_script(main)
