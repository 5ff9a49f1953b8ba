"""The bad-input table: files a stranger might hand GANlift, written on demand into a folder.

Each `BadInput` names a file, how to write it, which kind of input it is (image, latent or
checkpoint) and what GANlift must do with it: refuse it with a message containing `refusal`,
or accept it (`refusal` is None). Nothing here is committed as a binary; every file is small
and made from scratch, so the table documents exactly what each case holds.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from tests.e2e.tiny_model import write_tiny_model

InputKind = Literal["image", "latent", "checkpoint"]

BOMB_SIDE = 30_000
"""Side of the decompression bomb's declared size (900 million pixels)."""
EXIF_ORIENTATION = 0x0112
ROTATED_90_CLOCKWISE = 6
"""EXIF orientation value: the stored pixels must be turned 90° clockwise to be upright."""
UNREADABLE = "not a readable image"


@dataclass(frozen=True)
class BadInput:
    """One row of the bad-input table."""

    name: str
    """File name, also the case's id in test reports."""
    kind: InputKind
    description: str
    write: Callable[[Path], None]
    refusal: str | None
    """A fragment of the one-line error, or None when the input must be accepted."""


def _noise(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Random uint8 pixels `[H, W, C]` (incompressible, so truncation cuts real data)."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), np.uint8)


def _encoded(image: Image.Image, file_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=file_format, **options)
    return buffer.getvalue()


def _truncated(file_format: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        data = _encoded(Image.fromarray(_noise(64, 64)), file_format)
        path.write_bytes(data[: len(data) // 2])

    return write


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def _write_bomb(path: Path) -> None:
    """A 30000x30000 RGB PNG header with one tiny compressed row: 60 bytes that would decode
    to 2.7 GB."""
    header = struct.pack(">IIBBBBB", BOMB_SIDE, BOMB_SIDE, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * (3 * BOMB_SIDE + 1)))
        + _png_chunk(b"IEND", b"")
    )


def _write_pillow(mode_array: Callable[[], Image.Image], file_format: str, **options: object):
    def write(path: Path) -> None:
        path.write_bytes(_encoded(mode_array(), file_format, **options))

    return write


def _sixteen_bit() -> Image.Image:
    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)  # [32, 32]
    return Image.fromarray(ramp)


def _rgba() -> Image.Image:
    pixels = _noise(32, 32, 4)
    pixels[:, :16, 3] = 0  # left half fully transparent: must come out white
    return Image.fromarray(pixels, "RGBA")


def _write_animated_gif(path: Path) -> None:
    """Two frames: red, then blue; GANlift takes the first."""
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=100)


def _write_exif_rotated(path: Path) -> None:
    """Stored 48 wide x 24 high with a white marker at the stored top-left corner, tagged
    'rotate 90° clockwise': upright it is 24 wide x 48 high, marker at the top-right."""
    pixels = np.zeros((24, 48, 3), np.uint8)
    pixels[:8, :8] = 255
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATED_90_CLOCKWISE
    Image.fromarray(pixels).save(path, format="JPEG", quality=95, exif=exif)


def _write_latent(latent: torch.Tensor) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        torch.save({"latent": latent}, path)

    return write


def _write_wrong_architecture(path: Path) -> None:
    """A PyTorch state dict of a classifier, not of a StyleGAN2."""
    torch.save(torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU()).state_dict(), path)


def _write_truncated_checkpoint(path: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        data = write_tiny_model(Path(folder))[0].read_bytes()
    path.write_bytes(data[: len(data) // 2])


class _RunsCode:
    """Unpickling this calls os.system: the classic malicious 'checkpoint'."""

    def __reduce__(self) -> tuple:
        return os.system, ("echo pwned > /tmp/ganlift-pwned",)


def _write_code_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps({"G_ema": _RunsCode()}, protocol=2))


def _write_code_torch(path: Path) -> None:
    torch.save({"g_ema": _RunsCode()}, path)


BAD_INPUTS: tuple[BadInput, ...] = (
    BadInput(
        "truncated.png", "image", "PNG cut in half", _truncated("PNG"), "not a readable image"
    ),
    BadInput(
        "truncated.jpg", "image", "JPEG cut in half", _truncated("JPEG"), "not a readable image"
    ),
    BadInput("empty.png", "image", "zero bytes", lambda path: path.write_bytes(b""), "is empty"),
    BadInput(
        "not-an-image.png",
        "image",
        "text with an image suffix",
        lambda path: path.write_text("hello, I am not a picture\n"),
        UNREADABLE,
    ),
    BadInput(
        "one-pixel.png",
        "image",
        "1x1 image",
        _write_pillow(lambda: Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"),
        "is only 1x1 pixels",
    ),
    BadInput("bomb.png", "image", "PNG header of 30000x30000", _write_bomb, "more than"),
    BadInput(
        "grayscale.png",
        "image",
        "8-bit grayscale",
        _write_pillow(lambda: Image.fromarray(_noise(32, 32, 1)[..., 0]), "PNG"),
        None,
    ),
    BadInput("rgba.png", "image", "RGBA, half transparent", _write_pillow(_rgba, "PNG"), None),
    BadInput("16-bit.png", "image", "16-bit grayscale", _write_pillow(_sixteen_bit, "PNG"), None),
    BadInput(
        "cmyk.jpg",
        "image",
        "CMYK JPEG",
        _write_pillow(lambda: Image.fromarray(_noise(32, 32, 4), "CMYK"), "JPEG"),
        None,
    ),
    BadInput("animated.gif", "image", "2-frame GIF", _write_animated_gif, None),
    BadInput("exif-rotated.jpg", "image", "EXIF orientation 6", _write_exif_rotated, None),
    BadInput(
        "nan-latent.pt",
        "latent",
        "latent with NaN and inf",
        _write_latent(torch.tensor([[float("nan"), float("inf")] * 16])),
        "NaN or infinite",
    ),
    BadInput(
        "wrong-shape-latent.pt",
        "latent",
        "latent [3, 7]",
        _write_latent(torch.zeros(3, 7)),
        "holds a latent of shape [3, 7]",
    ),
    BadInput(
        "wrong-architecture.pt",
        "checkpoint",
        "state dict of a classifier",
        _write_wrong_architecture,
        "not a StyleGAN2 checkpoint",
    ),
    BadInput(
        "truncated.pt",
        "checkpoint",
        "StyleGAN2 .pt cut in half",
        _write_truncated_checkpoint,
        "truncated",
    ),
    BadInput(
        "runs-code.pkl",
        "checkpoint",
        "pickle calling os.system",
        _write_code_pickle,
        "Refusing to load",
    ),
    BadInput(
        "runs-code.pt",
        "checkpoint",
        "torch.save of an object calling os.system",
        _write_code_torch,
        "Refusing to load",
    ),
)
"""Every case, in the order of the README's table."""


def write_bad_input(case: BadInput, folder: Path) -> Path:
    """Write `case`'s file into `folder` (made if needed); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / case.name
    case.write(path)
    return path


def bad_input(name: str) -> BadInput:
    """The case named `name`."""
    return next(case for case in BAD_INPUTS if case.name == name)
