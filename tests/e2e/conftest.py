"""Browser end-to-end fixtures: the app started by `launch.py` on a free localhost port with a
tiny model, and a page of Debian's Chromium driven by Playwright (never downloaded).

With GANLIFT_SCREENSHOTS=1 (`make screenshots`) the app runs on the embedded default models
instead and the tests write the README's screenshots to docs/screenshots/."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from bench.load import free_port
from engine.images import save_image
from engine.stylegan2 import load_checkpoint
from tests.e2e.tiny_model import write_tiny_cars_model, write_tiny_model

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = os.environ.get("GANLIFT_SCREENSHOTS") == "1"
"""Run on the default models and keep the screenshots for the README."""
WEBGL_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
"""Software WebGL, so the screenshots show the GLB viewer's model (the tests keep the GPU off)."""
STARTUP_SECONDS = 120.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Talks to localhost without any proxy from the environment."""


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/screenshots/ in screenshot mode, else a temporary folder."""
    if SCREENSHOTS:
        folder = REPO / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="session")
def app_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The tiny checkpoint, its preset, a StyleGAN-R model on it, an example image and the
    generator's size; in screenshot mode the default models and a held-out face render."""
    if SCREENSHOTS:
        return {
            "launch": [],
            "example": REPO / "assets" / "examples" / "face-1900000000.png",
            "size": load_checkpoint("default-face").generator.config.size,
        }
    folder = tmp_path_factory.mktemp("e2e-model")
    checkpoint, preset = write_tiny_model(folder)
    generator = load_checkpoint(checkpoint).generator
    z = torch.randn(1, generator.style_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        example = generator(z)  # [1, 3, 32, 32]
    return {
        "launch": [
            "--model",
            str(checkpoint),
            "--category",
            str(preset),
            "--cars-model",
            str(write_tiny_cars_model(checkpoint)),
        ],
        "example": save_image(example.clamp(-1, 1), folder / "example.png"),
        "size": generator.config.size,
    }


@pytest.fixture(scope="session")
def app_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file the app's output goes to."""
    return tmp_path_factory.mktemp("e2e-log") / "app.log"


@pytest.fixture(scope="session")
def app_url(app_files: dict[str, object], app_log: Path) -> Iterator[str]:
    """`python launch.py` with the tiny (or default) models on 127.0.0.1:<free port>, its output
    in `app_log`; stopped afterwards."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing (install it with scripts/system_deps.sh test)")
    port = free_port()
    log = app_log.open("w")
    env = os.environ | {
        "GANLIFT_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "OMP_NUM_THREADS": "1",
    }
    command = [
        sys.executable,
        "launch.py",
        *app_files["launch"],
        "--port",
        str(port),
        "--viewer",
        "torch",
    ]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


HOME_VARIABLES = ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")
"""Where Chromium keeps what it writes outside its profile folder."""


@pytest.fixture()
def page(tmp_path: Path) -> Iterator[object]:
    """A fresh headless Chromium page (own profile and home folders: it wrote crash-report
    settings and dconf's cache into the user's) that accepts downloads."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing (install it with scripts/system_deps.sh test)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            args=[arg for arg in CHROMIUM_ARGS if arg != "--disable-gpu"] + WEBGL_ARGS
            if SCREENSHOTS
            else CHROMIUM_ARGS,
            headless=True,
            env=os.environ | dict.fromkeys(HOME_VARIABLES, str(tmp_path / "home")),
            accept_downloads=True,
            viewport={"width": 1400, "height": 1100},
        )
        try:
            yield browser.pages[0] if browser.pages else browser.new_page()
        finally:
            browser.close()


def _wait_until_serving(url: str, process: subprocess.Popen) -> None:
    """Poll `url` until it answers, failing early if the app exits."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"launch.py exited with code {process.returncode}")
        try:
            with _DIRECT.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the app did not answer on {url} within {STARTUP_SECONDS:.0f} s")
