"""scripts/probe_gan_shading.py: its pseudo samples redraw the true relit face when given the true
surface, its correction score reads 1 for the truth and −1 for the opposite change, and it
runs end to end on a tiny GAN and refuses bad arguments in one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from tests.tiny import tiny_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "probe_gan_shading.py"


@pytest.fixture(scope="module")
def probe():
    spec = importlib.util.spec_from_file_location("probe_gan_shading", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run(probe, monkeypatch, capsys):
    """Run the script's `main` with arguments; its exit status, stdout and stderr. The thread
    count it sets is restored."""

    def run_main(*arguments: str) -> tuple[int, str, str]:
        threads = torch.get_num_threads()
        monkeypatch.setattr("sys.argv", ["probe_gan_shading.py", *arguments])
        try:
            probe.run_script(probe.main)
            status = 0
        except SystemExit as exited:  # a refusal, by argparse or by the script
            status = exited.code
        finally:
            torch.set_num_threads(threads)
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run_main


@pytest.mark.parametrize("category", ["face", "car"])
def test_pseudo_samples_of_the_true_surface_are_the_true_relit_renders(probe, category):
    faces, *relit = probe.canonical_renders(category, 3, 64, [-0.7, 0.7])
    for face in range(3):
        lights = torch.stack([render.light[face] for render in relit])
        pseudo = probe.pseudo_samples(
            faces.image[face : face + 1],
            faces.normal[face : face + 1],
            faces.light[face : face + 1],
            lights,
        )
        lit = probe.shade(faces.normal[face : face + 1], faces.light[face : face + 1])[0, 0]
        solvable = (faces.mask[face] > 0.5) & (lit > probe.DIM_SHADING)
        for index, render in enumerate(relit):
            difference = (pseudo[index] - render.image[face]).abs().amax(0)
            assert difference[solvable].max() < 1e-4
            assert not torch.equal(render.image[face], faces.image[face])


def test_correction_reads_the_direction_of_the_change(probe):
    generator = torch.Generator().manual_seed(0)
    pseudo, truth = (torch.rand(2, 3, 16, 16, generator=generator) * 2 - 1).unbind(0)
    mask = torch.ones(16, 16, dtype=torch.bool)
    assert probe.correction(truth, pseudo, truth, mask) == pytest.approx(1.0)
    assert probe.correction(pseudo, pseudo, truth, mask) == pytest.approx(0.0)
    opposite = ((pseudo / 2 + 0.5 + 0.02) ** 2 / (truth / 2 + 0.5 + 0.02) - 0.02) * 2 - 1
    assert probe.correction(opposite, pseudo, truth, mask) == pytest.approx(-1.0)


def test_runs_on_a_tiny_gan(tmp_path, run):
    checkpoint = tiny_checkpoint(tmp_path / "tiny.safetensors", size=32)
    status, out, _ = run("--model", str(checkpoint), "--n", "1", "--light-x=0.7",
                      "--inversion-steps", "2", "--steps", "2", "--space", "w")  # fmt: skip
    assert status == 0, out
    assert "face 0 (inversion" in out  # the category names each line
    assert out.strip().splitlines()[-1].startswith("mean: l1_pseudo")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--light-x", "left"], "expected comma-separated numbers from -1 to 1, got 'left"),
        (["--n", "0"], "argument --n: expected a whole number of at least 1, got '0'"),
        (["--lr", "nan"], "argument --lr: expected a number above 0, got 'nan'"),
        (["--model", "nowhere-model"], "No model named 'nowhere-model'"),
    ],
)
def test_bad_arguments_end_in_one_line(run, arguments, message):
    status, out, err = run(*arguments)
    last = err.strip().splitlines()[-1]  # argparse prints its usage line first
    assert status == 2 and out == "" and "error: " in last and message in last
