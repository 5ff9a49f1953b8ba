"""Server time per live-slider frame of the Reconstruct tab at 128×128, through the same handler
the UI calls (`app.reconstruct.render`), against the bare engine call it wraps.

    python -m bench.app [--frames 60] [--threads 1]

Builds a 128-px generator with narrow layers and a one-iteration preset with the release's
128-px networks, reconstructs one of its samples, then sweeps the azimuth / light sliders.
The target is ≤ 50 ms per frame on a laptop-class CPU.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from app import reconstruct
from app.models import ModelStore
from app.session import AppContext, Session
from app.settings import AppSettings
from app.viewer import TorchViewer
from engine.cli.arguments import add_threads_option, at_least, run_script, script_parser
from engine.gan2shape.presets import StepLengths, get_preset
from engine.gan2shape.views import render_view
from engine.stylegan2 import (
    Discriminator,
    DiscriminatorConfig,
    Generator,
    GeneratorConfig,
    save_pt_checkpoint,
)

SIZE = 128


def build_session(folder: Path) -> Session:
    """A session holding a finished (one-iteration) recovery at 128×128."""
    torch.manual_seed(0)
    channels = {2**power: 16 for power in range(2, SIZE.bit_length())}
    generator = Generator(GeneratorConfig(SIZE, channels, style_dim=64, n_mlp=2))
    checkpoint = save_pt_checkpoint(
        folder / "bench.pt",
        generator,
        discriminator=Discriminator(DiscriminatorConfig(SIZE, channels)),
    )
    preset = get_preset("face").replace(
        name="bench-face",
        num_stages=1,
        first_stage=StepLengths(1, 1, 1),
        flip_step1=(False,),
        flip_step3=(True,),
        prior_steps=1,
        batch_size=2,
        collect_batches=1,
    )
    (folder / "bench.json").write_text(preset.to_json())
    settings = AppSettings(model=str(checkpoint), category=str(folder / "bench.json"))
    session = Session(AppContext(settings, ModelStore(torch.device("cpu")), TorchViewer()))
    reconstruct.sample(session, 0)
    reconstruct.reconstruct(session, "full")
    return session


def time_frames(render_frame: Callable[[int], object], frames: int) -> list[float]:
    """Milliseconds of each of `frames` calls (after two warm-up calls)."""
    for index in range(2):
        render_frame(index)
    times = []
    for index in range(frames):
        start = time.perf_counter()
        render_frame(index)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def report(name: str, times: list[float]) -> float:
    """Print median / 90th percentile; returns the median."""
    median = statistics.median(times)
    p90 = statistics.quantiles(times, n=10)[-1]
    print(f"{name:<34} median {median:7.2f} ms   p90 {p90:7.2f} ms")
    return median


def main() -> None:
    """Run the sweep and print the figures."""
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument(
        "--frames", type=at_least(2), default=60, help="frames timed per view (%(default)s)"
    )
    add_threads_option(parser, torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        session = build_session(Path(folder))
        recovery = session.require_recovery()
        side = recovery.depth.shape[-1]
        print(f"recovery {side}x{side}, torch threads {torch.get_num_threads()}")

        def slider_frame(index: int) -> object:
            azimuth, light_x = (index % 25) * 4.0 - 48.0, (index % 10) / 5 - 1
            return reconstruct.render(session, azimuth, 5.0, light_x, 0.3, 0.5, 0.6, False)

        def engine_frame(index: int) -> object:
            light = torch.tensor([[0.5, 0.6, (index % 10) / 5 - 1, 0.3]])
            return render_view(
                recovery, azimuth=(index % 25) * 4.0 - 48.0, elevation=5.0, light=light
            )

        def gan_frame(index: int) -> object:
            azimuth = (index % 25) * 4.0 - 48.0
            return reconstruct.render(session, azimuth, 5.0, 0, 0.3, 0.5, 0.6, True)

        handler = report("handler (render, slider move)", time_frames(slider_frame, args.frames))
        engine = report("engine render_view alone", time_frames(engine_frame, args.frames))
        report("handler, GAN view on", time_frames(gan_frame, max(args.frames // 4, 3)))
        print(f"handler / engine: {handler / engine:.2f}x; target: <= 50 ms per frame")


if __name__ == "__main__":
    run_script(main)
