"""Building blocks of the StyleGAN2 networks, named and shaped as in the compact PyTorch port.

Parameter names matter: they are the state-dict keys of every checkpoint in the common layout
(`conv.weight`, `modulation.weight`, `noise.weight`, `activate.bias`, `blur.kernel`, ...).
Weights are stored unscaled and multiplied by the equalized learning-rate constant at run time.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.stylegan2.ops import (
    OpsImpl,
    fused_leaky_relu,
    make_blur_kernel,
    modulated_conv2d,
    upfirdn2d,
)

BLUR_TAPS = (1, 3, 3, 1)


def standard_normal(*shape: int) -> torch.Tensor:
    """`torch.randn(*shape)` (the same draws), left undrawn where the default device is meta:
    a network built there only to check a checkpoint's layout spent a second importing the
    symbolic machinery torch draws and divides with on meta tensors."""
    tensor = torch.empty(shape)
    return tensor if tensor.is_meta else tensor.normal_()


class PixelNorm(nn.Module):
    """Normalise each latent vector to unit root-mean-square."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Fully connected layer with equalized learning rate and optional fused leaky ReLU."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activate: bool = False,
    ) -> None:
        super().__init__()
        weight = standard_normal(out_dim, in_dim)
        self.weight = nn.Parameter(weight if weight.is_meta else weight / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(x.dtype) * self.scale
        bias = self.bias.to(x.dtype) * self.lr_mul
        if self.activate:
            return fused_leaky_relu(F.linear(x, weight), bias)
        return F.linear(x, weight, bias)


class EqualConv2d(nn.Module):
    """Conv layer with equalized learning rate."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(
            standard_normal(out_channels, in_channels, kernel_size, kernel_size)
        )
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.stride = stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        weight = self.weight.to(x.dtype) * self.scale
        return F.conv2d(x, weight, bias, stride=self.stride, padding=self.padding)


class FusedLeakyReLU(nn.Module):
    """Per-channel bias, leaky ReLU, gain sqrt(2), optional clamp."""

    def __init__(self, channels: int, *, clamp: float | None = None) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.clamp = clamp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, clamp=self.clamp)


class Blur(nn.Module):
    """Low-pass filter with explicit padding (pad0, pad1), optionally gain-corrected for 2x up."""

    def __init__(self, pad: tuple[int, int], *, upsample_factor: int = 1) -> None:
        super().__init__()
        self.register_buffer("kernel", make_blur_kernel(BLUR_TAPS, gain=upsample_factor**2))
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x upsampling by zero insertion and low-pass filtering (for the RGB skip path)."""

    def __init__(self) -> None:
        super().__init__()
        factor = 2
        self.register_buffer("kernel", make_blur_kernel(BLUR_TAPS, gain=factor**2))
        excess = len(BLUR_TAPS) - factor
        self.pad = ((excess + 1) // 2 + factor - 1, excess // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=2, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Conv whose input channels are scaled per sample by a style from w, then demodulated."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        style_dim: int,
        *,
        demodulate: bool = True,
        upsample: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(
            standard_normal(1, out_channels, in_channels, kernel_size, kernel_size)
        )
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.demodulate = demodulate
        self.upsample = upsample
        self.impl: OpsImpl = "fast"
        if upsample:
            excess = (len(BLUR_TAPS) - 2) - (kernel_size - 1)
            self.blur = Blur(((excess + 1) // 2 + 1, excess // 2 + 1), upsample_factor=2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x [N, I, H, W], w [N, style_dim] -> [N, O, H, W] (or [N, O, 2H, 2W] when upsampling)."""
        styles = self.modulation(w)  # [N, I]
        return modulated_conv2d(
            x,
            self.weight[0] * self.scale,
            styles,
            demodulate=self.demodulate,
            upsample=self.upsample,
            blur_kernel=self.blur.kernel if self.upsample else None,
            blur_pad=self.blur.pad if self.upsample else (0, 0),
            impl=self.impl,
        )


class NoiseInjection(nn.Module):
    """Add a learned multiple of a single-channel noise image."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x [N, C, H, W], noise [N or 1, 1, H, W]."""
        return x + self.weight.to(x.dtype) * noise.to(x.dtype)


class StyledConv(nn.Module):
    """Modulated conv, noise, bias and leaky ReLU: one synthesis layer."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        style_dim: int,
        *,
        upsample: bool = False,
        clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels, clamp=clamp)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, w), noise))


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB (no demodulation), added to the upsampled running image."""

    def __init__(
        self,
        in_channels: int,
        style_dim: int,
        *,
        upsample: bool = True,
        clamp: float | None = None,
    ) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.clamp = clamp

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x [N, C, H, W], skip [N, 3, H/2, W/2] or None -> [N, 3, H, W]."""
        rgb = self.conv(x, w) + self.bias.to(x.dtype)
        if self.clamp is not None:
            rgb = rgb.clamp(-self.clamp, self.clamp)
        if skip is not None:
            rgb = rgb + self.upsample(skip)
        return rgb


class ConstantInput(nn.Module):
    """The learned 4x4 input tensor of the synthesis network."""

    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(standard_normal(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class ConvLayer(nn.Sequential):
    """Discriminator conv: [blur for 2x down] -> equalized conv -> [fused leaky ReLU]."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        downsample: bool = False,
        bias: bool = True,
        activate: bool = True,
        clamp: float | None = None,
    ) -> None:
        layers: list[nn.Module] = []
        if downsample:
            excess = (len(BLUR_TAPS) - 2) + (kernel_size - 1)
            layers.append(Blur(((excess + 1) // 2, excess // 2)))
        layers.append(
            EqualConv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=2 if downsample else 1,
                padding=0 if downsample else kernel_size // 2,
                bias=bias and not activate,
            )
        )
        if activate:
            layers.append(FusedLeakyReLU(out_channels, clamp=clamp))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Residual discriminator block: two 3x3 convs (the second halves the size) plus a 1x1 skip."""

    def __init__(self, in_channels: int, out_channels: int, *, clamp: float | None = None) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3, clamp=clamp)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True, clamp=clamp)
        self.skip = ConvLayer(
            in_channels, out_channels, 1, downsample=True, activate=False, bias=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, I, H, W] -> [N, O, H/2, W/2]."""
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)
