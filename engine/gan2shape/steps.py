"""The losses of GAN2Shape's prior fit and three steps, and the projected-sample cache.

- prior fit: the depth net learns to output the ellipsoid prior (MSE);
- step 1: reconstruct the input image through depth, albedo, view and light;
- step 2: render the current shape under random views and lights (pseudo samples) and project
  them onto the GAN manifold with the latent-offset encoder (L1 + discriminator-feature L1 +
  offset² penalty); when the step ends, a cache of projected samples is collected;
- step 3: the step-1 loss plus reconstructing projected samples with the input's canonical
  depth and albedo under their own predicted views and lights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.gan2shape.latent_offset import LatentProjector
from engine.gan2shape.losses import (
    masked_feature_l1,
    masked_l1,
    smoothness,
)
from engine.gan2shape.networks import Gan2ShapeNetworks
from engine.gan2shape.parametrisation import compose_image, depth_from_raw, view_from_raw
from engine.gan2shape.photogeometry import (
    Decomposition,
    canonical_to_view_grid,
    decompose,
    predict_light,
    predict_view,
    render_in_views,
)
from engine.gan2shape.presets import Gan2ShapePreset
from engine.gan2shape.sampling import sample_pseudo_lights, sample_pseudo_views
from engine.perceptual import PerceptualLoss, distance_to
from engine.progress import StopFn
from engine.render import shade, warp_images
from engine.stylegan2 import Discriminator, bf16_autocast


@dataclass
class Target:
    """The image being lifted, in the networks' frame, and its GAN inversion."""

    image: torch.Tensor  # [1, 3, S, S] in [-1, 1]
    mask: torch.Tensor  # [1, 1, S, S] object mask in [0, 1]
    latent: torch.Tensor  # [1, D] w or [1, num_ws, D] W+
    noises: list[torch.Tensor]  # noise maps [1, 1, r, r]; empty: the generator's stored ones
    gan_image: torch.Tensor  # [1, 3, S, S] the generator's image of `latent`
    psnr: float
    """PSNR of the inversion in the GAN's frame, dB."""
    mask_given: bool = False
    """Whether `recover` was given `mask` (an all-white one then says the whole frame is the
    object) rather than making one for want of it (the whole frame, or GrabCut's where the
    preset masks)."""


@dataclass
class StepContext:
    """What every step needs; fixed for one image."""

    preset: Gan2ShapePreset
    networks: Gan2ShapeNetworks
    target: Target
    discriminator: Discriminator
    perceptual: PerceptualLoss
    projector: LatentProjector
    rng: torch.Generator
    bf16: bool = False
    """Run the generator, discriminator and perceptual passes under bfloat16 autocast (where
    the hardware supports it); the photo-geometric model and renderer stay in float32."""


@dataclass
class ShapeSnapshot:
    """The current canonical shape of the input that step 2 re-renders."""

    depth: torch.Tensor  # [1, S, S]
    albedo: torch.Tensor  # [1, 3, S, S]
    light: torch.Tensor  # [1, 4]
    normal: torch.Tensor  # [1, 3, S, S]
    mask: torch.Tensor  # [1, 1, S, S] object mask in the canonical frame (ones without masks)


@dataclass
class ProjectedCache:
    """Projected samples collected after step 2 and consumed in batches by step 3."""

    images: torch.Tensor  # [N, 3, S, S] on the CPU
    masks: torch.Tensor  # [N, 1, S, S] on the CPU
    cursor: int = 0

    def next_batch(
        self, size: int, *, rng: torch.Generator, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The next `size` samples (images, masks); reshuffled when the end is near."""
        self.cursor += size
        if self.cursor + size >= self.images.shape[0]:
            self.cursor = 0
            order = torch.randperm(self.images.shape[0], generator=rng)
            self.images, self.masks = self.images[order], self.masks[order]
        window = slice(self.cursor, self.cursor + size)
        return self.images[window].to(device), self.masks[window].to(device)


def prior_loss(context: StepContext, prior: torch.Tensor) -> torch.Tensor:
    """MSE between the depth net's (unpinned) depth and the prior `[1, S, S]`."""
    raw = context.networks.depth_net(context.target.image)  # [1, 1, S, S]
    depth = depth_from_raw(raw, context.preset.camera, pin_border=False)
    return F.mse_loss(depth, prior)


def reconstruction_loss(context: StepContext, *, flip: bool) -> tuple[torch.Tensor, Decomposition]:
    """Step 1: L1 + perceptual between the input and its reconstruction (and, with `flip`, the
    reconstruction from the mirrored shape), plus smoothness of depth and diffuse shading."""
    target = context.target
    return autoencoder_loss(
        context.networks, context.preset, context.perceptual, target.image, target.mask,
        flip=flip, bf16=context.bf16,
    )  # fmt: skip


def autoencoder_loss(
    networks: Gan2ShapeNetworks,
    preset: Gan2ShapePreset,
    perceptual: PerceptualLoss,
    image: torch.Tensor,
    mask: torch.Tensor,
    *,
    flip: bool,
    bf16: bool = False,
) -> tuple[torch.Tensor, Decomposition]:
    """Step 1's loss for a batch of images `[B, 3, S, S]` with object masks `[B, 1, S, S]`
    (joint pretraining's warm-up trains on such batches); with the preset's `mask_input` the
    photometric terms count only the object mask."""
    parts = decompose(networks, image, preset, flip=flip)
    recon, covered = render_in_views(parts.image, parts.depth, parts.view)  # [cB, 3, S, S]
    copies = 2 if flip else 1
    seen = covered.unflatten(0, (copies, -1)).prod(dim=0)  # [B, 1, S, S] seen by every copy
    if preset.mask_input:
        seen = seen * mask
    loss = preset.smooth_weight * (smoothness(parts.depth) + smoothness(parts.diffuse))
    terms = _photometric_terms(preset, perceptual, recon.chunk(copies), image, seen, bf16=bf16)
    return sum(terms, loss), parts


def take_snapshot(context: StepContext) -> ShapeSnapshot:
    """The input's current shape, albedo and light (no gradients)."""
    with torch.no_grad():
        parts = decompose(context.networks, context.target.image, context.preset)
        mask = torch.ones_like(parts.depth[:, None])  # [1, 1, S, S]
        if context.preset.use_mask:
            mask = canonical_mask(parts.depth, parts.view, context.target.mask)
    return ShapeSnapshot(parts.depth, parts.albedo, parts.light, parts.normal, mask)


def canonical_mask(depth: torch.Tensor, view: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """An image-frame mask `[1, 1, S, S]` pulled into the canonical frame of the surface
    `depth [1, S, S]` seen in `view [1, 6]`."""
    grid = canonical_to_view_grid(depth[:1], view[:1])  # [1, S, S, 2]
    return F.grid_sample(mask, grid, mode="bilinear", align_corners=True).clamp(0, 1)


def pseudo_samples(
    context: StepContext, snapshot: ShapeSnapshot, count: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` renderings of the snapshot under random views and lights:
    (images `[count, 3, S, S]`, masks `[count, 1, S, S]`)."""
    preset, device = context.preset, snapshot.depth.device
    with torch.no_grad():
        lights = sample_pseudo_lights(preset, snapshot.light, count, generator=context.rng)
        shading = shade(snapshot.normal, lights)  # [count, 1, S, S]
        canonical = compose_image(snapshot.albedo, shading)  # [count, 3, S, S]
        raw_views = sample_pseudo_views(preset, count, generator=context.rng, device=device)
        views = view_from_raw(raw_views, preset.camera)  # [count, 6]
        (images, masks), _ = warp_images(
            [(canonical, "bilinear"), (snapshot.mask, "nearest")], snapshot.depth, views
        )  # one rasterisation for both
    return images.clamp(-1, 1), masks  # as render_in_views clamps its renders


def projection_loss(context: StepContext, snapshot: ShapeSnapshot) -> torch.Tensor:
    """Step 2: project a batch of pseudo samples; L1 + D-feature L1 + offset_weight · the mean
    square of the shift the offsets make in W (the release's regulariser)."""
    preset, projector = context.preset, context.projector
    pseudo, mask = pseudo_samples(context, snapshot, preset.batch_size)
    offset = projector.offsets(context.networks.offset_net, pseudo)
    regulariser = projector.shift(offset).square().mean()
    return _redraw_loss(context, offset, pseudo, mask) + preset.offset_weight * regulariser


def _redraw_loss(
    context: StepContext, offset: torch.Tensor, pseudo: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """How far the GAN's images of latent offsets `[B, D]` are from the pseudo samples they
    project: masked L1 + discriminator-feature L1."""
    projector = context.projector
    with _gan_precision(context):
        projected = projector.frame(projector.generate(projector.latents(offset)))
        feature_loss = masked_feature_l1(
            context.discriminator, projected, pseudo, mask,
            blocks=context.preset.discriminator_blocks,
        )  # fmt: skip
    return masked_l1(projected.float(), pseudo, mask) + feature_loss.float()


def collect_projected(
    context: StepContext,
    snapshot: ShapeSnapshot,
    *,
    refine: bool = True,
    should_stop: StopFn | None = None,
) -> ProjectedCache | None:
    """Project `collect_batches` batches of fresh pseudo samples into a cache for step 3 (with
    `refine`, each batch's latent offsets are then optimised for the preset's
    `projection_steps`);
    None when `should_stop()` (polled before every batch) interrupts the collection."""
    preset, projector = context.preset, context.projector
    images, masks = [], []
    for _ in range(preset.collect_batches):
        if should_stop is not None and should_stop():
            return None
        pseudo, mask = pseudo_samples(context, snapshot, preset.batch_size)
        with torch.no_grad(), _gan_precision(context):
            offset = projector.offsets(context.networks.offset_net, pseudo)
        if refine and preset.projection_steps > 0:
            offset = refine_offsets(context, offset.float(), pseudo, mask)
        with torch.no_grad(), _gan_precision(context):
            projected = projector.frame(projector.generate(projector.latents(offset)))
        images.append(projected.float().cpu())
        masks.append(mask.cpu())
    return ProjectedCache(images=torch.cat(images), masks=torch.cat(masks))


def refine_offsets(
    context: StepContext, offset: torch.Tensor, pseudo: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Offsets `[B, D]` optimised by Adam for `projection_steps` so that the GAN redraws the
    pseudo samples more closely (step 2's L1 + D-feature L1). The encoder is a small network
    trained for a short schedule and does not reach turned views that the GAN can draw near
    the input's latent (measured: scripts/probe_projection.py); per-sample optimisation does."""
    offset = offset.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([offset], lr=context.preset.projection_lr)
    for _ in range(context.preset.projection_steps):
        with torch.enable_grad():
            loss = _redraw_loss(context, offset, pseudo, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return offset.detach()


def shape_loss(context: StepContext, cache: ProjectedCache, *, flip: bool) -> torch.Tensor:
    """Step 3: the step-1 loss plus L1 + perceptual between a batch of projected samples and
    the input's canonical shape and albedo rendered under the samples' predicted views and
    lights (each copy of the shape when `flip`)."""
    loss, parts = reconstruction_loss(context, flip=flip)
    device = context.target.image.device
    projected, sample_mask = cache.next_batch(
        context.preset.batch_size, rng=context.rng, device=device
    )
    views = predict_view(context.networks, projected, context.preset)  # [B, 6]
    lights = predict_light(context.networks, projected, context.preset)  # [B, 4]
    renders, coverage = [], []
    for copy in range(parts.depth.shape[0]):
        shading = shade(parts.normal[copy : copy + 1], lights)  # [B, 1, S, S]
        canonical = compose_image(parts.albedo[copy : copy + 1], shading)  # [B, 3, S, S]
        render, covered = render_in_views(canonical, parts.depth[copy : copy + 1], views)
        renders.append(render)
        coverage.append(covered)
    mask = torch.stack(coverage).prod(dim=0) * sample_mask  # [B, 1, S, S]
    terms = _photometric_terms(
        context.preset, context.perceptual, renders, projected, mask, bf16=context.bf16
    )
    return sum(terms, loss)


def _photometric_terms(
    preset: Gan2ShapePreset,
    perceptual: PerceptualLoss,
    renders: Sequence[torch.Tensor],
    target: torch.Tensor,
    mask: torch.Tensor,
    *,
    bf16: bool,
) -> list[torch.Tensor]:
    """For each of `renders` (the copies of one reconstruction, `[B, 3, S, S]` each): masked
    L1 + perceptual_weight · perceptual distance to `target` (a zero weight skips the
    perceptual pass). The masked target's features are taken once for all copies."""
    l1s = [masked_l1(render, target, mask) for render in renders]
    if preset.perceptual_weight == 0:
        return l1s
    with bf16_autocast(target.device, enabled=bf16):
        measure = distance_to(perceptual, target * mask)
        distances = [measure(render * mask).mean() for render in renders]
    return [l1 + preset.perceptual_weight * d.float() for l1, d in zip(l1s, distances, strict=True)]


def _gan_precision(context: StepContext) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for the GAN / perceptual passes when the context asks for it."""
    return bf16_autocast(context.target.image.device, enabled=context.bf16)
