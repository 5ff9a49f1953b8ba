"""Shared pytest fixtures and guards. Tests never download: GANLIFT_OFFLINE is set for the whole
session, and any attempt to reach a host other than this one fails at once."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

PARITY_FIXTURE_DIR = Path(__file__).resolve().parent / "data" / "stylegan2_parity"
"""The team's StyleGAN2 parity fixture (../shared/fixtures/stylegan2_parity beside the
checkout), copied verbatim so that a clone anywhere runs the parity tests; a test checks the
copy against the shared one where that is present."""
PARITY_REFERENCE = PARITY_FIXTURE_DIR / "public_s64_cm2.ref.pt"


SLOW_TEST_SECONDS = 60.0
"""A test phase longer than this is reported as it finishes, with the session's elapsed time, so
a CI log cut off at its time limit still says where the time went."""
_LOOPBACK_NAMES = {"localhost", "", "0.0.0.0", "::"}


def _is_loopback(host: object) -> bool:
    """Whether `host` (a name or an address) stays on this machine."""
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name in _LOOPBACK_NAMES or host is None:
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse_the_network(event: str, args: tuple[Any, ...]) -> None:
    """Audit hook: a lookup of, or connection to, another host fails at once. On a closed network
    such calls can otherwise wait for DNS or TCP timeouts, which is how a suite that takes minutes
    here can take an hour elsewhere."""
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect" and args[0].family in (socket.AF_INET, socket.AF_INET6):
        host = args[1][0]
    else:
        return
    if not _is_loopback(host):
        raise OSError(f"tests never reach the network (asked for {host!r})")


sys.addaudithook(_refuse_the_network)
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before gradio_client imports huggingface_hub


class _SlowPhaseLines:
    """Prints a line for each slow test phase as soon as it ends: in the controller with
    pytest-xdist, as each worker's report arrives."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.start = time.monotonic()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if report.duration < SLOW_TEST_SECONDS or reporter is None:
            return
        elapsed = (time.monotonic() - self.start) / 60
        reporter.write_line(
            f"slow: {report.nodeid} ({report.when}) took {report.duration:.0f} s, "
            f"{elapsed:.1f} min into the session"
        )


def pytest_configure(config: pytest.Config) -> None:
    """Report slow phases live, from the controller only (workers have no terminal)."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_SlowPhaseLines(config), "ganlift-slow-phases")


KEPT_VARIABLES = {"GANLIFT_SCREENSHOTS"}
"""The user's `GANLIFT_*` variables the suite keeps (`make screenshots` sets this one)."""


@pytest.fixture(autouse=True, scope="session")
def _own_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Forbid every download path in the engine (LPIPS weights, hub caches), and run on none
    of the user's settings: no `GANLIFT_*` limit or rasterizer (with GANLIFT_MIN_IMAGE_SIDE=32
    set, six tests' 40x24 photos were refused) and an empty torch hub cache (LPIPS weights
    downloaded by hand made "auto" pick LPIPS in the tests, and the apps they start). Nor any
    Gradio setting (a CI run that named a cache folder in GRADIO_TEMP_DIR failed the test of a
    stop during the app's start, which waits for the app's own), and the tests' requests to
    the apps they start go to them directly, whatever proxy the shell names."""
    for name in [name for name in os.environ if name.startswith(("GANLIFT_", "GRADIO_"))]:
        if name not in KEPT_VARIABLES:
            del os.environ[name]
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # as importing `app` sets it unless given
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,::1"
    os.environ["GANLIFT_OFFLINE"] = "1"
    os.environ["TORCH_HOME"] = str(tmp_path_factory.mktemp("torch-home"))


@pytest.fixture(autouse=True, scope="session")
def _temporary_files_in_pytest_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Temporary files of this process and the apps it starts go in pytest's own folder, which
    pytest prunes: gradio_client leaves an empty folder in the system's for each file it
    passes (tens of thousands after some runs)."""
    folder = str(tmp_path_factory.mktemp("tmp"))
    os.environ["TMPDIR"] = folder
    tempfile.tempdir = folder


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Each test leaves the environment as it found it: the app's start, run in-process,
    names its Gradio cache in GRADIO_TEMP_DIR, and a later test of a live app on the same
    worker then waited for a folder its app never made (a CI run failed on that)."""
    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


@pytest.fixture(autouse=True, scope="session")
def _one_thread_per_worker() -> None:
    """Tests use tiny tensors, where one thread beats two; pytest-xdist runs one worker per core."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def parity_reference() -> dict[str, Any]:
    """The StyleGAN2 parity reference: inputs and the reference implementation's outputs."""
    return torch.load(PARITY_REFERENCE, weights_only=False)


@pytest.fixture(scope="session")
def parity_checkpoint(
    parity_reference: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The 64x64 channel-multiplier-2 checkpoint in the common .pt layout, rebuilt into tmp
    (~200 MB, never committed) by the fixture's own make_checkpoint.py."""
    out = tmp_path_factory.mktemp("stylegan2_parity") / "public_s64_cm2.pt"
    subprocess.run(
        [
            sys.executable,
            str(PARITY_FIXTURE_DIR / "make_checkpoint.py"),
            str(PARITY_REFERENCE),
            str(out),
        ],
        check=True,
    )
    return out
