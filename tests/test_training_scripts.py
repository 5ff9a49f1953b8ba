"""The reproduction scripts refuse what cannot work before hours of training, and say on the
terminal when a stage failed (everything else goes to their log)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import safetensors.torch
import torch

from engine.atomic import save_torch

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def run_script(name: str, *args: str, **variables: str) -> subprocess.CompletedProcess:
    """Run a script in its own process group, all of which is killed if it outlives a minute
    (a refusal that regressed would start hours of training)."""
    process = subprocess.Popen(
        ["bash", str(SCRIPTS / name), *args],
        env=os.environ | variables,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_a_missing_checkpoint_is_refused_before_any_stage(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = run_script("train_styleganr_car.sh", CHECKPOINT=str(tmp_path / "no.pt"), RUN=str(run))
    assert result.returncode == 2 and "is neither a file nor a bundled model" in result.stderr
    assert not run.exists()


def test_a_run_keeps_the_view_settings_its_codes_were_drawn_with(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    codes = {"codes": torch.zeros(480, 4, 8)}  # what view-codes wrote with the defaults
    safetensors.torch.save_file(codes, str(run / "candidates.safetensors"))
    other_rows = run_script("train_styleganr_car.sh", LAYERS="2", RUN=str(run))
    assert other_rows.returncode == 2
    assert "drawn with LAYERS=4 CANDIDATES=480" in other_rows.stderr
    assert "not LAYERS=2 CANDIDATES=480" in other_rows.stderr
    (run / "drawn-with.txt").write_text("CHECKPOINT=default-face VIEWS=24\n")
    other_gan = run_script("train_styleganr_car.sh", RUN=str(run))
    assert other_gan.returncode == 2 and "CHECKPOINT=default-face" in other_gan.stderr
    (run / "candidates.safetensors").write_bytes(b"cut short")
    damaged = run_script("train_styleganr_car.sh", RUN=str(run))
    assert damaged.returncode == 2 and "is not a view-code file; pass" in damaged.stderr
    assert "Traceback" not in damaged.stderr
    assert not (run / "train.out").exists()  # nothing started


def test_a_failed_first_run_holds_no_settings(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = run_script("train_styleganr_car.sh", LAYERS="20", RUN=str(run), PYTHON="false")
    assert first.returncode == 1 and "failed (exit 1)" in first.stderr
    again = run_script("train_styleganr_car.sh", LAYERS="4", RUN=str(run), PYTHON="false")
    assert again.returncode == 1 and "drawn with" not in again.stderr  # it ran, and failed


def test_a_failed_stage_is_told_on_the_terminal(tmp_path: Path) -> None:
    result = run_script(
        "train_default.sh", "face", PYTHON="false", N="2", DATA_ROOT=str(tmp_path / "data"),
        RUN_ROOT=str(tmp_path / "runs"),
    )  # fmt: skip
    log = tmp_path / "runs" / "default-face" / "train.out"
    assert result.returncode == 1
    assert f"failed (exit 1); the whole log is {log}" in result.stderr
    assert "train_default.sh face (N=2 SEED=0 KIMG=150)" in log.read_text()


def test_a_training_length_or_data_size_that_is_no_number_is_refused_first(
    tmp_path: Path,
) -> None:
    """train-gan refused KIMG=0 only after the data set was rendered."""
    for variable, value in (("KIMG", "0"), ("KIMG", "1e3x"), ("N", "0"), ("N", "2.5")):
        result = run_script(
            "train_default.sh", "face", PYTHON="false", RUN_ROOT=str(tmp_path / "runs"),
            **{"N": "2", variable: value},
        )  # fmt: skip
        assert result.returncode == 2 and f"{variable}={value}: give" in result.stderr
        assert not (tmp_path / "runs").exists()


def test_a_run_past_its_first_stages_goes_on_from_them(tmp_path: Path) -> None:
    """A RUN holding the shipped labeller (9,500 steps), or rerun after its labeller was tuned
    and its inverse graphics network reached GAN pairs, skips the stages those states have
    passed: their trainers refuse a state holding more steps than asked, which failed the run."""
    run, log = tmp_path / "run", tmp_path / "commands.txt"
    run.mkdir()
    shutil.copy(
        SCRIPTS.parent / "assets" / "models" / "default-car-labeller.pt", run / "labeller.pt"
    )
    save_torch({"format": "ganlift-styleganr-inverse-graphics", "step": 5800}, run / "inverse.pt")
    python = tmp_path / "python"  # the engine's commands are logged, the script's checks run
    python.write_text(
        f'#!/usr/bin/env bash\nif [[ "$1" == -m ]]; then echo "$*" >>{log}; exit 0; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    result = run_script("train_styleganr_car.sh", RUN=str(run), PYTHON=str(python))
    assert result.returncode == 0, result.stderr
    commands = log.read_text()
    assert "train-labeller" in commands and "--steps 8000" not in commands
    assert "train-inverse --checkpoint" in commands and "--synthetic" not in commands
