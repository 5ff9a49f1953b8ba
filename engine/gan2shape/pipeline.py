"""GAN2Shape end to end on one input: load a model with its preset, choose the quality mode,
and run (or resume) the recovery in an output folder.

Quality `full` runs the preset's whole schedule from the ellipsoid prior; `fast` starts from
the jointly pretrained networks (`engine.gan2shape.pretrain`) and refines them for a short
schedule (`fast_preset`). A run keeps its state in `<out>/state.pt` and what it is a run of in
`<out>/run.json`, so running the same input again continues it instead of starting over.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from engine.atomic import output_folder, write_json
from engine.brief import brief_repr
from engine.device import module_device, resolve_device
from engine.errors import GANliftError
from engine.gan2shape.inputs import PreparedInput, prepare_input
from engine.gan2shape.outputs import OUTPUT_NAMES
from engine.gan2shape.presets import (
    PRESETS,
    Gan2ShapePreset,
    PresetChoice,
    StepLengths,
    get_preset,
)
from engine.gan2shape.pretrain import sample_latents
from engine.gan2shape.pretrained_files import load_pretrained
from engine.gan2shape.recover import Recovery, check_generator, continue_recovery, recover
from engine.gan2shape.release import read_release
from engine.gan2shape.state import load_state
from engine.images import Box, to_uint8
from engine.inversion import GivenLatent, check_latent_fits, latent_parts
from engine.limits import check_seed
from engine.perceptual import PerceptualLoss
from engine.progress import ProgressFn, StopFn
from engine.stylegan2 import Discriminator, Generator, load_checkpoint, resolve_checkpoint_path
from engine.stylegan2.checkpoint import MODELS_DIR, generator_fingerprint, safetensors_path
from engine.wording import type_phrase

Quality = Literal["fast", "full"]
QUALITIES: tuple[Quality, ...] = ("fast", "full")
FAST_FRACTION = 0.15
"""Fast mode runs one stage with this fraction of the preset's first-stage step lengths."""
STATE_FILE = "state.pt"
RUN_FILE = "run.json"


@dataclass
class Gan2ShapeModel:
    """A StyleGAN2 loaded for GAN2Shape: its generator and discriminator and the preset."""

    __repr__ = brief_repr  # shapes and sizes, not every value

    generator: Generator
    discriminator: Discriminator
    preset: Gan2ShapePreset
    pretrained: Path
    """Where fast mode looks for the jointly pretrained networks."""
    start: dict[str, torch.Tensor] | None = None
    """Networks every run starts from instead of the prior fit, in both qualities (the
    release's face and cat runs start from its pretrained networks; see `read_release`)."""

    def prepare(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> PreparedInput:
        """`frame_input` for this model."""
        return frame_input(image, self.generator, self.preset, mask)


def frame_input(
    image: torch.Tensor,
    generator: Generator,
    preset: Gan2ShapePreset,
    mask: torch.Tensor | None = None,
) -> PreparedInput:
    """`prepare_input` as GAN2Shape on `generator` with `preset` needs it: `image [1, 3, H, W]`
    cropped to the generator's frame around its largest face (face presets) or its centre,
    with `mask` or, where the preset needs one, GrabCut's."""
    return prepare_input(
        image,
        size=generator.config.size,
        find_face=preset.frames_faces,
        needs_mask=preset.use_mask,
        mask=mask,
    )


def load_model(
    model: str | os.PathLike,
    *,
    preset: PresetChoice | None = None,
    device: torch.device | str = "cpu",
    release_dir: str | os.PathLike | None = None,
) -> Gan2ShapeModel:
    """Load a bundled model by name or path ("default-face": preset of the same name,
    pretrained networks `assets/models/default-face-gan2shape.safetensors`) or a checkpoint
    file (give `preset`; pretrained networks `<stem>-gan2shape.safetensors` beside it). With
    the GAN2Shape release's `checkpoints/` folder as `release_dir`, one of its presets takes
    its view and light statistics and, for faces and cats, starts from its networks."""
    path = resolve_checkpoint_path(model)
    checkpoint = load_checkpoint(path, device=device)  # a file that is none is told first
    bundled = path.resolve().parent == MODELS_DIR.resolve() and path.stem in PRESETS
    if preset is None:
        if not bundled:
            raise GANliftError(
                f"Checkpoint {path} needs a category; name its GAN2Shape preset "
                f"({', '.join(sorted(PRESETS))}) or a preset JSON file (--category or --preset; "
                "bench shape: --preset)."
            )
        preset = path.stem
    preset = get_preset(preset)
    check_generator(checkpoint.generator, preset)  # now, not after the input is framed
    if checkpoint.discriminator is None:
        raise GANliftError(
            f"Checkpoint {path} has no discriminator, which GAN2Shape needs for projection; "
            "use a checkpoint saved with its discriminator."
        )
    start = None
    if release_dir is not None:
        release = read_release(preset, release_dir, style_dim=checkpoint.generator.style_dim)
        preset, start = release.preset, release.start
    return Gan2ShapeModel(
        generator=checkpoint.generator,
        discriminator=checkpoint.discriminator,
        preset=preset,
        pretrained=pretrained_path(path),
        start=start,
    )


def pretrained_path(checkpoint: Path) -> Path:
    """Where fast mode looks for a checkpoint's jointly pretrained networks: beside it, as
    `<stem>-gan2shape.safetensors`."""
    return checkpoint.with_name(f"{checkpoint.stem}-gan2shape.safetensors")


def check_quality(quality: str) -> None:
    """A GANliftError naming the choices unless ``quality`` is one of `QUALITIES`."""
    if quality not in QUALITIES:
        raise GANliftError(f"Unknown quality '{quality}'; use fast or full.")


def quality_schedule(
    preset: Gan2ShapePreset,
    quality: Quality,
    pretrained: Path,
    generator: Generator | None = None,
    *,
    start: dict[str, torch.Tensor] | None = None,
) -> tuple[Gan2ShapePreset, dict[str, torch.Tensor] | None]:
    """The schedule and starting networks of a quality mode. From the `start` networks, when
    given: `full` is `preset`, `fast` is `fast_preset`. Otherwise `full` is `preset` from the
    ellipsoid prior, and `fast` is `fast_preset` refining the networks at `pretrained`, or, for
    a checkpoint nobody pretrained, `fast_preset` from a shortened prior fit (init None). Given
    the `generator`, networks pretrained on another one are refused."""
    check_quality(quality)
    if start is not None:
        return (preset if quality == "full" else fast_preset(preset)), start
    if quality == "full":
        return preset, None
    if not safetensors_path(pretrained).is_file():
        short = fast_preset(preset)
        return short.replace(prior_steps=math.ceil(FAST_FRACTION * preset.prior_steps)), None
    return fast_preset(preset), load_pretrained(pretrained, preset, generator)


def fast_preset(preset: Gan2ShapePreset) -> Gan2ShapePreset:
    """`preset` shortened for refining pretrained networks: one stage of `FAST_FRACTION` of the
    first stage's steps (symmetry flags of the first stage), and that fraction of the cached
    batches and of the inversion steps."""
    first = preset.first_stage
    lengths = (first.step1, first.step2, first.step3)
    return preset.replace(
        name=f"{preset.name} (fast)",
        num_stages=1,
        first_stage=StepLengths(*(math.ceil(FAST_FRACTION * length) for length in lengths)),
        flip_step1=preset.flip_step1[:1],
        flip_step3=preset.flip_step3[:1],
        collect_batches=max(1, math.ceil(FAST_FRACTION * preset.collect_batches)),
        inversion_steps=math.ceil(FAST_FRACTION * preset.inversion_steps),
    )


def sample_input(
    G: Generator, seed: int, *, truncation: float = 0.7
) -> tuple[PreparedInput, torch.Tensor]:
    """A GAN sample to lift instead of a photo: (its image, its w `[1, D]`); z is drawn from
    `seed` and pulled towards the mean w by `truncation`, so no inversion is needed."""
    seed = check_seed(seed)  # numpy's integers too; 2**32 would draw what 0 draws
    latent = sample_latents(G, 1, seed=seed, truncation=truncation)  # [1, D]
    with torch.no_grad():
        image = G.synthesis(latent).clamp(-1, 1)  # [1, 3, S, S]
    size = image.shape[-1]
    box, framing = Box(0, 0, size, size), f"GAN sample of seed {seed}"
    return PreparedInput(image, None, box, framing, photo=image), latent


@dataclass
class Reconstruction:
    """A finished (or stopped) run in an output folder."""

    __repr__ = brief_repr  # shapes and sizes, not every value

    recovery: Recovery
    resumed: bool
    """True when the run continued a state found in the folder."""
    out_dir: Path


def reconstruct(
    model: Gan2ShapeModel,
    prepared: PreparedInput,
    *,
    out_dir: str | os.PathLike,
    quality: Quality = "full",
    latent: GivenLatent | None = None,
    perceptual: PerceptualLoss | None = None,
    device: torch.device | str | None = None,
    bf16: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> Reconstruction:
    """Run GAN2Shape on `prepared` (with its known `latent`, else by inversion) in `out_dir`
    on `device` (default: the model's), or continue the run already there for the same input,
    model, quality and precision. A folder that holds a run of something else, or files of
    the outputs' names but no run, is refused rather than overwritten."""
    if not isinstance(prepared, PreparedInput):
        raise GANliftError(
            f"reconstruct takes the image as model.prepare(image) gives it, got "
            f"{type_phrase(prepared)}; call model.prepare first."
        )
    out_dir = Path(out_dir)
    state_path, run_path = out_dir / STATE_FILE, out_dir / RUN_FILE
    if latent is not None:  # before the run's folder is made (recover checks it too)
        check_latent_fits(latent, model.generator, prepared.image)
    what, how = _describe_run(model, prepared, quality, latent), _how_it_runs(model, quality, bf16)
    description = what | how
    G, D = model.generator, model.discriminator
    device = resolve_device(module_device(G) if device is None else device)
    common = {
        "device": device,  # resolved before the run's folder is made
        "perceptual": perceptual,
        "bf16": bf16,
        "checkpoint": state_path,
        "progress": progress,
        "should_stop": should_stop,
    }
    if state_path.is_file():
        _check_same_run(run_path, description, out_dir)
        state = load_state(state_path, device=device)
        return Reconstruction(continue_recovery(G, D, state, **common), True, out_dir)
    taken = [] if run_path.is_file() else sorted(OUTPUT_NAMES & set(_entries(out_dir)))
    if taken:
        raise GANliftError(
            f"{out_dir} holds {', '.join(taken)} but no GANlift run; the outputs would overwrite "
            "them, so choose another folder."
        )
    preset, init = quality_schedule(
        model.preset, quality, model.pretrained, model.generator, start=model.start
    )
    output_folder(out_dir)
    write_json(run_path, description)
    recovery = recover(
        G, D, prepared.image, preset=preset, mask=prepared.mask, latent=latent, init=init, **common
    )
    return Reconstruction(recovery, False, out_dir)


def _entries(folder: Path) -> list[str]:
    """The names in `folder` (none when it does not exist yet)."""
    return [entry.name for entry in folder.iterdir()] if folder.is_dir() else []


def _describe_run(
    model: Gan2ShapeModel, prepared: PreparedInput, quality: Quality, latent: GivenLatent | None
) -> dict:
    """What a run is of: the input's pixels (and mask), the generator's weights, the preset (by
    name and content), the quality, the release's networks it starts from, if any, and the
    given latent (and its noise maps), if any. (`_how_it_runs` adds what a continued run must
    also share.)"""
    check_quality(quality)
    digest = hashlib.sha256(to_uint8(prepared.image).tobytes())
    if prepared.mask is not None:
        digest.update(to_uint8(prepared.mask.expand(-1, 3, -1, -1) * 2 - 1).tobytes())
    return {
        "input_sha256": digest.hexdigest(),
        "preset": model.preset.name,
        "quality": quality,
        "generator": generator_fingerprint(model.generator),
        "preset_sha256": hashlib.sha256(model.preset.to_json().encode()).hexdigest(),
        "start_sha256": None if model.start is None else _sha256(*model.start.values()),
    } | _latent_digests(latent)


def _how_it_runs(model: Gan2ShapeModel, quality: Quality, bf16: bool) -> dict:
    """What a continued run must share beside what it is of: the precision and the SHA-256 of
    the pretrained networks' file fast mode starts from (none for full quality, for a release
    model, which starts from its own networks, or where the file is missing and fast mode
    will say so)."""
    path = safetensors_path(model.pretrained)
    if quality != "fast" or model.start is not None or not path.is_file():
        return {"bf16": bf16}
    return {"bf16": bf16, "pretrained_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _latent_digests(latent: GivenLatent | None) -> dict[str, str | None]:
    """SHA-256 of the given latent's float32 values and, under a key of its own (so runs
    recorded before noise maps were used still continue), of its noise maps'."""
    codes, noises = (None, []) if latent is None else latent_parts(latent)
    digests: dict[str, str | None] = {"latent_sha256": None if codes is None else _sha256(codes)}
    if noises:
        digests["noise_sha256"] = _sha256(*noises)
    return digests


def _sha256(*tensors: torch.Tensor) -> str:
    """SHA-256 of the tensors' float32 values, one after another."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_run_of(
    model: Gan2ShapeModel, prepared: PreparedInput, quality: Quality, out_dir: str | Path
) -> None:
    """Refuse `out_dir` unless the run it holds is `reconstruct`'s of this input, model and
    quality (with no given latent): what a finished folder must be to count as this image's.
    How it ran (`_how_it_runs`) is not judged: a finished run is not continued."""
    out_dir = Path(out_dir)
    _check_same_run(out_dir / RUN_FILE, _describe_run(model, prepared, quality, None), out_dir)


RUN_KEY_NAMES = {
    "input_sha256": "input (image or mask)",
    "preset": "preset",
    "preset_sha256": "preset setting",
    "quality": "quality",
    "generator": "generator",
    "start_sha256": "set of starting networks (--release-dir)",
    "latent_sha256": "latent (--latent)",
    "noise_sha256": "latent (--latent)",
    "bf16": "precision (--fp32)",
    "pretrained_sha256": "pretrained networks file",
}
"""How a refusal to continue names each key of run.json that differs."""


def _check_same_run(run_path: Path, description: dict, out_dir: Path) -> None:
    """Refuse to continue a state that belongs to another input, generator, preset, quality
    or latent (a run saved before a key was recorded is not judged by that key)."""
    try:
        saved = json.loads(run_path.read_text())
    except (OSError, ValueError):
        saved = None
    fix = "choose a new --out folder or delete that one to start again"
    if not isinstance(saved, dict):
        raise GANliftError(f"{out_dir} holds a run whose {run_path.name} cannot be read; {fix}.")
    differences = dict.fromkeys(
        RUN_KEY_NAMES.get(key, key)
        for key, value in description.items()
        if saved.get(key, value) != value
    )
    if differences:
        raise GANliftError(f"{out_dir} holds a run of another {', '.join(differences)}; {fix}.")
