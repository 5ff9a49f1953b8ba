"""The training loop on a tiny model: outputs that load, exact resume, stopping, errors."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import errno
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cli import main
from engine.errors import GANliftError
from engine.stylegan2 import load_checkpoint, save_pt_checkpoint
from engine.stylegan2.safe_pickle import load_torch_file
from engine.stylegan2.training import TrainConfig, loop, train_gan
from engine.stylegan2.training import data as training_data
from engine.stylegan2.training.data import ImageFolder, to_model_images
from engine.stylegan2.training.log import JsonlLog
from engine.stylegan2.training.loop import STATE_FILE
from engine.stylegan2.training.state import TrainingState, read_state_file
from engine.versions import software_versions
from tests.polls import stop_on_signals_after
from tests.tiny import NUMBERED_PNGS, tiny_train_config, write_random_images

CPU = torch.device("cpu")
TINY = tiny_train_config(batch=4, kimg=0.016, snapshot_kimg=0.008, sample_count=4)  # 4 steps


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight seeded random non-square RGB images."""
    return write_random_images(tmp_path_factory.mktemp("images"), height=20, width=24)


def with_changes(config: TrainConfig, **changes: object) -> TrainConfig:
    """A copy of `config` with some fields replaced."""
    return TrainConfig.from_dict(config.to_dict() | changes)


def assert_same_state(left: dict, right: dict, path: str = "") -> None:
    """Nested dicts/lists of tensors and plain values are exactly equal."""
    if isinstance(left, dict):
        assert left.keys() == right.keys(), path
        for key in left:
            assert_same_state(left[key], right[key], f"{path}.{key}")
    elif isinstance(left, list | tuple):
        assert len(left) == len(right), path
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_same_state(a, b, f"{path}[{index}]")
    elif isinstance(left, torch.Tensor):
        assert torch.equal(left, right), path
    else:
        assert left == right, path


def test_a_short_run_writes_loadable_models_a_log_and_samples(
    image_folder: Path, tmp_path: Path
) -> None:
    result = train_gan(image_folder, tmp_path, config=TINY, device=CPU)
    assert (result.step, result.kimg, result.stopped_early) == (4, 0.016, False)
    state = load_torch_file(result.state_path)
    assert state["step"] == 4 and state["config"] == TINY.to_dict()

    ours = load_checkpoint(result.model_path)
    common = load_checkpoint(result.pt_path)
    for checkpoint in (ours, common):
        assert_same_state(checkpoint.generator.state_dict(), state["G_ema"])
        assert_same_state(checkpoint.discriminator.state_dict(), state["D"])
        assert torch.equal(checkpoint.latent_avg.reshape(-1), state["latent_avg"])
    seeded = torch.Generator().manual_seed(TINY.seed)  # the truncation centre of the model
    centre = ours.generator.mean_latent(loop.LATENT_AVG_SAMPLES, generator=seeded)[0]  # shipped
    assert torch.equal(state["latent_avg"], centre)  # (G_ema's, not the raw G's)
    raw = load_torch_file(result.pt_path)
    assert {"g_ema", "g", "d", "latent_avg", "args"} <= raw.keys()
    assert_same_state(raw["g"], state["G"])  # the trained generator, not its average
    assert not all(torch.equal(raw["g"][k], raw["g_ema"][k]) for k in raw["g"])
    assert vars(raw["args"]) == {"size": 16, "latent": 16, "n_mlp": 2}

    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [record for record in records if "loss_d" in record]
    assert [record["step"] for record in steps] == [1, 2, 3, 4]
    for record in steps:
        values = [record[key] for key in ("loss_d", "loss_g", "sec_per_step")]
        assert all(np.isfinite(values))
    assert "r1" in steps[0] and "pl" in steps[0] and "r1" not in steps[1]
    assert records[0]["event"] == "start" and records[0]["software"] == software_versions()
    assert TrainConfig.load_json(tmp_path / "config.json") == TINY
    grids = sorted(path.name for path in (tmp_path / "samples").iterdir())
    assert grids == ["step_0000002.png", "step_0000004.png"]
    with Image.open(tmp_path / "samples" / grids[0]) as picture:
        assert picture.size == (4 * 16, 16)


def test_two_steps_then_resume_equals_four_steps(image_folder: Path, tmp_path: Path) -> None:
    straight = train_gan(image_folder, tmp_path / "straight", config=TINY, device=CPU)
    half = with_changes(TINY, kimg=0.008)
    train_gan(image_folder, tmp_path / "resumed", config=half, device=CPU)
    resumed = train_gan(image_folder, tmp_path / "resumed", config=TINY, device=CPU, resume=True)
    assert resumed.step == 4
    expected = load_torch_file(straight.state_path)
    actual = load_torch_file(resumed.state_path)
    assert_same_state(actual, expected)


def test_a_compact_state_resumes_the_run(image_folder: Path, tmp_path: Path, capsys) -> None:
    """compact-state keeps step, RNG and float16 networks; resuming from it reaches the end and
    stays close to the exact resume (only Adam's moments start afresh)."""
    half = with_changes(TINY, kimg=0.008)
    first = train_gan(image_folder, tmp_path / "run", config=half, device=CPU)
    compact_run = tmp_path / "compact"
    assert main(["compact-state", str(first.state_path), str(compact_run / STATE_FILE)]) == 0
    assert "MiB" in capsys.readouterr().out
    full, compact = load_torch_file(first.state_path), load_torch_file(compact_run / STATE_FILE)
    assert "G_optim" not in compact and compact["step"] == full["step"] == 2
    for name, value in full["G_ema"].items():
        assert compact["G_ema"][name].dtype == (
            torch.float16 if value.is_floating_point() else value.dtype
        )
        torch.testing.assert_close(
            compact["G_ema"][name].to(value.dtype), value, rtol=1e-3, atol=1e-4
        )
    assert_same_state(compact["rng"], full["rng"])

    resumed = train_gan(image_folder, compact_run, config=TINY, device=CPU, resume=True)
    exact = train_gan(image_folder, tmp_path / "run", config=TINY, device=CPU, resume=True)
    assert (resumed.step, resumed.stopped_early) == (4, False)
    approx, reference = load_torch_file(resumed.state_path), load_torch_file(exact.state_path)
    for name, value in reference["G_ema"].items():
        if value.is_floating_point():
            torch.testing.assert_close(approx["G_ema"][name], value, rtol=0.05, atol=0.05)


def test_a_finished_state_copied_alone_gets_its_models(image_folder: Path, tmp_path: Path) -> None:
    """A committed state copied into a fresh folder (train_default.sh) is resumed finished: its
    models are written from it, not claimed unwritten; a state past --kimg is refused."""
    first = train_gan(image_folder, tmp_path / "run", config=TINY, device=CPU)
    copied = tmp_path / "copied"
    copied.mkdir()
    (copied / STATE_FILE).write_bytes(first.state_path.read_bytes())
    again = train_gan(image_folder, copied, config=TINY, device=CPU, resume=True)
    assert again.step == 4 and again.model_path.is_file() and again.pt_path.is_file()
    assert_same_state(
        load_checkpoint(again.model_path).generator.state_dict(),
        load_checkpoint(first.model_path).generator.state_dict(),
    )
    shorter = with_changes(TINY, kimg=0.008)
    with pytest.raises(GANliftError, match=r"already has 0.016 kimg of the 0.008 planned; raise"):
        train_gan(image_folder, copied, config=shorter, device=CPU, resume=True)


def test_compact_state_of_a_missing_file_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["compact-state", str(tmp_path / "none.pt"), str(tmp_path / "out.pt")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_compact_state_will_not_shrink_the_state_in_place(tmp_path: Path, capsys) -> None:
    state = tmp_path / STATE_FILE
    state.write_bytes(b"a full state")
    assert main(["compact-state", str(state), str(tmp_path / "." / STATE_FILE)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "write the compact copy to another file" in error
    assert state.read_bytes() == b"a full state"


def test_a_new_run_starts_from_a_trained_model(image_folder: Path, tmp_path: Path, capsys) -> None:
    """--init-from: G and G_ema from the model's G_ema, D from its D, the step from its kimg;
    the new run then trains the remaining steps up to --kimg."""
    first = train_gan(image_folder, tmp_path / "first", config=with_changes(TINY, kimg=0.008),
                      device=CPU)  # fmt: skip
    model = load_checkpoint(first.model_path)
    state = TrainingState.create(TINY, CPU)
    state.start_from(model, TINY)
    assert state.step == 2
    for network in (state.generator, state.generator_ema):
        assert_same_state(network.state_dict(), model.generator.state_dict())
    assert_same_state(state.discriminator.state_dict(), model.discriminator.state_dict())

    args = ["train-gan", "--data", str(image_folder), "--out", str(tmp_path / "second"),
            "--size", "16", "--channels", "8,8,8", "--style-dim", "16", "--n-mlp", "2",
            "--batch", "4", "--kimg", "0.016", "--precision", "fp32", "--log-every", "1",
            "--init-from", str(first.model_path)]  # fmt: skip
    assert main(args) == 0
    assert "finished at 0.016 kimg (step 4, 8 images, fp32)" in capsys.readouterr().out
    records = (tmp_path / "second" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in records if "loss_d" in line] == [3, 4]
    done = [*args[:4], str(tmp_path / "third"), *args[5:]]
    done[done.index("--kimg") + 1] = "0.008"  # no more than the model has already seen
    assert main(done) == 2
    assert "already has 0.008 kimg of the 0.008 planned" in capsys.readouterr().err
    longer = [*args, "--resume"]  # the same command rerun continues its run
    longer[longer.index("--kimg") + 1] = "0.024"
    assert main(longer) == 0
    assert "finished at 0.024 kimg (step 6, 8 images, fp32)" in capsys.readouterr().out


def test_starting_from_an_unsuitable_model_is_one_sentence(
    image_folder: Path, tmp_path: Path, capsys
) -> None:
    first = train_gan(image_folder, tmp_path / "first", config=with_changes(TINY, kimg=0.004),
                      device=CPU)  # fmt: skip
    model = load_checkpoint(first.model_path)
    state = TrainingState.create(TINY, CPU)
    with pytest.raises(GANliftError, match="holds no discriminator"):
        state.start_from(dataclasses.replace(model, discriminator=None), TINY)
    with pytest.raises(GANliftError, match="records kimg '9x', which is no count of images"):
        state.start_from(dataclasses.replace(model, extra={"kimg": "9x"}), TINY)  # ValueError
    with pytest.raises(GANliftError, match="records kimg -1, which is no count of images"):
        state.start_from(dataclasses.replace(model, extra={"kimg": -1}), TINY)  # step -250
    args = ["train-gan", "--data", str(image_folder), "--out", str(tmp_path / "second"),
            "--size", "16", "--channels", "8,8,8", "--style-dim", "8", "--n-mlp", "2",
            "--init-from", str(first.model_path)]  # fmt: skip
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "style_dim 16 -> 8" in error
    assert not (tmp_path / "second" / STATE_FILE).exists()
    narrow = with_changes(TINY, style_dim=8)
    stopped = train_gan(image_folder, tmp_path / "second", config=narrow, device=CPU,
                        should_stop=lambda: True)  # fmt: skip
    with pytest.raises(GANliftError, match="style_dim 16 -> 8"):  # was ignored
        train_gan(image_folder, tmp_path / "second", config=narrow, device=CPU, resume=True,
                  init_from=model)  # fmt: skip
    assert load_torch_file(stopped.state_path)["step"] == 1


def _damaged(data: dict, part: str) -> dict:
    """A copy of a training state's `data` with one `part` damaged."""
    data = copy.deepcopy(data)
    first = next(iter(data["G"]))
    if part == "nan weight":
        data["G_ema"][first] = torch.full_like(data["G_ema"][first], math.nan)
    elif part == "wrong shape":
        data["G"][first] = torch.zeros(3)
    elif part == "no weights":
        data["G"] = [1]
    elif part == "int weights":
        data["D"] = {key: value.to(torch.int8) for key, value in data["D"].items()}
    elif part == "moment shape":
        moments = next(iter(data["G_optim"]["state"].values()))
        moments["exp_avg"] = torch.zeros(1)
    elif part == "rng":
        data["rng"]["train"] = torch.zeros(3)
    elif part == "no config":
        del data["config"]
    elif part == "complex weight":
        data["G"][first] = data["G"][first].to(torch.complex64)
    elif part == "int key":
        data["G"] = data["G"] | {5: torch.zeros(1)}
    elif part == "nan moment":
        moments = next(iter(data["G_optim"]["state"].values()))
        moments["exp_avg"] = torch.full_like(moments["exp_avg"], math.nan)
    elif part == "other optimiser":
        data["G_optim"] = {"state": {}, "param_groups": []}
    elif part in ("nan pl_mean", "wide pl_mean"):
        data["pl_mean"] = torch.tensor(math.nan) if part == "nan pl_mean" else torch.zeros(3)
    else:
        data["step"] = {"negative step": -5, "bool step": True}.get(part, "x")
    return data


@pytest.mark.parametrize(
    ("part", "message"),
    [
        (
            "nan weight",
            "training-state.pt's G_ema holds 256 values in style.1.weight that",
        ),  # wrote a NaN model
        ("wrong shape", "training-state.pt's G does not fit the Generator"),
        ("no weights", "training-state.pt's G holds no network weights"),
        ("int weights", "as torch.int8, not floating-point weights"),  # cast without a word
        ("moment shape", "holds an optimiser exp_avg of shape [1]"),  # failed mid-step
        ("rng", "holds damaged random generator states"),
        ("negative step", "holds step -5, which is no count of steps"),  # resumed at -5
        ("text step", "holds step 'x', which is no count of steps"),
        ("no config", "training-state.pt config must be a JSON object, got NoneType"),  # KeyError
        ("complex weight", "holds style.1.weight as torch.complex64, not floating-point"),
        ("int key", "training-state.pt's G holds no network weights"),
        ("nan moment", "holds an optimiser exp_avg that is not finite"),
        ("other optimiser", "holds an optimiser state for other networks"),
        ("nan pl_mean", "holds no finite path-length mean"),
        ("wide pl_mean", "holds no finite path-length mean"),
        ("bool step", "holds step True, which is no count of steps"),
    ],
)
def test_a_damaged_training_state_is_refused_before_the_run_is_touched(
    image_folder: Path, tmp_path: Path, part: str, message: str
) -> None:
    stopped = train_gan(image_folder, tmp_path, config=TINY, device=CPU, should_stop=lambda: True)
    data = load_torch_file(stopped.state_path)
    torch.save(_damaged(data, part), stopped.state_path)
    kept = {name: (tmp_path / name).read_bytes() for name in ("config.json", "log.jsonl")}
    with pytest.raises(GANliftError, match=re.escape(message)):
        train_gan(image_folder, tmp_path, config=TINY, device=CPU, resume=True)
    assert {name: (tmp_path / name).read_bytes() for name in kept} == kept


def test_should_stop_snapshots_and_resume_finishes(image_folder: Path, tmp_path: Path) -> None:
    calls = []

    def stop_after_first_step() -> bool:
        calls.append(1)
        return True

    stopped = train_gan(
        image_folder, tmp_path, config=TINY, device=CPU, should_stop=stop_after_first_step
    )
    assert (stopped.step, stopped.stopped_early, len(calls)) == (1, True, 1)
    assert load_torch_file(stopped.state_path)["step"] == 1
    finished = train_gan(image_folder, tmp_path, config=TINY, device=CPU, resume=True)
    assert (finished.step, finished.stopped_early) == (4, False)


def test_a_run_killed_while_writing_its_last_snapshot_writes_it_whole_on_resume(
    image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state was written first: a run killed while writing model.pt was finished for its
    rerun, which left model.pt missing (or a snapshot older) and no last sample grid."""
    writes = []

    def killed_at_the_last_snapshot(*args, **kwargs):
        writes.append(1)
        if len(writes) == 2:  # the snapshot at step 4 of 4 (the first is at step 2)
            raise KeyboardInterrupt
        return save_pt_checkpoint(*args, **kwargs)

    monkeypatch.setattr(loop, "save_pt_checkpoint", killed_at_the_last_snapshot)
    with pytest.raises(KeyboardInterrupt):
        train_gan(image_folder, tmp_path, config=TINY, device=CPU)
    assert load_torch_file(tmp_path / STATE_FILE)["step"] == 2  # the snapshot before
    monkeypatch.undo()
    finished = train_gan(image_folder, tmp_path, config=TINY, device=CPU, resume=True)
    assert finished.step == 4 and (tmp_path / "samples" / "step_0000004.png").is_file()
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [record["step"] for record in records if "loss_d" in record]
    assert steps == [1, 2, 3, 4]  # steps 3 and 4, done again, were logged twice
    ours, common = load_checkpoint(finished.model_path), load_checkpoint(finished.pt_path)
    assert_same_state(common.generator.state_dict(), ours.generator.state_dict())


def test_existing_runs_are_not_overwritten_or_resumed_with_other_settings(
    image_folder: Path, tmp_path: Path
) -> None:
    train_gan(image_folder, tmp_path, config=with_changes(TINY, kimg=0.004), device=CPU)
    with pytest.raises(GANliftError, match="pass --resume"):
        train_gan(image_folder, tmp_path, config=TINY, device=CPU)
    with pytest.raises(GANliftError, match=r"other settings \(batch 4 -> 8\)"):
        train_gan(
            image_folder, tmp_path, config=with_changes(TINY, batch=8), device=CPU, resume=True
        )


def test_a_folder_holding_a_model_without_a_training_state_is_not_trained_over(
    image_folder: Path, tmp_path: Path
) -> None:
    """A new run would replace model files it cannot resume (with or without --resume)."""
    first = train_gan(image_folder, tmp_path / "run", config=TINY, device=CPU)
    first.state_path.unlink()
    before = {path: path.read_bytes() for path in (first.model_path, first.pt_path)}
    for resume in (False, True):
        with pytest.raises(GANliftError) as refused:
            train_gan(image_folder, tmp_path / "run", config=TINY, device=CPU, resume=resume)
        assert str(refused.value) == (
            f"{tmp_path / 'run'} already holds a model (model.safetensors, model.json, "
            f"model.pt) but no training-state.pt to resume; choose another --out folder (pass "
            f"--init-from {first.model_path} to train that model further)."
        )
    assert {path: path.read_bytes() for path in before} == before
    own = tmp_path / "own"
    own.mkdir()
    (own / "model.pt").write_bytes(b"someone's model")
    with pytest.raises(GANliftError, match=r"already holds a model \(model.pt\)"):
        train_gan(image_folder, own, config=TINY, device=CPU)
    assert (own / "model.pt").read_bytes() == b"someone's model"


def test_a_first_snapshot_cut_off_before_its_state_does_not_lock_the_folder(
    image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk (or a kill) between the first snapshot's model files and its state left a
    folder that no run, resumed or new, would train in again."""

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / STATE_FILE))

    monkeypatch.setattr(TrainingState, "save", disk_full)
    with pytest.raises(OSError):
        train_gan(image_folder, tmp_path, config=TINY, device=CPU)
    assert (tmp_path / "model.pt").is_file() and not (tmp_path / STATE_FILE).exists()
    monkeypatch.undo()
    assert train_gan(image_folder, tmp_path, config=TINY, device=CPU).step == 4


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_log_the_disk_cannot_hold_names_its_file() -> None:
    """The flush that fails names no file: the message said only "No space left on device"."""
    with pytest.raises(OSError) as caught:
        JsonlLog(Path("/dev/full")).write(step=1)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == "/dev/full"


def test_a_run_resumes_only_on_the_images_it_was_trained_on(
    image_folder: Path, tmp_path: Path
) -> None:
    """Other images are refused; the same images in a moved folder resume."""
    half = with_changes(TINY, kimg=0.008)
    train_gan(image_folder, tmp_path / "run", config=half, device=CPU)
    fewer = write_random_images(tmp_path / "fewer", NUMBERED_PNGS[:7], height=20, width=24)
    with pytest.raises(GANliftError) as refused:
        train_gan(fewer, tmp_path / "run", config=TINY, device=CPU, resume=True)
    assert str(refused.value).startswith(
        f"Cannot resume the run in {tmp_path / 'run'} with --data {fewer}: it was trained on 8 "
        f"images in {image_folder}, and the images here differ (7 of them, or other names); "
        "pass the --data it was trained on"
    )
    assert load_torch_file(tmp_path / "run" / STATE_FILE)["step"] == 2
    renamed = write_random_images(tmp_path / "renamed", height=20, width=24)
    first = sorted(renamed.iterdir())[0]
    first.rename(first.with_name("x" + first.name))
    with pytest.raises(GANliftError, match="the images here differ \\(8 of them, or other names"):
        train_gan(renamed, tmp_path / "run", config=TINY, device=CPU, resume=True)
    moved = write_random_images(tmp_path / "moved", height=20, width=24)
    assert train_gan(moved, tmp_path / "run", config=TINY, device=CPU, resume=True).step == 4


def test_a_state_that_records_no_data_resumes_on_as_many_images_as_its_log_says(
    image_folder: Path, tmp_path: Path
) -> None:
    """States written before the data was recorded are checked against the image count of
    their log's last start."""
    half = with_changes(TINY, kimg=0.008)
    first = train_gan(image_folder, tmp_path, config=half, device=CPU)
    state = load_torch_file(first.state_path)
    del state["data"]
    torch.save(state, first.state_path)
    fewer = write_random_images(tmp_path.parent / f"{tmp_path.name}-fewer", NUMBERED_PNGS[:5])
    with pytest.raises(GANliftError, match=f"trained on 8 images in {image_folder}, and the"):
        train_gan(fewer, tmp_path, config=TINY, device=CPU, resume=True)
    renamed = tmp_path.parent / f"{tmp_path.name}-renamed"
    write_random_images(renamed, [f"x{name}" for name in NUMBERED_PNGS])
    assert train_gan(renamed, tmp_path, config=TINY, device=CPU, resume=True).step == 4


def test_a_missing_or_empty_data_folder_makes_no_out_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for data in (tmp_path / "missing", tmp_path / "empty"):
        with pytest.raises(GANliftError):
            train_gan(data, tmp_path / "run", config=TINY, device=CPU)
    assert not (tmp_path / "run").exists()


def test_bf16_training_steps_stay_finite(image_folder: Path, tmp_path: Path) -> None:
    config = with_changes(TINY, precision="bf16", kimg=0.008)
    result = train_gan(image_folder, tmp_path, config=config, device=CPU)
    assert result.precision == "bf16"
    state = load_torch_file(result.state_path)
    assert all(torch.isfinite(tensor).all() for tensor in state["G"].values())
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(record["loss_d"]) for record in records if "loss_d" in record)


def test_sample_weights_decide_which_images_the_discriminator_sees(
    image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = {name: 0 for name in NUMBERED_PNGS} | {"5.png": 2.5}
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps(weights))
    shown: list[torch.Tensor] = []

    def recording(images: torch.Tensor, flip: torch.Tensor, device: torch.device) -> torch.Tensor:
        shown.append(images)
        return to_model_images(images, flip, device)

    monkeypatch.setattr("engine.stylegan2.training.loop.to_model_images", recording)
    config = with_changes(TINY, kimg=0.008, sample_weights=str(weights_file))
    train_gan(image_folder, tmp_path / "run", config=config, device=CPU)
    only = ImageFolder(image_folder, size=TINY.size).batch(torch.tensor([5]))[0]
    assert len(shown) == 2 and all(torch.equal(image, only) for batch in shown for image in batch)
    weights_file.write_text(json.dumps(weights | {"5.png": 1.0, "6.png": 1.0}))  # rewritten
    longer = with_changes(config, kimg=0.016)
    with pytest.raises(GANliftError, match="--sample-weights file holds other weights than"):
        train_gan(image_folder, tmp_path / "run", config=longer, device=CPU, resume=True)
    weights_file.write_text(json.dumps(weights))
    assert train_gan(image_folder, tmp_path / "run", config=longer, device=CPU, resume=True).step


def test_training_moves_the_generator_towards_the_data(tmp_path: Path) -> None:
    """On all-white images the discriminator learns to score them above the generator's, and
    the generator's samples brighten: the losses are wired the right way round (D's real and
    fake logits swapped, or G's loss of negated logits, each make the samples darken)."""
    white = tmp_path / "white"
    white.mkdir()
    for index in range(4):
        Image.new("RGB", (16, 16), (255, 255, 255)).save(white / f"{index}.png")
    config = with_changes(TINY, kimg=0.12, snapshot_kimg=0.12, pl_weight=0.0)  # 30 steps
    start = TrainingState.create(config, CPU).generator_ema
    z = torch.randn(16, config.style_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = start(z).mean().item()
    result = train_gan(white, tmp_path / "run", config=config, device=CPU)
    with torch.no_grad():
        after = load_checkpoint(result.model_path).generator(z).mean().item()
    assert after > before + 0.2, (before, after)
    records = [
        json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    ]
    last = [record for record in records if "loss_d" in record][-1]
    assert last["real_logit"] > last["fake_logit"]


def record_one_step(
    image_folder: Path, tmp_path: Path, monkeypatch, function: str, config: TrainConfig
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """One training step under `config`: what `loop.<function>` returned, and every loss the
    trainer stepped on."""
    results: list[torch.Tensor] = []
    losses: list[torch.Tensor] = []
    original, update = getattr(loop, function), loop._Trainer._update

    def recorded(*args: torch.Tensor) -> torch.Tensor:
        results.append(original(*args))
        return results[-1]

    def recorded_update(trainer, module, optimizer, loss: torch.Tensor) -> None:
        losses.append(loss.detach())
        update(trainer, module, optimizer, loss)

    monkeypatch.setattr(loop, function, recorded)
    monkeypatch.setattr(loop._Trainer, "_update", recorded_update)
    train_gan(image_folder, tmp_path, config=config, device=CPU)
    return results, losses


def test_lazy_r1_is_weighted_by_its_interval(
    image_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    """R1 runs every `d_reg_every` steps with γ/2·d_reg_every, so its average weight is γ/2."""
    config = with_changes(TINY, kimg=0.004, d_reg_every=4, r1_gamma=3.0)  # one step: R1 runs
    (r1,), losses = record_one_step(image_folder, tmp_path, monkeypatch, "r1_penalty", config)
    weighted = r1.detach() * (3.0 / 2 * 4)
    assert sum(torch.allclose(loss, weighted) for loss in losses) == 1


def test_lazy_path_length_is_weighted_by_its_interval_around_a_running_mean(
    image_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    """The path-length penalty on step 0 is (lengths − pl_decay·mean length)², the running mean
    moved from 0 by this batch, weighted by pl_weight·g_reg_every so that its average weight is
    pl_weight."""
    config = with_changes(TINY, kimg=0.004, g_reg_every=3, pl_weight=2.0, pl_decay=0.25)
    (lengths,), losses = record_one_step(
        image_folder, tmp_path, monkeypatch, "path_lengths", config
    )
    lengths = lengths.detach()
    running_mean = 0.25 * lengths.mean()  # lerp from 0 by pl_decay (at 0.5 either way round)
    weighted = (lengths - running_mean).square().mean() * (2.0 * 3)
    assert sum(torch.allclose(loss, weighted) for loss in losses) == 1


def test_the_ema_ramp_counts_the_images_seen_before_each_step(
    image_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    """As in StyleGAN2-ADA the ramp-up's half-life is rampup · images before the step, so the
    first step's average is the generator itself and the ramp continues across a resume."""
    seen: list[int] = []
    betas: list[float] = []
    beta_of = loop.ema_beta

    def recorded(**options: object) -> float:
        seen.append(options["images_seen"])
        betas.append(beta_of(**options))
        return betas[-1]

    monkeypatch.setattr(loop, "ema_beta", recorded)
    half = with_changes(TINY, kimg=0.008)  # steps 0 and 1 of batch 4
    train_gan(image_folder, tmp_path, config=half, device=CPU)
    train_gan(image_folder, tmp_path, config=TINY, device=CPU, resume=True)
    assert seen == [0, 4, 8, 12]
    assert betas[0] == 0.0


def test_the_generators_latents_are_drawn_with_the_configs_style_mixing(
    image_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    probabilities: list[float] = []
    draw = loop.LatentDraw.draw

    def recorded(*args: object, **options: object) -> object:
        probabilities.append(options["mixing_prob"])
        return draw(*args, **options)

    monkeypatch.setattr(loop.LatentDraw, "draw", staticmethod(recorded))
    train_gan(image_folder, tmp_path, config=with_changes(TINY, mixing_prob=0.3), device=CPU)
    assert probabilities and set(probabilities) == {0.3}


def test_real_images_are_mirrored_half_the_time(
    image_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    flips: list[torch.Tensor] = []
    convert = loop.to_model_images

    def recorded(images: torch.Tensor, flip: torch.Tensor, device: torch.device) -> torch.Tensor:
        flips.append(flip)
        return convert(images, flip, device)

    monkeypatch.setattr(loop, "to_model_images", recorded)
    config = with_changes(TINY, batch=16, kimg=0.128, snapshot_kimg=0.128, pl_weight=0.0)
    train_gan(image_folder, tmp_path / "mirrored", config=config, device=CPU)
    assert torch.cat(flips).float().mean().item() == pytest.approx(0.5, abs=0.1)  # 128 images
    flips.clear()
    unmirrored = with_changes(config, xflip=False)
    train_gan(image_folder, tmp_path / "plain", config=unmirrored, device=CPU)
    assert not torch.cat(flips).any()


def test_a_state_from_more_gpus_resumes_where_fewer_are_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state saved on an 8-GPU node restores one CUDA generator per GPU visible now (torch's
    set_rng_state_all would index past them)."""
    state = TrainingState.create(TINY, CPU)
    state.save(tmp_path / STATE_FILE, TINY, torch.zeros(TINY.style_dim))
    _, data = read_state_file(tmp_path / STATE_FILE)
    saved = [torch.full((8,), index, dtype=torch.uint8) for index in range(8)]
    data["rng"]["cuda"] = saved
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(
        torch.cuda, "set_rng_state", lambda rng, device: restored.append((int(rng[0]), device))
    )
    state.load(data, "training-state.pt")
    assert restored == [(0, 0), (1, 1)]  # GPU i gets the state saved for GPU i


def test_a_stopped_training_command_exits_130(
    image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """As every other command Ctrl-C ends early: a script (train_default.sh) must not go on as
    if the run had finished."""
    monkeypatch.setattr("engine.cli.train.stop_on_signals", stop_on_signals_after(1))
    command = [
        "train-gan", "--data", str(image_folder), "--out", str(tmp_path), "--size", "16",
        "--channels", "8,8,8", "--style-dim", "16", "--n-mlp", "2", "--batch", "4", "--kimg",
        "0.016", "--precision", "fp32", "--device", "cpu",
    ]  # fmt: skip
    assert main(command) == 130
    assert "stopped at" in capsys.readouterr().out
    assert (tmp_path / STATE_FILE).is_file()


def test_an_empty_out_is_refused(image_folder: Path, capsys) -> None:
    """Path("") is the current folder, which a run would fill."""
    assert main(["train-gan", "--data", str(image_folder), "--out", ""]) == 2
    assert "give --out a folder's name" in capsys.readouterr().err


def test_a_training_command_stopped_while_reading_its_images_exits_130(
    image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Ctrl-C during the image read ends train-gan with 130 and writes no run."""
    monkeypatch.setattr(training_data, "READ_CHUNK", 1)

    @contextlib.contextmanager
    def stop_at_once():
        yield lambda: True

    monkeypatch.setattr("engine.cli.train.stop_on_signals", stop_at_once)
    out = tmp_path / "run"
    command = ["train-gan", "--data", str(image_folder), "--out", str(out), "--size", "16",
               "--channels", "8,8,8", "--device", "cpu"]  # fmt: skip
    assert main(command) == 130
    printed = capsys.readouterr().out
    assert "\nStopped while reading the training images; nothing was trained" in f"\n{printed}"
    assert not (out / STATE_FILE).exists()


def test_compact_state_of_a_missing_file_says_there_is_no_state_there(tmp_path: Path, capsys):
    """A missing state is named as missing, not as a damaged checkpoint, and nothing is written."""
    missing, out = tmp_path / "none.pt", tmp_path / "out.pt"
    assert main(["compact-state", str(missing), str(out)]) == 2
    error = capsys.readouterr().err
    assert f"There is no training state at {missing}; check the path." in error
    assert "truncated" not in error and not out.exists()
