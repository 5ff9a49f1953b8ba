"""Tensor operations of StyleGAN2, as plain functions in PyTorch (no compiled extensions).

Two implementations of the modulated convolution live here: the reference one (a grouped
convolution with one weight per sample, as the original papers write it) and the fast one
("scale the input by the style, one shared-weight convolution, scale the output by the
demodulation coefficients"), which is mathematically the same and much faster on CPU.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from engine.errors import GANliftError

OpsImpl = Literal["fast", "reference"]
"""Which implementation the networks use: "fast" (default) or "reference" (for parity checks)."""

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
DEMOD_EPS = 1e-8


def make_blur_kernel(taps: tuple[int, ...] = (1, 3, 3, 1), gain: float = 1.0) -> torch.Tensor:
    """The separable low-pass kernel [k, k] built from 1-D `taps`, normalised to sum `gain`
    (on the CPU: the networks' `.to(device)` moves it, and a meta skeleton needs no sums)."""
    row = torch.tensor(taps, dtype=torch.float32, device="cpu")
    kernel = row[None, :] * row[:, None]  # [k, k]
    return kernel / kernel.sum() * gain


def upfirdn2d(
    x: torch.Tensor,
    kernel: torch.Tensor,
    *,
    up: int = 1,
    down: int = 1,
    pad: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve every channel with `kernel`, then subsample.

    x [N, C, H, W], kernel [k, k], pad (before, after) on both axes; this is the resampling
    primitive of StyleGAN2 (a true convolution, so the kernel is flipped for conv2d).
    """
    batch, channels, height, width = x.shape
    if up > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))  # zeros after each sample on both axes
        x = x.reshape(batch, channels, height * up, width * up)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    taps = kernel.flip([0, 1]).to(x.dtype)
    weight = taps[None, None].expand(channels, 1, *taps.shape)  # [C, 1, k, k]
    return F.conv2d(x, weight, stride=down, groups=channels)


def fused_leaky_relu(
    x: torch.Tensor,
    bias: torch.Tensor,
    *,
    gain: float = LRELU_GAIN,
    clamp: float | None = None,
) -> torch.Tensor:
    """Add a per-channel bias, leaky ReLU (slope 0.2), multiply by `gain`, clamp to +-`clamp`.

    x [N, C] or [N, C, H, W]; bias [C].
    """
    bias = bias.to(x.dtype).reshape(1, -1, *([1] * (x.ndim - 2)))
    out = F.leaky_relu(x + bias, LRELU_SLOPE) * gain
    return out if clamp is None else out.clamp(-clamp, clamp)


def demodulation(weight: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """Coefficients [N, O] that give every output channel of the modulated weight unit norm.

    weight [O, I, k, k], styles [N, I]: 1 / sqrt(sum_{i,k} (weight * style)^2 + eps).
    """
    energy = weight.square().sum(dim=(2, 3))  # [O, I]
    return torch.rsqrt(styles.square() @ energy.t() + DEMOD_EPS)  # [N, O]


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    *,
    demodulate: bool,
    upsample: bool = False,
    blur_kernel: torch.Tensor | None = None,
    blur_pad: tuple[int, int] = (0, 0),
    impl: OpsImpl = "fast",
) -> torch.Tensor:
    """Style-modulated convolution, with optional 2x upsampling (transposed conv + blur).

    x [N, I, H, W], weight [O, I, k, k] (already scaled), styles [N, I] -> [N, O, H', W'];
    'same' padding without upsampling, H' = 2H with it.
    """
    weight = weight.to(x.dtype)
    styles = styles.to(x.dtype)
    conv = _modulated_conv_fast if impl == "fast" else _modulated_conv_reference
    out = conv(x, weight, styles, demodulate=demodulate, upsample=upsample)
    if upsample:
        assert blur_kernel is not None, "an upsampling modulated conv needs its blur kernel"
        out = upfirdn2d(out, blur_kernel, pad=blur_pad)
    return out


def _modulated_conv_fast(
    x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool, upsample: bool
) -> torch.Tensor:
    """Modulate the activations instead of the weights: one shared conv for the whole batch."""
    x = x * styles[:, :, None, None]  # [N, I, H, W]
    if upsample:
        out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)  # [N, O, 2H+1, 2W+1]
    else:
        out = F.conv2d(x, weight, padding=weight.shape[-1] // 2)  # [N, O, H, W]
    if demodulate:
        out = out * demodulation(weight, styles)[:, :, None, None]
    return out


def _modulated_conv_reference(
    x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool, upsample: bool
) -> torch.Tensor:
    """Modulate the weights per sample and run a grouped conv (the papers' formulation)."""
    batch, in_channels, height, width = x.shape
    out_channels, _, kernel_size, _ = weight.shape
    sample_weight = weight[None] * styles[:, None, :, None, None]  # [N, O, I, k, k]
    if demodulate:
        norm = torch.rsqrt(sample_weight.square().sum(dim=(2, 3, 4)) + DEMOD_EPS)  # [N, O]
        sample_weight = sample_weight * norm[:, :, None, None, None]
    grouped_x = x.reshape(1, batch * in_channels, height, width)
    if upsample:
        grouped_weight = sample_weight.transpose(1, 2).reshape(
            batch * in_channels, out_channels, kernel_size, kernel_size
        )
        out = F.conv_transpose2d(grouped_x, grouped_weight, stride=2, groups=batch)
    else:
        grouped_weight = sample_weight.reshape(
            batch * out_channels, in_channels, kernel_size, kernel_size
        )
        out = F.conv2d(grouped_x, grouped_weight, padding=kernel_size // 2, groups=batch)
    return out.reshape(batch, out_channels, *out.shape[2:])


def minibatch_stddev(x: torch.Tensor, *, group_size: int | None, channels: int) -> torch.Tensor:
    """Append `channels` features holding the mean stddev of each sample's group [N, C+F, H, W].

    Samples i, i + N/G, i + 2N/G, ... form a group (G = min(group_size, N), or N when
    group_size is None; G must divide N).
    """
    batch, feats, height, width = x.shape
    group = batch if group_size is None else min(group_size, batch)
    if batch % group:
        raise GANliftError(
            f"A discriminator batch of {batch} images cannot be split into minibatch-stddev "
            f"groups of {group}; use a batch size that is a multiple of {group}."
        )
    grouped = x.reshape(group, -1, channels, feats // channels, height, width)  # [G, n, F, c, H, W]
    std = torch.sqrt(grouped.var(dim=0, unbiased=False) + 1e-8)  # [n, F, c, H, W]
    std = std.mean(dim=(2, 3, 4)).reshape(-1, channels, 1, 1)  # [n, F, 1, 1]
    return torch.cat([x, std.repeat(group, 1, height, width)], dim=1)
