"""Which StyleGAN2 checkpoint and GAN2Shape preset a session uses, and a process-wide cache of
loaded models.

`resolve_model` is the one place that turns "default-face", "default-car" or a path into a file
and a preset; the embedded defaults are looked up in `assets/models` every time, so the app
works as soon as their files land, and says clearly that they are missing until then.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import GANliftError
from engine.gan2shape.pipeline import pretrained_path
from engine.gan2shape.presets import PRESETS, Gan2ShapePreset, get_preset
from engine.gan2shape.recover import check_generator
from engine.gan2shape.release import RELEASE_FILES, read_release
from engine.stylegan2 import Checkpoint, Discriminator, Generator, load_checkpoint
from engine.stylegan2.checkpoint import MODELS_DIR, is_model_name
from engine.styleganr import StyleGANR, load_styleganr
from engine.wording import shown

DEFAULT_MODELS = ("default-face", "default-car")
"""Models trained by this project and shipped in `assets/models` (same-named presets)."""


@dataclass(frozen=True)
class ModelChoice:
    """A checkpoint file and how to lift 3D out of it, before anything is loaded."""

    name: str
    """What the user asked for: a default model's name or a path."""
    path: Path
    category: str | Gan2ShapePreset | None
    """Preset name, preset JSON file, preset object, or None to infer it from the image size."""

    @property
    def installed(self) -> bool:
        """Whether the checkpoint file is there."""
        return self.path.is_file()

    @property
    def missing_message(self) -> str:
        """The sentence shown while the checkpoint file is missing."""
        if self.name in DEFAULT_MODELS:
            return (
                f"The default model '{self.name}' is not installed yet (expected {self.path}); "
                "start with --model PATH or load a checkpoint in the Models tab."
            )
        path = shown(str(self.path))
        if self.path.is_dir():
            return f"Checkpoint {path} is a folder; give the path of the checkpoint file in it."
        if self.path.exists():  # a device, a pipe: no file to read weights from
            return f"Checkpoint {path} is not a regular file; give a checkpoint file."
        if is_model_name(self.name):  # a name, such as a mistyped default model's
            return (
                f"No model named '{self.name}' and no such file; name one of "
                f"{', '.join(DEFAULT_MODELS)} or give a checkpoint's path."
            )
        return (
            f"Checkpoint {path} does not exist; check the path, or load another checkpoint in "
            "the Models tab."
        )


def resolve_model(
    spec: str | None,
    category: str | Gan2ShapePreset | None = None,
    *,
    models_dir: Path = MODELS_DIR,
) -> ModelChoice:
    """`spec` = a default model's name (its preset unless `category` says otherwise) or a
    checkpoint path (.pt, .pkl or .safetensors); nothing is read yet."""
    spec = (spec or "").strip()
    if not spec:
        raise GANliftError("No model given; pass a default model name or a checkpoint path.")
    if spec in DEFAULT_MODELS:
        return ModelChoice(spec, models_dir / f"{spec}.safetensors", category or spec)
    path = Path(spec).expanduser()
    shipped = {(models_dir / f"{name}.safetensors").resolve(): name for name in DEFAULT_MODELS}
    return ModelChoice(spec, path, category or shipped.get(path.resolve()))


def resolve_preset(category: str | Gan2ShapePreset | None, gan_size: int) -> Gan2ShapePreset:
    """A preset object from a name, a JSON file or None (the one preset made for `gan_size`;
    where several are, such as cat and church at 256 px, the category must be named)."""
    if isinstance(category, Gan2ShapePreset):
        return category
    if category is None:
        fitting = [preset for preset in PRESETS.values() if preset.gan_size == gan_size]
        if len(fitting) == 1:
            return fitting[0]
        if fitting:
            names = " or ".join(preset.name for preset in fitting)
            raise GANliftError(
                f"A {gan_size}-px generator fits the {names} presets, which crop and shape "
                f"differently; choose its category ({names})."
            )
        raise GANliftError(
            f"No GAN2Shape preset is made for {gan_size}-px generators, so no category in the "
            "Models tab fits it; the app takes a preset file written for this checkpoint when "
            "it starts (--model PATH --category PRESET.json)."
        )
    return get_preset(category)


@dataclass(frozen=True)
class LoadedModel:
    """A loaded checkpoint with the preset that lifts 3D out of it (shared, read-only)."""

    choice: ModelChoice
    checkpoint: Checkpoint
    preset: Gan2ShapePreset
    start: dict[str, torch.Tensor] | None = None
    """Networks every run starts from (the release's, for its face and cat presets)."""
    from_release: bool = False
    """Whether the preset carries the release's view and light statistics."""

    @property
    def generator(self) -> Generator:
        """The EMA generator, on the app's device."""
        return self.checkpoint.generator

    @property
    def discriminator(self) -> Discriminator:
        """The discriminator GAN2Shape needs (projection features, perceptual loss)."""
        if self.checkpoint.discriminator is None:
            raise GANliftError(
                f"{self.choice.path} has no discriminator, which GAN2Shape needs; use a "
                "checkpoint that stores one (a training checkpoint or a full .pkl)."
            )
        return self.checkpoint.discriminator

    @property
    def pretrained(self) -> Path:
        """Where the fast quality looks for jointly pretrained GAN2Shape networks."""
        return pretrained_path(self.choice.path)

    def describe(self) -> str:
        """The checkpoint's architecture summary and the preset in use."""
        networks = self.preset.networks
        release = ""
        if self.from_release:
            starts = " and starts from its pretrained networks" if self.start else ""
            release = f"; samples views and lights as the GAN2Shape release does{starts}"
        return (
            f"{self.checkpoint.describe()}\n"
            f"  GAN2Shape preset: {self.preset.name} ({self.preset.num_stages} stages, "
            f"networks at {networks.image_size}x{networks.image_size}){release}"
        )


class ModelStore:
    """Loaded models (StyleGAN2 + preset, and StyleGAN-R) shared by every session, keyed by
    file, modification time and preset.

    Models are only read (GAN2Shape works on its own copies), so sessions may share them;
    the store keeps the `capacity` most recently used ones. Gradio deep-copies each session's
    initial state, so a copy of the store is the store itself. With the GAN2Shape release's
    `checkpoints/` folder as `release_dir`, a checkpoint under one of the release's presets
    (face, cat, car, church) takes the release's statistics and starting networks.
    """

    def __init__(
        self, device: torch.device, *, capacity: int = 2, release_dir: Path | None = None
    ) -> None:
        self.device = device
        self.capacity = capacity
        self.release_dir = release_dir
        self._models: OrderedDict[tuple, LoadedModel | StyleGANR] = OrderedDict()
        self._lock = threading.Lock()

    def __deepcopy__(self, memo: dict) -> ModelStore:
        return self

    def load(self, choice: ModelChoice) -> LoadedModel:
        """The model for `choice`, loaded on first use."""
        if not choice.installed:
            raise GANliftError(choice.missing_message)
        path = choice.path.resolve()
        key = (str(path), path.stat().st_mtime_ns, repr(choice.category))
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            checkpoint = load_checkpoint(path, self.device)
            preset = resolve_preset(choice.category, checkpoint.generator.config.size)
            check_generator(checkpoint.generator, preset)
            if self.release_dir is not None and preset.name in RELEASE_FILES:
                style_dim = checkpoint.generator.style_dim
                release = read_release(preset, self.release_dir, style_dim=style_dim)
                model = LoadedModel(
                    choice, checkpoint, release.preset, start=release.start, from_release=True
                )
            else:
                model = LoadedModel(choice, checkpoint, preset)
            self._remember(key, model)
            return model

    def load_cars(self, path: Path) -> StyleGANR:
        """The StyleGAN-R model in `path` with the GAN its file records, loaded on first use."""
        if not path.is_file():
            raise GANliftError(
                f"The StyleGAN-R model {path} is not installed yet; start with --cars-model PATH "
                "(a file written by `python -m engine styleganr`)."
            )
        key = ("styleganr", str(path.resolve()), path.stat().st_mtime_ns)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            model = load_styleganr(path, device=self.device)
            self._remember(key, model)
            return model

    def _remember(self, key: tuple, model: LoadedModel | StyleGANR) -> None:
        """Keep `model` as the most recent entry, forgetting the oldest beyond capacity."""
        self._models[key] = model
        while len(self._models) > self.capacity:
            self._models.popitem(last=False)
