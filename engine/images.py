"""The image I/O boundary: files, bytes and arrays in; `[N,3,H,W]` tensors in `[-1,1]` out.

Everything a user can hand us (PNG, JPEG, WebP, GIF, TIFF, BMP, PPM/PGM or AVIF files;
EXIF-rotated phone photos, grayscale, transparent PNGs, 16-bit scans, animated GIFs, broken
uploads, decompression bombs) is turned into an upright RGB tensor or a `GANliftError` that
names the input and the fix; other formats are refused unread.
uint8 HWC arrays exist only in this module.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageCms

from engine.atomic import atomic_path, file_path
from engine.errors import GANliftError
from engine.limits import (
    DEFAULT_LIMITS,
    Limits,
    check_image_size,
    in_mib,
    limits_from_environment,
)
from engine.wording import type_phrase

MAX_IMAGE_BYTES = DEFAULT_LIMITS.upload_bytes
"""Largest encoded file accepted, in bytes (`engine.limits` holds every cap)."""

MAX_IMAGE_PIXELS = DEFAULT_LIMITS.image_pixels
"""Largest decoded image accepted, in pixels (width x height); checked before decoding."""

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}
"""File suffixes `save_image` writes, and the Pillow format used for each."""

ImageSource = str | os.PathLike | bytes | np.ndarray | Image.Image

READ_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP", "PPM", "AVIF")
"""Pillow formats `load_image` decodes (JPEG includes MPO, phones' JPEGs of several pictures).
Others are refused unread: an ICO decodes its pictures as it opens, before the pixel cap is
checked."""
MAX_JPEG_SCANS = 100
"""Most scans a JPEG may hold (a progressive one has about ten): each is a pass over every
pixel, and 341 KB of empty scans took 49 s to decode."""
MAX_TILE_SCALE = 4
"""Largest TIFF tile, as a multiple of the image's area (or of `_SMALL_TILE_AREA` for a small
image): libtiff inflates whole tiles, and a 1000x1000 TIFF of one 46000x46000 tile took 2.3 GB."""
_SMALL_TILE_AREA = 256 * 256
"""A tile any image may use (TIFF writers tile small images in 256x256 too)."""
_TILE_WIDTH_TAG, _TILE_LENGTH_TAG = 322, 323
_FLOAT_SLACK = 1.5
"""Float pixels may overshoot their full scale by this factor (a 0..1 image with one pixel at
1.02 was read as 0..255, nearly black); they are clipped to it."""
_ORIENTATION_TAG = 0x0112
_UPRIGHT_TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""The transpose that turns an image upright, by its EXIF orientation (1: upright already)."""
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_INTEGER_RANGES = (255, 65535, 2**31 - 1)
"""Full scales a 32-bit integer image ("I", e.g. a TIFF) may use: 8-bit, 16-bit or its own."""
_TIFF_SIGNATURES = (b"II*\0", b"MM\0*")
_FLOAT_RANGES = (1.0, 255.0, 65535.0)
"""Full scales a float image ("F", a TIFF from numpy or ImageJ) comes in: 0..1 or pixel values."""
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def load_image(
    source: ImageSource,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
    name: str | None = None,
    visible: bool = False,
) -> torch.Tensor:
    """Decode a path, encoded bytes, a uint8/uint16 HWC array or a PIL image.

    Returns an upright RGB float tensor `[1, 3, H, W]` in `[-1, 1]`: EXIF orientation is
    applied, transparency is composited on white, 16-bit data is scaled to the full range
    and animated files give their first frame. Errors name the file `name` (default:
    "Image '<path>'"; an app passes the visitor's file name, not its server path). With
    `visible`, an image transparent everywhere is refused (a photo to lift must show something).
    """
    if isinstance(source, np.ndarray):
        return _array_to_tensor(_checked_array(source, max_pixels))
    if isinstance(source, Image.Image):
        name = "the given image"
        frame = _upright_first_frame(source, name, max_pixels)
        return _array_to_tensor(_rgb_array(frame, source.format, name, visible=visible))
    data, name = _read_encoded(source, max_bytes, name)
    rgb, _ = _decode(data, name, max_pixels, visible=visible)
    return _array_to_tensor(rgb)


def load_cutout(
    source: str | os.PathLike | bytes,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
    name: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """An encoded image as `load_image` returns it, and its upright alpha channel `[H, W]` in
    `[0, 1]` where part of it is transparent (below one half), else None: a cut-out's alpha
    outlines its object. One read and one decode give both."""
    data, name = _read_encoded(source, max_bytes, name)
    rgb, alpha = _decode(data, name, max_pixels, visible=False, with_alpha=True)
    return _array_to_tensor(rgb), alpha


def _decode(
    data: bytes, name: str, max_pixels: int, *, visible: bool, with_alpha: bool = False
) -> tuple[np.ndarray, torch.Tensor | None]:
    """The RGB array of encoded `data` (see `_rgb_array`), and with `with_alpha` its
    `_partial_alpha`, both of one upright frame; a file that cannot be decoded, or would cost
    too much to, is refused naming `name`."""
    try:
        with warnings.catch_warnings():
            # Pillow warns about odd metadata and large images; we decode or refuse instead.
            warnings.filterwarnings("ignore", module=r"PIL\.")
            image = Image.open(io.BytesIO(data), formats=READ_FORMATS)
            _check_decoding_cost(image, data, name)
            frame = _upright_first_frame(image, name, max_pixels)
            rgb = _rgb_array(frame, image.format, name, visible=visible)
            alpha = _partial_alpha(frame) if with_alpha else None
    except Image.DecompressionBombError as error:  # Pillow's own cap, where it is below ours
        raise _too_many_pixels(name, min(max_pixels, 2 * Image.MAX_IMAGE_PIXELS)) from error
    except GANliftError:
        raise
    except Exception as error:  # decoders raise many types on malformed input; all mean "bad file"
        raise _unreadable(name, data) from error
    return rgb, alpha


def _partial_alpha(frame: Image.Image) -> torch.Tensor | None:
    """The alpha channel `[H, W]` in `[0, 1]` of an upright `frame` where part of it is
    transparent (below one half), else None."""
    if frame.mode not in _ALPHA_MODES and "transparency" not in frame.info:
        return None
    alpha = np.asarray(frame.convert("RGBA"), dtype=np.float32)[..., 3] / 255.0
    return torch.from_numpy(alpha) if alpha.min() < 0.5 else None


def _check_decoding_cost(image: Image.Image, data: bytes, name: str) -> None:
    """Refuse, before decoding, files whose decoding costs far more than their pixels: JPEGs
    of many scans and TIFFs of tiles much larger than the image."""
    if image.format in ("JPEG", "MPO") and (scans := data.count(b"\xff\xda")) > MAX_JPEG_SCANS:
        raise GANliftError(
            f"{name} is a JPEG of {scans} scans (a photo has a few dozen at most), which would "
            "take minutes to decode; re-export it as PNG or JPEG."
        )
    if image.format == "TIFF":
        tile = image.tag_v2.get(_TILE_WIDTH_TAG, 0), image.tag_v2.get(_TILE_LENGTH_TAG, 0)
        largest = MAX_TILE_SCALE * max(image.width * image.height, _SMALL_TILE_AREA)
        if all(isinstance(side, int) for side in tile) and tile[0] * tile[1] > largest:
            raise GANliftError(
                f"{name} is a {image.width}x{image.height} TIFF stored in {tile[0]}x{tile[1]} "
                "tiles, which decode whole; re-export it as PNG or with smaller tiles."
            )


def upright(image: Image.Image) -> Image.Image:
    """`image` turned as its EXIF orientation says (as a viewer shows it), its other metadata
    kept; a damaged EXIF block is read as no orientation (Pillow's `exif_transpose` rewrote
    it and failed on tags it could not write back)."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"PIL\.")
            orientation = image.getexif().get(_ORIENTATION_TAG)
    except Exception:  # a damaged EXIF block: the pixels are still there
        orientation = None
    method = _UPRIGHT_TRANSPOSES.get(orientation) if isinstance(orientation, int) else None
    return image if method is None else image.transpose(method)


def _unreadable(name: str, data: bytes) -> GANliftError:
    """The error for a file no decoder reads: TIFFs are often whole but in a layout Pillow
    lacks (floating-point colour), which "corrupt" would misreport."""
    if data.startswith(_TIFF_SIGNATURES):
        return GANliftError(
            f"{name} is a TIFF this reader cannot decode (truncated, or a pixel layout such as "
            "floating-point colour); re-export it as an 8- or 16-bit PNG or TIFF."
        )
    return GANliftError(
        f"{name} is not a readable image (truncated, corrupt or an unknown format); "
        "re-export it as PNG or JPEG."
    )


IMAGE_VALUE_LIMIT = 8.0
"""Largest magnitude `checked_image` lets through: unclamped GAN samples overshoot [-1, 1]
(the default models' reach about 3.5), pixels in 0..255 do not pass."""


def check_float_pixels(image: torch.Tensor, what: str, fix: str = "") -> None:
    """Refuse integer pixels in `image`, naming `what` (uint8 pixels taken as [-1, 1] values
    drew white pictures and meshes); `fix` is said before the scaling that mends them."""
    if not image.is_floating_point():
        raise GANliftError(
            f"{what} takes floats in [-1, 1], got {image.dtype} pixels; {fix}scale them as "
            "pixels / 127.5 - 1."
        )


FLAT_LEVELS = 1.0
"""Standard deviation (8-bit levels) under which a picture counts as one flat colour."""


def check_not_flat(image: torch.Tensor) -> None:
    """Refuse a picture `[1, 3, H, W]` in [-1, 1] of one flat colour (a blank page): there is
    no object in it, and a lift would still draw one, as if something had been found. The
    spread is the pixels' own (a sample's, NaN for one pixel, let a 1x1 picture through)."""
    spread = image.float().flatten(2).std(dim=2, correction=0)  # [1, 3]: per channel
    if spread.amax().item() * 127.5 < FLAT_LEVELS:
        raise GANliftError(
            "The image is one flat colour (its pixels vary by less than a level), with no "
            "object to lift; choose a photo that shows one."
        )


def checked_image(image: object, what: str) -> torch.Tensor:
    """`image` as one float32 RGB image `[1, 3, H, W]` in `[-1, 1]`, as `load_image` returns, or
    a GANliftError naming `what`: numpy arrays, PIL images, other shapes, integer pixels, 0..255
    values and NaNs are refused."""
    fix = "load it with engine.images.load_image, which also takes numpy arrays and PIL images"
    if not isinstance(image, torch.Tensor):
        raise GANliftError(
            f"{what} takes a torch tensor [1, 3, H, W] of floats in [-1, 1], got "
            f"{type_phrase(image)}; {fix}."
        )
    if image.dim() != 4 or image.shape[:2] != (1, 3) or image.numel() == 0:
        raise GANliftError(
            f"{what} takes one RGB image [1, 3, H, W], got shape {list(image.shape)}; {fix}."
        )
    check_float_pixels(image, what, f"{fix}, or ")
    image = image.detach().float()
    largest = image.abs().amax().item()
    if not math.isfinite(largest):
        raise GANliftError(f"{what} takes floats in [-1, 1], got NaN or infinite values; {fix}.")
    if largest > IMAGE_VALUE_LIMIT:
        raise GANliftError(
            f"{what} takes floats in [-1, 1], got values up to {largest:g} (pixels in 0..255?); "
            "scale them as pixels / 127.5 - 1."
        )
    return image


def checked_mask(mask: object, height: int, width: int, what: str) -> torch.Tensor:
    """`mask` (`[H, W]`, `[1, H, W]` or `[1, 1, H, W]`, values in [0, 1]) of an image of
    `height` x `width` pixels as a float `[1, 1, H, W]`, or a GANliftError naming `what`: the
    engine's masks come in all three layouts, and every function takes each of them."""
    shape = list(mask.shape) if isinstance(mask, torch.Tensor) else None
    if shape is None or mask.dim() not in (2, 3, 4) or shape[:-2] != [1] * (mask.dim() - 2):
        raise GANliftError(
            f"{what} takes one mask as a tensor [H, W], [1, H, W] or [1, 1, H, W], got "
            f"{type(mask).__name__ if shape is None else f'shape {shape}'}."
        )
    if shape[-2:] != [height, width]:
        raise GANliftError(
            f"{what}'s mask is {shape[-1]}x{shape[-2]} px but the image is {width}x{height} px; "
            "supply a mask of the same size as the image."
        )
    return mask.detach().float().reshape(1, 1, height, width)


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels of the original image (may extend past its borders)."""

    left: int
    top: int
    width: int
    height: int


CROP_SIDE_LIMIT = 4096
"""Longest side, in pixels, a crop of a photo is made at (a mesh's texture, a frame before it
is resized): the whole-width square of a 16 x 40000 photo took 19 GB."""


def crop_box(image: torch.Tensor, box: Box, *, longest: int | None = None) -> torch.Tensor:
    """`image [N, C, H, W]` cut to `box`; parts of the box outside the image repeat the
    nearest border pixel (as crops near the edge of a photo need). With `longest`, a box
    longer than that is cut from the image shrunk (antialiased) so the crop's longer side is
    `longest`: no crop at the box's full size is made."""
    side = max(box.width, box.height)
    if longest is not None and side > longest:
        scale = longest / side
        image = shrunk_to(image, max(1, round(max(image.shape[-2:]) * scale)))
        box = Box(
            round(box.left * scale),
            round(box.top * scale),
            max(1, round(box.width * scale)),
            max(1, round(box.height * scale)),
        )
    height, width = image.shape[-2:]
    rows = torch.arange(box.top, box.top + box.height, device=image.device).clamp(0, height - 1)
    cols = torch.arange(box.left, box.left + box.width, device=image.device).clamp(0, width - 1)
    return image[..., rows[:, None], cols[None, :]]  # [N, C, box.height, box.width]


def object_box(height: int, width: int, aspect: float = 1.0) -> Box:
    """The frame (height = `aspect` x width) a photo of an object of `height` x `width` pixels
    is cut to: its whole width, centred, so that a landscape photo of a car keeps both ends
    (`crop_box` repeats its top and bottom rows) where a centre crop cut them off."""
    rows = max(1, round(width * aspect))
    return Box(0, (height - rows) // 2, width, rows)


def frame_object(image: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """`image [N, C, H, W]` of an object in a frame of `size` (`(height, width)` or a square's
    side), cut to its `object_box` and resized."""
    target_h, target_w = (size, size) if isinstance(size, int) else size
    height, width = image.shape[-2:]
    box = object_box(height, width, target_h / target_w)
    return fit_to_frame(crop_box(image, box, longest=CROP_SIDE_LIMIT), size)


def fit_to_frame(image: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Centre-crop `image [N,3,H,W]` to the frame's aspect ratio, then resize it to `size`.

    `size` is `(height, width)` or one int for a square frame. Downsampling is antialiased,
    so fine detail does not alias into the GAN's frame.
    """
    target_h, target_w = (size, size) if isinstance(size, int) else size
    height, width = image.shape[-2:]
    crop_h = min(height, round(width * target_h / target_w))
    crop_w = min(width, round(height * target_w / target_h))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    cropped = image[..., top : top + crop_h, left : left + crop_w]  # [N, 3, crop_h, crop_w]
    if (crop_h, crop_w) == (target_h, target_w):
        return cropped
    return F.interpolate(
        cropped, size=(target_h, target_w), mode="bilinear", antialias=True, align_corners=False
    )  # [N, 3, target_h, target_w]


def shrunk_to(image: torch.Tensor, longest: int) -> torch.Tensor:
    """`image [N, 3, H, W]` shrunk (antialiased), in its own aspect, so that its longer side is
    `longest` (and its shorter side at least 1); as it is when that side is no longer already."""
    height, width = image.shape[-2:]
    if max(height, width) <= longest:
        return image
    size = tuple(max(1, round(side * longest / max(height, width))) for side in (height, width))
    return F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)


def resize_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """Square `images [B, C, H, H]` resized to `size`² (area when shrinking, bilinear when
    growing, as GAN2Shape's release resizes between the GAN's frame and its networks')."""
    if images.shape[-1] == size:
        return images
    if images.shape[-1] > size:
        return F.interpolate(images, size=(size, size), mode="area")
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """One image `[1,3,H,W]` or `[3,H,W]` in `[-1,1]` as a uint8 HWC array."""
    if image.dim() == 4:
        if image.shape[0] != 1:
            raise GANliftError(
                f"An image to save or show is one image, got a batch of {image.shape[0]}; save "
                "them one by one or tile them with make_grid."
            )
        image = image[0]
    if image.dim() != 3 or image.shape[0] != 3:
        raise GANliftError(
            f"An image to save or show is RGB [1, 3, H, W] or [3, H, W], got "
            f"{list(image.shape)}; repeat a one-channel map to three channels first."
        )
    check_float_pixels(image, "An image to save or show")
    scaled = (image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5  # [3, H, W]
    return scaled.round().to(torch.uint8).permute(1, 2, 0).numpy()  # [H, W, 3]


def image_format(path: str | os.PathLike) -> str:
    """The Pillow format `save_image` writes for `path`, or a one-line error naming the suffixes.

    Commands call it on their output paths before any slow work, so a typo costs nothing.
    """
    path = Path(path)
    file_format = SAVE_FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise GANliftError(
            f"Cannot save an image as '{path.name}'; use one of {', '.join(SAVE_FORMATS)}."
        )
    return file_format


def save_image(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write one image `[1,3,H,W]` or `[3,H,W]` in `[-1,1]` as an 8-bit file, atomically.

    The format follows the suffix (see `SAVE_FORMATS`); the file appears complete or not
    at all, because it is written to a temporary file beside it and then renamed.
    """
    path = file_path(path)
    file_format = image_format(path)
    pil_image = Image.fromarray(to_uint8(image))
    with atomic_path(path) as temporary:
        pil_image.save(temporary, format=file_format)
    return path


def make_grid(images: torch.Tensor, nrow: int, *, padding: int = 2) -> torch.Tensor:
    """Tile `images [N,3,H,W]` into one image `[1,3,H',W']`, `nrow` images per row.

    Cells are separated and framed by `padding` black pixels; empty cells stay black.
    """
    count, channels, height, width = images.shape
    ncol = max(1, min(nrow, count))
    rows = math.ceil(count / ncol)
    cell_h, cell_w = height + padding, width + padding
    grid = images.new_full((1, channels, rows * cell_h + padding, ncol * cell_w + padding), -1.0)
    for index in range(count):
        top = (index // ncol) * cell_h + padding
        left = (index % ncol) * cell_w + padding
        grid[0, :, top : top + height, left : left + width] = images[index]
    return grid  # [1, 3, H', W']


def load_photo(
    path: str | os.PathLike, limits: Limits | None = None, *, name: str | None = None
) -> torch.Tensor:
    """A photo to lift, `[1, 3, H, W]` as `load_image` returns it: read under the file and
    pixel caps of `limits` (default: the GANLIFT_* environment's, see `engine.limits`) and
    refused when a side is below their minimum. Errors name it `name` (default: "Image
    '<path>'")."""
    limits = limits or limits_from_environment()
    name = name or f"Image '{path}'"
    image = load_image(
        path, max_bytes=limits.upload_bytes, max_pixels=limits.image_pixels, name=name, visible=True
    )
    check_image_size(image, name, limits)
    return image


def _read_encoded(
    source: str | os.PathLike | bytes, max_bytes: int, name: str | None
) -> tuple[bytes, str]:
    """The encoded bytes of `source` and its name in messages (`name`, else one made from the
    path); enforces the byte cap."""
    if isinstance(source, bytes | bytearray | memoryview):
        data, name = bytes(source), name or "The uploaded image"
    elif not isinstance(source, str | os.PathLike):
        raise GANliftError(
            f"load_image takes a path, encoded bytes, a numpy array or a PIL image, got "
            f"{type_phrase(source)}; a tensor [1, 3, H, W] in [-1, 1] is an image already."
        )
    else:
        path = Path(source)
        name = name or f"Image '{path}'"
        if not path.is_file():
            raise GANliftError(f"{name} does not exist or is not a file; check the path.")
        if path.stat().st_size > max_bytes:
            raise _too_many_bytes(name, max_bytes)
        try:
            with path.open("rb") as file:  # no more than the cap: a file may grow as it is read
                data = file.read(max_bytes + 1)
        except OSError as error:
            raise GANliftError(
                f"{name} could not be read ({error.strerror or error}); copy it to a local "
                "folder or choose another file."
            ) from error
    if not data:
        raise GANliftError(f"{name} is empty (0 bytes); choose the image file again.")
    if len(data) > max_bytes:
        raise _too_many_bytes(name, max_bytes)
    return data, name


def _upright_first_frame(image: Image.Image, name: str, max_pixels: int) -> Image.Image:
    """Frame 0 of `image`, upright; one of more than `max_pixels` is refused before it is
    decoded."""
    if image.width * image.height > max_pixels:
        raise _too_many_pixels(name, max_pixels)
    image.seek(0)
    return upright(image)


def _rgb_array(
    frame: Image.Image, file_format: str | None, name: str, *, visible: bool = False
) -> np.ndarray:
    """An upright `frame` of a `file_format` file (an upright copy no longer knows it) as
    float32 RGB `[H, W, 3]` in `[0, 1]` (see `load_image` for `visible`)."""
    image = in_srgb(frame)
    if image.mode in _SIXTEEN_BIT_MODES:
        gray = np.asarray(image, dtype=np.float32) / 65535.0  # [H, W]
        return _gray_on_white(np.clip(gray, 0.0, 1.0), image, name, visible=visible)
    if image.mode == "I":  # PGM/PNG: 16-bit data; a 32-bit TIFF may hold 8, 16 or 31 bits
        values = np.asarray(image, dtype=np.float64)  # [H, W]
        ranges = _INTEGER_RANGES if file_format == "TIFF" else _INTEGER_RANGES[1:]
        full = next((scale for scale in ranges if values.max(initial=0) <= scale), ranges[-1])
        gray = np.clip(values / full, 0.0, 1.0).astype(np.float32)
        return _gray_on_white(gray, image, name, visible=visible)
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float32)  # [H, W]
        if np.isnan(values).any():
            raise GANliftError(
                f"{name} holds pixels that are no numbers (NaN); re-export it as PNG or JPEG."
            )
        brightest = values.max(initial=0.0)
        full = next((scale for scale in _FLOAT_RANGES if brightest <= _FLOAT_SLACK * scale), None)
        if full is None:
            raise GANliftError(
                f"{name} holds values up to {brightest:g}, beyond 0..1, 0..255 and 0..65535, so "
                "its brightness scale is unknown; re-export it as an 8- or 16-bit PNG."
            )
        gray = np.clip(values / full, 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        if visible and rgba.getextrema()[3][1] == 0:
            raise _fully_transparent(name)
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _gray_on_white(gray: np.ndarray, image: Image.Image, name: str, *, visible: bool) -> np.ndarray:
    """A 16- or 32-bit gray image's values `gray [H, W]` in `[0, 1]` as RGB `[H, W, 3]`, the
    pixels of its transparent value (a PNG's tRNS key) white, as 8-bit ones are."""
    key = image.info.get("transparency")
    if isinstance(key, int):
        clear = np.asarray(image) == key  # [H, W]
        if visible and clear.all():
            raise _fully_transparent(name)
        gray = np.where(clear, 1.0, gray).astype(np.float32)
    return np.repeat(gray[..., None], 3, axis=2)


def _fully_transparent(name: str) -> GANliftError:
    return GANliftError(
        f"{name} is fully transparent (nothing of it shows on white); export it with its "
        "visible pixels, or without its alpha channel."
    )


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def in_srgb(image: Image.Image) -> Image.Image:
    """`image` converted from the colour profile embedded in it (phones' Display P3, Adobe RGB
    or a press CMYK) to sRGB, the space the GANs were trained in; as it is without a profile,
    with one that cannot be read, or in modes that carry no colour (8-bit gray, 16-bit)."""
    profile = image.info.get("icc_profile")
    if not profile or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        colour = image.convert("RGB") if alpha is not None else image
        converted = ImageCms.profileToProfile(colour, source, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile: the pixels as stored beat refusing the photo
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


def _checked_array(array: np.ndarray, max_pixels: int) -> np.ndarray:
    """A uint8/uint16 HWC (or HW) array as float32 RGB `[H, W, 3]` in `[0, 1]`."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise GANliftError(
            f"The image array has shape {tuple(array.shape)}; pass height x width x 1, 3 or 4."
        )
    if array.dtype not in (np.uint8, np.uint16):
        raise GANliftError(
            f"The image array has dtype {array.dtype}; convert it to uint8 (or uint16) first."
        )
    if array.shape[0] * array.shape[1] > max_pixels:
        raise _too_many_pixels("The image array", max_pixels)
    scaled = array.astype(np.float32) / float(np.iinfo(array.dtype).max)  # [H, W, C]
    if scaled.shape[2] == 4:
        alpha = scaled[..., 3:]
        scaled = scaled[..., :3] * alpha + (1.0 - alpha)
    return np.repeat(scaled, 3, axis=2) if scaled.shape[2] == 1 else scaled


def _array_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """Float RGB `[H, W, 3]` in `[0, 1]` as a tensor `[1, 3, H, W]` in `[-1, 1]`."""
    tensor = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32))  # [H, W, 3]
    return (tensor.permute(2, 0, 1).unsqueeze(0) * 2.0 - 1.0).contiguous()  # [1, 3, H, W]


def _too_many_pixels(name: str, max_pixels: int) -> GANliftError:
    return GANliftError(f"{name} has more than {max_pixels:,} pixels; downscale it before loading.")


def _too_many_bytes(name: str, max_bytes: int) -> GANliftError:
    return GANliftError(f"{name} is larger than {in_mib(max_bytes)}; downscale or recompress it.")
