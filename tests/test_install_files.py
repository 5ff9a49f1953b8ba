"""The two ways to install GANlift agree: environment.yml (conda, CUDA users) pins the same
packages at the same versions as requirements.txt and requirements-dev.txt (`make`)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(text: str) -> set[str]:
    """Every `name==version` in `text`, one per line, after an optional YAML list dash."""
    return set(re.findall(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-]+==[^\s#]+)", text, re.MULTILINE))


def test_environment_yml_pins_what_the_requirement_files_pin() -> None:
    """environment.yml lacked the test tools (pytest-timeout among them): the README's conda
    test run warned of an unknown `timeout` option and ran without its hang guard."""
    required = pins((ROOT / "requirements.txt").read_text())
    required |= pins((ROOT / "requirements-dev.txt").read_text())
    assert len(required) > 15
    assert pins((ROOT / "environment.yml").read_text()) == required
