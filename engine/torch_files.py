"""Reading GANlift's own PyTorch files (states, latents, resume files) safely: the
weights-only unpickler, on the CPU, with a missing or damaged file turned into one sentence
that says what to do."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from engine.errors import GANliftError


def stores_every_value(tensor: torch.Tensor) -> bool:
    """Whether `tensor`'s storage holds as many values as its shape declares: a file can hold
    one value expanded to gigabytes (stride 0), which a copy of it then allocates."""
    return tensor.untyped_storage().nbytes() >= tensor.numel() * tensor.element_size()


def refuse_compressed_archive(source: Path | bytes, name: str | None = None) -> None:
    """Refuse a zip-format PyTorch file (a path, or its bytes, named `name` in messages) with
    a compressed entry: `torch.save` stores its entries as they are, and torch unpacks
    compressed ones whole, so a 1 MB file of that kind took 1.6 GB to read."""
    path = io.BytesIO(source) if isinstance(source, bytes) else source
    name = name or ("the data" if isinstance(source, bytes) else str(source))
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
        packed = [entry for entry in entries if entry.compress_type != zipfile.ZIP_STORED]
    except (zipfile.BadZipFile, OSError, NotImplementedError) as error:
        raise GANliftError(f"Cannot read {name}: its zip archive is damaged.") from error
    if packed:
        raise GANliftError(
            f"Refusing to load {name}: its archive compresses {packed[0].filename}, which "
            "torch.save never does (a small file could unpack to gigabytes); re-save it with "
            "torch.save."
        )


def read_torch_file(path: str | os.PathLike, *, missing: str, damaged: str) -> Any:
    """``torch.load`` of ``path`` (weights only, on the CPU); a GANliftError with message
    ``missing`` when there is no such file and ``damaged`` when it cannot be unpickled."""
    path = Path(path)
    if path.is_dir():
        raise GANliftError(f"{path} is a folder; pass a file.")
    if not path.is_file():
        raise GANliftError(missing)
    refuse_compressed_archive(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise  # the machine's limit, not the file's fault
    except Exception as error:  # a file that is not a pickle fails in many ways (KeyError, ...)
        raise GANliftError(damaged) from error
