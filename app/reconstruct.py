"""Handlers of the Reconstruct tab: choose an input, run GAN2Shape, re-render it from the live
sliders, export the mesh and a turntable video.

Each handler takes the `Session` first and returns what its Gradio outputs show; the UI wires
them and tests call them directly.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr
import numpy as np
import torch

from app.display import depth_picture, normal_picture, picture
from app.inputs import numbers, seed_number, tick
from app.models import LoadedModel
from app.session import Session
from app.uploads import read_upload
from engine.animation import rotation_frames, save_animation, swing_angles
from engine.errors import GANliftError, StoppedEarly
from engine.gan2shape import Quality, check_quality, quality_schedule, sample_input, write_maps
from engine.gan2shape.meshing import texture_source
from engine.gan2shape.pipeline import frame_input
from engine.gan2shape.recover import recover
from engine.gan2shape.views import project_view, render_view
from engine.limits import JobGuard
from engine.mesh import MESH_FORMATS, save_mesh
from engine.progress import ProgressFn
from engine.stylegan2 import bf16_supported

SLIDER_DECIMALS = 2
"""The light sliders' precision (recovered lights are rounded to it)."""

VIDEO_FRAMES = 36
VIDEO_SWING_DEGREES = 35.0
VIDEO_FPS = 12.0

GradioProgress = Callable[..., Any]
"""`gr.Progress` or anything called as `progress((done, total), desc=message)`."""

PROGRESS_BAR = gr.Progress()
"""Default of handlers' `progress`: Gradio swaps it for the event's own progress bar (it finds
handlers that report progress by this default); called outside an event it does nothing."""


class LightSliders(NamedTuple):
    """The live panel's light: GAN2Shape's (ambient, diffuse, dx, dy)."""

    light_x: float
    light_y: float
    ambient: float
    diffuse: float

    def tensor(self) -> torch.Tensor:
        """The light `[1, 4]` = (ambient, diffuse, dx, dy)."""
        return torch.tensor([[self.ambient, self.diffuse, self.light_x, self.light_y]])


class ReconstructOutputs(NamedTuple):
    """What `reconstruct` shows, in the order of the UI's outputs."""

    input: np.ndarray
    inversion: np.ndarray
    depth: np.ndarray
    normal: np.ndarray
    albedo: np.ndarray
    view: np.ndarray
    azimuth: float
    elevation: float
    light_x: float
    light_y: float
    ambient: float
    diffuse: float
    gan_view: bool
    """The GAN-view box, unticked: the new live view is the rendering itself."""
    status: str


def sample(session: Session, seed: float) -> tuple[np.ndarray, str]:
    """Draw the GAN's sample for `seed` (the one `reconstruct --seed-sample` lifts) and make it
    the input (its latent is kept, so no inversion is needed); returns the picture and the
    status line."""
    with session.action("sample"):
        seed = seed_number(seed)
        prepared, w = sample_input(session.model().generator, seed)
        session.set_input(prepared.image.cpu(), f"GAN sample, seed {seed}", latent=w)
    return picture(prepared.image), session.status()


def load_input(session: Session, file: str | os.PathLike | None) -> tuple[Any, str]:
    """Make an uploaded (or example) image file the input; returns its picture and the status
    line. An unreadable file raises a one-sentence `gr.Error`, ends the status line with it
    (the pop-up fades) and keeps the input. Clearing the upload box (`file` None) clears the
    input it gave, and leaves a drawn sample, or an input the box no longer shows (a refused
    file came after it), where it is (no action then)."""
    if file is None and (session.input is None or not session.input.uploaded):
        shown = None if session.input is None else picture(session.input.image)
        return shown, session.status()
    with session.action("load image"):
        if file is None:
            session.input = None
            return None, session.status()
        try:
            image = read_upload(file, session.context.settings.limits)  # [1, 3, H, W]
        except GANliftError as error:
            if session.input is not None:  # the box shows the refused file now, not the input's
                session.input = dataclasses.replace(session.input, uploaded=False)
            session.note(f"**Upload refused:** {error}")  # the pop-up fades; this stays
            raise
        session.set_input(image, Path(file).name, uploaded=True)
    return picture(image), session.status()


LOADED_DURING_RUN = (
    "A model was loaded while Reconstruct ran, which cleared its input and stopped it; run "
    "Reconstruct again."
)
"""Why a run is dropped when a model load cleared its input (the load also stops it)."""


def run_button(session: Session) -> dict[str, Any]:
    """The Reconstruct button's update: usable while the session has an input."""
    return gr.update(interactive=session.input is not None)


def controls(session: Session, count: int) -> list[dict[str, Any] | str]:
    """Updates of the Reconstruct button, then of the `count` controls that need a recovery:
    each usable while the session has what it needs (after an idle clear, which the server
    cannot show on the page, the first refused use locks them), then the status line (which
    then says the session was cleared)."""
    return [run_button(session), *[usable_with_recovery(session)] * count, session.status()]


def usable_with_recovery(session: Session) -> dict[str, Any]:
    """The update that unlocks a control needing a recovery while the session has one."""
    return gr.update(interactive=session.recovery is not None)


def show_clear(session: Session, emptied: int, locked: int, reset: Sequence[Any]) -> list[Any]:
    """A page's periodic check of its session: once the session's state has been cleared (idle,
    or pushed out by newer sessions), None for the `emptied` components that showed it, the
    `controls` with the `locked` ones locked, and the `reset` updates; else no change. It is
    no action: a page left open must still count as idle."""
    shown = [None] * emptied + controls(session, locked) + list(reset)
    return shown if session.take_clear_news() else [gr.skip()] * len(shown)


def reconstruct(
    session: Session,
    quality: Quality,
    progress: GradioProgress = PROGRESS_BAR,
    request: gr.Request | None = None,
) -> ReconstructOutputs:
    """Run GAN2Shape on the session's input with the model's preset (`quality` 'fast' or
    'full'), reporting each stage to `progress`. The Stop button cancels it: the page drops
    the run, and so does the session, keeping the results from before it (a run cut short
    by the job time limit after its inversion is kept and shown as stopped early). Closing
    the `request`'s page, or its API client going away, stops it too."""
    _stop_when_closed(session, request)
    with session.action("reconstruct", noted=True) as stopped:
        check_quality(quality)
        loads, model, source = session.models_loaded, session.model(), session.require_input()
        image, mask, photo = _framed_input(session, model)
        preset, init = quality_schedule(
            model.preset, quality, model.pretrained, model.generator, start=model.start
        )
        guard = JobGuard(session.context.settings.limits, should_stop=stopped)
        try:
            recovery = recover(
                model.generator,
                model.discriminator,
                image,
                preset=preset,
                mask=mask,
                latent=source.latent,
                init=init,
                device=session.context.models.device,
                bf16=bf16_supported(session.context.models.device),
                progress=_engine_progress(progress),
                should_stop=guard.should_stop,
            )
        except StoppedEarly as early:  # cut short in the inversion: by a cap, say which
            if session.models_loaded != loads:
                raise GANliftError(LOADED_DURING_RUN) from early
            if guard.reason is None:
                raise
            raise GANliftError(guard.reason) from early
        if session.models_loaded != loads:  # loaded while this ran (and stopped it)
            raise GANliftError(LOADED_DURING_RUN)
        if stopped():
            raise StoppedEarly("Reconstruct was stopped; the results from before it are kept.")
        _warn_if_capped(guard)
        session.set_recovery(recovery, texture_source(photo, model.preset), source)
        ambient, diffuse, light_x, light_y = (
            round(float(value), SLIDER_DECIMALS) for value in recovery.light[0]
        )
        light = LightSliders(light_x, light_y, ambient, diffuse)
        view = _view(session, 0.0, 0.0, light, gan_view=False)
    return ReconstructOutputs(
        input=picture(recovery.image),
        inversion=picture(recovery.state.target.gan_image),
        depth=depth_picture(recovery.depth),
        normal=normal_picture(recovery.normal),
        albedo=picture(recovery.albedo),
        view=picture(view),
        azimuth=0.0,
        elevation=0.0,
        light_x=light_x,
        light_y=light_y,
        ambient=ambient,
        diffuse=diffuse,
        gan_view=False,
        status=session.status(),
    )


def _framed_input(
    session: Session, model: LoadedModel
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """The session's input as the CLI frames it for `model`: (image in the GAN's frame, object
    mask or None, the crop at the upload's resolution). A drawn sample is taken as it is; an
    upload is cropped around its largest face (face presets) or its centre, with GrabCut's
    object mask where the preset needs one, and its framing is noted for the status line."""
    source = session.require_input()
    if source.latent is not None:
        return source.image, None, source.image
    prepared = frame_input(source.image, model.generator, model.preset)
    session.input = dataclasses.replace(source, framing=prepared.framing)
    return prepared.image, prepared.mask, prepared.photo


def render(
    session: Session,
    azimuth: float,
    elevation: float,
    light_x: float,
    light_y: float,
    ambient: float,
    diffuse: float,
    gan_view: bool,
) -> np.ndarray:
    """The current recovery from (`azimuth`, `elevation`) degrees under the slider light; with
    `gan_view` the rendering is projected onto the GAN's image manifold."""
    with session.action("render", frequent=True):
        azimuth, elevation, light_x, light_y, ambient, diffuse = numbers(
            azimuth=azimuth,
            elevation=elevation,
            light_x=light_x,
            light_y=light_y,
            ambient=ambient,
            diffuse=diffuse,
        )
        return picture(
            _view(
                session,
                azimuth,
                elevation,
                LightSliders(light_x, light_y, ambient, diffuse),
                tick(gan_view, "GAN view"),
            )
        )


def export_mesh(session: Session, suffix: str) -> list[str]:
    """Write the recovered mesh as `suffix` (.obj with its .mtl and texture, .ply or .glb) in
    the session's folder; returns the written files, the mesh file first."""
    with session.action(f"export {suffix.lstrip('.')}"):
        if suffix not in MESH_FORMATS:
            raise GANliftError(
                f"Cannot export a mesh as '{suffix}'; use one of {', '.join(MESH_FORMATS)}."
            )
        mesh = session.mesh()  # refused first: the folder made for nothing hid an idle clear
        folder = session.work_dir / suffix.lstrip(".")
        mesh_path = save_mesh(mesh, folder / f"ganlift-mesh{suffix}")
        companions = sorted(path for path in folder.iterdir() if path != mesh_path)
    return [str(mesh_path), *(str(path) for path in companions)]


def export_maps(session: Session) -> list[str]:
    """Write the recovery's maps (depth as float32 .npy and 16-bit PNG, normal, albedo,
    shading, canonical, input, inversion) and their summary.json, which records the depth
    PNG's range, in the session's folder; returns the files, depth first."""
    with session.action("export maps"):
        files = write_maps(session.require_recovery(), session.work_dir / "maps")
    return [str(path) for path in files.values()]


def rotation_video(
    session: Session,
    elevation: float,
    light_x: float,
    light_y: float,
    ambient: float,
    diffuse: float,
    gan_view: bool,
    progress: GradioProgress = PROGRESS_BAR,
    request: gr.Request | None = None,
) -> str:
    """An MP4 swinging the recovery left and right at `elevation` under the slider light;
    returns its path. The Stop button ends it early with the frames made so far, as does
    closing the `request`'s page or its API client going away."""
    _stop_when_closed(session, request)
    with session.action("rotation video") as stopped:
        elevation, *light_values = numbers(
            elevation=elevation,
            light_x=light_x,
            light_y=light_y,
            ambient=ambient,
            diffuse=diffuse,
        )
        light = LightSliders(*light_values)
        gan_view = tick(gan_view, "GAN view")
        guard = JobGuard(session.context.settings.limits, should_stop=stopped)
        frames = rotation_frames(
            lambda azimuth, tilt: _view(
                session, math.degrees(azimuth), math.degrees(tilt), light, gan_view
            ),
            azimuths=swing_angles(math.radians(VIDEO_SWING_DEGREES), VIDEO_FRAMES),
            elevation=math.radians(elevation),
            progress=_engine_progress(progress),
            should_stop=guard.should_stop,
        )  # [N, 3, S, S]
        if len(frames) == 0:
            raise GANliftError(
                guard.reason or "The video was stopped before its first frame; start it again."
            )
        _warn_if_capped(guard)
        path = save_animation(frames, session.work_dir / "rotation.mp4", fps=VIDEO_FPS)
    return str(path)


def stop(session: Session) -> str:
    """Ask the session's running reconstruction or video to stop at its next step; returns the
    status line saying so (the page drops the stopped run, so its own message never comes).
    A job still waiting in the queue is cancelled by the page, so it waits no more."""
    waited = session.job_waiting()
    session.job_waits(False)
    if session.request_stop():
        session.note("**Stopped:** the results from before the run are kept.")
    elif waited:
        session.note("**Stopped:** the job waiting in the queue was cancelled.")
    else:
        session.note("**Stop:** nothing was running.")
    return session.status()


def _view(
    session: Session, azimuth: float, elevation: float, light: LightSliders, gan_view: bool
) -> torch.Tensor:
    """One new view of the current recovery: the rendering `[1, 3, S, S]`, or with `gan_view`
    its projection at the generator's resolution, cropped as the input (`project_view`)."""
    recovery = session.require_recovery()
    light_tensor = light.tensor().to(recovery.depth.device)  # [1, 4]
    if gan_view:
        return project_view(
            recovery,
            session.model().generator,
            azimuth=azimuth,
            elevation=elevation,
            light=light_tensor,
        )
    return render_view(recovery, azimuth=azimuth, elevation=elevation, light=light_tensor)


def job_pressed(session: Session, request: gr.Request | None = None) -> None:
    """A long job's button was pressed: its job now waits in the compute queue
    (`Session.job_waits`), until it starts or the page of `request` closes."""
    session.job_waits()
    _page_is(session, request)


def _stop_when_closed(session: Session, request: gr.Request | None) -> None:
    """Have the long job about to run stop if the page (or API client) of `request` goes away
    (`app.pages`); Gradio leaves it running, holding the compute queue. It waits no more."""
    session.job_waits(False)
    _page_is(session, request)


def _page_is(session: Session, request: gr.Request | None) -> None:
    """Remember that the page (or API client) of `request` works on `session` (`app.pages`)."""
    if request is not None and request.session_hash is not None:
        session.context.pages.opened(request.session_hash, session)


def _warn_if_capped(guard: JobGuard) -> None:
    """Tell the visitor (a toast) when a job was cut short by the host's time or memory cap."""
    if guard.reason is not None:
        gr.Warning(guard.reason)


def _engine_progress(progress: GradioProgress) -> ProgressFn:
    """An engine `ProgressFn` that drives a `gr.Progress` bar."""

    def report(done: int, total: int, message: str) -> None:
        progress((done, total), desc=message)

    return report
