"""Reading GANlift's own PyTorch files (states, latents, resume files) safely: the
weights-only unpickler, on the CPU, with a missing or damaged file turned into one sentence
that says what to do."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from engine.errors import GANliftError
from engine.randomness import global_rng_kept
from engine.wording import counted


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
    except (zipfile.BadZipFile, OSError, NotImplementedError, ValueError) as error:
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


def float_weight_problem(key: str, value: torch.Tensor) -> str | None:
    """Why `value` cannot be the floating-point weight `key`, as a phrase to follow a file's
    name ("holds KEY as DTYPE, not floating-point weights"), or None when it can: integers and
    bools would be cast, and complex numbers lose their imaginary part, without a word."""
    if value.is_floating_point():
        return None
    return f"holds {key} as {value.dtype}, not floating-point weights"


def check_weights(state: Mapping[str, torch.Tensor], source: str, fix: str) -> None:
    """Refuse weights that are complex or not finite (NaN, infinite): a network of them draws
    black images or NaN meshes, and a run resumed from them overwrites good outputs. (Integer
    tensors may be a network's own counters; `load_weights` knows which.)"""
    for key, value in state.items():
        if value.is_complex():
            raise GANliftError(f"{source} {float_weight_problem(key, value)}; {fix}.")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            count = int((~torch.isfinite(value)).sum())
            raise GANliftError(
                f"{source} holds {counted(count, 'value')} in {key} that "
                f"{'is' if count == 1 else 'are'} not finite (NaN or infinite); {fix}."
            )


def load_weights(module: torch.nn.Module, state: Any, source: str, fix: str) -> None:
    """`module.load_state_dict(state, strict=True)` for a state read from `source`, refused in
    one sentence that ends with `fix` where it is no mapping of tensors, misses or adds a
    tensor, has another shape, stores integers where the module has floats (they would be
    cast without a word) or holds weights that are not finite."""
    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise GANliftError(f"{source} holds no network weights where they belong; {fix}.")
    own = module.state_dict()
    for key, value in state.items():
        problem = float_weight_problem(key, value)
        if problem is not None and key in own and own[key].is_floating_point():
            raise GANliftError(f"{source} {problem}; {fix}.")
    check_weights(state, source, fix)
    try:
        module.load_state_dict(dict(state), strict=True)
    except RuntimeError as error:
        detail = " ".join(str(error).split())
        raise GANliftError(
            f"{source} does not fit the {type(module).__name__} it holds weights for "
            f"({detail[:200]}); {fix}."
        ) from error


ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


def built_with_weights(build: Callable[[], ModuleT], state: Any, source: str, fix: str) -> ModuleT:
    """`build()`'s module holding `state` (see `load_weights`); the random initial weights it
    draws, which `state` replaces, leave torch's global generators as they were."""
    with global_rng_kept():
        module = build()
    load_weights(module, state, source, fix)
    return module


def set_rng_state(rng: torch.Generator, state: Any, source: str, fix: str) -> None:
    """``rng.set_state(state)`` for a state read from `source`, refused in one sentence that
    ends with `fix` where the stored state is damaged or missing."""
    try:
        rng.set_state(state)
    except (TypeError, RuntimeError) as error:
        raise GANliftError(f"{source} holds a damaged random generator state; {fix}.") from error


def load_optimizer_state(
    optimizer: torch.optim.Optimizer, state: Any, source: str, fix: str
) -> None:
    """`optimizer.load_state_dict(state)`, refused in one sentence where the state is for
    other parameters or its moments have other shapes (which failed only at the next step,
    after the run's files were rewritten)."""
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError, TypeError, AttributeError, RuntimeError) as error:
        raise GANliftError(
            f"{source} holds an optimiser state for other networks; {fix}."
        ) from error
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            for name, moment in optimizer.state.get(parameter, {}).items():
                if not isinstance(moment, torch.Tensor):
                    continue
                if moment.dim() > 0 and moment.shape != parameter.shape:
                    raise GANliftError(
                        f"{source} holds an optimiser {name} of shape {list(moment.shape)} for "
                        f"a weight of shape {list(parameter.shape)}; {fix}."
                    )
                if moment.is_floating_point() and not bool(torch.isfinite(moment).all()):
                    raise GANliftError(
                        f"{source} holds an optimiser {name} that is not finite; {fix}."
                    )
