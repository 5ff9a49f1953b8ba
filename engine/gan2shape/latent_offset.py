"""Projection onto the GAN's image manifold with a latent-offset encoder (GAN2Shape step 2).

The encoder maps an image to an offset h in the hidden space before the mapping network's
last layers T; the image's latent is w₀ + T(h + h₀) − T(h₀), where w₀ is the input's
inverted latent and h₀ = head(0) the hidden code of z = 0, so a zero offset reproduces w₀.
Step 2 regularises the shift it makes in W, T(h + h₀) − T(h₀), as the release does. With a
relative offset the encoder's output for the GAN's reconstruction of the input is subtracted
first.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.errors import GANliftError
from engine.gan2shape.frames import to_network_frame
from engine.stylegan2 import Generator, NoiseSpec


class LatentProjector:
    """Images in the networks' frame -> latents and images of the generator."""

    def __init__(
        self,
        G: Generator,
        latent: torch.Tensor,
        *,
        noise: NoiseSpec,
        offset_layers: int,
        crop: float | None,
        image_size: int,
        reference: torch.Tensor | None = None,
    ) -> None:
        """`latent` is the input's w `[1, D]` or W+ `[1, num_ws, D]`; `reference [1, 3, S, S]`
        (the GAN's reconstruction of the input) makes offsets relative to its encoding."""
        if not 1 <= offset_layers <= len(G.style):
            raise GANliftError(
                f"offset_layers must be in 1..{len(G.style)} for this generator's mapping "
                f"network, got {offset_layers}; fix the preset."
            )
        split = len(G.style) - offset_layers
        self.G = G
        self.latent = latent
        self.noise = noise
        self.crop = crop
        self.image_size = image_size
        self.reference = reference
        self.head = G.style[:split]
        self.tail = G.style[split:]
        with torch.no_grad():
            self.hidden_centre = self.head(latent.new_zeros(1, G.style_dim))  # [1, D]
            self.latent_centre = self.tail(self.hidden_centre)  # [1, D]

    def offsets(self, encoder: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """Hidden-space offsets `[B, D]` of `images [B, 3, S, S]`."""
        offset = encoder(images)
        if self.reference is not None:
            offset = offset - encoder(self.reference)
        return offset

    def shift(self, offset: torch.Tensor) -> torch.Tensor:
        """The shifts in W `[B, D]` that hidden-space offsets `[B, D]` make."""
        return self.tail(offset + self.hidden_centre) - self.latent_centre

    def latents(self, offset: torch.Tensor) -> torch.Tensor:
        """Latents `[B, D]` (or `[B, num_ws, D]` for a W+ input) for offsets `[B, D]`."""
        shift = self.shift(offset)  # [B, D]
        if self.latent.dim() == 3:
            shift = shift[:, None]  # [B, 1, D]
        return self.latent + shift

    def generate(self, latents: torch.Tensor) -> torch.Tensor:
        """The generator's images `[B, 3, size, size]` in [-1, 1] for latents."""
        return self.G.synthesis(latents, noise=self.noise).clamp(-1, 1)

    def frame(self, generated: torch.Tensor) -> torch.Tensor:
        """Generated images `[B, 3, G, G]` in the networks' frame `[B, 3, S, S]`."""
        return to_network_frame(generated, crop=self.crop, size=self.image_size)

    def project(
        self, encoder: nn.Module, images: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(projected images `[B, 3, S, S]` in the networks' frame, offsets `[B, D]`)."""
        offset = self.offsets(encoder, images)
        return self.frame(self.generate(self.latents(offset))), offset
