"""Idle sessions lose their state after --session-seconds (Gradio's own State expiry never
fires for state changed in place), and the least recently used beyond --max-sessions as others
act, but never during an action or while in use."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from app import cars, model_tab, reconstruct
from app.expiry import page_states
from app.session import SHUTDOWN_MESSAGE, AppContext, Session
from app.ui import CACHE_SWEEP_SECONDS, COMPUTE_QUEUE, build_app
from engine.errors import StoppedEarly
from engine.limits import DEFAULT_LIMITS
from tests.e2e.tiny_model import tiny_app_context, write_tiny_model

session_module = importlib.import_module("app.session")
expiry_module = importlib.import_module("app.expiry")


def context_with(folder: Path, **limits: float) -> AppContext:
    """An app on a tiny model written to `folder`, with some of the default limits changed."""
    checkpoint, preset = write_tiny_model(folder)
    return tiny_app_context(
        checkpoint, preset, limits=dataclasses.replace(DEFAULT_LIMITS, **limits)
    )


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> AppContext:
    return context_with(tmp_path_factory.mktemp("expiry"), session_seconds=60)


def session_with_files(context: AppContext) -> tuple[Session, Path]:
    session = Session(context)
    reconstruct.sample(session, 3)
    folder = session.work_dir
    (folder / "export.glb").write_bytes(b"mesh")
    return session, folder


def test_an_idle_session_is_cleared_and_says_so(context: AppContext) -> None:
    session, folder = session_with_files(context)
    session.view_codes = object()  # drawn view codes, as the Models tab keeps them
    cars.draw_car(session, 2, "A")
    later = time.monotonic() + 61
    assert context.sessions.clear_idle(60, now=time.monotonic()) == 0  # just used: kept
    assert session.input is not None
    assert context.sessions.clear_idle(60, now=later) >= 1
    assert session.input is None and session.recovery is None and session.cars == {}
    assert session.view_codes is None
    assert not folder.exists()
    assert "cleared after 60 s without any action" in session.status()
    # the page still shows the old results: a slider or export says why they are gone
    for refused in (
        lambda: reconstruct.export_mesh(session, ".glb"),  # made a folder, which hid the clear
        lambda: reconstruct.render(session, 10, 0, 0, 0, 0.5, 0.5, False),
    ):
        with pytest.raises(gr.Error, match=r"cleared after 60 s without any action\. Nothing is"):
            refused()
    assert "Timings" not in session.status()  # of work that is gone
    assert context.sessions.clear_idle(60, now=later) == 0  # nothing left to clear
    reconstruct.sample(session, 4)  # the visitor comes back
    assert "cleared" not in session.status() and session.input is not None


def test_a_session_holding_only_files_is_cleared_too(context: AppContext) -> None:
    """An export outlives the input it was made from (the upload box emptied): the visitor's
    file must still go after the idle limit."""
    session = Session(context)
    folder = session.work_dir
    (folder / "export.glb").write_bytes(b"mesh")
    assert session.input is None and session.recovery is None and not session.cars
    assert session.clear_if_idle(60, now=time.monotonic() + 61)
    assert not folder.exists()


def test_a_session_limit_of_0_starts_no_sweeper(tmp_path: Path) -> None:
    """--session-seconds 0 means never: a sweeper at the shortest interval cleared every idle
    visitor within a second."""
    context = context_with(tmp_path, session_seconds=0)

    def sweepers() -> list[threading.Thread]:
        return [
            thread for thread in threading.enumerate() if thread.name == "ganlift-session-expiry"
        ]

    before = sweepers()
    context.sessions.start_sweeping(0)
    assert sweepers() == before


def test_once_the_visitor_is_back_refusals_stop_blaming_the_clear(context: AppContext) -> None:
    session, _ = session_with_files(context)
    assert context.sessions.clear_idle(60, now=time.monotonic() + 61) >= 1
    model_tab.describe_model(session)  # an action that makes nothing: the clear is still news
    assert "cleared after 60 s" in session.status()
    reconstruct.sample(session, 6)  # the visitor makes something again
    session.input = None
    with pytest.raises(gr.Error) as refused:
        reconstruct.render(session, 10, 0, 0, 0, 0.5, 0.5, False)
    assert refused.value.message == (
        "Nothing is reconstructed yet; run Reconstruct on an image first."
    )  # the plain refusal, without the clear's reason
    assert "cleared" not in session.status()


def test_a_session_in_an_action_is_never_cleared(context: AppContext) -> None:
    session, folder = session_with_files(context)
    with session.action("long job"):
        assert not session.clear_if_idle(60, now=time.monotonic() + 3600)
    assert session.input is not None and folder.exists()


def test_gradios_copy_of_a_new_session_is_tracked_too(context: AppContext) -> None:
    copied = copy.deepcopy(Session(context))
    reconstruct.sample(copied, 5)
    assert context.sessions.clear_idle(60, now=time.monotonic() + 61) >= 1
    assert copied.input is None


def test_the_sweeper_thread_clears_idle_sessions(tmp_path: Path) -> None:
    context = context_with(tmp_path, session_seconds=0.2)
    session = Session(context)
    reconstruct.sample(session, 1)
    context.sessions.start_sweeping(0.2)
    deadline = time.monotonic() + 20
    while session.input is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session.input is None


def test_a_tiny_session_limit_does_not_sweep_without_pause(tmp_path: Path, monkeypatch) -> None:
    """GANLIFT_SESSION_SECONDS=0.000001 swept every 0.25 µs: 30 % of a core while idle."""
    context = context_with(tmp_path, session_seconds=1e-6)
    sweeps: list[float] = []
    monkeypatch.setattr(context.sessions, "sweep", lambda seconds: sweeps.append(seconds))
    context.sessions.start_sweeping(1e-6)
    time.sleep(0.5)
    assert sweeps == []  # the first sweep comes a second after the start


def test_a_sweep_that_cleared_sessions_hands_the_freed_heap_back(
    context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """glibc keeps freed memory for later: an expired session's gigabyte stayed resident."""
    trims: list[int] = []
    monkeypatch.setattr(expiry_module, "return_free_memory", lambda: trims.append(1) or True)
    session, _ = session_with_files(context)  # held: the registry keeps weak references
    assert context.sessions.sweep(60) == 0 and trims == []  # nothing cleared, nothing trimmed
    assert context.sessions.sweep(60, now=time.monotonic() + 61) >= 1 and trims == [1]
    assert session.input is None


def test_sessions_beyond_the_cap_are_cleared_least_recently_used_first(tmp_path: Path) -> None:
    """Gradio keeps more page states than --max-sessions (it makes a closed page's state again
    to run its unload handler, which pushed out a visitor at a cap of one), so GANlift clears
    the state of the least recently used sessions itself, and their pages say why."""
    context = context_with(tmp_path, sessions=2)
    first, second, third = Session(context), Session(context), Session(context)
    reconstruct.sample(first, 1)
    reconstruct.sample(second, 2)
    with first.action("long job"):  # the least recently used, but busy: kept
        reconstruct.sample(third, 3)
        reconstruct.sample(third, 4)  # the first action while three sessions hold state
        assert first.input is not None and second.input is not None
    reconstruct.sample(third, 5)  # second is now the least recently used
    assert second.input is None and first.input is not None and third.input is not None
    assert "the server keeps the 2 most recently used sessions" in second.status()
    with pytest.raises(gr.Error, match=r"This session was cleared to make room: .* upload one"):
        reconstruct.reconstruct(second, "fast")
    fourth = Session(context)
    reconstruct.sample(fourth, 6)  # a new session's first action: still 2 hold state after it
    assert [s.holds_state() for s in (first, second, third, fourth)] == [False, False, True, True]


def test_gradio_keeps_four_page_states_a_session_and_never_fewer_than_512() -> None:
    """Gradio keeps 4 page states a kept session and at least 512: with the floor taken as a
    ceiling it would keep fewer than GANlift keeps sessions, and reloads would push visitors
    out."""
    assert page_states(1000) == 4000
    assert page_states(1) == 512
    assert page_states(128) == 512


def test_the_page_empties_what_it_showed_once_its_session_is_cleared(
    context: AppContext,
) -> None:
    """After a clear the page kept showing the old input and results (the server cannot push
    to it): its timer now asks, and empties and locks them once."""
    session, _ = session_with_files(context)
    reset = [gr.update(value=1.0, interactive=False)]
    unchanged = reconstruct.show_clear(session, emptied=3, locked=2, reset=reset)
    assert unchanged == [gr.skip()] * 8
    assert context.sessions.clear_idle(60, now=time.monotonic() + 61) >= 1
    idle_since = session.last_active
    *emptied, run, slider, button, status, camera = reconstruct.show_clear(
        session, emptied=3, locked=2, reset=reset
    )
    assert emptied == [None] * 3 and camera == reset[0]
    assert run["interactive"] is False and slider["interactive"] is False
    assert button["interactive"] is False and "cleared after 60 s" in status
    assert reconstruct.show_clear(session, emptied=3, locked=2, reset=reset) == unchanged
    assert session.last_active == idle_since  # the checks are no action: the page stays idle


def test_the_clear_check_empties_every_picture_and_file_the_page_shows(
    context: AppContext,
) -> None:
    demo = build_app(context)
    (tick,) = [fn for fn in demo.fns.values() if fn.targets and fn.targets[0][1] == "tick"]
    showing = (gr.Image, gr.Model3D, gr.Video, gr.Gallery, gr.File, gr.Dataframe, gr.Slider)
    shown = {block for block in demo.blocks.values() if isinstance(block, showing)}
    assert shown <= set(tick.outputs)
    assert not tick.queue  # a check every few seconds a page must not wait behind long jobs


def test_what_the_visitor_chose_after_a_clear_is_not_emptied(context: AppContext) -> None:
    """A refusal told the visitor of the clear, they picked an example at once, and the page's
    next check emptied the upload box, which dropped the new input."""
    session, _ = session_with_files(context)
    assert context.sessions.clear_idle(60, now=time.monotonic() + 61) >= 1
    reconstruct.sample(session, 7)  # chosen before the page's next check
    assert reconstruct.show_clear(session, emptied=1, locked=0, reset=[]) == [gr.skip()] * 3
    assert session.input is not None


def test_follow_ups_that_only_show_state_are_no_news_in_the_status_line(
    context: AppContext,
) -> None:
    """An emptied upload box (as a clear's page check empties them) and the follow-ups that
    show a slot's camera or the model filled the visitor's Timings with actions never taken."""
    session = Session(context)
    model_tab.describe_model(session)
    cars.camera_sliders(session, "A")
    cars.mesh_after_change(session, "A")
    cars.upload_car(session, None, "B")
    reconstruct.load_input(session, None)
    assert session.timings == {} and "Timings" not in session.status()


def test_waiting_for_the_compute_queue_counts_as_activity(
    context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A visitor whose Reconstruct waited in the queue behind a long job was cleared as idle
    and then refused: each long job's button also touches the session, outside the queue."""
    demo = build_app(context)
    queued = [fn for fn in demo.fns.values() if fn.concurrency_id == COMPUTE_QUEUE]
    touches = [fn for fn in demo.fns.values() if fn.fn == reconstruct.job_pressed]
    assert {fn.api_name for fn in queued} == {"reconstruct", "rotation_video"}  # the long ones
    assert {fn.targets[0] for fn in queued} == {fn.targets[0] for fn in touches}
    assert all(not fn.queue for fn in touches)
    session, _ = session_with_files(context)
    start = time.monotonic()
    monkeypatch.setattr(session_module.time, "monotonic", lambda: start + 50)
    reconstruct.job_pressed(session)  # pressed 50 s after the last action; the job waits
    monkeypatch.undo()
    assert context.sessions.clear_idle(60, now=start + 61) == 0
    assert context.sessions.clear_idle(60, now=start + 500) == 0  # a long wait is no idleness
    assert session.input is not None
    reconstruct.reconstruct(session, "fast")  # the job runs: it waits no more
    assert context.sessions.clear_idle(60, now=time.monotonic() + 61) >= 1
    assert session.input is None


def test_a_closed_page_does_not_make_its_session_look_recently_used(tmp_path: Path) -> None:
    """A page (or API client) that went away counted as the session's latest activity: in a
    load test, clients of an earlier round closing late pushed out visitors between two
    requests ("cleared to make room" before their Reconstruct)."""
    context = context_with(tmp_path, sessions=2)
    gone, kept, new = Session(context), Session(context), Session(context)
    reconstruct.sample(gone, 1)
    context.pages.opened("gone-page", gone)
    time.sleep(0.01)
    reconstruct.sample(kept, 2)
    time.sleep(0.01)
    context.pages.closed("gone-page")  # no activity: `gone` stays the least recently used
    reconstruct.sample(new, 3)  # one session too many
    assert gone.input is None and kept.input is not None and new.input is not None


def test_a_session_waiting_in_the_queue_is_not_cleared_to_make_room(tmp_path: Path) -> None:
    """Pushed out by newer visitors while its job waited, it ran the job only to refuse it."""
    context = context_with(tmp_path, sessions=1)
    waiting, newer = Session(context), Session(context)
    reconstruct.sample(waiting, 1)
    reconstruct.job_pressed(waiting, request=SimpleNamespace(session_hash="page"))
    reconstruct.sample(newer, 2)  # one session fits: the waiting one is kept anyway
    assert waiting.input is not None
    context.pages.closed("page")  # Gradio drops a closed page's queued job: no more waiting
    reconstruct.sample(newer, 3)
    assert waiting.input is None and newer.input is not None
    reconstruct.sample(waiting, 4)
    reconstruct.job_pressed(waiting)
    reconstruct.stop(waiting)  # Stop cancels the queued job too
    reconstruct.sample(newer, 5)
    assert waiting.input is None


def test_gradio_deletes_the_files_it_served_after_twice_the_session_limit(
    context: AppContext,
) -> None:
    """Uploads, exports and videos Gradio copied for serving piled up while the server ran."""
    limit = context.settings.limits.session_seconds
    assert build_app(context).delete_cache == (CACHE_SWEEP_SECONDS, 2 * limit)


def test_a_shutdown_stops_running_actions_and_waits_for_them(context: AppContext) -> None:
    """An action still running in a worker thread as the interpreter exited aborted the
    server (SIGABRT, exit 134) instead of exiting 0."""
    session = Session(context)
    started, finished = threading.Event(), threading.Event()

    refusals: list[str] = []

    def long_action() -> None:
        try:
            with session.action("long job") as stopped:
                started.set()
                while not stopped():
                    time.sleep(0.01)
                raise StoppedEarly("Long job was stopped; the results from before it are kept.")
        except gr.Error as error:
            refusals.append(error.message)
        finished.set()

    worker = threading.Thread(target=long_action)
    worker.start()
    assert started.wait(10)
    assert context.sessions.stop_running(10) and finished.is_set()
    worker.join()
    assert refusals == [SHUTDOWN_MESSAGE]  # it read as if the visitor had pressed Stop
    session.request_stop()  # a visitor's Stop during the shutdown's wait
    with pytest.raises(gr.Error, match=SHUTDOWN_MESSAGE), session.action("another job"):
        raise StoppedEarly("Another job was stopped.")
    assert context.sessions.stop_running(0.1)  # nothing running: nothing to wait for


def test_a_shutdown_gives_up_on_an_action_that_does_not_stop(context: AppContext) -> None:
    session = Session(context)
    release, started = threading.Event(), threading.Event()

    def deaf_action() -> None:
        with session.action("deaf job"):
            started.set()
            release.wait(10)

    worker = threading.Thread(target=deaf_action)
    worker.start()
    assert started.wait(10)
    began = time.monotonic()
    assert not context.sessions.stop_running(0.3)
    assert 0.3 <= time.monotonic() - began < 5
    release.set()
    worker.join()
