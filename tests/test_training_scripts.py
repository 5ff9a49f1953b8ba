"""The reproduction scripts refuse what cannot work before hours of training, and say on the
terminal when a stage failed (everything else goes to their log)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def run_script(name: str, *args: str, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPTS / name), *args],
        env=os.environ | variables,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_missing_checkpoint_is_refused_before_any_stage(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = run_script("train_styleganr_car.sh", CHECKPOINT=str(tmp_path / "no.pt"), RUN=str(run))
    assert result.returncode == 2 and "is neither a file nor a bundled model" in result.stderr
    assert not run.exists()


def test_a_run_keeps_the_view_settings_it_began_with(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "settings.txt").write_text("LAYERS=4 CANDIDATES=480 VIEWS=24 CHECKPOINT=default-car\n")
    result = run_script("train_styleganr_car.sh", LAYERS="2", RUN=str(run))
    assert result.returncode == 2
    assert "was begun with LAYERS=4" in result.stderr and "not LAYERS=2" in result.stderr
    assert not (run / "train.out").exists()  # nothing started


def test_a_failed_stage_is_told_on_the_terminal(tmp_path: Path) -> None:
    result = run_script(
        "train_default.sh", "face", PYTHON="false", N="2", DATA_ROOT=str(tmp_path / "data"),
        RUN_ROOT=str(tmp_path / "runs"),
    )  # fmt: skip
    log = tmp_path / "runs" / "default-face" / "train.out"
    assert result.returncode == 1
    assert f"failed (exit 1); the whole log is {log}" in result.stderr
    assert "train_default.sh face (N=2 SEED=0 KIMG=150)" in log.read_text()
