"""The bad-input table through the user-facing entry points: every refused file makes the CLI
exit 2 with one line (in process and as `python -m engine`), makes the app's handler raise a
one-sentence `gr.Error`, and never runs code; every accepted file comes out upright RGB."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest
import torch

from app import model_tab, reconstruct
from app.session import Session
from engine.cli import main
from engine.errors import GANliftError
from engine.inversion import load_latent
from engine.stylegan2 import load_checkpoint
from tests.data.bad.cases import BAD_INPUTS, BadInput, bad_input, write_bad_input
from tests.e2e.tiny_model import tiny_app_context, write_tiny_model

REPO = Path(__file__).resolve().parents[1]
PWNED = Path("/tmp/ganlift-pwned")
"""What the code-carrying pickles would write if they ever ran."""
SUBPROCESS_SECONDS = 120
REFUSED = [case for case in BAD_INPUTS if case.refusal is not None]
ACCEPTED = [case for case in BAD_INPUTS if case.refusal is None]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model and every case's file."""
    folder = tmp_path_factory.mktemp("bad-inputs")
    write_tiny_model(folder)
    for case in BAD_INPUTS:
        write_bad_input(case, folder / "bad")
    return folder


@pytest.fixture(scope="module")
def session(folder: Path) -> Session:
    return Session(tiny_app_context(folder / "tiny.pt", folder / "tiny-preset.json"))


def cli_arguments(case: BadInput, folder: Path) -> list[str]:
    """The command that reads `case`'s file: `info` for checkpoints, `reconstruct` for images,
    `reconstruct --latent` (with a good image) for latent files."""
    path = str(folder / "bad" / case.name)
    if case.kind == "checkpoint":
        return ["info", path]
    image = str(folder / "bad" / ACCEPTED[0].name) if case.kind == "latent" else path
    latent = ["--latent", path] if case.kind == "latent" else []
    return [
        "reconstruct", image, *latent, "--ckpt", str(folder / "tiny.pt"), "--preset",
        str(folder / "tiny-preset.json"), "--out", str(folder / "out" / case.name),
        "--device", "cpu", "--fp32",
    ]  # fmt: skip


def assert_one_line(error: str, case: BadInput) -> None:
    assert error.startswith("error: ") and error.count("\n") == 1, error
    assert case.refusal in error, (case.name, error)


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.name)
def test_cli_refuses_with_one_line(case: BadInput, folder: Path, capsys) -> None:
    assert main(cli_arguments(case, folder)) == 2
    assert_one_line(capsys.readouterr().err, case)
    assert not PWNED.exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bomb.png", "runs-code.pkl", "truncated.pt"])
def test_python_m_engine_refuses_without_a_traceback(name: str, folder: Path) -> None:
    case = bad_input(name)
    finished = subprocess.run(
        [sys.executable, "-m", "engine", *cli_arguments(case, folder)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
        env={"GANLIFT_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert finished.returncode == 2
    assert_one_line(finished.stderr, case)
    assert "Traceback" not in finished.stderr and not PWNED.exists()


@pytest.mark.parametrize(
    "case", [case for case in REFUSED if case.kind != "latent"], ids=lambda case: case.name
)
def test_app_handlers_raise_one_sentence_gr_errors(case: BadInput, folder, session) -> None:
    path = folder / "bad" / case.name
    with pytest.raises(gr.Error) as caught:
        if case.kind == "image":
            reconstruct.load_input(session, path)
        else:
            model_tab.load_model(session, str(path), "auto")
    message = caught.value.message
    assert case.refusal in message and "\n" not in message and message.endswith((".", ")"))
    assert not PWNED.exists()


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda case: case.name)
def test_app_accepts_odd_but_valid_images_as_rgb(case: BadInput, folder, session) -> None:
    reconstruct.load_input(session, folder / "bad" / case.name)
    image = session.require_input().image  # [1, 3, H, W]
    assert image.shape[:2] == (1, 3) and image.dtype == torch.float32
    assert image.min() >= -1 and image.max() <= 1


def test_exif_rotated_photo_comes_out_upright(folder, session) -> None:
    reconstruct.load_input(session, folder / "bad" / "exif-rotated.jpg")
    image = session.require_input().image  # [1, 3, 48, 24]: stored 48 wide, turned clockwise
    assert image.shape[-2:] == (48, 24)
    assert image[0, :, :6, -6:].mean() > 0.8  # the marker, stored top-left, is now top-right
    assert image[0, :, -6:, :6].mean() < -0.8


def test_transparency_is_white_and_animations_give_their_first_frame(folder, session) -> None:
    reconstruct.load_input(session, folder / "bad" / "rgba.png")
    assert torch.allclose(session.require_input().image[..., :16], torch.ones(1, 3, 32, 16))
    reconstruct.load_input(session, folder / "bad" / "animated.gif")
    red = session.require_input().image[0, :, 16, 16]
    assert red.tolist() == pytest.approx([1.0, -1.0, -1.0], abs=0.05)


@pytest.mark.parametrize(
    "case", [case for case in BAD_INPUTS if case.kind == "latent"], ids=lambda case: case.name
)
def test_latent_files_are_checked_against_the_generator(case: BadInput, folder: Path) -> None:
    generator = load_checkpoint(folder / "tiny.pt").generator
    with pytest.raises(GANliftError, match=re.escape(case.refusal)):
        load_latent(
            folder / "bad" / case.name, style_dim=generator.style_dim, num_ws=generator.num_ws
        )
