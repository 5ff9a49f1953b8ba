"""The inverse graphics network: one image → a deformed icosphere, a texture map and a small
correction of the labelled camera; and the renderer that turns such a prediction back into an
image through the differentiable rasterizer.

The encoder's bottleneck splits into a shape code and a texture code; these are the codes the
mapping network (`engine.styleganr.mapping`) learns to drive the GAN with.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.brief import brief_repr
from engine.config import check_sizes
from engine.render import render_mesh
from engine.styleganr.camera import object_to_camera, projection
from engine.styleganr.icosphere import Icosphere, MeshTopology, icosphere


@dataclass
class InverseGraphicsConfig:
    """Architecture of the inverse graphics network."""

    image_size: int = 64
    """Images are resized to this square size before encoding."""
    width: int = 32
    """Channels of the first encoder block; doubled at each of the four downsamplings."""
    shape_dim: int = 64
    """Length of the shape code."""
    texture_dim: int = 64
    """Length of the texture code."""
    texture_size: int = 32
    """Texture map height; its width is twice this (a spherical map)."""
    subdivisions: int = 3
    """Icosphere subdivisions of the template (3: 642 vertices, as in the paper)."""
    max_offset: float = 0.6
    """Largest per-axis vertex displacement, in object units."""
    max_camera_correction: tuple[float, float, float] = (15.0, 10.0, 0.2)
    """Largest camera refinement: azimuth° and elevation° added, log-scale added."""
    max_shift: float = 0.01
    """Largest image-plane shift of the object, in camera units (0.0875 is half the frame)."""

    def __post_init__(self) -> None:
        check_sizes(
            self,
            {"image_size": 1024, "width": 1024, "shape_dim": 4096, "texture_dim": 4096,
             "texture_size": 1024},
            "The inverse graphics network's ",
        )  # fmt: skip
        if not 0 <= self.subdivisions <= 6:  # 6: 40962 vertices; 14 took minutes to refuse
            raise ValueError(f"subdivisions must be from 0 to 6, got {self.subdivisions}")
        if self.image_size < 16 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 16, got {self.image_size}")
        if self.texture_size < 8 or self.texture_size & (self.texture_size - 1):
            raise ValueError(f"texture_size must be a power of two >= 8, got {self.texture_size}")
        self.max_camera_correction = tuple(float(x) for x in self.max_camera_correction)


@dataclass
class MeshPrediction:
    """What the network predicts for a batch of images."""

    __repr__ = brief_repr  # shapes and sizes, not every value

    shape_code: torch.Tensor
    """``[B, shape_dim]``."""
    texture_code: torch.Tensor
    """``[B, texture_dim]``."""
    vertices: torch.Tensor
    """``[B, V, 3]`` object coordinates of the deformed icosphere."""
    deformation: torch.Tensor
    """``[B, V, 3]`` displacement of each vertex from the axis-scaled template."""
    texture: torch.Tensor
    """``[B, 3, T, 2T]`` texture map in [-1, 1]."""
    camera_correction: torch.Tensor
    """``[B, 3]`` added to a camera's (azimuth°, elevation°, log scale)."""
    shift: torch.Tensor
    """``[B, 2]`` camera-space x/y shift of the object (framing the camera does not model)."""


class InverseGraphicsNet(nn.Module):
    """Image ``[B, 3, H, W]`` in [-1, 1] → `MeshPrediction`."""

    def __init__(self, config: InverseGraphicsConfig) -> None:
        super().__init__()
        self.config = config
        template = icosphere(config.subdivisions)
        self._boundary_edges = template.topology.boundary_edges
        for name, tensor in (
            ("vertices", template.vertices),
            ("faces", template.faces),
            ("uv", template.uv),
            ("uv_faces", template.uv_faces),
            ("edges", template.topology.edges),
            ("edge_faces", template.topology.edge_faces),
        ):  # buffers, so that they move with the network; not saved: rebuilt from the config
            self.register_buffer(f"template_{name}", tensor, persistent=False)
        channels = [config.width * 2**k for k in range(5)]
        blocks: list[nn.Module] = [nn.Conv2d(3, channels[0], 3, padding=1), nn.LeakyReLU(0.2)]
        for c_in, c_out in itertools.pairwise(channels):
            blocks += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.encoder = nn.Sequential(*blocks)
        feature_dim = channels[-1] * (config.image_size // 16) ** 2
        self.to_codes = nn.Linear(feature_dim, config.shape_dim + config.texture_dim + 5)
        num_vertices = len(template.vertices)
        self.shape_decoder = nn.Sequential(
            nn.Linear(config.shape_dim, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, num_vertices * 3 + 3),
        )
        self.texture_seed = nn.Linear(config.texture_dim, channels[2] * 4 * 8)
        texture_blocks: list[nn.Module] = []
        in_channels = channels[2]
        for _ in range(int(math.log2(config.texture_size // 4))):
            out_channels = max(in_channels // 2, 16)
            texture_blocks += [
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, 3, padding=1),
                nn.LeakyReLU(0.2),
            ]
            in_channels = out_channels
        texture_blocks += [nn.Conv2d(in_channels, 3, 3, padding=1), nn.Tanh()]
        self.texture_decoder = nn.Sequential(*texture_blocks)
        with torch.no_grad():  # start from the plain sphere and the labelled camera
            self.shape_decoder[-1].weight.mul_(0.01)
            self.shape_decoder[-1].bias.zero_()

    @property
    def template(self) -> Icosphere:
        """The template mesh, where the network is (its tensors are the network's buffers)."""
        return Icosphere(
            vertices=self.template_vertices,
            faces=self.template_faces,
            uv=self.template_uv,
            uv_faces=self.template_uv_faces,
            topology=MeshTopology(
                self.template_faces,
                self.template_edges,
                self.template_edge_faces,
                self._boundary_edges,
            ),
        )

    def encode(
        self, image: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Shape code ``[B, Ds]``, texture code ``[B, Dt]``, camera correction ``[B, 3]`` and
        shift ``[B, 2]``."""
        size = self.config.image_size
        if image.shape[-2:] != (size, size):
            image = F.interpolate(image, size=(size, size), mode="bilinear", antialias=True)
        features = self.encoder(image).flatten(1)  # [B, C * s * s]
        codes = self.to_codes(features)
        shape_code, texture_code, camera, shift = codes.split(
            [self.config.shape_dim, self.config.texture_dim, 3, 2], dim=1
        )
        limits = camera.new_tensor(self.config.max_camera_correction)
        return (
            shape_code,
            texture_code,
            limits * torch.tanh(camera),
            self.config.max_shift * torch.tanh(shift),
        )

    def decode_shape(self, shape_code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Vertices ``[B, V, 3]`` and their displacement from the axis-scaled template."""
        decoded = self.shape_decoder(shape_code)  # [B, 3 + V*3]
        axis_scale = torch.exp(decoded[:, :3])[:, None]  # [B, 1, 3]
        deformation = self.config.max_offset * torch.tanh(
            decoded[:, 3:].reshape(len(decoded), -1, 3)
        )
        vertices = self.template_vertices * axis_scale + deformation  # [B, V, 3]
        return vertices, deformation

    def decode_texture(self, texture_code: torch.Tensor) -> torch.Tensor:
        """Texture maps ``[B, 3, T, 2T]`` in [-1, 1]."""
        seed = self.texture_seed(texture_code).reshape(len(texture_code), -1, 4, 8)
        return self.texture_decoder(F.leaky_relu(seed, 0.2))

    def decode(self, shape_code: torch.Tensor, texture_code: torch.Tensor) -> MeshPrediction:
        """The mesh and texture of given codes (camera correction zero)."""
        vertices, deformation = self.decode_shape(shape_code)
        return MeshPrediction(
            shape_code=shape_code,
            texture_code=texture_code,
            vertices=vertices,
            deformation=deformation,
            texture=self.decode_texture(texture_code),
            camera_correction=shape_code.new_zeros(len(shape_code), 3),
            shift=shape_code.new_zeros(len(shape_code), 2),
        )

    def forward(self, image: torch.Tensor) -> MeshPrediction:
        """Predict mesh, texture and camera correction for ``image [B, 3, H, W]``."""
        shape_code, texture_code, camera_correction, shift = self.encode(image)
        prediction = self.decode(shape_code, texture_code)
        prediction.camera_correction = camera_correction
        prediction.shift = shift
        return prediction


def refine_camera(camera: torch.Tensor, correction: torch.Tensor) -> torch.Tensor:
    """Apply a correction ``[B, 3]`` (Δazimuth°, Δelevation°, Δlog scale) to cameras ``[B, 3]``."""
    angles = camera[:, :2] + correction[:, :2]
    scale = camera[:, 2:] * torch.exp(correction[:, 2:])
    return torch.cat([angles, scale], 1)


@dataclass
class MeshImage:
    """A prediction rendered in a camera."""

    __repr__ = brief_repr  # shapes and sizes, not every value

    image: torch.Tensor
    """``[B, 3, H, W]`` the textured mesh over the given background."""
    mask: torch.Tensor
    """``[B, 1, H, W]`` soft (antialiased) silhouette."""


def render_prediction(
    vertices: torch.Tensor,
    texture: torch.Tensor,
    template: Icosphere,
    camera: torch.Tensor,
    *,
    size: int,
    shift: torch.Tensor | None = None,
    background: torch.Tensor | float = -1.0,
) -> MeshImage:
    """Render meshes ``[B, V, 3]`` (object coordinates, the template's faces and UVs) with
    textures ``[B, 3, T, 2T]`` in cameras ``[B, 3]`` at ``size``², moved by camera-space
    ``shift [B, 2]`` if given, over ``background`` (a float or ``[B, 3, size, size]``).
    Antialiased, so silhouettes pass gradients."""
    points = object_to_camera(vertices, camera)  # [B, V, 3]
    if shift is not None:
        points = points + F.pad(shift, (0, 1))[:, None]
    result = render_mesh(
        points,
        template.faces,
        (size, size),
        projection=projection(size, vertices.device),
        uv=template.uv[None],
        uv_faces=template.uv_faces,
        texture=texture,
        background=background,
        antialias=True,
    )
    return MeshImage(image=result.image, mask=result.mask)
