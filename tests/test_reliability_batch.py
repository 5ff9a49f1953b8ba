"""`reconstruct-batch` on a tiny model: bad images fail alone, the report lists every outcome,
a second run skips finished images, and two gloo processes (images sharded by rank) produce
exactly the single-process results."""

from __future__ import annotations

import errno
import importlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

from engine.batch import (
    REPORT_FILE,
    BatchReport,
    ImageOutcome,
    find_images,
    images_in_subfolders,
    reconstruct_batch,
)
from engine.cli import main
from engine.cli.batch import SOME_FAILED
from engine.errors import GANliftError
from engine.gan2shape import Gan2ShapeModel, Gan2ShapePreset, OutputSettings, ViewSpec
from engine.gan2shape.outputs import OUTPUTS_FORMAT
from engine.perceptual import DiscriminatorFeatureLoss
from engine.stylegan2 import load_checkpoint
from tests.e2e.tiny_model import write_tiny_model
from tests.gloo import gloo_group
from tests.tiny import write_random_images

GOOD = ("a.png", "b.jpg", "c.png")
BAD = {"broken.png": "not a readable image", "dot.png": "is only 1x1 pixels"}
SETTINGS = OutputSettings(views=(ViewSpec(10.0, 5.0),), frames=3)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with three photos, a broken file and a 1x1 image, plus the tiny model."""
    folder = tmp_path_factory.mktemp("batch")
    write_tiny_model(folder)
    images = write_random_images(folder / "images", GOOD, height=40, width=44)
    (images / "broken.png").write_bytes(b"\x89PNG not really")
    Image.new("RGB", (1, 1)).save(images / "dot.png")
    (images / "notes.txt").write_text("not an image suffix: ignored")
    return folder


def cli_arguments(inputs: Path, out: Path, images: Path | None = None) -> list[str]:
    """reconstruct-batch of `images` (default: the inputs' images) with the tiny model."""
    images = images or inputs / "images"
    return ["reconstruct-batch", str(images), "--out", str(out), "--ckpt",
            str(inputs / "tiny.pt"), "--preset", str(inputs / "tiny-preset.json"), "--device",
            "cpu", "--fp32", "--frames", "3", "--views", "10,5"]  # fmt: skip


def cli(inputs: Path, out: Path) -> int:
    return main(cli_arguments(inputs, out))


def test_failures_are_reported_and_finished_images_skipped(inputs, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert cli(inputs, out) == SOME_FAILED
    printed = capsys.readouterr().out
    assert "3 done, 0 skipped, 2 failed" in printed
    assert printed.count("inversion PSNR") == len(GOOD)  # which PSNR the table shows
    report = {row["image"]: row for row in json.loads((out / REPORT_FILE).read_text())["images"]}
    assert sorted(report) == sorted([*GOOD, *BAD])
    for name, message in BAD.items():
        assert report[name]["status"] == "failed" and message in report[name]["message"]
    for name in GOOD:
        assert report[name]["status"] == "done" and (out / name / "depth.npy").is_file()
    finished = {name: (out / name / "summary.json").stat().st_mtime_ns for name in GOOD}

    assert cli(inputs, out) == SOME_FAILED
    assert "0 done, 3 skipped, 2 failed" in capsys.readouterr().out
    in_bf16 = [word for word in cli_arguments(inputs, out) if word != "--fp32"]
    assert main(in_bf16) == SOME_FAILED  # a finished image is kept whatever precision asks again
    assert "0 done, 3 skipped, 2 failed" in capsys.readouterr().out
    assert finished == {name: (out / name / "summary.json").stat().st_mtime_ns for name in GOOD}
    again = {row["image"]: row for row in json.loads((out / REPORT_FILE).read_text())["images"]}
    for name in GOOD:  # the report of a resumed batch still holds every image's PSNR
        assert again[name]["status"] == "skipped" and again[name]["psnr"] == report[name]["psnr"]

    (out / GOOD[2] / "summary.json").write_text("[]")  # no record of a finished image
    assert cli(inputs, out) == SOME_FAILED
    assert "1 done, 2 skipped, 2 failed" in capsys.readouterr().out

    other_views = "--views=-20,0"  # the last --views wins: outputs are written again
    assert main([*cli_arguments(inputs, out), other_views]) == SOME_FAILED
    assert "3 done, 0 skipped, 2 failed" in capsys.readouterr().out
    for name in GOOD:
        assert {path.name for path in (out / name / "views").iterdir()} == {
            "render_az-20_el+0.png",
            "projected_az-20_el+0.png",
        }
    summaries = [out / name / "summary.json" for name in GOOD[:2]]
    records = [json.loads(summary.read_text()) for summary in summaries]
    del records[0]["outputs"]["format"]  # as older GANlifts wrote them, in other conventions
    del records[1]["outputs"]  # (before the outputs' settings were recorded)
    for summary, record in zip(summaries, records, strict=True):
        summary.write_text(json.dumps(record))
    assert main([*cli_arguments(inputs, out), other_views]) == SOME_FAILED
    assert "2 done, 1 skipped, 2 failed" in capsys.readouterr().out
    for summary in summaries:
        assert json.loads(summary.read_text())["outputs"]["format"] == OUTPUTS_FORMAT
    assert main([*cli_arguments(inputs, out), "--quality", "fast"]) == SOME_FAILED  # another run
    rows = json.loads((out / REPORT_FILE).read_text())["images"]
    assert all("holds a run of another" in row["message"] for row in rows if row["image"] in GOOD)


def test_a_folder_finished_for_another_photo_or_quality_is_not_skipped(
    inputs, tmp_path, capsys
) -> None:
    """Only a finished run of the same photo, model and quality counts as this image's; any
    other fails, as `reconstruct` refuses the folder."""
    photos = tmp_path / "photos"
    photos.mkdir()
    original = (inputs / "images" / "a.png").read_bytes()
    (photos / "a.png").write_bytes(original)
    out = tmp_path / "out"
    arguments = cli_arguments(inputs, out, photos)
    assert main(arguments) == 0
    capsys.readouterr()
    write_random_images(photos, ["a.png"], height=40, width=44, seed=7)  # another photo
    for options, other in (([], "input (image or mask)"), (["--quality", "fast"], "quality")):
        assert main([*arguments, *options]) == SOME_FAILED
        assert "0 done, 0 skipped, 1 failed" in capsys.readouterr().out
        (row,) = json.loads((out / REPORT_FILE).read_text())["images"]
        assert f"holds a run of another {other};" in row["message"]
        (photos / "a.png").write_bytes(original)
    assert main(arguments) == 0
    assert "0 done, 1 skipped, 0 failed" in capsys.readouterr().out


def test_a_fast_batch_without_pretrained_networks_says_where_it_looked(
    inputs, tmp_path, capsys
) -> None:
    """As `reconstruct` says it: fast mode then starts from the shape prior."""
    photos = write_random_images(tmp_path / "photos", ["a.png"], height=40, width=44)
    out = tmp_path / "out"
    arguments = cli_arguments(inputs, out, photos)
    assert main([*arguments, "--quality", "fast"]) == 0
    assert (
        f"note: no pretrained networks at {inputs / 'tiny-gan2shape.safetensors'}, so fast mode "
        "starts from the shape prior"
    ) in capsys.readouterr().err


def test_the_batch_bar_shows_each_images_steps_and_a_stop(inputs, tmp_path) -> None:
    """A stop ends the batch after saving its image; the report lists the images not reached
    as pending."""
    model = load_tiny(inputs)
    reports: list[tuple[int, int, str]] = []
    batch = reconstruct_batch(
        model, [inputs / "images" / name for name in GOOD], tmp_path, settings=SETTINGS,
        perceptual=DiscriminatorFeatureLoss(model.discriminator),
        progress=lambda done, total, message: reports.append((done, total, message)),
        should_stop=lambda: any(message.startswith("b.jpg 2/") for *_, message in reports),
    )  # fmt: skip
    assert [outcome.status for outcome in batch.outcomes] == ["done", "stopped", "pending"]
    assert batch.table().endswith("3 images: 1 done, 0 skipped, 0 failed, 1 stopped, 1 pending")
    assert any(message.startswith("a.png 1/") for *_, message in reports)
    for done, total, message in reports:  # an image counts as done only once it is
        assert total == len(GOOD) and done == (0 if message.startswith("a.png") else 1), message
    assert all(message != "batch finished" for *_, message in reports)


def test_the_image_folder_is_no_output_folder(inputs, capsys) -> None:
    code = main(["reconstruct-batch", str(inputs / "images"), "--out", str(inputs / "images")])
    assert code == 2 and "is the image folder itself" in capsys.readouterr().err


def test_the_batch_takes_the_photo_caps_and_no_job_or_session_caps(inputs, tmp_path, capsys):
    """The photo caps apply to every image; the app's job and session caps were accepted and
    ignored, so a batch given --job-seconds ran on past it."""
    assert main([*cli_arguments(inputs, tmp_path / "out"), "--min-image-side", "41"]) == SOME_FAILED
    assert "0 done, 0 skipped, 5 failed" in capsys.readouterr().out
    for flag in ("--job-seconds", "--memory-mb", "--max-sessions", "--session-seconds"):
        with pytest.raises(SystemExit):
            main([*cli_arguments(inputs, tmp_path / "out"), flag, "5"])
        assert f"unrecognized arguments: {flag} 5" in capsys.readouterr().err


def test_an_empty_or_missing_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(GANliftError, match="holds no images"):
        find_images(tmp_path)
    with pytest.raises(GANliftError, match="does not exist"):
        find_images(tmp_path / "nowhere")
    Image.new("RGB", (20, 20)).save(tmp_path / ".photo.png.k3j2.png")  # a killed copy's temporary
    with pytest.raises(GANliftError, match="holds no images"):
        find_images(tmp_path)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    for name in ("sub/a.png", "sub/deeper/b.jpg", "top.png"):
        Image.new("RGB", (20, 20)).save(tmp_path / name)
    (tmp_path / ".git").mkdir()
    Image.new("RGB", (20, 20)).save(tmp_path / ".git" / "hidden.png")
    assert find_images(tmp_path) == [tmp_path / "top.png"]
    assert images_in_subfolders(tmp_path) == 2  # reconstruct-batch says they are not read
    assert find_images(tmp_path, recursive=True) == [
        tmp_path / name for name in ("sub/a.png", "sub/deeper/b.jpg", "top.png")
    ]
    assert images_in_subfolders(tmp_path, leaving_out=tmp_path / "sub" / "deeper") == 1


def test_image_suffixes_are_found_in_any_case(tmp_path: Path) -> None:
    """Cameras write IMG_0001.JPG: suffixes are matched in any case."""
    names = ("a.JPG", "b.Png", "c.jpeg", "d.TIFF")
    for name in names:
        Image.new("RGB", (20, 20)).save(tmp_path / name)
    (tmp_path / "notes.TXT").write_text("not an image")
    assert find_images(tmp_path) == [tmp_path / name for name in names]


def test_linked_folders_are_read_once(tmp_path: Path) -> None:
    """A data set arranged with links is read through them; a link cycle ends the walk."""
    shared = tmp_path / "shared"
    shared.mkdir()
    Image.new("RGB", (20, 20)).save(shared / "a.png")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "linked").symlink_to(shared)
    (shared / "back").symlink_to(photos)  # photos/linked/back/linked/... loops
    assert find_images(photos, recursive=True) == [photos / "linked" / "a.png"]
    assert images_in_subfolders(photos) == 1
    (photos / "z_real").mkdir()  # a real folder and two links to it: read once, by its name
    Image.new("RGB", (20, 20)).save(photos / "z_real" / "b.png")
    for link in ("a_link", "zz_link"):
        (photos / link).symlink_to(photos / "z_real")
    assert find_images(photos, recursive=True) == [
        photos / "linked" / "a.png",
        photos / "z_real" / "b.png",
    ]
    results = tmp_path / "results"  # a link in the image folder that leads to the results
    (results / "a.png").mkdir(parents=True)
    Image.new("RGB", (20, 20)).save(results / "a.png" / "input.png")
    (photos / "out").symlink_to(results)
    found = find_images(photos, recursive=True, leaving_out=results)
    assert photos / "out" / "a.png" / "input.png" not in found


def test_recursive_batches_mirror_the_subfolders(inputs, tmp_path, capsys) -> None:
    folder = write_random_images(tmp_path / "photos", ["top.png"], height=40, width=44)
    write_random_images(folder / "set", ["a.png"], height=40, width=44)
    out = tmp_path / "out"
    arguments = cli_arguments(inputs, out)
    arguments[1] = str(folder)
    assert main(arguments) == 0
    assert "1 image is in subfolders of" in capsys.readouterr().err  # and how to read them
    assert main([*arguments, "--recursive"]) == 0
    assert "1 done, 1 skipped, 0 failed" in capsys.readouterr().out
    assert (out / "set" / "a.png" / "depth.npy").is_file()
    rows = json.loads((out / REPORT_FILE).read_text())["images"]
    assert [row["image"] for row in rows] == ["set/a.png", "top.png"]

    arguments[3] = str(folder / "results")  # the outputs' pictures would be read next time
    assert main([*arguments, "--recursive"]) == 2
    assert "lies inside" in capsys.readouterr().err and not (folder / "results").exists()
    for _ in range(2):  # the results' own pictures are not counted as images left out
        assert main(arguments) == 0
        assert "1 image is in subfolders of" in capsys.readouterr().err


def load_tiny(inputs: Path) -> Gan2ShapeModel:
    checkpoint = load_checkpoint(inputs / "tiny.pt")
    preset = Gan2ShapePreset.from_json((inputs / "tiny-preset.json").read_text())
    return Gan2ShapeModel(
        checkpoint.generator, checkpoint.discriminator, preset, inputs / "none.safetensors"
    )


def run_batch(inputs: Path, out: Path) -> None:
    """The batch through the API, one torch thread, discriminator features as perceptual."""
    torch.set_num_threads(1)
    model = load_tiny(inputs)
    reconstruct_batch(
        model,
        [inputs / "images" / name for name in GOOD],
        out,
        settings=SETTINGS,
        perceptual=DiscriminatorFeatureLoss(model.discriminator),
    )


def _batch_in_process(rank: int, world_size: int, rendezvous: str, inputs: str, out: str) -> None:
    """One of the spawned batch processes."""
    with gloo_group(rank, world_size, rendezvous):
        run_batch(Path(inputs), Path(out))


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(inputs: Path, tmp_path: Path) -> None:
    two, one = tmp_path / "two", tmp_path / "one"
    mp.spawn(
        _batch_in_process,
        args=(2, str(tmp_path / "rendezvous"), str(inputs), str(two)),
        nprocs=2,
        join=True,
    )
    threads = torch.get_num_threads()
    try:
        run_batch(inputs, one)
    finally:
        torch.set_num_threads(threads)
    ranks = {
        row["image"]: row["rank"] for row in json.loads((two / REPORT_FILE).read_text())["images"]
    }
    assert ranks == {"a.png": 0, "b.jpg": 1, "c.png": 0}
    for name in GOOD:
        expected, actual = np.load(one / name / "depth.npy"), np.load(two / name / "depth.npy")
        np.testing.assert_allclose(actual, expected, atol=1e-6)
        assert (one / name / "albedo.png").read_bytes() == (two / name / "albedo.png").read_bytes()


def test_an_image_that_runs_out_of_memory_says_so(inputs, tmp_path, monkeypatch) -> None:
    def short_of_memory(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                           "2147483648 bytes. Error code 12 (Cannot allocate memory)")  # fmt: skip

    monkeypatch.setattr(importlib.import_module("engine.batch"), "reconstruct", short_of_memory)
    batch = reconstruct_batch(
        load_tiny(inputs), [inputs / "images" / "a.png"], tmp_path, settings=SETTINGS,
        perceptual=None,
    )  # fmt: skip
    [outcome] = batch.outcomes
    assert outcome.status == "failed"
    assert outcome.message == "ran out of memory (2.0 GiB were asked for at once)"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_ends_the_batch_in_one_sentence(
    inputs, tmp_path, monkeypatch, caplog, code
) -> None:
    """Each image logged its traceback (about 45 lines on stderr), and every later image ran
    into the same full disk or quota."""
    calls = []

    def disk_full(*args, **kwargs):
        calls.append(args)
        raise OSError(code, os.strerror(code), str(tmp_path / "a.png" / "x"))

    monkeypatch.setattr(importlib.import_module("engine.batch"), "reconstruct", disk_full)
    images = [inputs / "images" / name for name in GOOD]
    batch = reconstruct_batch(load_tiny(inputs), images, tmp_path, settings=SETTINGS)
    assert [outcome.status for outcome in batch.outcomes] == ["failed", "pending", "pending"]
    assert batch.outcomes[0].message.startswith(f"{os.strerror(code)} (")
    assert len(calls) == 1 and not any(record.exc_info for record in caplog.records)


def test_a_batch_the_disk_fills_exits_as_failed_not_as_stopped(
    inputs, tmp_path, monkeypatch, capsys
) -> None:
    """The images after the full disk are pending, not stopped: running it again as it is
    would meet the same disk."""

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "x"))

    monkeypatch.setattr(importlib.import_module("engine.batch"), "reconstruct", disk_full)
    assert cli(inputs, tmp_path / "out") == SOME_FAILED
    assert "run the same command again" not in capsys.readouterr().out


@pytest.mark.parametrize(("flags", "bf16"), [([], True), (["--fp32"], False)])
def test_fp32_turns_bfloat16_off_where_the_device_has_it(
    inputs, tmp_path, monkeypatch, flags: list[str], bf16: bool
) -> None:
    batch_cli = importlib.import_module("engine.cli.batch")
    asked: list[bool] = []

    def record(*args, **kwargs):
        asked.append(kwargs["bf16"])
        return BatchReport(path=None, outcomes=[])

    monkeypatch.setattr("engine.cli.reconstruct.bf16_supported", lambda device: True)
    monkeypatch.setattr(batch_cli, "reconstruct_batch", record)
    arguments = [word for word in cli_arguments(inputs, tmp_path / "out") if word != "--fp32"]
    assert main([*arguments, *flags]) == 0
    assert asked == [bf16]


def test_images_in_subfolders_are_counted_in_the_note(inputs, tmp_path, capsys) -> None:
    folder = write_random_images(tmp_path / "photos", ["top.png"], height=40, width=44)
    write_random_images(folder / "set", ["a.png", "b.png"], height=40, width=44)
    arguments = cli_arguments(inputs, tmp_path / "out")
    arguments[1] = str(folder)
    assert main(arguments) == 0
    assert "2 images are in subfolders of" in capsys.readouterr().err


def test_the_batch_s_help_names_its_exit_status_for_failed_images(capsys) -> None:
    """--help said "Exits 1 when some image failed"; the command exits 3 (1 is a crash)."""
    with pytest.raises(SystemExit):
        main(["reconstruct-batch", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert f"Exits {SOME_FAILED} when some image failed." in shown


def test_the_totals_of_one_image_say_one_image() -> None:
    report = BatchReport([ImageOutcome("a.png", "done", 1.0)], path=None)
    assert report.table().endswith("\n1 image: 1 done, 0 skipped, 0 failed, 0 stopped, 0 pending")
