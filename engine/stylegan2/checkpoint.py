"""Load StyleGAN2 checkpoints of every common format into our modules, and write our own.

Formats read (the architecture is always inferred from the tensors, never asked for):
- the common PyTorch layout, as written by its training script (`g`, `d`, `g_ema`, `args`,
  optimizers) or by its weight converter (`g_ema`, `latent_avg`, optional `d`), or a bare
  generator state dict;
- our own: `<name>.safetensors` with `<name>.json` (a `ModelConfig`) beside it; a bare name such
  as "default-face" means `assets/models/default-face.safetensors`;
- NVIDIA StyleGAN2-ADA `.pkl` snapshots (`G_ema`, and `D` when present).
Formats written: ours (`save_checkpoint`) and the common `.pt` layout (`save_pt_checkpoint`).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from safetensors import SafetensorError

from engine.atomic import atomic_path, path_first, save_torch
from engine.brief import brief_repr
from engine.device import cpu_state, resolve_device
from engine.errors import GANliftError
from engine.randomness import global_rng_kept
from engine.state_kinds import state_kind
from engine.stylegan2.ada import convert_ada_snapshot
from engine.stylegan2.config import (
    DiscriminatorConfig,
    GeneratorConfig,
    ModelConfig,
    standard_multiplier,
)
from engine.stylegan2.discriminator import Discriminator
from engine.stylegan2.generator import Generator
from engine.stylegan2.safe_pickle import error_summary, load_ada_pickle, load_torch_file
from engine.torch_files import float_weight_problem, load_weights, stores_every_value

MODELS_DIR = Path(__file__).resolve().parents[2] / "assets" / "models"
"""Where bare model names ("default-face") are looked up."""
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

_ZIP_MAGIC = b"PK\x03\x04"
_TORCH_LEGACY_MAGIC = b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
"""LONG1 opcode + the magic number that legacy (non-zip) torch.save files pickle first (after
a protocol header and frame when saved with pickle protocol 4 or 5)."""


@dataclass
class Checkpoint:
    """A loaded StyleGAN2: the EMA generator, the discriminator if stored, and the mean w."""

    __repr__ = brief_repr  # shapes and sizes, not every value

    generator: Generator
    discriminator: Discriminator | None
    latent_avg: torch.Tensor | None
    """Mean w [style_dim] for truncation, when the file stores it."""
    source: Path
    format: str
    """Human-readable name of the file format that was read."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Metadata carried by the file (training args, step, ...)."""

    def describe(self) -> str:
        """A short multi-line summary (for `python -m engine info`)."""
        g_config = self.generator.config
        lines = [
            f"{self.source} ({self.format})",
            f"  generator: {g_config.size}x{g_config.size}, z/w {g_config.style_dim}, "
            f"{g_config.n_mlp} mapping layers, W+ {g_config.num_ws} x {g_config.style_dim}, "
            f"{_count_parameters(self.generator) / 1e6:.2f}M parameters",
            f"  generator channels: {_format_channels(g_config.channels)}",
        ]
        if self.discriminator is None:
            lines.append("  discriminator: not stored")
        else:
            lines.append(
                f"  discriminator: {_count_parameters(self.discriminator) / 1e6:.2f}M parameters, "
                f"channels {_format_channels(self.discriminator.config.channels)}"
            )
        lines.append(f"  latent_avg: {'stored' if self.latent_avg is not None else 'not stored'}")
        if g_config.conv_clamp is not None:
            lines.append(f"  conv_clamp: {g_config.conv_clamp:g}")
        return "\n".join(lines)


_FILE_SUFFIXES = (".safetensors", ".json", ".pt", ".pth", ".pkl", ".ckpt", ".bin", ".tar")
"""Suffixes of weight files: they make a spec a file rather than a model name ("ffhq-v1.2"
is still a name), and `safetensors_path` replaces them."""


def is_model_name(spec: str | os.PathLike[str]) -> bool:
    """Whether `spec` names a model in a models folder ("default-face") rather than a file:
    no folder, no checkpoint suffix."""
    return (
        bool(_MODEL_NAME.fullmatch(str(spec))) and Path(spec).suffix.lower() not in _FILE_SUFFIXES
    )


def safetensors_path(path: str | os.PathLike[str]) -> Path:
    """`path` as our weights file: a weight-file suffix (`.pt`, `.json`, …) is replaced, any
    other dot is part of the name (`runs/ffhq-v1.2` -> `runs/ffhq-v1.2.safetensors`)."""
    path = Path(path)
    if path.suffix.lower() in _FILE_SUFFIXES:
        return path.with_suffix(".safetensors")
    return path.with_name(f"{path.name}.safetensors")


def _generator_names(models_dir: Path = MODELS_DIR) -> list[str]:
    """Names of the StyleGAN2 models in `models_dir` (not the other networks stored there,
    such as GAN2Shape's): those whose JSON config describes a generator."""
    names = []
    for weights in sorted(models_dir.glob("*.safetensors")):
        try:
            config = json.loads(weights.with_suffix(".json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and isinstance(config.get("generator"), dict):
            names.append(weights.stem)
    return names


def resolve_checkpoint_path(
    path_or_name: str | os.PathLike[str], models_dir: Path = MODELS_DIR
) -> Path:
    """An existing file as is; a bare name ("default-face") as `<models_dir>/<name>.safetensors`;
    else the weights file `save_checkpoint(path_or_name, ...)` writes, so a save and a load of
    one path meet."""
    if not str(path_or_name).strip():
        raise GANliftError("The checkpoint is empty text; give a checkpoint file or a model name.")
    path = Path(path_or_name)
    if path.is_file():
        return path
    candidate = models_dir / f"{path_or_name}.safetensors"
    if is_model_name(path_or_name) and candidate.is_file():
        return candidate
    if safetensors_path(path).is_file():
        return safetensors_path(path)
    if path.is_dir():
        raise GANliftError(
            f"Checkpoint {path} is a folder; give the path of the checkpoint file in it."
        )
    if is_model_name(path_or_name):
        available = ", ".join(_generator_names(models_dir)) or "none installed"
        raise GANliftError(
            f"No model named '{path_or_name}': expected {candidate} with its .json beside it "
            f"(available: {available}); pass a checkpoint file path instead."
        )
    raise GANliftError(f"Checkpoint file {path} does not exist; check the path.")


def load_checkpoint(
    path_or_name: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    *,
    models_dir: Path = MODELS_DIR,
) -> Checkpoint:
    """Load any supported StyleGAN2 checkpoint (format detected from the bytes) onto `device`."""
    device = resolve_device(device)
    path = resolve_checkpoint_path(path_or_name, models_dir)
    checkpoint = _READERS[_detect_format(path)](path)
    checkpoint.generator.to(device).eval()
    if checkpoint.discriminator is not None:
        checkpoint.discriminator.to(device).eval()
    checkpoint.latent_avg = _checked_latent_avg(checkpoint, path)
    if checkpoint.latent_avg is not None:
        checkpoint.latent_avg = checkpoint.latent_avg.to(device)
        checkpoint.generator.latent_avg = checkpoint.latent_avg.reshape(1, -1)
    return checkpoint


def _checked_latent_avg(checkpoint: Checkpoint, path: Path) -> torch.Tensor | None:
    """The stored mean w as a float32 `[style_dim]` tensor (files in half precision store it
    so), or a one-line error when it does not fit the generator."""
    value, width = checkpoint.latent_avg, checkpoint.generator.style_dim
    if value is None:
        return None
    if not isinstance(value, torch.Tensor) or value.numel() != width:
        stored = (
            f"of shape {list(value.shape)}"
            if isinstance(value, torch.Tensor)
            else f"as a {type(value).__name__}"
        )
        raise GANliftError(
            f"{path} stores a latent_avg {stored}, which does not fit its generator's "
            f"w of width {width}; re-save the checkpoint with the generator's mean w."
        )
    value = value.detach().float().reshape(width)
    if not torch.isfinite(value).all():
        raise GANliftError(
            f"{path} stores a latent_avg with NaN or infinite values; re-save the checkpoint "
            "with the generator's mean w."
        )
    return value


def _detect_format(path: Path) -> str:
    """'torch', 'safetensors' or 'ada', from the first bytes of the file."""
    with path.open("rb") as file:
        head = file.read(32)
    if head.startswith(_ZIP_MAGIC) or _TORCH_LEGACY_MAGIC in head:
        return "torch"
    if len(head) > 8 and head[8:9] == b"{":
        return "safetensors"
    if head[:1] == b"\x80":
        return "ada"
    raise GANliftError(
        f"{path} is not a StyleGAN2 checkpoint; expected a PyTorch .pt, a StyleGAN2-ADA .pkl "
        "or a GANlift .safetensors file."
    )


_ADA_GENERATOR_KEYS = ("mapping.fc0.", "synthesis.b4.")
"""How the state dict of a StyleGAN2-ADA generator (`G_ema.state_dict()`) names its layers."""


def _read_torch(path: Path) -> Checkpoint:
    """The common layout: training-script, converter or bare generator state dict."""
    data = load_torch_file(path)
    if not isinstance(data, Mapping):
        raise GANliftError(
            f"{path} holds a {type(data).__name__}, not a StyleGAN2 checkpoint dict."
        )
    if "g_ema" in data:
        g_state, d_state = data["g_ema"], data.get("d")
        kind = (
            "StyleGAN2 PyTorch training checkpoint"
            if "g" in data
            else "StyleGAN2 PyTorch checkpoint"
        )
    elif "style.1.weight" in data:
        g_state, d_state, kind = data, None, "StyleGAN2 PyTorch generator state dict"
    elif isinstance(data.get("g"), Mapping) and "style.1.weight" in data["g"]:
        g_state, d_state = data["g"], data.get("d")
        kind = "StyleGAN2 PyTorch training checkpoint without g_ema (its training generator g)"
    elif "G_ema" in data:
        raise GANliftError(
            f"{path} is a train-gan training state; load the model.safetensors (or model.pt) "
            "the run wrote beside it."
        )
    elif any(str(key).startswith(_ADA_GENERATOR_KEYS) for key in data):
        raise GANliftError(
            f"{path} holds a StyleGAN2-ADA generator's weights without its architecture; load "
            "the network snapshot (.pkl) they were saved from."
        )
    elif isinstance(data.get("format"), str) and data["format"].startswith("ganlift-"):
        raise GANliftError(
            f"{path} holds {state_kind(data['format'])}, not a StyleGAN2 checkpoint; pass a "
            "generator's checkpoint (.pt, .pkl, .safetensors) or a bundled model's name."
        )
    else:
        raise GANliftError(
            f"{path} is a PyTorch file without 'g_ema' or generator weights, not a StyleGAN2 "
            "checkpoint; pass a generator's checkpoint (.pt, .pkl, .safetensors)."
        )
    for name, state in (("g_ema", g_state), ("d", d_state)):
        if (state is not None or name == "g_ema") and not isinstance(state, Mapping):
            raise GANliftError(
                f"{path} holds '{name}' as a {type(state).__name__}, not a state dict of "
                "tensors; it is not a StyleGAN2 checkpoint."
            )
    args = data.get("args")
    extra = dict(vars(args)) if isinstance(args, argparse.Namespace) else {}
    clamp = {"conv_clamp": extra["conv_clamp"]} if extra.get("conv_clamp") is not None else {}
    g_config = dataclasses.replace(infer_generator_config(g_state, str(path)), **clamp)
    generator = _build(Generator, g_config, g_state, str(path))
    discriminator = None
    if d_state is not None:
        group = {key: extra[key] for key in ("mbstd_group_size",) if key in extra}
        d_config = dataclasses.replace(
            infer_discriminator_config(d_state, str(path)), **clamp, **group
        )
        discriminator = _build(Discriminator, d_config, d_state, str(path))
    latent_avg = data.get("latent_avg")
    return Checkpoint(generator, discriminator, latent_avg, path, kind, extra)


def _read_safetensors(path: Path) -> Checkpoint:
    """Our format: tensors in `path`, configs in the JSON file beside it."""
    config_path = path.with_suffix(".json")
    if not config_path.is_file():
        raise GANliftError(
            f"{path} has no GANlift config beside it (expected {config_path}); a .safetensors "
            "file is a GANlift model only with the .json that train-gan or export wrote for it."
        )
    config = ModelConfig.from_json_file(config_path)
    try:
        tensors = safetensors.torch.load_file(path)
    except (SafetensorError, OSError) as error:
        raise GANliftError(
            f"Cannot read {path}: the file is truncated or corrupt ({error_summary(error)})."
        ) from error
    g_state = _with_prefix(tensors, "generator.")
    d_state = _with_prefix(tensors, "discriminator.")
    generator = _build(Generator, config.generator, g_state, str(path))
    discriminator = None
    if config.discriminator is not None:
        discriminator = _build(Discriminator, config.discriminator, d_state, str(path))
    return Checkpoint(
        generator,
        discriminator,
        tensors.get("latent_avg"),
        path,
        "GANlift safetensors",
        config.extra,
    )


def _read_ada(path: Path) -> Checkpoint:
    """NVIDIA StyleGAN2-ADA snapshot, unpickled without running any of its code."""
    networks = convert_ada_snapshot(load_ada_pickle(path), str(path))
    generator = _build(
        Generator, networks.generator_config, networks.generator_state, str(path), own_kernels=True
    )
    discriminator = None
    if networks.discriminator_config is not None and networks.discriminator_state is not None:
        discriminator = _build(
            Discriminator, networks.discriminator_config, networks.discriminator_state,
            str(path), own_kernels=True,
        )  # fmt: skip
    kind = "StyleGAN2-ADA snapshot"
    if networks.generator_name != "G_ema":
        kind += " without G_ema (its training generator G)"
    return Checkpoint(generator, discriminator, networks.latent_avg, path, kind)


_READERS: dict[str, Callable[[Path], Checkpoint]] = {
    "torch": _read_torch,
    "safetensors": _read_safetensors,
    "ada": _read_ada,
}


def infer_generator_config(state: Mapping[str, Any], source: str = "checkpoint") -> GeneratorConfig:
    """Size, channels, mapping depth and style width of a common-layout generator state dict."""
    try:
        style_dim = int(state["style.1.weight"].shape[1])
        n_mlp = sum(1 for key in state if re.fullmatch(r"style\.\d+\.weight", key))
        n_blocks = sum(1 for key in state if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", key))
        channels = {4: int(state["input.input"].shape[1])}
        for block in range(n_blocks):
            channels[8 * 2**block] = int(state[f"convs.{2 * block}.conv.weight"].shape[1])
    except KeyError as error:
        raise GANliftError(
            f"{source} is not a StyleGAN2 generator in the common layout (missing {error})."
        ) from error
    except (AttributeError, IndexError, TypeError) as error:  # a name or a weight of the wrong kind
        raise GANliftError(
            f"{source} is not a StyleGAN2 generator in the common layout (a key or weight of "
            "another kind)."
        ) from error
    return GeneratorConfig(
        size=4 * 2**n_blocks, channels=channels, style_dim=style_dim, n_mlp=n_mlp
    )


def infer_discriminator_config(
    state: Mapping[str, Any], source: str = "checkpoint"
) -> DiscriminatorConfig:
    """Size, channels and minibatch-stddev width of a common-layout discriminator state dict."""
    try:
        n_blocks = sum(1 for key in state if re.fullmatch(r"convs\.\d+\.skip\.1\.weight", key))
        size = 4 * 2**n_blocks
        channels = {size: int(state["convs.0.0.weight"].shape[0])}
        for block in range(1, n_blocks + 1):
            channels[size >> block] = int(state[f"convs.{block}.conv2.1.weight"].shape[0])
        mbstd_channels = int(state["final_conv.0.weight"].shape[1]) - channels[4]
    except KeyError as error:
        raise GANliftError(
            f"{source} is not a StyleGAN2 discriminator in the common layout (missing {error})."
        ) from error
    except (AttributeError, IndexError, TypeError) as error:
        raise GANliftError(
            f"{source} is not a StyleGAN2 discriminator in the common layout (a key or weight "
            "of another kind)."
        ) from error
    return DiscriminatorConfig(size=size, channels=channels, mbstd_channels=mbstd_channels)


def save_checkpoint(
    path: str | os.PathLike[str],
    generator: Generator,
    *,
    discriminator: Discriminator | None = None,
    latent_avg: torch.Tensor | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write our format: `<path>.safetensors` plus `<path>.json`, each replaced atomically."""
    path = safetensors_path(path_first(path, "save_checkpoint"))
    tensors = {f"generator.{key}": value for key, value in generator.state_dict().items()}
    if discriminator is not None:
        tensors |= {
            f"discriminator.{key}": value for key, value in discriminator.state_dict().items()
        }
    if latent_avg is not None:
        tensors["latent_avg"] = latent_avg.reshape(-1)
    tensors = {key: value.detach().cpu().contiguous() for key, value in tensors.items()}
    config = ModelConfig(
        generator=generator.config,
        discriminator=None if discriminator is None else discriminator.config,
        extra=dict(extra or {}),
    )
    with atomic_path(path) as temporary:
        safetensors.torch.save_file(tensors, temporary)
    with atomic_path(path.with_suffix(".json")) as temporary:
        temporary.write_text(config.to_json())
    return path


def save_pt_checkpoint(
    path: str | os.PathLike[str],
    generator_ema: Generator,
    *,
    discriminator: Discriminator | None = None,
    generator: Generator | None = None,
    latent_avg: torch.Tensor | None = None,
    optimizers: Mapping[str, Mapping[str, Any]] | None = None,
    extra_args: Mapping[str, Any] | None = None,
) -> Path:
    """Write the common `.pt` layout (`g_ema`, `d`, `g`, `latent_avg`, `*_optim`, `args`).

    Other StyleGAN2 tools (and GAN2Shape) read these; `args` records size, latent width,
    mapping depth, the channel multiplier when the channel table is a standard one, and
    `conv_clamp` and the discriminator's minibatch-stddev group size when they differ from the
    layout's defaults (it has no other place for them; other tools ignore them). The layout's
    readers take the mapping's learning-rate multiplier to be `PT_LR_MLP`, so a generator with
    another one is written with its mapping parameters rescaled to draw the same images.
    """
    path = path_first(path, "save_pt_checkpoint")
    config = generator_ema.config
    args = {"size": config.size, "latent": config.style_dim, "n_mlp": config.n_mlp}
    multiplier = standard_multiplier(config.size, config.channels)
    if multiplier is not None:
        args["channel_multiplier"] = multiplier
    if config.conv_clamp is not None:
        args["conv_clamp"] = config.conv_clamp
    group_size = None if discriminator is None else discriminator.config.mbstd_group_size
    if discriminator is not None and group_size != DiscriminatorConfig.mbstd_group_size:
        args["mbstd_group_size"] = group_size
    args |= dict(extra_args or {})
    data: dict[str, Any] = {"g_ema": _pt_state(generator_ema), "args": argparse.Namespace(**args)}
    if discriminator is not None:
        data["d"] = cpu_state(discriminator)
    if generator is not None:
        data["g"] = _pt_state(generator)
    if latent_avg is not None:
        data["latent_avg"] = latent_avg.detach().cpu().reshape(-1)
    data |= dict(optimizers or {})
    path = Path(path)
    save_torch(data, path)
    return path


PT_LR_MLP = 0.01
"""The mapping's learning-rate multiplier the common `.pt` layout's readers assume (the
layout has no field for it): StyleGAN2's."""


def _pt_state(generator: Generator) -> dict[str, torch.Tensor]:
    """`generator`'s state for the `.pt` layout (see `_in_pt_scale`)."""
    return _in_pt_scale(cpu_state(generator), generator.config.lr_mlp)


def _in_pt_scale(state: Mapping[str, torch.Tensor], lr_mlp: float) -> dict[str, torch.Tensor]:
    """A generator's `state` with its mapping parameters as the `.pt` layout stores them: a
    mapping parameter is stored divided by its learning-rate multiplier `lr_mlp` (see
    `EqualLinear`), so one of another multiplier is scaled to the value that draws the same w
    under `PT_LR_MLP`."""
    scale = lr_mlp / PT_LR_MLP
    if scale == 1.0:
        return dict(state)
    return {
        key: value * scale if _is_mapping_parameter(key) else value for key, value in state.items()
    }


def _is_mapping_parameter(key: str) -> bool:
    """Whether a generator state key names a mapping layer's weight or bias (`style.N.*`)."""
    return key.startswith("style.") and key.endswith((".weight", ".bias"))


def lowered_precision(generator: Generator) -> bool:
    """Whether any of the generator's weights are not float32 (a bf16 or half copy)."""
    return any(parameter.dtype != torch.float32 for parameter in generator.parameters())


def check_float32(generator: Generator, user: str) -> None:
    """Refuse a generator whose weights are not float32 for `user` (a function that trains on
    or draws from it in float32, using bf16 autocast itself where it can)."""
    if lowered_precision(generator):
        dtype = next(p.dtype for p in generator.parameters() if p.dtype != torch.float32)
        raise GANliftError(
            f"{user} takes a float32 generator, got {dtype} weights; pass generator.float() "
            "(it uses bfloat16 itself where the device supports it)."
        )


def generator_fingerprint(generator: Generator) -> str:
    """A short SHA-256 of the generator's weights in float32, its mapping's as the `.pt` layout
    stores them (so a generator and its `.pt` copy agree): models built on one GAN (such as a
    StyleGAN-R mapping network) record it to refuse another GAN that shares its shapes. It is
    kept on the generator until a weight changes (in place, through `.data`, or replaced), as
    the app's GAN-view slider asks for it on every move."""
    state = generator.state_dict()
    probe = _weights_probe(state)
    cached = getattr(generator, "_ganlift_fingerprint", None)
    if cached is not None and cached[0] == probe:
        return cached[1]
    digest = hashlib.sha256()
    for key, value in sorted(_in_pt_scale(state, generator.config.lr_mlp).items()):
        digest.update(key.encode())
        digest.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    fingerprint = digest.hexdigest()[:16]
    generator._ganlift_fingerprint = (probe, fingerprint)
    return fingerprint


def _weights_probe(state: Mapping[str, torch.Tensor]) -> tuple:
    """Where each weight lives, its version and its sum: what tells, far faster than hashing,
    that no weight changed since the last hash. The sum catches edits through `.data` (an EMA
    update such as the StyleGAN2 port's `accumulate`), which leave the version as it was."""
    with torch.no_grad():
        sums = torch.stack([value.sum(dtype=torch.float64) for value in state.values()])
    places = [(value.data_ptr(), value._version) for value in state.values()]
    return tuple(places), tuple(sums.tolist())  # one read back from the device


def _with_prefix(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under `prefix`, with the prefix removed."""
    return {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}


def _with_own_kernels(
    module: torch.nn.Module, state: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """`state` completed with the module's fixed blur kernels (formats that do not store them)."""
    kernels = {key: value for key, value in module.state_dict().items() if key.endswith("kernel")}
    return kernels | dict(state)


def _build(
    cls: type[Generator] | type[Discriminator],
    config: Any,
    state: Mapping[str, Any],
    source: str,
    *,
    own_kernels: bool = False,
) -> Any:
    """Construct `cls(config)` and load `state` into it strictly (with the module's own blur
    kernels where the format does not store them), once `_check_layout` has passed;
    `load_weights` refuses weights that are not finite, naming the network (both have
    `convs.*` tensors)."""
    _check_layout(cls, config, state, source, own_kernels)
    with global_rng_kept():  # the random initial weights are replaced by the state's
        module = cls(config)
    network = _network_name(source, cls)
    load_weights(
        module, _with_own_kernels(module, state) if own_kernels else state, network, _RESTORE
    )
    return module


_RESTORE = "restore the checkpoint from its source or retrain it"


def _network_name(source: str, cls: type[Generator] | type[Discriminator]) -> str:
    """How refusals name one network of the checkpoint `source` ("x.pt's discriminator")."""
    return f"{source}'s {cls.__name__.lower()}"


def _check_layout(
    cls: type[Generator] | type[Discriminator],
    config: Any,
    state: Mapping[str, Any],
    source: str,
    own_kernels: bool,
) -> None:
    """Refuse `state` unless it holds every tensor `cls(config)` has, at its shape, each storing
    all its values, before a module of that size is allocated: a 5 kB file declaring 2048
    channels in tensors expanded from one value took 2.5 GB to refuse."""
    with torch.device("meta"):
        expected = {key: tuple(value.shape) for key, value in cls(config).state_dict().items()}
    problems = [
        f"{key} is {list(state[key].shape)}, not {list(shape)}"
        for key, shape in expected.items()
        if key in state and tuple(getattr(state[key], "shape", ())) != shape
    ]
    problems += [
        f"{key} is missing"
        for key in expected
        if key not in state and not (own_kernels and key.endswith("kernel"))
    ]
    problems += [f"{key} is not expected" for key in state if key not in expected]
    if problems:
        raise GANliftError(
            f"{source} does not match the {cls.__name__} architecture inferred from it: "
            f"{'; '.join(problems[:3])}{' (and more)' if len(problems) > 3 else ''}."
        )
    network = _network_name(source, cls)
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise GANliftError(
                f"{network} holds {key} as a {type(value).__name__}, not a tensor; it is not a "
                "StyleGAN2 checkpoint."
            )
        if not stores_every_value(value):
            raise GANliftError(
                f"{network} declares {key} as {list(value.shape)} but stores fewer values; a "
                "saved network stores every weight, so re-save it from the network."
            )
        if (problem := float_weight_problem(key, value)) is not None:
            raise GANliftError(f"{network} {problem}; it is not a StyleGAN2 checkpoint.")


def _count_parameters(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def _format_channels(channels: Mapping[int, int]) -> str:
    return " ".join(f"{res}:{count}" for res, count in sorted(channels.items()))
