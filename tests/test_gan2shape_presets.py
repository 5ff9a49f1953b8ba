"""GAN2Shape presets: the release's settings, step lengths by step, JSON round trips and
rejected keys."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import torch

from engine.config import config_from_dict
from engine.errors import GANliftError
from engine.gan2shape import load_model
from engine.gan2shape.presets import PRESETS, Gan2ShapePreset, StepLengths, get_preset
from engine.gan2shape.recover import check_generator
from engine.gan2shape.sampling import view_distribution
from tests.tiny import tiny_generator


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_json(name: str) -> None:
    preset = PRESETS[name]
    again = Gan2ShapePreset.from_json(preset.to_json())
    assert again == preset
    assert isinstance(again.first_stage, StepLengths)
    assert isinstance(again.view_cov[0], tuple)


def test_release_settings() -> None:
    face, cat, car, church = (get_preset(name) for name in ("face", "cat", "car", "church"))
    assert (face.first_stage, face.later_stages) == (
        StepLengths(600, 600, 400),
        StepLengths(200, 500, 300),
    )
    assert (car.first_stage, car.later_stages) == (
        StepLengths(700, 700, 600),
        StepLengths(200, 500, 400),
    )
    assert church.later_stages == car.later_stages and church.prior_far == 1.0
    assert [p.gan_size for p in (face, cat, car, church)] == [128, 256, 512, 256]
    assert all(p.networks.image_size == 128 and p.num_stages == 4 for p in (face, cat, car))
    assert cat.crop == pytest.approx(170 / 256) and face.crop is None
    assert face.flip_step3 == (True, False, False, False) and not any(car.flip_step3)
    assert face.view_yaw_scale == 1.2 and car.view_yaw_scale == 1.0
    assert face.relative_offset and not car.relative_offset and car.use_mask
    assert face.lr == 1e-4 and face.perceptual_weight == 0.5 and face.smooth_weight == 0.01
    assert face.prior_steps == 1000 and face.prior_box == "face" and car.prior_box == "car"
    assert get_preset("default-face").networks.image_size == 64


def test_step_lengths_are_read_by_step_number() -> None:
    """Steps 1, 2 and 3 read their own lengths, not each other's."""
    lengths = StepLengths(1, 2, 3)
    assert [lengths.of(step) for step in (1, 2, 3)] == [1, 2, 3]


def test_unknown_keys_are_rejected_at_every_level() -> None:
    data = json.loads(PRESETS["face"].to_json())
    data["learning_rate"] = 1.0
    with pytest.raises(GANliftError, match="unknown keys \\['learning_rate'\\]"):
        Gan2ShapePreset.from_json(json.dumps(data))
    data = json.loads(PRESETS["face"].to_json())
    data["first_stage"]["step4"] = 10
    with pytest.raises(GANliftError, match=r"preset\.first_stage has unknown keys"):
        Gan2ShapePreset.from_json(json.dumps(data))


def test_invalid_presets_raise_user_errors() -> None:
    with pytest.raises(GANliftError, match="not valid JSON"):
        Gan2ShapePreset.from_json("{")
    with pytest.raises(GANliftError, match="one flag per stage"):
        PRESETS["face"].replace(num_stages=2)
    with pytest.raises(GANliftError, match=r"preset is missing keys \['gan_size'"):
        Gan2ShapePreset.from_json('{"name": "x"}')
    with pytest.raises(GANliftError, match="Unknown GAN2Shape preset 'horse'"):
        get_preset("horse")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("lr", "fast", 'preset.lr must be a finite number, got "fast"'),
        ("smooth_weight", float("nan"), "preset.smooth_weight must be a finite number, got NaN"),
        ("lr", float("inf"), "preset.lr must be a finite number, got Infinity"),
        ("batch_size", 2.5, "preset.batch_size must be a whole number, got 2.5"),
        ("use_mask", 1, "preset.use_mask must be true or false, got 1"),
        ("lr", -1, "needs lr > 0"),
        ("camera", {"min_depth": 1.2, "max_depth": 1.1}, "0 < min_depth < max_depth"),
        ("camera", {"min_depth": 1.0, "max_depth": 1.0}, "0 < min_depth < max_depth"),
        ("camera", {"min_depth": 0.0, "max_depth": 1.0}, "0 < min_depth < max_depth"),
        ("prior_near", 1.5, "prior_near below prior_far by at most 0.4"),  # a math domain error
        ("prior_near", 0.1, "prior_near below prior_far by at most 0.4"),
        ("pseudo_light", {"dx": [1]}, "preset.pseudo_light.dx must be a list of 2 values, got [1]"),
        ("view_cov", [[0.01] * 5] + [[0.0] * 6] * 5, "a view_cov of 6 rows of 6 values"),
        ("view_cov", [[-0.01 * (i == j) for j in range(6)] for i in range(6)], "a covariance"),
        ("view_cov", [[float(j > i) for j in range(6)] for i in range(6)], "(symmetric,"),
        ("gan_size", 0, "gan_size must be a generator's image side (a power of two from 4), got 0"),
        ("gan_size", 96, "a power of two from 4), got 96"),
        ("gan_size", 2, "a power of two from 4), got 2"),
        ("prior_near", 1.02, "prior_near below prior_far by at most 0.4"),  # a flat prior
        ("prior_near", 0.52, "prior_near below prior_far by at most 0.4"),  # a wall at the rim
        ("pseudo_light", {"dx": ["a", 1]}, 'pseudo_light.dx must be a finite number, got "a"'),
        ("smooth_weight", -1, "needs smooth_weight >= 0, got -1.0"),
        ("discriminator_blocks", -3, "needs discriminator_blocks >= 0, got -3"),  # compared 2
        ("collect_batches", 0, "needs collect_batches >= 1, got 0"),
        ("num_stages", 0, "needs num_stages >= 1, got 0"),
        ("view_yaw_scale", -3, "needs view_yaw_scale >= 0, got -3.0"),
        ("camera", {"rotation_degrees": -5.0}, "needs camera.rotation_degrees > 0, got -5.0"),
        ("name", " ", "A preset needs a name"),
        ("crop", 0, "crop must be in (0, 1], got 0"),
        ("batch_size", 0, "needs batch_size >= 1, got 0"),
        ("networks", {"width": 0}, "fix the preset's networks.width, got 0"),
        ("first_stage", {"step1": 1, "step2": 1, "step3": -1}, "the preset's step3, got -1"),
        ("light_mean", [0.0, 0.0, 0.0], "4-value light_mean"),
        ("flip_step1", "yes", 'preset.flip_step1 must be a list, got "yes"'),  # not 3 flags
        ("batch_size", 10**400, f"below 2**63 in size, got 1{'0' * 59}... (401 characters)."),
        ("batch_size", 2**63, "below 2**63 in size, got 9223372036854775808."),
        ("discriminator_blocks", -(2**63), "below 2**63 in size, got -9223372036854775808."),
        ("lr", -(10**400), "preset.lr must be a finite number, got -100000"),  # OverflowError
    ],
)
def test_wrong_values_are_named_when_the_preset_is_read(key, value, message) -> None:
    data = json.loads(PRESETS["face"].to_json()) | {key: value}
    with pytest.raises(GANliftError, match=re.escape(message)):
        Gan2ShapePreset.from_json(json.dumps(data))


def test_whole_numbers_in_a_preset_read_as_the_floats_they_stand_for() -> None:
    data = json.loads(PRESETS["face"].to_json())
    data |= {"view_mean": [0] * 6, "view_cov": [[int(i == j) for j in range(6)] for i in range(6)]}
    data |= {"batch_size": 8.0, "lr": 1}
    preset = Gan2ShapePreset.from_json(json.dumps(data))
    assert preset.view_mean == (0.0,) * 6 and isinstance(preset.view_cov[2][2], float)
    assert preset.batch_size == 8 and isinstance(preset.batch_size, int) and preset.lr == 1.0
    assert view_distribution(preset, torch.device("cpu")).cov.dtype == torch.float32


def test_preset_files_that_are_missing_or_binary_are_one_sentence(tmp_path) -> None:
    with pytest.raises(GANliftError, match=r"Preset file .*none.json does not exist"):
        Gan2ShapePreset.from_json_file(tmp_path / "none.json")
    (tmp_path / "photo.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(GANliftError, match=r"photo.json is not JSON text"):
        Gan2ShapePreset.from_json_file(tmp_path / "photo.json")
    (tmp_path / "face.json").write_text(PRESETS["face"].to_json())
    assert Gan2ShapePreset.from_json_file(tmp_path / "face.json") == PRESETS["face"]


def test_a_generator_of_another_size_is_pointed_to_a_preset_that_fits() -> None:
    """A size some preset has names those presets; another size is told how to make one."""
    with pytest.raises(GANliftError) as refused:
        check_generator(tiny_generator(64), get_preset("face"))
    assert str(refused.value) == (
        "Preset 'face' is for 128-px generators but this one makes 64-px images; choose a "
        "preset for it (default-face, default-car)."
    )
    with pytest.raises(GANliftError, match=r'with "gan_size": 32 \(the commands\' --preset FILE'):
        check_generator(tiny_generator(32), get_preset("default-face"))
    check_generator(tiny_generator(64), get_preset("default-car"))


def test_a_preset_json_file_stands_wherever_a_preset_name_does(tmp_path) -> None:
    """get_preset (and so load_model, recover and the app's --category) read a .json path."""
    path = tmp_path / "mine.json"
    path.write_text(get_preset("car").replace(name="mine", prior_far=1.0).to_json())
    mine = get_preset(str(path))
    assert mine.name == "mine" and mine.prior_far == 1.0
    with pytest.raises(GANliftError, match=r"none\.json does not exist"):
        get_preset(str(tmp_path / "none.json"))
    assert get_preset(path) == mine == get_preset(mine)  # a pathlib path failed with AttributeError
    face = tmp_path / "face"  # any path is a file, whatever its name
    face.write_text(PRESETS["default-face"].to_json())
    model = load_model("default-face", preset=face)
    assert model.preset == PRESETS["default-face"]


def test_a_covariance_fitted_to_samples_passes_its_rounding() -> None:
    """A release's view covariance is fitted to samples: asymmetric or below zero only by
    float rounding, which the checks must not refuse; fixed-length lists become floats."""
    data = json.loads(PRESETS["face"].to_json())
    cov = [list(row) for row in data["view_cov"]]
    cov[0][1], cov[1][0] = 1e-9, 1e-9 + 1e-16  # asymmetric in its last bits
    cov[5][5] = -1e-13  # the zero variance of z translation, fitted
    preset = Gan2ShapePreset.from_json(json.dumps(data | {"view_cov": cov}))
    assert preset.view_cov[5][5] == -1e-13
    dx = Gan2ShapePreset.from_json(json.dumps(data | {"pseudo_light": {"dx": [1, 2]}}))
    assert dx.pseudo_light.dx == (1.0, 2.0) and isinstance(dx.pseudo_light.dx[0], float)


def test_the_largest_whole_number_a_config_holds_is_int64_s() -> None:
    @dataclasses.dataclass
    class Count:
        n: int = 0

    assert config_from_dict(Count, {"n": 2**63 - 1}).n == 2**63 - 1
    assert config_from_dict(Count, {"n": -(2**63) + 1}).n == -(2**63) + 1
    with pytest.raises(GANliftError, match="below 2\\*\\*63 in size"):
        config_from_dict(Count, {"n": -(2**63)})


def test_a_whole_frame_crop_and_no_prior_fit_are_valid_settings() -> None:
    """crop 1 keeps the whole frame (as None does) and 0 prior steps skip the prior fit."""
    face = PRESETS["face"]
    assert face.replace(crop=1.0).crop == 1.0
    assert face.replace(prior_steps=0).prior_steps == 0


def test_every_presets_prior_cap_lies_inside_its_depth_range() -> None:
    """The depth net outputs depths in (min_depth, max_depth): a prior centre nearer than
    min_depth could never be fitted (default-face's range is [0.968, 1.032])."""
    for name, preset in PRESETS.items():
        camera = preset.camera
        assert camera.min_depth < preset.prior_near < preset.prior_far <= camera.max_depth, name


def test_default_model_settings() -> None:
    """The settings the default models' figures in the README were measured with."""
    face, car = get_preset("default-face"), get_preset("default-car")
    for preset in (face, car):
        assert preset.smooth_weight == 0.5 and preset.batch_size == 8 and preset.gan_size == 64
    assert get_preset("face").batch_size == 16 and get_preset("car").batch_size == 8
    assert face.prior_near == pytest.approx(0.9733) and car.prior_near == pytest.approx(0.975)


def test_only_face_presets_frame_photos_around_a_face() -> None:
    """Cars, cats and churches are framed whole; only face photos are cropped around a face."""
    assert [name for name, preset in PRESETS.items() if preset.frames_faces] == [
        "face",
        "default-face",
    ]


def test_a_presets_name_comes_before_a_file_of_that_name(tmp_path, monkeypatch) -> None:
    """A file in the working folder named like a preset does not replace the preset."""
    (tmp_path / "face").write_text(PRESETS["car"].replace(name="face").to_json())
    monkeypatch.chdir(tmp_path)
    assert get_preset("face") is PRESETS["face"]
