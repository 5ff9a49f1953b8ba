"""Gradio inputs that refuse a bad API value in one sentence naming the control (Gradio's own
checks named none and left tracebacks in the server log), and the event wiring that keeps
those checks once handlers have updated the controls."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
from gradio.exceptions import ComponentProcessingError, InvalidPathError
from pydantic import ValidationError

from engine.wording import counted, shown

logger = logging.getLogger("ganlift.app")

Choice = TypeVar("Choice", gr.Radio, gr.Dropdown)
Checked = TypeVar("Checked", bound=gr.components.Component)
Result = TypeVar("Result")


def one_of(component: Choice) -> Choice:
    """`component` (a radio group or a single-choice dropdown) with API values outside its
    choices refused in one sentence naming it: Gradio's own check named no control and left a
    traceback in the server log."""
    allowed = [value for _, value in component.choices]

    def read(payload: str | None) -> str | None:
        if payload is not None and payload not in allowed:
            raise ValueError(payload)
        return payload

    return _checked(component, read, f"one of {', '.join(map(str, allowed))}")


def slider(minimum: float, maximum: float, **options: Any) -> gr.Slider:
    """A slider whose values get one sentence naming it when they are no number in its range:
    Gradio's own check raised a TypeError for None (a traceback in the log, "Error" to the
    client) and named no slider for a value out of its range. It has no reset button, which
    moved the slider without the `.input` event its picture redraws on (and reset a light to
    0, not to the recovered one)."""

    def read(payload: float | str | None) -> float:
        value = float(payload)  # type: ignore[arg-type]  # None raises TypeError
        if isinstance(payload, bool) or not minimum <= value <= maximum:
            raise ValueError(payload)
        return value

    slider = gr.Slider(minimum, maximum, buttons=[], **options)
    return _checked(slider, read, f"a number from {minimum:g} to {maximum:g}")


def _checked(component: Checked, read: Callable[[Any], Any], expected: str) -> Checked:
    """`component` whose API values go through `read` before Gradio's own check; a value `read`
    refuses (any of ValueError, TypeError, OverflowError) gets one sentence naming the
    component and what it takes. (The check is set on the instance, as Gradio writes a .pyi
    beside any module that subclasses a component, and the events that take these components
    preprocess with these instances: `checked_as_laid_out`.)"""
    gradio_check = component.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            value = read(payload)
        except (TypeError, ValueError, OverflowError):
            raise gr.Error(
                f"{component.label} must be {expected}, got {shown(payload, quoted=True)}.",
                print_exception=False,
            ) from None
        return gradio_check(value)

    component.preprocess = preprocess
    return component


def image_upload(label: str, elem_id: str) -> gr.File:
    """An upload box for one image file (its API refusals: `name_refused_api_values`)."""
    return gr.File(label=label, file_types=["image"], type="filepath", elem_id=elem_id)


def name_refused_api_values(demo: gr.Blocks) -> None:
    """Make Gradio's own refusals of an API value one sentence naming the input: it validates
    files and tables against their data models before any preprocess (a plain path where
    `handle_file(path)` goes, a table sent as a list of rows), which reached clients as a
    generic error with a traceback in the log, and its "Invalid file type" named neither the
    box nor the file; a reference to a server file that was never uploaded came back as an
    error without a message. Each refusal is logged as the handlers' are (they went unseen).
    (Set on the Blocks: Gradio drops what is set on a component when it rebuilds the component
    for a session, as any update, even a skip, makes it do.)"""
    gradio_preprocess = demo.preprocess_data

    async def preprocess_data(block_fn: Any, inputs: list[Any], *rest: Any, **options: Any) -> Any:
        try:
            return await named_refusals(block_fn, inputs, *rest, **options)
        except gr.Error as error:  # logged as a handler's refusals are
            logger.info("%s refused: %s", block_fn.api_name or block_fn.name, error.message)
            raise

    async def named_refusals(block_fn: Any, inputs: list[Any], *rest: Any, **options: Any) -> Any:
        if len(inputs) < len(block_fn.inputs):  # Gradio's ValueError logged a traceback
            raise gr.Error(_too_few_values(block_fn, len(inputs)), print_exception=False)
        given = list(zip(block_fn.inputs, inputs, strict=False))
        try:
            return await gradio_preprocess(block_fn, inputs, *rest, **options)
        except (ValidationError, ComponentProcessingError) as error:
            refused = next((pair for pair in given if _refused_by(error, *pair)), None)
            if refused is None:
                raise
            raise gr.Error(_form_refusal(*refused), print_exception=False) from None
        except InvalidPathError:  # a file reference to the server's own files, sent by hand
            upload = next((pair for pair in given if isinstance(pair[0], gr.File)), None)
            if upload is None:
                raise
            raise gr.Error(
                f"{upload[0].label} takes a file uploaded to this app (gradio_client's "
                "handle_file(path)), not a path on the server.",
                print_exception=False,
            ) from None
        except gr.Error as error:
            upload = next((pair for pair in given if isinstance(pair[0], gr.File)), None)
            if upload is None or not error.message.startswith("Invalid file type"):
                raise
            sent = upload[1] or {}
            name = Path(sent.get("orig_name") or sent.get("path") or "?").name
            raise gr.Error(
                f"{upload[0].label}: '{name}' is not an image file; choose an image (PNG, JPEG, "
                "WebP, …).",
                print_exception=False,
            ) from None

    demo.preprocess_data = preprocess_data


def _too_few_values(block_fn: Any, count: int) -> str:
    """The refusal of a call sending `count` values where `block_fn` takes more: most often a
    call to `/gradio_api/run/<name>`, which leaves out the page's state."""
    name = block_fn.api_name or block_fn.name
    taken = sum(not getattr(block, "skip_api", False) for block in block_fn.inputs)
    if count < taken:
        return f"{name} takes {counted(taken, 'value')}, got {count}; send all of them."
    return (
        f"{name} was called without its page's state (/gradio_api/run/ leaves it out); call it "
        f"with gradio_client or /gradio_api/call/{name}."
    )


def _refused_by(error: Exception, component: object, value: Any) -> bool:
    """Whether Gradio's `error` refused `value` of `component`: a validation error names the
    component's data model; a processing error, which checks no form, came of a table sent
    as None."""
    if isinstance(error, ValidationError):
        return _data_model_name(component) == error.title
    return isinstance(component, gr.Dataframe) and value is None


def _data_model_name(component: object) -> str:
    """The name of the pydantic model Gradio validates `component`'s API values with ("" when
    there is none), as a validation error's title names it."""
    return getattr(getattr(component, "data_model", None), "__name__", "")


def _form_refusal(component: gr.components.Component, value: Any) -> str:
    """The sentence for an API `value` that is not in `component`'s form."""
    value = shown(value, quoted=True)
    if isinstance(component, gr.Dataframe):
        row = ", ".join(component.headers)
        return (
            f"The table '{component.label}' must be sent as {{'headers': {component.headers}, "
            f"'data': [[{row}], ...]}}, got {value}."
        )
    return f"{component.label} takes a file sent as gradio_client's handle_file(path), got {value}."


def checked_as_laid_out(
    fn: Callable[..., Result], inputs: list[gr.components.Component]
) -> dict[str, Any]:
    """The `fn`, `inputs` and `preprocess` of an event whose inputs include controls a handler
    updates: `fn` preprocesses its inputs with the components as laid out here. Once an update
    has unlocked a slider, Gradio preprocesses with a per-session copy of it that lacks the
    check `slider` set, so a number typed out of range met Gradio's message, which names no
    slider and left a traceback in the log."""

    @functools.wraps(fn)
    def checked(*values: Any) -> Result:
        given, special = values[: len(inputs)], values[len(inputs) :]  # special: gr.Progress
        try:
            preprocessed = [
                value if component.stateful else component.preprocess(value)
                for component, value in zip(inputs, given, strict=True)
            ]
        except gr.Error as error:  # logged as the refusals made before a handler runs are
            logger.info("%s refused: %s", fn.__name__.replace("_", " "), error.message)
            raise
        return fn(*preprocessed, *special)

    return {"fn": checked, "inputs": inputs, "preprocess": False}


def redraw_after_refusal(
    event: gr.events.Dependency,
    fn: Callable[..., Any],
    inputs: list[gr.components.Component],
    output: gr.components.Component,
    quiet: gr.Markdown,
) -> None:
    """Once `event`, a picture's redraw from sliders, is refused, hold each slider's value to
    its range and draw `output` from them: a typed value out of range stayed in the slider's
    box, to become the range's end on leaving it, while the picture showed the view before. A
    redraw refused in turn changes nothing (the first refusal has said why)."""
    sliders = [component for component in inputs if isinstance(component, gr.Slider)]
    checked = checked_as_laid_out(fn, inputs)["fn"]

    @functools.wraps(checked)
    def redraw(*values: Any) -> list[Any]:
        held = [
            _held_to_range(component, value) if isinstance(component, gr.Slider) else value
            for component, value in zip(inputs, values, strict=True)
        ]
        try:
            picture = checked(*held)
        except gr.Error:
            return [gr.skip()] * (1 + len(sliders))
        shown = [
            value
            for component, value in zip(inputs, held, strict=True)
            if isinstance(component, gr.Slider)
        ]
        return [picture, *shown]

    event.failure(
        redraw, inputs, [output, *sliders], preprocess=False, api_visibility="private",
        show_progress_on=[quiet],
    )  # fmt: skip


def _held_to_range(slider: gr.Slider, value: Any) -> Any:
    """`value` held to `slider`'s range if it is a number, else as it is."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return value
    return min(max(number, slider.minimum), slider.maximum) if math.isfinite(number) else value
