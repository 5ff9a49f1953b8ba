"""save_animation: GIF and MP4 read back with the right frame count, size and colours; atomic
writes and user errors."""

from __future__ import annotations

import errno
import gc
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from engine import animation
from engine.animation import save_animation
from engine.errors import GANliftError


def _frames(count: int = 5, height: int = 16, width: int = 24) -> torch.Tensor:
    """``[count, 3, H, W]`` flat frames, each a different grey, in [-1, 1]."""
    greys = torch.linspace(-0.8, 0.8, count)
    return greys.view(count, 1, 1, 1).expand(count, 3, height, width).clone()


def _expected_uint8(frames: torch.Tensor) -> np.ndarray:
    return ((frames[:, 0, 0, 0] + 1) * 127.5).round().numpy()


def test_gif_reads_back_frame_for_frame(tmp_path: Path) -> None:
    frames = _frames()
    path = save_animation(frames, tmp_path / "turn.gif", fps=10)

    decoded = iio.imread(path, index=None)
    assert decoded.shape == (5, 16, 24, 3)
    np.testing.assert_allclose(decoded[:, 0, 0, 0], _expected_uint8(frames), atol=1)
    metadata = iio.immeta(path, index=0)
    assert metadata["loop"] == 0
    assert metadata["duration"] == pytest.approx(100)


def test_mp4_reads_back_with_its_frame_count_size_and_rate(tmp_path: Path) -> None:
    frames = _frames()
    path = save_animation(frames, tmp_path / "turn.mp4", fps=12)

    decoded = iio.imread(path, plugin="FFMPEG")
    assert decoded.shape == (5, 16, 24, 3)
    np.testing.assert_allclose(decoded[:, 8, 12, 0], _expected_uint8(frames), atol=4)
    assert iio.immeta(path, plugin="FFMPEG")["fps"] == pytest.approx(12)


def test_mp4_pads_odd_sides_to_even(tmp_path: Path) -> None:
    path = save_animation(_frames(3, height=15, width=21), tmp_path / "odd.mp4")

    assert iio.imread(path, plugin="FFMPEG").shape == (3, 16, 22, 3)
    wide = save_animation(_frames(3, height=16, width=21), tmp_path / "wide.mp4")
    assert iio.imread(wide, plugin="FFMPEG").shape == (3, 16, 22, 3)  # only the odd side grows
    decoded = iio.imread(path, plugin="FFMPEG")  # the added row and column repeat the edge
    edge = _expected_uint8(_frames(3))
    for added in (decoded[:, -1, :, 0], decoded[:, :, -1, 0]):
        np.testing.assert_allclose(added.mean(axis=1), edge, atol=4)


def test_saving_over_a_file_replaces_it_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "loop.gif"
    save_animation(_frames(2), path)
    save_animation(_frames(4), path)

    assert iio.imread(path, index=None).shape[0] == 4
    assert [file.name for file in tmp_path.iterdir()] == ["loop.gif"]


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "loop.gif"
    save_animation(_frames(2), path)
    before = path.read_bytes()

    def fail(image: Image.Image, target: Path, *args: object, **kwargs: object) -> None:
        Path(target).write_bytes(b"half a gif")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        save_animation(_frames(4), path)
    assert path.read_bytes() == before
    assert [file.name for file in tmp_path.iterdir()] == ["loop.gif"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_gif_the_disk_cannot_hold_fails_once_and_quietly(capfd) -> None:
    """imageio tried the write again when its writer was collected and printed that second
    failure's traceback after the one-line error."""
    with pytest.raises(OSError) as caught:
        animation._write_gif(Path("/dev/full"), np.zeros((3, 8, 8, 3), np.uint8), fps=10)
    assert caught.value.errno == errno.ENOSPC
    gc.collect()
    assert "Exception ignored" not in capfd.readouterr().err


def test_a_video_cut_short_is_refused_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ffmpeg returns without an error when a full disk stops it before the MP4's index."""
    path = save_animation(_frames(2), tmp_path / "turn.mp4")
    before = path.read_bytes()
    write = animation._write_mp4

    def cut_short(target: Path, frames: np.ndarray, fps: float) -> None:
        write(target, frames, fps)
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])

    monkeypatch.setattr(animation, "_write_mp4", cut_short)
    with pytest.raises(GANliftError, match=r"video '.*turn\.mp4' whole; check the disk"):
        save_animation(_frames(4), path)
    assert path.read_bytes() == before
    assert [file.name for file in tmp_path.iterdir()] == ["turn.mp4"]


def test_no_frames_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"frames must be \[N, 3, H, W\] with N >= 1, got \[0"):
        save_animation(torch.empty(0, 3, 4, 4), tmp_path / "none.gif")


def test_unknown_suffix_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(GANliftError, match=r"'turn\.avi'; use one of \.gif, \.mp4"):
        save_animation(_frames(), tmp_path / "turn.avi")


def test_unwritable_folder_is_a_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    with pytest.raises(GANliftError, match="not_a_folder is a file, not a folder"):
        save_animation(_frames(), blocker / "turn.gif")


@pytest.mark.parametrize("fps", [0, -1, 0.001, 101, float("nan"), float("inf"), "12", True])
def test_frame_rates_a_gif_cannot_hold_are_a_user_error(tmp_path: Path, fps: object) -> None:
    """NaN and infinity raised bare errors, 0.001 overflowed the GIF's delay field and more
    than 100 fps wrote frames with no delay."""
    with pytest.raises(GANliftError, match=r"frame rate must be a number from 0\.01 to 100 fps"):
        save_animation(_frames(), tmp_path / "turn.gif", fps=fps)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fps", [0.01, 100, 100.0])
def test_the_frame_rate_range_holds_its_ends(fps: float) -> None:
    assert animation.check_fps(fps) == float(fps)


def test_mp4_without_imageio_ffmpeg_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(GANliftError, match=r"pip install imageio-ffmpeg\) or save a \.gif"):
        save_animation(_frames(), tmp_path / "turn.mp4")
    assert list(tmp_path.iterdir()) == []
