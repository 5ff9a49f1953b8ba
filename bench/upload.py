"""Seconds from an uploaded photo to a rotatable 3D scene in the app, through the handlers the
Reconstruct tab calls: load the file, Reconstruct in fast mode (face crop, GAN inversion,
refinement, per-pixel albedo), then the first live-view frame. The photo is a held-out
synthetic face pasted into a 600×800 frame, so the face detector runs as on a portrait. The
first upload of a session also loads the model; the second shows the steady state. The
reference is `bench.gan2shape`'s: one generator forward + backward pass at the preset's batch
size, measured in the same run. Goal: ≤ 30 s on a 2-core CPU.

    python -m bench.upload [--model default-face | --model CKPT --category face] [--threads 2]

(from the repository root).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from app import reconstruct
from app.models import ModelStore
from app.session import AppContext, Session
from app.settings import AppSettings
from app.viewer import TorchViewer
from bench.gan2shape import reference_seconds
from engine.cli.arguments import add_threads_option, run_script, script_parser
from engine.gan2shape import PRESETS, load_model
from engine.images import save_image
from engine.stylegan2 import bf16_supported
from engine.synth import SEED_RANGES
from engine.synth.generate import render_scene, sample_scene


def portrait(path: Path) -> Path:
    """A 256-px frontal test face pasted into a dark 600×800 photo, saved as PNG."""
    scene = sample_scene("face", [SEED_RANGES["test"].start + 3], size=256)
    scene.view = torch.zeros_like(scene.view)
    canvas = torch.full((1, 3, 600, 800), -0.4)
    canvas[..., 100:356, 300:556] = render_scene(scene).image
    return save_image(canvas, path)


def upload_seconds(context: AppContext, photo: Path) -> tuple[float, str]:
    """(seconds from upload to the first live-view frame, the session's status line)."""
    session = Session(context)
    start = time.perf_counter()
    reconstruct.load_input(session, photo)
    reconstruct.reconstruct(session, "fast")
    reconstruct.render(session, 20.0, 0.0, 0.5, 0.0, 0.5, 0.5, False)
    return time.perf_counter() - start, session.status()


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument(
        "--model", default="default-face", help="a bundled model or a file (%(default)s)"
    )
    parser.add_argument(
        "--category", choices=sorted(PRESETS), metavar="CATEGORY",
        help=f"preset of a checkpoint file: {', '.join(sorted(PRESETS))}",
    )  # fmt: skip
    add_threads_option(parser, 2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model, preset=args.category)
    reference = reference_seconds(model, bf16_supported("cpu"))
    settings = AppSettings(model=args.model, category=args.category)
    context = AppContext(settings, ModelStore(torch.device("cpu")), TorchViewer())
    with tempfile.TemporaryDirectory() as folder:
        photo = portrait(Path(folder) / "portrait.png")
        first, _ = upload_seconds(context, photo)
        second, status = upload_seconds(context, photo)
    print(f"upload -> 3D in the app, {args.model}, fast, {args.threads} threads")
    print(f"reference: G forward+backward at the preset's batch: {reference:.3f} s")
    print(f"{'run':<40}{'seconds':>9}{'ratio':>9}")
    print(f"{'first upload (loads the model)':<40}{first:>9.2f}{first / reference:>9.1f}")
    print(f"{'second upload (goal <= 30 s)':<40}{second:>9.2f}{second / reference:>9.1f}")
    print(status)


if __name__ == "__main__":
    run_script(main)
