"""save_animation: GIF and MP4 read back with the right frame count, size and colours; atomic
writes and user errors."""

from __future__ import annotations

import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

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

    def fail(target: Path, *args: object, **kwargs: object) -> None:
        Path(target).write_bytes(b"half a gif")
        raise OSError("disk full")

    monkeypatch.setattr(iio, "imwrite", fail)
    with pytest.raises(OSError, match="disk full"):
        save_animation(_frames(4), path)
    assert path.read_bytes() == before
    assert [file.name for file in tmp_path.iterdir()] == ["loop.gif"]


def test_unknown_suffix_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(GANliftError, match=r"'turn\.avi'; use one of \.gif, \.mp4"):
        save_animation(_frames(), tmp_path / "turn.avi")


def test_unwritable_folder_is_a_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    with pytest.raises(GANliftError, match="choose a folder you can write to"):
        save_animation(_frames(), blocker / "turn.gif")


def test_non_positive_frame_rate_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(GANliftError, match="frame rate must be positive"):
        save_animation(_frames(), tmp_path / "turn.gif", fps=0)


def test_mp4_without_imageio_ffmpeg_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(GANliftError, match=r"pip install imageio-ffmpeg\) or save a \.gif"):
        save_animation(_frames(), tmp_path / "turn.mp4")
    assert list(tmp_path.iterdir()) == []
