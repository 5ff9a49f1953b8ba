"""The README's GAN2Shape figure from `python -m engine reconstruct` output folders: one row per
folder — input, GAN inversion, depth (near = white), normal map, albedo, shading, then every
rendered novel view.

    python scripts/gan2shape_figure.py results/a results/b --out docs/gan2shape/examples.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from engine.images import fit_to_frame, load_image, make_grid, save_image

MAPS = ("input", "inversion", "depth", "normal", "albedo", "shading")


def depth_image(path: Path) -> torch.Tensor:
    """A `depth.npy` as ``[1, 3, H, W]`` in [-1, 1], stretched to its own range, near = white."""
    depth = torch.from_numpy(np.load(path).astype(np.float32)).squeeze()  # [H, W]
    closeness = (depth.max() - depth) / (depth.max() - depth.min()).clamp_min(1e-8)
    return (closeness * 2 - 1).expand(1, 3, -1, -1)


def row(folder: Path, size: int) -> list[torch.Tensor]:
    """The cells of one run folder, each ``[1, 3, size, size]``."""
    cells = []
    for name in MAPS:
        depth = name == "depth"
        path = folder / (f"{name}.npy" if depth else f"{name}.png")
        image = depth_image(path) if depth else load_image(path)
        cells.append(fit_to_frame(image, size))
    for view in sorted((folder / "views").glob("render_*.png")):
        cells.append(fit_to_frame(load_image(view), size))
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    rows = [row(folder, args.size) for folder in args.folders]
    width = max(len(cells) for cells in rows)
    blank = -torch.ones(1, 3, args.size, args.size)
    cells = [cell for cells in rows for cell in cells + [blank] * (width - len(cells))]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_image(make_grid(torch.cat(cells), width), args.out)
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
