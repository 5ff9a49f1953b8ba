"""Image -> latent by optimisation ("projection"), and the latent file format.

`project` follows the StyleGAN2 projectors (NVIDIA's stylegan2-ada and the compact PyTorch
port): start from the mean w (or an encoder's guess, `initial_latent`), optimise w (or W+)
and the per-layer noise maps with Adam, under a learning rate that ramps up over the first
5 % of the steps and down with a cosine over the last 25 %, with Gaussian noise added to the
latent that fades out quadratically over the first 75 %, and a multi-scale autocorrelation
penalty that keeps the noise maps from smuggling in image content (the maps are also
renormalised to zero mean and unit variance after every step).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from engine.atomic import path_first, save_torch
from engine.brief import brief_repr
from engine.config import whole_number
from engine.device import frozen_copy, gradients_on, module_device, resolve_device
from engine.errors import GANliftError
from engine.images import checked_image, fit_to_frame
from engine.limits import check_seed
from engine.metrics import psnr
from engine.perceptual import DiscriminatorFeatureLoss, PerceptualLoss, distance_to
from engine.progress import ProgressFn, StopFn
from engine.stylegan2 import Generator, generator_fingerprint
from engine.torch_files import read_torch_file

PixelLoss = Literal["mse", "l1"]


@dataclass
class InversionResult:
    """What `project` found, on the device it ran on, detached from any graph."""

    __repr__ = brief_repr  # shapes and sizes, not every value

    latent: torch.Tensor
    """w `[1, style_dim]`, or W+ `[1, num_ws, style_dim]` when projected with `w_plus`."""
    noises: list[torch.Tensor]
    """Optimised noise maps `[1, 1, res, res]` in layer order; empty when noise stayed fixed."""
    image: torch.Tensor
    """The generator's rendering of `latent` (and `noises`), `[1, 3, size, size]` in `[-1, 1]`."""
    target: torch.Tensor
    """The target as fitted to the generator's frame, `[1, 3, size, size]` in `[-1, 1]`."""
    psnr: float
    """PSNR of `image` against `target`, in dB."""
    losses: list[float]
    """Total loss of each step that ran (fewer than `num_steps` when stopped early)."""


@dataclass
class SavedLatent:
    """A latent read back from a file written by `save_latent`."""

    __repr__ = brief_repr  # shapes and sizes, not every value

    latent: torch.Tensor
    """w `[1, D]` or W+ `[1, num_ws, D]`, finite."""
    noises: list[torch.Tensor]
    """Noise maps `[1, 1, res, res]`; empty when the file holds none."""
    target: torch.Tensor | None = None
    """A small uint8 copy `[3, t, t]` of the image as inverted (in the generator's frame)."""
    generator: str | None = None
    """The fingerprint of the generator it was inverted with (`generator_fingerprint`)."""
    path: Path | None = None
    """The file it was read from, for messages."""


GivenLatent = torch.Tensor | InversionResult | SavedLatent
"""An image's known inversion: bare codes (drawn with the generator's stored noise), or a
projection or latent file with the noise maps it was fitted with."""


def latent_parts(latent: GivenLatent) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(codes, noise maps) of a given latent; bare codes come with none."""
    if isinstance(latent, torch.Tensor):
        return latent, []
    return latent.latent, latent.noises


@gradients_on("The inversion")
def project(
    G: Generator,
    target: torch.Tensor,
    *,
    num_steps: int = 1000,
    w_plus: bool = False,
    initial_latent: torch.Tensor | None = None,
    lr: float = 0.1,
    lr_rampup: float = 0.05,
    lr_rampdown: float = 0.25,
    noise_ramp: float = 0.75,
    initial_noise_factor: float = 0.05,
    noise_regularize: float = 1e5,
    pixel_loss: PixelLoss = "mse",
    pixel_weight: float = 1.0,
    perceptual: PerceptualLoss | None = None,
    perceptual_weight: float = 1.0,
    perceptual_resolution: int = 256,
    optimize_noise: bool = True,
    w_avg_samples: int = 10_000,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> InversionResult:
    """Find the latent (and noise maps) with which `G` best reproduces `target`.

    `target` is one image `[1, 3, H, W]` in `[-1, 1]` of any size and aspect; it is centre-
    cropped and resized to the generator's frame. The loss is `pixel_weight` x MSE or L1 +
    `perceptual_weight` x `perceptual` (images larger than `perceptual_resolution` are
    area-downsampled for it, except for discriminator features, which need the discriminator's
    own size; None: no perceptual term, unlike GAN2Shape's functions, where None picks one,
    so pass `perceptual_loss("auto", discriminator=D)` for that) + `noise_regularize` x the
    noise-map autocorrelation. Ramps are
    fractions of `num_steps`. `initial_latent` (e.g. an encoder's output) replaces the mean w
    as the starting point. `progress(step, num_steps, message)` is called after every step;
    `should_stop()` is polled before every step and ends the optimisation early. It runs on
    `device`, by default where `G` is.
    """
    if whole_number(num_steps, "The number of inversion steps") < 1:
        raise GANliftError(f"The number of inversion steps must be at least 1, got {num_steps}.")
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not 0 <= lr < math.inf:
        raise GANliftError(f"The inversion's lr must be a finite number of 0 or more, got {lr!r}.")
    if perceptual is not None and not callable(perceptual):
        raise GANliftError(
            f"The inversion's perceptual is a loss module or None, got {perceptual!r}; for "
            "GAN2Shape's choice pass perceptual_loss('auto', discriminator=D)."
        )
    seed = check_seed(seed, "The inversion's seed")
    target = checked_image(target, "The inversion")
    if pixel_loss not in ("mse", "l1"):
        raise GANliftError(f"Unknown pixel loss '{pixel_loss}'; use mse or l1.")
    device = resolve_device(module_device(G) if device is None else device)
    G = frozen_copy(G, device)
    rng = torch.Generator().manual_seed(seed)
    size = G.config.size
    target = fit_to_frame(target.to(device, torch.float32), size)  # [1, 3, size, size]
    if isinstance(perceptual, DiscriminatorFeatureLoss):
        perceptual_resolution = perceptual.resolution
    if perceptual is not None:  # the target's features are taken once, not at every step
        target_input = _perceptual_input(target, perceptual_resolution)
        perceptual_distance = distance_to(perceptual, target_input)

    w_avg, w_std = _w_statistics(G, w_avg_samples, rng, device)  # [1, D], scalar
    latent = _starting_latent(G, initial_latent, w_avg, w_plus).to(device).requires_grad_(True)
    noises = _unit_noise_maps(G, rng, device) if optimize_noise else []
    optimizer = torch.optim.Adam([latent, *noises], lr=lr, betas=(0.9, 0.999))

    losses: list[float] = []
    for step in range(num_steps):
        if should_stop is not None and should_stop():
            break
        t = step / num_steps
        for group in optimizer.param_groups:
            group["lr"] = lr * _learning_rate_ramp(t, lr_rampup, lr_rampdown)
        latent_noise_scale = w_std * initial_noise_factor * _quadratic_fade(t, noise_ramp)
        latent_noise = torch.randn(latent.shape, generator=rng).to(device) * latent_noise_scale
        image = G.synthesis(latent + latent_noise, noise=noises or "const")  # [1, 3, size, size]

        loss = pixel_weight * _pixel_distance(image, target, pixel_loss)
        if perceptual is not None:
            distance = perceptual_distance(_perceptual_input(image, perceptual_resolution))
            loss = loss + perceptual_weight * distance.sum()
        if noises:
            loss = loss + noise_regularize * noise_autocorrelation(noises)

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for noise in noises:
                noise.sub_(noise.mean()).mul_(noise.square().mean().rsqrt())
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, num_steps, f"loss {losses[-1]:.4f}")

    final_latent = latent.detach()
    final_noises = [noise.detach() for noise in noises]
    with torch.no_grad():
        image = G.synthesis(final_latent, noise=final_noises or "const").clamp(-1, 1)
    return InversionResult(
        latent=final_latent,
        noises=final_noises,
        image=image,
        target=target,
        psnr=float(psnr(image, target)[0]),
        losses=losses,
    )


def noise_autocorrelation(noises: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum of squared one-pixel autocorrelations of each map `[1, 1, r, r]` at every scale.

    Each map is compared with itself shifted by one pixel (wrapping) along x and along y,
    then halved in size by 2x2 averaging, down to 8x8; white noise scores near zero.
    """
    total = noises[0].new_zeros(())
    for noise in noises:
        level = noise  # [1, 1, r, r]
        while True:
            total = total + (level * level.roll(1, dims=3)).mean().square()
            total = total + (level * level.roll(1, dims=2)).mean().square()
            if level.shape[-1] <= 8:
                break
            level = F.avg_pool2d(level, kernel_size=2)  # [1, 1, r/2, r/2]
    return total


def save_latent(
    path: str | os.PathLike,
    latent: torch.Tensor,
    noises: Sequence[torch.Tensor] = (),
    *,
    target: torch.Tensor | None = None,
    generator: Generator | None = None,
    settings: Mapping[str, str | int | float | bool] | None = None,
) -> Path:
    """Write `{"latent": ..., "noise_0": ..., ...}` (CPU tensors) atomically with torch.save,
    with what was inverted (a thumbnail of `target [1, 3, S, S]`, the generator's frame), by
    which `generator` (its fingerprint), so a later use can check it fits, and the inversion's
    `settings` (steps, seed, ...), so the latent can be made again.

    The file is a plain dict of tensors, strings and numbers, so `torch.load(path,
    weights_only=True)` reads it.
    """
    path = path_first(path, "save_latent")
    data: dict[str, torch.Tensor | str] = {"latent": latent.detach().cpu().contiguous()}
    data |= {f"noise_{i}": noise.detach().cpu().contiguous() for i, noise in enumerate(noises)}
    if target is not None:
        data["target"] = _thumbnail(target)
    if generator is not None:
        data["generator"] = generator_fingerprint(generator)
    if settings is not None:
        data["settings"] = dict(settings)
    return save_torch(data, path)


def check_latent_fits(latent: GivenLatent, G: Generator, image: torch.Tensor) -> None:
    """Refuse a given latent that `G` cannot draw `image [1, 3, H, W]` from: codes not `[1, D]`
    or `[1, L, D]` of `G`, or not finite; noise maps not `G`'s; a latent file recorded as
    inverted by another generator, or from another framing of `image` (files without that
    record pass, except a file recording neither: an older GANlift's `invert` wrote those)."""
    codes, noises = latent_parts(latent)
    source = (
        f"Latent file {latent.path}"
        if isinstance(latent, SavedLatent) and latent.path is not None
        else "The given latent"
    )
    _check_latent_shape(codes, source, G.style_dim, G.num_ws)
    if not torch.isfinite(codes).all():
        raise GANliftError(f"{source} holds NaN or infinite values; invert the image again.")
    if isinstance(latent, SavedLatent) and latent.generator is None and latent.target is None:
        raise GANliftError(
            f"{source} records neither the generator nor the image it inverted (an older "
            "GANlift wrote it), so it may be of another crop or model; invert the image again, "
            "or leave out the latent."
        )
    recorded = latent.generator if isinstance(latent, SavedLatent) else None
    noise_shapes = [tuple(noise.shape) for noise in noises]
    if (recorded is not None and recorded != generator_fingerprint(G)) or (
        noise_shapes and noise_shapes != G.noise_shapes()
    ):
        raise GANliftError(
            f"{source} was inverted with another generator; invert the image with this model, "
            "or leave out the latent."
        )
    if not isinstance(latent, SavedLatent) or latent.target is None:
        return
    framed = _thumbnail(fit_to_frame(image.float().cpu(), G.config.size))  # [3, t, t]
    if (
        latent.target.shape != framed.shape
        or (latent.target.float() - framed.float()).abs().mean() > _SAME_IMAGE_LEVELS
    ):
        raise GANliftError(
            f"{source} inverts another crop of this image than the one used now (invert "
            "centre-crops the file, reconstruct crops around a face); leave out the latent and "
            "the image is inverted as framed."
        )


_THUMBNAIL_SIDE = 64
"""Longest side of the target copy a latent file keeps."""
_SAME_IMAGE_LEVELS = 4.0
"""Mean difference (8-bit levels) under which two thumbnails show the same framed image."""


def _thumbnail(image: torch.Tensor) -> torch.Tensor:
    """`image [1, 3, S, S]` in [-1, 1] as uint8 `[3, t, t]`, area-averaged to at most 64 px."""
    image = image.detach().float().cpu()
    side = image.shape[-1]
    if side > _THUMBNAIL_SIDE:
        image = F.adaptive_avg_pool2d(image, _THUMBNAIL_SIDE)
    return ((image[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def load_latent(
    path: str | os.PathLike, *, style_dim: int | None = None, num_ws: int | None = None
) -> SavedLatent:
    """Read a latent file written by `save_latent`, checking shapes and finiteness.

    With `style_dim` / `num_ws` (a generator's), the latent must also fit that generator.
    """
    path = Path(path)
    data = read_torch_file(
        path,
        missing=f"Latent file {path} does not exist; check the path.",
        damaged=f"Latent file {path} is damaged or not a latent file; write it again with invert.",
    )
    latent = data.get("latent") if isinstance(data, dict) else None
    if not isinstance(latent, torch.Tensor):
        raise GANliftError(f"Latent file {path} holds no 'latent' tensor; write it with invert.")
    _check_latent_shape(latent, f"Latent file {path}", style_dim, num_ws)
    noise_keys = sorted(
        (key for key in data if isinstance(key, str) and re.fullmatch(r"noise_\d+", key)),
        key=lambda key: int(key[6:]),
    )
    noises = [data[key] for key in noise_keys]
    for tensor in (latent, *noises):
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            raise GANliftError(
                f"Latent file {path} holds values that are not floating-point tensors; invert "
                "again."
            )
        if not torch.isfinite(tensor).all():
            raise GANliftError(f"Latent file {path} contains NaN or infinite values; invert again.")
    if any(noise.dim() != 4 or noise.shape[:2] != (1, 1) for noise in noises):
        raise GANliftError(f"Latent file {path} has noise maps not shaped [1, 1, r, r].")
    target, generator = data.get("target"), data.get("generator")
    if not (target is None or _is_thumbnail(target)) or not (
        generator is None or isinstance(generator, str)
    ):
        raise GANliftError(f"Latent file {path} holds a damaged record of what it inverted.")
    return SavedLatent(
        latent=latent.float(),
        noises=[noise.float() for noise in noises],
        target=target,
        generator=generator,
        path=path,
    )


def _is_thumbnail(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.dim() == 3


def _check_latent_shape(
    latent: torch.Tensor, source: str, style_dim: int | None, num_ws: int | None
) -> None:
    """Raise unless `latent` is `[1, D]` or `[1, L, D]` (with D and L as given, if given)."""
    dim = latent.shape[-1] if style_dim is None else style_dim
    layers = (latent.shape[1] if latent.dim() == 3 else 1) if num_ws is None else num_ws
    if tuple(latent.shape) not in ((1, dim), (1, layers, dim)):
        raise GANliftError(
            f"{source} holds a latent of shape {list(latent.shape)}; expected "
            f"[1, {dim}] or [1, {layers}, {dim}] for this generator."
        )


def _w_statistics(
    G: Generator, samples: int, rng: torch.Generator, device: torch.device
) -> tuple[torch.Tensor, float]:
    """Mean w `[1, D]` of `samples` random z and the root of w's total variance (a scalar)."""
    z = torch.randn(samples, G.style_dim, generator=rng).to(device)  # [S, D]
    with torch.no_grad():
        w = G.mapping(z)  # [S, D]
    w_avg = w.mean(dim=0, keepdim=True)  # [1, D]
    w_std = float(((w - w_avg).square().sum() / samples).sqrt())
    return w_avg, w_std


def _starting_latent(
    G: Generator, initial_latent: torch.Tensor | None, w_avg: torch.Tensor, w_plus: bool
) -> torch.Tensor:
    """The latent to optimise: `[1, D]` for W, `[1, num_ws, D]` for W+ (a fresh copy)."""
    start = w_avg if initial_latent is None else initial_latent.detach().to(w_avg)
    shape = tuple(start.shape)
    if shape == (1, G.style_dim):
        return start.unsqueeze(1).repeat(1, G.num_ws, 1) if w_plus else start.clone()
    if shape == (1, G.num_ws, G.style_dim):
        if not w_plus:
            raise GANliftError(
                "The initial latent is W+ but the inversion is in W; "
                "invert in W+ (--wplus) or start from a [1, D] latent."
            )
        return start.clone()
    raise GANliftError(
        f"The initial latent has shape {list(shape)}; expected [1, {G.style_dim}] or "
        f"[1, {G.num_ws}, {G.style_dim}] for this generator."
    )


def _unit_noise_maps(
    G: Generator, rng: torch.Generator, device: torch.device
) -> list[torch.Tensor]:
    """Fresh noise maps `[1, 1, r, r]` with zero mean and unit variance, ready to optimise."""
    maps = []
    for shape in G.noise_shapes():
        noise = torch.randn(shape, generator=rng)
        noise = (noise - noise.mean()) / noise.std(correction=0)
        maps.append(noise.to(device).requires_grad_(True))
    return maps


def _learning_rate_ramp(t: float, rampup: float, rampdown: float) -> float:
    """Learning-rate factor at progress `t` in [0, 1): linear ramp-up, cosine ramp-down."""
    down = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    up = min(1.0, t / rampup) if rampup > 0 else 1.0
    return (0.5 - 0.5 * math.cos(down * math.pi)) * up


def _quadratic_fade(t: float, length: float) -> float:
    """Factor at progress `t` that falls from 1 to 0 quadratically over the first `length`."""
    return max(0.0, 1.0 - t / length) ** 2 if length > 0 else 0.0


def _pixel_distance(image: torch.Tensor, target: torch.Tensor, kind: PixelLoss) -> torch.Tensor:
    """Mean squared ("mse") or mean absolute ("l1") difference of two image batches."""
    return F.mse_loss(image, target) if kind == "mse" else F.l1_loss(image, target)


def _perceptual_input(image: torch.Tensor, max_resolution: int) -> torch.Tensor:
    """`image [N,3,H,W]` area-downsampled to at most `max_resolution` on its longer side."""
    longest = max(image.shape[-2:])
    if longest <= max_resolution:
        return image
    scale = max_resolution / longest
    height, width = (round(side * scale) for side in image.shape[-2:])
    return F.interpolate(image, size=(height, width), mode="area")  # [N, 3, h, w]
