"""Handlers of the Models tab: load a checkpoint from a server path with a category preset."""

from __future__ import annotations

from app.models import resolve_model
from app.session import Session
from engine.errors import GANliftError

PATHS_OFF_MESSAGE = (
    "Loading checkpoints by path is off on a publicly shared app; restart it with "
    "--allow-model-paths to allow it."
)


def load_model(session: Session, path: str | None, category: str) -> tuple[str, str]:
    """Switch the session to the checkpoint at `path` (.pt, .pkl or .safetensors) with the
    GAN2Shape preset `category` ('auto': the one preset made for its image size, refused
    where several are); returns the model's architecture summary and the status line."""
    with session.action("load model"):
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
    with session.action("describe model"):
        choice = session.model_choice
        summary = session.model().describe() if choice.installed else choice.missing_message
    return summary, session.status()
