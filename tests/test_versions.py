"""The software versions outputs record: GANlift's commit from its checkout (None outside
git), torch's and Python's."""

from __future__ import annotations

import platform
import subprocess

import torch

from engine import versions


def test_the_versions_name_the_checkout_torch_and_python(tmp_path, monkeypatch) -> None:
    recorded = versions.software_versions()
    assert (recorded["torch"], recorded["python"]) == (torch.__version__, platform.python_version())
    head = subprocess.run(
        ["git", "-C", str(versions.PROJECT_ROOT), "rev-parse", "--short=12", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    if head:  # a git checkout; CI's clean clone is one
        assert recorded["ganlift"] in (head, f"{head}+changes")
    versions._commit.cache_clear()
    monkeypatch.setattr(versions, "PROJECT_ROOT", tmp_path)  # an unpacked copy without git
    try:
        assert versions.software_versions()["ganlift"] is None
    finally:
        versions._commit.cache_clear()
