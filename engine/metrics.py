"""Per-image shape and image metrics: SIDE, MAD, relief ratio and PSNR.

SIDE and MAD follow the protocol of Unsup3d and GAN2Shape (their BFM tables):

- the evaluation mask is eroded by one pixel (a 3×3 window with zero padding, so
  pixels on the image border are dropped too), which keeps depth discontinuities at
  the silhouette and the 3×3 stencil of normals-from-depth out of the score;
- SIDE (scale-invariant depth error) is the square root of the masked variance of
  `log(pred) − log(gt)`, so a depth map that is right up to a global scale scores 0;
- MAD (mean angle deviation) is the masked mean of the angle, in degrees, between
  predicted and ground-truth normals.

The relief ratio separates one cause of a high SIDE from the others: how much depth relief a
prediction has (masked std of log depth) against the ground truth's.

Every function takes a batch and returns one value per image, shape `[N]`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.errors import GANliftError


def erode_mask(mask: torch.Tensor) -> torch.Tensor:
    """Shrink a binary mask `[N, H, W]` by one pixel; pixels outside the image count as empty."""
    _check_rank(mask, 3, "mask", "[N, H, W]")
    filled = (mask > 0.5).float().unsqueeze(1)  # [N, 1, H, W]
    padded = F.pad(filled, (1, 1, 1, 1), value=0.0)  # [N, 1, H+2, W+2]
    eroded = -F.max_pool2d(-padded, kernel_size=3, stride=1)  # [N, 1, H, W]
    return eroded.squeeze(1) > 0.5


def side(
    pred_depth: torch.Tensor, gt_depth: torch.Tensor, mask: torch.Tensor, *, erode: bool = True
) -> torch.Tensor:
    """Scale-invariant depth error per image: sqrt of the masked variance of log-depth residuals.

    Depths `[N, H, W]` must be positive inside the mask; outside it they are ignored (any
    value, zero included). Returns `[N]`, in the units of the log (the paper reports ×10⁻²).
    """
    _check_same_shape(pred_depth, gt_depth, "pred_depth", "gt_depth", "[N, H, W]")
    valid = _evaluation_mask(mask, pred_depth.shape, erode)  # [N, H, W]
    residual = torch.where(
        valid, pred_depth.clamp_min(1e-8).log() - gt_depth.clamp_min(1e-8).log(), 0.0
    )  # [N, H, W]
    count = valid.flatten(1).sum(1)  # [N]
    mean = residual.flatten(1).sum(1) / count  # [N]
    centred = torch.where(valid, residual - mean.view(-1, 1, 1), 0.0)  # [N, H, W]
    return (centred.square().flatten(1).sum(1) / count).sqrt()


def mad(
    pred_normal: torch.Tensor, gt_normal: torch.Tensor, mask: torch.Tensor, *, erode: bool = True
) -> torch.Tensor:
    """Mean angle deviation per image, in degrees, between normal maps `[N, 3, H, W]`.

    Normals are normalised before comparison, so only their directions matter. Returns `[N]`.
    """
    _check_same_shape(pred_normal, gt_normal, "pred_normal", "gt_normal", "[N, 3, H, W]")
    if pred_normal.dim() != 4 or pred_normal.shape[1] != 3:
        raise GANliftError(
            f"Normal maps must have shape [N, 3, H, W], got {tuple(pred_normal.shape)}; "
            "pass channels-first unit normals."
        )
    n, _, h, w = pred_normal.shape
    valid = _evaluation_mask(mask, (n, h, w), erode)  # [N, H, W]
    pred_unit, gt_unit = F.normalize(pred_normal, dim=1), F.normalize(gt_normal, dim=1)
    cosine = (pred_unit * gt_unit).sum(1)  # [N, H, W]
    sine = torch.linalg.cross(pred_unit, gt_unit, dim=1).norm(dim=1)  # [N, H, W]
    angle = torch.rad2deg(torch.atan2(sine, cosine))  # exact near 0, where acos is not
    return _masked_mean(angle, valid)


def relief_ratio(
    pred_depth: torch.Tensor, gt_depth: torch.Tensor, mask: torch.Tensor, *, erode: bool = True
) -> torch.Tensor:
    """Masked std of log predicted depth over that of log ground-truth depth, per image: 1 for
    the right amount of relief, above 1 for a surface too deep, 0 for a flat one. Depths
    `[N, H, W]` as in `side`; returns `[N]`."""
    _check_same_shape(pred_depth, gt_depth, "pred_depth", "gt_depth", "[N, H, W]")
    valid = _evaluation_mask(mask, pred_depth.shape, erode)  # [N, H, W]
    return _log_std(pred_depth, valid) / _log_std(gt_depth, valid)


def psnr(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, in dB, for images `[N, C, H, W]` in [-1, 1],
    over the whole frame or over `mask [N, 1, H, W]` or `[N, H, W]` (e.g. the object alone).

    The peak-to-peak range is 2; identical images give +inf, and an image whose mask is empty
    gives NaN (no pixels to compare). A soft mask weighs each pixel's error. Returns `[N]`.
    """
    _check_same_shape(pred, target, "pred", "target", "[N, C, H, W]")
    squared = (pred - target).square()  # [N, C, H, W]
    if mask is None:
        mse = squared.flatten(1).mean(1)  # [N]
    else:
        count, _, height, width = squared.shape
        if mask.shape not in ((count, 1, height, width), (count, height, width)):
            raise GANliftError(
                f"The mask has shape {tuple(mask.shape)} but the images need "
                f"{(count, 1, height, width)} or {(count, height, width)}; pass one mask per image."
            )
        weights = mask.reshape(count, 1, height, width).expand_as(squared).flatten(1)
        mse = (squared.flatten(1) * weights).sum(1) / weights.sum(1)  # 0 / 0: NaN
    return 10.0 * torch.log10(4.0 / mse)


def psnr_text(psnr_db: float, digits: int = 1) -> str:
    """A PSNR as people read it: '27.3 dB', 'exact' for identical images (a GAN sample
    reconstructed from its own latent), where the number is infinite, or 'n/a' where a mask
    left no pixels to compare."""
    if math.isnan(psnr_db):
        return "n/a"
    return "exact" if psnr_db == float("inf") else f"{psnr_db:.{digits}f} dB"


def _evaluation_mask(
    mask: torch.Tensor, expected_shape: torch.Size | tuple[int, ...], erode: bool
) -> torch.Tensor:
    """The boolean mask that the metrics average over, with empty masks reported by index."""
    if tuple(mask.shape) != tuple(expected_shape):
        raise GANliftError(
            f"The mask has shape {tuple(mask.shape)} but the maps need {tuple(expected_shape)}; "
            "pass one [N, H, W] object mask per image."
        )
    valid = erode_mask(mask) if erode else mask > 0.5  # [N, H, W]
    empty = (~valid.flatten(1).any(1)).nonzero().flatten().tolist()
    if empty:
        raise GANliftError(
            f"The evaluation mask of image(s) {empty} is empty after erosion; "
            "pass masks that cover the object with more than a one-pixel rim."
        )
    return valid


def _log_std(depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Std of log `depth [N, H, W]` over `valid [N, H, W]`, per image."""
    log_depth = depth.clamp_min(1e-8).log()
    mean = _masked_mean(log_depth, valid)  # [N]
    return _masked_mean((log_depth - mean.view(-1, 1, 1)).square(), valid).sqrt()


def _masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of `values [N, H, W]` over `valid [N, H, W]`, per image."""
    total = torch.where(valid, values, 0.0).flatten(1).sum(1)  # [N]
    return total / valid.flatten(1).sum(1)


def _check_same_shape(
    first: torch.Tensor, second: torch.Tensor, first_name: str, second_name: str, layout: str
) -> None:
    """Raise a GANliftError unless both tensors share one shape of the documented rank."""
    _check_rank(first, layout.count(",") + 1, first_name, layout)
    if first.shape != second.shape:
        raise GANliftError(
            f"{first_name} has shape {tuple(first.shape)} but {second_name} has "
            f"{tuple(second.shape)}; pass two {layout} tensors of the same size."
        )


def _check_rank(tensor: torch.Tensor, rank: int, name: str, layout: str) -> None:
    """Raise a GANliftError unless `tensor` has `rank` dimensions."""
    if tensor.dim() != rank:
        raise GANliftError(
            f"{name} must be a {layout} tensor, got shape {tuple(tensor.shape)}; "
            f"reshape it to {layout}."
        )


__all__ = ["erode_mask", "mad", "psnr", "side"]
