"""load_image: every common kind of input becomes an upright RGB tensor, or a clear error."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps, features

from engine import images
from engine.errors import GANliftError
from engine.gan2shape.inputs import load_mask
from engine.images import load_image, load_photo
from engine.limits import DEFAULT_LIMITS, MIB, in_mib
from tests.icc import ADOBE_RGB_D50, GAMMA, SRGB_D50, matrix_profile

RED, BLUE = (255, 0, 0), (0, 0, 255)


def encode(image: Image.Image, file_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=file_format, **options)
    return buffer.getvalue()


def halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(Image.new("RGB", (width // 2, height), RED), (0, 0))
    return image


def png_with_header_size(width: int, height: int) -> bytes:
    """A valid small PNG whose IHDR claims `width x height` (a decompression bomb header)."""
    data = bytearray(encode(Image.new("RGB", (8, 8)), "PNG"))
    ihdr_start = 8 + 8  # signature, then chunk length + type
    data[ihdr_start : ihdr_start + 8] = struct.pack(">II", width, height)
    ihdr = bytes(data[ihdr_start - 4 : ihdr_start + 13])
    data[ihdr_start + 13 : ihdr_start + 17] = struct.pack(">I", zlib.crc32(ihdr))
    return bytes(data)


def test_png_file_gives_rgb_tensor_in_range(tmp_path: Path) -> None:
    path = tmp_path / "halves.png"
    path.write_bytes(encode(halves(8, 4), "PNG"))
    image = load_image(path)
    assert image.shape == (1, 3, 4, 8) and image.dtype == torch.float32
    assert torch.equal(image[0, :, 0, 0], torch.tensor([1.0, -1.0, -1.0]))
    assert torch.equal(image[0, :, 0, 7], torch.tensor([-1.0, -1.0, 1.0]))


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to display
    image = load_image(encode(halves(8, 4), "PNG", exif=exif))
    assert image.shape == (1, 3, 8, 4)
    assert torch.equal(image[0, :, 0, 0], torch.tensor([1.0, -1.0, -1.0]))  # red on top
    assert torch.equal(image[0, :, 7, 0], torch.tensor([-1.0, -1.0, 1.0]))  # blue below


def test_grayscale_becomes_three_equal_channels() -> None:
    gray = Image.fromarray(np.array([[0, 255], [51, 102]], dtype=np.uint8), mode="L")
    image = load_image(encode(gray, "PNG"))
    assert torch.equal(image[0, 0], image[0, 1]) and torch.equal(image[0, 1], image[0, 2])
    assert image[0, 0, 1, 0].item() == pytest.approx(51 / 127.5 - 1)


def test_transparency_is_composited_on_white() -> None:
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (0, 0, 0, 0)  # fully transparent black -> white
    rgba[0, 1] = (0, 0, 0, 255)  # opaque black stays black
    rgba[1, :] = (0, 0, 0, 51)  # 20 % black over white -> 0.8
    image = load_image(encode(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    assert image[0, :, 0, 0].tolist() == [1.0, 1.0, 1.0]
    assert image[0, :, 0, 1].tolist() == [-1.0, -1.0, -1.0]
    assert image[0, 0, 1, 0].item() == pytest.approx(0.6, abs=1e-2)


def test_a_photo_transparent_everywhere_is_refused(tmp_path: Path) -> None:
    """It was lifted as a blank white picture, without a word."""
    clear = Image.new("RGBA", (20, 20), (200, 120, 90, 0))
    clear.save(tmp_path / "clear.png")
    with pytest.raises(GANliftError, match=r"Image 'clear\.png' is fully transparent"):
        load_photo(tmp_path / "clear.png", name="Image 'clear.png'")
    assert load_image(tmp_path / "clear.png").eq(1).all()  # a plain read: white, as documented
    clear.putpixel((3, 3), (200, 120, 90, 1))
    clear.save(tmp_path / "faint.png")
    assert load_photo(tmp_path / "faint.png").shape == (1, 3, 20, 20)


def test_a_pil_image_transparent_everywhere_is_refused_too() -> None:
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    with pytest.raises(GANliftError, match="fully transparent"):
        load_image(clear, visible=True)
    assert load_image(clear).eq(1).all()


def test_gray_with_alpha_is_composited_on_white() -> None:
    """An LA picture's transparent black is white, as an RGBA one's."""
    pixels = np.zeros((2, 2, 2), dtype=np.uint8)  # black, transparent everywhere ...
    pixels[0, 0] = (0, 255)  # ... but one opaque black pixel
    image = load_image(encode(Image.fromarray(pixels, mode="LA"), "PNG"))
    assert image[0, :, 0, 0].tolist() == [-1.0, -1.0, -1.0]
    assert image[0, :, 1, 1].tolist() == [1.0, 1.0, 1.0]


def test_palette_transparency_is_composited_on_white() -> None:
    palette_image = Image.new("P", (2, 1), 0)
    palette_image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette_image.putpixel((1, 0), 1)
    image = load_image(encode(palette_image, "PNG", transparency=1))
    assert image[0, :, 0, 0].tolist() == [1.0, -1.0, -1.0]
    assert image[0, :, 0, 1].tolist() == [1.0, 1.0, 1.0]


def test_sixteen_bit_grayscale_is_scaled_to_full_range() -> None:
    values = np.array([[0, 65535, 32768]], dtype=np.uint16)
    image = load_image(encode(Image.fromarray(values), "PNG"))
    assert image[0, 0, 0].tolist() == pytest.approx([-1.0, 1.0, 32768 / 32767.5 - 1], abs=1e-5)


@pytest.mark.parametrize("full", [255, 65535, 2**31 - 1])
def test_32_bit_integer_images_use_the_range_their_values_fill(full: int) -> None:
    """A 32-bit TIFF ("I") may hold 8-bit, 16-bit or full-range values."""
    values = np.array([[0, full, full // 2 + 1]], dtype=np.int32)
    image = load_image(encode(Image.fromarray(values, mode="I"), "TIFF"))
    assert image[0, 0, 0].tolist() == pytest.approx([-1.0, 1.0, 0.0], abs=1e-2)


def test_a_dark_16_bit_pgm_stays_dark() -> None:
    """Pillow opens 16-bit PGMs as mode I too; only TIFFs may hold 8-bit values there."""
    header = b"P5 2 1 65535\n"
    pixels = np.array([[0, 255]], dtype=">u2").tobytes()
    image = load_image(header + pixels)
    assert image[0, 0, 0].tolist() == pytest.approx([-1.0, 255 / 32767.5 - 1], abs=1e-5)


def test_float_images_with_nan_pixels_are_refused() -> None:
    """They loaded, and failed only at the reconstruction, with advice meant for Python."""
    values = np.full((8, 8), 0.5, dtype=np.float32)
    values[2, 3] = np.nan
    buffer = io.BytesIO()
    Image.fromarray(values, mode="F").save(buffer, format="TIFF")
    with pytest.raises(GANliftError, match=r"holds pixels that are no numbers \(NaN\)"):
        load_image(buffer.getvalue())


def srgb_from_adobe_rgb(pixel: tuple[int, int, int]) -> np.ndarray:
    """The colour management an Adobe RGB pixel needs, worked by hand: decode, to XYZ, to sRGB."""
    linear = np.linalg.solve(SRGB_D50, ADOBE_RGB_D50 @ ((np.array(pixel) / 255) ** GAMMA))
    linear = np.clip(linear, 0, 1)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return encoded * 255


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_colours_are_converted_from_an_embedded_profile_to_srgb(mode: str) -> None:
    """Photos in Adobe RGB or Display P3 (phones) came in with their stored numbers as sRGB:
    a skin tone read 200, 150, 120 where sRGB says 217, 151, 119."""
    skin = (200, 150, 120)
    image = Image.new(mode, (4, 4), skin + (255,) * (mode == "RGBA"))
    if mode == "RGBA":
        image.putpixel((3, 3), (*skin, 0))  # transparent: still composited on white
    data = encode(image, "PNG", icc_profile=matrix_profile(ADOBE_RGB_D50))
    loaded = load_image(data)
    read = (loaded[0, :, 0, 0].numpy() + 1) * 127.5
    assert read == pytest.approx(srgb_from_adobe_rgb(skin), abs=1.5)
    assert read[0] > skin[0] + 10
    if mode == "RGBA":
        assert loaded[0, :, 3, 3].tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_an_unreadable_colour_profile_leaves_the_pixels_as_stored() -> None:
    data = encode(Image.new("RGB", (4, 4), (200, 150, 120)), "PNG", icc_profile=b"broken" * 30)
    read = (load_image(data)[0, :, 0, 0] + 1) * 127.5
    assert read.tolist() == pytest.approx([200, 150, 120], abs=0.01)


@pytest.mark.parametrize("full", [1.0, 255.0, 65535.0])
def test_float_images_use_the_range_their_values_fill(full: float) -> None:
    """Float TIFFs from numpy or ImageJ hold 0..1 or pixel values; 0..255 read as white."""
    values = np.array([[0.0, full, full / 2]], dtype=np.float32)
    image = load_image(encode(Image.fromarray(values, mode="F"), "TIFF"))
    assert image[0, 0, 0].tolist() == pytest.approx([-1.0, 1.0, 0.0], abs=1e-5)


def test_float_images_beyond_any_pixel_scale_are_refused() -> None:
    values = np.array([[0.0, 1e6]], dtype=np.float32)
    with pytest.raises(GANliftError, match=r"holds values up to 1e\+06, .* re-export it"):
        load_image(encode(Image.fromarray(values, mode="F"), "TIFF"))


@pytest.mark.parametrize("order", [b"II*\0", b"MM\0*"])  # little- and big-endian TIFFs
def test_an_undecodable_tiff_is_named_as_a_tiff(order: bytes) -> None:
    with pytest.raises(GANliftError, match="is a TIFF this reader cannot decode"):
        load_image(order + bytes(20))


def test_a_tiff_in_a_layout_pillow_lacks_is_not_called_corrupt(tmp_path: Path) -> None:
    """A floating-point colour TIFF (numpy's, through OpenCV) is a whole file Pillow cannot read."""
    path = tmp_path / "colour.tif"
    assert cv2.imwrite(str(path), np.full((4, 4, 3), 0.5, dtype=np.float32))
    message = r"colour\.tif' is a TIFF this reader cannot decode \(truncated, or a pixel layout"
    with pytest.raises(GANliftError, match=message):
        load_image(path)


def test_cmyk_jpeg_is_converted_to_rgb() -> None:
    image = load_image(encode(Image.new("RGB", (8, 8), RED).convert("CMYK"), "JPEG"))
    assert image.shape == (1, 3, 8, 8)
    assert image[0, :, 4, 4].tolist() == pytest.approx([1.0, -1.0, -1.0], abs=0.05)


def test_animated_gif_gives_first_frame() -> None:
    frames = [Image.new("RGB", (4, 4), RED), Image.new("RGB", (4, 4), BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert load_image(data)[0, :, 0, 0].tolist() == pytest.approx([1.0, -1.0, -1.0], abs=0.02)


def test_a_pil_image_seeked_to_a_later_frame_gives_its_first() -> None:
    frames = [Image.new("RGB", (4, 4), RED), Image.new("RGB", (4, 4), BLUE)]
    gif = Image.open(io.BytesIO(encode(frames[0], "GIF", save_all=True, append_images=frames[1:])))
    gif.seek(1)
    assert load_image(gif)[0, :, 0, 0].tolist() == pytest.approx([1.0, -1.0, -1.0], abs=0.02)


def test_uint8_and_uint16_arrays_are_accepted() -> None:
    rgb = np.full((3, 5, 3), 255, dtype=np.uint8)
    assert torch.equal(load_image(rgb), torch.ones(1, 3, 3, 5))
    assert torch.equal(load_image(np.zeros((3, 5), dtype=np.uint16)), -torch.ones(1, 3, 3, 5))
    half = np.full((3, 5), 32768, dtype=np.uint16)  # mid-grey in 16 bits, not white
    assert load_image(half).mean().item() == pytest.approx(0.0, abs=1e-4)


def test_rgba_arrays_are_composited_on_white() -> None:
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)  # black
    rgba[0, 0, 3] = 255  # opaque here, clear elsewhere
    rgba[1, 1, 3] = 128  # half see-through: mid-grey
    image = load_image(rgba)[0, 0]  # the red channel [2, 2] in [-1, 1]
    assert image[0, 0] == -1 and image[0, 1] == 1 and image[1, 0] == 1
    assert image[1, 1].item() == pytest.approx(0.0, abs=0.01)


def test_float_array_is_refused_with_the_fix() -> None:
    with pytest.raises(GANliftError, match="convert it to uint8"):
        load_image(np.zeros((4, 4, 3), dtype=np.float32))


@pytest.mark.parametrize(
    ("source", "kind"), [(torch.zeros(1, 3, 4, 4), "a Tensor"), (7, "an int"), ([1, 2], "a list")]
)
def test_other_sources_are_refused_in_one_sentence(source: object, kind: str) -> None:
    with pytest.raises(GANliftError, match=f"load_image takes a path, .* got {kind};"):
        load_image(source)


def test_decompression_bomb_header_is_refused_before_decoding(monkeypatch) -> None:
    def decode(image: Image.Image) -> None:
        raise AssertionError("the pixels were decoded")

    bomb = png_with_header_size(30000, 30000)
    monkeypatch.setattr(Image.Image, "load", decode)
    with pytest.raises(GANliftError, match=r"more than .* pixels; downscale"):
        load_image(bomb)


def test_pixel_cap_is_configurable() -> None:
    with pytest.raises(GANliftError, match="more than 100 pixels"):
        load_image(encode(Image.new("RGB", (20, 20)), "PNG"), max_pixels=100)


def test_byte_cap_is_checked_for_files(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(encode(Image.new("RGB", (20, 20)), "PNG"))
    with pytest.raises(GANliftError, match=r"big\.png' is larger than"):
        load_image(path, max_bytes=10)


def test_a_cap_of_part_of_a_mib_is_named_as_given() -> None:
    """--max-upload-mb 0.5 was told as "larger than 0 MiB"."""
    data = encode(Image.effect_noise((600, 600), 64).convert("RGB"), "PNG")
    assert len(data) > MIB // 2
    with pytest.raises(GANliftError, match=r"is larger than 0\.5 MiB; downscale"):
        load_image(data, max_bytes=MIB // 2)
    caps = (6000, 6144.5, 64, 2_000_000, 1_234_567, 0.1, 0.001, 0.25)
    assert [in_mib(int(cap * MIB)) for cap in caps] == [
        f"{cap:g} MiB" if cap < 1e6 else f"{cap} MiB" for cap in caps
    ]  # not 6e+03, 2e+06 or 0.0999994


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"hello, this is not an image", "not a readable image"),
        (encode(Image.new("RGB", (64, 64), RED), "PNG")[:60], "not a readable image"),
    ],
    ids=["zero-bytes", "text", "truncated"],
)
def test_bad_files_raise_one_sentence_naming_the_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(content)
    with pytest.raises(GANliftError, match=message) as caught:
        load_image(path)
    assert "photo.png" in str(caught.value) and "\n" not in str(caught.value)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(GANliftError, match=r"nowhere\.png' does not exist"):
        load_image(tmp_path / "nowhere.png")


@pytest.mark.parametrize("file_format", ["PNG", "JPEG", "GIF", "TIFF"])
def test_corrupted_bytes_give_an_image_or_a_clear_error(file_format: str) -> None:
    original = encode(halves(32, 16), file_format)
    rng = np.random.default_rng(0)
    for _ in range(40):
        damaged = np.frombuffer(original, dtype=np.uint8).copy()
        damaged[rng.integers(0, damaged.size, size=4)] = rng.integers(0, 256, size=4)
        try:
            image = load_image(damaged.tobytes())
        except GANliftError as error:
            assert "The uploaded image" in str(error)
        else:
            assert image.dim() == 4 and image.shape[:2] == (1, 3)


def tiled_tiff(side: int, tile: int) -> bytes:
    """A deflated 8-bit gray TIFF `side` px square stored in one `tile` x `tile` tile."""
    pixels = zlib.compress(bytes(tile * tile))
    tags = [
        (256, 3, side), (257, 3, side), (258, 3, 8), (259, 3, 8), (262, 3, 1), (277, 3, 1),
        (322, 3, tile), (323, 3, tile), (324, 4, 8), (325, 4, len(pixels)),
    ]  # fmt: skip
    directory = struct.pack("<H", len(tags))
    for tag, kind, value in tags:
        directory += struct.pack("<HHI", tag, kind, 1) + struct.pack("<I", value)
    offset = 8 + len(pixels)
    return b"II*\0" + struct.pack("<I", offset) + pixels + directory + b"\0\0\0\0"


def test_files_that_cost_far_more_to_decode_than_their_pixels_are_refused() -> None:
    """A 341 KB JPEG of 20000 empty scans took 49 s and was accepted; a 1000x1000 TIFF of one
    46000x46000 tile took 2.3 GB; an ICO decoded its 13000x13000 picture (891 MB) as it
    opened, before the pixel cap was checked."""
    progressive = encode(halves(32, 16), "JPEG", progressive=True)
    scan = progressive.index(b"\xff\xda")
    header = progressive[scan : scan + 2 + struct.unpack(">H", progressive[scan + 2 : scan + 4])[0]]
    end = progressive.rindex(b"\xff\xd9")
    many_scans = progressive[:end] + header * 150 + progressive[end:]
    with pytest.raises(GANliftError, match=r"is a JPEG of 1\d\d scans .* take minutes to decode"):
        load_image(many_scans)
    pair = encode(halves(32, 16), "MPO", save_all=True, append_images=[halves(32, 16)])
    assert Image.open(io.BytesIO(pair)).format == "MPO"  # a phone's stereo or depth photo
    scan = pair.index(b"\xff\xda")
    many_scans = pair[:scan] + header * 150 + pair[scan:]
    with pytest.raises(GANliftError, match=r"is a JPEG of 1\d\d scans"):
        load_image(many_scans)
    assert load_image(progressive).shape == (1, 3, 16, 32)
    with pytest.raises(GANliftError, match="64x64 TIFF stored in 2048x2048 tiles, which decode"):
        load_image(tiled_tiff(64, 2048))
    assert load_image(tiled_tiff(64, 256)).shape == (1, 3, 64, 64)  # a common tile: not refused
    with pytest.raises(GANliftError, match="not a readable image"):
        load_image(encode(Image.new("RGB", (16, 16)), "ICO"))


def test_damaged_exif_leaves_the_photo_readable_and_upright() -> None:
    """Pillow's exif_transpose rewrote the EXIF block and failed on a tag it could not write
    back: 102 of 20000 photos with a few damaged EXIF bytes were 'not a readable image'."""
    exif = Image.Exif()
    exif[0x0112], exif[0x0110] = 6, "Model"  # orientation: turn 90° clockwise to show
    raw = exif.tobytes().replace(b"\x01\x10\x00\x02", b"\x01\x4a\x00\x02")  # SubIFDs, as text
    image = load_image(encode(halves(8, 4), "JPEG", exif=raw, quality=95))
    assert image.shape == (1, 3, 8, 4)  # upright: 4 wide, 8 high


def test_float_pixels_just_past_one_are_read_as_zero_to_one() -> None:
    """One pixel at 1.02 in a 0..1 float TIFF switched its scale to 0..255: nearly black."""
    values = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (48, 1))
    values[0, 0] = 1.02
    image = load_image(encode(Image.fromarray(values, mode="F"), "TIFF"))
    assert abs(float(image.mean()) - 0.0) < 0.05  # 0..1 mapped to -1..1, mean near 0


def test_a_16_bit_gray_png_s_transparent_value_is_white() -> None:
    """Its keyed pixels came out black (8-bit ones white), and one keyed everywhere was not
    refused as transparent."""
    values = np.full((8, 8), 30000, dtype=np.uint16)
    values[:, :4] = 0
    image = load_image(encode(Image.fromarray(values), "PNG", transparency=0))
    assert (image[..., :4] == 1).all() and (image[..., 4:] < 0).all()
    with pytest.raises(GANliftError, match="is fully transparent"):
        load_image(encode(Image.fromarray(values * 0), "PNG", transparency=0), visible=True)


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc")
def test_a_file_the_system_cannot_read_is_one_sentence() -> None:
    """An input/output error (a failing disk, an unplugged stick) was a traceback."""
    with pytest.raises(GANliftError, match=r"could not be read \(Input/output error\)"):
        load_image("/proc/self/mem")


def test_pillow_s_own_pixel_cap_is_the_one_named() -> None:
    """A header of 180 million pixels under a cap of 200 million was 'more than 200,000,000
    pixels': Pillow's own limit, 178,956,970, had refused it."""
    with pytest.raises(GANliftError, match="more than 178,956,970 pixels"):
        load_image(png_with_header_size(15000, 12000), max_pixels=200_000_000)


def test_a_mask_is_read_under_the_photo_s_caps(tmp_path: Path) -> None:
    """`reconstruct --max-pixels` raised the photo's cap but not its mask's."""
    path = tmp_path / "mask.png"
    path.write_bytes(encode(Image.new("L", (20, 20), 255), "PNG"))
    assert load_mask(path).sum() == 400
    with pytest.raises(GANliftError, match=r"mask could not be read: .* more than 100 pixels"):
        load_mask(path, replace(DEFAULT_LIMITS, image_pixels=100))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_reads_as_pillow_turns_it(orientation: int) -> None:
    """Mirrored orientations (2, 4, 5, 7) included: `upright` reads the tag itself."""
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 14
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(pixels), "PNG", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))), np.float32)
    image = load_image(data)[0].permute(1, 2, 0).numpy()  # [H, W, 3] in [-1, 1]
    assert np.allclose((image + 1) * 127.5, expected, atol=0.01)


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow reads no AVIF")
def test_an_avif_photo_is_read() -> None:
    image = load_image(encode(halves(16, 8), "AVIF", quality=100))
    assert image.shape == (1, 3, 8, 16)


def test_a_cut_out_mask_turned_by_its_exif_is_read_upright(tmp_path: Path) -> None:
    """The mask's picture was turned by its EXIF orientation, its alpha channel was not."""
    alpha = np.zeros((4, 8), dtype=np.uint8)
    alpha[:, :2] = 255  # the object: the left quarter, as stored
    rgba = np.dstack([np.full((4, 8, 3), 200, np.uint8), alpha])
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise: the object along the top
    path = tmp_path / "cut-out.png"
    path.write_bytes(encode(Image.fromarray(rgba, mode="RGBA"), "PNG", exif=exif.tobytes()))
    mask = load_mask(path)[0, 0]
    assert mask.shape == (8, 4) and mask[:2].all() and not mask[2:].any()


def test_a_picture_nowhere_below_half_transparent_is_no_cut_out() -> None:
    """An alpha of 200 everywhere (a photo saved with a faint overall transparency) outlines
    no object."""
    faint = Image.new("RGBA", (4, 4), (200, 120, 90, 200))
    _, cut = images.load_cutout(encode(faint, "PNG"))
    assert cut is None
    faint.putpixel((1, 1), (200, 120, 90, 100))
    _, cut = images.load_cutout(encode(faint, "PNG"))
    assert cut is not None and cut[1, 1] == pytest.approx(100 / 255)


def test_a_cut_out_is_turned_upright_once_for_its_colours_and_its_alpha(monkeypatch) -> None:
    """Its frame is read and turned once; colours and alpha come from that one upright copy."""
    alpha = np.zeros((4, 8), dtype=np.uint8)
    alpha[:, :2] = 255
    rgba = np.dstack([np.full((4, 8, 3), 200, np.uint8), alpha])
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.fromarray(rgba, mode="RGBA"), "PNG", exif=exif.tobytes())
    turned: list[Image.Image] = []
    turn = images.upright
    monkeypatch.setattr(images, "upright", lambda image: turned.append(image) or turn(image))
    rgb, cut = images.load_cutout(data)
    assert len(turned) == 1
    assert rgb.shape == (1, 3, 8, 4) and cut.shape == (8, 4) and (cut[:2] == 1).all()
    assert (cut[2:] == 0).all() and (rgb[0, :, 2:] == 1).all()  # transparent: white
