"""New views of a recovered object: `render_view` (pure rendering, for every slider move) and
`project_view` (the rendering projected back onto the GAN manifold by the offset encoder).

Angles are in degrees about the canonical frame (azimuth = yaw about the vertical axis,
elevation = pitch), rotating about the point (0, 0, 1) as GAN2Shape does; (0, 0) is the
canonical view, so it reproduces the canonical image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from engine.device import frozen_copy, module_device, same_device
from engine.errors import GANliftError
from engine.gan2shape.frames import centre_crop
from engine.gan2shape.parametrisation import compose_image
from engine.gan2shape.photogeometry import render_in_views
from engine.gan2shape.recover import Recovery, latent_projector
from engine.gan2shape.state import check_same_generator
from engine.render import shade
from engine.stylegan2 import Generator
from engine.wording import type_phrase


def render_view(
    recovery: Recovery,
    *,
    azimuth: float,
    elevation: float,
    light: torch.Tensor | Sequence[float] | None = None,
) -> torch.Tensor:
    """The recovered object `[1, 3, S, S]` in [-1, 1] seen from (`azimuth`, `elevation`)
    degrees; with `light` (ambient, diffuse, dx, dy: a tensor `[4]` or `[1, 4]`, an array or
    a sequence) it is relit, else it keeps the recovered shading. Pixels the turned surface
    leaves uncovered are 0."""
    _check_recovery(recovery, "render_view")
    image, covered = _render(recovery, azimuth, elevation, light)
    return image * covered


def _check_recovery(recovery: object, what: str) -> None:
    """Refuse anything but a `Recovery` given to `what` (a run or a model failed deep inside)."""
    if not isinstance(recovery, Recovery):
        raise GANliftError(
            f"{what} takes a Recovery (a run's .recovery, or what recover returns), got "
            f"{type_phrase(recovery)}."
        )


def _render(
    recovery: Recovery,
    azimuth: float,
    elevation: float,
    light: torch.Tensor | Sequence[float] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The canonical image warped into the view `[1, 3, S, S]` as GAN2Shape warps it (pixels
    off the surface sample whatever their far-depth ray hits), and the coverage `[1, 1, S, S]`."""
    azimuth, elevation = check_view_angles(azimuth, elevation)
    canonical = recovery.canonical_image  # [1, 3, S, S]
    if light is not None:
        light = _checked_light(light).to(recovery.normal)
        canonical = compose_image(recovery.albedo, shade(recovery.normal, light))
    view = recovery.depth.new_tensor(
        [[math.radians(elevation), math.radians(azimuth), 0.0, 0.0, 0.0, 0.0]]
    )  # [1, 6]
    with torch.no_grad():
        return render_in_views(canonical, recovery.depth, view)


def project_view(
    recovery: Recovery,
    G: Generator,
    *,
    azimuth: float,
    elevation: float,
    light: torch.Tensor | Sequence[float] | None = None,
) -> torch.Tensor:
    """`render_view`'s image projected onto `G`'s manifold by the recovery's trained offset
    encoder: the generator's image in [-1, 1] at its own resolution, cropped as the preset
    crops the input (`[1, 3, K, K]`, K = crop x size, on the recovery's device; a `G`
    elsewhere runs as a copy there). The encoder sees the view unmasked, as step 2's pseudo
    samples are drawn."""
    _check_recovery(recovery, "project_view")
    if not isinstance(G, Generator):
        generator = getattr(G, "generator", None)
        fix = "its .generator" if isinstance(generator, Generator) else "a StyleGAN2 Generator"
        raise GANliftError(f"project_view takes the generator, got {type_phrase(G)}; pass {fix}.")
    check_same_generator(recovery.state, G)
    G = generator_beside(recovery, G)
    rendered, _ = _render(recovery, azimuth, elevation, light)
    projector = latent_projector(G, recovery.state.preset, recovery.state.target)
    with torch.no_grad():
        offset = projector.offsets(recovery.state.networks.offset_net, rendered)
        return centre_crop(projector.generate(projector.latents(offset)), projector.crop)


def generator_beside(recovery: Recovery, G: Generator) -> Generator:
    """`G` where the recovery's networks are: itself, or a frozen copy there (made once by a
    caller that projects several views)."""
    device = module_device(recovery.state.networks)
    return G if same_device(module_device(G), device) else frozen_copy(G, device)


def check_view_angles(
    azimuth: object, elevation: object, what: str = "A view"
) -> tuple[float, float]:
    """(azimuth, elevation) as floats; angles that are no finite degrees (NaN drew a NaN
    picture) and turns past ±90° either way (they look at the surface's missing far side: an
    azimuth of 180 drew the front again, mirrored) are refused, naming `what`. An azimuth
    may also be written from 0 to 360 (330 for -30)."""
    try:
        angles = float(azimuth), float(elevation)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        angles = math.nan, math.nan
    if not all(map(math.isfinite, angles)):
        raise GANliftError(
            f"{what} takes azimuth and elevation in finite degrees, got {azimuth!r} and "
            f"{elevation!r}."
        )
    if abs(angles[1]) > 90:
        raise GANliftError(
            f"{what} has elevation {angles[1]:g}°; use -90 to 90 (a recovered surface has no "
            "far side to look down on)."
        )
    if abs((angles[0] + 180) % 360 - 180) > 90:
        raise GANliftError(
            f"{what} has azimuth {angles[0]:g}°, which looks at the back; use -90 to 90 (or "
            "270 to 360): a recovered surface has no back to show."
        )
    return angles


def _checked_light(light: object) -> torch.Tensor:
    """`light` (a tensor, array or sequence of ambient, diffuse, dx, dy) as `[1, 4]`, or a
    GANliftError naming the four values."""
    try:
        values = torch.as_tensor(light, dtype=torch.float32).reshape(1, -1)  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError):
        values = torch.full((1, 1), math.nan)
    if values.shape[1] != 4 or not torch.isfinite(values).all():
        raise GANliftError(
            f"A light is 4 finite numbers (ambient, diffuse, dx, dy), got {light!r}."
        )
    return values
