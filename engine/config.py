"""Typed dataclass configs <-> plain dicts (JSON), with unknown keys rejected.

Every component's config is a dataclass; files store it as JSON. Reading one back must name
what is wrong (an unknown key, a missing one, a bad value) rather than ignore it.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, TypeVar

from engine.errors import GANliftError

ConfigT = TypeVar("ConfigT")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) dataclass config."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(cls: type[ConfigT], data: Any, source: str = "config") -> ConfigT:
    """Build dataclass ``cls`` from a dict (nested dataclasses too); unknown keys, missing keys
    and invalid values raise a GANliftError naming ``source``."""
    if not isinstance(data, dict):
        raise GANliftError(f"{source} must be a JSON object, got {type(data).__name__}.")
    hints = typing.get_type_hints(cls)
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise GANliftError(
            f"{source} has unknown keys {unknown}; allowed keys are {sorted(known)}."
        )
    values = {
        name: config_from_dict(hints[name], value, f"{source}.{name}")
        if dataclasses.is_dataclass(hints[name])
        else value
        for name, value in data.items()
    }
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise GANliftError(f"{source} is not a valid {cls.__name__}: {error}.") from error
