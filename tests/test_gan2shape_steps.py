"""GAN2Shape's prior fit and three steps on a tiny case: each lowers its loss; symmetry
(horizontal flip) is equivariant and adds the mirrored shape's term; masks reach the canonical
frame, stay binary in the pseudo samples and, where the preset says so, restrict the input's
reconstruction loss; step 3 counts each projected sample only inside its mask."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import replace

import pytest
import torch
from torch import nn

from engine.gan2shape.latent_offset import LatentProjector
from engine.gan2shape.losses import smoothness
from engine.gan2shape.networks import Gan2ShapeNetworks
from engine.gan2shape.parametrisation import light_from_raw, view_from_raw
from engine.gan2shape.photogeometry import (
    decompose,
    predict_light,
    predict_view,
    render_in_views,
)
from engine.gan2shape.presets import Gan2ShapePreset
from engine.gan2shape.prior import ellipsoid_prior
from engine.gan2shape.steps import (
    ProjectedCache,
    StepContext,
    Target,
    autoencoder_loss,
    collect_projected,
    prior_loss,
    projection_loss,
    pseudo_samples,
    reconstruction_loss,
    shape_loss,
    take_snapshot,
)
from engine.perceptual import DiscriminatorFeatureLoss
from tests.test_perceptual_shared_target import count_encodings
from tests.tiny import tiny_gan, tiny_gan2shape_preset

SIZE = 32
PRESET = tiny_gan2shape_preset(SIZE, collect_batches=1)


def make_context(preset: Gan2ShapePreset = PRESET, mask: torch.Tensor | None = None) -> StepContext:
    """A tiny generator / discriminator pair, one of its images as the target, fresh networks."""
    G, D = (network.requires_grad_(False) for network in tiny_gan(SIZE))
    latent = G.mean_latent(64)  # [1, 32]
    with torch.no_grad():
        image = G.synthesis(latent).clamp(-1, 1)  # [1, 3, 32, 32]
    target = Target(
        image=image,
        mask=torch.ones(1, 1, SIZE, SIZE) if mask is None else mask,
        latent=latent,
        noises=[],
        gan_image=image,
        psnr=math.inf,
    )
    networks = Gan2ShapeNetworks(preset.networks, style_dim=32)
    projector = LatentProjector(
        G, latent, noise="const", offset_layers=3, crop=None, image_size=SIZE, reference=image
    )
    return StepContext(
        preset=preset,
        networks=networks,
        target=target,
        discriminator=D,
        perceptual=DiscriminatorFeatureLoss(D),
        projector=projector,
        rng=torch.Generator().manual_seed(0),
    )


def train(
    loss_of: Callable[[], torch.Tensor], modules: Iterable[nn.Module], steps: int
) -> list[float]:
    """Adam (lr 1e-3) on `modules` for `steps` iterations; the loss of every iteration."""
    parameters = [parameter for module in modules for parameter in module.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    losses = []
    for _ in range(steps):
        loss = loss_of()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def test_prior_fit_approaches_the_prior() -> None:
    context = make_context()
    prior = ellipsoid_prior(torch.ones(1, SIZE, SIZE), preset="face")  # [1, 32, 32]
    losses = train(lambda: prior_loss(context, prior), [context.networks.depth_net], 40)
    assert losses[-1] < 0.3 * losses[0]


def test_step1_lowers_the_reconstruction_loss() -> None:
    context = make_context()
    losses = train(
        lambda: reconstruction_loss(context, flip=False)[0], [context.networks.albedo_net], 12
    )
    assert losses[-1] < 0.8 * losses[0]


def test_step2_lowers_the_projection_loss_on_fixed_pseudo_samples() -> None:
    context = make_context()
    snapshot = take_snapshot(context)

    def loss_of() -> torch.Tensor:
        context.rng.manual_seed(3)  # the same pseudo samples every iteration
        return projection_loss(context, snapshot)

    losses = train(loss_of, [context.networks.offset_net], 12)
    assert losses[-1] < 0.9 * losses[0]


def test_refined_projections_redraw_the_pseudo_samples_more_closely() -> None:
    preset = PRESET.replace(projection_steps=8, projection_lr=0.1)
    errors = []
    for refine in (False, True):
        context = make_context(preset)
        snapshot = take_snapshot(context)
        context.rng.manual_seed(7)
        pseudo, mask = pseudo_samples(context, snapshot, preset.batch_size)
        context.rng.manual_seed(7)  # the cache projects these very pseudo samples
        cache = collect_projected(context, snapshot, refine=refine)
        errors.append(float(((cache.images - pseudo).abs() * mask).mean()))
    assert errors[1] < 0.9 * errors[0]


def test_bf16_gan_passes_stay_close_to_float32() -> None:
    context = make_context()
    snapshot = take_snapshot(context)
    losses = []
    for bf16 in (False, True):
        context.bf16 = bf16
        context.rng.manual_seed(5)
        with torch.no_grad():
            losses.append(float(projection_loss(context, snapshot)))
    assert losses[1] == pytest.approx(losses[0], rel=0.05)


def test_step3_lowers_the_shape_loss_on_a_fixed_cache() -> None:
    context = make_context()
    cache = collect_projected(context, take_snapshot(context))
    assert cache.images.shape == (2, 3, SIZE, SIZE) and cache.masks.shape == (2, 1, SIZE, SIZE)
    networks = context.networks.shape_networks()
    losses = train(lambda: shape_loss(context, cache, flip=True), networks, 12)
    assert losses[-1] < 0.8 * losses[0]


def test_step1_adds_the_smoothness_of_depth_and_diffuse_shading() -> None:
    context = make_context()
    image, mask = context.target.image, context.target.mask
    with torch.no_grad():
        rough, parts = autoencoder_loss(
            context.networks, PRESET.replace(smooth_weight=2.0), context.perceptual, image, mask,
            flip=False,
        )  # fmt: skip
        plain, _ = autoencoder_loss(
            context.networks, PRESET.replace(smooth_weight=0.0), context.perceptual, image, mask,
            flip=False,
        )  # fmt: skip
    expected = 2.0 * (smoothness(parts.depth) + smoothness(parts.diffuse))
    assert float(smoothness(parts.diffuse)) > 0
    assert float(rough - plain) == pytest.approx(float(expected), rel=1e-4)


def test_the_diffuse_term_is_the_shading_without_the_lights_strengths() -> None:
    """Step 1 smooths `diffuse`, max(0, n·l): were it the whole shading, the light net could
    dodge the regulariser by dimming the diffuse strength (the release smooths n·l alone)."""
    context = make_context()
    with torch.no_grad():
        parts = decompose(context.networks, context.target.image, PRESET)
    ambient, strength = parts.light[:, 0, None, None, None], parts.light[:, 1, None, None, None]
    assert float((strength - 1).abs().min()) > 1e-3  # a strength of 1 would hide the mix-up
    torch.testing.assert_close(parts.shading, ambient + strength * parts.diffuse)
    assert float(parts.diffuse.max()) <= 1.0 and float(parts.diffuse.min()) >= 0.0


def test_step2_regularises_the_shift_the_offset_makes_in_w() -> None:
    """As the release: 0.01 x mean |T(h + h0) - T(h0)|², the offset h carried through the
    mapping network's last layers T, not mean |h|²."""
    context = make_context()
    snapshot = take_snapshot(context)
    G = context.projector.G
    split = len(G.style) - PRESET.offset_layers
    with torch.no_grad():
        for parameter in context.networks.offset_net.parameters():
            parameter.normal_(0, 0.5)  # offsets far from zero
        context.rng.manual_seed(3)
        pseudo, _ = pseudo_samples(context, snapshot, PRESET.batch_size)
        offset = context.projector.offsets(context.networks.offset_net, pseudo)
        centre = G.style[:split](torch.zeros(1, G.style_dim))
        shift = G.style[split:](offset + centre) - G.style[split:](centre)
        losses = []
        for weight in (0.0, 5.0):
            context.preset = PRESET.replace(offset_weight=weight)
            context.rng.manual_seed(3)
            losses.append(float(projection_loss(context, snapshot)))
    regulariser = float(shift.square().mean())
    assert regulariser > 1e-3
    assert regulariser != pytest.approx(float(offset.square().mean()), rel=0.05)
    assert losses[1] - losses[0] == pytest.approx(5.0 * regulariser, rel=1e-4)


def test_pseudo_samples_are_relit() -> None:
    """Under one fixed view the pseudo samples still differ: each has its own random light."""
    preset = PRESET.replace(view_cov=[[0.0] * 6] * 6)
    context = make_context(preset)
    images, _ = pseudo_samples(context, take_snapshot(context), 4)
    assert (images[1:] - images[:1]).abs().amax(dim=(1, 2, 3)).min() > 1e-3


def test_step3_scores_the_projected_samples() -> None:
    """Step 3's loss is step 1's plus how well the shape redraws the cached samples: a cache
    of black images and one of white ones cost differently, both more than step 1 alone."""
    alone, costs = step1_and_step3_costs(masked=True, flip=False)
    assert min(costs) > alone and abs(costs[0] - costs[1]) > 1e-3


def step1_and_step3_costs(*, masked: bool, flip: bool) -> tuple[float, list[float]]:
    """Step 1's loss, and step 3's with a cache of black images and with one of white images
    whose masks cover the frame (`masked`) or nothing."""
    context = make_context()
    masks = torch.full((2, 1, SIZE, SIZE), float(masked))
    with torch.no_grad():
        alone = float(reconstruction_loss(context, flip=flip)[0])
        images = [torch.full((2, 3, SIZE, SIZE), value) for value in (-1.0, 1.0)]  # black, white
        caches = [ProjectedCache(shown, masks) for shown in images]
        return alone, [float(shape_loss(context, cache, flip=flip)) for cache in caches]


def test_the_projector_is_centred_on_the_input() -> None:
    """A zero offset gives back the input's latent, the input's own reconstruction has a zero
    offset, and only the last `offset_layers` mapping layers carry the offset."""
    context = make_context()
    networks = context.networks
    G = context.projector.G
    with torch.no_grad():
        for parameter in [*G.style.parameters(), *networks.offset_net.parameters()]:
            parameter.add_(torch.randn_like(parameter) * 0.5)  # mapping biases off zero too
        projector = LatentProjector(
            G, context.target.latent, noise="const", offset_layers=3, crop=None,
            image_size=SIZE, reference=context.target.gan_image,
        )  # fmt: skip
        assert projector.latent_centre.abs().max() > 0
        assert torch.allclose(projector.latents(torch.zeros(1, 32)), context.target.latent)
        own = projector.offsets(networks.offset_net, context.target.gan_image)
        elsewhere = projector.offsets(networks.offset_net, torch.zeros(1, 3, SIZE, SIZE))
    assert own.abs().max() == 0 and elsewhere.abs().max() > 0
    assert len(projector.tail) == 3  # the offset_layers asked for


def test_views_and_lights_add_the_presets_means() -> None:
    context = make_context()
    preset = PRESET.replace(
        view_mean=[0.1, -0.2, 0.0, 0.05, 0.0, 0.0], light_mean=[0.3, -0.2, 0.4, -0.5]
    )
    with torch.no_grad():
        for net in (context.networks.view_net, context.networks.light_net):
            for parameter in net.parameters():
                parameter.zero_()  # the net says "no change"
        view = predict_view(context.networks, context.target.image, preset)
        light = predict_light(context.networks, context.target.image, preset)
    expected = view_from_raw(torch.tensor([preset.view_mean]), preset.camera)
    assert torch.allclose(view, expected)
    assert torch.allclose(light, light_from_raw(torch.tensor([preset.light_mean])))
    assert not torch.allclose(light, light_from_raw(torch.zeros(1, 4)))


def test_renders_are_clamped_to_the_image_range() -> None:
    bright = torch.full((1, 3, SIZE, SIZE), 2.0)  # shading above 1 makes such canonical images
    image, _ = render_in_views(bright, torch.ones(1, SIZE, SIZE), torch.zeros(1, 6))
    assert image.max() == 1.0


def test_nearest_warps_keep_a_mask_binary() -> None:
    """Pseudo samples' masks are warped with `nearest`, as a bilinear warp would soften them."""
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., 8:24, 10:20] = 1.0
    view = torch.tensor([[0.1, 0.35, 0.0, 0.02, -0.01, 0.0]])  # a turn that moves the edges
    depth = torch.ones(1, SIZE, SIZE)
    sharp, _ = render_in_views(mask, depth, view, nearest=True)
    soft, _ = render_in_views(mask, depth, view)
    assert set(sharp.unique().tolist()) <= {0.0, 1.0}
    assert ((soft > 0) & (soft < 1)).any()


def test_flip_appends_the_mirrored_shape_and_albedo() -> None:
    context = make_context()
    with torch.no_grad():
        parts = decompose(context.networks, context.target.image, PRESET, flip=True)
    assert parts.depth.shape[0] == 2
    assert torch.equal(parts.depth[1], parts.depth[0].flip(-1))
    assert torch.equal(parts.albedo[1], parts.albedo[0].flip(-1))
    assert torch.equal(parts.view[1], parts.view[0]) and torch.equal(parts.light[1], parts.light[0])
    mirrored_normal = parts.normal[0].flip(-1) * torch.tensor([-1.0, 1, 1]).view(3, 1, 1)
    assert torch.allclose(parts.normal[1], mirrored_normal, atol=1e-5)


def test_rendering_is_mirror_equivariant() -> None:
    """Mirroring shape and image and negating yaw, roll and x translation mirrors the render
    (on a plane, so that the grid mesh's diagonal split, which mirroring turns, is irrelevant)."""
    torch.manual_seed(1)
    ramp = torch.linspace(-1, 1, SIZE)
    depth = 1 + 0.03 * ramp[None, None, :] + 0.02 * ramp[None, :, None]  # [1, 32, 32]
    image = torch.rand(1, 3, SIZE, SIZE) * 2 - 1
    view = torch.tensor([[0.1, 0.3, 0.05, 0.02, -0.01, 0.0]])
    mirrored_view = view * torch.tensor([1.0, -1, -1, -1, 1, 1])
    render, covered = render_in_views(image, depth, view)
    mirror, mirror_covered = render_in_views(image.flip(-1), depth.flip(-1), mirrored_view)
    assert torch.allclose(mirror, render.flip(-1), atol=1e-3)
    assert torch.equal(mirror_covered, covered.flip(-1))


def test_canonical_mask_follows_the_input_mask() -> None:
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., 8:24, 10:22] = 1
    context = make_context(PRESET.replace(use_mask=True), mask=mask)
    snapshot = take_snapshot(context)
    # the untrained view net predicts an almost frontal view, so the mask barely moves
    assert (snapshot.mask - mask).abs().mean() < 0.05
    _, masks = pseudo_samples(context, snapshot, 2)  # [2, 1, 32, 32]
    assert masks.min() >= 0 and masks.max() <= 1
    assert 0.5 * mask.sum() < masks[0].sum() < 1.5 * mask.sum()


def test_an_input_mask_restricts_the_reconstruction_loss_where_the_preset_says() -> None:
    context = make_context()
    networks, image = context.networks, context.target.image
    perceptual = context.perceptual
    masked = PRESET.replace(mask_input=True, smooth_weight=0.0)
    full = torch.ones(1, 1, SIZE, SIZE)
    with torch.no_grad():
        unmasked_loss, _ = autoencoder_loss(
            networks, masked.replace(mask_input=False), perceptual, image, full * 0, flip=True
        )
        whole_frame, _ = autoencoder_loss(networks, masked, perceptual, image, full, flip=True)
        nothing, _ = autoencoder_loss(networks, masked, perceptual, image, full * 0, flip=True)
    assert torch.allclose(whole_frame, unmasked_loss) and whole_frame > 0
    assert nothing == 0  # no pixel counts, and both terms see only masked images


def test_each_sample_of_a_batch_is_masked_by_its_own_mask() -> None:
    """A warm-up batch: the second sample's mask is empty, so what it shows cannot count."""
    context = make_context()
    preset = PRESET.replace(mask_input=True, smooth_weight=0.0)
    image = context.target.image
    masks = torch.stack([torch.ones(1, SIZE, SIZE), torch.zeros(1, SIZE, SIZE)])  # [2, 1, S, S]
    losses = []
    for second in (image, torch.rand_like(image) * 2 - 1):
        with torch.no_grad():
            loss, parts = autoencoder_loss(
                context.networks, preset, context.perceptual, torch.cat([image, second]), masks,
                flip=True,
            )  # fmt: skip
        losses.append(loss)
    assert parts.depth.shape[0] == 4  # two samples, each with its mirrored copy
    assert losses[0] > 0 and torch.allclose(losses[0], losses[1])


def test_symmetry_adds_the_mirrored_shapes_photometric_term() -> None:
    """Step 1 with `flip` is the L1 of the direct reconstruction plus that of the mirrored one,
    both over the pixels every copy sees."""
    context = make_context()
    preset = PRESET.replace(smooth_weight=0.0, perceptual_weight=0.0)
    image = context.target.image
    with torch.no_grad():
        loss, _ = autoencoder_loss(
            context.networks, preset, context.perceptual, image, context.target.mask, flip=True
        )
        parts = decompose(context.networks, image, preset, flip=True)
        renders, covered = render_in_views(parts.image, parts.depth, parts.view)  # [2, ...]
    seen = covered[:1] * covered[1:]  # [1, 1, S, S]
    direct, mirrored = (
        float(((render - image).abs() * seen).sum() / (3 * seen.sum())) for render in renders
    )
    assert mirrored > 1e-3 and abs(mirrored - direct) > 1e-4  # a term of its own
    assert float(loss) == pytest.approx(direct + mirrored, rel=1e-5)


def test_pseudo_samples_stay_in_the_image_range() -> None:
    """A white albedo under the brighter pseudo lights shades above 1: step 2 must project
    images the GAN can draw, as `render_in_views` clamps its renders."""
    context = make_context()
    snapshot = take_snapshot(context)
    white = replace(snapshot, albedo=torch.ones_like(snapshot.albedo))
    images, _ = pseudo_samples(context, white, 8)
    assert images.max() == 1.0 and images.min() >= -1.0


def test_pseudo_sample_masks_stay_binary() -> None:
    """A binary mask warped into turned pseudo views stays binary (a bilinear warp would
    leave soft edges)."""
    context = make_context()
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., 6:26, 9:21] = 1.0
    snapshot = replace(take_snapshot(context), mask=mask)
    _, masks = pseudo_samples(context, snapshot, 4)  # [4, 1, 32, 32]
    assert (masks != mask).flatten(1).any(dim=1).all()  # every view moves the mask's edges
    assert set(masks.unique().tolist()) == {0.0, 1.0}


def test_step3_counts_the_projected_samples_only_inside_their_masks() -> None:
    """With empty sample masks step 3 costs what step 1 costs, whatever the samples show: each
    sample's mask reaches step 3's loss."""
    alone, costs = step1_and_step3_costs(masked=False, flip=True)
    assert costs == pytest.approx([alone, alone], rel=1e-6)


@pytest.mark.parametrize("flip", [False, True])
def test_a_projected_sample_that_is_the_input_costs_what_the_input_costs(flip: bool) -> None:
    """Step 3 reads the sample's view and light with the input's networks and redraws each
    copy of the shape, shaded by its own normals, so samples equal to the input double step
    1's photometric terms (the mirrored copy's asymmetric normals shade unlike the direct
    copy's)."""
    context = make_context()
    context = replace(context, preset=PRESET.replace(smooth_weight=0.0))
    image = context.target.image
    cache = ProjectedCache(image.repeat(2, 1, 1, 1), torch.ones(2, 1, SIZE, SIZE))
    with torch.no_grad():
        alone, parts = reconstruction_loss(context, flip=flip)
        both = shape_loss(context, cache, flip=flip)
    if flip:
        assert not torch.allclose(parts.normal[1], parts.normal[0], atol=1e-3)
    assert float(both) == pytest.approx(2 * float(alone), rel=1e-5)


def test_flipped_copies_encode_the_projected_batch_once() -> None:
    """Step 3 with symmetry compares two copies of the shape with one batch of projected
    samples: the batch's perceptual features are taken once, and the loss is the one a
    distance compared copy by copy gives."""
    context = make_context()
    encoded = count_encodings(context.perceptual)
    cache = ProjectedCache(torch.rand(2, 3, SIZE, SIZE) * 2 - 1, torch.ones(2, 1, SIZE, SIZE))
    with torch.no_grad():
        shared = shape_loss(context, cache, flip=True)
        assert [len(images) for images in encoded] == [1, 1, 1, 2, 2, 2]  # input, then samples
        copy_by_copy = replace(context, perceptual=lambda a, b: context.perceptual(a, b))
        assert float(shape_loss(copy_by_copy, cache, flip=True)) == float(shared)
