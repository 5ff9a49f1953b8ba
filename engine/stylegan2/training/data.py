"""Training images: every PNG/JPEG under a folder, centre-cropped and resized to the model size.

Decoded images are kept in memory as one uint8 tensor when they fit the cache budget (the
synthetic sets and most small sets do); otherwise each batch is decoded on the fly by a thread
pool. Batches come out as float `[B, 3, S, S]` in `[-1, 1]`, the engine's image convention.
Images are drawn uniformly, or by per-image sampling weights read from a JSON file
(`read_sample_weights`), which lets a run show under-drawn views more often.
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import ExifTags, Image

from engine.errors import GANliftError
from engine.images import load_image as read_image
from engine.images import to_uint8
from engine.progress import ProgressFn, no_progress

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def find_images(folder: str | Path) -> list[Path]:
    """All PNG/JPEG files under `folder` (recursively), sorted so that indices are stable;
    hidden files (such as a killed writer's `.name.png.*` temporaries) are left out."""
    root = Path(folder)
    if root.is_file():
        raise GANliftError(
            f"Training data '{root}' is a file; pass --data a folder of PNG/JPEG images."
        )
    if not root.is_dir():
        raise GANliftError(
            f"Training data folder '{root}' does not exist; pass --data a folder of PNG/JPEG "
            "images (for example one written by `python -m engine synth`)."
        )
    paths = sorted(
        path
        for path in root.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    if not paths:
        raise GANliftError(
            f"Training data folder '{root}' holds no PNG/JPEG images; pass --data a folder of "
            "images (for example one written by `python -m engine synth`)."
        )
    return paths


TRAINING_IMAGE_PIXELS = 2 * 89_478_485
"""Largest training image, in pixels: Pillow's own bomb limit (larger than the app's cap, since
big photos are ordinary training data)."""
TRAINING_IMAGE_BYTES = 2**30
"""Largest training image file, in bytes."""


def load_image(path: Path, size: int) -> np.ndarray:
    """One image as uint8 `[size, size, 3]`, read as `engine.images.load_image` reads every
    image (upright, transparency on white, 16-bit scaled), centre-cropped square, resized.
    Plain 8-bit files take Pillow's direct path, which is several times faster on big photos."""
    rgb = _plain_rgb(path)
    if rgb is None:
        image = read_image(path, max_bytes=TRAINING_IMAGE_BYTES, max_pixels=TRAINING_IMAGE_PIXELS)
        rgb = Image.fromarray(to_uint8(image))
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    square = rgb.crop((left, top, left + side, top + side))
    if side != size:
        square = square.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(square, dtype=np.uint8)


def _plain_rgb(path: Path) -> Image.Image | None:
    """`path` as an RGB image when it is a plain 8-bit one (no transparency, 16-bit data or
    EXIF rotation), else None for `engine.images.load_image` to read."""
    try:
        with Image.open(path) as image:
            plain = (
                image.mode in ("RGB", "L", "P", "CMYK")
                and "transparency" not in image.info
                and image.getexif().get(ExifTags.Base.Orientation, 1) == 1
                and image.width * image.height <= TRAINING_IMAGE_PIXELS
            )
            return image.convert("RGB") if plain else None
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # the full reader names what is wrong with the file


class ImageFolder:
    """The images of a folder at one resolution, served as uint8 batches by index."""

    def __init__(
        self,
        folder: str | Path,
        *,
        size: int,
        cache_limit_mb: float = 4096.0,
        progress: ProgressFn | None = None,
    ) -> None:
        self.paths = find_images(folder)
        self.size = size
        fits = len(self.paths) * 3 * size * size / 2**20 <= cache_limit_mb
        self._cache = self._decode_all(progress or no_progress) if fits else None  # [N,3,S,S]
        if not fits:
            load_image(self.paths[0], size)  # fail now, not hours in, if the folder is not images

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def cached(self) -> bool:
        """Whether every image is held decoded in memory."""
        return self._cache is not None

    def _decode(self, paths: list[Path]) -> torch.Tensor:
        """Decode `paths` in parallel into uint8 `[len(paths), 3, S, S]`."""
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            images = list(pool.map(lambda path: load_image(path, self.size), paths))
        return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()

    def _decode_all(self, progress: ProgressFn) -> torch.Tensor:
        """Decode the whole folder into memory, in chunks so progress can be reported."""
        chunk = 256
        total = len(self.paths)
        parts = []
        for start in range(0, total, chunk):
            parts.append(self._decode(self.paths[start : start + chunk]))
            progress(min(start + chunk, total), total, "decoding training images")
        return torch.cat(parts)

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        """The images at `indices` (int64 `[B]`) as uint8 `[B, 3, S, S]`."""
        if self._cache is not None:
            return self._cache[indices]
        return self._decode([self.paths[i] for i in indices.tolist()])


def image_names(folder: str | Path, images: list[Path]) -> list[str]:
    """The names sample-weight files use for `images` under `folder`: relative, with "/"."""
    return [image.relative_to(folder).as_posix() for image in images]


def read_sample_weights(path: str | Path, folder: str | Path, images: list[Path]) -> torch.Tensor:
    """Sampling weights ``[N]`` of `images` (found under `folder`) from the JSON object at
    `path`, which maps every image's path relative to `folder` (with "/") to a weight >= 0."""
    try:
        table = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise GANliftError(
            f"Cannot read sample weights {path} ({error}); pass a JSON file written by "
            "`python -m engine coverage-weights`."
        ) from error
    if not isinstance(table, dict):
        raise GANliftError(
            f"Sample weights {path} must be a JSON object of image path -> weight; "
            "write it with `python -m engine coverage-weights`."
        )
    names = image_names(folder, images)
    missing = [name for name in names if name not in table]
    extra = sorted(set(table) - set(names))
    if missing or extra:
        first = (missing or extra)[0]
        raise GANliftError(
            f"Sample weights {path} do not match the images of {folder} ({len(missing)} "
            f"images without a weight, {len(extra)} names that are not images there, e.g. "
            f"'{first}'); write them for this folder."
        )
    values = [table[name] for name in names]
    if not all(isinstance(v, int | float) and math.isfinite(v) and v >= 0 for v in values):
        raise GANliftError(f"Sample weights {path} must all be finite numbers >= 0.")
    weights = torch.tensor(values, dtype=torch.float64)
    if weights.sum() <= 0:
        raise GANliftError(f"Sample weights {path} are all zero; give some image a weight.")
    return weights


def to_model_images(images: torch.Tensor, flip: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 `[B, 3, S, S]` to float `[-1, 1]` on `device`, mirrored left-right where `flip`."""
    x = images.to(device).float() / 127.5 - 1.0  # [B, 3, S, S]
    return torch.where(flip.to(device).view(-1, 1, 1, 1), x.flip(3), x)
