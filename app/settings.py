"""What `launch.py` decides once for the whole app process (every session reads it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.limits import DEFAULT_LIMITS, Limits
from engine.stylegan2.checkpoint import MODELS_DIR

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "examples"
"""Images offered as examples in the Reconstruct tab (may be empty)."""


@dataclass(frozen=True)
class AppSettings:
    """Process-wide choices made on the command line."""

    model: str = "default-face"
    """The model sessions start with: a default model's name or a checkpoint path."""
    category: str | None = None
    """GAN2Shape preset for `model`: a preset name or a preset JSON file (None: inferred)."""
    cars_model: str = "default-car-styleganr"
    """The Cars tab's StyleGAN-R model: the shipped default's name or a model file path."""
    allow_model_paths: bool = True
    """Whether the Models tab may load checkpoints from server paths."""
    desktop: bool = False
    """Also show the 3D viewer tab's mesh in Open3D's native window."""
    examples_dir: Path = EXAMPLES_DIR
    """Folder of example images offered in the Reconstruct tab."""
    models_dir: Path = MODELS_DIR
    """Where the default models' files are looked up."""
    limits: Limits = DEFAULT_LIMITS
    """Caps on uploads and long jobs (`launch.py` flags and GANLIFT_* variables)."""
