"""The Gradio Blocks layout and its wiring: tabs, per-session state, queue limits, named API
endpoints. Everything it calls is a handler in `app.reconstruct`, `app.cars`,
`app.viewer_tab`, `app.model_tab` or `app.view_labels`; its inputs check API values as
`app.checked_inputs` says."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app import cars, model_tab, reconstruct, view_labels, viewer_tab
from app.checked_inputs import (
    checked_as_laid_out,
    image_upload,
    name_refused_api_values,
    one_of,
    redraw_after_refusal,
    slider,
)
from app.session import AppContext, Session
from app.visitors import label_requests
from engine.gan2shape import QUALITIES
from engine.gan2shape.presets import PRESETS
from engine.styleganr import ELEVATION_STEP, PARTS, SCALE_STEP, HandLabels
from engine.styleganr.model import resolve_model_path

COMPUTE_QUEUE = "compute"
"""Concurrency group of the long, CPU-heavy jobs, reconstruction and rotation video (one at a
time across sessions; jobs of a second or so, such as a car mesh or a model load, must not wait
minutes behind them)."""
PICTURE_HEIGHT, RESULT_HEIGHT, LIVE_HEIGHT = 240, 200, 400
"""Display heights of the input, result and live / orbit pictures, in CSS pixels."""
STRIPS_HEIGHT = 480
"""Height of the view-code strips' gallery: 12 strips, two a row, beside their labels table."""
NARROW_COLUMN = 160
"""Narrowest a picture's column or its sliders' may be before they stack (Gradio's 320 stacked
them on phones and at 200 % zoom, and the view was off screen while its sliders moved)."""
WIDE_COLUMN = 300
"""Narrowest a component holding file names may be before it stacks (on phones)."""
CAR_COLUMN = 80
"""Narrowest a car sample's column may be: the three stay side by side on a phone, above the
camera sliders (stacked, a phone showed sample A 1,600 px above the slider turning it)."""
RENDER_CONCURRENCY = 4
"""Slider re-renders that may run at once (each is a few milliseconds)."""
CLEAR_CHECK_SECONDS = 15.0
"""How often a page asks whether its session was cleared, to empty what it shows."""

INTRO = (
    "# GANlift\n"
    "Lift 3D out of a 2D StyleGAN2: upload an image (or draw a GAN sample), reconstruct its "
    "depth, albedo and lighting with GAN2Shape, turn it with the sliders, export the mesh."
)

VIEWER_HINT = (
    "The mesh of the last reconstruction: run one on the Reconstruct tab first, then show it "
    "here. Drag the GLB to turn it, or use the orbit sliders."
)
"""The 3D viewer's line above its locked button, which says nothing of why it is locked."""


PAGE_CSS = """
input[type=range]:focus-visible, input[type=radio]:focus-visible,
input[type=checkbox]:focus-visible {
    outline: 2px solid #4f46e5;
    outline-offset: 2px;
}
#mesh-files .label-clear-button, #view-label-files .label-clear-button {
    display: none;
}
#view-strips .grid-container {
    grid-template-rows: none;
    grid-auto-rows: auto;
}
#view-strips .thumbnail-item {
    aspect-ratio: SAMPLES_PER_VIEW / 1;
}
@media (max-width: 768px) {
    #status {
        position: fixed;
        left: 0;
        right: 0;
        bottom: 0;
        z-index: 1000;
        max-height: 30vh;
        overflow-y: auto;
        padding: 4px 12px;
        font-size: 0.85em;
        background: var(--body-background-fill);
        border-top: 1px solid var(--border-color-primary);
    }
    .gradio-container {
        padding-bottom: 30vh !important;
    }
}
""".replace("SAMPLES_PER_VIEW", str(view_labels.SAMPLES_PER_VIEW))
"""Styles `launch` gives the page: a keyboard's focus on a slider, radio button or checkbox
shows (the theme drew none, or a 1-px border), the exported and view-label files have no ×
(Gradio draws one on every file of a list, even one that is only for downloading: a stray
click lost an export), the view-code strips (SAMPLES_PER_VIEW wide) fill cells of their shape
(square cells showed 2 of 12 strips), and on narrow screens the status line stays in sight (it
sat a screen above the Reconstruct button, so results, Stop and refusals were reported out of
sight)."""
PAGE_JS = """
() => {
    const announce = () => {
        const status = document.getElementById("status");
        if (status === null) return setTimeout(announce, 200);
        status.setAttribute("role", "status");
        status.setAttribute("aria-live", "polite");
    };
    announce();
    let pending = false;
    const nameByLabel = () => {
        pending = false;
        for (const block of document.querySelectorAll(".block")) {
            const label = block.querySelector(
                '[data-testid="block-label"], [data-testid="block-info"]'
            );
            if (label === null) continue;
            const name = label.textContent.trim();
            if (block.tagName === "FIELDSET" && !block.hasAttribute("aria-label")) {
                block.setAttribute("aria-label", name);
            }
            for (const picture of block.querySelectorAll('img[alt=""]')) picture.alt = name;
        }
    };
    new MutationObserver(() => {
        if (!pending) {
            pending = true;
            requestAnimationFrame(nameByLabel);
        }
    }).observe(document.body, {childList: true, subtree: true});
    nameByLabel();
}
"""
"""Script `launch` gives the page: screen readers announce the status line, where inputs,
results and Stop are reported, and hear each picture and each group of choices by its label
(Gradio leaves pictures' alt text empty, which marks them as decoration, and its radio groups
unnamed)."""


CACHE_SWEEP_SECONDS = 600
"""How often Gradio deletes the files it served that are older than twice the session limit."""


def build_app(context: AppContext) -> gr.Blocks:
    """The app's Blocks for one process; each visitor gets their own `Session`. Gradio's
    copies of uploads and outputs go once they are twice the session limit old (they piled up
    until the server stopped); an active visitor's work lives in its session, not there."""
    lifetime = context.settings.limits.session_seconds
    delete_cache = (CACHE_SWEEP_SECONDS, 2 * lifetime) if lifetime > 0 else None
    with gr.Blocks(title="GANlift", delete_cache=delete_cache) as demo:
        blank = Session(context)
        session = gr.State(blank)  # each visitor gets a deep copy: a new Session (no API event)
        context.sessions.start_sweeping(context.settings.limits.session_seconds)
        gr.Markdown(INTRO)
        choice = blank.model_choice
        banner = gr.Markdown(
            f"**{choice.missing_message}**", visible=not choice.installed, elem_id="model-banner"
        )
        status = gr.Markdown(label="Status", show_label=False, elem_id="status")
        quiet = gr.Markdown(visible=False)
        with gr.Tab("Reconstruct"):
            examples = model_tab.example_images(context.settings, choice)
            tab = _reconstruct_tab(context, session, status, quiet, examples)
        with gr.Tab("Cars"):
            car_tab = _cars_tab(context, session, quiet)
        with gr.Tab("3D viewer"):
            viewer = _viewer_tab(session, quiet)
        with gr.Tab("Models"):
            loaded, summary, labelled = _models_tab(
                context, session, status, banner, quiet, [*tab.shown, *tab.exports, *viewer.shown]
            )
        if tab.examples is not None:
            loaded.success(
                model_tab.examples_of_model, [session], tab.examples, api_visibility="private",
                show_progress_on=[quiet],
            )  # fmt: skip
        _set_after(tab.run, [*tab.exports, *viewer.shown], None, quiet)  # of the previous recovery
        needs_recovery = [*tab.needs_recovery, *viewer.needs_recovery]
        _set_after(tab.run, needs_recovery, gr.update(interactive=True), quiet)
        _set_after(loaded, [tab.run_button, *needs_recovery], gr.update(interactive=False), quiet)
        relock = functools.partial(reconstruct.controls, count=len(needs_recovery))
        for event in [*tab.events, *viewer.events]:  # an idle clear the page could not show
            event.failure(
                relock, [session], [tab.run_button, *needs_recovery, status],
                api_visibility="private",
                show_progress_on=[quiet],
            )  # fmt: skip
        demo.load(
            model_tab.describe_model, [session], [summary, status], api_name="describe_model",
            show_progress_on=[quiet],
        )  # fmt: skip
        _stop_runs_of_closed_pages(demo, context)
        name_refused_api_values(demo)
        label_requests(demo)
        showing_state = [*tab.shown, *tab.exports, *viewer.shown, *car_tab.shown, *labelled]
        cleared = functools.partial(
            reconstruct.show_clear,
            emptied=len(showing_state),
            locked=len(needs_recovery),
            reset=[
                *(gr.update(value=value, interactive=False) for value in cars.DEFAULT_CAMERA),
                *(gr.update(interactive=False) for _ in car_tab.actions),
            ],
        )
        gr.Timer(CLEAR_CHECK_SECONDS).tick(
            cleared,
            [session],
            [
                *showing_state,
                tab.run_button,
                *needs_recovery,
                status,
                *car_tab.camera,
                *car_tab.actions,
            ],
            api_visibility="private",
            show_progress_on=[quiet],
            queue=False,
        )
    return demo


def _stop_runs_of_closed_pages(demo: gr.Blocks, context: AppContext) -> None:
    """Press Stop for a page's long job when the page is closed or reloaded, or its API client
    goes away (`app.pages`; the jobs register their page as they start)."""

    def closed(request: gr.Request) -> None:
        context.pages.closed(request.session_hash)

    demo.unload(closed)


def _compute_job(
    button: gr.Button, session: gr.State, quiet: gr.Markdown, **event: Any
) -> gr.events.Dependency:
    """`button.click(**event)` in the compute queue (one long job at a time across sessions).
    The press itself marks the job as waiting (`reconstruct.job_pressed`): a visitor waiting in
    the queue must not be cleared as idle or as the least recently used."""
    button.click(
        reconstruct.job_pressed, [session], None, queue=False, api_visibility="private",
        show_progress_on=[quiet],
    )  # fmt: skip
    return button.click(**event, concurrency_id=COMPUTE_QUEUE, concurrency_limit=1)


def _picture(label: str, height: int, elem_id: str) -> gr.Image:
    """A picture the app shows (never an input); it travels and downloads as lossless PNG,
    not Gradio's default lossy WebP."""
    return gr.Image(
        label=label,
        interactive=False,
        height=height,
        format="png",
        elem_id=elem_id,
        buttons=["download", "fullscreen"],  # a share button serves Hugging Face Spaces only
    )


def _set_after(
    event: gr.events.Dependency,
    components: list[gr.components.Component],
    value: object,
    quiet: gr.Markdown,
) -> None:
    """Give each of `components` `value` once `event` has succeeded: None empties what shows
    something the event made obsolete, `gr.update(interactive=...)` locks or unlocks."""
    event.success(
        lambda: value if len(components) == 1 else [value] * len(components),  # one: no list
        None,
        components,
        api_visibility="private",
        show_progress_on=[quiet],
    )


@dataclass(frozen=True)
class ReconstructTab:
    """The Reconstruct tab's parts that other tabs clear, lock or unlock."""

    run: gr.events.Dependency
    """The Reconstruct button's event."""
    run_button: gr.Button
    """The Reconstruct button, usable once there is an input."""
    shown: list[gr.components.Component]
    """The upload box and the pictures of the input and its recovery."""
    exports: list[gr.components.Component]
    """The mesh files and the rotation video made from the recovery."""
    needs_recovery: list[gr.components.Component]
    """The live view's sliders and GAN-view box and the export buttons: locked until there is
    a recovery (each use could only be refused before; a slider drag once per step)."""
    events: list[gr.events.Dependency]
    """The events that need an input or a recovery."""
    examples: gr.Dataset | None
    """The example images' table, if there are examples."""


@dataclass(frozen=True)
class ViewerTab:
    """The 3D viewer's parts that other tabs clear, lock or unlock."""

    shown: list[gr.components.Component]
    """The GLB viewer and the orbit picture."""
    needs_recovery: list[gr.components.Component]
    """The show button and the orbit sliders."""
    events: list[gr.events.Dependency]
    """The events that need a recovery."""


def _reconstruct_tab(
    context: AppContext,
    session: gr.State,
    status: gr.Markdown,
    quiet: gr.Markdown,
    examples: list[str],
) -> ReconstructTab:
    """Input, GAN2Shape run, results, live panel, exports. Refusals of quick actions show as a
    toast alone (their progress and error badges go to the hidden `quiet`), so a refused
    action never covers pictures or sliders; Reconstruct shows its progress in a strip under
    its button, and is locked until there is an input."""
    with gr.Row():
        with gr.Column(scale=1):
            upload = image_upload("Upload an image", elem_id="upload")
            shown_examples = (
                gr.Examples([[path] for path in examples], inputs=[upload], label="Examples")
                if examples
                else None
            )
            with gr.Row():
                seed = gr.Number(label="Seed", value=0)
                draw = gr.Button("Draw a GAN sample", elem_id="draw")
        with gr.Column(scale=1):
            preview = _picture("Input", PICTURE_HEIGHT, "preview")
            quality = one_of(
                gr.Radio(
                    list(QUALITIES),
                    value="fast",
                    label="Quality",
                    info="fast: refine the pretrained networks briefly; full: the model's whole "
                    "preset",
                )
            )
            with gr.Row():
                run = gr.Button("Reconstruct", variant="primary", interactive=False, elem_id="run")
                stop = gr.Button("Stop", variant="stop", elem_id="stop")
            run_progress = gr.Markdown(min_height=48, elem_id="run-progress")
    with gr.Row():
        results = [
            _picture(label, RESULT_HEIGHT, f"result-{name}")
            for name, label in (
                ("input", "Network input"),
                ("inversion", "Inversion"),
                ("depth", "Depth"),
                ("normal", "Normal"),
                ("albedo", "Albedo"),
            )
        ]
    with gr.Row():  # side by side down to phone widths: the view shows while a slider moves
        with gr.Column(scale=1, min_width=NARROW_COLUMN):
            view = _picture("Live view", LIVE_HEIGHT, "live-view")
            gan_view = gr.Checkbox(
                label="GAN view (projected onto the GAN manifold)", interactive=False
            )
        with gr.Column(scale=1, min_width=NARROW_COLUMN):
            locked = {"interactive": False}  # movable once there is a recovery
            azimuth = slider(
                -60, 60, value=0, step=1, label="Azimuth (°)", elem_id="azimuth", **locked
            )
            elevation = slider(-30, 30, value=0, step=1, label="Elevation (°)", **locked)
            light_x = slider(
                -1, 1, value=0, step=0.01, label="Light x (+: from the left)", **locked
            )
            light_y = slider(-1, 1, value=0, step=0.01, label="Light y (+: from above)", **locked)
            ambient = slider(0, 1, value=0.5, step=0.01, label="Ambient", **locked)
            diffuse = slider(0, 1, value=0.5, step=0.01, label="Diffuse", **locked)
    with gr.Row():
        export_buttons = {
            suffix: gr.Button(f"{suffix[1:].upper()}", elem_id=f"export-{suffix[1:]}", **locked)
            for suffix in (".obj", ".ply", ".glb")
        }
        maps_button = gr.Button("Depth and maps", elem_id="export-maps", **locked)
        video_button = gr.Button("Rotation video", elem_id="video", **locked)
    with gr.Row():  # stacked on phones, where side by side a file's name showed as ".g"
        files = gr.File(
            label="Exported files",
            file_count="multiple",
            interactive=False,  # a download list (PAGE_CSS hides the × Gradio still draws)
            min_width=WIDE_COLUMN,
            elem_id="mesh-files",
        )
        video = gr.Video(
            label="Rotation video",
            height=LIVE_HEIGHT,
            min_width=WIDE_COLUMN,
            elem_id="rotation-video",
        )

    sliders = [azimuth, elevation, light_x, light_y, ambient, diffuse]
    show_run = {"fn": reconstruct.run_button, "inputs": [session], "outputs": run}
    show_run |= {"api_visibility": "private", "show_progress_on": [quiet]}
    drawn = draw.click(
        reconstruct.sample, [session, seed], [preview, status], api_name="sample",
        show_progress_on=[quiet],
    )  # fmt: skip
    drawn.then(**show_run)
    _set_after(drawn, [upload], None, quiet)  # the photo it replaced went on showing
    uploaded = upload.change(
        reconstruct.load_input, [session, upload], [preview, status], api_name="load_image",
        show_progress_on=[quiet],
    )  # fmt: skip
    uploaded.then(**show_run)
    uploaded.failure(
        Session.status, [session], status, api_visibility="private",
        show_progress_on=[quiet],
    )  # fmt: skip
    run_event = _compute_job(
        run,
        session,
        quiet,
        fn=reconstruct.reconstruct,
        inputs=[session, quality],
        outputs=[*results, view, *sliders, gan_view, status],
        api_name="reconstruct",
        show_progress_on=[run_progress],
    )
    rendered = gr.on(
        [control.input for control in sliders] + [gan_view.input],
        outputs=view,
        api_name="render_view",
        trigger_mode="always_last",
        show_progress_on=[quiet],
        concurrency_limit=RENDER_CONCURRENCY,
        **checked_as_laid_out(reconstruct.render, [session, *sliders, gan_view]),
    )
    redraw_after_refusal(rendered, reconstruct.render, [session, *sliders, gan_view], view, quiet)
    exported = [
        button.click(
            functools.partial(reconstruct.export_mesh, suffix=suffix),
            [session],
            files,
            api_name=f"export_{suffix[1:]}",
            show_progress_on=[quiet],
        )
        for suffix, button in export_buttons.items()
    ]
    exported.append(
        maps_button.click(
            reconstruct.export_maps,
            [session],
            files,
            api_name="export_maps",
            show_progress_on=[quiet],
        )
    )
    video_event = _compute_job(
        video_button,
        session,
        quiet,
        outputs=video,
        api_name="rotation_video",
        **checked_as_laid_out(reconstruct.rotation_video, [session, *sliders[1:], gan_view]),
    )
    # A video waits in the queue behind a run, then took the sliders of the recovery before it:
    # locked from the press until the run ends (unlocked on success, failure or Stop).
    run.click(
        lambda: gr.update(interactive=False), None, video_button, queue=False,
        api_visibility="private", show_progress_on=[quiet],
    )  # fmt: skip
    stop.click(
        reconstruct.stop,
        [session],
        status,
        cancels=[run_event, video_event],
        queue=False,
        api_name="stop",
    ).then(
        reconstruct.usable_with_recovery, [session], video_button, queue=False,
        api_visibility="private", show_progress_on=[quiet],
    )  # fmt: skip
    return ReconstructTab(
        run_event,
        run,
        [upload, preview, *results, view],
        [files, video],
        [*sliders, gan_view, *export_buttons.values(), maps_button, video_button],
        [run_event, rendered, *exported, video_event],
        None if shown_examples is None else shown_examples.dataset,
    )


@dataclass(frozen=True)
class CarsTab:
    """The Cars tab's parts that a session clear empties or resets."""

    shown: list[gr.components.Component]
    """The samples' pictures, their upload boxes and the car mesh."""
    camera: list[gr.Slider]
    """The camera sliders (azimuth, elevation, scale)."""
    actions: list[gr.Button]
    """Swap and Car → mesh, locked while a sample they take is empty."""


def _cars_tab(context: AppContext, session: gr.State, quiet: gr.Markdown) -> CarsTab:
    """StyleGAN-R: three samples (by seed or upload), their cameras, part swaps, car to mesh.
    A car mesh is cleared when its sample changes."""
    path = resolve_model_path(context.settings.cars_model, models_dir=context.settings.models_dir)
    if not path.is_file():
        gr.Markdown(
            f"**The StyleGAN-R model {path} is not installed yet; start with --cars-model PATH.**"
        )
    pictures, draw_buttons = [], []
    with gr.Row():  # side by side on phones too, above the sliders that turn them
        for slot in cars.SLOTS:
            with gr.Column(min_width=CAR_COLUMN):
                pictures.append(_picture(f"Sample {slot}", RESULT_HEIGHT, f"car-{slot.lower()}"))
                seed = gr.Number(label=f"Seed {slot}", value=len(draw_buttons))
                button = gr.Button(f"Draw {slot}", elem_id=f"draw-car-{slot.lower()}")
                draw_buttons.append((slot, seed, button))
    with gr.Row():
        with gr.Column():
            camera_slot = one_of(gr.Radio(list(cars.SLOTS), value="A", label="Camera of sample"))
            start_azimuth, start_elevation, start_scale = cars.DEFAULT_CAMERA
            locked = {"interactive": False}  # movable once the chosen slot holds a car
            azimuth = slider(
                *cars.AZIMUTH_RANGE, value=start_azimuth, step=1, label="Car azimuth (°)", **locked
            )
            elevation = slider(
                *cars.ELEVATION_RANGE,
                value=start_elevation,
                step=ELEVATION_STEP,
                label="Car elevation (°)",
                **locked,
            )
            scale = slider(
                *cars.SCALE_RANGE, value=start_scale, step=SCALE_STEP, label="Car scale", **locked
            )
        with gr.Column():
            target = one_of(gr.Radio(list(cars.SLOTS), value="A", label="Change sample"))
            source = one_of(gr.Radio(list(cars.SLOTS), value="B", label="Take from sample"))
            part = one_of(gr.Radio(list(PARTS), value="texture", label="Part", elem_id="swap-part"))
            swap_button = gr.Button("Swap", variant="primary", elem_id="swap", **locked)
        with gr.Column():
            mesh_slot = one_of(gr.Radio(list(cars.SLOTS), value="A", label="Mesh of sample"))
            mesh_button = gr.Button("Car → mesh", elem_id="car-mesh", **locked)
            car_model3d = gr.Model3D(label="Car mesh (GLB)", height=RESULT_HEIGHT)
    uploads = []
    with gr.Row():
        for slot in cars.SLOTS:
            upload = image_upload(
                f"Upload a car photo for {slot}", elem_id=f"upload-car-{slot.lower()}"
            )
            uploads.append((slot, upload))

    camera = [azimuth, elevation, scale]
    quick = {"show_progress_on": [quiet]}
    show_camera = {
        "fn": cars.camera_sliders,
        "inputs": [session, camera_slot],
        "outputs": camera,
        "api_visibility": "private",
    } | quick
    clear_mesh = {"outputs": car_model3d, "api_visibility": "private"} | quick
    actions = [swap_button, mesh_button]
    show_actions = {
        "fn": cars.action_buttons,
        "inputs": [session, target, source, mesh_slot],
        "outputs": actions,
        "api_visibility": "private",
    } | quick
    for slot, seed, button in draw_buttons:
        drawn = button.click(
            functools.partial(cars.draw_car, slot=slot),
            [session, seed],
            pictures,
            api_name=f"draw_car_{slot.lower()}",
            **quick,
        )
        drawn.success(**show_camera)
        drawn.success(**show_actions)
        drawn.success(functools.partial(cars.mesh_after_change, slot=slot), [session], **clear_mesh)
        _set_after(drawn, [dict(uploads)[slot]], None, quiet)  # the photo it replaced
    for slot, upload in uploads:
        uploaded = upload.change(
            functools.partial(cars.upload_car, slot=slot),
            [session, upload],
            pictures,
            api_name=f"upload_car_{slot.lower()}",
            **quick,
        )
        uploaded.success(**show_camera)
        uploaded.success(**show_actions)
        uploaded.success(
            functools.partial(cars.mesh_after_upload, slot=slot), [session, upload], **clear_mesh
        )
        uploaded.failure(  # the refused file's name went on showing as if it were the car
            lambda: None, None, upload, api_visibility="private", **quick
        )
    camera_slot.change(**show_camera)
    for choice in (target, source, mesh_slot):
        choice.change(**show_actions)
    turned = gr.on(
        [control.input for control in camera],
        outputs=pictures,
        api_name="car_camera",
        trigger_mode="always_last",
        concurrency_limit=RENDER_CONCURRENCY,
        **quick,
        **checked_as_laid_out(cars.car_camera, [session, camera_slot, *camera]),
    )
    turned.success(cars.mesh_after_change, [session, camera_slot], **clear_mesh)
    turned.failure(**show_camera)  # locked again if an idle clear emptied the slot
    swapped = swap_button.click(
        cars.swap_cars, [session, target, source, part], pictures, api_name="swap", **quick
    )
    swapped.success(cars.mesh_after_change, [session, target], **clear_mesh)
    meshed = mesh_button.click(
        cars.car_mesh,
        [session, mesh_slot],
        car_model3d,
        api_name="car_mesh",
        **quick,  # a refusal's badge would hide the mesh shown (about a second's work)
    )
    for event in (turned, swapped, meshed):
        event.failure(**show_actions)  # locked again if an idle clear emptied the samples
    return CarsTab([*pictures, *dict(uploads).values(), car_model3d], camera, actions)


def _viewer_tab(session: gr.State, quiet: gr.Markdown) -> ViewerTab:
    """The GLB in an interactive viewer, and the app's own render with orbit sliders (both
    cleared when the model changes or a new recovery is made; the controls locked until there
    is a recovery)."""
    locked = {"interactive": False}
    gr.Markdown(VIEWER_HINT)
    show = gr.Button("Show the recovered mesh", variant="primary", elem_id="show-mesh", **locked)
    with gr.Row():
        model3d = gr.Model3D(label="GLB", height=LIVE_HEIGHT, elem_id="model3d")
        with gr.Column():
            picture = _picture("Orbit view", LIVE_HEIGHT, "orbit-view")
            azimuth = slider(-180, 180, value=30, step=1, label="Orbit azimuth (°)", **locked)
            elevation = slider(-80, 80, value=15, step=1, label="Orbit elevation (°)", **locked)
            distance = slider(1.2, 5, value=2.2, step=0.1, label="Distance", **locked)
    orbit = [azimuth, elevation, distance]
    shown = show.click(
        outputs=[model3d, picture], api_name="show_mesh", show_progress_on=[picture],
        **checked_as_laid_out(viewer_tab.show_mesh, [session, *orbit]),
    )  # fmt: skip
    orbited = gr.on(
        [control.input for control in orbit],
        outputs=picture,
        **checked_as_laid_out(viewer_tab.orbit, [session, *orbit]),
        api_name="orbit_view",
        trigger_mode="always_last",
        show_progress_on=[quiet],
    )
    redraw_after_refusal(orbited, viewer_tab.orbit, [session, *orbit], picture, quiet)
    return ViewerTab([model3d, picture], [show, *orbit], [shown, orbited])


def _models_tab(
    context: AppContext,
    session: gr.State,
    status: gr.Markdown,
    banner: gr.Markdown,
    quiet: gr.Markdown,
    stale: list[gr.components.Component],
) -> tuple[gr.events.Dependency, gr.Textbox, list[gr.components.Component]]:
    """Load a checkpoint by path with a category preset; returns the load event, the
    architecture box and the view-labelling panel's outputs. The `stale` pictures and files
    of the previous model's input and results are cleared."""
    allowed = context.settings.allow_model_paths
    if not allowed:
        gr.Markdown(f"**{model_tab.PATHS_OFF_MESSAGE}**")
    with gr.Row():
        path = gr.Textbox(
            label="Checkpoint path (.pt, .pkl or .safetensors)",
            interactive=allowed,
            elem_id="model-path",
        )
        category = one_of(
            gr.Dropdown(
                ["auto", *PRESETS], value="auto", label="Category preset", interactive=allowed
            )
        )
    load = gr.Button("Load", variant="primary", interactive=allowed, elem_id="load-model")
    summary = gr.Textbox(label="Architecture", lines=8, interactive=False, elem_id="summary")
    view_labels_outputs = _view_labels_panel(session, quiet)
    loaded = load.click(
        model_tab.load_model,
        [session, path, category],
        [summary, status],
        api_name="load_model",
        show_progress_on=[summary],
    )
    loaded.success(
        lambda: gr.update(visible=False), None, banner, api_visibility="private",
        show_progress_on=[quiet],
    )  # fmt: skip
    loaded.failure(  # the refusal's Error badge covered the architecture of the model in use
        Session.status, [session], status, api_visibility="private", show_progress_on=[summary]
    )
    _set_after(loaded, [*stale, *view_labels_outputs], None, quiet)
    return loaded, summary, view_labels_outputs


def _view_labels_panel(session: gr.State, quiet: gr.Markdown) -> list[gr.components.Component]:
    """StyleGAN-R's view labelling by hand, for the checkpoint loaded above; returns the drawn
    strips, their table and the saved files (cleared when the model changes)."""
    with gr.Accordion("Label view codes by hand (StyleGAN-R training)", open=False):
        gr.Markdown(
            "Draw view codes of the checkpoint above: each strip shows one view code under "
            "the same few contents. Give each strip the azimuth bin of its car (bin k is "
            "k·360/bins degrees from the front: with 12 bins 0 is the front, 3 the side "
            "with the nose to the left, 6 the back, 9 the side with the nose to the right); "
            "leave unsure ones blank."
        )
        with gr.Row():
            count = gr.Number(label="View codes", value=12)
            layers = gr.Number(label="View layers (W+ rows)", value=4)
            seed = gr.Number(label="Seed", value=0)
            draw = gr.Button("Draw view codes", elem_id="draw-view-codes")
        with gr.Row():
            strips = gr.Gallery(
                label="View codes",
                columns=2,
                height=STRIPS_HEIGHT,
                object_fit="contain",
                format="png",  # lossless, as every other picture (Gradio's default is WebP)
                elem_id="view-strips",
            )
            with gr.Column():
                table = gr.Dataframe(
                    headers=view_labels.TABLE_HEADERS,
                    datatype=["number", "str"],
                    type="array",
                    static_columns=[0],
                    label="Azimuth bins",
                    elem_id="view-bins",
                )
                with gr.Row():
                    bins = gr.Number(label="Azimuth bins", value=HandLabels.num_bins)
                    elevation = gr.Number(label="Elevation (°) of every view", value=10)
                save = gr.Button("Save labels", variant="primary", elem_id="save-view-labels")
        files = gr.File(
            label="View codes, labels, labelled views",
            file_count="multiple",
            interactive=False,  # a download list, as the exported files (PAGE_CSS)
            elem_id="view-label-files",
        )
        note = gr.Markdown(label="Note", show_label=False)
    drawn = draw.click(
        view_labels.draw_view_codes,
        [session, count, layers, seed],
        [strips, table],
        api_name="draw_view_codes",
        show_progress_on=[strips],
    )
    _set_after(drawn, [files, note], None, quiet)  # the labels of the codes drawn before
    save.click(
        view_labels.save_view_labels,
        [session, table, bins, elevation],
        [files, note],
        api_name="save_view_labels",
        show_progress_on=[quiet],
    )
    return [strips, table, files, note]
