"""SIDE, MAD, MAE, relief ratio and PSNR on analytic cases (the Unsup3d / GAN2Shape protocol)."""

from __future__ import annotations

import math

import pytest
import torch

from engine.errors import GANliftError
from engine.metrics import erode_mask, mad, psnr, psnr_text, relief_ratio, side


def _square_mask(n: int = 2, size: int = 12, margin: int = 2) -> torch.Tensor:
    mask = torch.zeros(n, size, size)
    mask[:, margin:-margin, margin:-margin] = 1
    return mask


def test_erosion_removes_a_one_pixel_rim_and_the_image_border() -> None:
    mask = _square_mask(n=1, size=10, margin=2)  # 6×6 block
    eroded = erode_mask(mask)
    assert eroded.sum().item() == 16  # 4×4 block
    assert eroded[0, 3:7, 3:7].all()
    full = torch.ones(1, 5, 5)
    assert erode_mask(full).sum().item() == 9  # border pixels touch the zero padding


def test_a_soft_mask_counts_the_pixels_above_one_half() -> None:
    binary = _square_mask(n=1)
    soft = binary.clone()
    soft[0, 1:-1, 1:-1] = torch.where(binary[0, 1:-1, 1:-1] > 0, 1.0, 0.3)  # a faint halo
    soft[0, 2, 2] = 0.5  # a half-covered corner is left out
    binary[0, 2, 2] = 0.0
    assert torch.equal(erode_mask(soft), erode_mask(binary))
    gt = 0.9 + 0.2 * torch.rand(1, 12, 12)
    pred = 0.9 + 0.2 * torch.rand(1, 12, 12)
    for erode in (True, False):
        assert torch.equal(side(pred, gt, soft, erode=erode), side(pred, gt, binary, erode=erode))


def test_scaled_depth_has_zero_side() -> None:
    gt = 0.9 + 0.2 * torch.rand(2, 12, 12)
    mask = _square_mask()
    assert torch.allclose(side(gt * 1.37, gt, mask), torch.zeros(2), atol=1e-6)


def test_side_is_the_masked_standard_deviation_of_log_ratio() -> None:
    gt = torch.ones(1, 12, 12)
    pred = torch.ones(1, 12, 12)
    # Eroded mask = rows/cols 3..8 (6×6 = 36 px); give half of it ratio e^a, half e^-a.
    a = 0.05
    pred[0, 3:6, 3:9] = math.exp(a)
    pred[0, 6:9, 3:9] = math.exp(-a)
    pred[0, 0, 0] = 100.0  # outside the mask: ignored
    result = side(pred, gt, _square_mask(n=1))
    assert result.item() == pytest.approx(a, rel=1e-5)


def test_side_ignores_zero_depth_outside_the_mask() -> None:
    gt = torch.zeros(1, 12, 12)
    gt[0, 2:-2, 2:-2] = 1.0
    pred = torch.full((1, 12, 12), 2.0)
    assert side(pred, gt, _square_mask(n=1)).item() == pytest.approx(0.0, abs=1e-6)


def test_relief_ratio_measures_how_deep_a_surface_is_against_the_truth() -> None:
    gt = 0.9 + 0.2 * torch.rand(2, 12, 12)
    mask = _square_mask()
    log_gt = gt.log()
    mean = log_gt[:, 3:9, 3:9].mean(dim=(1, 2)).view(2, 1, 1)  # over the eroded mask
    three_times_deeper = (mean + 3 * (log_gt - mean)).exp()
    assert torch.allclose(relief_ratio(three_times_deeper, gt, mask), torch.full((2,), 3.0))
    assert torch.allclose(relief_ratio(gt * 1.37, gt, mask), torch.ones(2), atol=1e-5)
    assert torch.equal(relief_ratio(torch.ones_like(gt), gt, mask), torch.zeros(2))
    rim_outliers = gt.clone()
    rim_outliers[:, 2, 2:-2] = 5.0  # on the mask's one-pixel rim, which erosion drops
    assert torch.equal(relief_ratio(rim_outliers, gt, mask), relief_ratio(gt, gt, mask))


def test_identical_normals_have_zero_mad_and_a_known_angle_is_recovered() -> None:
    normal = torch.randn(2, 3, 12, 12)  # mad takes directions of any length
    mask = _square_mask()
    zero = torch.zeros(2)  # acos of a cosine just below 1 read 0.008°
    torch.testing.assert_close(mad(normal, normal, mask), zero, atol=1e-5, rtol=0)
    torch.testing.assert_close(mad(normal, 2 * normal, mask), zero, atol=1e-5, rtol=0)

    angle = math.radians(30.0)
    front = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(2, 3, 12, 12)
    tilted = torch.tensor([math.sin(angle), 0.0, math.cos(angle)]).view(1, 3, 1, 1)
    tilted = tilted.expand(2, 3, 12, 12)
    assert torch.allclose(mad(tilted, front, mask), torch.full((2,), 30.0), atol=1e-3)
    start = torch.nn.functional.normalize(torch.tensor([0.3, -0.2, 0.93]), dim=0)
    for degrees, towards in ((30.0, (1.0, 1.0, 0.0)), (150.0, (1.0, -2.0, 0.5))):  # obtuse too
        across = torch.nn.functional.normalize(
            torch.linalg.cross(start, torch.tensor(towards)), dim=0
        )
        angle = math.radians(degrees)
        turned = start * math.cos(angle) + across * math.sin(angle)  # off every axis
        first = start.view(1, 3, 1, 1).expand(2, 3, 12, 12)
        second = turned.view(1, 3, 1, 1).expand(2, 3, 12, 12)
        assert torch.allclose(mad(second, first, mask), torch.full((2,), degrees), atol=1e-3)


def test_mad_averages_over_the_eroded_mask_only() -> None:
    front = torch.zeros(1, 3, 12, 12)
    front[:, 2] = 1.0
    pred = front.clone()
    pred[0, :, 3:9, 3:6] = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)  # 90° on half of it
    pred[0, :, 2, 2] = torch.tensor([0.0, 1.0, 0.0])  # on the eroded rim: ignored
    assert mad(pred, front, _square_mask(n=1)).item() == pytest.approx(45.0, abs=1e-4)
    tilted = front.clone()
    tilted[:, 0], tilted[:, 2] = math.sin(math.pi / 3), math.cos(math.pi / 3)  # 60° everywhere
    longer = mad(3 * tilted, 0.5 * front, _square_mask(n=1))  # only directions count
    assert longer.item() == pytest.approx(60.0, abs=1e-3)


def test_psnr_matches_hand_computed_values() -> None:
    image = torch.zeros(1, 3, 4, 4)
    noisy = image + 0.2  # mse 0.04 with a peak-to-peak range of 2
    assert psnr(noisy, image).item() == pytest.approx(10 * math.log10(4 / 0.04), rel=1e-5)
    noisy[..., 2:] = image[..., 2:] + 0.4  # the right half is off by 0.4 instead
    left = torch.zeros(1, 1, 4, 4)
    left[..., :2] = 1
    assert psnr(noisy, image, left).item() == pytest.approx(10 * math.log10(4 / 0.04), rel=1e-5)
    assert psnr(noisy, image).item() == pytest.approx(10 * math.log10(4 / 0.1), rel=1e-5)


def test_psnr_takes_masks_with_or_without_a_channel_and_refuses_others() -> None:
    """A `[3, H, W]` mask (as side and mad take them) masked image k's channel k with mask k."""
    images, targets = torch.rand(3, 3, 4, 4), torch.rand(3, 3, 4, 4)
    masks = (torch.rand(3, 1, 4, 4) > 0.5).float()
    expected = psnr(images, targets, masks)
    torch.testing.assert_close(psnr(images, targets, masks[:, 0]), expected)
    for wrong in (masks[0], masks[:2], torch.ones(3, 3, 4, 4)):
        with pytest.raises(GANliftError, match=r"^The mask has shape .* pass one mask per image"):
            psnr(images, targets, wrong)


def test_a_soft_mask_weighs_each_pixel_s_error() -> None:
    """One pixel off by 0.1 under a mask of 0.25: its weighted mean error is 0.01 whatever the
    weight (it was divided by a total clamped to 1, which read 1.25 dB too high)."""
    image = torch.zeros(1, 3, 4, 4)
    off = image.clone()
    off[..., 0, 0] = 0.1
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 0, 0] = 0.25
    assert psnr(off, image, mask).item() == pytest.approx(10 * math.log10(4 / 0.01), rel=1e-5)
    off[..., 0, 1], mask[..., 0, 1] = 0.3, 1.0  # a second pixel, off by 0.3, weighed 4 times
    weighted = (0.25 * 0.01 + 1.0 * 0.09) / 1.25  # a binarised mask would average 0.05
    assert psnr(off, image, mask).item() == pytest.approx(10 * math.log10(4 / weighted), rel=1e-5)


def test_psnr_text_says_exact_for_identical_images_and_n_a_for_an_empty_mask() -> None:
    image = torch.zeros(1, 3, 4, 4)
    assert psnr_text(psnr(image, image).item()) == "exact"
    assert psnr_text(13.979) == "14.0 dB" and psnr_text(13.979, 2) == "13.98 dB"
    nothing = psnr(image, image + 1, torch.zeros(1, 1, 4, 4)).item()  # read 'exact'
    assert math.isnan(nothing) and psnr_text(nothing) == "n/a"


def test_metrics_name_bad_inputs() -> None:
    depth = torch.ones(1, 12, 12)
    with pytest.raises(GANliftError, match="empty after erosion"):
        side(depth, depth, torch.zeros(1, 12, 12))
    with pytest.raises(GANliftError, match="same size"):
        side(depth, torch.ones(1, 10, 10), _square_mask(n=1))
    with pytest.raises(GANliftError, match=r"\[N, 3, H, W\]"):
        mad(torch.ones(1, 2, 12, 12), torch.ones(1, 2, 12, 12), _square_mask(n=1))
