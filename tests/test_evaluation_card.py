"""Training facts from a run folder, and `evaluate-gan` writing figures, JSON and model card."""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from engine.cli import build_parser, main
from engine.errors import GANliftError
from engine.evaluation import (
    EXAMPLE_SEED,
    CoverageResult,
    GanEvaluation,
    InversionEvaluation,
    LabelSpread,
    TrainingRun,
    ViewSwapEvaluation,
    evaluate_coverage,
    evaluate_view_swap,
    read_training_run,
)
from engine.evaluation.card import model_card
from engine.evaluation.coverage import COVERAGE_GOAL
from engine.evaluation.evaluate import COUNT_RANGES, EvaluationConfig, evaluate_gan
from engine.evaluation.report import write_evaluation
from engine.evaluation.samples import generate_samples
from engine.evaluation.training_run import recorded_training_run
from engine.images import make_grid
from engine.stylegan2 import (
    generator_fingerprint,
    load_checkpoint,
    save_checkpoint,
    save_pt_checkpoint,
)
from engine.synth import SEED_RANGES, write_dataset
from engine.versions import software_versions
from tests.tiny import tiny_generator

TINY_EVALUATION = [
    "--n-samples", "8", "--n-invert", "2", "--steps", "3",
    "--train-renders", "16", "--regressor-steps", "3",
]  # fmt: skip


def _write_run(run_dir: Path, data_dir: str) -> None:
    """A run folder of two sessions: 50 s to step 40, then a resume, 40 s to the step-60
    snapshot, and a record past it (the run goes on); the log's last line is torn."""
    run_dir.mkdir(parents=True)
    config = {"size": 16, "batch": 16, "kimg": 150.0, "channels": [16, 16, 16], "style_dim": 16}
    (run_dir / "config.json").write_text(json.dumps(config))
    records = [
        {"time": 100.0, "event": "start", "step": 0, "data": data_dir, "images": 2,
         "device": "cpu", "precision": "fp32"},
        {"time": 110.0, "step": 20, "kimg": 0.32},
        {"time": 150.0, "step": 40, "kimg": 0.64},
        {"time": 1000.0, "event": "start", "step": 40, "data": data_dir, "images": 2,
         "device": "cpu", "precision": "bf16"},
        {"time": 1030.0, "step": 60, "kimg": 0.96},
        {"time": 1040.0, "event": "snapshot", "step": 60, "kimg": 0.96},
        {"time": 1100.0, "step": 80, "kimg": 1.28},
    ]  # fmt: skip
    lines = [json.dumps(record) for record in records] + ['{"time": 1200.0, "st']
    (run_dir / "log.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny 16x16 checkpoint at step 60 in a run folder whose data set is a synth one."""
    root = tmp_path_factory.mktemp("evaluation")
    write_dataset(root / "data", "face", n=2, size=16)
    run = root / "run"
    _write_run(run, str(root / "data" / "images"))
    generator = tiny_generator(16, style_dim=16, n_mlp=2)
    save_checkpoint(run / "model", generator, extra={"step": 60, "kimg": 0.96})
    return run


def test_training_run_sums_sessions_up_to_the_snapshot(run_dir: Path) -> None:
    training = read_training_run({"step": 60, "kimg": 0.96}, run_dir)
    assert training.wall_time_s == pytest.approx((150 - 100) + (1040 - 1000))
    assert training.sessions == 2
    assert training.latest_kimg == pytest.approx(1.28)
    assert training.still_training
    assert training.dataset is not None and training.dataset.count == 2
    assert training.precision == "bf16"
    assert training.train_command is not None
    assert training.train_command.endswith(
        "--size 16 --kimg 150 --style-dim 16 --channels 16,16,16 --resume"
    )


def test_a_run_stopped_at_its_last_snapshot_short_of_plan_is_stopped_early(
    run_dir: Path,
) -> None:
    training = read_training_run({"step": 80, "kimg": 1.28}, run_dir)
    assert training.stopped_early and not training.still_training
    assert not read_training_run({"step": 60, "kimg": 0.96}, run_dir).stopped_early


def _write_log(run: Path, records: list[dict], config: dict | None) -> None:
    """A run folder with `records` as its log.jsonl and `config` (if any) as config.json."""
    run.mkdir(parents=True)
    if config is not None:
        (run / "config.json").write_text(json.dumps(config))
    (run / "log.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))


def test_a_run_that_reached_its_planned_length_is_not_stopped_early(tmp_path: Path) -> None:
    """Stopped early means short of the plan: a final snapshot at the planned kimg is not."""
    records = [{"time": 0.0, "event": "start", "step": 0}, {"time": 9.0, "step": 5, "kimg": 2.0}]
    _write_log(tmp_path / "run", records, {"kimg": 2.0})
    training = read_training_run({"step": 5, "kimg": 2.0}, tmp_path / "run")
    assert not training.stopped_early and not training.still_training


def test_training_facts_come_from_the_latest_session_and_the_furthest_record(
    run_dir: Path, tmp_path: Path
) -> None:
    """A resumed run reports the data of its last session and the furthest kimg logged, skips
    log lines without a time, and finds a synth set named by its own folder."""
    data = run_dir.parent / "data"  # the synth set itself, not its images folder
    records = [
        {"time": 0.0, "event": "start", "step": 0, "data": "elsewhere", "images": 7},
        {"time": 10.0, "step": 30, "kimg": 0.9},
        {"note": "no time"},
        {"time": 20.0, "event": "start", "step": 20, "data": str(data), "images": 2},
        {"time": 25.0, "step": 25, "kimg": 0.8},
    ]
    _write_log(tmp_path / "run", records, {"kimg": 5.0})
    training = read_training_run({"step": 25, "kimg": 0.8}, tmp_path / "run")
    assert (training.data_dir, training.data_images) == (str(data), 2)
    assert training.latest_kimg == pytest.approx(0.9)
    assert training.sessions == 2
    assert training.dataset is not None and training.dataset.count == 2


def test_edited_log_records_and_snapshot_facts_are_read_as_unknown(tmp_path: Path) -> None:
    """A log or model .json edited to hold text where numbers go raised TypeError and
    ValueError mid-card; such records are skipped and such facts unknown."""
    records = [
        {"time": 0.0, "event": "start", "step": 0, "data": 5},
        {"time": "0", "step": 1, "kimg": 0.1},
        {"time": 1.0, "step": "10", "kimg": 0.2},
        {"time": 2.0, "step": 2, "kimg": [1]},
        {"time": 3.0, "event": "start", "step": 2, "data": "d", "images": 4},
        {"time": 5.0, "step": 3, "kimg": 0.3},
    ]
    _write_log(tmp_path / "run", records, None)
    training = read_training_run({"step": "9375x", "kimg": [1]}, tmp_path / "run")
    assert (training.snapshot_step, training.snapshot_kimg) == (None, None)
    assert (training.sessions, training.data_dir, training.latest_kimg) == (1, "d", 0.3)
    assert read_training_run({"step": 3, "kimg": 0.3}, tmp_path / "run").wall_time_s == 2.0
    assert read_training_run({"step": 1.5}, None).snapshot_step is None  # not read as 1
    _write_log(tmp_path / "half", [{"time": 0.0, "event": "start", "step": 0, "data": "d"},
                                   {"time": 1.0, "step": 1.5, "kimg": 0.4}], None)  # fmt: skip
    assert read_training_run({"step": 1}, tmp_path / "half").latest_kimg is None


def test_recorded_training_facts_of_the_wrong_kind_are_refused(tmp_path: Path) -> None:
    """`sessions: "abc"` in an evaluation.json was int()'s ValueError."""
    snapshot = {"snapshot_step": 60, "snapshot_kimg": 0.96}
    for damage in ({"sessions": "abc"}, {"wall_time_s": [1]}, {"device": 5}, {"sessions": 1.5}):
        record = tmp_path / "evaluation.json"
        record.write_text(json.dumps({"training": snapshot | damage}))
        name = next(iter(damage))
        with pytest.raises(GANliftError, match=f"records training.{name} .*, which is not a"):
            recorded_training_run(record, {"step": 60, "kimg": 0.96})
    record.write_text(json.dumps({"training": snapshot | {"sessions": 2, "device": "cpu"}}))
    assert recorded_training_run(record, {"step": 60, "kimg": 0.96}).sessions == 2


def test_a_run_folder_without_its_config_gives_no_train_command(tmp_path: Path) -> None:
    """Without config.json the run's settings are unknown, so no command line is offered."""
    records = [{"time": 0.0, "event": "start", "step": 0, "data": "d"}, {"time": 1.0, "step": 1}]
    _write_log(tmp_path / "run", records, None)
    assert read_training_run({"step": 1}, tmp_path / "run").train_command is None


def test_training_run_without_a_folder_keeps_the_snapshot_facts(tmp_path: Path) -> None:
    training = read_training_run({"step": 9375, "kimg": 150.0}, tmp_path)
    assert training.run_dir is None and training.wall_time_s is None
    assert training.snapshot_kimg == 150.0
    assert not training.still_training and not training.stopped_early


def test_evaluate_gan_writes_figures_json_and_a_card_with_the_figures(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "eval"
    code = main(["evaluate-gan", str(run_dir / "model.safetensors"), "--category", "face",
                 "--out", str(out), *TINY_EVALUATION])  # fmt: skip
    assert code == 0
    assert "view layers: swapped" in capsys.readouterr().err  # the last stage shows progress
    summary = json.loads((out / "evaluation.json").read_text())
    card = (out / "MODEL_CARD.md").read_text()
    for name in summary["figures"].values():
        assert (out / name).is_file() and f"]({name})" in card
    assert summary["training"]["still_training"] and "**Work in progress.**" in card
    assert "**Short settings.**" in card and not summary["follows_protocol"]
    inversion = summary["inversion"]
    assert inversion["space"] == "W" and inversion["n_images"] == 2
    assert f"{inversion['mean_psnr_db']:.2f} ± {inversion['std_psnr_db']:.2f} dB" in card
    verdict = "**pass**" if inversion["passed"] else "**FAIL**"
    assert f"{inversion['std_psnr_db']:.2f} dB | ≥ 24 dB | {verdict} |" in card
    labels = {label["name"]: label for label in summary["coverage"]["labels"]}
    assert labels["pitch"]["passed"] is None and not labels["pitch"]["gated"]  # not judged
    assert labels["yaw"]["passed"] == (labels["yaw"]["ratio"] >= COVERAGE_GOAL)
    swap = summary["view_swap"]
    assert (
        f"view transfer {swap['view_transfer']:.2f}, appearance kept {swap['appearance_kept']:.2f}"
        in card
    )
    for label in summary["coverage"]["labels"]:
        assert f"| {label['name']}" in card and f"{label['ratio']:.2f}" in card
    view_layers = summary["view_swap"]["num_view_layers"]
    assert f"first {view_layers} of {summary['generator']['num_ws']} layers" in card
    assert "wall time to this snapshot: 0.03 h" in card  # 90 s
    assert "--n 2 --seed 0 --size 16" in card  # the data recipe
    assert summary["training"]["train_command"] in card
    assert summary["coverage"]["azimuth_angle"] is None and "Read as an angle" not in card
    command = next(line for line in card.splitlines() if "engine evaluate-gan" in line)
    args = build_parser().parse_args(shlex.split(command.strip("`"))[3:])  # --out was missing
    assert (Path(args.out).resolve(), args.n_samples, args.n_invert) == (out.resolve(), 8, 2)


def test_a_car_card_reads_the_azimuth_as_an_angle_too(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "car"
    loose = save_checkpoint(  # outside the face run, whose data set is no car set
        tmp_path / "loose" / "model", load_checkpoint(run_dir / "model.safetensors").generator
    )
    code = main(["evaluate-gan", str(loose), "--category", "car", "--out", str(out),
                 *TINY_EVALUATION])  # fmt: skip
    assert code == 0
    angle = json.loads((out / "evaluation.json").read_text())["coverage"]["azimuth_angle"]
    assert angle["name"] == "azimuth" and angle["data_length"] > 0
    card = (out / "MODEL_CARD.md").read_text()
    assert f"spread {angle['angle_ratio']:.2f} as widely as the renders'" in card
    assert f"median {angle['gan_length']:.2f} on GAN samples" in card


def test_a_card_measured_again_keeps_the_recorded_training_facts(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first"
    arguments = ["--category", "face", *TINY_EVALUATION]
    assert main(["evaluate-gan", str(run_dir / "model.safetensors"), "--out", str(first),
                 *arguments]) == 0  # fmt: skip
    moved = save_checkpoint(
        tmp_path / "cleaned" / "model", tiny_generator(16, style_dim=16, n_mlp=2),
        extra={"step": 60, "kimg": 0.96},
    )  # fmt: skip
    record = str(first / "evaluation.json")
    again = tmp_path / "again"
    assert main(["evaluate-gan", str(moved), "--out", str(again), "--training-from", record,
                 *arguments]) == 0  # fmt: skip
    before = json.loads((first / "evaluation.json").read_text())["training"]
    assert json.loads((again / "evaluation.json").read_text())["training"] == before
    assert "wall time to this snapshot: 0.03 h" in (again / "MODEL_CARD.md").read_text()

    other = save_checkpoint(
        tmp_path / "other" / "model", tiny_generator(16, style_dim=16, n_mlp=2),
        extra={"step": 80, "kimg": 1.28},
    )  # fmt: skip
    assert main(["evaluate-gan", str(other), "--out", str(tmp_path / "x"), "--training-from",
                 record, *arguments]) == 2  # fmt: skip
    assert "describes the snapshot at step 60, not this checkpoint's step 80" in (
        capsys.readouterr().err
    )
    missing = str(tmp_path / "nowhere.json")
    assert main(["evaluate-gan", str(other), "--out", str(tmp_path / "x"), "--training-from",
                 missing, *arguments]) == 2  # fmt: skip
    assert "nowhere.json does not exist; pass an evaluation.json" in capsys.readouterr().err


def test_evaluation_settings_take_their_smallest_values_and_the_protocol_needs_both_counts() -> (
    None
):
    """Each count's minimum is allowed, one below is refused, and a short inversion run alone
    does not follow the protocol."""
    smallest = {name: low for name, (low, _) in COUNT_RANGES.items()}
    assert not EvaluationConfig("face", **smallest).follows_protocol
    with pytest.raises(GANliftError, match="n_samples must be from 2"):
        EvaluationConfig("face", n_samples=1)
    with pytest.raises(GANliftError, match="view_pairs must be from 2"):
        EvaluationConfig("face", view_pairs=1)  # one pair has no spread to compare
    assert not EvaluationConfig("face", n_invert=1).follows_protocol
    assert not EvaluationConfig("face", n_samples=2).follows_protocol
    assert EvaluationConfig("face").follows_protocol


def test_evaluate_gan_measures_with_every_setting_it_is_given(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grid truncation, inversion steps, the sample seed and the view pairs reach their
    measurements, the summary names the checkpoint relative to the working folder, and each
    figure file holds its own figure."""
    config = EvaluationConfig(
        "face", n_samples=8, n_invert=2, inversion_steps=2, n_train_renders=16,
        regressor_steps=3, grid_samples=6, grid_truncation=0.0, view_pairs=3, seed=3,
    )  # fmt: skip
    monkeypatch.chdir(run_dir.parent)
    evaluation = evaluate_gan(run_dir / "model.safetensors", config)
    generator = load_checkpoint(run_dir / "model.safetensors").generator
    grid = make_grid(generate_samples(generator, 6, seed=3, truncation=0.0), 8)  # one row of 6
    torch.testing.assert_close(evaluation.sample_grid, grid)
    coverage = evaluate_coverage(
        generator, "face", n_samples=8, n_train=16, regressor_steps=3, sample_seed=3
    )
    torch.testing.assert_close(evaluation.coverage.gan_readings, coverage.gan_readings)
    swap = evaluate_view_swap(generator, num_pairs=3, seed=3, view_fn=coverage.view_reader)
    assert evaluation.view_swap.view_transfer == pytest.approx(swap.view_transfer)
    summary = evaluation.summary()
    assert summary["checkpoint"] == "run/model.safetensors"
    assert summary["generator"]["fingerprint"] == generator_fingerprint(generator)
    assert summary["software"] == software_versions()
    first = SEED_RANGES["test"].start
    inversion = summary["inversion"]
    assert (inversion["space"], inversion["num_steps"], inversion["n_images"]) == ("W", 2, 2)
    assert inversion["seeds"] == [first, first + 1]
    in_w_plus = replace(evaluation, inversion=replace(evaluation.inversion, w_plus=True))
    assert in_w_plus.summary()["inversion"]["space"] == "W+"
    paths = write_evaluation(evaluation, tmp_path / "new" / "eval")
    figures = {
        "samples": evaluation.sample_grid,
        "inversion": evaluation.inversion.figure,
        "view_swap": evaluation.view_swap.matrix,
        "view_layers": evaluation.view_swap.analysis_figure,
    }
    for name, figure in figures.items():
        with Image.open(paths[name]) as picture:
            assert picture.size == (figure.shape[-1], figure.shape[-2]), name


def test_a_loose_checkpoint_takes_its_training_facts_from_the_run_folder_given(
    run_dir: Path, tmp_path: Path
) -> None:
    """`run_dir` overrides the checkpoint's own folder, and a folder holding only the log
    (config.json lost) is still a training run."""
    log_only = tmp_path / "log-only"
    log_only.mkdir()
    shutil.copy(run_dir / "log.jsonl", log_only / "log.jsonl")
    loose = save_checkpoint(
        tmp_path / "loose" / "model", load_checkpoint(run_dir / "model.safetensors").generator,
        extra={"step": 60, "kimg": 0.96},
    )  # fmt: skip
    config = EvaluationConfig(
        "face", n_samples=2, n_invert=1, inversion_steps=1, n_train_renders=2, regressor_steps=1,
        grid_samples=1, view_pairs=2,
    )  # fmt: skip
    training = evaluate_gan(loose, config, run_dir=log_only).training
    assert training.run_dir == log_only and training.sessions == 2
    assert training.latest_kimg == pytest.approx(1.28) and training.target_kimg is None


def test_evaluate_gan_reports_bad_settings_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    for options, message in (  # the huge count ran 50 inversions, then out of memory
        (["--n-samples", "1"], "--n-samples: expected a whole number from 2 to 100000, got '1'"),
        (["--n-samples", "100000000000"], "from 2 to 100000, got '100000000000'"),
        (["--threads", "-1"], "--threads: expected a whole number from 1 to 1024, got '-1'"),
        (["--threads", "99999999999999999999"], "from 1 to 1024, got"),  # overflowed torch's int
        (["--train-renders", "0"], "--train-renders: expected a whole number from 2 to"),
    ):
        with pytest.raises(SystemExit) as exited:
            main(["evaluate-gan", "m.pt", "--category", "face", "--out", str(out), *options])
        assert exited.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit):  # coverage-weights shares the regressor's options
        main(["coverage-weights", "m.pt", "--category", "car", "--data", "d", "--out", "w.json",
              "--regressor-steps", "0"])  # fmt: skip
    assert "--regressor-steps: expected a whole number from 1 to" in capsys.readouterr().err
    assert not out.exists()
    (tmp_path / "card").write_text("")
    for options, message in (
        (["--out", str(tmp_path / "card")], "is a file; choose a folder"),
        (["--out", str(tmp_path), "--run-dir", str(tmp_path / "nowhere")], "is not a folder"),
        (["--out", str(tmp_path), "--run-dir", str(tmp_path)], "holds no training run; give"),
    ):
        code = main(["evaluate-gan", str(tmp_path / "missing.pt"), "--category", "face", *options])
        assert code == 2 and message in capsys.readouterr().err  # before the checkpoint is read


def test_examples_are_small_pngs_of_test_seeds(tmp_path: Path) -> None:
    seed = SEED_RANGES["test"].start + 5
    code = main(["examples", "--category", "car", "--out", str(tmp_path), "--n", "2",
                 "--seed", str(seed), "--size", "32"])  # fmt: skip
    assert code == 0
    paths = sorted(tmp_path.glob("*.png"))
    assert [path.name for path in paths] == [f"car-{seed}.png", f"car-{seed + 1}.png"]
    with Image.open(paths[0]) as picture:
        assert picture.size == (32, 32)
    assert main(["examples", "--category", "car", "--out", str(tmp_path), "--seed", "0"]) == 2


def test_example_seeds_lie_apart_from_the_seeds_evaluations_score_on() -> None:
    """The app's examples are test renders that no inversion or coverage read scores."""
    test = SEED_RANGES["test"]
    heldout_end = test.start + 100_000 + COUNT_RANGES["n_samples"][1]  # coverage's held-out renders
    assert heldout_end <= EXAMPLE_SEED < test.stop


def test_the_card_names_the_data_seeds_and_judges_only_the_gated_labels(
    run_dir: Path, tmp_path: Path
) -> None:
    """The data line names the seeds actually used (2 images from seed 0: 0–1); the goals
    table states the view-layer target the verdict applies (the first half of W+) and judges
    the gated coverage labels only."""
    out = tmp_path / "eval"
    code = main(["evaluate-gan", str(run_dir / "model.safetensors"), "--category", "face",
                 "--out", str(out), *TINY_EVALUATION])  # fmt: skip
    assert code == 0
    card = (out / "MODEL_CARD.md").read_text()
    assert "seeds 0–1, from" in card
    goals = card.split("## Goals")[1].split("## Coverage")[0]
    summary = json.loads((out / "evaluation.json").read_text())
    assert f"| ≤ {summary['generator']['num_ws'] // 2} layers, both ≥" in goals
    labels = summary["coverage"]["labels"]
    assert any(not label["gated"] for label in labels)
    for label in labels:
        assert (f"GAN / data std of {label['name']} |" in goals) == label["gated"], label["name"]


def test_a_pt_checkpoint_gets_a_card_though_it_keeps_no_step(run_dir: Path, tmp_path: Path) -> None:
    """The common layout records no step or kimg; the card says so and gives the log's."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    save_pt_checkpoint(run / "model.pt", load_checkpoint(run_dir / "model.safetensors").generator)
    out = tmp_path / "eval"
    code = main(["evaluate-gan", str(run / "model.pt"), "--category", "face", "--out", str(out),
                 *TINY_EVALUATION])  # fmt: skip
    assert code == 0
    card = (out / "MODEL_CARD.md").read_text()
    assert (
        "- snapshot: not recorded in the checkpoint (a `.pt` keeps no step) of 150 planned" in card
    )
    assert "- the run's log reaches 1.28 kimg" in card


def test_a_category_other_than_the_training_sets_is_refused_before_any_work(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A card and coverage weights read a synth set's images as its own category's."""
    data = run_dir.parent / "data"
    commands = (
        ["evaluate-gan", str(run_dir / "model.safetensors"), "--out", str(tmp_path / "eval")],
        ["coverage-weights", str(run_dir / "model.safetensors"), "--data", str(data / "images"),
         "--out", str(tmp_path / "weights.json")],
    )  # fmt: skip
    for command in commands:
        assert main([*command, "--category", "car"]) == 2
        assert capsys.readouterr().err == (
            f"error: --category car does not fit {data / 'images'}: it is a synthetic face set "
            "(its synth.json says so); pass --category face.\n"
        )
    assert not (tmp_path / "eval" / "evaluation.json").exists()


def _training(**changes: object) -> TrainingRun:
    """The training facts of a two-session run that ended as planned at its 0.96 kimg snapshot."""
    training = TrainingRun(
        run_dir=Path("runs/default-face"), snapshot_step=60, snapshot_kimg=0.96, target_kimg=0.96,
        latest_kimg=0.96, wall_time_s=90.0, sessions=2, data_dir=None, data_images=None,
        dataset=None, device="cpu", precision="fp32", train_command="python -m engine train-gan",
    )  # fmt: skip
    return replace(training, **changes)


def _hand_evaluation(**changes: object) -> GanEvaluation:
    """A face evaluation built by hand (no GAN run): inversion in W failing at 20 dB, yaw and
    pitch spreads of ratios 1.01 and 1.02 (both gated), light_x ungated, and a view swap
    passing at L = 1 of 6 layers."""
    labels = [
        LabelSpread("yaw", -8.73, 2.5, -8.6, 2.52, 0.9, gated=True),
        LabelSpread("pitch", 0.5, 1.0, 0.4, 1.02, 0.75, gated=True),
        LabelSpread("light_x", 0.1, 1.0, 0.2, 0.3, 0.6, gated=False),
    ]
    first = SEED_RANGES["test"].start
    evaluation = GanEvaluation(
        checkpoint=Path("runs/default-face/model.safetensors"),
        config=EvaluationConfig("face", n_samples=8, n_invert=2, inversion_steps=5,
                                n_train_renders=16, regressor_steps=7, seed=3),
        generator_size=16, num_ws=6, fingerprint="abc", training=_training(),
        sample_grid=torch.zeros(1, 3, 1, 1),
        inversion=InversionEvaluation(
            seeds=[first, first + 1], psnr=[19.0, 21.0], num_steps=5, w_plus=False,
            optimize_noise=False, targets=torch.zeros(1, 3, 16, 16),
            reconstructions=torch.zeros(1, 3, 16, 16),
        ),
        view_swap=ViewSwapEvaluation(
            num_ws=6, num_view_layers=1, prefix_lengths=[1, 2, 3, 4, 5],
            view_transfer=[0.8, 0.9, 0.9, 0.9, 0.9], appearance_kept=[0.7, 0.5, 0.4, 0.3, 0.2],
            matrix=torch.zeros(1, 3, 1, 1), analysis_figure=torch.zeros(1, 3, 1, 1),
        ),
        coverage=CoverageResult(labels, n_gan=8, n_data=8, n_train=16),
        seconds={"samples": 1.0},
    )  # fmt: skip
    return replace(evaluation, **changes)


def _section(card: str, title: str) -> str:
    """The text of the card's section `## title`, up to the next section."""
    return card.split(f"## {title}\n")[1].split("\n## ")[0]


def test_each_goal_row_shows_its_own_verdict(tmp_path: Path) -> None:
    """A failed inversion leaves the coverage and view-swap rows passing on their own figures."""
    evaluation = _hand_evaluation()
    assert not evaluation.inversion.passed and evaluation.view_swap.passed
    goals = _section(model_card(evaluation, tmp_path), "Goals")
    assert "| 20.00 ± 1.41 dB | ≥ 24 dB | **FAIL** |" in goals
    assert "| Coverage: GAN / data std of yaw | 1.01 | ≥ 0.8 | **pass** |" in goals
    assert "| Coverage: GAN / data std of pitch | 1.02 | ≥ 0.8 | **pass** |" in goals
    assert "| ≤ 3 layers, both ≥ 0.5 | **pass** |" in goals
    narrow = LabelSpread("yaw", 0.0, 1.0, 0.0, 0.5, 0.9, gated=True)
    coverage = CoverageResult([narrow], n_gan=8, n_data=8, n_train=16)
    passing = replace(evaluation.inversion, psnr=[30.0, 30.0])
    failing_swap = replace(evaluation.view_swap, appearance_kept=[0.2] * 5)
    goals = _section(
        model_card(
            replace(evaluation, coverage=coverage, inversion=passing, view_swap=failing_swap),
            tmp_path,
        ),
        "Goals",
    )
    assert "| 30.00 ± 0.00 dB | ≥ 24 dB | **pass** |" in goals
    assert "| Coverage: GAN / data std of yaw | 0.50 | ≥ 0.8 | **FAIL** |" in goals
    assert "| ≤ 3 layers, both ≥ 0.5 | **FAIL** |" in goals


def test_the_goals_row_names_the_latent_space_the_inversion_searched(tmp_path: Path) -> None:
    evaluation = _hand_evaluation()
    assert "| Inversion PSNR in W, 2 held-out renders, 5 steps |" in model_card(
        evaluation, tmp_path
    )
    in_w_plus = replace(evaluation, inversion=replace(evaluation.inversion, w_plus=True))
    assert "| Inversion PSNR in W+, 2 held-out renders, 5 steps |" in model_card(
        in_w_plus, tmp_path
    )


def test_coverage_rows_show_each_column_from_its_own_figure(tmp_path: Path) -> None:
    """Data and GAN spreads, their ratio and the regressor's R² are four different numbers."""
    coverage = _section(model_card(_hand_evaluation(), tmp_path), "Coverage")
    assert "| yaw (goal) | -8.73 ± 2.5 | -8.6 ± 2.52 | 1.01 | 0.90 |" in coverage
    assert "| light_x | 0.1 ± 1 | 0.2 ± 0.3 | 0.30 | 0.60 |" in coverage


def test_a_car_card_gives_both_reading_lengths_and_the_front_back_caveat(tmp_path: Path) -> None:
    """The azimuth readings of GAN samples have median length 0.23, the renders' 0.34; the
    front/back caveat is a car's alone."""
    labels = [
        LabelSpread("azimuth_cos", 0.0, 0.2, 0.0, 0.2, 0.9, gated=True),
        LabelSpread("azimuth_sin", 0.0, 0.2, 0.0, 0.2, 0.9, gated=True),
    ]
    directions = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])  # [4, 2]
    coverage = CoverageResult(
        labels, n_gan=4, n_data=4, n_train=16, gan_readings=0.23 * directions,
        data_readings=0.34 * directions,
    )  # fmt: skip
    face = _hand_evaluation()
    car = replace(face, config=replace(face.config, category="car"), coverage=coverage)
    card = model_card(car, tmp_path)
    assert "median 0.23 on GAN samples, 0.34 on renders;" in card
    caveat = "Cars look alike from front and back"
    assert caveat in card and caveat not in model_card(face, tmp_path)


def test_the_card_names_the_view_layers_the_swap_figure_copies(tmp_path: Path) -> None:
    card = model_card(_hand_evaluation(), tmp_path)
    assert "first 1 of 6 layers; view transfer 0.80, appearance kept 0.70" in card
    assert "with the first 1 W+ layers of the sample above" in _section(card, "Figures")


def test_the_card_says_whether_the_run_stopped_early_or_goes_on(tmp_path: Path) -> None:
    """A run stopped short of its plan gets the stopped-early notice; only a run still training
    has a log reaching past the snapshot, which a finished one's card does not claim."""
    finished = model_card(_hand_evaluation(), tmp_path)
    assert "Stopped early" not in finished and "Work in progress" not in finished
    assert "kimg since" not in finished
    stopped = model_card(_hand_evaluation(training=_training(target_kimg=150.0)), tmp_path)
    assert "> **Stopped early.** The run was stopped at 0.96 of the 150 kimg it planned" in stopped
    assert "kimg since" not in stopped
    going_on = model_card(_hand_evaluation(training=_training(latest_kimg=1.28)), tmp_path)
    assert "- the run's log has reached 1.28 kimg since" in going_on
    assert "**Work in progress.**" in going_on and "Stopped early" not in going_on


def test_the_cards_command_measures_again_with_every_setting(tmp_path: Path) -> None:
    """Inversion and regressor steps differ here, so each option is seen to take its own."""
    card = model_card(_hand_evaluation(), tmp_path)
    command = next(line for line in card.splitlines() if "engine evaluate-gan" in line)
    args = build_parser().parse_args(shlex.split(command.strip("`"))[3:])
    assert (args.steps, args.regressor_steps, args.seed) == (5, 7, 3)
    assert (args.n_samples, args.n_invert, args.train_renders) == (8, 2, 16)


def test_the_data_section_names_the_test_seed_range_it_ends_with(tmp_path: Path) -> None:
    test = SEED_RANGES["test"]
    data = _section(model_card(_hand_evaluation(), tmp_path), "Data")
    assert f"every evaluation image uses test seeds ({test.start}–{test.stop - 1})," in data


def test_a_checkpoint_without_a_step_is_not_matched_with_recorded_facts(tmp_path: Path) -> None:
    """Recorded facts need the snapshot's step: two unknown steps are no match."""
    record = tmp_path / "evaluation.json"
    record.write_text(json.dumps({"training": {"snapshot_step": None, "sessions": 1}}))
    with pytest.raises(GANliftError, match="This checkpoint records no training step"):
        recorded_training_run(record, {})


def test_the_device_and_precision_are_the_latest_sessions(tmp_path: Path) -> None:
    """A run resumed on another device and precision reports the last session's."""
    records = [
        {"time": 0.0, "event": "start", "step": 0, "device": "cuda", "precision": "bf16"},
        {"time": 10.0, "step": 10, "kimg": 0.1},
        {"time": 20.0, "event": "start", "step": 10, "device": "cpu", "precision": "fp32"},
        {"time": 30.0, "step": 20, "kimg": 0.2},
    ]
    _write_log(tmp_path / "run", records, {"kimg": 1.0})
    training = read_training_run({"step": 20, "kimg": 0.2}, tmp_path / "run")
    assert (training.device, training.precision, training.sessions) == ("cpu", "fp32", 2)
