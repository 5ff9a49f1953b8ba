"""The latent projector and the frame it draws in: a W+ input takes the offset's shift on every
layer, and the GAN's images are centre-cropped."""

from __future__ import annotations

import pytest
import torch

from engine.errors import GANliftError
from engine.gan2shape.frames import centre_crop
from engine.gan2shape.latent_offset import LatentProjector
from tests.tiny import tiny_generator


def test_a_w_plus_input_moves_with_its_offset_on_every_layer() -> None:
    """A W+ latent that repeats a w over the layers projects as that w does, layer by layer,
    and its offsets move it."""
    G = tiny_generator(32).requires_grad_(False)
    w = G.mean_latent(64)  # [1, 32]
    projectors = [
        LatentProjector(G, latent, noise="const", offset_layers=3, crop=None, image_size=32)
        for latent in (w, w[:, None].repeat(1, G.num_ws, 1))
    ]
    offset = torch.randn(2, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        moved, moved_plus = (projector.latents(offset) for projector in projectors)
    assert moved_plus.shape == (2, G.num_ws, 32)
    torch.testing.assert_close(moved_plus, moved[:, None].expand_as(moved_plus))
    assert (moved_plus - w[:, None]).abs().amax(dim=(1, 2)).min() > 1e-3


@pytest.mark.parametrize(
    ("side", "crop", "kept"),
    [
        (10, 0.6, range(2, 8)),
        (10, 0.5, range(2, 7)),  # an odd margin: the extra row and column go at the end
        (9, 0.6, range(2, 7)),  # 5.4 rows round to 5
        (8, 1.0, range(8)),
    ],
)
def test_the_centre_crop_keeps_the_middle_rows_and_columns(
    side: int, crop: float, kept: range
) -> None:
    """`round(side · crop)` rows and columns from `(side − kept) // 2` on (a margin off by
    one would shift the frame)."""
    index = torch.arange(side * side, dtype=torch.float32).view(1, 1, side, side)
    expected = index[..., kept.start : kept.stop, kept.start : kept.stop]
    assert torch.equal(centre_crop(index, crop), expected)


def test_offset_layers_outside_the_mapping_network_are_refused() -> None:
    """No layer (the offset added to w unmapped) or more layers than the mapping network has
    is a preset's mistake, named as such."""
    G = tiny_generator(32).requires_grad_(False)
    w = torch.zeros(1, 32)
    for layers in (0, len(G.style) + 1):
        with pytest.raises(GANliftError, match=rf"offset_layers must be in 1\.\.{len(G.style)}"):
            LatentProjector(G, w, noise="const", offset_layers=layers, crop=None, image_size=32)
    accepted = LatentProjector(
        G, w, noise="const", offset_layers=len(G.style), crop=None, image_size=32
    )
    assert len(accepted.tail) == len(G.style)
