"""Typed dataclass configs <-> plain dicts (JSON), with unknown keys rejected.

Every component's config is a dataclass; files store it as JSON. Reading one back must name
what is wrong (an unknown key, a missing required one, a bad value) rather than ignore it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import os
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from engine.errors import GANliftError
from engine.wording import shown

ConfigT = TypeVar("ConfigT")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) dataclass config."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_changes(old: Any, new: Any, names: Iterable[str] | None = None) -> list[str]:
    """'name old -> new' for each field (of `names`, else all) where two configs of one
    dataclass differ; dict values are shown sorted by key."""

    def shown(value: Any) -> str:
        return repr(dict(sorted(value.items())) if isinstance(value, dict) else value)

    names = [field.name for field in dataclasses.fields(old)] if names is None else names
    return [
        f"{name} {shown(getattr(old, name))} -> {shown(getattr(new, name))}"
        for name in names
        if getattr(old, name) != getattr(new, name)
    ]


def read_json_file(path: str | os.PathLike, what: str, fix: str = "fix the file") -> Any:
    """The JSON value in the file `path`; `what` ("The hand labels file") begins the refusal of
    a folder, a missing or unreadable file, a binary one or one that is not valid JSON (which
    ends with `fix`)."""
    path = Path(path)
    if path.is_dir():
        raise GANliftError(f"{what} {path} is a folder; pass the JSON file itself.")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise GANliftError(f"{what} {path} does not exist; check the path.") from None
    except OSError as error:
        raise GANliftError(f"Cannot read {what.lower()} {path} ({error.strerror}).") from error
    except UnicodeDecodeError as error:  # a picture or another binary file
        raise GANliftError(
            f"{what} {path} is not JSON text; pass the JSON file the command asks for."
        ) from error
    try:
        return json.loads(text)
    except ValueError as error:
        raise GANliftError(f"{what} {path} is not valid JSON ({error}); {fix}.") from error


def config_from_dict(cls: type[ConfigT], data: Any, source: str = "config") -> ConfigT:
    """Build dataclass ``cls`` from a dict: nested dataclasses (optional ones too) are built
    in turn and JSON lists become the tuples the annotations ask for; unknown keys, missing
    keys without a default and invalid values raise a GANliftError naming ``source`` (keys
    with a default may be left out)."""
    if not isinstance(data, dict):
        raise GANliftError(f"{source} must be a JSON object, got {type(data).__name__}.")
    fields = dataclasses.fields(cls)
    known = {field.name for field in fields}
    unknown = sorted(set(data) - known)
    if unknown:
        raise GANliftError(
            f"{source} has unknown keys {unknown}; allowed keys are {sorted(known)}."
        )
    missing = [
        field.name
        for field in fields
        if field.name not in data
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise GANliftError(f"{source} is missing keys {missing}; add them.")
    hints = typing.get_type_hints(cls)
    values = {
        name: _convert(hints[name], value, f"{source}.{name}") for name, value in data.items()
    }
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise GANliftError(f"{source} is not a valid {cls.__name__}: {error}.") from error


def _convert(annotation: Any, value: Any, source: str) -> Any:
    """A JSON ``value`` shaped as ``annotation`` wants: a dataclass, a tuple, a number of the
    annotated kind (a whole float for an int, an int for a float), or as is."""
    if annotation in _SCALARS:
        return _scalar(annotation, value, source)
    if dataclasses.is_dataclass(annotation):
        return config_from_dict(annotation, value, source)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and value is not None:
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _convert(options[0], value, source) if len(options) == 1 else value
    if origin is tuple and not isinstance(value, list | tuple):
        raise GANliftError(f"{source} must be a list, got {json.dumps(value)}.")
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], item, source) for item in value)
        if len(args) != len(value):
            raise GANliftError(
                f"{source} must be a list of {len(args)} values, got {json.dumps(value)}."
            )
        return tuple(_convert(arg, item, source) for arg, item in zip(args, value, strict=True))
    return value


_SCALARS = (bool, int, float, str)
"""Annotations whose JSON values are checked (and ints turned into floats where floats are
asked for), so a wrong type is named where it is read, not met as a traceback mid-run."""
_KIND = {bool: "true or false", int: "a whole number", float: "a finite number", str: "a string"}


_LARGEST_WHOLE = 2**63 - 1
"""The largest whole number a config holds (torch's int64): JSON's integers have no bound, and
a 400-digit one overflowed float() in the checks."""


def _scalar(annotation: type, value: Any, source: str) -> Any:
    """``value`` as an ``annotation`` (bool, int, float or str), or a GANliftError."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is float and finite_number(value):
        return float(value)
    whole = isinstance(value, int) or (number and math.isfinite(value) and value.is_integer())
    if annotation is int and number and whole:
        if abs(value) > _LARGEST_WHOLE:
            raise GANliftError(
                f"{source} must be a whole number below 2**63 in size, got {_shown(value)}."
            )
        return int(value)
    if annotation in (bool, str) and isinstance(value, annotation):
        return value
    raise GANliftError(f"{source} must be {_KIND[annotation]}, got {_shown(value)}.")


def finite_number(value: Any) -> bool:
    """Whether ``value`` is a number (not a bool) that a float holds finitely: JSON's integers
    have no bound, and `math.isfinite` of a 400-digit one raises OverflowError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def is_whole(value: Any) -> bool:
    """Whether ``value`` is a finite whole number, an int or a float such as 3.0 (no bool)."""
    return finite_number(value) and value % 1 == 0


def is_count(value: Any) -> bool:
    """Whether ``value`` is an int (no bool, no float) of 0 or more: a stored step or count."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shown(value: Any) -> str:
    """``value`` as JSON for a refusal, cut short (a value may be huge)."""
    return shown(json.dumps(value), most=60)


def whole_number(value: Any, what: str) -> int:
    """`value` as an int when it is a whole number of any integer type (numpy's too); `what`
    names it in the refusal of anything else (a fraction is a mistake, not a count)."""
    try:
        return operator.index(value)
    except TypeError:
        raise GANliftError(f"{what} must be a whole number, got {value!r}.") from None


def check_sizes(config: Any, most: Mapping[str, int], what: str) -> None:
    """Refuse an architecture whose sizes (`most`: field → largest value) are not whole numbers
    from 1 to their largest: a network is built before its weights are compared, so a config
    file asking for a million channels ran the server out of memory instead of being refused.
    `what` ("The mapping network's ", "The preset's networks.") comes before the field's name.
    A ValueError, as a config's own checks raise: `config_from_dict` names the file it read."""
    for name, largest in most.items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= largest:
            raise ValueError(
                f"{what}{name} must be a whole number from 1 to {largest}, got {value!r}"
            )


def whole_fields(config: Any, names: Iterable[str], what: str) -> None:
    """Set each field `names` of the dataclass `config` (frozen too, from its __post_init__)
    to `whole_number` of itself; `what` ("Training setting") begins each refusal."""
    for name in names:
        object.__setattr__(config, name, whole_number(getattr(config, name), f"{what} {name}"))
