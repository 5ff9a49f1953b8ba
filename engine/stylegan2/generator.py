"""StyleGAN2 generator: mapping network z -> w and synthesis network w / W+ -> image.

State-dict keys and shapes are those of the compact PyTorch port (`style.N`, `input.input`,
`conv1`, `to_rgb1`, `convs.N`, `to_rgbs.N`, `noises.noise_N`), so its checkpoints load with
`strict=True`. Images are [N, 3, size, size] in [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from engine.errors import GANliftError
from engine.stylegan2.config import GeneratorConfig
from engine.stylegan2.layers import (
    ConstantInput,
    EqualLinear,
    ModulatedConv2d,
    PixelNorm,
    StyledConv,
    ToRGB,
    standard_normal,
)
from engine.stylegan2.ops import OpsImpl
from engine.wording import type_phrase

NoiseSpec = Literal["const", "random"] | Sequence[torch.Tensor]
""""const": the stored noise buffers (reproducible); "random": fresh noise; or one tensor
[N or 1, 1, res, res] per noise input (see `Generator.noise_shapes`)."""


def check_truncation(truncation: object, what: str = "The truncation") -> float:
    """`truncation` (psi: 0 draws the mean w, 1 leaves w as it is, above 1 exaggerates) as a
    float, or a GANliftError naming `what`: NaN drew NaN images and a negative psi mirrored w
    through the mean."""
    number = not isinstance(truncation, bool | str)  # float() reads "0.7" and True
    try:
        value = float(truncation) if number else math.nan  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not (value >= 0 and math.isfinite(value)):
        raise GANliftError(f"{what} must be a finite number of 0 or more, got {truncation}.")
    return value


class Generator(nn.Module):
    """StyleGAN2 generator with the common state-dict layout and a fast CPU path."""

    latent_avg: torch.Tensor | None

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        channels = config.channels
        self.style = nn.Sequential(
            PixelNorm(),
            *(
                EqualLinear(config.style_dim, config.style_dim, lr_mul=config.lr_mlp, activate=True)
                for _ in range(config.n_mlp)
            ),
        )
        self.input = ConstantInput(channels[4])
        self.conv1 = StyledConv(channels[4], channels[4], config.style_dim, clamp=config.conv_clamp)
        self.to_rgb1 = ToRGB(channels[4], config.style_dim, upsample=False, clamp=config.conv_clamp)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_channels = channels[4]
        for log_res in range(3, config.log_size + 1):
            out_channels = channels[2**log_res]
            self.convs.append(
                StyledConv(
                    in_channels,
                    out_channels,
                    config.style_dim,
                    upsample=True,
                    clamp=config.conv_clamp,
                )
            )
            self.convs.append(
                StyledConv(out_channels, out_channels, config.style_dim, clamp=config.conv_clamp)
            )
            self.to_rgbs.append(ToRGB(out_channels, config.style_dim, clamp=config.conv_clamp))
            in_channels = out_channels
        self.noises = nn.Module()
        for index, shape in enumerate(self.noise_shapes()):
            self.noises.register_buffer(f"noise_{index}", standard_normal(*shape))
        self.register_buffer("latent_avg", None, persistent=False)
        self.impl: OpsImpl = "fast"

    @property
    def num_ws(self) -> int:
        """Number of w vectors in a W+ latent."""
        return self.config.num_ws

    @property
    def style_dim(self) -> int:
        """Width of z and w."""
        return self.config.style_dim

    def noise_shapes(self) -> list[tuple[int, int, int, int]]:
        """Shapes [1, 1, res, res] of the noise inputs, in layer order."""
        shapes = [(1, 1, 4, 4)]
        for log_res in range(3, self.config.log_size + 1):
            shapes += [(1, 1, 2**log_res, 2**log_res)] * 2
        return shapes

    def set_impl(self, impl: OpsImpl) -> Generator:
        """Choose the fast (default) or the reference implementation of the ops; returns self."""
        self.impl = impl
        for module in self.modules():
            if isinstance(module, ModulatedConv2d):
                module.impl = impl
        return self

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """z [N, style_dim] -> w [N, style_dim]."""
        _check_latent(z, "z", (self.style_dim,))
        return self.style(z)

    @torch.no_grad()
    def mean_latent(
        self, n: int = 4096, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The mean w [1, style_dim] of `n` random z (the usual truncation centre), drawn where
        `generator` lives (a CPU generator draws the same z whatever device the model is on)."""
        device = self.input.input.device
        drawn_on = device if generator is None else generator.device
        z = torch.randn(n, self.style_dim, generator=generator, device=drawn_on)
        return self.mapping(z.to(device, self.input.input.dtype)).mean(dim=0, keepdim=True)

    def truncation_centre(self) -> torch.Tensor:
        """The w ``[1, style_dim]`` truncation pulls towards: the stored `latent_avg`, else the
        mean of 4096 z drawn from seed 0 on the CPU, so every caller, every sample seed and
        every device shares it."""
        if self.latent_avg is not None:
            return self.latent_avg.reshape(1, -1)
        return self.mean_latent(4096, generator=torch.Generator().manual_seed(0))

    def make_noise(
        self, batch: int = 1, *, generator: torch.Generator | None = None
    ) -> list[torch.Tensor]:
        """Fresh noise inputs [batch, 1, res, res], one per layer (e.g. to optimise them), drawn
        where `generator` lives, as `mean_latent` draws."""
        device = self.input.input.device
        drawn_on = device if generator is None else generator.device
        return [
            torch.randn(batch, *shape[1:], generator=generator, device=drawn_on).to(device)
            for shape in self.noise_shapes()
        ]

    def synthesis(self, ws: torch.Tensor, noise: NoiseSpec = "const") -> torch.Tensor:
        """ws [N, style_dim] or W+ [N, num_ws, style_dim] -> image [N, 3, size, size]."""
        ws = self._broadcast_ws(ws)
        batch = ws.shape[0]
        noises = self._noise_inputs(noise, batch, ws)
        x = self.input(batch).to(ws.dtype)  # [N, C4, 4, 4]
        if self.impl == "fast":
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.conv1(x, ws[:, 0], noises[0])
        image = self.to_rgb1(x, ws[:, 1])  # [N, 3, 4, 4]
        for block, to_rgb in enumerate(self.to_rgbs):
            layer = 2 * block
            x = self.convs[layer](x, ws[:, layer + 1], noises[layer + 1])  # [N, C, 2H, 2W]
            x = self.convs[layer + 1](x, ws[:, layer + 2], noises[layer + 2])
            image = to_rgb(x, ws[:, layer + 3], image)  # [N, 3, 2H, 2W]
        return image.contiguous()

    def forward(
        self,
        z: torch.Tensor,
        *,
        truncation: float = 1.0,
        truncation_latent: torch.Tensor | None = None,
        noise: NoiseSpec = "const",
        mix_z: torch.Tensor | None = None,
        mix_index: int | None = None,
    ) -> torch.Tensor:
        """z [N, style_dim] -> image [N, 3, size, size].

        truncation < 1 pulls every w towards `truncation_latent` (default: the checkpoint's
        `latent_avg`). With `mix_z`, layers from `mix_index` on (random in [1, num_ws - 1]
        when None) take their w from `mix_z` instead (style mixing).
        """
        ws = [self.mapping(z)]
        if mix_z is not None:
            ws.append(self.mapping(mix_z))
            if len(mix_z) != len(z):
                raise GANliftError(
                    f"mix_z must hold one z per z (a batch of {len(z)}), got {len(mix_z)}."
                )
        truncation = check_truncation(truncation)
        if truncation != 1.0:
            centre = self._checked_centre(truncation_latent)
            ws = [torch.lerp(centre.to(w.dtype), w, truncation) for w in ws]
        if mix_z is None:
            return self.synthesis(ws[0], noise)
        if mix_index is None:
            mix_index = int(torch.randint(1, self.num_ws, ()).item())
        if not 0 <= mix_index <= self.num_ws:
            raise GANliftError(f"mix_index {mix_index} is outside 0..{self.num_ws}.")
        wplus = torch.cat(
            [
                ws[0][:, None].expand(-1, mix_index, -1),
                ws[1][:, None].expand(-1, self.num_ws - mix_index, -1),
            ],
            dim=1,
        )  # [N, num_ws, style_dim]
        return self.synthesis(wplus, noise)

    def _checked_centre(self, truncation_latent: torch.Tensor | None) -> torch.Tensor:
        """The w [1, style_dim] `forward` pulls towards: the given one, else `latent_avg`."""
        centre = truncation_latent if truncation_latent is not None else self.latent_avg
        if centre is None:
            raise GANliftError(
                "Truncation needs a centre: pass truncation_latent=G.mean_latent() or load a "
                "checkpoint that stores latent_avg."
            )
        if centre.numel() != self.style_dim:
            raise GANliftError(
                f"The truncation centre must be one w [1, {self.style_dim}], got "
                f"{list(centre.shape)}."
            )
        return centre.reshape(1, self.style_dim)

    def _broadcast_ws(self, ws: torch.Tensor) -> torch.Tensor:
        """Accept w [N, D] or W+ [N, num_ws, D]; return W+."""
        _check_latent(ws, "latent", (self.style_dim,), (self.num_ws, self.style_dim))
        return ws[:, None].expand(-1, self.num_ws, -1) if ws.ndim == 2 else ws

    def _noise_inputs(self, noise: NoiseSpec, batch: int, like: torch.Tensor) -> list[torch.Tensor]:
        """One noise tensor per layer, in the dtype and on the device of `like`."""
        if noise == "const":
            buffers = [getattr(self.noises, f"noise_{i}") for i in range(self.config.num_noises)]
            return [buffer.to(like.dtype) for buffer in buffers]
        if noise == "random":
            return [
                torch.randn(batch, *shape[1:], device=like.device, dtype=like.dtype)
                for shape in self.noise_shapes()
            ]
        if isinstance(noise, str) or len(noise) != self.config.num_noises:
            raise GANliftError(
                f"Noise must be 'const', 'random' or a list of {self.config.num_noises} tensors."
            )
        return list(noise)


def _check_latent(latent: object, name: str, *shapes: tuple[int, ...]) -> None:
    """Refuse anything but a float tensor `[N, *shape]` for one of `shapes`, naming `name`."""
    forms = " or ".join(f"[N, {', '.join(map(str, shape))}]" for shape in shapes)
    if not isinstance(latent, torch.Tensor):
        raise GANliftError(
            f"The generator's {name} must be a torch tensor {forms}, got "
            f"{type_phrase(latent)}; use torch.from_numpy or torch.tensor."
        )
    if latent.shape[1:] not in shapes or len(latent) == 0:
        raise GANliftError(f"The generator's {name} must be {forms}, got {list(latent.shape)}.")
    if not latent.is_floating_point():
        raise GANliftError(f"The generator's {name} must be floats, got {latent.dtype}.")
