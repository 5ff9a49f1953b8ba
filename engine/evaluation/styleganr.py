"""The measurements behind StyleGAN-R's goals (bench/styleganr.py prints them).

- Camera control: samples are moved to requested azimuths with `set_camera`, and the inverse
  graphics network reads the azimuth back off each generated image (the best of a dense ring
  of candidate cameras by colour and silhouette, refined by the network's own correction).
- Reading known cameras: both azimuth readers (the network and the view labeller) on held-out
  synthetic car renders, whose true cameras are known; a reader that fails here makes the
  camera-control figure meaningless, since that figure is read by the same network.
- Reprojection: the network's mesh, rendered in its refined camera, against the silhouette
  of the GAN image (from a segmenter: the view labeller stands in for the paper's Mask R-CNN).
- Hand-read view axes: both readers on GAN samples under view codes whose axis (azimuth
  modulo 180: end-on, three-quarter or side-on) a person read off a labelling sheet. The
  synthetic check above cannot see a reader fail on the GAN's own images; this one can. The
  axis is scored, not the azimuth, because at 64 pixels the front of a blurry GAN car often
  cannot be told from its back.
- Content spread: the multi-view data (every labelled view code × several contents) is only
  multi-view if the content codes change the car while the view code holds the view; the
  spread of its silhouettes and paint across contents, per view code, shows how far they do.
- Swaps: a texture swap keeps the target's silhouette and moves its colour towards the
  source; a shape swap moves the silhouette towards the source's (seen from the target's
  camera) and keeps the target's colour.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from engine.errors import GANliftError
from engine.stylegan2 import Generator
from engine.styleganr.camera import axis_difference, azimuth_difference, camera_from_view
from engine.styleganr.config_io import load_config
from engine.styleganr.edit import Sample, render_codes, set_camera, swap
from engine.styleganr.encoding import estimate_camera
from engine.styleganr.inverse_graphics import InverseGraphicsNet, refine_camera, render_prediction
from engine.styleganr.model import StyleGANR
from engine.styleganr.view_codes import MaskFn, compose, sample_view_codes, sample_w
from engine.synth import SEED_RANGES, render_samples

AzimuthReader = Callable[[InverseGraphicsNet, torch.Tensor, torch.Tensor], torch.Tensor]
"""``azimuths [N] = read(network, images [N, 3, H, W], candidate cameras [K, 3])``."""
ImageReader = Callable[[torch.Tensor], torch.Tensor]
"""``azimuths [N] = read(images [N, 3, H, W])``."""


def mask_iou(first: torch.Tensor, second: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """IoU ``[N]`` of masks ``[N, 1, H, W]`` in [0, 1], each thresholded; 1 when both are empty."""
    a, b = (first > threshold).flatten(1), (second > threshold).flatten(1)
    intersection = (a & b).sum(1).float()
    union = (a | b).sum(1).float()
    return torch.where(union > 0, intersection / union.clamp_min(1), torch.ones_like(union))


def mean_colour(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean RGB ``[N, 3]`` of images ``[N, 3, H, W]`` inside soft masks ``[N, 1, H, W]``."""
    weight = masks.sum((2, 3)).clamp_min(1e-6)  # [N, 1]
    return (images * masks).sum((2, 3)) / weight


def azimuth_ring(step: float, elevation: float, scale: float = 1.0) -> torch.Tensor:
    """Candidate cameras ``[K, 3]`` every ``step`` degrees of azimuth at one elevation."""
    azimuths = torch.arange(0.0, 360.0, step)
    return torch.stack(
        [azimuths, torch.full_like(azimuths, elevation), torch.full_like(azimuths, scale)], 1
    )


@torch.no_grad()
def read_azimuths(
    network: InverseGraphicsNet,
    images: torch.Tensor,
    candidates: torch.Tensor,
    masks: torch.Tensor | None = None,
) -> torch.Tensor:
    """The azimuth° ``[N]`` the network reads off each image ``[N, 3, H, W]``: the candidate
    camera ``[K, 3]`` whose render best redraws the image (and its silhouette ``masks
    [N, 1, H, W]``, if given), refined by the network."""
    candidates = candidates.to(images.device)
    readings = []
    for index, image in enumerate(images):
        mask = None if masks is None else masks[index : index + 1]
        camera = estimate_camera(network, image[None], candidates, mask=mask, refine=True)
        readings.append(camera[0, 0] % 360)
    return torch.stack(readings)


@torch.no_grad()
def camera_control_errors(
    model: StyleGANR,
    samples: Sample,
    azimuths: list[float],
    *,
    read: AzimuthReader = read_azimuths,
    ring_step: float = 5.0,
) -> torch.Tensor:
    """Absolute azimuth errors° ``[len(azimuths), N]``: each of the N samples moved to each
    requested azimuth (at the labelled views' mean elevation and scale) and read back."""
    cameras = model.views.labelled()
    elevation, scale = float(cameras[:, 1].mean()), float(cameras[:, 2].mean())
    candidates = azimuth_ring(ring_step, elevation, scale)
    errors = []
    for azimuth in azimuths:
        moved = set_camera(model, samples, azimuth=azimuth, elevation=elevation, scale=scale)
        read_back = read(model.inverse_graphics, moved.image, candidates)
        errors.append(azimuth_difference(read_back, torch.full_like(read_back, azimuth)))
    return torch.stack(errors)


def known_camera_renders(
    count: int, *, size: int, offset: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` synthetic car renders ``[N, 3, size, size]`` from the held-out seeds (from
    ``offset`` on) and their true cameras ``[N, 3]`` (azimuth°, elevation°, scale)."""
    start = SEED_RANGES["test"].start + offset
    batch = render_samples("car", list(range(start, start + count)), size=size)
    return batch.image, camera_from_view(batch.view)


@torch.no_grad()
def known_camera_errors(
    network: InverseGraphicsNet,
    images: torch.Tensor,
    cameras: torch.Tensor,
    *,
    read: AzimuthReader = read_azimuths,
    ring_step: float = 5.0,
) -> torch.Tensor:
    """Absolute azimuth errors° ``[N]`` of ``read`` on images whose true cameras ``[N, 3]``
    are known (candidates on a ring at their mean elevation and scale)."""
    elevation, scale = float(cameras[:, 1].mean()), float(cameras[:, 2].mean())
    read_off = read(network, images, azimuth_ring(ring_step, elevation, scale))
    return azimuth_difference(read_off, cameras[:, 0].to(read_off.device))


@dataclass
class ViewAxes:
    """Axes a person read off the view codes that ``styleganr view-codes --seed {seed}``
    samples from ``checkpoint`` with ``view_layers`` view layers (stored as JSON)."""

    checkpoint: str
    view_layers: int
    seed: int
    axes: dict[int, float] = field(default_factory=dict)
    """View-code index → the car's axis in degrees, azimuth modulo 180 (0 end-on, 90 side-on;
    45 shows the front of its left side or the back of its right side, 135 the others)."""
    about: str = ""
    """How the axes were read, for whoever reads the file."""

    def __post_init__(self) -> None:
        try:
            self.axes = {int(index): float(axis) for index, axis in self.axes.items()}
        except (TypeError, ValueError, AttributeError, OverflowError) as error:
            raise GANliftError("View axes must map view-code indices to degrees.") from error
        bad = sorted(i for i, axis in self.axes.items() if i < 0 or not 0 <= axis < 180)
        if not self.axes or bad:
            raise GANliftError(
                f"View axes need indices >= 0 and axes in [0, 180) degrees (bad entries: {bad}) "
                "and at least one entry; fix the file."
            )

    def view_codes(self, generator: Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The labelled view codes ``[V, L, D]`` of ``generator`` and their axes ``[V]``."""
        indices = sorted(self.axes)
        views = sample_view_codes(
            generator, indices[-1] + 1, num_view_layers=self.view_layers, seed=self.seed
        )
        return views.codes[indices], torch.tensor([self.axes[i] for i in indices])


def load_view_axes(path: str | os.PathLike) -> ViewAxes:
    """Read `ViewAxes` from JSON."""
    return load_config(ViewAxes, path, "The view axes file")


@torch.no_grad()
def view_axis_errors(
    generator: Generator,
    codes: torch.Tensor,
    axes: torch.Tensor,
    read: ImageReader,
    *,
    samples_per_view: int = 8,
    seed: int = 0,
) -> torch.Tensor:
    """Axis errors° ``[V, S]`` of ``read`` on ``samples_per_view`` contents (from ``seed``)
    under each view code ``[V, L, D]`` whose hand-read axis is ``axes [V]``."""
    content = sample_w(generator, samples_per_view, seed=seed)
    errors = []
    for code, axis in zip(codes, axes, strict=True):
        wplus = compose(code[None].expand(samples_per_view, -1, -1), content, generator.num_ws)
        azimuths = read(generator.synthesis(wplus))
        errors.append(axis_difference(azimuths, axis.to(azimuths.device)))
    return torch.stack(errors)


def content_spread(images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For images ``[C, V, 3, H, W]`` of C contents under V view codes and their silhouettes
    ``[C, V, 1, H, W]``: per view code, the mean silhouette IoU between contents ``[V]`` (1:
    the content never changes the outline) and the standard deviation across contents of the
    object's mean colour, averaged over channels ``[V]`` (0: the view code fixes the paint)."""
    count = len(images)
    if count < 2:
        raise GANliftError(f"The content spread needs at least 2 contents, got {count}.")
    first, second = torch.triu_indices(count, count, 1)
    ious = torch.stack(
        [mask_iou(masks[i], masks[j]) for i, j in zip(first, second, strict=True)]
    )  # [pairs, V]
    colours = mean_colour(images.flatten(0, 1), masks.flatten(0, 1)).unflatten(0, (count, -1))
    return ious.mean(0), colours.std(0).mean(1)


@torch.no_grad()
def reprojected_silhouettes(
    network: InverseGraphicsNet, images: torch.Tensor, cameras: torch.Tensor
) -> torch.Tensor:
    """Silhouettes ``[N, 1, H, W]`` of the network's meshes for ``images``, rendered in the
    labelled ``cameras [N, 3]`` refined by the network (what the mask IoU loss trains)."""
    return cross_view_silhouettes(network, images, images, cameras)


@torch.no_grad()
def cross_view_silhouettes(
    network: InverseGraphicsNet, shown: torch.Tensor, seen: torch.Tensor, cameras: torch.Tensor
) -> torch.Tensor:
    """Silhouettes ``[N, 1, H, W]`` of the meshes read off ``shown [N, 3, H, W]``, rendered
    where ``seen`` (the same contents in other views) was taken: its labelled ``cameras
    [N, 3]`` refined by the network's reading of ``seen``. Matching ``seen``'s outline needs a
    mesh that is right in 3D, not only in the view it was read from."""
    shape, placement = network(shown), network(seen)
    return render_prediction(
        shape.vertices,
        shape.texture,
        network.template,
        refine_camera(cameras.to(seen.device), placement.camera_correction),
        size=seen.shape[-1],
        shift=placement.shift,
    ).mask


def turned_views(azimuths: torch.Tensor, turn: float = 90.0) -> torch.Tensor:
    """For each view of azimuths° ``[V]``, the index ``[V]`` of the other view nearest to it
    turned by ``turn`` degrees."""
    wanted = (azimuths + turn) % 360
    gaps = azimuth_difference(azimuths[None, :], wanted[:, None])  # [V, V]
    return gaps.fill_diagonal_(float("inf")).argmin(1)


@dataclass
class SwapScores:
    """Per-pair figures of one kind of swap; each tensor is ``[N]``."""

    silhouette_kept: torch.Tensor
    """IoU of the result's silhouette with the target's."""
    silhouette_moved: torch.Tensor
    """IoU with the source's silhouette seen from the target's camera, minus the target's
    own IoU with it (> 0: the silhouette moved towards the source)."""
    colour_moved: torch.Tensor
    """Fraction of the target→source mean-colour distance the swap covered (1: the source's
    colour, 0: the target's)."""


@torch.no_grad()
def swap_scores(
    model: StyleGANR, targets: Sample, sources: Sample, part: str, segment: MaskFn
) -> SwapScores:
    """How a ``part`` swap of each target with the source beside it moves silhouette and colour."""
    result = swap(model, targets, sources, part=part)
    source_seen = render_codes(model, replace(sources.codes, camera=targets.codes.camera))
    target_mask, result_mask = segment(targets.image), segment(result.image)
    source_mask = segment(source_seen.image)
    target_colour = mean_colour(targets.image, target_mask)
    source_colour = mean_colour(sources.image, segment(sources.image))
    result_colour = mean_colour(result.image, result_mask)
    gap = source_colour - target_colour  # [N, 3]
    covered = ((result_colour - target_colour) * gap).sum(1) / gap.square().sum(1).clamp_min(1e-6)
    return SwapScores(
        silhouette_kept=mask_iou(result_mask, target_mask),
        silhouette_moved=mask_iou(result_mask, source_mask) - mask_iou(target_mask, source_mask),
        colour_moved=covered,
    )
