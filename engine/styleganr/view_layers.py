"""Which W+ layers carry the viewpoint: a measurement, not an assumption.

For pairs of samples (content a, view donor b), the first k rows of W+ are taken from b and
the rest from a, for every k. Two scores per k, averaged over pairs, each in [0, 1]:

- view transfer: how much the mix's viewpoint (as a view regressor reads it, or else its
  silhouette from a mask function, or else its edge map) looks like b's rather than a's;
- appearance kept: how much its colours (per-channel mean and spread) stay a's rather than b's.

The view layers are the k that maximises their sum: enough layers to move the viewpoint,
few enough that the car's paint and the background stay put (the paper finds 4 of 16). The
figure shows a, b and every mix, one pair per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.errors import GANliftError
from engine.images import make_grid
from engine.progress import ProgressFn
from engine.stylegan2 import Generator
from engine.styleganr.view_codes import MaskFn, sample_w

ViewFn = Callable[[torch.Tensor], torch.Tensor]
"""``views [N, K] = fn(images [N, 3, H, W])``: viewpoint descriptors (e.g. yaw and pitch)."""


@dataclass
class ViewLayerAnalysis:
    """Scores per prefix length k = 1 .. num_ws - 1 and the chosen number of view layers."""

    prefix_lengths: list[int]
    view_transfer: list[float]
    appearance_kept: list[float]
    num_view_layers: int
    figure: torch.Tensor
    """``[1, 3, H', W']`` rows: content a, view donor b, then the mix for every k."""


def _structure(
    images: torch.Tensor, mask_fn: MaskFn | None, view_fn: ViewFn | None
) -> torch.Tensor:
    """Viewpoint labels ``[N, K]`` from ``view_fn``, else silhouettes, else edge magnitudes of
    the blurred grey image (``[N, 1, 32, 32]``)."""
    if view_fn is not None:
        return view_fn(images)
    if mask_fn is not None:
        maps = mask_fn(images)
    else:
        grey = images.mean(1, keepdim=True)
        grey = F.avg_pool2d(grey, 3, stride=1, padding=1)
        dx = grey[..., :, 1:] - grey[..., :, :-1]
        dy = grey[..., 1:, :] - grey[..., :-1, :]
        maps = dx[..., :-1, :].abs() + dy[..., :, :-1].abs()
        maps = maps / (maps.flatten(1).amax(1)[:, None, None, None] + 1e-6)
    return F.adaptive_avg_pool2d(maps, 32)


def _appearance(images: torch.Tensor) -> torch.Tensor:
    """Per-channel colour mean and standard deviation ``[N, 6]``."""
    flat = images.flatten(2)
    return torch.cat([flat.mean(2), flat.std(2)], 1)


def _closer_to_second(
    mixed: torch.Tensor, first: torch.Tensor, second: torch.Tensor
) -> torch.Tensor:
    """``[N]`` in [0, 1]: d(mixed, first) / (d(mixed, first) + d(mixed, second))."""
    to_first = (mixed - first).flatten(1).abs().mean(1)
    to_second = (mixed - second).flatten(1).abs().mean(1)
    return to_first / (to_first + to_second + 1e-8)


@torch.no_grad()
def analyse_view_layers(
    generator: Generator,
    *,
    num_pairs: int = 16,
    seed: int = 0,
    truncation: float = 0.7,
    mask_fn: MaskFn | None = None,
    view_fn: ViewFn | None = None,
    figure_rows: int = 4,
    progress: ProgressFn | None = None,
) -> ViewLayerAnalysis:
    """Measure, for every prefix length, how far swapping those W+ rows moves the view
    versus the appearance (see the module docstring); the view is compared through
    ``view_fn`` (e.g. a regressor's viewpoint labels) when given, else through silhouettes
    from ``mask_fn``, else through edge maps. ``progress`` hears of every prefix length."""
    if num_pairs < 2:
        raise GANliftError(f"The view-layer analysis needs at least 2 pairs, got {num_pairs}.")
    w = sample_w(generator, 2 * num_pairs, seed=seed, truncation=truncation)
    content, donor = w[:num_pairs], w[num_pairs:]  # [P, D] each
    num_ws = generator.num_ws
    image_a = generator.synthesis(content)
    image_b = generator.synthesis(donor)
    structure_a = _structure(image_a, mask_fn, view_fn)
    structure_b = _structure(image_b, mask_fn, view_fn)
    colours_a, colours_b = _appearance(image_a), _appearance(image_b)
    lengths = list(range(1, num_ws))
    transfer, kept, mixes = [], [], []
    for length in lengths:
        wplus = content[:, None].repeat(1, num_ws, 1)  # [P, num_ws, D]
        wplus[:, :length] = donor[:, None]
        mixed = generator.synthesis(wplus)
        mixes.append(mixed[:figure_rows])
        structure = _structure(mixed, mask_fn, view_fn)
        transfer.append(float(_closer_to_second(structure, structure_a, structure_b).mean()))
        kept.append(float(1 - _closer_to_second(_appearance(mixed), colours_a, colours_b).mean()))
        if progress is not None:
            progress(length, len(lengths), f"view layers: swapped {length} of {num_ws} rows")
    best = max(range(len(lengths)), key=lambda i: transfer[i] + kept[i])
    rows = torch.stack([image_a[:figure_rows], image_b[:figure_rows], *mixes], 1)
    figure = _grid_with_marker(rows.flatten(0, 1), columns=rows.shape[1], marked=best + 2)
    return ViewLayerAnalysis(
        prefix_lengths=lengths,
        view_transfer=transfer,
        appearance_kept=kept,
        num_view_layers=lengths[best],
        figure=figure,
    )


def _grid_with_marker(images: torch.Tensor, *, columns: int, marked: int) -> torch.Tensor:
    """A grid of ``images`` with a green bar under the chosen column ``marked``."""
    framed = images.clone()
    framed[torch.arange(len(images)) % columns == marked, :, -2:] = images.new_tensor(
        [-1.0, 1.0, -1.0]
    )[:, None, None]
    return make_grid(framed, columns)
