"""`torchrun --nproc_per_node 2 -m engine gan2shape-pretrain` (2 gloo CPU processes) trains the
weights that one process trains with the same global batch; a batch that does not split over
the processes is refused."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch

from engine.cli import main
from engine.distributed import ProcessGroup, process_group_from_environment
from engine.stylegan2.safe_pickle import load_torch_file
from tests.gloo import LOOPBACK
from tests.tiny import tiny_checkpoint, tiny_gan2shape_preset

ROOT = Path(__file__).resolve().parents[1]
PRESET = tiny_gan2shape_preset(prior_steps=2)


@pytest.fixture(scope="module")
def model_arguments(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """--ckpt and --preset of a tiny GAN, plus a small pretraining schedule (4 iterations of 4
    samples, 2 per process: 2 prior fits, then 2 joint steps)."""
    folder = tmp_path_factory.mktemp("tiny-gan")
    checkpoint = tiny_checkpoint(folder / "tiny")
    preset = folder / "preset.json"
    preset.write_text(PRESET.to_json())
    return [
        "--ckpt", str(checkpoint), "--preset", str(preset), "--images", "3", "--steps", "2",
        "--batch", "4", "--device", "cpu", "--fp32",
    ]  # fmt: skip


def torchrun(arguments: list[str]) -> subprocess.CompletedProcess[str]:
    """`torchrun --standalone --nproc_per_node 2 -m engine ARGUMENTS` from the repository root."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "engine", *arguments,
    ]  # fmt: skip
    environment = os.environ | LOOPBACK | {"OMP_NUM_THREADS": "1"}
    return subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(model_arguments, tmp_path: Path) -> None:
    two, one = tmp_path / "two.safetensors", tmp_path / "one.safetensors"
    run = torchrun(["gan2shape-pretrain", "--out", str(two), *model_arguments])
    assert run.returncode == 0, run.stderr
    assert run.stdout.count(f"pretrained networks saved to {two}") == 1  # rank 0 only
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["gan2shape-pretrain", "--out", str(one), *model_arguments]) == 0
    finally:
        torch.set_num_threads(threads)
    expected = load_torch_file(one.with_suffix(".resume.pt"))
    actual = load_torch_file(two.with_suffix(".resume.pt"))
    assert actual["iteration"] == expected["iteration"] == 4
    assert torch.equal(actual["rng"], expected["rng"])
    weights = safetensors.torch.load_file(str(two))
    assert weights.keys() == expected["networks"].keys()
    differences = torch.cat(
        [(weights[name] - tensor).abs().flatten() for name, tensor in expected["networks"].items()]
    )
    # Equal up to the order of floating-point sums (two per-process sums of two samples, then
    # their all-reduced mean, against one sum of four), which Adam magnifies where a gradient
    # is nearly zero: its first steps move by about lr whatever the gradient's size, so a
    # rounding-level gradient that flips sign moves a weight 2 lr the other way. Measured: 53
    # of 211,696 weights (0.03 %) differ by more than 0.2 lr; without the all-reduce, 25 %.
    apart = (~(differences <= 0.2 * PRESET.lr)).float().mean().item()  # NaN counts as apart
    assert apart < 0.01, f"{apart:.2%} of the weights differ"


def test_a_batch_that_does_not_split_is_refused(
    model_arguments, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(
        importlib.import_module("engine.gan2shape.pretrain"),
        "current_process_group",
        lambda device: ProcessGroup(rank=0, world_size=2, device=device),
    )
    out = tmp_path / "weights.safetensors"
    for option in ("--batch", "--warmup-batch"):
        arguments = [
            "gan2shape-pretrain", "--out", str(out), *model_arguments, "--warmup-steps", "1",
            option, "3",
        ]  # fmt: skip
        assert main(arguments) == 2
        error = capsys.readouterr().err
        assert f"Pretraining {option} 3 does not split into 2 processes" in error
        assert not out.exists()


@pytest.mark.parametrize(
    ("world_size", "refusal"),
    [
        ("abc", "WORLD_SIZE is 'abc', not a number of processes; unset it, or start the comm"),
        ("0", "WORLD_SIZE is '0', not a number of processes"),
        ("²", "WORLD_SIZE is '²', not a number of processes"),  # a digit to str.isdigit
        ("2\nforged", "WORLD_SIZE is '2\\nforged', not a number"),  # one line all the same
        ("2", "WORLD_SIZE is 2 but torchrun's other variables are missing (RANK, MASTER_ADDR"),
    ],
)
def test_a_world_size_torchrun_did_not_set_is_one_sentence(
    model_arguments, tmp_path: Path, monkeypatch, capsys, world_size: str, refusal: str
) -> None:
    """WORLD_SIZE empty or 'abc' was a ValueError traceback, and 2 without torchrun's other
    variables torch's own ("environment variable RANK expected"); empty means one process."""
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", world_size)
    out = tmp_path / "pretrained.safetensors"
    assert main(["gan2shape-pretrain", *model_arguments, "--out", str(out)]) == 2
    assert refusal in capsys.readouterr().err and not out.exists()
    monkeypatch.setenv("WORLD_SIZE", "")
    with process_group_from_environment("cpu") as device:
        assert device == torch.device("cpu")
