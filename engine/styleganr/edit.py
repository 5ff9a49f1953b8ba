"""The StyleGAN-R operations a user sees: draw samples as interpretable codes, move the camera,
swap shape / texture / background between samples, read a car photo as a sample, and lift a
car image to a textured mesh.

Every image is made by the GAN from W+ that the mapping network computes from the codes, with
the generator's stored noise, so the same codes always give the same image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from engine.brief import brief_repr
from engine.config import whole_number
from engine.errors import GANliftError
from engine.images import check_not_flat, checked_image, frame_object, to_uint8
from engine.limits import check_seed
from engine.mesh import TexturedMesh, fit_in_box
from engine.styleganr.encoding import encode_image, estimate_camera
from engine.styleganr.labelling import predict_views
from engine.styleganr.mapping import PARTS, StyleCodes
from engine.styleganr.model import StyleGANR
from engine.styleganr.view_codes import compose, sample_w
from engine.wording import type_phrase

_EXPORT_AXES = (1.0, -1.0, -1.0)
"""Object coordinates (y down, front -z) → engine.mesh's frame (y up, front +z)."""


@dataclass
class Sample:
    """Interpretable codes and the image the GAN makes from them."""

    __repr__ = brief_repr  # shapes and sizes, not every value

    codes: StyleCodes
    image: torch.Tensor
    """``[N, 3, H, W]``, the generator's own output: [-1, 1] overshot a little, as every
    StyleGAN2 draws (`engine.images.save_image` clamps)."""


@torch.no_grad()
def render_codes(model: StyleGANR, codes: StyleCodes) -> Sample:
    """The GAN's image of ``codes`` (through the mapping network)."""
    return Sample(codes=codes, image=model.generator.synthesis(model.mapping(codes)))


@torch.no_grad()
def sample(model: StyleGANR, count: int = 1, *, seed: int = 0, truncation: float = 0.7) -> Sample:
    """``count`` samples: GAN images under random labelled view codes, read back as codes by
    the inverse graphics network, then re-rendered through the mapping network."""
    if whole_number(count, "The number of samples") < 1:
        raise GANliftError(f"The number of samples must be at least 1, got {count}.")
    seed = check_seed(seed)
    content = sample_w(model.generator, count, seed=seed, truncation=truncation)
    rng = torch.Generator().manual_seed(seed)
    chosen = torch.randint(0, len(model.views.codes), (count,), generator=rng)
    wplus = compose(model.views.codes[chosen].to(model.device), content, model.generator.num_ws)
    images = model.generator.synthesis(wplus)
    cameras = model.views.labelled()[chosen].to(model.device)
    return render_codes(model, encode_image(model.inverse_graphics, images, cameras))


@torch.no_grad()
def encode_photo(model: StyleGANR, image: torch.Tensor) -> Sample:
    """A photo ``[1, 3, H, W]`` in [-1, 1] (any size; its whole width framed by `frame_object`
    and resized to the GAN's frame) as a sample: its camera estimated among the labelled view
    cameras and refined by the inverse graphics network (by colour, and by outline when the
    model has a segmenter), its codes read off as `encode_image` does, re-rendered. A picture
    of one flat colour is refused (`check_not_flat`)."""
    image = checked_image(image, "encode_photo")
    check_not_flat(image)
    framed = frame_object(image.to(model.device), model.generator.config.size)  # [1, 3, S, S]
    candidates = model.views.labelled().to(model.device)  # [V, 3]
    mask = None if model.segmenter is None else predict_views(model.segmenter, framed)[1]
    camera = estimate_camera(model.inverse_graphics, framed, candidates, mask=mask)  # [1, 3]
    return render_codes(model, encode_image(model.inverse_graphics, framed, camera))


ELEVATION_STEP, SCALE_STEP = 0.1, 0.01
"""The precision of a car camera's elevation (degrees) and scale, the Cars sliders' steps:
`camera_range` rounds outward to them, and `set_camera` takes a value within half a step of
the target's own as that camera kept."""


@dataclass(frozen=True)
class CameraRange:
    """The elevations (degrees) and scales a StyleGAN-R model was taught, as (lowest, highest)."""

    elevation: tuple[float, float]
    scale: tuple[float, float]


def camera_range(model: StyleGANR) -> CameraRange:
    """The span of the model's labelled cameras, rounded outward to `ELEVATION_STEP` and
    `SCALE_STEP`: the mapping network learnt the view codes of those cameras alone, and past
    them (default-car: elevation 40, scale 1.6) it drew blurs."""
    cameras = model.views.labelled()  # [V, 3]: azimuth, elevation, scale
    return CameraRange(
        elevation=_outward(cameras[:, 1], ELEVATION_STEP),
        scale=_outward(cameras[:, 2], SCALE_STEP),
    )


def _outward(values: torch.Tensor, step: float) -> tuple[float, float]:
    """(lowest, highest) of `values` rounded outward to multiples of `step` (float32's last
    digits aside: 1.2 is stored as 1.2000000477)."""
    low, high = (round(float(value) / step, 4) for value in (values.min(), values.max()))
    return round(math.floor(low) * step, 6), round(math.ceil(high) * step, 6)


def set_camera(
    model: StyleGANR, target: Sample, *, azimuth: float, elevation: float, scale: float = 1.0
) -> Sample:
    """``target`` seen from a new camera: azimuth° (0 = front, 90 = the car's left flank, its
    nose to the image's left), elevation°,
    scale (1 = the usual framing), the last two within `camera_range` or the target's own
    (a car read off a photo may sit just outside it, and moving only its azimuth must not
    move it into the range); shape, texture and background codes are kept."""
    _check_sample(target, "set_camera's target")
    refusal = GANliftError(
        f"The camera must be finite numbers, got azimuth {azimuth!r}, elevation {elevation!r}, "
        f"scale {scale!r}."
    )
    try:
        azimuth, elevation, scale = (float(value) for value in (azimuth, elevation, scale))
    except (TypeError, ValueError):
        raise refusal from None
    if not all(math.isfinite(value) for value in (azimuth, elevation, scale)):
        raise refusal
    if scale <= 0:
        raise GANliftError(f"The camera scale must be positive, got {scale}.")
    if not -90 <= elevation <= 90:
        raise GANliftError(f"The camera elevation must be in -90 to 90 degrees, got {elevation}.")
    taught, own = camera_range(model), target.codes.camera.detach().cpu()  # own: [N, 3]
    for name, value, (low, high), column, half_step in (
        ("elevation", elevation, taught.elevation, 1, ELEVATION_STEP / 2),
        ("scale", scale, taught.scale, 2, SCALE_STEP / 2),
    ):
        kept = bool(((own[:, column] - value).abs() <= half_step).all())  # as a slider rounds it
        unit = "°" if name == "elevation" else ""
        if not (low <= value <= high or kept):
            raise GANliftError(
                f"This model draws cars at {name}s from {low:g}{unit} to {high:g}{unit} (its "
                f"labelled cameras'; beyond them it draws no car), got {value:g}{unit}."
            )
    count = len(target.codes.camera)
    angles = [[float(azimuth), float(elevation), float(scale)]]  # numpy scalars too
    camera = torch.tensor(angles, device=model.device).expand(count, 3)
    return render_codes(model, replace(target.codes, camera=camera))


def swap(model: StyleGANR, target: Sample, source: Sample, *, part: str) -> Sample:
    """``target`` with the ``part`` ("shape", "texture" or "background") of ``source``; the
    other parts and the camera stay the target's."""
    _check_sample(target, "swap's target")
    _check_sample(source, "swap's source")
    if part not in PARTS:
        raise GANliftError(f"Unknown part '{part}'; use one of {', '.join(PARTS)}.")
    donor = source.codes.part(part)
    if len(donor) not in (1, len(target.codes.camera)):
        raise GANliftError(
            f"The source has {len(donor)} samples; give one or as many as the target "
            f"({len(target.codes.camera)})."
        )
    donor = donor.expand_as(target.codes.part(part))
    return render_codes(model, replace(target.codes, **{part: donor}))


def _check_sample(value: object, what: str) -> None:
    """Refuse anything but a `Sample` as `what` (a picture passed for one failed on `.codes`)."""
    if not isinstance(value, Sample):
        raise GANliftError(
            f"{what} is a Sample (from sample or encode_photo), got {type_phrase(value)}; a "
            "Sample's picture is its .image."
        )


@torch.no_grad()
def car_to_mesh(model: StyleGANR, image: torch.Tensor) -> TexturedMesh:
    """A textured mesh of the car in ``image [1, 3, H, W]`` (any size; framed as `encode_photo`
    frames photos, and refused when of one flat colour), in engine.mesh's frame (y up, front
    +z, centred, the longest side 1), for `engine.mesh.save_mesh`."""
    image = checked_image(image, "car_to_mesh")
    check_not_flat(image)
    network = model.inverse_graphics
    prediction = network(frame_object(image.to(model.device), model.generator.config.size))
    axes = prediction.vertices.new_tensor(_EXPORT_AXES)
    return TexturedMesh(
        vertices=fit_in_box(prediction.vertices[0] * axes).cpu(),
        faces=network.template.faces.cpu(),
        uv=network.template.uv.cpu(),
        uv_faces=network.template.uv_faces.cpu(),
        texture=to_uint8(prediction.texture[0]),
    )
