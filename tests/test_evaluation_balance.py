"""Coverage weights: the analytic bin ratios, clipping, and the command on a tiny GAN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cli import main
from engine.errors import GANliftError
from engine.evaluation.balance import (
    _weighted_std,
    balanced_labels,
    bin_weights,
    check_balance_settings,
    coverage_weights,
)
from engine.evaluation.coverage import CoverageReader
from engine.evaluation.regressor import LabelRegressor, predict_labels
from engine.evaluation.samples import generate_samples
from engine.stylegan2.training.data import find_images, read_sample_weights
from engine.synth import write_dataset
from tests.tiny import tiny_checkpoint, tiny_generator, write_random_images


def spread_evenly(shares: list[float], count: int) -> torch.Tensor:
    """`count` readings ``[count, 1]`` in [0, 1) with the given share in each quarter."""
    parts = [
        torch.linspace(0.25 * k + 0.01, 0.25 * k + 0.24, round(share * count))
        for k, share in enumerate(shares)
    ]
    return torch.cat(parts).unsqueeze(1)


def test_a_bin_the_gan_draws_at_a_quarter_of_its_data_share_weighs_four_times_more() -> None:
    data = spread_evenly([0.25] * 4, 4000)
    gan = spread_evenly([0.4, 0.4, 0.1, 0.1], 100_000)
    weights, [(edges, data_share, gan_share)] = bin_weights(data, gan, bins=4, max_weight=8)
    assert torch.allclose(edges, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64), atol=0.01)
    assert torch.allclose(data_share, torch.full((4,), 0.25, dtype=torch.float64))
    assert torch.allclose(gan_share, torch.tensor([0.4, 0.4, 0.1, 0.1], dtype=torch.float64),
                          atol=1e-4)  # fmt: skip
    assert weights.mean().item() == pytest.approx(1.0)
    low, high = weights[data[:, 0] < 0.5], weights[data[:, 0] > 0.5]
    assert torch.allclose(low, torch.full_like(low, 0.4), atol=1e-3)
    assert torch.allclose(high, torch.full_like(high, 1.6), atol=1e-3)
    same, _ = bin_weights(data, data, bins=4, max_weight=8)
    assert torch.allclose(same, torch.ones_like(same), atol=1e-3)


def test_weights_multiply_over_labels_and_are_clipped() -> None:
    data = torch.cat([spread_evenly([0.25] * 4, 4000)] * 2, 1)  # two labels, equal readings
    gan = torch.cat([spread_evenly([0.4, 0.4, 0.1, 0.1], 100_000)] * 2, 1)
    weights, _ = bin_weights(data, gan, bins=4, max_weight=8)
    high, low = weights[data[:, 0] > 0.5], weights[data[:, 0] < 0.5]
    assert torch.allclose(high / low, torch.full_like(high, 16.0), rtol=1e-3)  # 4 × 4
    clipped, _ = bin_weights(data, gan, bins=4, max_weight=2)
    assert clipped.max() / clipped.min() == pytest.approx(4.0)
    # each names the one setting at fault (one sentence named all three with "got 8, 0.5, 4000")
    with pytest.raises(GANliftError, match=r"bins from 2 \(--bins\), got 1\.$"):
        bin_weights(data, gan, bins=1, max_weight=8)
    for largest in (float("nan"), 0.5, float("inf")):  # NaN wrote NaN weights
        with pytest.raises(GANliftError, match=r"1 or more \(--max-weight\), got (nan|0\.5|inf)"):
            bin_weights(data, gan, bins=4, max_weight=largest)
    with pytest.raises(GANliftError, match=r"\(--samples\) of at least the 4 bins, got 3\.$"):
        bin_weights(data, gan[:3], bins=4, max_weight=8)
    with pytest.raises(GANliftError, match=r"\(--samples\) of at least the 4 bins, got 8\.5\.$"):
        check_balance_settings(bins=4, max_weight=8, samples=8.5)


def test_the_command_writes_weights_train_gan_reads(tmp_path: Path, capsys) -> None:
    checkpoint = tiny_checkpoint(tmp_path / "tiny.safetensors", 16, style_dim=16, n_mlp=2)
    images = write_random_images(tmp_path / "images")
    out = tmp_path / "weights.json"
    code = main([
        "coverage-weights", str(checkpoint), "--category", "car", "--data", str(images),
        "--out", str(out), "--samples", "32", "--bins", "2", "--train-renders", "48",
        "--regressor-steps", "5",
    ])  # fmt: skip
    assert code == 0
    weights = read_sample_weights(out, images, find_images(images))
    assert len(weights) == 8 and weights.mean().item() == pytest.approx(1.0, abs=1e-5)
    assert sorted(json.loads(out.read_text())) == [f"{k}.png" for k in range(8)]
    printed = capsys.readouterr().out
    assert "azimuth_cos" in printed and "light_x" in printed and f"wrote {out}" in printed
    light_only = tmp_path / "light.json"
    main([
        "coverage-weights", str(checkpoint), "--category", "car", "--data", str(images),
        "--out", str(light_only), "--labels", "light_x", "--samples", "32", "--bins", "2",
        "--train-renders", "48", "--regressor-steps", "5",
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert "light_x" in printed and "azimuth" not in printed
    code = main([
        "coverage-weights", str(checkpoint), "--category", "car", "--data", str(images),
        "--out", str(tmp_path / "typo.json"), "--labels", "yaw",
    ])  # fmt: skip
    assert (
        code == 2 and "Unknown label 'yaw' for car; use some of azimuth" in capsys.readouterr().err
    )
    code = main([
        "coverage-weights", str(checkpoint), "--category", "car", "--data",
        str(tmp_path / "missing"), "--out", str(tmp_path / "none.json"),
    ])  # fmt: skip
    assert code == 2 and "does not exist; pass --data" in capsys.readouterr().err
    assert not (tmp_path / "none.json").exists()
    code = main([  # refused before the regressor is fitted, not after
        "coverage-weights", str(tmp_path / "missing.pt"), "--category", "car", "--data",
        str(images), "--out", str(tmp_path),
    ])  # fmt: skip
    assert code == 2 and "is a folder; choose a file name" in capsys.readouterr().err


def test_weighted_std_weighs_each_image() -> None:
    values = torch.tensor([[0.0], [3.0]])
    assert _weighted_std(values, torch.tensor([1.0, 1.0])).item() == pytest.approx(1.5)
    # weights 2:1 give mean 1 and variance (2·1 + 1·4) / 3 = 2
    assert _weighted_std(values, torch.tensor([2.0, 1.0])).item() == pytest.approx(2**0.5)


def test_gan_shares_are_add_one_smoothed_so_a_bin_the_gan_never_draws_weighs_finitely() -> None:
    """Each bin gets one pseudo-count, so an empty GAN bin gives a finite weight, not max."""
    data = torch.tensor([[0.1], [0.2], [0.6], [0.7]])
    gan = torch.full((4, 1), 0.1)  # every sample in the lower bin
    weights, [(_, data_share, gan_share)] = bin_weights(data, gan, bins=2, max_weight=100)
    assert torch.allclose(data_share, torch.tensor([0.5, 0.5], dtype=torch.float64))
    assert torch.allclose(gan_share, torch.tensor([5 / 6, 1 / 6], dtype=torch.float64))
    # ratios 0.6 and 3 scaled to mean 1
    expected = torch.tensor([1 / 3, 1 / 3, 5 / 3, 5 / 3], dtype=torch.float64)
    assert torch.allclose(weights, expected)


def test_balance_settings_at_their_limits_are_accepted() -> None:
    """max_weight 1 (no reweighting) and exactly as many GAN samples as bins are valid."""
    data = torch.tensor([[0.1], [0.2], [0.6], [0.7]])
    gan = torch.tensor([[0.1], [0.1]])
    uniform, _ = bin_weights(data, gan, bins=2, max_weight=1)
    assert torch.equal(uniform, torch.ones(4, dtype=torch.float64))


def test_balancing_defaults_to_the_gated_labels() -> None:
    """Without --labels the weights counter the labels the coverage goal judges."""
    assert balanced_labels("car", None) == ("azimuth_cos", "azimuth_sin", "light_x")
    assert balanced_labels("face", None) == ("yaw", "light_x")
    assert balanced_labels("car", ["elevation"]) == ("elevation",)


def test_coverage_weights_read_the_training_images_as_stored(tmp_path: Path) -> None:
    """The data readings come from the unmirrored images, so the weights match them."""
    generator = tiny_generator(16, style_dim=16, n_mlp=2)
    images = write_random_images(tmp_path / "images")
    torch.manual_seed(0)
    reader = CoverageReader("car", LabelRegressor(5), torch.zeros(2, 5), torch.zeros(2, 5), 2)
    result = coverage_weights(reader, generator, images, samples=8, bins=2, max_weight=8)
    columns = [0, 1, 3]  # the gated azimuth_cos, azimuth_sin and light_x
    pixels = np.stack([np.asarray(Image.open(path)) for path in find_images(images)])
    stored = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1  # [N, 3, 16, 16]
    data = predict_labels(reader.model, stored)[:, columns].double()
    gan = predict_labels(reader.model, generate_samples(generator, 8, seed=1))[:, columns]
    expected, _ = bin_weights(data, gan, bins=2, max_weight=8)
    assert torch.allclose(result.weights, expected)
    assert torch.allclose(result.data_std, data.std(0, correction=0))
    assert torch.allclose(result.data_std, _weighted_std(data, torch.ones(len(data))))
    assert not torch.allclose(expected, torch.ones_like(expected))  # so the stds below differ
    assert torch.allclose(result.weighted_std, _weighted_std(data, expected))
    assert not torch.allclose(result.weighted_std, result.data_std)


def test_coverage_weights_weigh_every_image_of_a_folder_larger_than_a_read_chunk(
    tmp_path: Path,
) -> None:
    """520 images are read in chunks of 512 and 8; each gets its weight, as read at once."""
    generator = tiny_generator(16, style_dim=16, n_mlp=2)
    images = write_random_images(tmp_path / "images", [f"{k}.png" for k in range(520)])
    torch.manual_seed(0)
    reader = CoverageReader("car", LabelRegressor(5), torch.zeros(2, 5), torch.zeros(2, 5), 2)
    result = coverage_weights(reader, generator, images, samples=8, bins=2, max_weight=8)
    assert len(result.names) == len(result.weights) == 520
    pixels = np.stack([np.asarray(Image.open(path)) for path in find_images(images)])
    stored = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1  # [N, 3, 16, 16]
    data = predict_labels(reader.model, stored)[:, [0, 1, 3]].double()
    gan = predict_labels(reader.model, generate_samples(generator, 8, seed=1))[:, [0, 1, 3]]
    expected, _ = bin_weights(data, gan, bins=2, max_weight=8)
    assert torch.allclose(result.weights, expected)


def test_coverage_weights_refuse_a_synthetic_set_of_another_category(tmp_path: Path) -> None:
    """A face set's images read by a car regressor would weigh by meaningless labels."""
    write_dataset(tmp_path / "faces", "face", n=2, size=16)
    reader = CoverageReader("car", LabelRegressor(5), torch.zeros(2, 5), torch.zeros(2, 5), 2)
    generator = tiny_generator(16, style_dim=16, n_mlp=2)
    with pytest.raises(GANliftError, match=r"it is a synthetic face set .* pass --category face"):
        coverage_weights(reader, generator, tmp_path / "faces" / "images", samples=8, bins=2)
