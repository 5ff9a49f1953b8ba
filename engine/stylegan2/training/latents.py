"""The random inputs of the generator during training: latents, style-mixing cut-offs, noise.

All of them are drawn for the whole global batch from the run's one CPU random stream, then
each process keeps its shard. So a resumed run draws exactly what an uninterrupted one would,
and N processes see exactly the inputs of one process with the same global batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.distributed import ProcessGroup
from engine.stylegan2 import Generator


@dataclass
class LatentDraw:
    """Generator inputs for one batch."""

    z: torch.Tensor
    """Main latents [B, style_dim]."""
    mix_z: torch.Tensor
    """Second latents [B, style_dim] for style mixing."""
    cutoff: torch.Tensor
    """[B] int64: layers from this index on take their w from `mix_z` (num_ws: no mixing)."""
    noise: list[torch.Tensor]
    """One [B, 1, res, res] noise image per noise input of the generator."""

    @classmethod
    def draw(
        cls, rng: torch.Generator, *, batch: int, generator: Generator, mixing_prob: float
    ) -> LatentDraw:
        """Draw the inputs of `batch` images; each image mixes styles with `mixing_prob`."""
        style_dim, num_ws = generator.style_dim, generator.num_ws
        z = torch.randn(batch, style_dim, generator=rng)
        mix_z = torch.randn(batch, style_dim, generator=rng)
        mixed = torch.rand(batch, generator=rng) < mixing_prob
        cutoff = torch.randint(1, num_ws, (batch,), generator=rng)
        noise = [
            torch.randn(batch, *shape[1:], generator=rng) for shape in generator.noise_shapes()
        ]
        return cls(z, mix_z, torch.where(mixed, cutoff, num_ws), noise)

    def shard(self, group: ProcessGroup, device: torch.device) -> LatentDraw:
        """This process's share, moved to `device`."""
        return LatentDraw(
            z=group.shard(self.z).to(device),
            mix_z=group.shard(self.mix_z).to(device),
            cutoff=group.shard(self.cutoff).to(device),
            noise=[group.shard(noise).to(device) for noise in self.noise],
        )


def generate(generator: Generator, draw: LatentDraw) -> tuple[torch.Tensor, torch.Tensor]:
    """Images `[B, 3, H, W]` and the W+ latents `[B, num_ws, style_dim]` they were made from."""
    w_main, w_mix = generator.mapping(torch.cat([draw.z, draw.mix_z])).chunk(2)  # [B, D] each
    layer = torch.arange(generator.num_ws, device=draw.cutoff.device)  # [L]
    take_main = (layer[None, :] < draw.cutoff[:, None])[:, :, None]  # [B, L, 1]
    ws = torch.where(take_main, w_main[:, None], w_mix[:, None])  # [B, L, D]
    return generator.synthesis(ws, noise=draw.noise), ws
