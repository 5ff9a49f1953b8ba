"""The training-image loader: discovery, decoding, resizing, caching, flips and bad folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cli import main
from engine.errors import GANliftError, StoppedEarly
from engine.images import load_image as read_image
from engine.images import to_uint8
from engine.stylegan2.training import data
from engine.stylegan2.training.data import (
    ImageFolder,
    find_images,
    load_image,
    read_sample_weights,
    to_model_images,
)
from tests.icc import ADOBE_RGB_D50, matrix_profile


def write_image(path: Path, pixels: np.ndarray) -> Path:
    """Save uint8 HWC (or HW) pixels as an image file, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def random_pixels(seed: int, height: int = 12, width: int = 12) -> np.ndarray:
    """Seeded uint8 [height, width, 3] pixels."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_find_images_is_recursive_sorted_and_skips_other_files(tmp_path: Path) -> None:
    write_image(tmp_path / "b.png", random_pixels(0))
    write_image(tmp_path / "sub" / "a.JPG", random_pixels(1))
    write_image(tmp_path / "sub" / "deeper" / "c.jpeg", random_pixels(2))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "shard.npz").write_bytes(b"PK")
    write_image(tmp_path / ".b.png.x1y2.png", random_pixels(3))  # a killed writer's temporary
    write_image(tmp_path / ".cache" / "d.png", random_pixels(4))
    found = [path.relative_to(tmp_path).as_posix() for path in find_images(tmp_path)]
    assert found == ["b.png", "sub/a.JPG", "sub/deeper/c.jpeg"]


def test_training_images_are_every_image_format_and_linked_folders_are_followed(
    tmp_path: Path,
) -> None:
    """The formats `reconstruct-batch` reads, and a folder made of links to image folders."""
    photos = tmp_path / "photos"
    for name in ("a.webp", "b.bmp", "c.tif", "d.gif"):
        write_image(photos / name, random_pixels(0))
    data = tmp_path / "data"
    data.mkdir()
    (data / "linked").symlink_to(photos, target_is_directory=True)
    found = [path.relative_to(data).as_posix() for path in find_images(data)]
    assert found == ["linked/a.webp", "linked/b.bmp", "linked/c.tif", "linked/d.gif"]
    assert ImageFolder(data, size=8).batch(torch.tensor([0, 3])).shape == (2, 3, 8, 8)


def test_training_images_are_read_as_every_other_image_is(tmp_path: Path) -> None:
    """16-bit grey, transparency, EXIF rotation and colour profiles as
    `engine.images.load_image` reads them."""
    grey16 = tmp_path / "grey16.png"
    Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16)).save(grey16)
    assert (load_image(grey16, 4) == 128).all()  # was read as white
    clear = tmp_path / "clear.png"
    Image.fromarray(np.zeros((4, 4, 4), dtype=np.uint8)).save(clear)
    assert (load_image(clear, 4) == 255).all()  # transparent on white, as the app shows it
    stored = np.zeros((6, 2, 3), dtype=np.uint8)
    stored[:3] = (255, 0, 0)  # red top half, stored sideways: upright, the right half is red
    sideways = Image.fromarray(stored)
    exif = sideways.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    sideways.save(tmp_path / "sideways.png", exif=exif)
    centre = load_image(tmp_path / "sideways.png", 2)  # the middle 2x2 of the upright 2x6
    assert centre[:, 0].tolist() == [[0, 0, 0]] * 2 and centre[:, 1].tolist() == [[255, 0, 0]] * 2
    profiled = tmp_path / "adobe.jpg"  # plain 8-bit, so the fast path reads it
    Image.new("RGB", (4, 4), (200, 150, 120)).save(
        profiled, icc_profile=matrix_profile(ADOBE_RGB_D50), quality=100
    )
    assert (load_image(profiled, 4) == to_uint8(read_image(profiled))).all()


def test_load_image_centre_crops_resizes_and_converts_to_rgb(tmp_path: Path) -> None:
    wide = np.zeros((10, 30, 3), dtype=np.uint8)
    wide[:, 10:20] = 200  # the centre square is uniformly 200, the sides are black
    assert (load_image(write_image(tmp_path / "wide.png", wide), 4) == 200).all()
    gray = write_image(tmp_path / "gray.png", np.full((6, 6), 77, dtype=np.uint8))
    loaded = load_image(gray, 6)
    assert loaded.shape == (6, 6, 3) and (loaded == 77).all()


def test_big_photos_are_training_data_though_the_app_caps_uploads(tmp_path: Path) -> None:
    """40.3 megapixels: above the app's upload cap, an ordinary photo for training."""
    big = write_image(tmp_path / "big.png", np.full((6200, 6500), 90, dtype=np.uint8))
    assert (load_image(big, 8) == 90).all()


def test_cached_and_streamed_folders_serve_the_same_batches(tmp_path: Path) -> None:
    for seed in range(5):
        write_image(tmp_path / f"{seed}.png", random_pixels(seed, 16, 20))
    cached = ImageFolder(tmp_path, size=8)
    streamed = ImageFolder(tmp_path, size=8, cache_limit_mb=0)
    assert cached.cached and not streamed.cached and len(cached) == 5
    indices = torch.tensor([4, 0, 4, 2])
    batch = cached.batch(indices)
    assert batch.shape == (4, 3, 8, 8) and batch.dtype == torch.uint8
    assert torch.equal(batch, streamed.batch(indices))
    expected = torch.tensor(load_image(tmp_path / "2.png", 8)).permute(2, 0, 1)
    assert torch.equal(batch[3], expected)


@pytest.mark.parametrize("cache_limit_mb", [4096.0, 0.0])
def test_every_unreadable_image_is_named_at_once_before_training(
    tmp_path: Path, cache_limit_mb: float
) -> None:
    """Cached and streamed folders both decode every image up front and list all bad files."""
    write_image(tmp_path / "good.png", random_pixels(0))
    (tmp_path / "fake.png").write_text("this is text, not a PNG")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "zero.jpg").write_bytes(b"")
    for suffix in (".png", ".jpg", ".bmp", ".gif"):  # Pillow's verify() skips all but PNG
        whole = write_image(tmp_path / f"whole{suffix}", random_pixels(1, 64, 64)).read_bytes()
        (tmp_path / f"truncated{suffix}").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(GANliftError) as refused:
        ImageFolder(tmp_path, size=8, cache_limit_mb=cache_limit_mb)
    assert str(refused.value) == (
        f"6 of 11 training images in '{tmp_path}' cannot be read ('fake.png', 'sub/zero.jpg', "
        "'truncated.bmp', 'truncated.gif', 'truncated.jpg' and 1 more); remove them or "
        "re-export them as PNG or JPEG."
    )
    (tmp_path / "fake.png").unlink()
    for truncated in tmp_path.glob("truncated.*"):
        truncated.unlink()
    with pytest.raises(GANliftError, match=r"^Image '.*zero.jpg' is empty \(0 bytes\)"):
        ImageFolder(tmp_path, size=8, cache_limit_mb=cache_limit_mb)


def test_a_long_list_of_unreadable_images_shows_five(tmp_path: Path) -> None:
    for index in range(7):
        (tmp_path / f"{index}.png").write_text("not a PNG")
    with pytest.raises(GANliftError, match=r"\('0.png', '1.png', '2.png', '3.png', '4.png' and 2 "):
        ImageFolder(tmp_path, size=8)


def test_a_stop_while_reading_the_images_ends_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "READ_CHUNK", 1)
    write_image(tmp_path / "a.png", random_pixels(0))
    assert len(ImageFolder(tmp_path, size=8, should_stop=lambda: True)) == 1  # all read: trains
    write_image(tmp_path / "b.png", random_pixels(1))
    with pytest.raises(StoppedEarly, match="while reading the training images"):
        ImageFolder(tmp_path, size=8, should_stop=lambda: True)


def test_to_model_images_maps_to_unit_range_and_mirrors() -> None:
    images = torch.tensor([[[[0, 255]]] * 3, [[[0, 255]]] * 3], dtype=torch.uint8)  # [2,3,1,2]
    out = to_model_images(images, torch.tensor([False, True]), torch.device("cpu"))
    assert out[0, :, 0].tolist() == [[-1.0, 1.0]] * 3
    assert out[1, :, 0].tolist() == [[1.0, -1.0]] * 3


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "does not exist"),
        ("empty", "holds no images"),
        ("not_images", "is not a readable image"),
    ],
)
def test_bad_data_folders_are_one_clear_error(
    tmp_path: Path, setup: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "data"
    if setup != "missing":
        folder.mkdir()
    if setup == "not_images":
        (folder / "fake.png").write_text("this is text, not a PNG")
    with pytest.raises(GANliftError, match=message):
        ImageFolder(folder, size=8)
    with pytest.raises(GANliftError, match=message):
        ImageFolder(folder, size=8, cache_limit_mb=0)
    code = main(["train-gan", "--data", str(folder), "--out", str(tmp_path / "run"), "--size", "8"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def write_weights(path: Path, table: object) -> Path:
    """Write `table` as the JSON sample-weights file at `path`."""
    path.write_text(json.dumps(table))
    return path


def test_sample_weights_follow_the_folder_order_of_the_images(tmp_path: Path) -> None:
    images = tmp_path / "images"
    for name in ("b.png", "sub/a.png"):
        write_image(images / name, random_pixels(0))
    weights_file = write_weights(tmp_path / "w.json", {"sub/a.png": 3, "b.png": 0.5})
    weights = read_sample_weights(weights_file, images, find_images(images))
    assert weights.tolist() == [0.5, 3.0]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"b.png": 1}, "1 images without a weight"),
        ({"b.png": 1, "c.png": 1, "gone.png": 1}, "1 names that are not images there"),
        ({"b.png": 1, "c.png": -1}, "finite numbers >= 0"),
        ({"b.png": 1, "c.png": 10**400}, "finite numbers >= 0"),  # was an OverflowError
        ({"b.png": 1, "c.png": True}, "finite numbers >= 0"),
        ({"b.png": 0, "c.png": 0}, "all zero"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_sample_weights_are_refused_in_one_sentence(
    tmp_path: Path, table: object, message: str
) -> None:
    images = tmp_path / "images"
    for name in ("b.png", "c.png"):
        write_image(images / name, random_pixels(0))
    weights_file = write_weights(tmp_path / "w.json", table)
    with pytest.raises(GANliftError, match=message):
        read_sample_weights(weights_file, images, find_images(images))
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "binary.json").write_bytes(b"\x89PNG\xff\xfe")  # used to escape as a traceback
    for broken in ("broken.json", "binary.json"):
        with pytest.raises(GANliftError, match="Cannot read sample weights"):
            read_sample_weights(tmp_path / broken, images, find_images(images))


def test_a_run_folder_inside_the_data_or_on_a_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    write_image(data / "a.png", random_pixels(0, 8, 8))
    (tmp_path / "taken").write_text("")
    for out, message in ((data / "run", "lies inside the training folder"),
                         (tmp_path / "taken", "is a file; choose a folder")):  # fmt: skip
        code = main(["train-gan", "--data", str(data), "--out", str(out), "--size", "8"])
        assert code == 2 and message in capsys.readouterr().err
    assert not (data / "run").exists()
