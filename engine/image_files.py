"""Which files of a folder are images: one answer for every command that reads a folder of them
(`reconstruct-batch`, `train-gan`, the evaluation's data).

A file is an image by its suffix. Hidden files and folders (a killed writer's temporaries, a
`.git`) are left out; linked folders are followed, each real folder once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from engine.images import SAVE_FORMATS

IMAGE_SUFFIXES = (*SAVE_FORMATS, ".gif", ".tif", ".tiff")
"""File suffixes taken as images (case-insensitive)."""


def image_files(
    folder: Path, *, recursive: bool = False, leaving_out: Path | None = None
) -> list[Path]:
    """The image files in `folder`, sorted by path (so indices are stable): those directly in
    it, or with `recursive` those in its subfolders too, outside the folder `leaving_out`
    (results, even when a link leads there). Empty when there are none."""
    candidates = visible_files(folder, leaving_out=leaving_out) if recursive else folder.iterdir()
    return sorted(path for path in candidates if path.is_file() and is_image(path))


def visible_files(folder: Path, *, leaving_out: Path | None = None) -> Iterator[Path]:
    """Every file under `folder` outside hidden folders and `leaving_out`. Linked folders are
    followed, each real folder once (a link cycle ends there); subfolders are walked real ones
    first, then by name, so which path names a folder reached twice does not depend on the
    file system."""
    skipped = None if leaving_out is None else os.path.realpath(leaving_out)
    seen: set[str] = set()
    for root, folders, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen or real == skipped:
            folders[:] = []
            continue
        seen.add(real)
        visible = [name for name in folders if not name.startswith(".")]
        folders[:] = sorted(visible, key=lambda name: (os.path.islink(Path(root) / name), name))
        yield from (Path(root) / name for name in files)


def is_image(path: Path) -> bool:
    """A visible file with an image suffix."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
