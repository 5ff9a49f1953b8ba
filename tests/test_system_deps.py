"""The scripts `make run` and `make test` set up with: scripts/system_deps.sh (the Debian
packages, including a Python's venv package where that Python cannot make a venv, as a fresh
Debian's cannot), scripts/check_python.sh and scripts/install_torch.sh."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "system_deps.sh"


def packages_named(tmp_path: Path, python: str) -> str:
    """The line the script prints on a system without dpkg (so it installs nothing)."""
    result = subprocess.run(
        ["/bin/bash", str(SCRIPT), "run"],
        env={"PATH": str(tmp_path / "no-tools"), "PYTHON": python},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout.startswith("system-deps: not a Debian/Ubuntu system"), result.stdout
    return result.stdout


def test_a_python_that_cannot_make_a_venv_gets_its_venv_package(tmp_path: Path) -> None:
    python = tmp_path / "python3"
    python.write_text(
        "#!/bin/sh\n"
        'case "$2" in *ensurepip*) exit 1 ;; esac\n'  # Debian's Python without its venv package
        'exec "$0.real" "$@"\n'
    )
    python.chmod(0o755)
    (tmp_path / "python3.real").symlink_to(sys.executable)
    version = f"python3.{sys.version_info.minor}-venv"
    assert packages_named(tmp_path, str(python)).rstrip().endswith(f"mesa-vulkan-drivers {version}")
    assert "-venv" not in packages_named(tmp_path, sys.executable)  # this one makes venvs


def python_of_version(folder: Path, version: tuple[int, int, int]) -> Path:
    """A `python3` that runs code as this one does but reports `version`."""
    python = folder / "python3"
    python.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.version_info = {version!r}\n"
        f"if sys.argv[1] == '--version': print('Python {'.'.join(map(str, version))}')\n"
        "else: exec(sys.argv[2])\n"
    )
    python.chmod(0o755)
    return python


def test_make_refuses_a_python_older_than_the_pinned_packages_need(tmp_path: Path) -> None:
    """numpy 2.4 and imageio 2.38 need Python 3.11: under 3.10 `make run` failed deep in pip
    with "No matching distribution found"."""
    python = python_of_version(tmp_path, (3, 10, 12))
    result = subprocess.run(
        ["make", "-C", str(SCRIPT.parents[1]), "setup", f"PYTHON={python}",
         f"VENV={tmp_path / 'venv'}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"needs Python 3.11 or newer; PYTHON={python} is Python 3.10.12." in result.stderr
    assert not (tmp_path / "venv").exists() and "system-deps" not in result.stdout
    for version, refused in (((3, 10, 12), 1), ((3, 11, 0), 0), ((3, 13, 1), 0)):
        python = python_of_version(tmp_path, version)
        check = SCRIPT.parent / "check_python.sh"
        checked = subprocess.run(
            ["bash", str(check)], env={"PYTHON": str(python)}, capture_output=True, timeout=60
        )
        assert checked.returncode == refused, version


def install_torch(
    tmp_path: Path, *, nvidia: bool, pip_works: bool = True, index: str | None = None
) -> tuple[str, str]:
    """scripts/install_torch.sh with a `python` that records its arguments: (them, stderr)."""
    tools = tmp_path / "tools"
    tools.mkdir(parents=True)
    (tools / "sed").symlink_to(shutil.which("sed"))
    python, calls = tools / "python", tmp_path / "calls"
    python.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit {0 if pip_works else 1}\n')
    python.chmod(0o755)
    if nvidia:
        (tools / "nvidia-smi").write_text("#!/bin/sh\n")
        (tools / "nvidia-smi").chmod(0o755)
    result = subprocess.run(
        ["/bin/bash", str(SCRIPT.parent / "install_torch.sh")], cwd=SCRIPT.parents[1],
        env={"PATH": str(tools), "PY": str(python)} | ({"TORCH_CPU_INDEX": index} if index else {}),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return (calls.read_text() if calls.exists() else ""), result.stderr


def test_a_machine_without_an_nvidia_gpu_gets_torch_s_cpu_build(tmp_path: Path) -> None:
    """PyPI's torch for Linux brought several GB of CUDA libraries to laptops without a GPU."""
    pinned = next(
        line for line in (SCRIPT.parents[1] / "requirements.txt").read_text().splitlines()
        if line.startswith("torch==")
    )  # fmt: skip
    calls, _ = install_torch(tmp_path / "cpu", nvidia=False)
    assert "--index-url https://download.pytorch.org/whl/cpu" in calls and pinned in calls
    assert install_torch(tmp_path / "gpu", nvidia=True) == ("", "")  # PyPI's CUDA build
    calls, told = install_torch(tmp_path / "offline", nvidia=False, pip_works=False)
    assert pinned in calls and "pip takes PyPI's (with CUDA libraries) instead" in told
    calls, _ = install_torch(tmp_path / "mirror", nvidia=False, index="http://mirror/cpu")
    assert "--index-url http://mirror/cpu" in calls
    planned = subprocess.run(
        ["make", "-n", "-C", str(SCRIPT.parents[1]), "setup", f"VENV={tmp_path / 'venv'}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert planned.index("scripts/install_torch.sh") < planned.index("-r requirements.txt")
