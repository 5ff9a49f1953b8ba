"""Short reprs for the engine's results: a notebook cell that ends in a `Recovery` shows each
field's shape or value on a line or two, not 45,000 characters of tensors and networks."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

LONGEST_VALUE = 60
"""Characters of a field's own repr shown before it is cut."""


def brief(value: object) -> str:
    """A few words for `value`: a tensor's shape, dtype and device, a network's class and
    size; anything else its repr, cut at `LONGEST_VALUE` characters (a long dataclass's to
    its class name)."""
    if isinstance(value, torch.Tensor):
        where = "" if value.device.type == "cpu" else f", {value.device}"
        return f"tensor{list(value.shape)}({str(value.dtype).removeprefix('torch.')}{where})"
    if isinstance(value, nn.Module):
        return f"{type(value).__name__}({sum(p.numel() for p in value.parameters()):,} weights)"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple) and value and all(torch.is_tensor(v) for v in value):
        return f"{len(value)} tensors"
    text = repr(value)
    if len(text) <= LONGEST_VALUE:
        return text
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return f"{type(value).__name__}(...)"
    return f"{text[: LONGEST_VALUE - 3]}..."


def brief_repr(result: object) -> str:
    """The repr of a dataclass `result` with each field shown by `brief`: set a class's
    `__repr__` to it."""
    names = (field.name for field in dataclasses.fields(result) if field.repr)
    fields = ", ".join(f"{name}={brief(getattr(result, name))}" for name in names)
    return f"{type(result).__name__}({fields})"
