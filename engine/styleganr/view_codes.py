"""View codes: the first W+ layers of chosen GAN samples, which fix the viewpoint (the paper:
4 of 16), with a camera each once labelled; and the GAN as a multi-view data generator —
the same content code rendered under every fixed view code.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from engine.atomic import atomic_path, file_path
from engine.errors import GANliftError
from engine.limits import check_seed
from engine.progress import ProgressFn
from engine.stylegan2 import Generator, check_float32, check_truncation, generator_fingerprint
from engine.styleganr.multiview import ViewPairs
from engine.wording import counted

MaskFn = Callable[[torch.Tensor], torch.Tensor]
"""``masks = fn(images)``: silhouettes ``[N, 1, H, W]`` in [0, 1] of images ``[N, 3, H, W]``."""


@dataclass
class ViewCodes:
    """Fixed viewpoints of a generator: W+ prefixes and (once labelled) their cameras."""

    codes: torch.Tensor
    """``[V, L, D]`` the first L rows of W+ of each view."""
    cameras: torch.Tensor | None = None
    """``[V, 3]`` (azimuth°, elevation°, scale) of each view, or None before labelling."""
    generator: str | None = None
    """`generator_fingerprint` of the GAN the codes were drawn from; None where unknown (files
    written before it was recorded)."""

    def __post_init__(self) -> None:
        if self.codes.dim() != 3 or 0 in self.codes.shape:
            raise GANliftError(
                f"View codes must be [V, L, D] with none of them 0, got {list(self.codes.shape)}."
            )
        if self.cameras is not None and self.cameras.shape != (len(self.codes), 3):
            raise GANliftError(
                f"View cameras must be [{len(self.codes)}, 3], got {list(self.cameras.shape)}."
            )
        fix = "draw the codes again with 'styleganr view-codes' and label them"
        for name, values in (("codes", self.codes), ("cameras", self.cameras)):
            if values is None:
                continue
            if not values.is_floating_point():
                raise GANliftError(
                    f"View {name} must be floating-point numbers, got {values.dtype}; {fix}."
                )
            if not values.isfinite().all():
                count = int((~values.isfinite()).sum())
                raise GANliftError(
                    f"View {name} hold {counted(count, 'value')} that "
                    f"{'is' if count == 1 else 'are'} not finite (NaN or infinite); {fix}."
                )

    @property
    def num_view_layers(self) -> int:
        """L: how many W+ rows a view code replaces."""
        return int(self.codes.shape[1])

    def fingerprint(self) -> str:
        """A short SHA-256 of the codes: hand labels record it, as their indices name no view of
        other codes."""
        codes = self.codes.detach().float().cpu().contiguous()
        return hashlib.sha256(codes.numpy().tobytes()).hexdigest()[:16]

    def labelled(self) -> torch.Tensor:
        """The cameras ``[V, 3]``; a GANliftError when the codes are not labelled yet."""
        if self.cameras is None:
            raise GANliftError(
                "These view codes have no cameras yet; label them with "
                "'styleganr hand-label' or 'styleganr auto-label' first."
            )
        return self.cameras

    def check_drawn_from(self, generator: Generator) -> None:
        """Refuse a `generator` other than the one the codes were drawn from: another GAN's
        view codes fix no viewpoint of this one, and nothing else would notice."""
        if self.generator is not None and self.generator != generator_fingerprint(generator):
            raise GANliftError(
                f"These view codes were drawn from another StyleGAN2 (weight fingerprint "
                f"{self.generator}); draw view codes from this one ('styleganr view-codes' with "
                "its checkpoint) and label them."
            )


def sample_view_codes(
    generator: Generator,
    count: int,
    *,
    num_view_layers: int,
    seed: int = 0,
    truncation: float = 0.7,
) -> ViewCodes:
    """``count`` view codes from random samples of ``generator`` (truncated towards its mean)."""
    if count < 1:
        raise GANliftError(f"The number of view codes must be at least 1, got {count}.")
    check_float32(generator, "sample_view_codes")
    if not 1 <= num_view_layers < generator.num_ws:
        raise GANliftError(
            f"The view layers (W+ rows the view codes replace) must be from 1 to "
            f"{generator.num_ws - 1} for this generator, got {num_view_layers}."
        )
    w = sample_w(generator, count, seed=seed, truncation=truncation)  # [V, D]
    return ViewCodes(
        codes=w[:, None].expand(-1, num_view_layers, -1).clone(),
        generator=generator_fingerprint(generator),
    )


@torch.no_grad()
def sample_w(
    generator: Generator, count: int, *, seed: int, truncation: float = 0.7
) -> torch.Tensor:
    """``count`` w ``[N, D]`` from seeded z, pulled towards the mean w by ``truncation``."""
    truncation, seed = check_truncation(truncation), check_seed(seed)
    device = generator.input.input.device
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(count, generator.style_dim, generator=rng).to(device)
    w = generator.mapping(z)
    if truncation != 1.0:
        centre = generator.mean_latent(1024, generator=torch.Generator().manual_seed(0))
        w = torch.lerp(centre, w, truncation)
    return w


def compose(view_codes: torch.Tensor, content: torch.Tensor, num_ws: int) -> torch.Tensor:
    """W+ ``[N, num_ws, D]``: view rows ``[N, L, D]`` first, then the rest of ``content``
    (w ``[N, D]`` or W+ ``[N, num_ws, D]``), on ``content``'s device."""
    layers, width = view_codes.shape[1], content.shape[-1]
    if view_codes.shape[-1] != width or layers >= num_ws:
        raise GANliftError(
            f"These view codes ({layers} rows of width {view_codes.shape[-1]}) were drawn from "
            f"another GAN than this one (W+ {num_ws} x {width}); draw view codes of this GAN "
            "with `styleganr view-codes`."
        )
    if content.dim() == 2:
        content = content[:, None].expand(-1, num_ws, -1)
    return torch.cat([view_codes.to(content.device), content[:, layers:]], 1)


@torch.no_grad()
def render_multiview(
    generator: Generator,
    views: ViewCodes,
    content: torch.Tensor,
    *,
    batch_size: int = 16,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Every content code w ``[C, D]`` under every view: images ``[C, V, 3, H, W]``."""
    count, num_views = len(content), len(views.codes)
    pairs = torch.cartesian_prod(torch.arange(count), torch.arange(num_views))  # [C*V, 2]
    images = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        wplus = compose(views.codes[chunk[:, 1]], content[chunk[:, 0]], generator.num_ws)
        images.append(generator.synthesis(wplus))
        if progress is not None:
            progress(min(start + batch_size, len(pairs)), len(pairs), "multi-view images")
    return torch.cat(images).reshape(count, num_views, *images[0].shape[1:])


def gan_view_pairs(
    generator: Generator, views: ViewCodes, mask_fn: MaskFn, *, truncation: float = 0.7
) -> Callable[[int, torch.Generator], ViewPairs]:
    """A pair source for `train_inverse_graphics`: random content codes, each rendered under
    two different labelled view codes, with silhouettes from ``mask_fn``."""
    views.check_drawn_from(generator)
    cameras = views.labelled()
    if len(views.codes) < 2:
        raise GANliftError("Multi-view pairs need at least two labelled view codes.")

    @torch.no_grad()
    def source(batch_size: int, rng: torch.Generator) -> ViewPairs:
        seed = int(torch.randint(0, 2**31 - 1, (), generator=rng))
        content = sample_w(generator, batch_size, seed=seed, truncation=truncation)  # [B, D]
        first = torch.randint(0, len(views.codes), (batch_size,), generator=rng)
        offset = torch.randint(1, len(views.codes), (batch_size,), generator=rng)
        chosen = torch.stack([first, (first + offset) % len(views.codes)], 1)  # [B, 2]
        wplus = compose(
            views.codes[chosen.flatten()].to(content.device),
            content.repeat_interleave(2, 0),
            generator.num_ws,
        )
        images = generator.synthesis(wplus)  # [2B, 3, H, W]
        return ViewPairs(
            images=images.unflatten(0, (batch_size, 2)),
            masks=mask_fn(images).unflatten(0, (batch_size, 2)),
            cameras=cameras[chosen].to(images.device),
        )

    return source


def save_view_codes(views: ViewCodes, path: str | os.PathLike) -> Path:
    """Write view codes (and cameras and the GAN's fingerprint, if any) as one safetensors
    file."""
    path = file_path(path)
    tensors = {"codes": views.codes.detach().cpu().contiguous()}
    if views.cameras is not None:
        tensors["cameras"] = views.cameras.detach().cpu().float().contiguous()
    with atomic_path(path) as temporary:
        metadata = {"format": "ganlift-view-codes", "version": "1"}
        if views.generator is not None:
            metadata["generator"] = views.generator
        save_file(tensors, str(temporary), metadata=metadata)
    return path


def load_view_codes(path: str | os.PathLike) -> ViewCodes:
    """Read view codes written by `save_view_codes`."""
    path = Path(path)
    fix = "pass the .safetensors file `styleganr view-codes` (or export-views) wrote"
    if path.is_dir():
        raise GANliftError(f"The view-code file {path} is a folder; {fix}.")
    if not path.is_file():
        raise GANliftError(f"The view-code file {path} does not exist; check the path.")
    try:
        with safe_open(str(path), framework="pt") as file:
            tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118
            metadata = file.metadata() or {}
    except (OSError, SafetensorError, json.JSONDecodeError) as error:
        raise GANliftError(f"{path} is not a view-code file; {fix}.") from error
    if "codes" not in tensors:
        raise GANliftError(f"{path} holds no view codes; pass a file written by GANlift.")
    return ViewCodes(
        codes=tensors["codes"], cameras=tensors.get("cameras"), generator=metadata.get("generator")
    )
