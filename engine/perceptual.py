"""Perceptual image distances: LPIPS (VGG16, v0.1) and discriminator-feature L1.

LPIPS is built here without torchvision: VGG16's `features` stack uses torchvision's key
names, so the published `vgg16-397923af.pth` loads with `strict=True`, and the linear heads
use the `lpips` package's keys (`lin0.model.1.weight` ... `lin4`), so its v0.1 `vgg.pth`
loads the same way. Both files live in torch's hub cache (`torch.hub.get_dir()/checkpoints`);
asking for LPIPS by name downloads them there unless `GANLIFT_OFFLINE` is set (to anything but
0, false, no or off). "auto" takes LPIPS only when they are already on disk and never downloads
(a run's loss, speed and result do not depend on whether the machine is online); otherwise
the first blocks of the GAN's own discriminator serve as the feature extractor (GAN2Shape's
choice for latent projection).

Every distance maps two image batches `[N,3,H,W]` in `[-1,1]` to one value per image `[N]`.
Both built here also split into `features` and `compare`, so that many batches compared with
one target need its features once (`distance_to`).
"""

from __future__ import annotations

import copy
import errno
import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from engine.device import resolve_device
from engine.errors import GANliftError
from engine.images import resize_square
from engine.randomness import global_rng_kept
from engine.stylegan2 import Discriminator
from engine.torch_files import read_torch_file

OFFLINE_ENV = "GANLIFT_OFFLINE"
"""Environment variable; `1` forbids every download (the test suite sets it)."""

PerceptualKind = Literal["auto", "lpips", "discriminator"]
PerceptualLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""A distance between two image batches `[N,3,H,W]` in `[-1,1]`, one value per image `[N]`."""


@dataclass(frozen=True)
class WeightFile:
    """A published weight file: its name in torch's hub cache, its source and its hash prefix."""

    file_name: str
    url: str
    sha256_prefix: str | None = None

    def path(self) -> Path:
        """Where the file is looked for (and downloaded to): the hub cache's checkpoints folder."""
        return Path(torch.hub.get_dir()) / "checkpoints" / self.file_name


VGG16_WEIGHTS = WeightFile(
    "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth", "397923af"
)
LPIPS_VGG_WEIGHTS = WeightFile(
    "lpips_vgg_v0.1.pth",
    "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
)

_VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_LPIPS_TAPS = (3, 8, 15, 22, 29)
"""Indices in `features` of relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3."""
_LPIPS_CHANNELS = (64, 128, 256, 512, 512)


class VGG16Features(nn.Module):
    """VGG16's convolutional stack (torchvision layout) returning the five LPIPS activations."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for entry in _VGG16_CONFIG:
            if entry == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(in_channels, entry, kernel_size=3, padding=1), nn.ReLU()]
                in_channels = entry
        self.features = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Activations `[N, C_k, H/2^k, W/2^k]` after relu1_2 ... relu5_3 for `image [N,3,H,W]`."""
        taps = []
        for index, layer in enumerate(self.features):
            image = layer(image)
            if index in _LPIPS_TAPS:
                taps.append(image)
        return taps


class _LinearHead(nn.Module):
    """LPIPS's per-layer channel weighting: a 1x1 conv to one channel (dropout kept for keys)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))


class LPIPS(nn.Module):
    """LPIPS v0.1 on VGG16: learned channel weights on unit-normalised feature differences."""

    def __init__(self) -> None:
        super().__init__()
        shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
        scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
        self.register_buffer("shift", shift, persistent=False)
        self.register_buffer("scale", scale, persistent=False)
        self.vgg = VGG16Features()
        self.heads = nn.ModuleDict(
            {f"lin{k}": _LinearHead(channels) for k, channels in enumerate(_LPIPS_CHANNELS)}
        )

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Distance `[N]` between image batches `[N,3,H,W]` in `[-1,1]`; 0 for identical images."""
        return self.compare(self.features(first), self.features(second))

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """VGG16's five LPIPS activations of `images [N,3,H,W]` in `[-1,1]`."""
        return self.vgg((images - self.shift) / self.scale)

    def compare(self, first: list[torch.Tensor], second: list[torch.Tensor]) -> torch.Tensor:
        """The distance `[N]` between two batches' `features`."""
        distance = _zeros_per_image(first)  # [N]
        for head, feat_a, feat_b in zip(self.heads.values(), first, second, strict=True):
            squared = (_unit_channels(feat_a) - _unit_channels(feat_b)).square()  # [N, C, h, w]
            distance = distance + head.model(squared).mean(dim=(1, 2, 3))
        return distance


class DiscriminatorFeatureLoss(nn.Module):
    """Mean L1 between the features of the discriminator's first blocks, summed over blocks.

    `num_blocks` is capped at the discriminator's block count (small models have fewer than
    GAN2Shape's 4). Images of another size are resized to the discriminator's (`resolution`).
    The discriminator is copied and frozen, so the loss never changes (or accumulates
    gradients in) the caller's network.
    """

    def __init__(self, discriminator: Discriminator, *, num_blocks: int = 4) -> None:
        super().__init__()
        if num_blocks < 1:
            raise GANliftError(
                f"The discriminator feature loss needs num_blocks >= 1, got {num_blocks}."
            )
        self.discriminator = copy.deepcopy(discriminator).eval().requires_grad_(False)
        self.num_blocks = min(num_blocks, len(discriminator.convs))
        self.resolution = discriminator.config.size
        """The side of the images the discriminator takes."""

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Distance `[N]` between square image batches `[N,3,H,H]` in `[-1,1]`."""
        return self.compare(self.features(first), self.features(second))

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The first blocks' feature maps of square `images [N,3,H,H]` in `[-1,1]`."""
        return self.discriminator.features(resize_square(images, self.resolution), self.num_blocks)

    def compare(self, first: list[torch.Tensor], second: list[torch.Tensor]) -> torch.Tensor:
        """The distance `[N]` between two batches' `features`."""
        distance = _zeros_per_image(first)  # [N]
        for feat_a, feat_b in zip(first, second, strict=True):
            distance = distance + (feat_a - feat_b).abs().flatten(1).mean(1)
        return distance


def distance_to(
    perceptual: PerceptualLoss, target: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """`batch -> perceptual(batch, target)` `[N]`, with the target's features taken once where
    `perceptual` is one of the distances built here, as built (an inversion compares hundreds
    of images with one target, GAN2Shape's flipped copies two). The target carries no
    gradient."""
    if not _splits_as_built(perceptual):
        return lambda batch: perceptual(batch, target)
    with torch.no_grad():
        target_features = perceptual.features(target)
    return lambda batch: perceptual.compare(perceptual.features(batch), target_features)


_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
"""The hook tables of a module (and, with `_global` in front, of every module) that a call runs
and a call of `features` and `compare` would not."""


def _splits_as_built(perceptual: PerceptualLoss) -> bool:
    """Whether calling `perceptual` is `compare(features, features)`: an LPIPS or
    discriminator-feature distance whose `forward` neither a subclass nor the instance
    replaced, with no hooks on it or on every module (a compiled or wrapped module is called
    as it is)."""
    if type(perceptual) not in (LPIPS, DiscriminatorFeatureLoss) or "forward" in vars(perceptual):
        return False
    every_module = torch.nn.modules.module
    return not any(
        getattr(perceptual, name) or getattr(every_module, f"_global{name}", None)
        for name in _HOOKS
    )


def perceptual_loss(
    kind: PerceptualKind = "auto",
    *,
    discriminator: Discriminator | None = None,
    num_blocks: int = 4,
    device: torch.device | str = "cpu",
) -> nn.Module:
    """Build a perceptual distance: LPIPS, discriminator features, or the best available.

    "auto" takes LPIPS when its weights are on disk (it never downloads them; "lpips" does)
    and else the first `num_blocks` discriminator blocks; a GANliftError says what to do when
    neither works.
    """
    device = resolve_device(device)
    if kind == "discriminator":
        if discriminator is None:
            raise GANliftError(
                "The discriminator perceptual loss needs a checkpoint with a discriminator; "
                "use one that includes it or choose the LPIPS loss."
            )
        return DiscriminatorFeatureLoss(discriminator, num_blocks=num_blocks).to(device)
    if kind == "lpips":
        return load_lpips(device=device)
    if kind != "auto":
        raise GANliftError(f"Unknown perceptual loss '{kind}'; use auto, lpips or discriminator.")
    if lpips_weights_on_disk():
        try:
            return load_lpips(device=device)
        except GANliftError as error:
            if discriminator is None:
                raise
            warnings.warn(f"{error} Using discriminator features instead.", stacklevel=2)
    if discriminator is not None:
        return DiscriminatorFeatureLoss(discriminator, num_blocks=num_blocks).to(device)
    raise GANliftError(
        f"No perceptual loss is available: the LPIPS weights are not in "
        f"{VGG16_WEIGHTS.path().parent} and the checkpoint has no discriminator; ask for the "
        f"LPIPS loss by name (it downloads them) or use a checkpoint with a discriminator."
    )


def load_lpips(*, device: torch.device | str = "cpu") -> LPIPS:
    """LPIPS with the published weights (fetched into the hub cache if missing), frozen."""
    device = resolve_device(device)
    with global_rng_kept():  # the random initial weights are replaced by the published ones
        model = LPIPS()
    vgg_path, heads_path = _ensure_on_disk(VGG16_WEIGHTS), _ensure_on_disk(LPIPS_VGG_WEIGHTS)
    features_state, heads_state = _lpips_states(_identity(vgg_path), _identity(heads_path))
    _load_strict(model.vgg, features_state, VGG16_WEIGHTS)
    _load_strict(model.heads, heads_state, LPIPS_VGG_WEIGHTS)
    return model.eval().requires_grad_(False).to(device)


FileIdentity = tuple[str, int, int, int]
"""A file's path, inode, size and modification time: it is read again once any changes."""


def _identity(path: Path) -> FileIdentity:
    status = path.stat()
    return str(path), status.st_ino, status.st_size, status.st_mtime_ns


@functools.lru_cache(maxsize=1)
def _lpips_states(
    vgg: FileIdentity, heads: FileIdentity
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The VGG16 features' and the linear heads' weights, read once per process: the app builds
    LPIPS for every reconstruction, and the published VGG16 file holds 528 MB (its classifier
    included), which it read each time."""
    vgg_state = _load_state(Path(vgg[0]))
    features = {key: value for key, value in vgg_state.items() if key.startswith("features.")}
    return features, _load_state(Path(heads[0]))


def lpips_weights_on_disk() -> bool:
    """Whether both LPIPS weight files are already in the hub cache."""
    return VGG16_WEIGHTS.path().is_file() and LPIPS_VGG_WEIGHTS.path().is_file()


def downloads_allowed() -> bool:
    """False when `GANLIFT_OFFLINE` is set to anything but 0, false, no or off (`true` meant
    online before): then nothing is ever fetched from the network."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("", "0", "false", "no", "off")


def _zeros_per_image(features: list[torch.Tensor]) -> torch.Tensor:
    """Zeros `[N]` to sum per-image distances in, in the images' dtype: the features' own,
    but float32 at least under autocast, whose lower-precision features come from float32
    images."""
    first = features[0]
    dtype = first.dtype
    if torch.is_autocast_enabled(first.device.type):
        dtype = torch.promote_types(dtype, torch.float32)
    return first.new_zeros(first.shape[0], dtype=dtype)


def _unit_channels(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Scale each pixel's feature vector `[N, C, h, w]` to unit length along C."""
    return features / (features.square().sum(dim=1, keepdim=True).sqrt() + eps)


_UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.ENOTDIR, errno.EEXIST}
"""Why the hub cache (torch's choice, not the user's) may not take a file: its folder is
not writable, is full or is a file."""


def _ensure_on_disk(weights: WeightFile) -> Path:
    """The local path of `weights`, downloading it with torch.hub's downloader if allowed."""
    path = weights.path()
    if path.is_file():
        return path
    if not downloads_allowed():
        raise GANliftError(
            f"LPIPS needs {path}, which is missing, and downloads are off ({OFFLINE_ENV} is set); "
            f"copy it there from {weights.url} or use the discriminator perceptual loss."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(weights.url, str(path), hash_prefix=weights.sha256_prefix)
    except (OSError, RuntimeError) as error:
        if isinstance(error, OSError) and error.errno in _UNWRITABLE:
            raise GANliftError(
                f"LPIPS cannot store its weights in {path.parent} ({error.strerror}); set "
                "TORCH_HOME to a folder this user may write, or use the discriminator "
                "perceptual loss (--perceptual discriminator)."
            ) from error
        raise GANliftError(
            f"Could not download {weights.url} ({error}); "
            f"copy the file to {path} by hand or use the discriminator perceptual loss "
            "(--perceptual discriminator)."
        ) from error
    return path


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a weight file, unpickled with `weights_only=True` (no code runs)."""
    state = read_torch_file(
        path,
        missing=f"Weight file {path} is missing; copy it there or use the discriminator loss.",
        damaged=f"Weight file {path} is damaged or not a PyTorch state dict; delete it and retry.",
    )
    if not isinstance(state, dict):
        raise GANliftError(f"Weight file {path} does not hold a state dict; delete it and retry.")
    return state


def _load_strict(module: nn.Module, state: dict[str, torch.Tensor], weights: WeightFile) -> None:
    """`load_state_dict(strict=True)`, with a mismatch reported as a GANliftError."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        details = " ".join(str(error).partition("\n")[2].split())[:200]
        raise GANliftError(
            f"Weight file {weights.path()} does not match {weights.file_name}'s layout "
            f"({details}); replace it with the file from {weights.url}."
        ) from error


__all__ = [
    "LPIPS",
    "LPIPS_VGG_WEIGHTS",
    "OFFLINE_ENV",
    "VGG16_WEIGHTS",
    "DiscriminatorFeatureLoss",
    "PerceptualKind",
    "PerceptualLoss",
    "VGG16Features",
    "WeightFile",
    "distance_to",
    "downloads_allowed",
    "load_lpips",
    "lpips_weights_on_disk",
    "perceptual_loss",
]
