"""The software versions outputs record: GANlift's commit from its checkout (None outside
git), torch's and Python's."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess

import pytest
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


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the checkout to another user")
def test_a_checkout_another_user_owns_still_names_its_commit(tmp_path, monkeypatch) -> None:
    checkout = tmp_path / "shared-install"
    checkout.mkdir()
    git = ["git", "-C", str(checkout), "-c", "user.name=a", "-c", "user.email=a@b"]
    subprocess.run([*git, "init", "-q"], check=True)
    (checkout / "file.txt").write_text("x")
    subprocess.run([*git, "add", "file.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for path in [checkout, *checkout.rglob("*")]:
        shutil.chown(path, user=4242, group=4242)  # git then calls it of dubious ownership
    versions._commit.cache_clear()
    monkeypatch.setattr(versions, "PROJECT_ROOT", checkout)
    try:
        assert versions.software_versions()["ganlift"] == head
    finally:
        versions._commit.cache_clear()
