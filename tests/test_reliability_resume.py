"""Nothing is lost to a crash: `train-gan` and `reconstruct` killed with SIGKILL (no chance to
clean up) after their first saved state leave a loadable state, and the same command run
again continues from exactly that state and finishes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.gan2shape import StepLengths
from engine.gan2shape.state import load_state, schedule
from engine.stylegan2.safe_pickle import load_torch_file
from tests.e2e.tiny_model import TINY_PRESET, write_tiny_model
from tests.tiny import write_random_images

REPO = Path(__file__).resolve().parents[1]
WAIT_SECONDS = 180.0
TRAIN_STEPS = 100
"""--kimg 0.4 at --batch 4; a snapshot every 5 steps (--snapshot-kimg 0.02)."""
LONG_PRESET = TINY_PRESET.replace(
    name="tiny-long", first_stage=StepLengths(40, 40, 40), prior_steps=40
)
"""Long enough that the run is still going when it is killed after its first saved phase."""


def engine_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "engine", *arguments]


def environment() -> dict[str, str]:
    return os.environ | {"GANLIFT_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def kill_once_saved(command: list[str], saved: Path) -> None:
    """Start `command`, SIGKILL it as soon as `saved` exists; fail if it exits first."""
    process = subprocess.Popen(
        command, cwd=REPO, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        while not saved.exists():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, f"{saved} never appeared"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL


def run_to_end(command: list[str]) -> str:
    finished = subprocess.run(
        command, cwd=REPO, env=environment(), capture_output=True, text=True, timeout=600
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


@pytest.mark.slow
def test_killed_training_resumes_from_its_last_snapshot(tmp_path: Path) -> None:
    data, out = write_random_images(tmp_path / "images"), tmp_path / "run"
    command = engine_command(
        "train-gan", "--data", str(data), "--out", str(out), "--size", "16", "--channels",
        "8,8,8", "--style-dim", "16", "--n-mlp", "2", "--batch", "4", "--kimg", "0.4",
        "--snapshot-kimg", "0.02", "--log-every", "1", "--precision", "fp32", "--device", "cpu",
    )  # fmt: skip
    kill_once_saved(command, out / "training-state.pt")
    snapshot_step = load_torch_file(out / "training-state.pt")["step"]
    assert 0 < snapshot_step < TRAIN_STEPS

    printed = run_to_end([*command, "--resume"])
    assert f"finished at 0.4 kimg (step {TRAIN_STEPS}" in printed
    starts = [
        record["step"]
        for record in map(json.loads, (out / "log.jsonl").read_text().splitlines())
        if record.get("event") == "start"
    ]
    assert starts == [0, snapshot_step]
    assert load_torch_file(out / "training-state.pt")["step"] == TRAIN_STEPS


@pytest.mark.slow
def test_killed_reconstruction_continues_where_it_was_saved(tmp_path: Path) -> None:
    checkpoint, _ = write_tiny_model(tmp_path)
    preset = tmp_path / "long-preset.json"
    preset.write_text(LONG_PRESET.to_json())
    out = tmp_path / "run"
    command = engine_command(
        "reconstruct", "--seed-sample", "3", "--ckpt", str(checkpoint), "--preset", str(preset),
        "--out", str(out), "--frames", "3", "--views", "10,5", "--device", "cpu", "--fp32",
    )  # fmt: skip
    kill_once_saved(command, out / "state.pt")
    saved = load_state(out / "state.pt")
    assert 1 <= saved.phase < len(schedule(LONG_PRESET, fit_prior=True))  # past the prior fit

    printed = run_to_end(command)
    assert "continued the run saved in" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"]
    assert load_state(out / "state.pt").phase == len(schedule(LONG_PRESET, fit_prior=True))
