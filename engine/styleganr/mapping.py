"""The disentangling mapping network: interpretable codes → the GAN's W+.

A camera (azimuth, elevation, scale) alone produces the view layers (the first L rows of W+).
Shape, texture and background codes each produce a candidate for the content layers (the
rest); a learned soft mask per W+ dimension — a softmax over the three parts — mixes them:
``w_content = m_shape ⊙ f_shape(shape) + m_texture ⊙ f_texture(texture)
+ m_background ⊙ f_background(background)``. So by construction the camera never touches a
content layer and the codes never touch a view layer, and a part whose mask is ~0 in a
dimension cannot move that dimension.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.brief import brief_repr
from engine.config import check_sizes

PARTS = ("shape", "texture", "background")
"""The content parts, in the order of the soft masks' first axis."""

BACKGROUND_GRID = 4
"""The background code is a BACKGROUND_GRID² RGB thumbnail of the image behind the object."""


@dataclass
class StyleCodes:
    """The interpretable codes of a batch of samples."""

    __repr__ = brief_repr  # shapes and sizes, not every value

    camera: torch.Tensor
    """``[N, 3]`` (azimuth°, elevation°, scale)."""
    shape: torch.Tensor
    """``[N, Ds]`` the inverse graphics network's shape code."""
    texture: torch.Tensor
    """``[N, Dt]`` its texture code."""
    background: torch.Tensor
    """``[N, 3·BACKGROUND_GRID²]`` thumbnail of the background in [-1, 1]."""

    def part(self, name: str) -> torch.Tensor:
        """The code of one part ("camera" or one of `PARTS`)."""
        return getattr(self, name)

    def first(self, count: int) -> StyleCodes:
        """The codes of the first ``count`` samples."""
        return StyleCodes(*(value[:count] for value in self.__dict__.values()))

    def detach(self) -> StyleCodes:
        """The same codes without gradient history."""
        return StyleCodes(*(value.detach() for value in self.__dict__.values()))


@dataclass
class MappingConfig:
    """Shape of the mapping network and the GAN it drives."""

    num_ws: int
    """W+ rows of the generator."""
    style_dim: int
    """Width of w."""
    num_view_layers: int
    """Leading W+ rows driven by the camera (the paper: 4 of 16)."""
    shape_dim: int
    texture_dim: int
    hidden: int = 256
    """Width of each part's hidden layer."""

    def __post_init__(self) -> None:
        check_sizes(
            self,
            {"num_ws": 64, "style_dim": 4096, "shape_dim": 4096, "texture_dim": 4096,
             "hidden": 4096},
            "The mapping network's ",
        )  # fmt: skip
        if not 1 <= self.num_view_layers < self.num_ws:
            raise ValueError(
                f"num_view_layers must be in 1..{self.num_ws - 1}, got {self.num_view_layers}"
            )

    @property
    def background_dim(self) -> int:
        """Length of the background code."""
        return 3 * BACKGROUND_GRID**2


def camera_features(camera: torch.Tensor) -> torch.Tensor:
    """Continuous inputs ``[N, 4]`` for cameras ``[N, 3]``: sin/cos azimuth, elevation in
    radians, log scale (so 359° and 1° are neighbours)."""
    azimuth, elevation = torch.deg2rad(camera[:, 0]), torch.deg2rad(camera[:, 1])
    return torch.stack([azimuth.sin(), azimuth.cos(), elevation, camera[:, 2].log()], 1)


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    last = nn.Linear(hidden, out_dim)
    with torch.no_grad():
        last.weight.mul_(0.1)
        last.bias.zero_()
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(0.2), last)


class MappingNetwork(nn.Module):
    """`StyleCodes` → W+ ``[N, num_ws, style_dim]``, around the GAN's mean w."""

    def __init__(self, config: MappingConfig, mean_w: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        view_size = config.num_view_layers * config.style_dim
        content_size = (config.num_ws - config.num_view_layers) * config.style_dim
        self.camera_net = _mlp(4, config.hidden, view_size)
        self.part_nets = nn.ModuleDict(
            {
                "shape": _mlp(config.shape_dim, config.hidden, content_size),
                "texture": _mlp(config.texture_dim, config.hidden, content_size),
                "background": _mlp(config.background_dim, config.hidden, content_size),
            }
        )
        self.mask_logits = nn.Parameter(
            torch.zeros(len(PARTS), config.num_ws - config.num_view_layers, config.style_dim)
        )
        initial = torch.zeros(config.style_dim) if mean_w is None else mean_w.reshape(-1)
        self.register_buffer("mean_w", initial.clone())

    def masks(self) -> torch.Tensor:
        """Soft assignment ``[3, num_content_layers, style_dim]`` of each content dimension to
        shape / texture / background; sums to 1 over the first axis."""
        return torch.softmax(self.mask_logits, 0)

    def view_layers(self, camera: torch.Tensor) -> torch.Tensor:
        """The view rows ``[N, L, D]`` of a camera ``[N, 3]``."""
        offset = self.camera_net(camera_features(camera))
        return self.mean_w + offset.reshape(len(camera), self.config.num_view_layers, -1)

    def content_layers(self, codes: StyleCodes) -> torch.Tensor:
        """The content rows ``[N, num_ws - L, D]``, mixed from the parts by the soft masks."""
        masks = self.masks()
        mixed = 0
        for index, name in enumerate(PARTS):
            code = codes.part(name)
            part = self.part_nets[name](code).reshape(len(code), masks.shape[1], -1)
            mixed = mixed + masks[index] * part
        return self.mean_w + mixed

    def forward(self, codes: StyleCodes) -> torch.Tensor:
        """W+ ``[N, num_ws, D]`` of ``codes``."""
        return torch.cat([self.view_layers(codes.camera), self.content_layers(codes)], 1)


def mask_entropy(masks: torch.Tensor) -> torch.Tensor:
    """Mean entropy (nats) of the per-dimension assignment ``[3, ...]``: 0 when every dimension
    belongs to one part, log 3 when shared equally. Minimising it hardens the masks."""
    return -(masks * masks.clamp_min(1e-12).log()).sum(0).mean()


def background_code(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The background thumbnail ``[N, 3·G²]`` of ``image [N, 3, H, W]`` behind the object
    ``mask [N, 1, H, W]``: each cell averages its background pixels; cells the object covers
    take the mean background colour of the image."""
    background = 1 - mask
    weight = F.adaptive_avg_pool2d(background, BACKGROUND_GRID)  # [N, 1, G, G]
    colour = F.adaptive_avg_pool2d(image * background, BACKGROUND_GRID)  # [N, 3, G, G]
    overall = (image * background).sum((2, 3), keepdim=True) / (
        background.sum((2, 3), keepdim=True) + 1e-6
    )  # [N, 3, 1, 1]
    cell = colour / weight.clamp_min(1e-6)
    blend = (weight / (weight + 0.05)).clamp(0, 1)  # trust cells with enough background
    return (blend * cell + (1 - blend) * overall).flatten(1)
