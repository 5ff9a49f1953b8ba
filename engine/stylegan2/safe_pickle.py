"""Reading pickled checkpoints without ever executing code from the file.

- `.pt` files (torch.save): torch's weights-only unpickler, which admits tensors and plain
  containers; we add `argparse.Namespace` (the `args` of the common training script).
- StyleGAN2-ADA `.pkl` snapshots: our own unpickler whose `find_class` maps the few globals
  such a snapshot names onto local functions that build plain records. In particular, NVIDIA's
  persistence reconstructor (which would `exec` the module source stored in the pickle)
  becomes `PersistentRecord(class_name, state)`, and the stored source is ignored. It is
  Python's own unpickler, which holds its memo in a dict (the C one grows an array to any
  index a file names: 9 bytes asked for 1.3 GB), reading no length a file declares beyond
  the file's end, and never changing the local classes and functions it hands out.

Any other global is refused with a `GANliftError` naming it.
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import pickle
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np
import torch

from engine.errors import GANliftError
from engine.torch_files import refuse_compressed_archive, stores_every_value


def error_summary(error: BaseException) -> str:
    """The first sentence of an exception's message, for a one-line user-facing error (less
    the source line of a torch C++ check that opens some: "[enforce fail at x.cc:180] . ")."""
    text = re.sub(r"^\[enforce fail at [^\]]*\][\s.]*", "", str(error).strip())
    return text.split(". ")[0].rstrip(".")


def _in_parentheses(error: BaseException) -> str:
    """` (first sentence of the error)`, or nothing when the error has no message or only an
    unpickler's lookup key (a text file read as a checkpoint raised `KeyError(101)`)."""
    summary = "" if isinstance(error, LookupError) else error_summary(error)
    return f" ({summary})" if summary else ""


def load_torch_file(path: Path) -> Any:
    """torch.load `path` on the CPU with the weights-only unpickler (plus argparse.Namespace).

    A damaged file can make the unpickler fail with almost any exception type (a cut legacy
    file raises `struct.error`, a flipped byte `KeyError`), so every failure that does not
    name a refused global becomes the one "cannot read" sentence."""
    refuse_compressed_archive(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise  # the machine's limit, not the file's fault
    except Exception as error:
        found = _refused_global(error)
        if found:
            raise GANliftError(
                f"Refusing to load {path}: it contains {found}, which a checkpoint never needs "
                "(loading it could run code); re-save the weights as plain tensors."
            ) from error
        raise GANliftError(
            f"Cannot read {path}: the file is truncated or not a PyTorch checkpoint"
            f"{_in_parentheses(error)}; pass the .pt or .pkl file itself."
        ) from error


def _refused_global(error: BaseException) -> str | None:
    """The global the weights-only unpickler refused (e.g. 'posix.system'), or None when
    `error` is another failure."""
    found = re.search(r"GLOBAL (\w+(?:\.\w+)+)\b(?!\.)", str(error))
    return found.group(1) if isinstance(error, pickle.UnpicklingError) and found else None


@dataclass
class PersistentRecord:
    """What a StyleGAN2-ADA persistent object (a network module) unpickles to here."""

    class_name: str
    state: dict[str, Any]
    """The module's __dict__: `_parameters`, `_buffers`, `_modules` and plain attributes."""


class EasyDictRecord(dict):
    """Stand-in for `dnnlib.util.EasyDict`: a plain dict."""


def _persistent_record(meta: dict[str, Any]) -> PersistentRecord:
    """Replacement for `torch_utils.persistence._reconstruct_persistent_obj` (never runs source)."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or "state" not in meta:
        raise GANliftError("The snapshot holds a persistent object in an unknown format.")
    state = meta["state"]
    if not isinstance(state, dict):
        raise GANliftError("The snapshot holds a persistent object without a state dict.")
    return PersistentRecord(class_name=str(meta.get("class_name")), state=state)


def _storage_from_bytes(data: bytes) -> Any:
    """Replacement for `torch.storage._load_from_bytes`: a storage, via the weights-only loader."""
    refuse_compressed_archive(data, "this snapshot's tensor storage")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = _refused_global(error)
        if found is None:
            raise
        raise GANliftError(
            f"Refusing to load this snapshot: a tensor in it refers to {found}, which a "
            "StyleGAN2-ADA snapshot never needs (loading it could run code)."
        ) from error


def _rebuild_tensor(
    storage: Any,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    *_requires_grad_hooks_metadata: Any,
) -> torch.Tensor:
    """Replacement for `torch._utils._rebuild_tensor_v2`: a view of an unpickled storage."""
    if not isinstance(storage, torch.storage.TypedStorage):
        raise GANliftError("The snapshot holds a tensor without a valid storage.")
    tensor = torch.empty((0,), dtype=storage.dtype)
    tensor = tensor.set_(storage._untyped_storage, storage_offset, size, stride)
    if not stores_every_value(tensor):
        raise GANliftError(
            f"The snapshot declares a tensor of shape {list(size)} but stores fewer values; a "
            "saved network stores every weight."
        )
    return tensor


def _rebuild_parameter(data: torch.Tensor, *_requires_grad_hooks_state: Any) -> torch.Tensor:
    """Replacement for `torch._utils._rebuild_parameter`: the plain tensor."""
    return data


class _DTypeRecord:
    """Stand-in for `numpy.dtype` while unpickling: remembers the type name and byte order."""

    def __init__(self, name: str, *_flags: Any) -> None:
        self.name = name
        self.byte_order = "="

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.byte_order = state[1] if len(state) > 1 and state[1] in "<>|=" else "="

    def to_numpy(self) -> np.dtype:
        return np.dtype(self.name).newbyteorder(self.byte_order)


def _numpy_scalar(dtype: _DTypeRecord, data: bytes) -> Any:
    """Replacement for `numpy.core.multiarray.scalar`: a Python number."""
    return np.frombuffer(data, dtype=dtype.to_numpy(), count=1)[0].item()


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """Replacement for `_codecs.encode`, through which pickle protocol 2 writes bytes (as
    latin-1 text); any other use is refused."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise GANliftError("The snapshot encodes text in a way pickled bytes never are.")
    return text.encode("latin-1")


_ADA_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_record,
    ("dnnlib.util", "EasyDict"): EasyDictRecord,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,  # pickle protocol 2 names builtins as Python 2 did
    ("_codecs", "encode"): _latin1_bytes,
    ("torch", "Size"): tuple,
    ("numpy", "dtype"): _DTypeRecord,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}


_NUMPY_ARRAY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
"""Where numpy's array reconstructor lives; StyleGAN3 layers pickle numpy arrays, ADA's never."""


class _BoundedFile:
    """A file's `read` and `readline` for an unpickler: a read past the file's end is refused
    before anything is allocated (a pickle declares the length of what follows, and a read of
    2**50 bytes allocates them first)."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._size = os.fstat(file.fileno()).st_size

    def read(self, size: int = -1) -> bytes:
        if size > self._size - self._file.tell():
            raise pickle.UnpicklingError("it declares more data than the file holds")
        return self._file.read(size)

    def readline(self) -> bytes:
        return self._file.readline()


def _build_unless_callable(unpickler: _AdaUnpickler) -> None:
    """The BUILD opcode (set an object's state), refused on a class or function: on one of
    `_ADA_GLOBALS` it would change the loader for every later file of the process."""
    if callable(unpickler.stack[-2]):
        raise GANliftError("it changes a class or function, which a pickled network never does")
    pickle._Unpickler.load_build(unpickler)


def _refuse_byte_array(unpickler: _AdaUnpickler) -> None:
    """The BYTEARRAY8 opcode, which allocates the length it declares before reading it."""
    raise GANliftError("it holds a pickle-5 byte array, which StyleGAN2-ADA snapshots never do")


class _AdaUnpickler(pickle._Unpickler):
    """Python's unpickler resolving globals only through `_ADA_GLOBALS`."""

    dispatch: ClassVar[dict[int, Callable[[pickle._Unpickler], None]]] = {
        **pickle._Unpickler.dispatch,
        pickle.BUILD[0]: _build_unless_callable,
        pickle.BYTEARRAY8[0]: _refuse_byte_array,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ADA_GLOBALS[(module, name)]
        except KeyError:
            if module in _NUMPY_ARRAY_MODULES and name == "_reconstruct":
                raise GANliftError(
                    "it holds numpy arrays, which StyleGAN2-ADA snapshots never do (StyleGAN3's "
                    "do); GANlift reads StyleGAN2 and StyleGAN2-ADA snapshots only."
                ) from None
            if module.startswith("dnnlib.tflib"):
                raise GANliftError(
                    "it is a TensorFlow StyleGAN2 snapshot, which needs TensorFlow to read; "
                    "convert it with stylegan2-ada-pytorch's legacy.py (to a .pkl) or "
                    "rosinality's convert_weight.py (to a .pt) and load the result."
                ) from None
            raise GANliftError(
                f"Refusing to load this snapshot: it refers to {module}.{name}, which a "
                "StyleGAN2-ADA snapshot never needs (loading it could run code)."
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise GANliftError(
            "The snapshot uses persistent ids, which StyleGAN2-ADA pickles never do."
        )


def load_ada_pickle(path: Path) -> Any:
    """Unpickle a StyleGAN2-ADA snapshot into dicts, tensors and `PersistentRecord`s."""
    try:
        with path.open("rb") as file:
            return _AdaUnpickler(_BoundedFile(file)).load()
    except GANliftError as error:
        raise GANliftError(f"{path}: {error}") from error
    except MemoryError:
        raise
    except Exception as error:  # a damaged pickle can fail with almost any exception type
        raise GANliftError(
            f"Cannot read {path}: the file is truncated or not a StyleGAN2-ADA snapshot"
            f"{_in_parentheses(error)}."
        ) from error
