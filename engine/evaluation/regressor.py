"""A small CNN that reads scene labels (viewpoint, light) off an image.

It is the measuring stick of the coverage evaluation: trained on renders whose labels are
known, then applied alike to GAN samples and to held-out renders, so that the spread of its
predictions on the two can be compared. Images are area-resized to `INPUT_SIZE` first, which
keeps it fast on a CPU and blind to the fine texture where GAN samples and renders differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.device import gradients_on, resolve_device
from engine.errors import GANliftError
from engine.images import fit_to_frame
from engine.progress import ProgressFn, StopFn
from engine.randomness import global_rng_kept

INPUT_SIZE = 32
"""Side in pixels of the images the regressor sees."""


class LabelRegressor(nn.Module):
    """Images ``[N, 3, 32, 32]`` in [-1, 1] → labels ``[N, K]`` in the labels' own units.

    The network predicts standardised labels; the label mean and spread of its training set
    are kept as buffers, so `forward` answers in the original units.
    """

    def __init__(self, num_labels: int, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1),  # [N, w, 16, 16]
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),  # [N, 2w, 8, 8]
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1),  # [N, 4w, 4, 4]
            nn.LeakyReLU(0.2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(4 * width * 4 * 4, 4 * width),
            nn.LeakyReLU(0.2),
            nn.Linear(4 * width, num_labels),
        )
        self.register_buffer("label_mean", torch.zeros(num_labels))
        self.register_buffer("label_std", torch.ones(num_labels))

    def standardised(self, images: torch.Tensor) -> torch.Tensor:
        """Standardised predictions ``[N, K]`` (zero mean, unit spread on the training set)."""
        return self.head(self.features(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted labels ``[N, K]`` in the labels' units."""
        return self.standardised(images) * self.label_std + self.label_mean


@dataclass
class RegressorFit:
    """A trained regressor and the loss of every step (MSE of standardised labels)."""

    model: LabelRegressor
    losses: list[float]


def regressor_input(images: torch.Tensor) -> torch.Tensor:
    """Images ``[N, 3, H, W]`` of any size as the regressor's input ``[N, 3, 32, 32]``."""
    return fit_to_frame(images.float(), INPUT_SIZE)


@gradients_on("fit_label_regressor")
def fit_label_regressor(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    steps: int = 1500,
    batch_size: int = 64,
    lr: float = 2e-3,
    noise_std: float = 0.03,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> RegressorFit:
    """Train a `LabelRegressor` on images ``[N, 3, H, W]`` with labels ``[N, K]``.

    Adam on the MSE of standardised labels, with a cosine-decaying learning rate; Gaussian
    pixel noise of `noise_std` on every batch keeps it from keying on exact render pixels.
    """
    if images.dim() != 4 or labels.dim() != 2 or len(images) != len(labels):
        raise GANliftError(
            f"The regressor needs images [N, 3, H, W] and labels [N, K] of the same N, got "
            f"{list(images.shape)} and {list(labels.shape)}."
        )
    if len(images) < 2 or steps < 1:
        raise GANliftError("The regressor needs at least 2 training images and 1 step.")
    device = resolve_device(device)
    rng = torch.Generator().manual_seed(seed)
    inputs = regressor_input(images).to(device)  # [N, 3, 32, 32]
    labels = labels.float().to(device)  # [N, K]
    with global_rng_kept(seed):
        model = LabelRegressor(labels.shape[1]).to(device)
    model.label_mean.copy_(labels.mean(0))
    model.label_std.copy_(labels.std(0).clamp_min(1e-6))
    targets = (labels - model.label_mean) / model.label_std  # [N, K]

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    losses: list[float] = []
    model.train()
    for step in range(steps):
        if should_stop is not None and should_stop():
            break
        index = torch.randint(len(inputs), (min(batch_size, len(inputs)),), generator=rng)
        noise = torch.randn(inputs[index].shape, generator=rng).to(device) * noise_std
        loss = F.mse_loss(model.standardised(inputs[index] + noise), targets[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, steps, f"loss {losses[-1]:.3f}")
    return RegressorFit(model=model.eval(), losses=losses)


@torch.no_grad()
def predict_labels(
    model: LabelRegressor, images: torch.Tensor, *, batch_size: int = 256
) -> torch.Tensor:
    """Labels ``[N, K]`` (on the CPU) that `model` reads off images ``[N, 3, H, W]``."""
    device = model.label_mean.device
    parts = [
        model(regressor_input(images[start : start + batch_size]).to(device)).cpu()
        for start in range(0, len(images), batch_size)
    ]
    return torch.cat(parts)


def r_squared(predicted: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Coefficient of determination ``[K]`` of predictions ``[N, K]`` against labels ``[N, K]``."""
    residual = (predicted - true).square().sum(0)
    total = (true - true.mean(0)).square().sum(0).clamp_min(1e-12)
    return 1 - residual / total
