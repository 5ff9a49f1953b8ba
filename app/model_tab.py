"""Handlers of the Models tab: load a checkpoint from a server path with a category preset."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from app.models import ModelChoice, resolve_model
from app.session import Session
from app.settings import AppSettings
from engine.errors import GANliftError
from engine.gan2shape import Gan2ShapePreset
from engine.images import SAVE_FORMATS

PATHS_OFF_MESSAGE = (
    "Loading checkpoints by path is off on a publicly shared app; restart it with "
    "--allow-model-paths to allow it."
)


def load_model(session: Session, path: str | None, category: str) -> tuple[str, str]:
    """Switch the session to the checkpoint at `path` (.pt, .pkl or .safetensors) with the
    GAN2Shape preset `category` ('auto': the one preset made for its image size, refused
    where several are); returns the model's architecture summary and the status line. A
    refused load keeps the model in use and says why at the end of the status line."""
    with session.action("load model", noted=True):
        if not session.context.settings.allow_model_paths:
            raise GANliftError(PATHS_OFF_MESSAGE)
        choice = resolve_model(
            path,
            None if category in ("", "auto") else category,
            models_dir=session.context.settings.models_dir,
        )
        model = session.use_model(choice)
    return model.describe(), session.status()


def describe_model(session: Session) -> tuple[str, str]:
    """The architecture summary of the session's model (or why it is not available) and the
    status line."""
    with session.action("describe model", timed=False):
        choice = session.model_choice
        summary = session.model().describe() if choice.installed else choice.missing_message
    return summary, session.status()


def example_images(settings: AppSettings, choice: ModelChoice) -> list[str]:
    """The example images for `choice`'s category (files named `<category>-*`, e.g.
    face-1900000000.png for default-face), or every example when none is named for it."""
    images = sorted(
        path for path in Path(settings.examples_dir).glob("*")
        if path.suffix.lower() in SAVE_FORMATS
    )  # fmt: skip
    preset = choice.category
    name = preset.name if isinstance(preset, Gan2ShapePreset) else preset or ""
    named = [path for path in images if path.name.startswith(f"{name.removeprefix('default-')}-")]
    return [str(path) for path in named or images]


def examples_of_model(session: Session) -> gr.Dataset:
    """The Reconstruct tab's examples for the session's model (a car model's cars, not the
    launch model's faces)."""
    images = example_images(session.context.settings, session.model_choice)
    return gr.Dataset(samples=[[path] for path in images])
