"""One browser session's state: its model, its input, its recovered scene, its files.

Gradio keeps one `Session` per visitor in a `gr.State`; every handler takes it first. The
session caches what is expensive (loaded models through the shared `ModelStore`, latents of
drawn samples, the current recovery and its mesh), times each action, and turns engine errors
into one-sentence `gr.Error`s so a visitor never sees a traceback.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np
import torch

from app.display import picture
from app.expiry import SessionExpiry
from app.folders import SessionFolders
from app.models import LoadedModel, ModelChoice, ModelStore, resolve_model
from app.pages import Pages
from app.settings import AppSettings
from app.viewer import MeshViewer
from app.visitors import as_visitor, current_visitor
from engine.errors import GANliftError, StoppedEarly, out_of_memory, refused_path
from engine.gan2shape.meshing import recovery_mesh
from engine.gan2shape.recover import Recovery
from engine.images import to_uint8
from engine.mesh import TexturedMesh
from engine.metrics import psnr_text
from engine.progress import StopFn
from engine.styleganr import Sample, StyleGANR, ViewCodes
from engine.styleganr.model import resolve_model_path

logger = logging.getLogger("ganlift.app")
SHUTDOWN_MESSAGE = (
    "The server is shutting down, which stopped this action; try again once it is back."
)
"""What an action stopped by the server's shutdown says, rather than that the visitor
stopped it (an API client read "Reconstruct was stopped", as if it had pressed Stop)."""


@dataclass(frozen=True)
class AppContext:
    """Process-wide resources every session shares: settings, model store, mesh viewer, the
    sessions' folders, and the registries of live sessions (for clearing them) and of open
    pages.

    Gradio deep-copies each session's initial state; a copy of the context is the context.
    """

    settings: AppSettings
    models: ModelStore
    viewer: MeshViewer
    folders: SessionFolders = field(default_factory=SessionFolders)
    sessions: SessionExpiry = field(default_factory=SessionExpiry)
    pages: Pages = field(default_factory=Pages)

    def __deepcopy__(self, memo: dict) -> AppContext:
        return self


@dataclass(frozen=True)
class InputImage:
    """The image to reconstruct, with its GAN latent when it is a drawn sample."""

    image: torch.Tensor  # [1, 3, H, W] in [-1, 1]
    latent: torch.Tensor | None  # [1, D] w of a drawn sample, else None (invert it)
    label: str
    framing: str = ""
    """How the last reconstruction cropped an upload (e.g. 'face detected at ...')."""
    uploaded: bool = False
    """Whether it came from the upload box (so clearing the box clears it)."""


class Session:
    """State of one visitor: model choice, input, recovery, exported files and timings."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        settings = context.settings
        self.model_choice: ModelChoice = resolve_model(
            settings.model, settings.category, models_dir=settings.models_dir
        )
        self.models_loaded = 0
        """How many times the visitor has loaded a model (`use_model`): a run that sees this
        change while it ran is of a model no longer loaded, even the same one loaded again."""
        self.input: InputImage | None = None
        self.recovery: Recovery | None = None
        self.timings: dict[str, float] = {}
        """Seconds the last run of each action took."""
        self.cars: dict[str, Sample] = {}
        """The Cars tab's samples by slot name."""
        self.car_mesh_slot: str | None = None
        """The slot whose car the Cars tab's mesh viewer shows, if any."""
        self.view_codes: ViewCodes | None = None
        """View codes of the session's GAN drawn for labelling by hand (`app.view_labels`)."""
        self._sample_latents: dict[str, torch.Tensor] = {}
        self._mesh: TexturedMesh | None = None
        self._photo: torch.Tensor | None = None
        self._stop_requests = 0
        """Stop presses so far: an action stops on those after it began."""
        self._shutting_down = False
        """The server asked the actions to stop as it shuts down (`request_stop`)."""
        self._note: str | None = None
        """A Markdown part the status line ends with until the next action (`note`)."""
        self._work_dir: Path | None = None
        self._activity = threading.Lock()
        self._running_actions = 0
        self._waiting = False
        """A long job of this session waits in the compute queue (`job_waits`)."""
        self._last_active = time.monotonic()
        self._cleared: str | None = None
        """How the state was last dropped, e.g. "cleared after 600 s without any action" (for
        the status line and refusals, until the session holds something again)."""
        self._clear_shown = True
        """Whether the page has been told of the last clear (`take_clear_news`)."""
        self._recovered_from: InputImage | None = None
        """The input the current recovery was made from."""
        self.visitor = ""
        """The log's label of the page this session serves (`app.visitors`), once it acted."""
        context.sessions.add(self)

    def __deepcopy__(self, memo: dict) -> Session:
        """Gradio deep-copies each visitor's initial session: the copy is a new session of
        the same context, tracked for expiry like the original (a lock cannot be copied)."""
        return Session(self.context)

    def model(self) -> LoadedModel:
        """The session's model, loaded on first use (a GANliftError says when it is missing)."""
        return self.context.models.load(self.model_choice)

    def cars_model(self) -> StyleGANR:
        """The Cars tab's StyleGAN-R model, loaded on first use."""
        settings = self.context.settings
        path = resolve_model_path(settings.cars_model, models_dir=settings.models_dir)
        return self.context.models.load_cars(path)

    def use_model(self, choice: ModelChoice) -> LoadedModel:
        """Switch to `choice` (loading it now); the input and recovery of the old one go, and
        a running reconstruction or video stops (its result would be dropped, after holding
        the compute queue every visitor shares)."""
        model = self.context.models.load(choice)
        self.model_choice, self.models_loaded = choice, self.models_loaded + 1
        self.request_stop()
        self.input, self.recovery, self._mesh, self.view_codes = None, None, None, None
        self._sample_latents.clear()
        self.timings.clear()  # of work on the old model, gone with it
        return model

    def set_input(
        self,
        image: torch.Tensor,
        label: str,
        latent: torch.Tensor | None = None,
        *,
        uploaded: bool = False,
    ) -> None:
        """Make `image [1, 3, H, W]` the input (`uploaded` from the upload box); a sample's
        `latent` is remembered by content, so the same pixels coming back (as they are or as
        displayed, e.g. through an API client) skip the inversion."""
        if latent is not None:
            for pixels in (to_uint8(image), picture(image)):
                self._sample_latents[_pixel_digest(pixels)] = latent.detach()
        known = self._sample_latents.get(_pixel_digest(to_uint8(image)))
        self.input = InputImage(image, known, label, uploaded=uploaded)

    def missing(self, message: str) -> GANliftError:
        """The error for something the visitor must make first: `message`, led by the reason
        when the session lost it to a clear and holds nothing since."""
        if (how := self._cleared_news()) is not None:
            message = f"This session was {how}. {message}"
        return GANliftError(message)

    def _cleared_news(self) -> str | None:
        """How the state was last cleared, until the session holds something again."""
        return None if self.holds_state() else self._cleared

    def take_clear_news(self) -> bool:
        """Whether the state was cleared since the last call and nothing was made since (so
        the page must empty what it shows; what the visitor chose since must stay)."""
        with self._activity:
            news = not self._clear_shown and not self.holds_state()
            self._clear_shown = True
            return news

    def job_waiting(self) -> bool:
        """Whether a long job of this session waits in the compute queue (`job_waits`)."""
        with self._activity:
            return self._waiting

    def job_waits(self, waiting: bool = True) -> None:
        """Mark a long job of this session as waiting in the compute queue (from its button's
        press), or no more (as it starts, or its page closes). A waiting session is neither
        idle nor the least recently used: cleared while it waited, its job ran only to be
        refused. The press is activity; the end of a wait is not (a page closing made its
        session the most recently used, and visitors still there were cleared in its place)."""
        with self._activity:
            self._waiting = waiting
            if waiting:
                self._last_active = time.monotonic()

    def require_input(self) -> InputImage:
        """The current input, or a GANliftError asking for one."""
        if self.input is None:
            raise self.missing(
                "There is no input image yet; upload one, pick an example or draw a sample."
            )
        return self.input

    def set_recovery(self, recovery: Recovery, photo: torch.Tensor, source: InputImage) -> None:
        """Keep `recovery` as the current scene, with the `photo` its mesh is textured from
        (`texture_source` of the upload's crop; the mesh is rebuilt on demand) and the input
        it was made from (the visitor may have chosen another while it ran). The app never
        continues a run, so the recovery keeps only what viewing it needs."""
        recovery.state.keep_for_viewing()
        self.recovery, self._photo, self._mesh = recovery, photo, None
        self._recovered_from = source

    def require_recovery(self) -> Recovery:
        """The current recovery, or a GANliftError asking to reconstruct first."""
        if self.recovery is None:
            raise self.missing("Nothing is reconstructed yet; run Reconstruct on an image first.")
        return self.recovery

    def mesh(self) -> TexturedMesh:
        """The current recovery's `recovery_mesh`, built once per recovery."""
        if self._mesh is None:
            self._mesh = recovery_mesh(self.require_recovery(), photo=self._photo)
        return self._mesh

    @property
    def work_dir(self) -> Path:
        """A private temporary folder for this session's exported files (made again if the
        registry deleted it while the session was one of the least recently used)."""
        if self._work_dir is None or not self._work_dir.is_dir():
            capacity = self.context.settings.limits.sessions
            self._work_dir = self.context.folders.create(self, capacity)
        return self._work_dir

    def close(self) -> None:
        """Delete the session's files."""
        self.context.folders.remove(self)
        self._work_dir = None

    @property
    def last_active(self) -> float:
        """Monotonic time at which the session's last action ended (or it was made)."""
        return self._last_active

    def holds_state(self) -> bool:
        """Whether the session has anything to clear: an input, a recovery, car samples, view
        codes or files."""
        held = (self.input, self.recovery, self.view_codes, self._work_dir)
        return bool(self.cars) or any(item is not None for item in held)

    def clear_if_idle(self, seconds: float, now: float) -> bool:
        """`clear_if_idle_since` for more than `seconds` before monotonic time `now`."""
        return self.clear_if_idle_since(
            now - seconds, f"cleared after {seconds:g} s without any action"
        )

    def clear_if_idle_since(self, moment: float, how: str) -> bool:
        """Drop the input, reconstruction, car samples, view codes and files if no action runs
        and none has since monotonic time `moment`; `how` ("cleared after ...") is what the
        status line and the next refusals say. Returns whether anything was dropped."""
        with self._activity:
            idle = self._running_actions == 0 and not self._waiting and self._last_active <= moment
            if not idle or not self.holds_state():
                return False
            self.input, self.recovery, self._mesh, self._photo = None, None, None, None
            self.cars, self.view_codes, self.car_mesh_slot = {}, None, None
            self._sample_latents.clear()
            self.timings.clear()
            self._cleared, self._clear_shown = how, False
            self.close()  # under the lock: an action starting now must not lose its new folder
        with as_visitor(self.visitor):  # its own page's, whichever request or thread clears it
            logger.info("session state dropped: %s", how)
        return True

    def running(self) -> bool:
        """Whether an action of this session runs now."""
        with self._activity:
            return self._running_actions > 0

    def note(self, text: str) -> None:
        """End the status line with `text` until the next action begins: what Stop says must
        outlast the stopped run, whose failure redraws the status line."""
        self._note = text

    def request_stop(self, *, shutdown: bool = False) -> bool:
        """Ask the running long actions to stop at their next step (for the server's
        `shutdown`: then their refusals say so); whether any was running."""
        with self._activity:
            self._stop_requests += 1
            self._shutting_down = self._shutting_down or shutdown
            return self._running_actions > 0

    @contextmanager
    def action(
        self, name: str, *, timed: bool = True, frequent: bool = False, noted: bool = False
    ) -> Iterator[StopFn]:
        """Run one user action: time it (in the status line unless not `timed`: a follow-up
        that only shows state is no news) and turn failures into a one-sentence `gr.Error`
        (unexpected ones are logged with their traceback); where `noted`, a refusal other than
        a stop also ends the status line, which outlasts the fading pop-up. Its time is logged
        at INFO, or at DEBUG where it is no news or `frequent` (a slider's redraws, many a
        second). It yields the check its long loops poll: true once Stop was pressed after the
        action began (a run started at once after a Stop must not clear the Stop meant for the
        one before)."""
        with self._activity:
            self._running_actions += 1
            stops_before = self._stop_requests
            self._note = None
            self.visitor = current_visitor() or self.visitor
        self.context.folders.touch(self)
        start = time.perf_counter()
        succeeded = False
        try:
            yield lambda: self._stop_requests > stops_before
            succeeded = True
        except GANliftError as error:
            message = SHUTDOWN_MESSAGE if self._shutting_down else str(error)
            logger.info("%s refused: %s", name, message)
            if noted and not isinstance(error, StoppedEarly):  # a Stop notes itself
                self.note(f"**{name.capitalize()} refused:** {message}")
            raise gr.Error(message, print_exception=False) from error
        except gr.Error:
            raise
        except Exception as error:
            if (sentence := refused_path(error)) is not None:  # the system's, about a path
                message = f"{name.capitalize()} failed: {sentence}"
                logger.warning("%s failed: %s", name, sentence)
                raise gr.Error(message, print_exception=False) from error
            logger.exception("%s failed", name)
            if (phrase := out_of_memory(error)) is not None:
                raise gr.Error(
                    f"{name.capitalize()} {phrase}; the server is short of memory: try again "
                    "once it is less busy (or with a smaller input).",
                    print_exception=False,
                ) from error
            raise gr.Error(
                f"{name.capitalize()} failed unexpectedly ({type(error).__name__}); the server "
                "log has the details.",
                print_exception=False,
            ) from error
        finally:
            seconds = time.perf_counter() - start
            if succeeded and timed:  # the status line times what was done, not what was refused
                self.timings[name] = seconds
            if succeeded:  # a refusal or failure has its own line
                level = logging.INFO if timed and not frequent else logging.DEBUG
                logger.log(level, "%s took %.3f s", name, seconds)
            with self._activity:
                self._running_actions -= 1
                self._last_active = time.monotonic()
                if self.holds_state():  # made something since the clear: old news from now on
                    self._cleared = None
            self.context.sessions.keep_most_recent(self.context.settings.limits.sessions)

    def status(self) -> str:
        """A Markdown line: model, input and the last action times."""
        parts = [f"**Model:** {self.model_choice.name}"]
        if (how := self._cleared_news()) is not None:
            parts.append(f"**Session:** {how}; choose an input again")
        if self.input is not None:
            framing = f", {self.input.framing}" if self.input.framing else ""
            parts.append(f"**Input:** {self.input.label}{framing}")
        if self.recovery is not None:
            done = "finished" if self.recovery.finished else "stopped early"
            source = self._recovered_from
            if source is not None and (
                self.input is None or not torch.equal(self.input.image, source.image)
            ):
                done = f"of {source.label} (not the current input), {done}"
            parts.append(
                f"**Recovery:** {done}, inversion PSNR {psnr_text(self.recovery.psnr)}, "
                f"redraw PSNR {psnr_text(self.recovery.redraw_psnr)}"
            )
        if self.timings:
            times = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.timings.items())
            parts.append(f"**Timings:** {times}")
        if self._note is not None:
            parts.append(self._note)
        return " · ".join(parts)


def _pixel_digest(pixels: np.ndarray) -> str:
    """A hash of 8-bit pixels `[H, W, 3]` (what survives a PNG round trip)."""
    return hashlib.sha1(pixels.tobytes() + str(pixels.shape).encode()).hexdigest()
