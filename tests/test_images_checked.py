"""checked_image, the check at every engine entry point that takes a picture: numpy arrays, PIL
images, other shapes, integer pixels, 0..255 floats and NaNs get one sentence naming the
caller; before, uint8 pixels were read as [-1, 1] values (inversion PSNR -38 dB, white meshes,
white saved images) and other forms failed deep inside torch or OpenCV."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import GANliftError
from engine.gan2shape import prepare_input, recover
from engine.images import check_not_flat, checked_image, checked_mask, save_image, to_uint8
from engine.inversion import project
from engine.styleganr import car_to_mesh, encode_photo
from tests.tiny import tiny_gan, tiny_gan2shape_preset, tiny_styleganr

GOOD = torch.linspace(-1, 1, 3 * 8 * 8).reshape(1, 3, 8, 8)

REFUSALS = {
    "numpy array": (GOOD[0].permute(1, 2, 0).numpy(), "got an ndarray; load it with"),
    "PIL image": (Image.new("RGB", (8, 8)), "got an Image; load it with"),
    "CHW tensor": (GOOD[0], r"one RGB image \[1, 3, H, W\], got shape \[3, 8, 8\]"),
    "batch of two": (GOOD.expand(2, -1, -1, -1), r"got shape \[2, 3, 8, 8\]"),
    "grey image": (GOOD[:, :1], r"got shape \[1, 1, 8, 8\]"),
    "uint8 pixels": (((GOOD + 1) * 127.5).to(torch.uint8), "got torch.uint8 pixels"),
    "0..255 floats": ((GOOD + 1) * 127.5, r"got values up to 255 \(pixels in 0..255\?\)"),
    "NaN": (
        GOOD.clone().index_fill_(3, torch.tensor([0]), float("nan")),
        "got NaN or infinite values",
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_pictures_in_other_forms_are_refused_naming_the_caller(case: str) -> None:
    image, refusal = REFUSALS[case]
    with pytest.raises(GANliftError, match=f"^The caller takes .*{refusal}"):
        checked_image(image, "The caller")


def test_other_float_types_become_float32_detached() -> None:
    for dtype in (torch.float64, torch.float16, torch.bfloat16):
        image = GOOD.to(dtype).requires_grad_(dtype != torch.bfloat16)
        checked = checked_image(image, "x")
        assert checked.dtype == torch.float32 and not checked.requires_grad
        assert torch.allclose(checked, GOOD, atol=1e-2)
    overshooting = GOOD * 1.5  # an unclamped GAN sample
    assert torch.equal(checked_image(overshooting, "x"), overshooting)


def test_every_entry_point_refuses_uint8_pixels() -> None:
    pixels = ((GOOD + 1) * 127.5).to(torch.uint8)
    G, D = tiny_gan(16)
    preset = tiny_gan2shape_preset(16)
    model = tiny_styleganr()
    calls = {
        "prepare_input": lambda: prepare_input(pixels, size=16, find_face=False, needs_mask=False),
        "The inversion": lambda: project(G, pixels, num_steps=1),
        "GAN2Shape": lambda: recover(G, D, pixels, preset=preset),
        "encode_photo": lambda: encode_photo(model, pixels),
        "car_to_mesh": lambda: car_to_mesh(model, pixels),
    }
    for caller, call in calls.items():
        with pytest.raises(GANliftError, match=f"^{caller} takes floats .*got torch.uint8"):
            call()


def test_the_lifting_entry_points_refuse_a_picture_of_one_flat_colour() -> None:
    """A blank page was lifted into a face-shaped relief (or a silver car) and reported as
    finished, as if something had been found in it; so was one pixel, whose sample deviation
    is NaN, which passed as not flat."""
    generator = torch.Generator().manual_seed(0)
    grey = torch.tensor([0.2, -0.5, 0.7]).view(1, 3, 1, 1).expand(1, 3, 40, 40)  # one colour
    jitter = torch.rand(1, 3, 40, 40, generator=generator) - 0.5  # one level's width
    model = tiny_styleganr()
    for flat in (grey, grey + jitter * 2 / 127.5, grey[..., :1, :1]):  # a JPEG's ±1 level too
        for lift in (
            partial(prepare_input, size=16, find_face=True, needs_mask=False),
            partial(encode_photo, model),
            partial(car_to_mesh, model),
        ):
            with pytest.raises(GANliftError, match=r"^The image is one flat colour"):
                lift(flat)
    faint = grey + jitter * 16 / 127.5  # ±8 levels: a faint picture, still taken
    assert prepare_input(faint, size=16, find_face=False, needs_mask=False).image.shape[-1] == 16


def test_a_picture_varying_in_one_channel_is_not_flat() -> None:
    """A red ramp on black: green and blue are flat, red is not."""
    ramp = torch.zeros(1, 3, 16, 16) - 1
    ramp[0, 0] = torch.linspace(-1, 1, 16)
    check_not_flat(ramp)


def test_a_mask_of_the_transposed_size_is_refused() -> None:
    with pytest.raises(GANliftError, match=r"mask is 2x3 px but the image is 3x2 px"):
        checked_mask(torch.ones(3, 2), height=2, width=3, what="The lift")


def test_float_pictures_of_other_types_run_as_float32() -> None:
    model = tiny_styleganr()
    image = torch.rand(1, 3, 20, 24) * 2 - 1
    expected = encode_photo(model, image).image
    assert torch.allclose(encode_photo(model, image.double()).image, expected, atol=1e-5)
    assert encode_photo(model, image.half()).image.dtype == torch.float32


def test_prepare_input_refuses_a_size_that_is_no_frame() -> None:
    for size in (0, -4, 2.5, True):
        with pytest.raises(GANliftError, match="size is the model's frame in pixels"):
            prepare_input(GOOD, size=size, find_face=False, needs_mask=False)


def test_integer_pictures_are_not_saved_or_shown_as_white(tmp_path) -> None:
    pixels = ((GOOD + 1) * 127.5).to(torch.uint8)
    for call in (lambda: to_uint8(pixels), lambda: save_image(pixels, tmp_path / "x.png")):
        with pytest.raises(GANliftError, match=r"floats in \[-1, 1\], got torch.uint8 pixels"):
            call()
    assert not (tmp_path / "x.png").exists()
    shown = to_uint8(GOOD)  # [8, 8, 3]: the float image still spans the whole 8-bit range
    assert shown.dtype == np.uint8 and (shown.min(), shown.max()) == (0, 255)


def test_only_rgb_pictures_are_saved_or_shown(tmp_path) -> None:
    for shape in ([1, 1, 8, 8], [1, 2, 8, 8], [1, 4, 8, 8], [8, 8], [3, 8]):
        pixels = torch.zeros(shape)  # a mask or depth map; RGBA would save as transparent
        with pytest.raises(GANliftError, match=r"is RGB \[1, 3, H, W\] or \[3, H, W\], got"):
            to_uint8(pixels)
        with pytest.raises(GANliftError, match="repeat a one-channel map to three channels"):
            save_image(pixels, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
