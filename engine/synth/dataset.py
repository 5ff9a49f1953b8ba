"""Synthetic datasets on disk: PNGs for GAN training, npz shards with the ground truth.

Layout of a dataset directory::

    DIR/synth.json                 what was generated (see `DatasetInfo`)
    DIR/images/<seed>.png          RGB image of each sample, 10-digit zero-padded seed
    DIR/shards/shard_<k>.npz       ground truth of up to `shard_size` consecutive samples

Each shard holds, for its n samples of size H×W (the same order in every array):

- ``seeds``            int64   [n]          per-sample seeds (see `engine.synth.seeds`)
- ``image``            uint8   [n, H, W, 3] the PNG pixels
- ``mask``             uint8   [n, H, W]    1 where the object is seen
- ``depth``            float32 [n, H, W]    depth (camera z) in the image view, 0 off the object
- ``canonical_depth``  float32 [n, H, W]    depth in the canonical (frontal) pose, 0 off it
- ``canonical_mask``   uint8   [n, H, W]    1 where the object is seen in the canonical pose
- ``normal``           float16 [n, 3, H, W] unit normals, GAN2Shape's convention, 0 off it
- ``albedo``           uint8   [n, H, W, 3] albedo, 0 off the object
- ``view``             float32 [n, 6]       pitch, yaw, roll (radians), tx, ty, tz
- ``light``            float32 [n, 4]       ambient, diffuse, dx, dy

Camera and light follow GAN2Shape's conventions (`engine.render.camera`).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from engine.atomic import atomic_path, write_json
from engine.config import config_from_dict, whole_number
from engine.device import resolve_device
from engine.errors import GANliftError
from engine.image_files import image_files
from engine.images import make_grid, save_image
from engine.limits import check_seed
from engine.progress import ProgressFn, StopFn
from engine.synth.generate import CATEGORIES, SynthBatch, render_samples
from engine.synth.seeds import SEED_RANGES, SplitName, seed_run, split_of

FORMAT_VERSION = 1
MAX_SAMPLES = 1_000_000
"""Most samples a dataset holds (a million 64-px renders is 12 GiB of PNGs and shards)."""
MAX_SIZE = 4096
"""Largest image side a dataset is rendered at."""
SHARD_KEYS = frozenset(
    ("seeds", "image", "mask", "depth", "canonical_depth", "canonical_mask", "normal", "albedo",
     "view", "light")
)  # fmt: skip
"""The arrays every shard holds (the module's docstring gives their shapes)."""
_REGENERATE = "generate the dataset again with `python -m engine synth`"


@dataclass(frozen=True)
class DatasetInfo:
    """The contents of ``synth.json``."""

    category: str
    size: int
    first_seed: int
    count: int
    split: SplitName
    shard_size: int
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise GANliftError(
                f"The dataset's category must be one of {', '.join(CATEGORIES)}, got "
                f"{self.category!r}."
            )
        if self.split not in SEED_RANGES:
            raise GANliftError(
                f"The dataset's split must be one of {', '.join(SEED_RANGES)}, got {self.split!r}."
            )
        for name, least, most in (
            ("size", 1, MAX_SIZE), ("count", 0, MAX_SAMPLES), ("shard_size", 1, MAX_SAMPLES)
        ):  # fmt: skip
            value = whole_number(getattr(self, name), f"The dataset's {name}")
            if not least <= value <= most:
                raise GANliftError(
                    f"The dataset's {name} must be from {least} to {most:,}, got {value}."
                )
        check_seed(self.first_seed, "The dataset's first_seed")


def write_dataset(
    out_dir: str | Path,
    category: str,
    *,
    n: int,
    size: int = 64,
    seed: int = 0,
    shard_size: int = 1000,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> DatasetInfo:
    """Render samples `seed … seed + n - 1` of `category` into `out_dir` (PNGs + npz shards).

    Stopping early (``should_stop``) leaves the finished shards, their images and a
    ``synth.json`` that counts only them; the same call again continues that set. A folder
    that holds another set, or the images of one killed outright, is refused: its old images
    would mix with the new ones.
    """
    n, size, seed, shard_size, batch_size = (
        whole_number(value, f"write_dataset's {name}")
        for name, value in (
            ("n", n), ("size", size), ("seed", seed), ("shard_size", shard_size),
            ("batch_size", batch_size),
        )
    )  # fmt: skip
    seeds = seed_run(seed, n)
    sizes = (("shard", shard_size, "--shard-size"), ("batch", batch_size, "--batch-size"))
    for name, value, option in sizes:
        if value < 1:
            raise GANliftError(f"The {name} size ({option}) must be at least 1, got {value}.")
    device = resolve_device(device)  # before any folder is made
    out = Path(out_dir)
    written = _images_done(out, _info(category, size, seed, n, shard_size))
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    _remove_beyond(out, seeds[:written], shard_size)
    if progress is not None:
        progress(written, n, "")
    for shard_index, shard_start in enumerate(range(0, n, shard_size)):
        if shard_start < written:  # finished by a stopped run of the same set
            continue
        shard_seeds = seeds[shard_start : shard_start + shard_size]
        parts = []
        for start in range(0, len(shard_seeds), batch_size):
            if should_stop is not None and should_stop():
                for unfinished in shard_seeds[:start]:  # the set is its finished shards
                    (out / "images" / f"{unfinished:010d}.png").unlink()
                return _write_info(out, category, size, seed, written, shard_size)
            batch = render_samples(
                category, shard_seeds[start : start + batch_size], size=size, device=device
            )
            for seed_value, image in zip(batch.seeds.tolist(), batch.image, strict=True):
                save_image(image, out / "images" / f"{seed_value:010d}.png")
            parts.append(_to_arrays(batch))
            if progress is not None:
                progress(shard_start + start + len(batch), n, f"shard {shard_index}")
        shard = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
        with atomic_path(out / "shards" / f"shard_{shard_index:05d}.npz") as temporary:
            np.savez_compressed(temporary, **shard)
        written += len(shard_seeds)
    return _write_info(out, category, size, seed, written, shard_size)


def _images_done(out: Path, planned: DatasetInfo) -> int:
    """How many images of the `planned` set `out` holds in whole shards: those a stopped or
    shorter run of the same set wrote (a last, partial shard is written again), or none in a
    new folder. Any other contents are refused."""
    if (out / "synth.json").exists():
        held = read_info(out)
        same = (held.category, held.size, held.first_seed, held.shard_size) == (
            planned.category, planned.size, planned.first_seed, planned.shard_size,
        )  # fmt: skip
        if not same:
            raise GANliftError(
                f"{out} already holds another synthetic set ({held.count} {held.category}s at "
                f"{held.size} px from seed {held.first_seed}, shards of {held.shard_size}); "
                "choose another --out or delete that folder."
            )
        if held.count > planned.count:
            raise GANliftError(
                f"{out} already holds {held.count} of this set, more than --n {planned.count}; "
                "pass a larger --n to extend it, or choose another --out."
            )
        if held.count == planned.count:
            return held.count
        return held.count // held.shard_size * held.shard_size
    if any((out / "images").glob("*.png")):
        raise GANliftError(
            f"{out} holds the images of a synthetic set that was cut short (it has no "
            "synth.json); delete that folder or choose another --out."
        )
    if out.is_dir() and image_files(out, recursive=True):
        raise GANliftError(
            f"{out} holds images of its own, which a training run on it would read beside a "
            "synthetic set's; choose an empty or new --out."
        )
    return 0


def _remove_beyond(out: Path, kept_seeds: list[int], shard_size: int) -> None:
    """Delete the images and shards of `out` beyond its first `kept_seeds`: an extension
    killed outright (SIGKILL) left them, and a training run would read its images beside the
    set that synth.json counts."""
    kept = {f"{seed_value:010d}.png" for seed_value in kept_seeds}
    for image in (out / "images").glob("*.png"):
        if image.name not in kept:
            image.unlink()
    for shard in (out / "shards").glob("shard_*.npz"):
        if int(shard.stem.removeprefix("shard_")) * shard_size >= len(kept_seeds):
            shard.unlink()


def _info(category: str, size: int, seed: int, count: int, shard_size: int) -> DatasetInfo:
    """The `DatasetInfo` of `count` samples from `seed`, with the split those seeds lie in."""
    return DatasetInfo(category, size, seed, count, split_of(seed, max(count, 1)), shard_size)


def _write_info(
    out: Path, category: str, size: int, seed: int, count: int, shard_size: int
) -> DatasetInfo:
    info = _info(category, size, seed, count, shard_size)
    write_json(out / "synth.json", asdict(info))
    return info


def _to_arrays(batch: SynthBatch) -> dict[str, np.ndarray]:
    """One batch in the shard layout of the module docstring."""

    def as_uint8(image: torch.Tensor) -> np.ndarray:  # [N, 3, H, W] in [-1, 1]
        scaled = ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return scaled.permute(0, 2, 3, 1).cpu().numpy()

    return {
        "seeds": batch.seeds.numpy(),
        "image": as_uint8(batch.image),
        "mask": batch.mask.to(torch.uint8).cpu().numpy(),
        "depth": batch.depth.float().cpu().numpy(),
        "canonical_depth": batch.canonical_depth.float().cpu().numpy(),
        "canonical_mask": batch.canonical_mask.to(torch.uint8).cpu().numpy(),
        "normal": batch.normal.to(torch.float16).cpu().numpy(),
        "albedo": np.where(batch.mask.cpu().numpy()[..., None] > 0, as_uint8(batch.albedo), 0),
        "view": batch.view.float().cpu().numpy(),
        "light": batch.light.float().cpu().numpy(),
    }


def read_info(data_dir: str | Path) -> DatasetInfo:
    """The `DatasetInfo` of a dataset directory."""
    path = Path(data_dir) / "synth.json"
    if not path.is_file():
        raise GANliftError(
            f"'{data_dir}' has no synth.json; "
            "point at a directory written by `python -m engine synth`."
        )
    try:
        fields = json.loads(path.read_text())
    except ValueError as error:
        raise GANliftError(f"'{path}' is not valid JSON; regenerate the dataset.") from error
    version = fields.get("format_version") if isinstance(fields, dict) else None
    if version != FORMAT_VERSION:
        raise GANliftError(
            f"'{path}' has format version {version}, expected {FORMAT_VERSION}; regenerate "
            "the dataset."
        )
    return config_from_dict(DatasetInfo, fields, f"'{path}'")


def read_dataset(data_dir: str | Path) -> SynthBatch:
    """Load the shards of a dataset directory that synth.json counts into one `SynthBatch`."""
    info = read_info(data_dir)
    shard_count = -(-info.count // info.shard_size)
    shard_paths = [
        Path(data_dir) / "shards" / f"shard_{index:05d}.npz" for index in range(shard_count)
    ]
    shard_paths = [path for path in shard_paths if path.is_file()]
    if not shard_paths:
        raise GANliftError(f"'{data_dir}' has no shards; {_REGENERATE}.")
    shards = [_read_shard(path) for path in shard_paths]
    try:  # a last shard rewritten longer by an extension killed outright: its count
        data = {
            key: np.concatenate([shard[key] for shard in shards])[: info.count]
            for key in SHARD_KEYS
        }
    except ValueError as error:  # shards of other image sizes
        raise GANliftError(
            f"The shards of '{data_dir}' do not fit together ({error}); {_REGENERATE}."
        ) from error
    if len({len(values) for values in data.values()}) != 1:
        raise GANliftError(
            f"The shards of '{data_dir}' hold arrays of different lengths; {_REGENERATE}."
        )
    data = {key: torch.from_numpy(values) for key, values in data.items()}

    def from_uint8(image: torch.Tensor) -> torch.Tensor:  # [N, H, W, 3] → [N, 3, H, W] in [-1, 1]
        return image.permute(0, 3, 1, 2).float() / 127.5 - 1

    mask = data["mask"].float()
    return SynthBatch(
        category=info.category,
        seeds=data["seeds"],
        image=from_uint8(data["image"]),
        mask=mask,
        depth=data["depth"],
        canonical_depth=data["canonical_depth"],
        canonical_mask=data["canonical_mask"].float(),
        normal=data["normal"].float(),
        albedo=from_uint8(data["albedo"]) * mask[:, None],
        view=data["view"],
        light=data["light"],
    )


def _read_shard(path: Path) -> dict[str, np.ndarray]:
    """The `SHARD_KEYS` arrays of one shard file; a damaged file or one that holds other arrays
    is refused in a sentence."""
    try:
        with np.load(path, allow_pickle=False) as shard:
            if set(shard.files) != SHARD_KEYS:
                raise GANliftError(
                    f"Shard {path} holds the arrays {sorted(shard.files)}, not "
                    f"{sorted(SHARD_KEYS)}; {_REGENERATE}."
                )
            return {key: shard[key] for key in SHARD_KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise GANliftError(f"Shard {path} is damaged ({error}); {_REGENERATE}.") from error


def save_preview(batch: SynthBatch, path: str | Path, *, columns: int = 8) -> Path:
    """Write the images of `batch` as one grid PNG."""
    return save_image(make_grid(batch.image, columns), path)
