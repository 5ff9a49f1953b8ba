"""The Open3D viewer's child process: frames come from it without holding the app's GIL, a
child that dies is replaced, a wedged one is stopped and its mesh left to `engine.render`, and
one that cannot start leaves the frame to `engine.render`; that fallback turns its camera about
the vertical axis."""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from app import viewer as viewer_module
from app.offscreen import orbit_eye
from app.viewer import Open3DViewer, TorchViewer, probe_open3d_offscreen
from engine.mesh import TexturedMesh
from engine.render import orbit_camera

VIEW = {"azimuth": 30.0, "elevation": 15.0, "distance": 2.5, "size": 48}


@pytest.fixture(scope="module")
def _offscreen_rendering() -> None:
    if not probe_open3d_offscreen().works:
        pytest.skip("Open3D offscreen rendering is unavailable here (no Vulkan / EGL driver)")


@pytest.fixture()
def viewer(_offscreen_rendering: None) -> Open3DViewer:
    viewer = Open3DViewer()
    yield viewer
    viewer.close()


def tetrahedron() -> TexturedMesh:
    vertices = np.array([[0, 0.5, 0], [-0.5, -0.4, 0.4], [0.5, -0.4, 0.4], [0, -0.4, -0.5]])
    faces = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]])
    return TexturedMesh(vertices, faces, vertex_colors=np.full((4, 3), 0.3))


def covered(picture: np.ndarray) -> np.ndarray:
    """Pixels that differ from the background (Filament's tone mapping greys its white)."""
    return np.abs(picture.astype(int) - picture[0, 0].astype(int)).max(-1) > 12


def test_frames_come_from_a_child_process_that_is_replaced_when_it_dies(
    viewer: Open3DViewer,
) -> None:
    mesh = tetrahedron()
    first = viewer.render(mesh, **VIEW)
    pid = viewer.child_pid
    assert pid is not None and pid != os.getpid()
    assert first.shape == (48, 48, 3) and first.dtype == np.uint8
    assert 0.05 < covered(first).mean() < 0.9
    os.kill(pid, signal.SIGKILL)
    assert covered(viewer.render(mesh, **VIEW)).any()  # by engine.render or a fresh child
    again = viewer.render(mesh, **VIEW)
    assert viewer.child_pid not in (None, pid)
    assert np.abs(again.astype(int) - first.astype(int)).mean() < 1.0


def test_a_live_child_draws_each_new_mesh(viewer: Open3DViewer) -> None:
    first = tetrahedron()
    smaller = TexturedMesh(first.vertices * 0.5, first.faces, vertex_colors=first.vertex_colors)
    big = covered(viewer.render(first, **VIEW)).mean()
    pid = viewer.child_pid
    small = covered(viewer.render(smaller, **VIEW)).mean()
    assert viewer.child_pid == pid  # the same child drew both
    assert small < 0.5 * big


def test_a_wedged_child_is_stopped_and_engine_render_draws_its_mesh_from_then_on(
    viewer: Open3DViewer, caplog: pytest.LogCaptureFixture
) -> None:
    mesh = tetrahedron()
    viewer.render(mesh, **VIEW)
    pid = viewer.child_pid
    os.kill(pid, signal.SIGSTOP)  # the child still lives but never answers
    viewer.frame_seconds = 0.5
    with caplog.at_level(logging.WARNING, logger="ganlift.app"):
        picture = viewer.render(mesh, **VIEW)
    assert np.array_equal(picture, TorchViewer().render(mesh, **VIEW))
    assert "wedged on this mesh (no frame within 0.5 s)" in caplog.text
    assert viewer.child_pid is None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, 0)  # stopped, killed and reaped
    viewer.frame_seconds = 60.0
    assert np.array_equal(viewer.render(mesh, **VIEW), picture)  # that mesh: engine.render
    assert viewer.child_pid is None
    other = TexturedMesh(mesh.vertices * 0.8, mesh.faces, vertex_colors=mesh.vertex_colors)
    viewer.render(other, **VIEW)
    assert viewer.child_pid not in (None, pid)  # a new mesh: a fresh child


def test_only_a_fresh_childs_first_frame_gets_the_start_up_allowance(
    viewer: Open3DViewer, caplog: pytest.LogCaptureFixture
) -> None:
    """No frame comes within a millisecond, so the first one is drawn only because a fresh
    child gets `start_seconds`; a later wedge is cut off after `frame_seconds`."""
    viewer.frame_seconds = 0.001
    mesh = tetrahedron()
    viewer.render(mesh, **VIEW)
    pid = viewer.child_pid
    assert pid is not None  # Open3D drew it: no wedge
    other = TexturedMesh(mesh.vertices * 0.8, mesh.faces, vertex_colors=mesh.vertex_colors)
    with caplog.at_level(logging.WARNING, logger="ganlift.app"):
        viewer.render(other, **VIEW)
    assert "no frame within 0.001 s" in caplog.text and viewer.child_pid is None


def test_a_child_that_cannot_start_leaves_the_frame_to_engine_render(
    viewer: Open3DViewer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(process) -> None:
        raise OSError("no more processes")

    mesh = tetrahedron()
    with monkeypatch.context() as patch:
        patch.setattr(viewer_module._SPAWN.Process, "start", refuse)
        assert np.array_equal(viewer.render(mesh, **VIEW), TorchViewer().render(mesh, **VIEW))
        assert viewer.child_pid is None
    viewer.render(mesh, **VIEW)
    assert viewer.child_pid is not None  # the next frame starts a child as usual


def test_engine_render_turns_the_azimuth_about_the_vertical_axis() -> None:
    """The azimuth turns the camera about the vertical axis: a front-facing square turned by
    60° comes out half as wide and as tall as before (with the angles swapped, half as tall)."""
    square = TexturedMesh(
        np.array([[-0.4, -0.4, 0], [0.4, -0.4, 0], [0.4, 0.4, 0], [-0.4, 0.4, 0]]),
        np.array([[0, 1, 2], [0, 2, 3]]),
        vertex_colors=np.full((4, 3), 0.3),
    )
    view = {"elevation": 0.0, "distance": 3.0, "size": 96}
    front = covered(TorchViewer().render(square, azimuth=0.0, **view))
    turned = covered(TorchViewer().render(square, azimuth=60.0, **view))
    middle = view["size"] // 2
    assert turned[middle].sum() == pytest.approx(front[middle].sum() * 0.5, abs=1.5)
    assert turned[:, middle].sum() == front[:, middle].sum() > 40


def test_the_open3d_child_places_the_camera_where_engine_render_does() -> None:
    """The child computes the orbit without torch; it must agree with `orbit_camera`."""
    for azimuth, elevation, distance in ((0, 0, 2.0), (30, 15, 2.2), (-120, -40, 3.5)):
        world_to_camera = orbit_camera(
            torch.tensor([math.radians(azimuth)]),
            torch.tensor([math.radians(elevation)]),
            torch.tensor([distance]),
        )[0].double()
        position = -world_to_camera[:3, :3].T @ world_to_camera[:3, 3]  # the camera centre
        np.testing.assert_allclose(
            orbit_eye(azimuth, elevation, distance), position.numpy(), atol=1e-6
        )


def test_closing_kills_a_child_still_drawing_instead_of_waiting_for_its_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wedged renderer held the render lock for its whole frame wait (60 s for a fresh
    child), so the server's exit waited that long."""
    monkeypatch.setattr(viewer_module, "_STOP_SECONDS", 0.1)
    viewer = Open3DViewer()
    killed: list[bool] = []
    viewer._child = SimpleNamespace(kill=lambda: killed.append(True))  # type: ignore[assignment]
    with viewer._lock:  # a render waiting for its frame
        closer = threading.Thread(target=viewer.close)
        closer.start()
        closer.join(5)
        assert not closer.is_alive() and killed == [True]
    viewer._child = None


def test_the_child_outlives_the_thread_that_asked_for_it(viewer: Open3DViewer) -> None:
    """Gradio's worker threads come and go; the renderer must not go with the first one."""
    worker = threading.Thread(target=viewer.render, args=(tetrahedron(),), kwargs=VIEW)
    worker.start()
    worker.join()
    pid = viewer.child_pid
    assert pid is not None
    viewer.render(tetrahedron(), **VIEW)
    assert viewer.child_pid == pid


def test_a_server_killed_outright_takes_its_renderer_with_it(tmp_path: Path) -> None:
    """SIGKILL skips every exit hook; a wedged renderer left behind ran at full CPU for good.
    The renderer's first act (`die_with_parent`) has the kernel end it with its parent."""
    script = tmp_path / "server.py"
    script.write_text(
        "import multiprocessing, os, signal, time\n"
        "from app.offscreen import die_with_parent\n"
        "def renderer(parent):\n"
        "    die_with_parent(parent)\n"
        "    time.sleep(60)\n"
        "if __name__ == '__main__':  # the spawned child imports this file too\n"
        "    child = multiprocessing.get_context('spawn').Process(target=renderer,\n"
        "                                                         args=(os.getpid(),))\n"
        "    child.start()\n"
        "    open(os.environ['CHILD_PID_FILE'], 'w').write(str(child.pid))\n"
        "    time.sleep(3)  # the child is running its body by now\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    root = Path(__file__).parent.parent
    pid_file = tmp_path / "child.pid"
    subprocess.run(
        [sys.executable, str(script)], timeout=60, cwd=root, stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(root), "CHILD_PID_FILE": str(pid_file)},
    )  # fmt: skip
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = Path(f"/proc/{child}").exists()
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, "the renderer outlived its server"


def test_the_open3d_child_draws_the_silhouette_and_colours_engine_render_draws(
    viewer: Open3DViewer,
) -> None:
    """The child's camera (eye, distance, field of view, up) and the mesh's vertex colours
    match `TorchViewer`'s: the same outline, and red where the mesh is red."""
    mesh = tetrahedron()
    red = TexturedMesh(mesh.vertices, mesh.faces, vertex_colors=np.tile([0.8, 0.1, 0.1], (4, 1)))
    by_open3d = viewer.render(red, **VIEW)
    assert viewer.child_pid is not None  # Open3D drew it, not the fallback
    by_torch = TorchViewer().render(red, **VIEW)
    inside, reference = covered(by_open3d), covered(by_torch)
    assert (inside & reference).sum() / (inside | reference).sum() > 0.9
    colour = by_open3d[inside].astype(float).mean(0)
    assert colour[0] > 1.5 * colour[1] and colour[0] > 1.5 * colour[2]  # lit and tone-mapped


def test_a_live_child_draws_each_frame_at_its_own_size(viewer: Open3DViewer) -> None:
    """A new size needs a new Filament renderer; making it while the old one was still alive
    aborted the child, so every change of size cost a fallback frame and a fresh child."""
    mesh = tetrahedron()
    small = viewer.render(mesh, **{**VIEW, "size": 32})
    pid = viewer.child_pid
    big = viewer.render(mesh, **{**VIEW, "size": 64})
    assert viewer.child_pid == pid is not None  # the same child drew both
    assert small.shape == (32, 32, 3) and big.shape == (64, 64, 3)
    assert covered(big).mean() == pytest.approx(covered(small).mean(), abs=0.05)


def test_a_renderer_whose_parent_is_already_gone_ends_at_once() -> None:
    """A child that starts after its server died (`parent` is no longer its parent) must not
    go on to render: `die_with_parent` ends it before it does anything else."""
    root = Path(__file__).parent.parent
    script = "import os, sys\nfrom app.offscreen import die_with_parent\n"
    script += "die_with_parent({parent})\nprint('alive')\n"
    outputs = {}
    for name, parent in (("orphan", "os.getppid() + 1"), ("child", "os.getppid()")):
        outputs[name] = subprocess.run(
            [sys.executable, "-c", script.format(parent=parent)],
            timeout=60, cwd=root, capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": str(root)},
        )  # fmt: skip
    assert outputs["child"].returncode == 0 and outputs["child"].stdout.strip() == "alive"
    assert outputs["orphan"].returncode == 0 and "alive" not in outputs["orphan"].stdout


def test_engine_render_draws_the_mesh_on_a_white_background() -> None:
    """`TorchViewer` leaves pixels the mesh does not cover white, and shades the covered ones."""
    picture = TorchViewer().render(tetrahedron(), **VIEW)
    assert picture.shape == (48, 48, 3) and picture.dtype == np.uint8
    assert (picture[0, 0] == 255).all() and (picture[-1, -1] == 255).all()
    inside = covered(picture)
    assert 0.05 < inside.mean() < 0.9
    assert np.median(picture[inside]) <= round(0.3 * 255) + 1  # grey 0.3, dimmed by its light


class _AnsweringChild:
    """Stands in for the renderer process: alive until stopped, and records how it ends."""

    pid = 12345

    def __init__(self) -> None:
        self.ended = False

    def is_alive(self) -> bool:
        return not self.ended

    def join(self, timeout: float | None = None) -> None:
        self.ended = True

    def kill(self) -> None:
        self.ended = True


def test_a_child_that_answers_an_error_is_stopped_and_engine_render_draws_the_frame(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An ("error", message) answer is no picture: it is logged, the child stopped, and
    `TorchViewer` draws the frame."""
    viewer = Open3DViewer()
    child = _AnsweringChild()
    pipe, child_end = multiprocessing.Pipe()

    def start_child() -> None:
        viewer._child, viewer._pipe = child, pipe
        child_end.send(("error", "ValueError: no renderer"))

    monkeypatch.setattr(viewer, "_start_child", start_child)
    mesh = tetrahedron()
    with caplog.at_level(logging.WARNING, logger="ganlift.app"):
        picture = viewer.render(mesh, **VIEW)
    assert np.array_equal(picture, TorchViewer().render(mesh, **VIEW))
    assert "failed (ValueError: no renderer)" in caplog.text
    assert child.ended and viewer.child_pid is None
    child_end.close()
    viewer.close()


def test_a_child_that_died_between_frames_is_replaced_before_the_next_frame(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A child found dead when a frame is asked for is replaced at once: the fresh child
    draws that frame, with no failure logged."""
    viewer = Open3DViewer()
    dead, dead_pipe = _AnsweringChild(), multiprocessing.Pipe()[0]  # its other end is gone
    dead.ended = True
    viewer._child, viewer._pipe = dead, dead_pipe
    fresh = _AnsweringChild()
    pipe, child_end = multiprocessing.Pipe()
    frame = np.full((48, 48, 3), 7, np.uint8)

    def start_child() -> None:
        viewer._child, viewer._pipe = fresh, pipe
        child_end.send(("image", frame))

    monkeypatch.setattr(viewer, "_start_child", start_child)
    with caplog.at_level(logging.WARNING, logger="ganlift.app"):
        assert np.array_equal(viewer.render(tetrahedron(), **VIEW), frame)
    assert "failed" not in caplog.text and viewer._child is fresh
    child_end.close()
    viewer.close()
