"""Training images: every image file under a folder, centre-cropped and resized to the model size.

Decoded images are kept in memory as one uint8 tensor when they fit the cache budget (the
synthetic sets and most small sets do); otherwise each batch is decoded on the fly by a thread
pool. Batches come out as float `[B, 3, S, S]` in `[-1, 1]`, the engine's image convention.
Images are drawn uniformly, or by per-image sampling weights read from a JSON file
(`read_sample_weights`), which lets a run show under-drawn views more often.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import ExifTags, Image

from engine.config import finite_number
from engine.errors import GANliftError, StoppedEarly
from engine.image_files import IMAGE_SUFFIXES, image_files
from engine.images import in_srgb, to_uint8
from engine.images import load_image as read_image
from engine.progress import ProgressFn, StopFn, no_progress


def find_images(folder: str | Path) -> list[Path]:
    """The training images under `folder` (`engine.image_files.image_files`, recursively),
    refused in one sentence when the folder is missing or holds none."""
    root = Path(folder)
    if root.is_file():
        raise GANliftError(f"Training data '{root}' is a file; pass --data a folder of images.")
    if not root.is_dir():
        raise GANliftError(
            f"Training data folder '{root}' does not exist; pass --data a folder of images "
            "(for example one written by `python -m engine synth`)."
        )
    paths = image_files(root, recursive=True)
    if not paths:
        raise GANliftError(
            f"Training data folder '{root}' holds no images ({', '.join(IMAGE_SUFFIXES)}); "
            "pass --data a folder of images (for example one written by `python -m engine "
            "synth`)."
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
    """`path` as an RGB image (in sRGB) when it is a plain 8-bit one (no transparency, 16-bit
    data or EXIF rotation), else None for `engine.images.load_image` to read."""
    try:
        with Image.open(path) as image:
            plain = (
                image.mode in ("RGB", "L", "P", "CMYK")
                and "transparency" not in image.info
                and image.getexif().get(ExifTags.Base.Orientation, 1) == 1
                and image.width * image.height <= TRAINING_IMAGE_PIXELS
            )
            return in_srgb(image).convert("RGB") if plain else None
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # the full reader names what is wrong with the file


READ_CHUNK = 256
"""Images read between progress reports and checks for a stop."""


class ImageFolder:
    """The images of a folder at one resolution, served as uint8 batches by index.

    Every image is decoded as the folder is opened, so that all unreadable files are named at
    once, before training; it is kept (resized) when the folder fits the cache."""

    def __init__(
        self,
        folder: str | Path,
        *,
        size: int,
        cache_limit_mb: float = 4096.0,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.paths = find_images(folder)
        self.size = size
        fits = len(self.paths) * 3 * size * size / 2**20 <= cache_limit_mb
        read = self._decoded if fits else self._checked
        images = self._read_all(read, progress or no_progress, should_stop or (lambda: False))
        self._cache = _as_batch(images) if fits else None  # [N, 3, S, S]

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def cached(self) -> bool:
        """Whether every image is held decoded in memory."""
        return self._cache is not None

    def _decoded(self, path: Path) -> np.ndarray:
        """`path` decoded at the model size, uint8 `[S, S, 3]`."""
        return load_image(path, self.size)

    def _checked(self, path: Path) -> None:
        """Check that `path` decodes, without keeping or resizing it (a failure: `_decoded`,
        which names the problem). Pillow's `verify()` would skip JPEG, BMP and GIF data."""
        try:
            with Image.open(path) as image:
                image.load()
        except Exception:  # Pillow fails in many ways; the full reader names the problem
            self._decoded(path)

    def _read_all(
        self, read: Callable[[Path], Any], progress: ProgressFn, should_stop: StopFn
    ) -> list[Any]:
        """`read` of every image, in parallel chunks with progress; the unreadable ones named
        together in one refusal."""
        chunk = READ_CHUNK
        total = len(self.paths)
        done: list[Any] = []
        refused: dict[Path, GANliftError] = {}

        def attempt(path: Path) -> Any:
            try:
                return read(path)
            except GANliftError as error:
                refused[path] = error

        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            for start in range(0, total, chunk):
                done += pool.map(attempt, self.paths[start : start + chunk])
                if refused and start + chunk >= total:  # before the bar shows a finished read
                    raise self._unreadable(refused)
                progress(min(start + chunk, total), total, "reading training images")
                if start + chunk < total and should_stop():  # a stop after the last: training's
                    raise StoppedEarly(
                        "Stopped while reading the training images; nothing was trained or written."
                    )
        return done

    def _unreadable(self, refused: dict[Path, GANliftError]) -> GANliftError:
        """The refusal of a folder whose `refused` images cannot be read."""
        if len(refused) == 1:
            return next(iter(refused.values()))
        names = [f"'{name}'" for name in image_names(self.folder, sorted(refused))]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return GANliftError(
            f"{len(refused)} of {len(self.paths)} training images in '{self.folder}' cannot be "
            f"read ({shown}); remove them or re-export them as PNG or JPEG."
        )

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        """The images at `indices` (int64 `[B]`) as uint8 `[B, 3, S, S]`."""
        if self._cache is not None:
            return self._cache[indices]
        paths = [self.paths[i] for i in indices.tolist()]
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            return _as_batch(list(pool.map(self._decoded, paths)))


def _as_batch(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 `[S, S, 3]` images as one uint8 `[N, 3, S, S]` tensor."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def image_names(folder: str | Path, images: list[Path]) -> list[str]:
    """The names sample-weight files use for `images` under `folder`: relative, with "/"."""
    return [image.relative_to(folder).as_posix() for image in images]


def data_identity(
    folder: str | Path, images: list[Path], weights: torch.Tensor | None = None
) -> dict[str, Any]:
    """What a run trains on, to tell whether a resumed run still does: the number of `images`
    and a digest of their names relative to `folder` (the same wherever the folder is moved),
    a digest of their sampling `weights` if any, and the folder as given, for messages."""
    names = "\n".join(image_names(folder, images)).encode()
    identity = {
        "images": len(images),
        "names_sha256": hashlib.sha256(names).hexdigest(),
        "folder": str(folder),
    }
    if weights is not None:
        values = weights.detach().float().cpu().contiguous().numpy().tobytes()
        identity["weights_sha256"] = hashlib.sha256(values).hexdigest()
    return identity


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
    if not all(finite_number(v) and v >= 0 for v in values):
        raise GANliftError(f"Sample weights {path} must all be finite numbers >= 0.")
    weights = torch.tensor(values, dtype=torch.float64)
    if weights.sum() <= 0:
        raise GANliftError(f"Sample weights {path} are all zero; give some image a weight.")
    return weights


def to_model_images(images: torch.Tensor, flip: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 `[B, 3, S, S]` to float `[-1, 1]` on `device`, mirrored left-right where `flip`."""
    x = images.to(device).float() / 127.5 - 1.0  # [B, 3, S, S]
    return torch.where(flip.to(device).view(-1, 1, 1, 1), x.flip(3), x)
