"""Coverage tooling: labels, the label regressor and the GAN/data spread comparison."""

from __future__ import annotations

import math

import pytest
import torch

from engine.errors import GANliftError
from engine.evaluation import (
    COVERAGE_GOAL,
    CoverageReader,
    car_orbit,
    evaluate_coverage,
    fit_label_regressor,
    label_set,
    predict_labels,
    r_squared,
)
from engine.evaluation.coverage import (
    CoverageResult,
    LabelSpread,
    angle_reading,
    label_spreads,
    render_labelled,
)
from engine.evaluation.samples import generate_samples
from engine.synth import SEED_RANGES, render_samples
from engine.synth.scene import car_view
from tests.polls import stop_after
from tests.tiny import tiny_generator

TEST_SEED = SEED_RANGES["test"].start


def test_car_orbit_inverts_the_car_view() -> None:
    azimuth = torch.linspace(-math.pi + 0.1, math.pi - 0.1, 13)
    elevation = torch.linspace(0.0, math.radians(30), 13)
    view = car_view(azimuth, elevation, torch.zeros(13, 3))
    found_azimuth, found_elevation = car_orbit(view)
    torch.testing.assert_close(found_azimuth, azimuth, atol=1e-5, rtol=0)
    torch.testing.assert_close(found_elevation, elevation, atol=1e-5, rtol=0)


def test_face_labels_are_view_and_light_in_degrees() -> None:
    batch = render_samples("face", [TEST_SEED, TEST_SEED + 1], size=16)
    labels = label_set("face").extract(batch)  # [2, 4]
    torch.testing.assert_close(labels[:, 0], torch.rad2deg(batch.view[:, 1]))
    torch.testing.assert_close(labels[:, 1], torch.rad2deg(batch.view[:, 0]))
    torch.testing.assert_close(labels[:, 2:], batch.light[:, 2:])


def test_car_labels_are_azimuth_elevation_and_light() -> None:
    batch = render_samples("car", [TEST_SEED, TEST_SEED + 1], size=16)
    labels = label_set("car").extract(batch)  # [2, 5]
    azimuth, elevation = car_orbit(batch.view)
    torch.testing.assert_close(labels[:, 0], azimuth.cos())
    torch.testing.assert_close(labels[:, 1], azimuth.sin())
    torch.testing.assert_close(labels[:, 2], torch.rad2deg(elevation))
    torch.testing.assert_close(labels[:, 3:], batch.light[:, 2:])


def test_only_gated_labels_are_judged() -> None:
    """A narrow ungated label is neither passed nor failed, and does not fail the result."""
    spread = dict(name="pitch", data_mean=0.0, data_std=1.0, gan_mean=0.0, gan_std=0.1,
                  heldout_r2=1.0)  # fmt: skip
    assert LabelSpread(**spread, gated=False).passed is None
    assert LabelSpread(**spread, gated=True).passed is False
    assert CoverageResult([LabelSpread(**spread, gated=False)], 1, 1, 1).passed


def test_view_labels_are_the_viewpoint_and_the_gates_judge_view_and_light_x() -> None:
    """The view-layer analysis compares every viewpoint label; coverage gates the turn and
    the light's sideways direction."""
    for category in ("face", "car"):
        labels = label_set(category)
        assert labels.view == tuple(name for name in labels.names if not name.startswith("light"))
    assert label_set("face").gated == ("yaw", "light_x")
    assert label_set("car").gated == ("azimuth_cos", "azimuth_sin", "light_x")


def test_unknown_category_names_the_choices() -> None:
    with pytest.raises(GANliftError, match="face, car"):
        label_set("boat")


def test_regressor_learns_a_known_linear_label_of_renders() -> None:
    images = render_samples("face", list(range(TEST_SEED, TEST_SEED + 384)), size=32).image
    weights = torch.linspace(-1, 1, 32)  # a left-to-right ramp
    red_minus_blue = (images[:, 0] - images[:, 2]).mean((1, 2))  # [N]
    brightness_ramp = (images.mean(1) * weights).mean((1, 2))  # [N]
    labels = torch.stack([red_minus_blue, brightness_ramp], 1)  # [N, 2], linear in the pixels
    fit = fit_label_regressor(images[:320], labels[:320], steps=250, noise_std=0.0)
    assert fit.losses[-1] < 0.25 * fit.losses[0]
    r2 = r_squared(predict_labels(fit.model, images[320:]), labels[320:])
    assert (r2 > 0.8).all(), r2


def _noise_images(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` seeded noise images ``[count, 3, 16, 16]`` and two labels ``[count, 2]``."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(count, 3, 16, 16, generator=generator) * 2 - 1
    return images, torch.stack([images.mean((1, 2, 3)), images[:, 0].mean((1, 2))], 1)


def test_the_regressor_refuses_mismatched_or_too_few_images() -> None:
    """Labels must pair up with images, and a label spread needs at least two images."""
    images, labels = _noise_images(4)
    with pytest.raises(GANliftError, match="of the same N"):
        fit_label_regressor(images, labels[:3], steps=1)
    with pytest.raises(GANliftError, match="at least 2 training images"):
        fit_label_regressor(images[:1], labels[:1], steps=1)


def test_the_regressor_stops_when_asked_and_applies_its_pixel_noise() -> None:
    """should_stop ends training before the next step; noise_std changes what it sees."""
    images, labels = _noise_images(4)
    stopped = fit_label_regressor(images, labels, steps=5, should_stop=stop_after(2))
    assert len(stopped.losses) == 2
    clean = fit_label_regressor(images, labels, steps=3, noise_std=0.0).losses
    assert fit_label_regressor(images, labels, steps=3, noise_std=0.0).losses == clean
    assert fit_label_regressor(images, labels, steps=3, noise_std=0.5).losses != clean


def test_predictions_in_batches_cover_every_image() -> None:
    """predict_labels reads every image, whatever the batch size."""
    images, labels = _noise_images(3)
    model = fit_label_regressor(images, labels, steps=1).model
    whole = predict_labels(model, images, batch_size=3)
    assert whole.shape == (3, 2)
    torch.testing.assert_close(predict_labels(model, images, batch_size=2), whole)


def test_r_squared_is_zero_for_the_mean_and_one_for_exact_predictions() -> None:
    """R² compares the residual with the spread about the labels' mean."""
    true = torch.tensor([[10.0, -1.0], [12.0, 1.0], [14.0, 3.0]])
    torch.testing.assert_close(r_squared(true, true), torch.ones(2))
    torch.testing.assert_close(r_squared(true.mean(0).expand(3, -1), true), torch.zeros(2))
    # off by 1 everywhere: residual 3 against the labels' own spread 8 (not the predictions')
    torch.testing.assert_close(r_squared(true + 1, true), torch.full((2,), 1 - 3 / 8))


def test_a_constant_label_trains_and_reads_back_as_that_constant() -> None:
    """A label with no spread is standardised by a floored std, not divided by 0 into NaN."""
    images, labels = _noise_images(4)
    labels[:, 1] = 5.0
    fit = fit_label_regressor(images, labels, steps=3)
    assert all(math.isfinite(loss) for loss in fit.losses)
    predicted = predict_labels(fit.model, images)
    assert torch.isfinite(predicted).all()
    torch.testing.assert_close(predicted[:, 1], torch.full((4,), 5.0), atol=1e-4, rtol=0)


def test_the_learning_rate_follows_a_cosine_down_to_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """Step k of 4 runs at lr · (1 + cos(πk / 4)) / 2."""
    rates: list[float] = []

    class RecordingAdam(torch.optim.Adam):
        def step(self, *args: object, **kwargs: object) -> object:
            rates.append(self.param_groups[0]["lr"])
            return super().step(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    images, labels = _noise_images(4)
    fit_label_regressor(images, labels, steps=4, lr=2e-3)
    expected = [1e-3 * (1 + math.cos(math.pi * k / 4)) for k in range(4)]
    assert rates == pytest.approx(expected, rel=1e-6)


def test_data_against_itself_covers_fully_and_a_collapsed_set_fails() -> None:
    labels = label_set("face")
    _, first = render_labelled("face", TEST_SEED, 400)  # [400, 4]
    _, second = render_labelled("face", TEST_SEED + 400, 400)
    spreads = label_spreads(labels.names, labels.gated, second, first, first)
    for spread in spreads:
        assert 0.85 < spread.ratio < 1.15, spread
        assert spread.heldout_r2 == pytest.approx(1.0)
    assert all(spread.passed for spread in spreads if spread.gated)

    frontal = second[second[:, 0].abs() < 10]  # yaw within ±10° of the data's ±40°
    collapsed = {
        s.name: s for s in label_spreads(labels.names, labels.gated, frontal, first, first)
    }
    assert collapsed["yaw"].ratio < 0.5 < COVERAGE_GOAL
    assert not collapsed["yaw"].passed
    assert collapsed["light_x"].passed


def test_evaluate_coverage_runs_on_a_tiny_gan() -> None:
    generator = tiny_generator(16, style_dim=16, n_mlp=2).eval()
    result = evaluate_coverage(generator, "car", n_samples=24, n_train=48, regressor_steps=10)
    assert [label.name for label in result.labels] == list(label_set("car").names)
    assert (result.n_gan, result.n_data, result.n_train) == (24, 24, 48)
    for label in result.labels:
        assert math.isfinite(label.ratio) and label.data_std > 0
        assert label.gated == (label.name in label_set("car").gated)
    assert result.passed == all(label.passed for label in result.labels if label.gated)
    assert all((label.passed is None) != label.gated for label in result.labels)
    views = result.view_reader(torch.zeros(5, 3, 16, 16))
    assert views.shape == (5, len(label_set("car").view)) and torch.isfinite(views).all()
    columns = [label_set("car").names.index(name) for name in label_set("car").view]
    scale = torch.tensor([result.labels[k].data_std for k in columns])
    samples = generate_samples(generator, 24, seed=0)  # the samples read above
    torch.testing.assert_close(  # readings in units of the data's spread
        result.view_reader(samples) * scale, result.gan_readings[:, columns], rtol=1e-4, atol=1e-5
    )


def test_one_reader_reads_several_gans_as_evaluate_coverage_reads_one() -> None:
    """Fitting once and reading many snapshots gives each exactly its evaluate_coverage
    figures; other generators and other sample seeds read differently off the same renders."""
    settings = {"n_train": 48, "regressor_steps": 10}
    first, second = (tiny_generator(16, style_dim=16, n_mlp=2, seed=s).eval() for s in (0, 1))
    reader = CoverageReader.fit("car", n_heldout=24, **settings)
    direct = evaluate_coverage(first, "car", n_samples=24, **settings)
    readings = [reader.read(first), reader.read(second), reader.read(first, seed=1)]
    assert [label.ratio for label in readings[0].labels] == [label.ratio for label in direct.labels]
    for other in readings[1:]:
        assert [label.data_std for label in other.labels] == [
            label.data_std for label in direct.labels
        ]
        assert [label.gan_std for label in other.labels] != [
            label.gan_std for label in direct.labels
        ]


def test_an_angle_read_with_less_certainty_keeps_its_spread_and_shows_a_shorter_length() -> None:
    """Readings on the whole circle at half length (the GAN) against unit readings (the data):
    the cos / sin stds halve, the angle's spread does not, and the lengths tell why."""
    angles = torch.linspace(0, 2 * math.pi, 401)[:-1]
    circle = torch.stack([angles.cos(), angles.sin()], 1)  # [400, 2]
    other = torch.zeros(400, 3)
    data = torch.cat([circle, other], 1)
    gan = torch.cat([0.5 * circle.roll(7, 0), other], 1)
    names, gated = label_set("car").names, label_set("car").gated
    result = CoverageResult(
        labels=label_spreads(names, gated, gan, data, data), n_gan=400, n_data=400, n_train=1,
        gan_readings=gan, data_readings=data,
    )  # fmt: skip
    assert result.labels[0].ratio == pytest.approx(0.5, abs=1e-3)
    reading = angle_reading(result, "azimuth", "azimuth_cos", "azimuth_sin")
    assert reading.angle_ratio == pytest.approx(1.0, abs=1e-3)
    assert (reading.gan_length, reading.data_length) == pytest.approx((0.5, 1.0), abs=1e-4)
    frontal = angles / 12  # [0°, 30°): a GAN that draws one narrow arc of views, read surely
    result.gan_readings = torch.cat([torch.stack([frontal.cos(), frontal.sin()], 1), other], 1)
    narrow = angle_reading(result, "azimuth", "azimuth_cos", "azimuth_sin")
    assert narrow.angle_ratio < 0.2 and narrow.gan_length == pytest.approx(1.0)
    with pytest.raises(GANliftError, match="keeps no readings"):
        angle_reading(CoverageResult([], 0, 0, 0), "azimuth", "azimuth_cos", "azimuth_sin")


def test_the_length_of_an_even_count_of_readings_is_their_median() -> None:
    """torch's `median` takes the lower of the middle pair (0.4 here)."""
    angles = torch.linspace(0, 2 * math.pi, 5)[:-1]
    lengths = torch.tensor([0.2, 0.8, 0.4, 0.6])[:, None]
    circle = torch.cat([torch.stack([angles.cos(), angles.sin()], 1), torch.zeros(4, 3)], 1)
    names, gated = label_set("car").names, label_set("car").gated
    result = CoverageResult(
        labels=label_spreads(names, gated, circle, circle, circle), n_gan=4, n_data=4, n_train=1,
        gan_readings=circle * lengths, data_readings=circle,
    )  # fmt: skip
    reading = angle_reading(result, "azimuth", "azimuth_cos", "azimuth_sin")
    assert reading.gan_length == pytest.approx(0.5)


def test_spreads_compare_readings_with_readings_not_with_the_true_labels() -> None:
    """A regressor that reads every label at 0.7 of its value shrinks GAN and data readings
    alike: a GAN varying as much as the data must still pass (against the true labels it read
    0.7 and failed)."""
    generator = torch.Generator().manual_seed(0)
    truth = torch.randn(500, 1, generator=generator)
    gan_truth = torch.randn(500, 1, generator=generator)
    (spread,) = label_spreads(("yaw",), ("yaw",), 0.7 * gan_truth, 0.7 * truth, truth)
    assert spread.ratio == pytest.approx(float(gan_truth.std() / truth.std()), rel=1e-5)
    assert spread.passed


def test_a_label_whose_spread_reaches_the_goal_exactly_passes() -> None:
    """The goal is a fraction to reach: a GAN / data std ratio equal to it passes."""
    spread = LabelSpread(name="pitch", data_mean=0.0, data_std=1.0, gan_mean=0.0,
                         gan_std=COVERAGE_GOAL, heldout_r2=1.0, gated=True)  # fmt: skip
    assert spread.ratio == COVERAGE_GOAL
    assert spread.passed
