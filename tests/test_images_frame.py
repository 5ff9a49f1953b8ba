"""fit_to_frame, save_image and make_grid: crops, antialiasing, atomic writes, tiling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine import images
from engine.errors import GANliftError
from engine.gan2shape import inputs
from engine.gan2shape.frames import centre_crop, to_network_frame
from engine.gan2shape.inputs import prepare_input
from engine.images import (
    CROP_SIDE_LIMIT,
    Box,
    crop_box,
    fit_to_frame,
    frame_object,
    load_image,
    make_grid,
    object_box,
    resize_square,
    save_image,
)


def test_fit_to_frame_crops_the_centre_of_a_wide_image() -> None:
    image = torch.ones(1, 3, 16, 64)  # [1, 3, H, W]
    image[..., :24] = -1.0  # left and right bands fall outside the centred square
    image[..., 40:] = -1.0
    fitted = fit_to_frame(image, 8)
    assert fitted.shape == (1, 3, 8, 8)
    assert torch.allclose(fitted, torch.ones_like(fitted))


def test_fit_to_frame_crops_the_centre_of_a_tall_image_for_a_wide_frame() -> None:
    image = torch.zeros(1, 3, 40, 10)
    image[..., 15:25, :] = 1.0
    fitted = fit_to_frame(image, (5, 10))
    assert fitted.shape == (1, 3, 5, 10) and torch.allclose(fitted, torch.ones_like(fitted))


def test_object_box_keeps_the_whole_width_in_either_aspect() -> None:
    assert object_box(40, 80) == Box(0, -20, 80, 80)  # landscape: rows repeated above and below
    assert object_box(80, 40) == Box(0, 20, 40, 40)  # portrait: rows cut above and below
    assert object_box(30, 80, aspect=0.75) == Box(0, -15, 80, 60)  # a 4:3 frame


def test_frame_object_repeats_the_edge_rows_of_a_wide_photo() -> None:
    wide = torch.zeros(1, 1, 2, 6)
    wide[..., 0, :], wide[..., 1, :] = 1.0, -1.0  # top row white, bottom row black
    framed = frame_object(wide, 6)  # [1, 1, 6, 6]
    assert framed[0, 0, :, 0].tolist() == [1.0, 1.0, 1.0, -1.0, -1.0, -1.0]


def test_a_crop_longer_than_its_limit_is_cut_from_the_shrunk_image() -> None:
    wide = torch.zeros(1, 2, 30, 300)
    wide[:, 0] = torch.linspace(-1, 1, 300)  # left to right
    wide[:, 1, :15], wide[:, 1, 15:] = 1.0, -1.0  # top half white, bottom half black
    box = object_box(30, 300)  # 300 x 300, rows repeated
    limited = crop_box(wide, box, longest=60)
    assert limited.shape == (1, 2, 60, 60)
    full = torch.nn.functional.interpolate(crop_box(wide, box), size=(60, 60), mode="area")
    assert (limited[:, 0] - full[:, 0]).abs().max() < 0.02  # the same crop, made small
    assert (limited[:, 1, :29] > 0.9).all() and (limited[:, 1, 31:] < -0.9).all()
    assert crop_box(wide, box, longest=300).shape == (1, 2, 300, 300)  # within it: as it was
    checker = (torch.arange(300)[:, None] + torch.arange(300)) % 2 * 2.0 - 1.0
    shrunk = crop_box(checker.expand(1, 1, 300, 300), Box(0, 0, 300, 300), longest=60)
    assert shrunk.abs().max() < 0.1  # antialiased: 1-px detail averages out, not aliases


def test_a_long_thin_photo_is_framed_without_a_square_as_wide_as_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole-width square of a 16 x 40000 photo took 19 GB (a machine with that much
    memory would have passed the shapes alone, slowly: every crop is watched)."""

    def limited_crop(image: torch.Tensor, box: Box, **options: int) -> torch.Tensor:
        assert options.get("longest") == CROP_SIDE_LIMIT, "a crop at the box's full size"
        return crop_box(image, box, **options)

    monkeypatch.setattr(images, "crop_box", limited_crop)
    monkeypatch.setattr(inputs, "crop_box", limited_crop)
    thin = torch.rand(1, 3, 16, 40_000) * 2 - 1
    assert frame_object(thin, 32).shape == (1, 3, 32, 32)
    mask = torch.ones(1, 1, 16, 40_000)
    prepared = prepare_input(thin, size=32, find_face=False, needs_mask=True, mask=mask)
    assert prepared.photo.shape == (1, 3, CROP_SIDE_LIMIT, CROP_SIDE_LIMIT)
    assert prepared.box == Box(0, -19_992, 40_000, 40_000)  # still in the photo's pixels


def test_fit_to_frame_downsampling_is_antialiased() -> None:
    checker = (torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2 * 2.0 - 1.0
    image = checker.expand(1, 3, 64, 64)
    fitted = fit_to_frame(image, 8)
    assert fitted.abs().max() < 0.05  # the 1-px checkerboard averages out to grey


def test_fit_to_frame_upsamples_small_images() -> None:
    assert fit_to_frame(torch.zeros(2, 3, 4, 6), 12).shape == (2, 3, 12, 12)


def test_save_then_load_round_trips_within_one_level(tmp_path: Path) -> None:
    image = torch.rand(1, 3, 8, 12) * 2 - 1
    path = save_image(image, tmp_path / "sub" / "image.png")
    assert (load_image(path) - image).abs().max() <= 1 / 255 + 1e-6
    assert [p.name for p in path.parent.iterdir()] == ["image.png"]  # no temp file left


def test_save_jpeg_is_readable(tmp_path: Path) -> None:
    image = torch.zeros(3, 16, 16)
    loaded = load_image(save_image(image, tmp_path / "grey.JPG"))
    assert loaded.shape == (1, 3, 16, 16) and loaded.abs().max() < 0.02


def test_save_refuses_unknown_suffix_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(GANliftError, match=r"'image\.xyz'; use one of \.png"):
        save_image(torch.zeros(1, 3, 4, 4), tmp_path / "image.xyz")
    assert list(tmp_path.iterdir()) == []


def test_make_grid_places_images_in_rows_with_padding() -> None:
    images = torch.stack([torch.full((3, 4, 4), value) for value in (0.1, 0.2, 0.3)])
    grid = make_grid(images, nrow=2, padding=1)
    assert grid.shape == (1, 3, 1 + 2 * 5, 1 + 2 * 5)
    assert torch.all(grid[0, :, 1:5, 1:5] == 0.1)
    assert torch.all(grid[0, :, 1:5, 6:10] == 0.2)
    assert torch.all(grid[0, :, 6:10, 1:5] == 0.3)
    assert torch.all(grid[0, :, 6:10, 6:10] == -1.0)  # empty cell stays black
    assert torch.all(grid[0, :, 0, :] == -1.0)


def test_make_grid_of_fewer_images_than_a_row_is_as_wide_as_they_are() -> None:
    grid = make_grid(torch.zeros(2, 3, 4, 4), nrow=4, padding=1)
    assert grid.shape == (1, 3, 6, 1 + 2 * 5)


def test_resize_square_averages_areas_when_shrinking_and_interpolates_when_growing() -> None:
    stripes = torch.zeros(1, 1, 8, 8)
    stripes[..., ::4] = 4.0  # every fourth column
    assert torch.equal(resize_square(stripes, 2), torch.ones(1, 1, 2, 2))  # 4x4 area means
    step = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    grown = resize_square(step, 4)[0, 0, 0]  # bilinear, half-pixel centres
    assert grown.tolist() == pytest.approx([0.0, 0.25, 0.75, 1.0])
    assert resize_square(stripes, 8) is stripes


def test_the_network_frame_is_the_centre_crop_resized() -> None:
    index = torch.arange(64.0).reshape(1, 1, 8, 8)
    assert torch.equal(centre_crop(index, 0.5), index[..., 2:6, 2:6])
    assert torch.equal(centre_crop(index, None), index)
    framed = to_network_frame(index, crop=0.5, size=2)  # the centre 4x4, area-averaged
    assert torch.equal(framed, resize_square(index[..., 2:6, 2:6], 2))
    assert framed.shape == (1, 1, 2, 2)
