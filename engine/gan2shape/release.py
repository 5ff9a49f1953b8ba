"""The GAN2Shape release's own files beside its StyleGAN2 checkpoints, read from the
`checkpoints/` folder its download script fills.

Its configs sample pseudo views from Gaussians fitted to its view net's readings and add their
means to the view and light nets' outputs (`view_light/*_mvn.pth`: {'mean', 'cov'}), and start
every face and cat image from jointly pretrained networks (`gan2shape/*_pretrain.pth`:
{'netD': state dict, 'netA': ..., ...}) instead of fitting the ellipsoid prior. With these a
`face`, `cat`, `car` or `church` run samples and starts as the release's does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import GANliftError
from engine.gan2shape.networks import RELEASE_NETWORK_NAMES, Gan2ShapeNetworks
from engine.gan2shape.presets import Gan2ShapePreset
from engine.randomness import global_rng_kept
from engine.stylegan2.safe_pickle import load_torch_file


@dataclass(frozen=True)
class ReleaseFiles:
    """Where, inside the release's `checkpoints/`, one category's files are."""

    view_statistics: str
    light_statistics: str
    networks: str | None
    """The pretrained networks every image starts from (None: the prior is fitted)."""


RELEASE_FILES = {
    "face": ReleaseFiles(
        "view_light/celeba_view_mvn.pth",
        "view_light/celeba_light_mvn.pth",
        "gan2shape/celeba_pretrain.pth",
    ),
    "cat": ReleaseFiles(
        "view_light/cat_view_mvn.pth", "view_light/cat_light_mvn.pth", "gan2shape/cat_pretrain.pth"
    ),
    "car": ReleaseFiles("view_light/view_mvn.pth", "view_light/light_mvn.pth", None),
    "church": ReleaseFiles("view_light/view_mvn.pth", "view_light/light_mvn.pth", None),
}
"""The files the release's configs (celeba, cat, car, church) name, by preset."""


@dataclass
class ReleaseSetup:
    """A release preset with the release's statistics, and the networks it starts from."""

    preset: Gan2ShapePreset
    start: dict[str, torch.Tensor] | None
    """Initial weights of `Gan2ShapeNetworks` (None: fit the prior first)."""


def read_release(
    preset: Gan2ShapePreset, directory: str | os.PathLike, *, style_dim: int
) -> ReleaseSetup:
    """`preset` (one of the release's) with the view and light statistics found in the
    release's `directory`, and the pretrained networks its category starts from."""
    if preset.name not in RELEASE_FILES:
        raise GANliftError(
            f"--release-dir belongs with the release's presets ({', '.join(RELEASE_FILES)}), "
            f"not preset '{preset.name}'; give the release's checkpoint with --ckpt and its "
            "--category."
        )
    directory = release_folder(directory)
    files = RELEASE_FILES[preset.name]
    view_mean, view_cov = _gaussian(directory, files.view_statistics, 6)
    light_mean, _ = _gaussian(directory, files.light_statistics, 4)
    preset = preset.replace(
        view_mean=tuple(view_mean.tolist()),
        view_cov=tuple(map(tuple, view_cov.tolist())),
        light_mean=tuple(light_mean.tolist()),
    )
    start = None
    if files.networks is not None:
        start = _networks(directory / files.networks, preset, style_dim)
    return ReleaseSetup(preset, start)


def release_folder(directory: str | os.PathLike) -> Path:
    """`directory` as a path, refused unless it is a folder (checked before any model loads)."""
    if not str(directory).strip():
        raise GANliftError(
            "The release folder is empty text; give --release-dir the checkpoints/ folder that "
            "GAN2Shape's download script fills."
        )
    directory = Path(directory).expanduser()
    if directory.is_file():
        raise GANliftError(
            f"Release folder {directory} is a file; give the checkpoints/ folder that "
            "GAN2Shape's download script fills."
        )
    if not directory.is_dir():
        raise GANliftError(
            f"Release folder {directory} does not exist; give the checkpoints/ folder that "
            "GAN2Shape's download script fills."
        )
    return directory


def _gaussian(directory: Path, name: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean `[size]` and covariance `[size, size]` stored in `directory / name`."""
    path = directory / name
    if not path.is_file():
        raise GANliftError(
            f"Release folder {directory} has no {name}; download the release's checkpoints "
            "(its scripts/download.sh) or leave out --release-dir."
        )
    data = load_torch_file(path)
    try:
        mean = torch.as_tensor(data["mean"], dtype=torch.float32)
        cov = torch.as_tensor(data["cov"], dtype=torch.float32)
    except (TypeError, KeyError, IndexError, ValueError, RuntimeError):
        mean = cov = torch.empty(0)
    shapes = mean.shape == (size,) and cov.shape == (size, size)
    if not shapes or not (torch.isfinite(mean).all() and torch.isfinite(cov).all()):
        raise GANliftError(
            f"{path} is not the release's statistics of {size} values (a dict of finite "
            f"'mean' [{size}] and 'cov' [{size}, {size}]); download it again."
        )
    return mean, cov


def _networks(path: Path, preset: Gan2ShapePreset, style_dim: int) -> dict[str, torch.Tensor]:
    """The state dict of `Gan2ShapeNetworks` loaded from the release's pretrained file."""
    if not path.is_file():
        raise GANliftError(
            f"Release folder {path.parents[1]} has no {path.parent.name}/{path.name}, which "
            f"the release's {preset.name} runs start from; download the release's checkpoints "
            "(its scripts/download.sh) or leave out --release-dir."
        )
    state = load_torch_file(path)
    missing = [
        name
        for name in RELEASE_NETWORK_NAMES
        if not isinstance(state, dict) or not isinstance(state.get(name), dict)
    ]
    if missing:
        raise GANliftError(
            f"{path} lacks {', '.join(missing)} of the release's five pretrained networks; "
            "download it again."
        )
    with global_rng_kept():  # the random initial weights are replaced by the release's
        networks = Gan2ShapeNetworks(preset.networks, style_dim=style_dim)
    networks.load_release_state(state)
    return networks.state_dict()
