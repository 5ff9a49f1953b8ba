"""The README's GAN2Shape figure from `python -m engine reconstruct` output folders: one row per
folder — input, GAN inversion, depth (near = white), normal map, albedo, shading, then the
rendered novel views in the order the run was asked for them.

    python -m scripts.gan2shape_figure results/a results/b --out docs/gan2shape/examples.png
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from engine.cli.arguments import at_least, run_script, script_parser
from engine.errors import GANliftError
from engine.gan2shape.outputs import ViewSpec
from engine.images import fit_to_frame, image_format, load_image, make_grid, save_image

MAPS = ("input", "inversion", "depth", "normal", "albedo", "shading")


def depth_image(path: Path) -> torch.Tensor:
    """A `depth.npy` as ``[1, 3, H, W]`` in [-1, 1], stretched to its own range, near = white."""
    depth = torch.from_numpy(np.load(path).astype(np.float32)).squeeze()  # [H, W]
    closeness = (depth.max() - depth) / (depth.max() - depth.min()).clamp_min(1e-8)
    return (closeness * 2 - 1).expand(1, 3, -1, -1)


def view_files(folder: Path) -> list[Path]:
    """The folder's rendered views, in the order its summary.json records them."""
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        raise GANliftError(
            f"{folder} is not a finished reconstruct output folder (no readable summary.json); "
            "run python -m engine reconstruct into it first."
        ) from None
    views = summary.get("outputs", {}).get("views", [])
    return [folder / "views" / f"render_{ViewSpec.parse(text).name}.png" for text in views]


def row(folder: Path, size: int) -> list[torch.Tensor]:
    """The cells of one run folder, each ``[1, 3, size, size]``."""
    views = view_files(folder)  # first: it says what a folder that is no run's output lacks
    cells = []
    for name in MAPS:
        depth = name == "depth"
        path = folder / (f"{name}.npy" if depth else f"{name}.png")
        image = depth_image(path) if depth else load_image(path)
        cells.append(fit_to_frame(image, size))
    for view in views:
        cells.append(fit_to_frame(load_image(view), size))
    return cells


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument(
        "folders", nargs="+", type=Path, help="output folders of `python -m engine reconstruct`"
    )
    parser.add_argument("--out", required=True, type=Path, help="image file (.png, .jpg, ...)")
    parser.add_argument(
        "--size", type=at_least(16), default=128, help="cell side in pixels (%(default)s)"
    )
    args = parser.parse_args()
    image_format(args.out)
    rows = [row(folder, args.size) for folder in args.folders]
    width = max(len(cells) for cells in rows)
    blank = -torch.ones(1, 3, args.size, args.size)
    cells = [cell for cells in rows for cell in cells + [blank] * (width - len(cells))]
    save_image(make_grid(torch.cat(cells), width), args.out)
    print(f"-> {args.out}")


if __name__ == "__main__":
    run_script(main)
