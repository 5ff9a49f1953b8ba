"""GAN2Shape's shape-benchmark rows: the canonical → image-view path puts ground truth where
the benchmark expects it, the four rows run (tiny model, tiny n) and time themselves, and the
preset's own prior, on the masks the method gives itself, stands beside them."""

from __future__ import annotations

import contextlib
import math
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from engine.benchmarks import DEPTH_PREDICTORS, run_shape_benchmark
from engine.benchmarks.gan2shape_rows import (
    depth_in_image_view,
    gan2shape_rows,
    own_masks,
    without_symmetry,
)
from engine.benchmarks.shape import ShapeBenchmarkSettings, ShapeInputs
from engine.cli import main
from engine.errors import GANliftError
from engine.gan2shape import Gan2ShapeModel, PretrainConfig, StepLengths, get_preset, pretrain
from engine.gan2shape.inputs import object_mask
from engine.gan2shape.pipeline import quality_schedule
from engine.gan2shape.prior import ellipsoid_prior
from engine.metrics import mad, side
from engine.perceptual import DiscriminatorFeatureLoss
from engine.render import normals_from_depth
from engine.synth import SEED_RANGES, render_samples
from tests.tiny import tiny_checkpoint, tiny_gan, tiny_gan2shape_preset

SIZE = 32
PRESET = tiny_gan2shape_preset(
    SIZE, steps=StepLengths(1, 1, 1), prior_steps=1, collect_batches=1, inversion_steps=2
)
SETTINGS = ShapeBenchmarkSettings("face", SIZE, torch.device("cpu"), 1, 2)


def scores(depth: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """Mean SIDE (×10⁻²) and MAD (°) of `depth` against `truth` under `mask`."""
    normal_error = mad(normals_from_depth(depth), normals_from_depth(truth), mask)
    return 100 * side(depth, truth, mask).mean().item(), normal_error.mean().item()


def test_ground_truth_through_the_view_path_matches_the_image_view() -> None:
    batch = render_samples("face", list(range(SEED_RANGES["test"].start, 1_000_000_004)), size=64)
    canonical = torch.where(batch.canonical_mask > 0, batch.canonical_depth, 1.1)  # [N, 64, 64]
    depth, covered = depth_in_image_view(canonical, batch.view, 64)
    assert depth.shape == covered.shape == (4, 64, 64)
    seen = batch.mask * covered  # a 2.5D map cannot hold what the canonical view hides
    assert (seen.sum() / batch.mask.sum()) > 0.95
    side_right, mad_right = scores(depth, batch.depth, seen)
    mirrored = batch.view * batch.view.new_tensor([-1, -1, 1, 1, 1, 1])  # pitch and yaw flipped
    wrong, _ = depth_in_image_view(canonical, mirrored, 64)
    side_wrong, mad_wrong = scores(wrong, batch.depth, seen)
    null_side, _ = scores(torch.ones_like(batch.depth), batch.depth, seen)
    assert side_right < 0.15 and mad_right < 4
    assert side_wrong > 10 * side_right and mad_wrong > 5 * mad_right
    assert null_side > 10 * side_right


def test_without_symmetry_turns_every_flip_off() -> None:
    preset = without_symmetry(get_preset("face"))
    assert preset.flip_step1 == preset.flip_step3 == (False,) * 4


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Gan2ShapeModel:
    """A tiny GAN with jointly pretrained networks for the fast rows."""
    G, D = tiny_gan(SIZE)
    out = tmp_path_factory.mktemp("rows") / "tiny-gan2shape.safetensors"
    pretrain(
        G, D, preset=PRESET, out=out, config=PretrainConfig(images=2, steps=1),
        perceptual=DiscriminatorFeatureLoss(D),
    )  # fmt: skip
    return Gan2ShapeModel(G, D, PRESET, out)


def test_the_four_rows_run_and_time_every_image(model) -> None:
    perceptual = DiscriminatorFeatureLoss(model.discriminator)
    with gan2shape_rows(model, perceptual=perceptual) as rows:
        assert rows.names == [
            "GAN2Shape fast", "GAN2Shape fast (no symmetry)",
            "GAN2Shape full", "GAN2Shape full (no symmetry)",
        ]  # fmt: skip
        result = run_shape_benchmark("face", n=2, size=SIZE, methods=rows.names, batch_size=2)
        assert rows.prior in DEPTH_PREDICTORS
    assert [row.method for row in result.rows] == rows.names
    for row in result.rows:
        assert len(row.side) == 2 and all(math.isfinite(value) for value in row.side + row.mad)
        assert len(rows.seconds[row.method]) == 2 and rows.seconds_per_image(row.method) > 0
    assert not {rows.prior, *rows.names} & set(DEPTH_PREDICTORS)


def test_the_prior_row_is_the_presets_prior_on_the_methods_own_masks(model) -> None:
    """The row beside GAN2Shape's is the ellipsoid its preset starts from, which for a preset
    with its own near depth differs from the release's prior row; it is drawn on the mask the
    method gives itself (the whole frame for a preset without masks), not on the true mask."""
    assert not PRESET.use_mask
    shallow = replace(model, preset=model.preset.replace(prior_near=0.97, prior_far=1.01))
    with gan2shape_rows(shallow, qualities=()) as rows:
        assert rows.prior == f"prior of preset {PRESET.name}"
        batch = render_samples("face", [SEED_RANGES["test"].start, 1_000_000_001], size=SIZE)
        inputs = ShapeInputs(batch.image, batch.mask)
        depth = DEPTH_PREDICTORS[rows.prior](SETTINGS)(inputs).depth
        release = DEPTH_PREDICTORS["ellipsoid prior"](SETTINGS)(inputs).depth
    whole_frame = torch.ones_like(batch.mask)
    expected = ellipsoid_prior(whole_frame, preset=PRESET.prior_box, near=0.97, far=1.01)
    assert torch.equal(depth, expected)
    assert not torch.equal(depth, release)
    on_true_mask = ellipsoid_prior(batch.mask, preset=PRESET.prior_box, near=0.97, far=1.01)
    assert not torch.equal(depth, on_true_mask)


def test_own_masks_are_grabcuts_for_presets_that_use_masks() -> None:
    batch = render_samples("car", [SEED_RANGES["test"].start, 1_000_000_001], size=SIZE)
    masks = own_masks(batch.image, PRESET.replace(use_mask=True))
    assert masks.shape == batch.mask.shape
    assert torch.equal(masks[1], object_mask(batch.image[1:2])[0, 0])
    overlap = (masks * batch.mask).sum() / ((masks + batch.mask) > 0).sum()
    assert overlap > 0.8
    assert torch.equal(own_masks(batch.image, PRESET), torch.ones_like(batch.mask))


def test_fast_rows_without_pretrained_networks_say_how_to_make_them(model, tmp_path) -> None:
    missing = Gan2ShapeModel(
        model.generator, model.discriminator, PRESET, tmp_path / "none.safetensors"
    )
    with (
        pytest.raises(GANliftError, match="use --quality full or pretrain them"),
        gan2shape_rows(missing, qualities=("fast",)),
    ):
        pass  # refused before any row is registered or timed
    assert not any(name.startswith("GAN2Shape") for name in DEPTH_PREDICTORS)


def test_rows_start_from_the_models_given_networks_as_reconstruct_does(
    model, tmp_path, monkeypatch
) -> None:
    """A model with starting networks (the release's) runs both qualities from them, needing
    no pretrained file, and fast mode shortens the schedule as reconstruct's does."""
    start = {"depth.weight": torch.zeros(1)}
    given = replace(model, pretrained=tmp_path / "none.safetensors", start=start)
    calls: list[tuple[object, int]] = []

    def recorded(*args, preset, init, **kwargs):
        calls.append((init, preset.prior_steps))
        raise GANliftError("recorded")

    monkeypatch.setattr("engine.benchmarks.gan2shape_rows.recover", recorded)
    for quality in ("fast", "full"):
        with gan2shape_rows(given, qualities=(quality,)) as rows, pytest.raises(GANliftError):
            run_shape_benchmark("face", n=1, size=SIZE, methods=rows.names[:1])
    expected = quality_schedule(PRESET, "fast", given.pretrained, start=start)[0]
    assert [init is start for init, _ in calls] == [True, True]
    assert [steps for _, steps in calls] == [expected.prior_steps, PRESET.prior_steps]


def _tiny_gan2shape_files(folder: Path) -> tuple[Path, Path]:
    """A tiny GAN checkpoint and the tiny preset's JSON file, for `bench shape --gan2shape`."""
    checkpoint = tiny_checkpoint(
        folder / "tiny.safetensors", SIZE, channels={4: 16, 8: 16, 16: 8, 32: 8}, n_mlp=2
    )
    preset_file = folder / "tiny-preset.json"
    preset_file.write_text(PRESET.to_json())
    return checkpoint, preset_file


def test_bench_shape_command_scores_gan2shape_rows(tmp_path, capsys) -> None:
    """`bench shape --gan2shape CKPT --preset FILE` adds the full-quality rows to the table."""
    checkpoint, preset_file = _tiny_gan2shape_files(tmp_path)
    code = main(
        ["bench", "shape", "--n", "2", "--train-samples", "2", "--gan2shape", str(checkpoint),
         "--preset", str(preset_file), "--device", "cpu"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    for row in ("const. null depth", "GAN2Shape full", "GAN2Shape full (no symmetry)"):
        assert row in out
    assert "GAN2Shape full: " in out and "s per image" in out


def test_bench_shape_refuses_a_model_of_another_category(tmp_path, capsys) -> None:
    """A face model's depth maps of cars were scored without a word."""
    checkpoint = tiny_checkpoint(
        tmp_path / "tiny.safetensors", SIZE, channels={4: 16, 8: 16, 16: 8, 32: 8}, n_mlp=2
    )
    preset_file = tmp_path / "tiny-preset.json"
    preset_file.write_text(PRESET.replace(prior_box="face").to_json())
    code = main(
        ["bench", "shape", "--category", "car", "--n", "2", "--gan2shape", str(checkpoint),
         "--preset", str(preset_file), "--device", "cpu"]
    )  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err
    assert "is for faces, not the cars the benchmark renders; score it with --category" in error


@pytest.mark.parametrize(
    ("quality", "qualities"),
    [
        ([], ("full",)),
        (["--quality", "fast"], ("fast",)),
        (["--quality", "both"], ("fast", "full")),
    ],
)
def test_bench_shape_command_scores_the_gan2shape_qualities_asked_for(
    tmp_path, monkeypatch, capsys, quality, qualities
) -> None:
    """--quality chooses the GAN2Shape rows: full by default, both fast and full for both."""
    asked = []

    @contextlib.contextmanager
    def recorded(model, *, qualities):
        asked.append(qualities)
        yield SimpleNamespace(names=[])

    monkeypatch.setattr("engine.cli.synth.gan2shape_rows", recorded)
    checkpoint, preset_file = _tiny_gan2shape_files(tmp_path)
    code = main(
        ["bench", "shape", "--n", "1", "--train-samples", "1", "--gan2shape", str(checkpoint),
         "--preset", str(preset_file), *quality, "--device", "cpu"]
    )  # fmt: skip
    assert code == 0 and asked == [qualities]
