"""A trained StyleGAN-R: the GAN, its inverse graphics network, its mapping network, its
labelled view codes and (in shipped files) its segmenter, in one file.

The file is a training-state dict (see `engine.styleganr.config_io`) that stores the
networks' configs and weights, the view codes, and the path and weight fingerprint of the
StyleGAN2 checkpoint it was trained on (the GAN itself is not copied); the mapping trainer
resumes from it. The fingerprint makes loading refuse another GAN of the same shapes, whose
W+ codes the networks would misread without any error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.brief import brief_repr
from engine.config import config_from_dict, config_to_dict
from engine.device import cpu_state, resolve_device
from engine.errors import GANliftError
from engine.stylegan2 import Generator, generator_fingerprint, load_checkpoint
from engine.stylegan2.checkpoint import MODELS_DIR, resolve_checkpoint_path
from engine.styleganr.config_io import (
    STATE_FIX,
    bundled_path,
    read_state,
    state_part,
    write_state,
)
from engine.styleganr.inverse_graphics import InverseGraphicsConfig, InverseGraphicsNet
from engine.styleganr.labelling import ViewLabeller, labeller_from_state
from engine.styleganr.mapping import MappingConfig, MappingNetwork
from engine.styleganr.train_inverse import STATE_FORMAT as INVERSE_GRAPHICS_FORMAT
from engine.styleganr.train_inverse import inverse_graphics_from_state
from engine.styleganr.view_codes import ViewCodes
from engine.torch_files import built_with_weights

MODEL_FORMAT = "ganlift-styleganr"
MODEL_VERSION = 1


def resolve_model_path(spec: str | os.PathLike, *, models_dir: Path = MODELS_DIR) -> Path:
    """A StyleGAN-R model file: `spec` as a path, or a bundled name ("default-car-styleganr")
    as `<models_dir>/<name>.pt` when no such file exists where the user is (`bundled_path`)."""
    bundled = bundled_path(spec, models_dir)
    if not bundled.exists() and (models_dir / f"{spec}.safetensors").exists():
        raise GANliftError(
            f"'{spec}' is a StyleGAN2 model, not a StyleGAN-R one; give a StyleGAN-R model such "
            "as default-car-styleganr here (it names the StyleGAN2 it was trained on)."
        )
    return bundled


@dataclass
class StyleGANR:
    """Everything the StyleGAN-R operations need."""

    __repr__ = brief_repr  # shapes and sizes, not every value

    generator: Generator
    inverse_graphics: InverseGraphicsNet
    mapping: MappingNetwork
    views: ViewCodes
    """Labelled view codes (the cameras the inverse graphics network was trained with)."""
    generator_path: str = ""
    """Where the StyleGAN2 checkpoint was loaded from (recorded in the model file)."""
    segmenter: ViewLabeller | None = None
    """The view labeller, whose silhouettes let a photo's camera be estimated by its outline
    as well as its colours (`encode_photo`); None unless exported with one."""

    @property
    def device(self) -> torch.device:
        """The device the networks live on."""
        return self.mapping.mean_w.device


def save_styleganr(
    model: StyleGANR,
    path: str | os.PathLike,
    *,
    training: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write the model file atomically; ``training`` carries a trainer's resume state, and
    ``half`` stores the networks' floating-point weights in float16 (half the size, for
    shipping; they are read back into float32)."""

    def stored(module: torch.nn.Module) -> dict[str, torch.Tensor]:
        state = cpu_state(module)
        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        return state

    return write_state(
        path,
        {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "generator_path": model.generator_path,
            "generator_fingerprint": generator_fingerprint(model.generator),
            "inverse_graphics": {
                "config": config_to_dict(model.inverse_graphics.config),
                "state": stored(model.inverse_graphics),
            },
            "mapping": {
                "config": config_to_dict(model.mapping.config),
                "state": stored(model.mapping),
            },
            "views": {"codes": model.views.codes.cpu(), "cameras": model.views.labelled().cpu()},
            "segmenter": None
            if model.segmenter is None
            else {
                "config": config_to_dict(model.segmenter.config),
                "state": stored(model.segmenter),
            },
            "training": training,
        },
    )


def inverse_graphics_weights(
    path: str | os.PathLike, config: InverseGraphicsConfig
) -> dict[str, torch.Tensor]:
    """The inverse graphics network's weights in a model file (or a shipped model, by name), to
    start a new training run from (e.g. for another car GAN); its architecture must be
    ``config``."""
    path = resolve_model_path(path)
    state = read_state(path, MODEL_FORMAT)
    network = _stored_network(  # the weights checked against the network they are for
        state, path, "inverse_graphics", InverseGraphicsNet, InverseGraphicsConfig
    )
    if network.config != config:
        raise GANliftError(
            f"{path} holds an inverse graphics network of another architecture than this "
            "run's; start this run from scratch or from a model of the same architecture."
        )
    return state_part(state, path, "inverse_graphics", "state")


def inverse_graphics_of(
    path: str | os.PathLike, device: torch.device | str = "cpu"
) -> InverseGraphicsNet:
    """The inverse graphics network of a `train-inverse` state file, or of a StyleGAN-R model
    file (or a shipped model, by name), in eval mode: a model's mapping network can be trained
    again on its own network."""
    path = resolve_model_path(path)
    state = read_state(path, MODEL_FORMAT, INVERSE_GRAPHICS_FORMAT)
    if state["format"] == INVERSE_GRAPHICS_FORMAT:
        return inverse_graphics_from_state(state, path, device)
    network = _stored_network(
        state, path, "inverse_graphics", InverseGraphicsNet, InverseGraphicsConfig
    )
    return network.to(resolve_device(device)).eval()


def _stored_network(
    state: dict[str, Any], path: Path, name: str, network_type: type, config_type: type
) -> Any:
    """The network `name` of a model file's `state`, built from its config and loaded."""
    config = config_from_dict(config_type, state_part(state, path, name, "config"), str(path))
    weights = state_part(state, path, name, "state")
    return built_with_weights(
        lambda: network_type(config), weights, f"{path}'s {name} network", STATE_FIX
    )


def load_model_views(path: str | os.PathLike) -> ViewCodes:
    """The labelled view codes in a model file (or bundled model), read without its GAN."""
    path = resolve_model_path(path)
    return _views(read_state(path, MODEL_FORMAT), path)


def _views(state: dict[str, Any], path: Path) -> ViewCodes:
    codes, cameras = (state_part(state, path, "views", name) for name in ("codes", "cameras"))
    if not isinstance(codes, torch.Tensor) or not isinstance(cameras, torch.Tensor | None):
        raise GANliftError(f"{path} holds view codes that are no tensors; {STATE_FIX}.")
    try:
        return ViewCodes(codes, cameras, generator=state.get("generator_fingerprint"))
    except GANliftError as error:  # its checks name no file and suggest drawing new codes
        reason = str(error).split(";")[0].rstrip(".")
        raise GANliftError(f"{path} holds damaged view codes ({reason}); {STATE_FIX}.") from error


def load_styleganr(
    path: str | os.PathLike,
    *,
    generator: Generator | None = None,
    device: torch.device | str = "cpu",
) -> StyleGANR:
    """Read a model file (or a bundled model by name); the GAN is ``generator`` or else loaded
    from the recorded path, and must be the one the model was trained on (files without a
    fingerprint are not checked). A given ``generator`` becomes the model's own: it is moved
    to ``device`` and set to evaluation mode (pass a copy to keep yours as it is)."""
    path, device = resolve_model_path(path), resolve_device(device)
    state = read_state(path, MODEL_FORMAT)
    recorded_path = state_part(state, path, "generator_path")
    if not isinstance(recorded_path, str | None):
        raise GANliftError(f"{path} records its StyleGAN2 as {recorded_path!r}; {STATE_FIX}.")
    if generator is None:
        if not recorded_path:
            raise GANliftError(
                f"{path} does not record its StyleGAN2 checkpoint; pass the GAN's checkpoint "
                "(--checkpoint, or generator= in Python)."
            )
        try:
            recorded_file = resolve_checkpoint_path(recorded_path)
        except GANliftError as error:
            raise GANliftError(
                f"{path} records its StyleGAN2 as {recorded_path}, which is no longer there; "
                "pass the GAN's checkpoint where it is now (--checkpoint, or generator= in "
                "Python)."
            ) from error
        generator = load_checkpoint(recorded_file, device).generator  # its errors tell why
    inverse_graphics = _stored_network(
        state, path, "inverse_graphics", InverseGraphicsNet, InverseGraphicsConfig
    )
    mapping = _stored_network(state, path, "mapping", MappingNetwork, MappingConfig)
    if (mapping.config.num_ws, mapping.config.style_dim) != (generator.num_ws, generator.style_dim):
        raise GANliftError(
            f"{path} was trained for a GAN with W+ {mapping.config.num_ws} x "
            f"{mapping.config.style_dim}, but the given one has {generator.num_ws} x "
            f"{generator.style_dim}; pass the checkpoint it was trained on."
        )
    recorded = state.get("generator_fingerprint")
    if recorded is not None and recorded != generator_fingerprint(generator):
        raise GANliftError(
            f"{path} was trained on another StyleGAN2 than the given one (weight fingerprint "
            f"{recorded}); pass the checkpoint it was trained on, or retrain it on this one."
        )
    inverse_graphics = inverse_graphics.to(device).eval()
    stored = state.get("segmenter")
    segmenter = (
        None
        if stored is None
        else labeller_from_state(
            state_part(state, path, "segmenter", "config"),
            state_part(state, path, "segmenter", "state"),
            f"{path}'s segmenter",
            device,
        )
    )
    return StyleGANR(
        generator=generator.to(device).eval(),
        inverse_graphics=inverse_graphics,
        mapping=mapping.to(device).eval(),
        views=_views(state, path),
        generator_path=recorded_path,
        segmenter=segmenter,
    )
