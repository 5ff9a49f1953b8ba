"""The README's "From Python" example runs as printed, on the embedded default models, and
writes what it says: the contract a library user copies from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trimesh
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def python_example() -> str:
    """The first python block under the README's "## From Python" heading."""
    section = (ROOT / "README.md").read_text().split("## From Python", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the README lost its Python example"
    return block.group(1)


@pytest.mark.slow
def test_the_readme_python_example_runs(tmp_path: Path, monkeypatch) -> None:
    code = python_example().replace('"assets/', f'"{ROOT}/assets/')
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    for name in ("side.png", "side_gan.png", "car_side.png", "car_swap.png"):
        with Image.open(tmp_path / name) as picture:
            assert picture.mode == "RGB" and min(picture.size) >= 32, name
    mesh = trimesh.load(tmp_path / "me.glb", force="mesh")
    assert len(mesh.faces) > 1000
    assert (tmp_path / "runs" / "me" / "state.pt").is_file()
