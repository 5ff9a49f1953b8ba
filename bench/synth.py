"""Throughput of the synthetic-data renderer: images per second for faces and cars.

For each category and size it times `render_samples` end to end (geometry, two rasterizer
passes, albedo, shading, background) and, as a reference measured in the same run on the
same meshes, the bare view-pass rasterization. Each is reported as wall-clock images/s and
as process CPU time per image (steadier on a shared machine); ratio = end-to-end / raster
CPU time. Goal: ≥ 200 images/s at 64×64 on a 2-core CPU.

    python -m bench.synth [--batch 64] [--repeats 3] [--sizes 64 128] [--threads 2]

(from the repository root).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

from engine.cli.arguments import add_threads_option, at_least, run_script, script_parser
from engine.render import clip_from_camera, rasterize, transform_points
from engine.synth import CATEGORIES, render_samples
from engine.synth.generate import sample_scene


@dataclass(frozen=True)
class Timing:
    """Best wall-clock and process-CPU seconds of repeated runs."""

    wall: float
    cpu: float


def _best_time(action: Callable[[], object], repeats: int) -> Timing:
    """Fastest of `repeats` timed runs of `action()` (after one warm-up run)."""
    action()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timing(min(walls), min(cpus))


def measure(category: str, size: int, batch: int, repeats: int) -> tuple[Timing, Timing]:
    """Timings of `render_samples` and of the bare view-pass rasterization, per batch."""
    seeds = list(range(batch))
    total = _best_time(partial(render_samples, category, seeds, size=size), repeats)
    scene = sample_scene(category, seeds, size=size)
    points = transform_points(scene.mesh.vertices, scene.view)  # [B, V, 3]
    clip = torch.nn.functional.pad(points, (0, 1), value=1.0) @ clip_from_camera(size, size).T
    raster = _best_time(partial(rasterize, clip, scene.mesh.faces, (size, size)), repeats)
    return total, raster


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument(
        "--batch", type=at_least(1), default=64, help="scenes rendered at once (%(default)s)"
    )
    parser.add_argument(
        "--repeats", type=at_least(1), default=3, help="timed runs of each size (%(default)s)"
    )
    parser.add_argument(
        "--sizes",
        type=at_least(16),
        nargs="+",
        default=[64, 128],
        help="image sides, at least 16 (default: 64 128)",
    )
    add_threads_option(parser, 2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    print(
        f"{'category':<9}{'size':>5}{'images/s':>10}{'CPU ms/img':>12}"
        f"{'raster images/s':>17}{'raster CPU ms/img':>19}{'ratio':>7}"
    )
    for size in args.sizes:
        for category in CATEGORIES:
            total, raster = measure(category, size, args.batch, args.repeats)
            print(
                f"{category:<9}{size:>5}{args.batch / total.wall:>10.1f}"
                f"{1e3 * total.cpu / args.batch:>12.2f}{args.batch / raster.wall:>17.1f}"
                f"{1e3 * raster.cpu / args.batch:>19.2f}{total.cpu / raster.cpu:>7.2f}"
            )


if __name__ == "__main__":
    run_script(main)
