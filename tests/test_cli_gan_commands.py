"""`python -m engine info | sample | invert`, run in-process on a tiny checkpoint."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from engine.cli import gan as gan_cli
from engine.cli import main
from engine.evaluation.samples import generate_samples
from engine.images import load_image, make_grid, save_image
from engine.progress import ProgressFn
from engine.stylegan2 import load_checkpoint
from tests.polls import stop_on_signals_after
from tests.tiny import tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16x16 checkpoint with a discriminator, in GANlift's safetensors format."""
    folder = tmp_path_factory.mktemp("model")
    return tiny_checkpoint(folder / "tiny", 16, style_dim=16, n_mlp=2)


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A non-square PNG for the inverter to fit into the 16x16 frame."""
    image = torch.linspace(-1, 1, 24 * 40).view(1, 1, 24, 40).expand(1, 3, 24, 40)
    return save_image(image, tmp_path_factory.mktemp("photos") / "photo.png")


def assert_one_line_error(capsys: pytest.CaptureFixture[str], code: int, *fragments: str) -> None:
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert error.startswith("error: ")
    assert all(fragment in error for fragment in fragments), error


def test_info_prints_the_architecture(checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(checkpoint)]) == 0
    output = capsys.readouterr().out
    assert "generator: 16x16" in output and "discriminator:" in output


def test_sample_writes_a_grid_reproducibly(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [str(checkpoint), "--n", "5", "--truncation", "0.5", "--device", "cpu"]
    assert main(["sample", *common, "--seed", "1", "--out", str(tmp_path / "a.png")]) == 0
    assert main(["sample", *common, "--seed", "1", "--out", str(tmp_path / "b.png")]) == 0
    assert main(["sample", *common, "--seed", "2", "--out", str(tmp_path / "c.png")]) == 0
    first, again, other = (load_image(tmp_path / name) for name in ("a.png", "b.png", "c.png"))
    assert first.shape == (1, 3, 2 * 18 + 2, 3 * 18 + 2)  # 5 samples: 3 per row, 2 rows
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert "saved 5 samples" in capsys.readouterr().out


def test_invert_saves_a_loadable_latent_and_reconstruction(
    checkpoint: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latent_path, recon_path = tmp_path / "latent.pt", tmp_path / "recon.png"
    code = main(
        [
            "invert",
            str(checkpoint),
            str(photo),
            "--out",
            str(latent_path),
            "--steps",
            "3",
            "--recon",
            str(recon_path),
            "--perceptual",
            "discriminator",
        ]
    )
    assert code == 0
    data = torch.load(latent_path, weights_only=True)
    assert data["latent"].shape == (1, 16) and torch.isfinite(data["latent"]).all()
    settings = {"steps": 3, "seed": 0, "wplus": False, "perceptual": "DiscriminatorFeatureLoss"}
    assert data["settings"] == settings  # what makes the latent again
    assert load_image(recon_path).shape == (1, 3, 16, 16)
    captured = capsys.readouterr()
    assert "PSNR" in captured.out and "invert" in captured.err  # the tqdm bar


def test_invert_in_w_plus(
    checkpoint: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "wplus.pt"
    args = [str(checkpoint), str(photo), "--out", str(out), "--steps", "2", "--wplus"]
    assert main(["invert", *args, "--perceptual", "none"]) == 0
    assert torch.load(out, weights_only=True)["latent"].shape == (1, 6, 16)


def test_bad_image_is_one_error_line(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("shopping list")
    code = main(["invert", str(checkpoint), str(not_an_image), "--out", str(tmp_path / "l.pt")])
    assert_one_line_error(capsys, code, "notes.jpg", "not a readable image")
    assert not (tmp_path / "l.pt").exists()


def test_a_dot_of_an_image_is_refused_as_reconstruct_refuses_it(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dot = save_image(torch.zeros(1, 3, 1, 1), tmp_path / "dot.png")
    code = main(["invert", str(checkpoint), str(dot), "--out", str(tmp_path / "l.pt")])
    assert_one_line_error(capsys, code, "is only 1x1 pixels")
    assert not (tmp_path / "l.pt").exists()
    small = save_image(torch.zeros(1, 3, 20, 20), tmp_path / "small.png")
    code = main(["invert", str(checkpoint), str(small), "--out", str(tmp_path / "l.pt"),
                 "--min-image-side", "32"])  # fmt: skip
    assert_one_line_error(capsys, code, "is only 20x20 pixels; use an image at least 32")


def test_missing_checkpoint_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["info", str(tmp_path / "missing.pt")])
    assert_one_line_error(capsys, code, "missing.pt", "does not exist")


def test_unknown_model_name_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sample", "no-such-model", "--out", "unused.png"])
    assert_one_line_error(capsys, code, "No model named 'no-such-model'")


def test_zero_steps_and_zero_samples_are_refused(
    checkpoint: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["invert", str(checkpoint), str(photo), "--steps", "0", "--perceptual", "none"])
    assert exited.value.code == 2
    assert "expected a whole number from 1 to 100000, got '0'" in capsys.readouterr().err


@pytest.mark.parametrize("count", ["0", "1025", "100000000"])
def test_a_grid_count_out_of_range_is_an_argument_error(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], count: str
) -> None:
    """100000000 samples ran out of memory with a traceback (1,000,000 after hours)."""
    with pytest.raises(SystemExit) as exited:
        main(["sample", str(checkpoint), "--n", count, "--out", str(tmp_path / "g.png")])
    assert exited.value.code == 2 and not (tmp_path / "g.png").exists()
    assert f"expected a whole number from 1 to 1024, got '{count}'" in capsys.readouterr().err


@pytest.mark.parametrize("truncation", ["nan", "inf", "-5", "2.5", "1e300"])
def test_a_truncation_that_draws_nothing_is_an_argument_error(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], truncation: str
) -> None:
    """nan drew an all-black grid and said it saved the samples; 1e300 overflowed float32."""
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "sample",
                str(checkpoint),
                f"--truncation={truncation}",
                "--out",
                str(tmp_path / "g.png"),
            ]
        )
    assert exited.value.code == 2 and not (tmp_path / "g.png").exists()
    assert f"expected a number from 0 to 2, got '{truncation}'" in capsys.readouterr().err


def test_lpips_offline_without_weights_is_one_error_line(
    checkpoint: Path,
    photo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    code = main(["invert", str(checkpoint), str(photo), "--perceptual", "lpips"])
    assert_one_line_error(capsys, code, "GANLIFT_OFFLINE is set")


def test_output_paths_are_checked_before_any_work(
    photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong output name is reported before the checkpoint is even opened (here: missing)."""
    missing = str(tmp_path / "missing.pt")
    code = main(["invert", missing, str(photo), "--out", str(tmp_path / "face.png")])
    assert_one_line_error(capsys, code, "face.png", "names the latent file", "--recon")
    code = main(["invert", missing, str(photo), "--recon", str(tmp_path / "r.txt")])
    assert_one_line_error(capsys, code, "Cannot save an image as 'r.txt'")
    code = main(["sample", missing, "--out", str(tmp_path / "grid.txt")])
    assert_one_line_error(capsys, code, "Cannot save an image as 'grid.txt'")
    code = main(["invert", missing, str(photo), "--out", str(tmp_path)])
    assert_one_line_error(capsys, code, "is a folder; choose a file name")
    code = main(["bench", "shape", "--n", "1", "--json", str(tmp_path)])
    assert_one_line_error(capsys, code, "is a folder; choose a file name")
    for option in (["--quality", "full"], ["--preset", "face"]):  # were ignored without a model
        code = main(["bench", "shape", "--n", "1", *option])
        assert_one_line_error(capsys, code, "add --gan2shape MODEL to score them")


def _stop_after(monkeypatch: pytest.MonkeyPatch, polls: int) -> None:
    """Make the CLI's Ctrl-C check turn true from its `polls`-th call on."""
    monkeypatch.setattr(gan_cli, "stop_on_signals", stop_on_signals_after(polls))


def test_a_stopped_inversion_keeps_the_latent_it_reached(
    checkpoint: Path, photo: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """Ctrl-C keeps the steps done (exit 130); before the first step nothing is written."""
    out = tmp_path / "latent.pt"
    command = ["invert", str(checkpoint), str(photo), "--steps", "10", "--out", str(out),
               "--perceptual", "none"]  # fmt: skip
    _stop_after(monkeypatch, 0)
    assert main(command) == 130
    assert "stopped before the first step; nothing saved" in capsys.readouterr().out
    assert not out.exists()
    _stop_after(monkeypatch, 3)
    assert main(command) == 130
    printed = capsys.readouterr().out
    assert "stopped after step 3 of 10; the latent is that step's" in printed
    assert torch.load(out, weights_only=True)["latent"].shape[-1] == 16
    finished = out.read_bytes()  # a stopped rerun replaced it with a partial latent
    _stop_after(monkeypatch, 2)
    assert main([*command, "--recon", str(tmp_path / "new.png")]) == 130
    printed = capsys.readouterr().out
    assert f"stopped after step 2 of 10; kept {out} (a stopped run replaces no results)" in printed
    assert out.read_bytes() == finished and not (tmp_path / "new.png").exists()
    recon = tmp_path / "recon.png"
    recon.write_bytes(b"a finished reconstruction")
    _stop_after(monkeypatch, 2)
    fresh = [*command[:-3], str(tmp_path / "fresh.pt"), *command[-2:], "--recon", str(recon)]
    assert main(fresh) == 130  # --out is new, --recon is there: nothing replaced either
    assert recon.read_bytes() == b"a finished reconstruction"
    assert not (tmp_path / "fresh.pt").exists()


def test_sample_draws_the_grid_of_its_seed_and_truncation(checkpoint: Path, tmp_path: Path) -> None:
    """The grid holds the samples of --seed drawn at --truncation, ceil(sqrt(n)) to a row."""
    out = tmp_path / "grid.png"
    command = ["sample", str(checkpoint), "--n", "3", "--seed", "4", "--truncation", "0.3"]
    assert main([*command, "--out", str(out), "--device", "cpu"]) == 0
    generator = load_checkpoint(checkpoint).generator
    images = generate_samples(generator, 3, seed=4, truncation=0.3)
    expected = save_image(make_grid(images, nrow=2), tmp_path / "expected.png")
    assert torch.equal(load_image(out), load_image(expected))


def test_sample_reports_its_progress(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sample --n 1024` drew for 20 s on the default model with no bar."""
    reports = []

    @contextlib.contextmanager
    def recording(desc: str = "", unit: str = "step") -> Iterator[ProgressFn]:
        yield lambda done, total, message: reports.append((desc, unit, done, total))

    monkeypatch.setattr(gan_cli, "tqdm_progress", recording)
    command = ["sample", str(checkpoint), "--n", "10", "--device", "cpu"]
    assert main([*command, "--out", str(tmp_path / "grid.png")]) == 0
    assert reports and reports[-1] == ("sample", "image", 10, 10)


def test_invert_optimises_with_its_seed_and_a_finished_run_replaces_the_latent(
    checkpoint: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--seed reaches the optimiser and the saved settings; a finished rerun replaces --out."""
    out, again = tmp_path / "latent.pt", tmp_path / "again.pt"
    command = ["invert", str(checkpoint), str(photo), "--steps", "1", "--perceptual", "none"]
    assert main([*command, "--out", str(out)]) == 0
    first = torch.load(out, weights_only=True)
    assert main([*command, "--seed", "5", "--out", str(out)]) == 0
    replaced = torch.load(out, weights_only=True)
    assert replaced["settings"]["seed"] == 5
    assert not torch.equal(replaced["latent"], first["latent"])
    assert main([*command, "--seed", "5", "--out", str(again)]) == 0
    assert torch.equal(torch.load(again, weights_only=True)["latent"], replaced["latent"])
