"""Writing and reading synthetic datasets (PNGs + npz shards) and the `synth` command."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cli import main
from engine.errors import GANliftError
from engine.images import load_image, save_image
from engine.synth import read_dataset, read_info, render_samples, save_preview, write_dataset
from tests.polls import stop_on_signals_after


def test_dataset_round_trip(tmp_path) -> None:
    info = write_dataset(tmp_path, "car", n=5, size=32, seed=10, shard_size=2, batch_size=3)
    assert (info.count, info.split, info.first_seed) == (5, "train", 10)
    assert len(list((tmp_path / "shards").glob("*.npz"))) == 3
    assert sorted(p.name for p in (tmp_path / "images").glob("*.png"))[0] == "0000000010.png"

    loaded = read_dataset(tmp_path)
    fresh = render_samples("car", list(range(10, 15)), size=32)
    assert loaded.seeds.tolist() == list(range(10, 15))
    assert torch.allclose(loaded.image, fresh.image, atol=1 / 127.5 + 1e-6)
    assert torch.allclose(loaded.depth, fresh.depth, atol=1e-5)
    assert torch.equal(loaded.mask, fresh.mask)
    assert torch.allclose(loaded.normal, fresh.normal, atol=2e-3)
    assert torch.allclose(loaded.albedo, fresh.albedo, atol=1 / 127.5 + 1e-6)
    assert torch.allclose(loaded.view, fresh.view) and torch.allclose(loaded.light, fresh.light)

    png = np.asarray(Image.open(tmp_path / "images" / "0000000012.png"))
    with np.load(tmp_path / "shards" / "shard_00001.npz") as shard:
        assert np.array_equal(png, shard["image"][0])
        assert shard["normal"].dtype == np.float16 and shard["depth"].dtype == np.float32


def test_reading_something_else_names_the_fix(tmp_path) -> None:
    with pytest.raises(GANliftError, match=r"no synth\.json"):
        read_info(tmp_path)


def test_synth_command_writes_data_and_preview(tmp_path, capsys) -> None:
    out, preview = tmp_path / "faces", tmp_path / "grid.png"
    code = main(
        ["synth", "--category", "face", "--n", "3", "--size", "64", "--out", str(out),
         "--preview", str(preview), "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    assert json.loads((out / "synth.json").read_text())["count"] == 3
    with Image.open(preview) as picture:
        assert picture.size[0] > 3 * 64
    assert "wrote 3 face samples" in capsys.readouterr().out


def test_synth_command_checks_its_outputs_before_rendering(tmp_path, capsys) -> None:
    """A preview name it cannot write was found after the set was rendered, whose folder then
    refused the retry; a file as --out ended in a traceback."""
    (tmp_path / "taken").write_text("")
    for out, preview, message in (
        (tmp_path / "faces", tmp_path / "grid.txt", "Cannot save an image as 'grid.txt'"),
        (tmp_path / "faces", tmp_path, "is a folder; choose a file name"),
        (tmp_path / "taken", None, "is a file; choose a folder"),
        ("", None, "give --out a folder's name"),
    ):
        command = ["synth", "--category", "face", "--n", "1", "--out", str(out)]
        assert main(command + (["--preview", str(preview)] if preview else [])) == 2
        captured = capsys.readouterr()
        assert captured.err.count("\n") == 1 and message in captured.err
        assert "wrote" not in captured.out
    assert not (tmp_path / "faces" / "synth.json").exists()


def test_synth_command_rejects_seeds_across_ranges(tmp_path, capsys) -> None:
    code = main(
        ["synth", "--category", "car", "--n", "4", "--out", str(tmp_path),
         "--seed", str(999_999_998)]
    )  # fmt: skip
    assert code == 2
    assert "do not lie in one seed range" in capsys.readouterr().err


def test_stopping_early_keeps_finished_shards_only(tmp_path) -> None:
    reports = []
    info = write_dataset(
        tmp_path, "face", n=6, size=32, shard_size=2, batch_size=1,
        progress=lambda done, total, message: reports.append((done, total)),
        should_stop=lambda: len(reports) >= 4,  # in the middle of the second shard
    )  # fmt: skip
    assert info.count == 2
    assert len(list((tmp_path / "shards").glob("*.npz"))) == 1
    assert reports == [(0, 6), (1, 6), (2, 6), (3, 6)]
    assert read_dataset(tmp_path).seeds.tolist() == [0, 1]
    images = sorted(path.name for path in (tmp_path / "images").iterdir())
    assert images == ["0000000000.png", "0000000001.png"]  # the unfinished shard's went


def test_the_same_call_continues_a_stopped_set(tmp_path) -> None:
    """Its finished shards stay as they are; the rest are rendered as one run would."""
    options = {"n": 5, "size": 16, "shard_size": 2, "batch_size": 1}
    stops = iter([False, False, True])  # in the second shard
    assert write_dataset(tmp_path, "face", **options, should_stop=lambda: next(stops)).count == 2
    first_shard = (tmp_path / "shards" / "shard_00000.npz").stat().st_mtime_ns
    reports = []
    progress = lambda done, total, message: reports.append(done)  # noqa: E731
    info = write_dataset(tmp_path, "face", **options, progress=progress)
    assert info.count == 5 and reports[0] == 2
    assert (tmp_path / "shards" / "shard_00000.npz").stat().st_mtime_ns == first_shard
    whole = write_dataset(tmp_path / "whole", "face", **options)
    assert whole == info
    assert torch.equal(read_dataset(tmp_path).image, read_dataset(tmp_path / "whole").image)
    assert write_dataset(tmp_path, "face", **options) == info  # finished: nothing to do
    longer = write_dataset(tmp_path, "face", **(options | {"n": 7}))  # its partial shard again
    assert longer.count == 7 and len(list((tmp_path / "shards").glob("*.npz"))) == 4
    assert read_dataset(tmp_path).seeds.tolist() == list(range(7))


@pytest.mark.parametrize("count", [5, 4])  # ending in a partial shard, and in a whole one
def test_an_extension_killed_outright_leaves_the_set_its_record_counts(
    tmp_path, count: int
) -> None:
    """Killed before its synth.json, an extension left its images (train-gan read them) and
    shards (read_dataset did) beside the samples the record counts."""
    options = {"size": 16, "shard_size": 2, "batch_size": 1}
    write_dataset(tmp_path, "face", n=count, **options)
    record = (tmp_path / "synth.json").read_text()
    write_dataset(tmp_path, "face", n=9, **options)
    (tmp_path / "synth.json").write_text(record)  # as a SIGKILL before the record leaves it
    assert read_dataset(tmp_path).seeds.tolist() == list(range(count))
    write_dataset(tmp_path, "face", n=count, **options)
    assert len(list((tmp_path / "images").glob("*.png"))) == count
    assert sorted(path.name for path in (tmp_path / "shards").iterdir()) == [
        f"shard_0000{index}.npz" for index in range((count + 1) // 2)
    ]
    assert read_dataset(tmp_path).seeds.tolist() == list(range(count))


def test_a_set_stopped_before_its_first_image_records_none_and_continues(tmp_path) -> None:
    options = {"n": 3, "size": 16, "shard_size": 2, "batch_size": 1}
    info = write_dataset(tmp_path, "face", **options, should_stop=lambda: True)
    assert info.count == 0 and read_info(tmp_path) == info
    assert not list((tmp_path / "images").iterdir())
    assert write_dataset(tmp_path, "face", **options).count == 3
    assert read_dataset(tmp_path).seeds.tolist() == [0, 1, 2]


def test_a_folder_that_holds_a_set_is_refused(tmp_path, capsys) -> None:
    write_dataset(tmp_path, "car", n=2, size=32, shard_size=2)
    command = ["synth", "--category", "face", "--n", "1", "--size", "64", "--out", str(tmp_path)]
    assert main(command) == 2  # its 2 cars would stay beside the new faces
    assert capsys.readouterr().err == (
        f"error: {tmp_path} already holds another synthetic set (2 cars at 32 px from seed 0, "
        "shards of 2); choose another --out or delete that folder.\n"
    )
    for other in ({"shard_size": 3}, {"size": 16}, {"seed": 5}):  # not its sequel
        with pytest.raises(GANliftError, match="already holds another synthetic set"):
            write_dataset(tmp_path, "car", **{"n": 4, "size": 32, "shard_size": 2, **other})
    with pytest.raises(GANliftError, match="already holds 2 of this set, more than --n 1; pass"):
        write_dataset(tmp_path, "car", n=1, size=32, shard_size=2)
    assert read_dataset(tmp_path).seeds.tolist() == [0, 1]
    (tmp_path / "synth.json").unlink()  # as a killed run leaves it: images, no synth.json
    assert main(command) == 2
    assert "holds the images of a synthetic set that was cut short" in capsys.readouterr().err
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    save_image(torch.zeros(3, 8, 8), photos / "sub" / "p.jpg")
    command[-1] = str(photos)  # images in subfolders: train-gan reads them all
    assert main(command) == 2
    assert "holds images of its own, which a training run on it would read" in (
        capsys.readouterr().err
    )
    assert not (photos / "images").exists()


def test_a_round_trip_keeps_the_canonical_maps_and_the_shard_size(tmp_path) -> None:
    """The canonical-pose depth and mask come back as rendered, and synth.json records the
    shard size the set was written with."""
    info = write_dataset(tmp_path, "face", n=3, size=16, seed=20, shard_size=2)
    assert info.shard_size == 2 and read_info(tmp_path).shard_size == 2
    loaded, fresh = read_dataset(tmp_path), render_samples("face", [20, 21, 22], size=16)
    assert torch.allclose(loaded.canonical_depth, fresh.canonical_depth, atol=1e-5)
    assert torch.equal(loaded.canonical_mask, fresh.canonical_mask)
    assert not torch.equal(loaded.canonical_mask, loaded.mask)


def test_unusable_sets_and_sizes_are_refused_with_the_fix(tmp_path) -> None:
    """A zero batch size, another format version and a set without shards are user errors."""
    with pytest.raises(GANliftError, match=r"^The batch size \(--batch-size\) must be at least 1"):
        write_dataset(tmp_path / "zero", "car", n=1, size=16, batch_size=0)
    write_dataset(tmp_path, "car", n=1, size=16)
    fields = json.loads((tmp_path / "synth.json").read_text())
    (tmp_path / "synth.json").write_text(json.dumps(fields | {"format_version": 0}))
    with pytest.raises(GANliftError, match="regenerate the dataset"):
        read_info(tmp_path)
    (tmp_path / "synth.json").write_text(json.dumps(fields | {"seeds": [1, 2]}))
    with pytest.raises(GANliftError, match=r"has unknown keys \['seeds'\]"):
        read_info(tmp_path)
    (tmp_path / "synth.json").write_text('{"category": "car", ')
    with pytest.raises(GANliftError, match="is not valid JSON; regenerate the dataset"):
        read_info(tmp_path)
    (tmp_path / "synth.json").write_text(json.dumps(fields))
    (tmp_path / "shards" / "shard_00000.npz").unlink()
    with pytest.raises(GANliftError, match="has no shards"):
        read_dataset(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [  # shard_size 0 divided by zero, a huge count hung, the others were taken as they were
        ({"shard_size": 0}, "The dataset's shard_size must be from 1 to 1,000,000, got 0."),
        ({"count": 10**10}, "The dataset's count must be from 0 to 1,000,000"),
        ({"split": "bogus"}, "The dataset's split must be one of train, test, got 'bogus'."),
        ({"category": "horse"}, "The dataset's category must be one of face, car"),
        ({"size": 0}, "The dataset's size must be from 1 to 4,096, got 0."),
        ({"first_seed": -1}, "The dataset's first_seed must be a whole number from 0"),
    ],
)
def test_a_synth_json_out_of_its_ranges_is_refused(tmp_path, change: dict, message: str) -> None:
    write_dataset(tmp_path, "car", n=1, size=16)
    fields = json.loads((tmp_path / "synth.json").read_text())
    (tmp_path / "synth.json").write_text(json.dumps(fields | change))
    with pytest.raises(GANliftError, match=re.escape(message)):
        read_dataset(tmp_path)


def test_damaged_shards_are_refused_with_the_fix(tmp_path) -> None:
    write_dataset(tmp_path, "car", n=4, size=16, shard_size=2)
    second = tmp_path / "shards" / "shard_00001.npz"
    whole = second.read_bytes()
    for damage in (whole[: len(whole) // 2], b"", b"shopping list"):  # tracebacks before
        second.write_bytes(damage)
        with pytest.raises(GANliftError, match=r"shard_00001\.npz is damaged .*; generate the"):
            read_dataset(tmp_path)
    with np.load(tmp_path / "shards" / "shard_00000.npz") as shard:
        arrays = {key: shard[key] for key in shard.files}
    np.savez(second, **{key: value for key, value in arrays.items() if key != "depth"})
    with pytest.raises(GANliftError, match=r"holds the arrays \[.*\], not"):
        read_dataset(tmp_path)  # read 2 depths for 4 images before
    np.savez(second, **arrays, extra=arrays["seeds"])
    with pytest.raises(GANliftError, match=r"holds the arrays \[.*'extra'.*\], not"):
        read_dataset(tmp_path)
    np.savez(second, **arrays | {"image": arrays["image"][:, :8]})
    with pytest.raises(GANliftError, match="do not fit together"):
        read_dataset(tmp_path)
    np.savez(second, **arrays | {"depth": arrays["depth"][:1]})
    with pytest.raises(GANliftError, match="hold arrays of different lengths"):
        read_dataset(tmp_path)


def test_the_preview_lays_out_its_columns(tmp_path) -> None:
    """save_preview puts `columns` images in a row (2-pixel frames)."""
    batch = render_samples("car", [0, 1, 2], size=16)
    path = save_preview(batch, tmp_path / "grid.png", columns=2)
    with Image.open(path) as picture:
        assert picture.size == (2 * 18 + 2, 2 * 18 + 2)


def test_synth_command_passes_its_size_seed_and_shard_size_to_the_set_and_preview(
    tmp_path, capsys
) -> None:
    """The set and its preview are the renders of --seed on at --size, in --shard-size shards."""
    out, preview = tmp_path / "cars", tmp_path / "grid.png"
    code = main(
        ["synth", "--category", "car", "--n", "2", "--size", "128", "--seed", "7",
         "--shard-size", "1", "--out", str(out), "--preview", str(preview), "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    info = json.loads((out / "synth.json").read_text())
    assert (info["size"], info["first_seed"], info["shard_size"]) == (128, 7, 1)
    assert len(list((out / "shards").glob("*.npz"))) == 2
    assert read_dataset(out).seeds.tolist() == [7, 8]
    expected = save_preview(render_samples("car", [7, 8], size=128), tmp_path / "expected.png")
    assert torch.equal(load_image(preview), load_image(expected))


@pytest.mark.parametrize(
    ("shards", "said"),
    [
        (1, "wrote 1 face sample (train seeds) to {out}\nstopped: {out} holds the first 1 of 3"),
        (0, "stopped: {out} holds none; run the same command to continue it"),
    ],
)
def test_a_stopped_synth_command_exits_130_keeping_its_finished_shards(
    shards: int, said: str, tmp_path, monkeypatch, capsys
) -> None:
    """Ctrl-C ends synth with 130, the finished shards kept as a set of their own, no preview;
    stopped before its first shard, it said 'wrote 0 face samples'."""
    monkeypatch.setattr("engine.cli.synth.stop_on_signals", stop_on_signals_after(shards))
    out, preview = tmp_path / "faces", tmp_path / "grid.png"
    code = main(
        ["synth", "--category", "face", "--n", "3", "--shard-size", "1", "--batch-size", "1",
         "--out", str(out), "--preview", str(preview), "--device", "cpu"]
    )  # fmt: skip
    assert code == 130
    printed = capsys.readouterr().out
    assert printed.startswith(said.format(out=out)), printed
    assert json.loads((out / "synth.json").read_text())["count"] == shards
    assert not preview.exists()


def test_synth_command_renders_at_most_batch_size_samples_at_once(tmp_path, monkeypatch) -> None:
    """--batch-size bounds the samples rendered together (the memory one render takes)."""
    rendered = []

    def recording(category, seeds, **options):
        rendered.append(len(seeds))
        return render_samples(category, seeds, **options)

    monkeypatch.setattr("engine.synth.dataset.render_samples", recording)
    out = tmp_path / "faces"
    command = ["synth", "--category", "face", "--n", "3", "--batch-size", "2", "--out", str(out)]
    assert main([*command, "--device", "cpu"]) == 0
    assert rendered == [2, 1]
    assert read_dataset(out).seeds.tolist() == [0, 1, 2]
