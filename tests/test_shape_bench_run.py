"""The shape benchmark at tiny n: its baselines, the predictor registry, JSON and the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from engine.benchmarks import (
    DEPTH_PREDICTORS,
    ShapeBenchmarkResult,
    register_depth_predictor,
    run_shape_benchmark,
)
from engine.benchmarks.shape import (
    DepthPrediction,
    ShapeBenchmarkSettings,
    ShapeInputs,
    ShapeScores,
)
from engine.cli import main
from engine.errors import GANliftError
from engine.metrics import erode_mask
from engine.synth import SEED_RANGES, render_samples

TEST_SEED = SEED_RANGES["test"].start


@pytest.fixture(scope="module")
def result():
    return run_shape_benchmark("face", n=4, size=32, train_samples=6, batch_size=3)


def test_baseline_rows_in_table_order(result) -> None:
    names = [row.method for row in result.rows]
    assert names[:3] == ["const. null depth", "average g.t. depth", "ellipsoid prior"]
    for row in result.rows:
        assert len(row.side) == len(row.mad) == 4
        assert row.side_mean > 0 and 0 < row.mad_mean < 90


def test_progress_counts_each_methods_images_and_names_the_method_at_work() -> None:
    """A GAN2Shape row takes minutes, and the bar stood at 0 until every row was done."""
    reports = []
    methods = ["const. null depth", "ellipsoid prior"]
    run_shape_benchmark(
        "face", n=3, size=32, methods=methods, batch_size=2,
        progress=lambda done, total, message: reports.append((done, total, message)),
    )  # fmt: skip
    assert reports == [
        (0, 6, "face: const. null depth"), (2, 6, "face: ellipsoid prior"),
        (4, 6, "face: const. null depth"), (5, 6, "face: ellipsoid prior"), (6, 6, "face"),
    ]  # fmt: skip


def test_null_depth_side_is_the_spread_of_log_ground_truth(result) -> None:
    batch = render_samples("face", list(range(TEST_SEED, TEST_SEED + 4)), size=32)
    valid = erode_mask(batch.mask)
    expected = [batch.depth[i][valid[i]].log().std(unbiased=False).item() for i in range(4)]
    assert result.rows[0].side == pytest.approx(expected, rel=1e-4)


def test_a_perfect_predictor_scores_zero_and_joins_the_table() -> None:
    truth = {}

    @register_depth_predictor("oracle (test)")
    def oracle(settings):
        def predict(inputs: ShapeInputs) -> DepthPrediction:
            return DepthPrediction(truth["depth"] * 1.5)  # right up to scale

        return predict

    try:
        batch = render_samples("car", list(range(TEST_SEED, TEST_SEED + 3)), size=32)
        truth["depth"] = torch.where(batch.mask > 0, batch.depth, 1.0)
        scores = run_shape_benchmark(
            "car", n=3, size=32, methods=["oracle (test)"], batch_size=3
        ).rows[0]
        assert max(scores.side) < 1e-5 and max(scores.mad) < 0.1
        with pytest.raises(ValueError, match="already registered"):
            register_depth_predictor("oracle (test)")(oracle)
    finally:
        DEPTH_PREDICTORS.pop("oracle (test)")


def test_pixels_the_predicted_surface_does_not_cover_are_not_scored() -> None:
    """Unsup3d scores over mask_gt * mask_pred: a prediction that is exact where it covers the
    image and wild (e.g. the renderer's far fill) where it does not scores zero."""
    batch = render_samples("face", list(range(TEST_SEED, TEST_SEED + 2)), size=32)
    covered = torch.ones_like(batch.mask)
    covered[:, :, 16:] = 0  # the right half uncovered
    wild = torch.where(covered > 0, torch.where(batch.mask > 0, batch.depth, 1.0), 1.2)

    @register_depth_predictor("half covered (test)")
    def half(settings):
        return lambda inputs: DepthPrediction(wild, covered)

    @register_depth_predictor("half covered, unmarked (test)")
    def unmarked(settings):
        return lambda inputs: DepthPrediction(wild)

    try:
        rows = run_shape_benchmark(
            "face", n=2, size=32, batch_size=2,
            methods=["half covered (test)", "half covered, unmarked (test)"],
        ).rows  # fmt: skip
    finally:
        DEPTH_PREDICTORS.pop("half covered (test)")
        DEPTH_PREDICTORS.pop("half covered, unmarked (test)")
    assert max(rows[0].side) < 1e-5 and max(rows[0].mad) < 0.1
    assert min(rows[1].side) > 1e-2 and min(rows[1].mad) > 5


def test_benchmark_refuses_training_seeds_and_unknown_methods() -> None:
    with pytest.raises(GANliftError, match="test seeds are needed"):
        run_shape_benchmark("face", n=2, seed=0, size=32)
    with pytest.raises(GANliftError, match="Unknown method"):
        run_shape_benchmark("face", n=2, size=32, methods=["nope"])


def test_bench_command_prints_the_table_and_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "scores.json"
    code = main(
        ["bench", "shape", "--category", "car", "--n", "2", "--train-samples", "2",
         "--json", str(out), "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "SIDE (x1e-2)" in printed and "average g.t. depth" in printed
    saved = json.loads(out.read_text())
    assert saved["count"] == 2 and saved["rows"][0]["method"] == "const. null depth"


def test_the_average_depth_row_is_the_masked_per_pixel_mean_of_training_renders() -> None:
    settings = ShapeBenchmarkSettings("face", 16, torch.device("cpu"), 6, 4)
    renders = render_samples("face", list(range(6)), size=16)  # the first six training seeds
    total, coverage = (renders.depth * renders.mask).sum(0), renders.mask.sum(0)
    covered = coverage > 0
    predict = DEPTH_PREDICTORS["average g.t. depth"](settings)
    mask = torch.ones(1, 16, 16)
    depth = predict(ShapeInputs(image=torch.zeros(1, 3, 16, 16), mask=mask)).depth[0]
    torch.testing.assert_close(depth[covered], (total / coverage)[covered])
    torch.testing.assert_close(
        depth[~covered], (total.sum() / coverage.sum()).expand(int((~covered).sum()))
    )


def test_summaries_are_the_mean_and_the_sample_standard_deviation() -> None:
    scores = ShapeScores("x", side=[1.0, 2.0, 3.0], mad=[10.0, 10.0, 40.0])
    assert (scores.side_mean, scores.side_std) == pytest.approx((2.0, 1.0))
    assert (scores.mad_mean, scores.mad_std) == pytest.approx((20.0, 300**0.5))


def test_one_image_has_no_spread_and_its_json_is_strict(tmp_path) -> None:
    result = run_shape_benchmark("face", n=1, size=32, methods=["const. null depth"])
    assert result.rows[0].side_std == 0.0 and result.rows[0].mad_std == 0.0
    text = result.save_json(tmp_path / "one.json").read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


def test_bench_command_scores_the_test_seeds_it_is_given(tmp_path, capsys) -> None:
    """The scores are of the --category renders from test seed --seed on, as the JSON records."""
    out, first = tmp_path / "scores.json", SEED_RANGES["test"].start + 5
    code = main(
        ["bench", "shape", "--category", "car", "--n", "1", "--train-samples", "1",
         "--seed", str(first), "--json", str(out), "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    saved = json.loads(out.read_text())
    assert (saved["category"], saved["first_seed"], saved["count"]) == ("car", first, 1)
    assert f"(seeds {first}..{first})" in capsys.readouterr().out


def test_the_table_prints_each_row_s_means_and_spreads() -> None:
    """The SIDE column is 100 × SIDE's mean ± std, the MAD column MAD's mean ± std."""
    row = ShapeScores("x", side=[0.01, 0.03], mad=[10.0, 30.0])
    line = ShapeBenchmarkResult("face", 32, 7, 2, [row]).table().splitlines()[-1]
    assert line.split() == ["x", "2.000", "±", "1.414", "20.00", "±", "14.14"]
