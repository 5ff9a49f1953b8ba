"""GAN2Shape's parametrisations and networks: ranges, pinned borders, angles, light terms,
network shapes at several sizes."""

from __future__ import annotations

import math

import pytest
import torch

from engine.errors import GANliftError
from engine.gan2shape.networks import Gan2ShapeNetworks, NetworkConfig, ResBlockDown
from engine.gan2shape.parametrisation import (
    BORDER_COLUMNS,
    CameraRanges,
    compose_image,
    depth_from_raw,
    light_from_raw,
    view_from_raw,
)

RANGES = CameraRanges()


def test_depth_stays_in_range_and_is_centred_before_tanh() -> None:
    raw = torch.randn(3, 1, 16, 20) * 10 + 50  # far outside (-1, 1), with a large offset
    depth = depth_from_raw(raw, RANGES, pin_border=False)  # [3, 16, 20]
    assert depth.shape == (3, 16, 20)
    assert depth.min() >= 0.9 and depth.max() <= 1.1
    # the spatial mean is removed first, so a constant offset changes nothing
    assert torch.allclose(depth, depth_from_raw(raw - 50, RANGES, pin_border=False), atol=1e-6)
    # raw 0 everywhere (after centring) is the middle of the range
    middle = depth_from_raw(torch.zeros(1, 1, 4, 4), RANGES, pin_border=False)
    assert torch.allclose(middle, torch.ones(1, 4, 4))
    # a raw value above the mean lies further away: 1 + 0.1·tanh(raw - mean)
    step = torch.tensor([[[[1.0, -1.0]]]])  # mean 0
    expected = 1 + 0.1 * torch.tanh(torch.tensor([[[1.0, -1.0]]]))
    assert torch.allclose(depth_from_raw(step, RANGES, pin_border=False), expected)


def test_depth_border_columns_are_pinned_near_the_far_end() -> None:
    raw = torch.randn(2, 1, 8, 12) * 3
    depth = depth_from_raw(raw, RANGES)
    free = depth_from_raw(raw, RANGES, pin_border=False)
    border = torch.cat([depth[..., :BORDER_COLUMNS], depth[..., -BORDER_COLUMNS:]], -1)
    expected = 1.02 * RANGES.border_depth - 0.02 * torch.cat(
        [free[..., :BORDER_COLUMNS], free[..., -BORDER_COLUMNS:]], -1
    )
    assert RANGES.border_depth == pytest.approx(1.04)
    assert torch.allclose(border, expected, atol=1e-6)
    assert border.min() > 1.035 and border.max() < 1.045
    inner = (slice(None), slice(None), slice(BORDER_COLUMNS, -BORDER_COLUMNS))
    assert torch.equal(depth[inner], free[inner])


def test_view_angles_and_translations_scale_as_configured() -> None:
    raw = torch.tensor([[1.0, -0.5, 0.25, 1.0, -1.0, 1.0]])
    view = view_from_raw(raw, RANGES)
    expected = [math.radians(60), math.radians(-30), math.radians(15), 0.1, -0.1, 0.0]
    assert view[0].tolist() == pytest.approx(expected)
    with_z = view_from_raw(raw, CameraRanges(z_translation=0.2))
    assert float(with_z[0, 5]) == pytest.approx(0.2)


def test_light_terms_and_composition() -> None:
    light = light_from_raw(torch.tensor([[-1.0, 1.0, 0.3, -0.2]]))
    assert light[0].tolist() == pytest.approx([0.0, 1.0, 0.3, -0.2])
    albedo = torch.full((1, 3, 2, 2), 0.0)  # grey 0.5
    shading = torch.full((1, 1, 2, 2), 2.0)
    assert torch.allclose(compose_image(albedo, shading), torch.ones(1, 3, 2, 2))


@pytest.mark.parametrize("size", [32, 64])
def test_network_shapes(size: int) -> None:
    config = NetworkConfig(size, 8, 2, bottleneck=16, offset_width=8)
    networks = Gan2ShapeNetworks(config, style_dim=24)
    image = torch.randn(2, 3, size, size)
    assert networks.depth_net(image).shape == (2, 1, size, size)
    albedo = networks.albedo_net(image)
    assert albedo.shape == (2, 3, size, size) and albedo.abs().max() <= 1
    assert networks.view_net(image).shape == (2, 6)
    assert networks.light_net(image).abs().max() <= 1
    assert networks.offset_net(image).shape == (2, 24)


def test_release_layout_at_64_px() -> None:
    """At 64 px the depth net is the release's EDDeconv layer for layer (same indices)."""
    layers = Gan2ShapeNetworks(NetworkConfig(64, 64, 16), style_dim=8).depth_net.network
    kinds = [type(layer).__name__ for layer in layers]
    assert len(kinds) == 43
    encoder = ["Conv2d", "GroupNorm", "LeakyReLU"] * 3 + ["Conv2d", "LeakyReLU", "Conv2d", "ReLU"]
    assert kinds[:13] == encoder
    assert kinds[13] == "ConvTranspose2d" and kinds[35] == "Upsample"
    assert layers[9].out_channels == 512 and layers[11].out_channels == 256


def test_release_checkpoint_layout_loads_strictly() -> None:
    config = NetworkConfig(32, 8, 2, bottleneck=16, offset_width=8)
    source = Gan2ShapeNetworks(config, style_dim=24)
    release = {
        "netD": source.depth_net.state_dict(),
        "netA": source.albedo_net.state_dict(),
        "netEnc": source.offset_net.state_dict(),
    }
    target = Gan2ShapeNetworks(config, style_dim=24)
    view_before = {key: value.clone() for key, value in target.view_net.state_dict().items()}
    target.load_release_state(release)
    for key, value in source.state_dict().items():
        if not key.startswith(("view_net", "light_net")):
            assert torch.equal(target.state_dict()[key], value), key
    for key, value in target.view_net.state_dict().items():
        assert torch.equal(value, view_before[key])
    wider = Gan2ShapeNetworks(NetworkConfig(32, 16, 2, bottleneck=16, offset_width=8), style_dim=24)
    with pytest.raises(GANliftError, match="netD does not fit"):
        wider.load_release_state(release)


def test_network_config_errors() -> None:
    with pytest.raises(GANliftError, match="power of two"):
        NetworkConfig(48)
    with pytest.raises(GANliftError, match="divisible"):
        NetworkConfig(64, 12, 8)


def test_network_sizes_below_16_px_are_refused() -> None:
    """Sizes are powers of two of 16 or more (two stride-2 levels down to 4×4)."""
    with pytest.raises(GANliftError, match="image_size 8 is not supported"):
        NetworkConfig(8)
    assert NetworkConfig(16, 8, 2).levels == 2


def test_a_release_network_missing_a_weight_is_refused() -> None:
    """Released weights load strictly: a checkpoint lacking a tensor does not fit."""
    config = NetworkConfig(32, 8, 2, bottleneck=16, offset_width=8)
    source = Gan2ShapeNetworks(config, style_dim=24)
    depth = source.depth_net.state_dict()
    del depth[next(iter(depth))]
    with pytest.raises(GANliftError, match="netD does not fit this preset's depth_net"):
        Gan2ShapeNetworks(config, style_dim=24).load_release_state({"netD": depth})


def test_view_and_light_nets_end_in_tanh() -> None:
    """However large the last layer's output, the raw views and lights stay in (-1, 1)."""
    config = NetworkConfig(32, 8, 2, bottleneck=16, offset_width=8)
    networks = Gan2ShapeNetworks(config, style_dim=24)
    image = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for net in (networks.view_net, networks.light_net):
            net.network[-2].weight.mul_(1e4)
            raw = net(image)
            assert raw.abs().max() <= 1 and raw.abs().max() > 0.99


def test_the_offset_encoder_s_blocks_see_only_the_activated_input() -> None:
    """As in the release (whose in-place ReLU overwrites the block's input), the shortcut of a
    residual block sees relu(x) too, so a block cannot tell x from relu(x)."""
    block = ResBlockDown(4, 8)
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(block(x), block(x.clamp(min=0)))
        assert not torch.allclose(block(x), block(x.abs()))
