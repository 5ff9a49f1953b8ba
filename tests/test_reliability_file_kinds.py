"""A path that exists but is the wrong kind of thing (a folder for a file, a picture for a
JSON, a file for a folder) is refused saying so, naming the option or file it was given as,
rather than as a missing path or a library's raw error (an error-message audit found each)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.batch import find_images
from engine.cli import main as engine_main
from engine.errors import GANliftError
from engine.evaluation.training_run import recorded_training_run
from engine.gan2shape.presets import PRESETS, Gan2ShapePreset, get_preset
from engine.styleganr.labelling import load_hand_labels
from engine.styleganr.view_codes import load_view_codes
from engine.synth import write_dataset


@pytest.fixture
def kinds(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(a folder, a text file, a path with nothing there)."""
    folder = tmp_path / "adir"
    folder.mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("not what was asked for")
    return folder, text, tmp_path / "nothing"


def test_an_image_folder_that_is_a_file_is_said_to_be_one(kinds) -> None:
    _, text, _ = kinds
    with pytest.raises(GANliftError, match=r"notes\.txt is a file, not a folder of images"):
        find_images(text)


def test_a_preset_file_is_read_by_any_name_and_its_errors_name_the_file(kinds, tmp_path) -> None:
    """`launch.py --category mypreset.txt` was told 'Unknown GAN2Shape preset'; a copied preset
    with a bad crop read "Preset 'default-face' crop ...", as if the shipped one were broken."""
    folder, _, _ = kinds
    data = json.loads(PRESETS["default-face"].to_json())
    mine = tmp_path / "mypreset.txt"
    mine.write_text(json.dumps(data))
    assert get_preset(str(mine)) == PRESETS["default-face"]
    mine.write_text(json.dumps(data | {"crop": 2}))
    refusal = f"In the preset file {mine}: Preset 'default-face' crop must be in (0, 1], got 2.0."
    with pytest.raises(GANliftError, match=f"^{re.escape(refusal)}$"):
        get_preset(str(mine))
    mine.write_text(json.dumps(data | {"lr": "fast"}))
    with pytest.raises(GANliftError, match=r"mypreset\.txt: preset\.lr must be a finite number"):
        get_preset(str(mine))
    with pytest.raises(GANliftError, match=r"Preset file .*adir is a folder; pass the JSON"):
        Gan2ShapePreset.from_json_file(folder)


def test_an_evaluation_json_that_is_a_folder_or_a_snapshot_without_a_step(kinds) -> None:
    folder, _, _ = kinds
    with pytest.raises(GANliftError, match=r"adir is a folder; pass an evaluation\.json"):
        recorded_training_run(folder, {"step": 1, "kimg": 1.0})
    record = folder / "evaluation.json"
    record.write_text(json.dumps({"training": {"snapshot_step": 4, "snapshot_kimg": 0.1}}))
    for extra in ({}, {"step": None}):  # read "step None"
        with pytest.raises(GANliftError, match=r"records no training step"):
            recorded_training_run(record, extra)


@pytest.mark.parametrize("kind", ["folder", "text", "nothing"])
def test_view_codes_and_hand_labels_of_the_wrong_kind(kinds, kind: str) -> None:
    path = dict(zip(("folder", "text", "nothing"), kinds, strict=True))[kind]
    said = {"folder": "is a folder", "text": "is not", "nothing": "does not exist"}[kind]
    with pytest.raises(GANliftError, match=said) as refused:
        load_view_codes(path)
    assert "view-code file" in str(refused.value)
    with pytest.raises(GANliftError, match=f"^The hand labels file .* {said}"):
        load_hand_labels(path)


def test_pretrained_weights_given_as_another_file_name_it(kinds, capsys) -> None:
    """`gan2shape-check --weights notes.txt` was told of 'notes.txt.safetensors'."""
    _, text, _ = kinds
    code = engine_main(["gan2shape-check", "--model", "default-face", "--weights", str(text)])
    assert code == 2
    error = capsys.readouterr().err
    assert f"--weights {text} holds no pretrained networks" in error
    missing = text.with_name("typo")  # not there at all: the file looked for is named
    check = ["gan2shape-check", "--model", "default-face", "--weights"]
    assert engine_main([*check, str(missing)]) == 2
    assert f"No pretrained networks at {missing}.safetensors;" in capsys.readouterr().err


def test_counts_of_the_synth_and_labelling_commands_name_their_options(tmp_path) -> None:
    """'Shard and batch sizes must be at least 1' named neither which nor the option."""
    with pytest.raises(GANliftError, match=r"^The shard size \(--shard-size\) must be at least 1"):
        write_dataset(tmp_path / "faces", "face", n=2, size=16, shard_size=0)
    with pytest.raises(GANliftError, match=r"^The number of samples \(--n\) must be at least 1"):
        write_dataset(tmp_path / "faces", "face", n=0, size=16)
    assert not (tmp_path / "faces").exists()
