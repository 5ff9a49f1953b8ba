"""Per-category GAN2Shape settings as typed, JSON-serialisable presets.

`face`, `cat`, `car` and `church` follow the release's configs (image sizes, crops, stage
lengths, symmetry flags, mask use, relative offsets) so that they work with its StyleGAN2
checkpoints (CelebA 128 px, cat 256, church 256, car 512). The release samples pseudo views
from Gaussians fitted offline to its view net's predictions, which its checkpoints archive
holds (`view_light/*_mvn.pth`); the presets carry our estimates, and `engine.gan2shape.release`
puts the release's own in their place (or fit your own with
`engine.gan2shape.sampling.fit_gaussian`). `default-face` and `default-car` fit GANlift's own
64×64 models on a CPU: narrower networks and shorter schedules, and for `default-face` a depth
range and prior scaled to its synthetic heads.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.config import config_from_dict, read_json_file
from engine.errors import GANliftError
from engine.gan2shape.networks import NetworkConfig
from engine.gan2shape.parametrisation import CameraRanges
from engine.gan2shape.prior import (
    MAX_PRIOR_RELIEF,
    PRIOR_BOX_PRESETS,
    PriorBoxPreset,
    ellipsoid_prior,
)


@dataclass(frozen=True)
class StepLengths:
    """Iterations of the three steps within one stage."""

    step1: int
    """Reconstruct the input image (train the albedo net)."""
    step2: int
    """Project pseudo samples onto the GAN manifold (train the latent-offset encoder)."""
    step3: int
    """Train depth / albedo / view / light on the input and the projected samples."""

    def __post_init__(self) -> None:
        for key in ("step1", "step2", "step3"):
            if getattr(self, key) < 0:
                raise GANliftError(
                    f"Step lengths must be zero or more; fix the preset's {key}, got "
                    f"{getattr(self, key)}."
                )

    def of(self, step: int) -> int:
        """Iterations of step 1, 2 or 3."""
        return (self.step1, self.step2, self.step3)[step - 1]


@dataclass(frozen=True)
class PseudoLightRanges:
    """How step 2 relights the current shape: direction (dx, dy, 1) with dx, dy uniform; the
    diffuse term raised by r ~ U(diffuse), the ambient term changed by ambient_per_diffuse · r."""

    dx: tuple[float, float] = (-1.0, 1.0)
    dy: tuple[float, float] = (-0.2, 0.8)
    diffuse: tuple[float, float] = (-0.1, 0.6)
    ambient_per_diffuse: float = -0.6


@dataclass(frozen=True)
class Gan2ShapePreset:
    """Everything `recover` needs to know about a category and its generator."""

    name: str
    gan_size: int
    """Image size of the generator this preset is meant for."""
    networks: NetworkConfig = field(default_factory=NetworkConfig)
    camera: CameraRanges = field(default_factory=CameraRanges)
    crop: float | None = None
    """Fraction of the GAN frame's side kept by a centre crop before resizing to the networks'
    size (the release crops cat images to 170 of 256 px), or None."""
    num_stages: int = 4
    first_stage: StepLengths = StepLengths(600, 600, 400)
    later_stages: StepLengths = StepLengths(200, 500, 300)
    flip_step1: tuple[bool, ...] = (False, False, False, False)
    """Per stage: train step 1 with the horizontally flipped shape as well (symmetry)."""
    flip_step3: tuple[bool, ...] = (True, False, False, False)
    """Per stage: train step 3 with the horizontally flipped shape as well (symmetry)."""
    prior_steps: int = 1000
    """Iterations fitting the depth net to the ellipsoid prior before the first stage."""
    prior_box: PriorBoxPreset = "none"
    """Bounding-box adjustment of the prior (see `engine.gan2shape.prior`)."""
    prior_near: float = 0.91
    prior_far: float = 1.02
    batch_size: int = 16
    """Pseudo / projected samples per iteration in steps 2 and 3."""
    collect_batches: int = 100
    """Batches of projected samples cached at the end of step 2 for step 3."""
    lr: float = 1e-4
    weight_decay: float = 5e-4
    perceptual_weight: float = 0.5
    smooth_weight: float = 0.01
    offset_weight: float = 0.01
    """Weight of the mean squared latent offset in step 2."""
    projection_steps: int = 0
    """Adam steps refining the latent offsets of every cached batch of projected samples
    (0: the encoder's projections, as the release)."""
    projection_lr: float = 0.05
    """Learning rate of that refinement."""
    discriminator_blocks: int = 4
    """Discriminator blocks whose features step 2 compares."""
    use_mask: bool = False
    """Restrict the losses on pseudo / projected samples to the object mask."""
    mask_input: bool = False
    """Restrict the input's reconstruction loss (step 1, and its term in step 3) to the object
    mask too. Not in the release: for objects that turn in front of a backdrop that stays put
    (GANlift's synthetic worlds), whose backdrop GAN2Shape's rigid frame would turn with them."""
    relative_offset: bool = True
    """Offsets are encoder(image) − encoder(GAN reconstruction of the input)."""
    offset_layers: int = 3
    """Trailing modules of the generator's mapping net (`G.style`) the offset passes through
    (the release's F1_d = 2 runs the last three linear layers)."""
    view_mean: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    """Mean raw view: added to the view net's output and centre of the pseudo views."""
    view_cov: tuple[tuple[float, ...], ...] = (
        (0.01, 0.0, 0.0, 0.0, 0.0, 0.0),
        (0.0, 0.0625, 0.0, 0.0, 0.0, 0.0),
        (0.0, 0.0, 0.0025, 0.0, 0.0, 0.0),
        (0.0, 0.0, 0.0, 0.01, 0.0, 0.0),
        (0.0, 0.0, 0.0, 0.0, 0.01, 0.0),
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    )
    """Covariance of the raw pseudo views (our estimate: σ = 6°, 15°, 3°, 0.01, 0.01, 0)."""
    view_yaw_scale: float = 1.2
    """Pseudo-view yaw multiplier (the release enlarges face and cat yaws by 1.2)."""
    light_mean: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    """Mean raw light, added to the light net's output."""
    pseudo_light: PseudoLightRanges = PseudoLightRanges()
    inversion_steps: int = 500
    """Steps of `engine.inversion.project` when `recover` is given no latent."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise GANliftError("A preset needs a name; set its name to the category it is for.")
        if self.gan_size < 4 or self.gan_size & (self.gan_size - 1):
            raise GANliftError(
                f"Preset '{self.name}' gan_size must be a generator's image side (a power of "
                f"two from 4), got {self.gan_size}."
            )
        for key, bound, strict in _LOWER_BOUNDS:
            value = getattr(self, key)
            if value < bound or (strict and value == bound):
                relation = ">" if strict else ">="
                raise GANliftError(
                    f"Preset '{self.name}' needs {key} {relation} {bound:g}, got {value}."
                )
        for flags, label in ((self.flip_step1, "flip_step1"), (self.flip_step3, "flip_step3")):
            if len(flags) != self.num_stages:
                raise GANliftError(
                    f"Preset '{self.name}' has {len(flags)} {label} flags for "
                    f"{self.num_stages} stages; give one flag per stage."
                )
        if self.prior_box not in PRIOR_BOX_PRESETS:
            raise GANliftError(
                f"Preset '{self.name}' has prior_box '{self.prior_box}'; "
                f"use one of {', '.join(PRIOR_BOX_PRESETS)}."
            )
        if self.crop is not None and not 0 < self.crop <= 1:
            raise GANliftError(f"Preset '{self.name}' crop must be in (0, 1], got {self.crop}.")
        if not self.camera.rotation_degrees > 0:
            raise GANliftError(
                f"Preset '{self.name}' needs camera.rotation_degrees > 0, got "
                f"{self.camera.rotation_degrees}."
            )
        if not 0 < self.camera.min_depth < self.camera.max_depth:
            raise GANliftError(
                f"Preset '{self.name}' camera needs 0 < min_depth < max_depth, got "
                f"{self.camera.min_depth} and {self.camera.max_depth}."
            )
        if not 0 < self.prior_far - self.prior_near <= MAX_PRIOR_RELIEF:
            raise GANliftError(
                f"Preset '{self.name}' needs prior_near below prior_far by at most "
                f"{MAX_PRIOR_RELIEF:g} (the prior cap's depth), got {self.prior_near} and "
                f"{self.prior_far}."
            )
        if len(self.view_mean) != 6 or len(self.light_mean) != 4 or not _covariance(self.view_cov):
            raise GANliftError(
                f"Preset '{self.name}' needs a 6-value view_mean, a view_cov of 6 rows of 6 "
                "values that is a covariance (symmetric, no negative variance along any axis) "
                "and a 4-value light_mean."
            )

    def prior(self, mask: torch.Tensor) -> torch.Tensor:
        """The ellipsoid prior `[N, H, W]` this preset starts from, for object masks `[N, H, W]`."""
        return ellipsoid_prior(
            mask, preset=self.prior_box, near=self.prior_near, far=self.prior_far
        )

    def stage_lengths(self, stage: int) -> StepLengths:
        """Step lengths of stage `stage` (0-based)."""
        return self.first_stage if stage == 0 else self.later_stages

    @property
    def frames_faces(self) -> bool:
        """Whether photos are cropped around their largest face: the presets with the face
        prior are those of faces."""
        return self.prior_box == "face"

    def to_json(self) -> str:
        """JSON text of the preset (nested dataclasses become objects)."""
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str, *, source: str = "preset") -> Gan2ShapePreset:
        """Parse JSON written by `to_json`: unknown keys, bad values and missing keys that have
        no default raise a GANliftError; other keys left out take the class's defaults."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise GANliftError(
                f"The {source} is not valid JSON ({error}); fix the file."
            ) from error
        return config_from_dict(cls, data, source)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> Gan2ShapePreset:
        """Read a preset JSON file; a missing, unreadable or binary file is one sentence."""
        path = Path(path).expanduser()
        data = read_json_file(path, "Preset file")
        try:
            return config_from_dict(cls, data, "preset")
        except GANliftError as error:  # its checks name its keys or its name, not the file
            raise GANliftError(f"In the preset file {path}: {error}") from error

    def replace(self, **changes: Any) -> Gan2ShapePreset:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


_LOWER_BOUNDS = (
    ("num_stages", 1, False),
    ("batch_size", 1, False),
    ("collect_batches", 1, False),
    ("inversion_steps", 1, False),
    ("prior_steps", 0, False),
    ("projection_steps", 0, False),
    ("discriminator_blocks", 0, False),
    ("lr", 0, True),
    ("projection_lr", 0, True),
    ("weight_decay", 0, False),
    ("perceptual_weight", 0, False),
    ("smooth_weight", 0, False),
    ("offset_weight", 0, False),
    ("view_yaw_scale", 0, False),
)
"""(key, bound, strictly above) of a preset's counts, rates and weights."""


def _covariance(rows: tuple[tuple[float, ...], ...], size: int = 6) -> bool:
    """Whether `rows` is a `size`×`size` covariance: symmetric and positive semi-definite (up
    to rounding, as a covariance fitted to samples is)."""
    if len(rows) != size or any(len(row) != size for row in rows):
        return False
    matrix = torch.tensor(rows, dtype=torch.float64)
    if not torch.allclose(matrix, matrix.T, rtol=1e-6, atol=1e-12):
        return False
    scale = matrix.abs().max().item()
    return bool(torch.linalg.eigvalsh(matrix).min() >= -1e-9 * max(scale, 1e-12))


_FACE = Gan2ShapePreset(
    name="face", gan_size=128, prior_box="face", networks=NetworkConfig(128, 32, 8)
)
_CAR = Gan2ShapePreset(
    name="car",
    gan_size=512,
    networks=NetworkConfig(128, 32, 8),
    first_stage=StepLengths(700, 700, 600),
    later_stages=StepLengths(200, 500, 400),
    flip_step3=(False, False, False, False),
    prior_box="car",
    batch_size=8,
    use_mask=True,
    relative_offset=False,
    view_yaw_scale=1.0,
)
DEFAULT_SMOOTH_WEIGHT = 0.5
"""Depth / shading smoothness of the default models' presets. At the release's 0.01, joint
pretraining on default-face grew period-4 stripes in the unconstrained background depth (the
decoder's upsampling pattern): measured, the pretrained depth's mean |x-difference| was 0.39
against 0.10 in y. A real face's second differences are ~1e-3, so 0.5 barely touches it."""
_DEFAULT_NETWORKS = NetworkConfig(64, 16, 4, bottleneck=128, offset_width=16)
DEFAULT_FACE_CAMERA = CameraRanges(min_depth=0.968, max_depth=1.032)
"""default-face's canonical depth range. The release's [0.9, 1.1] is for faces that fill a
CelebA crop; GANlift's synthetic heads fill about 60 % of the frame. Shading alone does not fix
the relief (a deeper surface under a weaker light shades alike), and the view net reads these
faces as nearly frontal, so the range sets it: networks jointly pretrained (no warm-up) with
[0.9, 1.1] drew heads 3.2 times as deep as the truth (release prior); with [0.94, 1.06] 1.70,
[0.95, 1.05] 1.09, [0.955, 1.045] 1.01 and [0.96, 1.04] 0.91 times (the prior cap's centre
0.96, 0.96, 0.9625 and 0.965; 64 training renders, seeds outside the benchmark's). The shipped
recipe's autoencoding warm-up deepens the heads (1.34 times on 24 test renders with [0.955,
1.045]), so it pairs with [0.968, 1.032] (0.88 times)."""
DEFAULT_FACE_PRIOR_NEAR = 0.9733
"""Centre depth of default-face's prior cap (rim 1.02), just inside the range's near end (as far
inside, relative to the range, as 0.9625 was in [0.955, 1.045]). The release's 0.91 gives a
face that fills a CelebA crop 0.11 of relief; on 64 training renders, the full-frame cap that
joint pretraining fits is 1.7 times as deep as the heads with 0.91 and 0.9 times with 0.96."""
DEFAULT_CAR_CAMERA = CameraRanges(min_depth=0.97, max_depth=1.03)
"""default-car's canonical depth range, chosen as default-face's was: networks jointly pretrained
with the release's [0.9, 1.1] drew cars 2.08 times as deep as the truth; with [0.94, 1.06] 1.82,
[0.95, 1.05] 1.44, [0.96, 1.04] 1.22 and [0.97, 1.03] 0.92 times (the prior cap's centre 0.95,
0.96, 0.965 and 0.975; 64 training renders, seeds outside the benchmark's). Fast mode on 12 test
cars went from SIDE 3.03 / MAD 55.0 to 1.80 / 39.4."""
DEFAULT_CAR_PRIOR_NEAR = 0.975
"""Centre depth of default-car's prior cap (rim 1.02), just inside the range's near end."""


def _default_model_preset(release: Gan2ShapePreset, **changes: Any) -> Gan2ShapePreset:
    """A preset for one of GANlift's 64-pixel default GANs: the release's preset of its category
    with small networks, batches and inversion, 2 stages, step 1 without symmetry and the
    default smoothness; `changes` give the rest (schedule, step 3's symmetry, depth range)."""
    settings = dict(
        gan_size=64,
        networks=_DEFAULT_NETWORKS,
        num_stages=2,
        flip_step1=(False, False),
        prior_steps=200,
        batch_size=8,
        collect_batches=16,
        inversion_steps=200,
        smooth_weight=DEFAULT_SMOOTH_WEIGHT,
    )
    return release.replace(**settings | changes)


PRESETS: dict[str, Gan2ShapePreset] = {
    "face": _FACE,
    "cat": _FACE.replace(name="cat", gan_size=256, crop=170 / 256, prior_box="none"),
    "car": _CAR,
    "church": _CAR.replace(name="church", gan_size=256, prior_box="church", prior_far=1.0),
    "default-face": _default_model_preset(
        _FACE,
        name="default-face",
        first_stage=StepLengths(150, 150, 100),
        later_stages=StepLengths(50, 120, 80),
        flip_step3=(True, False),
        camera=DEFAULT_FACE_CAMERA,
        prior_near=DEFAULT_FACE_PRIOR_NEAR,
    ),
    "default-car": _default_model_preset(
        _CAR,
        name="default-car",
        first_stage=StepLengths(150, 150, 120),
        later_stages=StepLengths(50, 120, 100),
        flip_step3=(False, False),
        camera=DEFAULT_CAR_CAMERA,
        prior_near=DEFAULT_CAR_PRIOR_NEAR,
    ),
}
"""The release's categories and GANlift's default models."""


PresetChoice = Gan2ShapePreset | str | os.PathLike
"""A preset, its name, or its JSON file's path (a `str` ending `.json` or naming a file, or any
path)."""


def get_preset(name: PresetChoice) -> Gan2ShapePreset:
    """The preset called `name`, or the one in the JSON file `name` (a path, a name ending
    ``.json``, or a file that exists); a preset is returned as it is."""
    if isinstance(name, Gan2ShapePreset):
        return name
    if isinstance(name, os.PathLike) or name.endswith(".json"):
        return Gan2ShapePreset.from_json_file(name)
    if name not in PRESETS and Path(name).is_file():  # a preset's name before a file's
        return Gan2ShapePreset.from_json_file(name)
    if name not in PRESETS:
        raise GANliftError(
            f"Unknown GAN2Shape preset '{name}' (no preset and no file has that name); use one "
            f"of {', '.join(PRESETS)} or the path of a preset JSON file."
        )
    return PRESETS[name]
