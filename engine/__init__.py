"""GANlift engine: everything that computes. Nothing here imports the app."""

from engine.errors import GANliftError

__all__ = ["GANliftError"]
