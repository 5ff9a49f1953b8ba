"""Which orbit viewer `--viewer auto` picks: Open3D on a graphics device, `engine.render` on a
software one (seconds a frame) or where Open3D cannot render offscreen."""

from __future__ import annotations

import logging

import pytest

from app import viewer
from app.viewer import (
    OffscreenProbe,
    Open3DViewer,
    PendingProbe,
    TorchViewer,
    create_viewer,
    names_software_device,
)

MESA_LOG = (
    "[Open3D INFO] EngineInstance: Vulkan software device detected; using Filament's Vulkan "
    "backend\nVulkan device driver: llvmpipe Mesa 22.3.6 (LLVM 15.0.6)"
)
GPU_LOG = """FEngine resolved backend: Vulkan
Vulkan device driver: NVIDIA 550.54.14
Selected physical device 'NVIDIA H100 80GB HBM3' from 1 physical devices."""


def test_software_devices_are_told_from_graphics_cards() -> None:
    assert names_software_device(MESA_LOG)
    assert names_software_device("Selected physical device 'SwiftShader Device (Subzero)'")
    assert not names_software_device(GPU_LOG)
    assert not names_software_device("")


@pytest.mark.parametrize(
    ("probe", "expected", "logged"),
    [
        (OffscreenProbe(works=True, software=False), Open3DViewer, ""),
        (OffscreenProbe(works=True, software=True), TorchViewer, "software graphics device"),
        (OffscreenProbe(works=False, software=False), TorchViewer, "unavailable"),
    ],
)
def test_auto_takes_open3d_only_on_a_graphics_device(
    probe: OffscreenProbe, expected: type, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ganlift.app"):
        viewer = create_viewer("auto", probe)
    assert isinstance(viewer, expected)
    assert logged in caplog.text
    if isinstance(viewer, Open3DViewer):
        viewer.close()


def test_an_explicit_choice_is_kept_whatever_the_device() -> None:
    software = OffscreenProbe(works=True, software=True)
    viewer = create_viewer("open3d", software)
    assert isinstance(viewer, Open3DViewer)
    viewer.close()
    assert isinstance(create_viewer("torch", software), TorchViewer)


def test_a_background_probe_reads_its_child_s_log_and_exit(monkeypatch) -> None:
    monkeypatch.setattr(viewer, "_PROBE_SCRIPT", f"print({MESA_LOG!r})")
    with PendingProbe() as probe:
        assert probe.result() == OffscreenProbe(works=True, software=True)
    monkeypatch.setattr(viewer, "_PROBE_SCRIPT", "import sys; sys.exit(-11)")  # a driver crash
    with PendingProbe() as probe:
        assert probe.result() == OffscreenProbe(works=False, software=False)


def test_an_answer_that_came_in_is_read_however_late_it_is_asked_for(monkeypatch) -> None:
    """The app asks once its models are loaded, which may be past the probe's time."""
    monkeypatch.setattr(viewer, "_PROBE_SCRIPT", f"print({GPU_LOG!r})")
    monkeypatch.setattr(viewer, "_PROBE_SECONDS", 0.0)
    with PendingProbe() as probe:
        probe._child.wait()
        assert probe.result() == OffscreenProbe(works=True, software=False)


def test_a_probe_past_its_time_is_stopped_and_counts_as_not_working(monkeypatch) -> None:
    monkeypatch.setattr(viewer, "_PROBE_SCRIPT", "import time; time.sleep(60)")
    monkeypatch.setattr(viewer, "_PROBE_SECONDS", 0.5)
    with PendingProbe() as probe:
        assert probe.result() == OffscreenProbe(works=False, software=False)  # not waited for
        assert probe._child.returncode is not None  # killed, not left rendering


def test_a_start_that_fails_stops_its_probe(monkeypatch) -> None:
    """The app probes while it loads its models; a bad model must not leave the child."""
    monkeypatch.setattr(viewer, "_PROBE_SCRIPT", "import time; time.sleep(60)")
    with pytest.raises(RuntimeError), PendingProbe() as probe:
        raise RuntimeError("the model file is damaged")
    assert probe._child.returncode is not None
