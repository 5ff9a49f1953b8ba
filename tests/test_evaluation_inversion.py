"""Inversion-PSNR evaluation and the view-swap figure on a tiny generator."""

from __future__ import annotations

import pytest
import torch

from engine.errors import GANliftError
from engine.evaluation import PSNR_GOAL_DB, evaluate_inversion, evaluate_view_swap
from engine.evaluation.inversion_psnr import InversionEvaluation
from engine.evaluation.view_swap import SCORE_GOAL, ViewSwapEvaluation
from engine.metrics import psnr
from engine.stylegan2 import Generator
from engine.styleganr.view_codes import sample_w
from engine.synth import SEED_RANGES, render_samples
from tests.tiny import tiny_generator

TEST_SEED = SEED_RANGES["test"].start


@pytest.fixture(scope="module")
def generator() -> Generator:
    return tiny_generator(16, style_dim=16, n_mlp=2).eval()


def test_inversion_scores_each_held_out_render(generator: Generator) -> None:
    evaluation = evaluate_inversion(generator, "face", n_images=3, num_steps=4)
    assert evaluation.seeds == [TEST_SEED, TEST_SEED + 1, TEST_SEED + 2]
    assert len(evaluation.psnr) == 3
    assert evaluation.mean_psnr == pytest.approx(sum(evaluation.psnr) / 3)
    assert evaluation.std_psnr == pytest.approx(float(torch.tensor(evaluation.psnr).std()))
    assert evaluation.passed == (evaluation.mean_psnr >= PSNR_GOAL_DB)
    assert not evaluation.w_plus and not evaluation.optimize_noise
    cell = 16 + 2  # image + padding
    assert evaluation.figure.shape == (1, 3, 2 * cell + 2, 3 * cell + 2)


def test_inversion_psnr_is_the_psnr_of_the_figure_pair(generator: Generator) -> None:
    evaluation = evaluate_inversion(generator, "car", n_images=1, num_steps=3)
    target = evaluation.figure[..., 2:18, 2:18]  # [1, 3, 16, 16] top row
    reconstruction = evaluation.figure[..., 20:36, 2:18]  # bottom row
    expected = render_samples("car", [TEST_SEED], size=16).image
    torch.testing.assert_close(target, expected)
    assert evaluation.psnr[0] == pytest.approx(float(psnr(reconstruction, target)[0]), abs=1e-4)
    assert evaluation.std_psnr == 0.0  # one image: no spread, not NaN


def test_the_figure_shows_at_most_its_columns(generator: Generator) -> None:
    evaluation = evaluate_inversion(generator, "face", n_images=3, num_steps=1, figure_columns=2)
    assert len(evaluation.psnr) == 3
    cell = 16 + 2
    assert evaluation.figure.shape == (1, 3, 2 * cell + 2, 2 * cell + 2)


def test_inversion_stops_when_asked(generator: Generator) -> None:
    evaluation = evaluate_inversion(
        generator, "face", n_images=4, num_steps=2, should_stop=lambda: True
    )
    assert len(evaluation.psnr) == 1 and evaluation.seeds == [TEST_SEED]


def test_a_mean_psnr_equal_to_the_goal_passes() -> None:
    """The goal is a PSNR to reach: a mean exactly at it passes."""
    evaluation = InversionEvaluation(
        seeds=[TEST_SEED, TEST_SEED + 1], psnr=[PSNR_GOAL_DB - 1, PSNR_GOAL_DB + 1], num_steps=1,
        w_plus=False, optimize_noise=False, targets=torch.zeros(1, 3, 1, 1),
        reconstructions=torch.zeros(1, 3, 1, 1),
    )  # fmt: skip
    assert evaluation.mean_psnr == PSNR_GOAL_DB and evaluation.passed


def test_inversion_searches_the_space_it_is_asked_for(generator: Generator) -> None:
    """W+ and optimised noise maps reach the projection, so they change the scores."""
    settings = {"n_images": 1, "num_steps": 3}
    in_w = evaluate_inversion(generator, "face", **settings).psnr
    in_w_plus = evaluate_inversion(generator, "face", w_plus=True, **settings).psnr
    with_noise = evaluate_inversion(generator, "face", optimize_noise=True, **settings).psnr
    assert in_w != in_w_plus and in_w != with_noise


def test_inversion_renders_targets_at_the_generators_size() -> None:
    """The held-out renders are drawn at the generator's resolution, not a fixed one."""
    larger = tiny_generator(32, style_dim=16, n_mlp=2).eval()
    evaluation = evaluate_inversion(larger, "car", n_images=1, num_steps=1)
    torch.testing.assert_close(
        evaluation.figure[..., 2:34, 2:34], render_samples("car", [TEST_SEED], size=32).image
    )


def test_inversion_progress_counts_the_steps_of_every_image(generator: Generator) -> None:
    """The progress bar runs once over all images' steps instead of restarting per image."""
    calls: list[tuple[int, int]] = []
    evaluate_inversion(
        generator, "face", n_images=2, num_steps=2,
        progress=lambda done, total, message: calls.append((done, total)),
    )  # fmt: skip
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_inversion_refuses_training_seeds(generator: Generator) -> None:
    with pytest.raises(GANliftError, match="test seeds are needed"):
        evaluate_inversion(generator, "face", n_images=2, num_steps=1, first_seed=0)


def test_view_swap_cells_are_contents_with_the_donors_view_layers(generator: Generator) -> None:
    evaluation = evaluate_view_swap(generator, num_pairs=4, grid_size=3, seed=5)
    assert evaluation.prefix_lengths == list(range(1, generator.num_ws))
    assert evaluation.num_view_layers in evaluation.prefix_lengths
    assert len(evaluation.view_transfer) == len(evaluation.appearance_kept) == generator.num_ws - 1
    cell = 16 + 2
    assert evaluation.matrix.shape == (1, 3, 4 * cell + 2, 4 * cell + 2)
    corner = evaluation.matrix[..., 2:18, 2:18]
    assert (corner == 1).all()  # the blank top-left cell

    w = sample_w(generator, 6, seed=6, truncation=0.7)  # [6, D]: contents 0-2, donors 3-5
    layers = evaluation.num_view_layers
    wplus = w[1, None, None].repeat(1, generator.num_ws, 1)  # content 1 [1, num_ws, D]
    wplus[:, :layers] = w[5]  # donor 2's view layers
    expected = generator.synthesis(wplus).clamp(-1, 1)  # [1, 3, 16, 16]
    row, column = 2, 3  # content 1 is matrix row 2, donor 2 is matrix column 3
    cell_image = evaluation.matrix[..., 2 + row * cell :, 2 + column * cell :][..., :16, :16]
    torch.testing.assert_close(cell_image, expected, atol=1e-5, rtol=0)
    transfer, kept = evaluation.chosen_scores
    early = evaluation.num_view_layers <= generator.num_ws // 2
    assert evaluation.passed == (early and transfer >= 0.5 and kept >= 0.5)


def _view_swap(
    num_view_layers: int, transfer: list[float], kept: list[float]
) -> ViewSwapEvaluation:
    """A view-swap result of a 6-layer W+ with the given per-prefix scores (L = 1 … 5)."""
    return ViewSwapEvaluation(
        num_ws=6, num_view_layers=num_view_layers, prefix_lengths=[1, 2, 3, 4, 5],
        view_transfer=transfer, appearance_kept=kept, matrix=torch.zeros(1, 3, 1, 1),
        analysis_figure=torch.zeros(1, 3, 1, 1),
    )  # fmt: skip


def test_view_swap_scores_are_those_of_the_chosen_prefix_length() -> None:
    swap = _view_swap(3, [0.1, 0.2, 0.7, 0.4, 0.5], [0.9, 0.8, 0.6, 0.3, 0.2])
    assert swap.chosen_scores == (0.7, 0.6)


def test_view_layers_in_exactly_the_first_half_of_w_plus_pass() -> None:
    """L = 3 of 6 layers is early enough: the first half includes its last layer."""
    assert _view_swap(3, [0.1, 0.2, 0.7, 0.4, 0.5], [0.9, 0.8, 0.6, 0.3, 0.2]).passed
    assert not _view_swap(4, [0.1, 0.2, 0.3, 0.7, 0.5], [0.9, 0.8, 0.6, 0.6, 0.2]).passed


def test_a_view_swap_that_loses_the_appearance_fails() -> None:
    """An early L that moves the view but keeps too little of the appearance fails."""
    assert not _view_swap(2, [0.1, 0.9, 0.7, 0.4, 0.5], [0.9, 0.2, 0.6, 0.3, 0.2]).passed
    assert not _view_swap(2, [0.1, 0.2, 0.7, 0.4, 0.5], [0.9, 0.9, 0.6, 0.3, 0.2]).passed
    assert _view_swap(2, [0.1, SCORE_GOAL, 0.7, 0.4, 0.5], [0.9, SCORE_GOAL, 0.6, 0.3, 0.2]).passed
