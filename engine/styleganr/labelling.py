"""Labelling view codes with cameras, two ways.

Automatic: a small view labeller — a CNN that predicts a camera and a silhouette — is trained
on synthetic car renders, whose cameras and masks are known exactly, then applied to GAN
samples under each view code (the paper labels its views by hand; the synthetic world lets us
do it without a person). Its silhouettes also stand in for the paper's off-the-shelf
segmentation network.

By hand: a person looks at a sheet of samples (one row per view code) and assigns each a
coarse azimuth bin; `HandLabels` stores that as JSON and turns it into cameras.
"""

from __future__ import annotations

import math
import operator
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import check_sizes, config_from_dict, config_to_dict, whole_number
from engine.device import cpu_state, gradients_on, resolve_device
from engine.errors import GANliftError
from engine.images import make_grid
from engine.progress import ProgressFn, StopFn
from engine.randomness import global_rng_kept
from engine.stylegan2 import Generator
from engine.styleganr.camera import camera_from_view
from engine.styleganr.config_io import (
    STATE_FIX,
    check_not_past_steps,
    check_resumable,
    check_run_counts,
    load_config,
    read_state,
    run_steps,
    save_config,
    state_part,
    state_step,
    write_state,
)
from engine.styleganr.view_codes import ViewCodes, compose, sample_w
from engine.synth import render_samples, seed_run
from engine.synth.generate import MIN_SIZE
from engine.torch_files import built_with_weights, load_optimizer_state, load_weights

STATE_FORMAT = "ganlift-styleganr-view-labeller"
RESUME_FREE = ("steps", "learning_rate", "augment", "checkpoint_every")
"""What a resumed labeller run may change: its length, its rate and augmentation (to fine-tune
a labeller trained on plain renders) and how often it saves. Its seed and batch size fix which
cars each step draws, its sizes the network."""
ELEVATION_RANGE = 30.0
"""Elevations are predicted in [0, ELEVATION_RANGE] degrees (the synthetic world's range)."""


@dataclass
class LabellerConfig:
    """The view labeller's architecture and training."""

    image_size: int = 64
    """Images are resized to this size (16 to 1024: four halvings leave at least 1 pixel)."""
    width: int = 16
    """Channels of the first block, doubled at each of four downsamplings."""
    steps: int = 3_000
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 0
    """Seed of the initialisation and the first training seed of the synthetic world."""
    checkpoint_every: int = 500
    augment: bool = True
    """Train on mirrored, recoloured, blurred and noisy renders (`augment_views`): GAN samples
    are blurrier and differently coloured than the renders, and a labeller trained on clean
    renders alone reads them almost at random."""

    def __post_init__(self) -> None:
        check_sizes(self, {"image_size": 1024, "width": 1024}, "The view labeller's ")
        if self.image_size < MIN_SIZE:  # 8 built a Linear of no inputs
            raise GANliftError(
                f"The view labeller's image_size must be at least {MIN_SIZE} (it halves its "
                f"input four times), got {self.image_size}; give {MIN_SIZE} or more."
            )
        check_run_counts(self)
        if not 0 < self.learning_rate <= 1:  # 1e30 trained to nan weights
            raise GANliftError(
                f"The labeller needs a learning rate above 0 and at most 1, got "
                f"{self.learning_rate}; fix --learning-rate."
            )


class ViewLabeller(nn.Module):
    """Image ``[N, 3, H, W]`` → camera ``[N, 3]`` and silhouette logits ``[N, 1, s, s]``."""

    def __init__(self, config: LabellerConfig) -> None:
        super().__init__()
        self.config = config
        channels = [config.width * 2**k for k in range(5)]
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2))
            for c_in, c_out in zip([3, *channels[:3]], channels[:4], strict=True)
        )
        self.camera_head = nn.Sequential(
            nn.Flatten(), nn.Linear(channels[3] * (config.image_size // 16) ** 2, 4)
        )
        self.up = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.LeakyReLU(0.2))
            for c_in, c_out in zip(
                [channels[3], 2 * channels[2], 2 * channels[1], 2 * channels[0]],
                [channels[2], channels[1], channels[0], channels[0]],
                strict=True,
            )
        )
        self.mask_head = nn.Conv2d(channels[0], 1, 3, padding=1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw camera outputs ``[N, 4]`` (sin az, cos az, elevation, log scale) and silhouette
        logits ``[N, 1, s, s]`` at the labeller's size."""
        size = self.config.image_size
        x = F.interpolate(image, size=(size, size), mode="bilinear", antialias=True)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        camera = self.camera_head(x)
        for index, block in enumerate(self.up):
            x = block(x)
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            if index < 3:
                x = torch.cat([x, skips[2 - index]], 1)
        return camera, self.mask_head(x)


def decode_camera(raw: torch.Tensor) -> torch.Tensor:
    """Cameras ``[N, 3]`` (azimuth° in [0, 360), elevation°, scale) from raw outputs ``[N, 4]``."""
    azimuth = torch.rad2deg(torch.atan2(raw[:, 0], raw[:, 1])) % 360
    elevation = ELEVATION_RANGE * torch.sigmoid(raw[:, 2])
    return torch.stack([azimuth, elevation, torch.exp(raw[:, 3])], 1)


@torch.no_grad()
def predict_views(
    labeller: ViewLabeller, images: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cameras ``[N, 3]`` and silhouettes ``[N, 1, H, W]`` in [0, 1] of ``images [N,3,H,W]``."""
    raw, logits = labeller(images)
    masks = F.interpolate(torch.sigmoid(logits), size=images.shape[-2:], mode="bilinear")
    return decode_camera(raw), masks


def labeller_losses(
    labeller: ViewLabeller, images: torch.Tensor, cameras: torch.Tensor, masks: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Camera and silhouette losses against known cameras ``[N, 3]`` and masks ``[N, H, W]``."""
    raw, logits = labeller(images)
    azimuth = torch.deg2rad(cameras[:, 0])
    direction = F.normalize(raw[:, :2], dim=1)
    target_mask = F.interpolate(masks[:, None], size=logits.shape[-2:], mode="area")
    terms = {
        "azimuth": (direction - torch.stack([azimuth.sin(), azimuth.cos()], 1))
        .square()
        .sum(1)
        .mean(),
        "elevation": (ELEVATION_RANGE * torch.sigmoid(raw[:, 2]) - cameras[:, 1]).abs().mean() / 10,
        "scale": (raw[:, 3] - cameras[:, 2].log()).abs().mean() * 10,
        "mask": F.binary_cross_entropy_with_logits(logits, target_mask),
    }
    terms["total"] = torch.stack(list(terms.values())).sum()
    return terms


def augment_views(
    images: torch.Tensor, cameras: torch.Tensor, masks: torch.Tensor, rng: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Renders ``[N, 3, H, W]`` in [-1, 1] with their cameras ``[N, 3]`` and masks ``[N, H, W]``,
    changed the ways GAN samples differ from renders: half are mirrored (a car mirrored left to
    right is the same car at azimuth −a), channels are shuffled and rescaled, and each image is
    blurred and given noise of a random strength."""
    count = len(images)
    mirrored = torch.rand(count, generator=rng) < 0.5
    images = torch.where(mirrored[:, None, None, None], images.flip(-1), images)
    masks = torch.where(mirrored[:, None, None], masks.flip(-1), masks)
    azimuth = torch.where(mirrored, (360 - cameras[:, 0]) % 360, cameras[:, 0])
    cameras = torch.cat([azimuth[:, None], cameras[:, 1:]], 1)
    order = torch.argsort(torch.rand(count, 3, generator=rng), 1)  # [N, 3] channel shuffles
    images = torch.gather(images, 1, order[:, :, None, None].expand_as(images))
    gain = 0.6 + 0.8 * torch.rand(count, 3, 1, 1, generator=rng)
    shift = 0.3 * (torch.rand(count, 1, 1, 1, generator=rng) - 0.5)
    images = (images + 1) * gain - 1 + shift
    images = gaussian_blur(images, 0.3 + 1.2 * torch.rand(count, generator=rng))
    noise = 0.05 * torch.rand(count, 1, 1, 1, generator=rng)
    images = images + noise * torch.randn(images.shape, generator=rng)
    return images.clamp(-1, 1), cameras, masks


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each image ``[N, C, H, W]`` blurred by a Gaussian of its own ``sigma [N]`` pixels
    (a 7-tap separable kernel, edges replicated)."""
    taps = torch.arange(-3.0, 4.0)
    kernel = torch.exp(-(taps**2) / (2 * sigma[:, None] ** 2))  # [N, 7]
    kernel = kernel / kernel.sum(1, keepdim=True)
    count, channels, height, width = images.shape
    x = images.reshape(1, count * channels, height, width)
    weights = kernel.repeat_interleave(channels, 0)  # [N*C, 7]
    x = F.conv2d(
        F.pad(x, (3, 3, 0, 0), mode="replicate"), weights[:, None, None, :], groups=count * channels
    )
    x = F.conv2d(
        F.pad(x, (0, 0, 3, 3), mode="replicate"), weights[:, None, :, None], groups=count * channels
    )
    return x.reshape(count, channels, height, width)


@gradients_on("train_view_labeller")
def train_view_labeller(
    config: LabellerConfig,
    *,
    state_path: str | os.PathLike,
    image_size: int = 64,
    device: torch.device | str = "cpu",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> ViewLabeller:
    """Train the labeller on fresh synthetic cars (training seeds) rendered at ``image_size``,
    augmented if the config says so; resumes from and atomically replaces ``state_path``, at
    the config's learning rate (so a resumed state can be fine-tuned at a lower one)."""
    device = resolve_device(device)
    with global_rng_kept(config.seed):
        labeller = ViewLabeller(config).to(device)
    optimiser = torch.optim.Adam(labeller.parameters(), lr=config.learning_rate)
    step = 0
    if Path(state_path).exists():
        state = read_state(state_path, STATE_FORMAT)
        stored = config_from_dict(
            LabellerConfig, state_part(state, state_path, "config"), str(state_path)
        )
        check_resumable(state_path, stored, config, free=RESUME_FREE)
        source = f"{state_path}'s labeller"
        load_weights(labeller, state_part(state, state_path, "labeller"), source, STATE_FIX)
        load_optimizer_state(
            optimiser, state_part(state, state_path, "optimiser"), source, STATE_FIX
        )
        for group in optimiser.param_groups:  # the config's rate, e.g. a lower one to fine-tune
            group["lr"] = config.learning_rate
        step = state_step(state, state_path)
        check_not_past_steps(state_path, step, config.steps)

    def save(step: int) -> None:
        write_state(
            state_path,
            {
                "format": STATE_FORMAT,
                "version": 1,
                "step": step,
                "config": config_to_dict(config),
                "labeller": cpu_state(labeller),
                "optimiser": optimiser.state_dict(),
            },
        )

    def train_step(step: int) -> float:
        seeds = seed_run(config.seed + step * config.batch_size, config.batch_size, split="train")
        batch = render_samples("car", seeds, size=image_size, device=device)
        images, cameras, masks = batch.image, camera_from_view(batch.view), batch.mask
        if config.augment:
            rng = torch.Generator().manual_seed(config.seed + step)
            images, cameras, masks = augment_views(images.cpu(), cameras.cpu(), masks.cpu(), rng)
        terms = labeller_losses(labeller, images.to(device), cameras.to(device), masks.to(device))
        optimiser.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimiser.step()
        return float(terms["total"].detach())

    run_steps(
        train_step, save, start=step, steps=config.steps, checkpoint_every=config.checkpoint_every,
        progress=progress, should_stop=should_stop,
    )  # fmt: skip
    return labeller.eval()


def load_view_labeller(path: str | os.PathLike, device: torch.device | str = "cpu") -> ViewLabeller:
    """The labeller stored in a state file, in eval mode."""
    state = read_state(path, STATE_FORMAT)
    config, weights = (state_part(state, path, name) for name in ("config", "labeller"))
    return labeller_from_state(config, weights, str(path), device)


def labeller_from_state(
    config: dict, weights: dict[str, torch.Tensor], source: str, device: torch.device | str
) -> ViewLabeller:
    """A labeller built from a stored config dict and weights (from ``source``), in eval mode."""
    config = config_from_dict(LabellerConfig, config, source)
    labeller = built_with_weights(lambda: ViewLabeller(config), weights, source, STATE_FIX)
    return labeller.to(resolve_device(device)).eval()


@torch.no_grad()
def auto_label(
    generator: Generator,
    views: ViewCodes,
    labeller: ViewLabeller,
    *,
    samples_per_view: int = 8,
    seed: int = 0,
    truncation: float = 0.7,
    keep: int | None = None,
    progress: ProgressFn | None = None,
) -> ViewCodes:
    """Cameras for every view code: the labeller's prediction on ``samples_per_view`` content
    codes under that view, averaged (azimuth as a circular mean).

    With ``keep``, only that many codes are returned, spread evenly over the azimuth circle
    (see `balanced_selection`): a GAN draws some views far more often than others, and codes
    sampled at random leave the rare views without a label.
    """
    if len(views.codes) == 0:
        raise GANliftError(
            "The view codes file holds no codes; draw some with `styleganr view-codes`."
        )
    views.check_drawn_from(generator)
    content = sample_w(generator, samples_per_view, seed=seed, truncation=truncation)  # [S, D]
    cameras, agreement = [], []
    for index, code in enumerate(views.codes):
        wplus = compose(code[None].expand(samples_per_view, -1, -1), content, generator.num_ws)
        with torch.no_grad():
            predicted, _ = predict_views(labeller, generator.synthesis(wplus))  # [S, 3]
        azimuth = torch.deg2rad(predicted[:, 0])
        direction = torch.stack([azimuth.sin().mean(), azimuth.cos().mean()])  # [2]
        mean_azimuth = torch.rad2deg(torch.atan2(direction[0], direction[1])) % 360
        cameras.append(torch.stack([mean_azimuth, predicted[:, 1].mean(), predicted[:, 2].mean()]))
        agreement.append(direction.norm())
        if progress is not None:
            progress(index + 1, len(views.codes), "labelling view codes")
    labels = torch.stack(cameras).cpu()  # [V, 3]
    if keep is None:
        return replace(views, cameras=labels)
    chosen = balanced_selection(labels[:, 0], torch.stack(agreement).cpu(), keep)
    return replace(views, codes=views.codes[chosen], cameras=labels[chosen])


def balanced_selection(azimuth: torch.Tensor, agreement: torch.Tensor, keep: int) -> torch.Tensor:
    """Indices of ``keep`` codes spread over the azimuth circle: it is cut into ``keep`` equal
    arcs and each arc keeps its code with the highest ``agreement`` (how well the labeller's
    readings of that code's samples agree, 0…1); arcs without a code are made up by the most
    agreed codes left. ``azimuth`` and ``agreement`` are ``[V]``; the result is sorted."""
    keep = whole_number(keep, "--keep")
    if keep < 1:
        raise GANliftError(f"--keep must be at least 1, got {keep}.")
    if keep > len(azimuth):
        raise GANliftError(
            f"Cannot keep {keep} of {len(azimuth)} view codes; sample at least {keep} codes "
            "with view-codes --count."
        )
    arc = ((azimuth % 360) / (360 / keep)).long().clamp(max=keep - 1)  # [V]
    order = torch.argsort(agreement, descending=True, stable=True)
    chosen: list[int] = []
    filled: set[int] = set()
    for index in order.tolist():
        if int(arc[index]) not in filled:
            filled.add(int(arc[index]))
            chosen.append(index)
    spare = [index for index in order.tolist() if index not in chosen]
    chosen += spare[: keep - len(chosen)]
    return torch.tensor(sorted(chosen))


MAX_AZIMUTH_BINS = 360
"""Most azimuth bins hand labels may use (narrower than a degree, a bin names no view)."""


@dataclass
class HandLabels:
    """A person's azimuth bins for view codes, as stored in JSON.

    Bin k of ``num_bins`` covers azimuths centred on k·360/num_bins degrees (0 = front towards
    the camera, 90 = the car's left flank with its nose to the image's left, 270 its right
    flank); the elevation and scale are one guess for every view.
    """

    num_bins: int = 12
    """Bins around the circle: the paper's 12 azimuths, 30° apart (the inverse graphics
    network refines a camera by up to 15°)."""
    bins: dict[int, int] = field(default_factory=dict)
    """View-code index → azimuth bin."""
    elevation: float = 10.0
    scale: float = 1.0
    views: str | None = None
    """`ViewCodes.fingerprint` of the codes labelled; None where unknown (files written before
    it was recorded)."""

    def __post_init__(self) -> None:
        try:  # whole numbers only (JSON's keys are their digits): int(0.5) made bin 0
            self.bins = {_whole(index): _whole(value) for index, value in self.bins.items()}
        except (TypeError, ValueError, AttributeError) as error:
            raise GANliftError(
                "Hand labels must map view indices to azimuth bins, both whole numbers."
            ) from error
        if not 1 <= self.num_bins <= MAX_AZIMUTH_BINS:
            raise GANliftError(
                f"The number of azimuth bins (--bins) must be from 1 to {MAX_AZIMUTH_BINS}, got "
                f"{self.num_bins}."
            )
        try:
            self.elevation, self.scale = float(self.elevation), float(self.scale)
        except (TypeError, ValueError) as error:
            raise GANliftError("The elevation and scale of hand labels must be numbers.") from error
        if not -90 <= self.elevation <= 90:
            raise GANliftError(
                f"Hand labels need an elevation from -90 to 90 degrees, got {self.elevation}."
            )
        if not 0 < self.scale < math.inf:
            raise GANliftError(f"Hand labels need a positive finite scale, got {self.scale}.")
        outside = {i: b for i, b in self.bins.items() if not 0 <= b < self.num_bins}
        if outside:
            raise GANliftError(
                f"Azimuth bins must be from 0 to {self.num_bins - 1}, got "
                + ", ".join(f"{bin_} for view {view}" for view, bin_ in sorted(outside.items()))
                + f"; use bins of {360 / self.num_bins:g}° counted from the front."
            )

    def cameras(self, views: ViewCodes) -> ViewCodes:
        """The labelled view codes only, with their cameras."""
        bad = sorted(i for i in self.bins if not 0 <= i < len(views.codes))
        if bad:
            raise GANliftError(
                f"Hand labels name view codes {', '.join(map(str, bad))}, but there are only "
                f"{len(views.codes)}; label codes 0 to {len(views.codes) - 1}."
            )
        if not self.bins:
            raise GANliftError("No view code has a hand label yet; assign at least one bin.")
        indices = sorted(self.bins)
        cameras = torch.tensor(
            [[self.bins[i] * 360 / self.num_bins, self.elevation, self.scale] for i in indices]
        )
        return replace(views, codes=views.codes[indices], cameras=cameras)


def save_hand_labels(labels: HandLabels, path: str | os.PathLike) -> Path:
    """Write hand labels as JSON."""
    return save_config(labels, path)


def load_hand_labels(path: str | os.PathLike) -> HandLabels:
    """Read hand labels written by `save_hand_labels` (or by hand)."""
    return load_config(HandLabels, path, "The hand labels file")


def _whole(value: object) -> int:
    """A whole number, or the digits of one, as an int (TypeError or ValueError otherwise)."""
    return int(value) if isinstance(value, str) else operator.index(value)  # type: ignore[arg-type]


@torch.no_grad()
def labelling_rows(
    generator: Generator,
    views: ViewCodes,
    *,
    samples_per_view: int = 4,
    seed: int = 0,
    truncation: float = 0.7,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Images ``[V, S, 3, H, W]``: each view code under the same ``samples_per_view`` contents
    (from ``seed``), for a person to assign azimuth bins (see `HandLabels`)."""
    views.check_drawn_from(generator)
    content = sample_w(generator, samples_per_view, seed=seed, truncation=truncation)
    rows = []
    for index, code in enumerate(views.codes):
        rows.append(
            generator.synthesis(
                compose(code[None].expand(samples_per_view, -1, -1), content, generator.num_ws)
            )
        )
        if progress is not None:
            progress(index + 1, len(views.codes), "labelling sheet")
    return torch.stack(rows)


def labelling_sheet(
    generator: Generator,
    views: ViewCodes,
    *,
    samples_per_view: int = 4,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """`labelling_rows` as one image ``[1, 3, H', W']``, row i for view code i."""
    rows = labelling_rows(
        generator, views, samples_per_view=samples_per_view, seed=seed, progress=progress
    )
    return make_grid(rows.flatten(0, 1), samples_per_view)
