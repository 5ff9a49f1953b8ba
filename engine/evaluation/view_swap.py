"""View-swap figure: does the viewpoint live in the early W+ layers (StyleGAN-R's premise)?

`engine.styleganr.view_layers.analyse_view_layers` measures, for every prefix length L, how
far copying a donor's first L rows of W+ moves the viewpoint versus the appearance, and picks
the best L. Here that L is used for a swap matrix: each cell is a content sample (row) drawn
in the view of a donor sample (column).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.images import make_grid
from engine.progress import ProgressFn
from engine.stylegan2 import Generator
from engine.styleganr.view_codes import compose, sample_w
from engine.styleganr.view_layers import ViewFn, analyse_view_layers

SCORE_GOAL = 0.5
"""At the chosen L, both view transfer and appearance kept must reach this (chance = 0.5
would mean the swap moves view and appearance equally)."""


@dataclass
class ViewSwapEvaluation:
    """The view-layer scores per prefix length, the chosen number and the figures."""

    num_ws: int
    num_view_layers: int
    prefix_lengths: list[int]
    view_transfer: list[float]
    appearance_kept: list[float]
    matrix: torch.Tensor
    """``[1, 3, H', W']``: donors on the top row, contents down the left column, swaps inside."""
    analysis_figure: torch.Tensor
    """``[1, 3, H', W']``: per row content, donor, then the mix for every L."""

    @property
    def chosen_scores(self) -> tuple[float, float]:
        """(view transfer, appearance kept) at the chosen number of view layers."""
        index = self.prefix_lengths.index(self.num_view_layers)
        return self.view_transfer[index], self.appearance_kept[index]

    @property
    def passed(self) -> bool:
        """The chosen L lies in the first half of W+ and both of its scores reach the goal."""
        transfer, kept = self.chosen_scores
        early = self.num_view_layers <= self.num_ws // 2
        return early and transfer >= SCORE_GOAL and kept >= SCORE_GOAL


@torch.no_grad()
def evaluate_view_swap(
    generator: Generator,
    *,
    num_pairs: int = 16,
    grid_size: int = 5,
    seed: int = 0,
    truncation: float = 0.7,
    view_fn: ViewFn | None = None,
    progress: ProgressFn | None = None,
) -> ViewSwapEvaluation:
    """Score every prefix length on `num_pairs` pairs (viewpoints compared through `view_fn`
    when given, else edge maps; `progress` hears of each) and draw a `grid_size`² swap
    matrix."""
    analysis = analyse_view_layers(
        generator, num_pairs=num_pairs, seed=seed, truncation=truncation, view_fn=view_fn,
        progress=progress,
    )  # fmt: skip
    layers = analysis.num_view_layers
    w = sample_w(generator, 2 * grid_size, seed=seed + 1, truncation=truncation)  # [2G, D]
    contents, donors = w[:grid_size], w[grid_size:]  # [G, D] each
    num_ws = generator.num_ws
    donor_codes = donors[:, None].expand(-1, layers, -1)  # [G, L, D]
    swapped = compose(
        donor_codes.repeat(grid_size, 1, 1), contents.repeat_interleave(grid_size, 0), num_ws
    )  # [G*G, num_ws, D], row-major: content i, donor j
    cells = generator.synthesis(swapped).clamp(-1, 1).float().cpu()  # [G*G, 3, H, W]
    donor_images = generator.synthesis(donors).clamp(-1, 1).float().cpu()  # [G, 3, H, W]
    content_images = generator.synthesis(contents).clamp(-1, 1).float().cpu()
    blank = torch.ones_like(donor_images[:1])  # [1, 3, H, W] white corner
    rows = [torch.cat([blank, donor_images])]
    for i in range(grid_size):
        cells_of_row = cells[i * grid_size : (i + 1) * grid_size]
        rows.append(torch.cat([content_images[i : i + 1], cells_of_row]))
    return ViewSwapEvaluation(
        num_ws=num_ws,
        num_view_layers=layers,
        prefix_lengths=analysis.prefix_lengths,
        view_transfer=analysis.view_transfer,
        appearance_kept=analysis.appearance_kept,
        matrix=make_grid(torch.cat(rows), grid_size + 1),
        analysis_figure=analysis.figure.cpu(),
    )
