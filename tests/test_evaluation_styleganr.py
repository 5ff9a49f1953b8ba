"""The StyleGAN-R measurements of bench/styleganr.py: analytic masks and colours, azimuth
and axis errors across the seams, readers scored against known cameras and hand-read axes,
readings confined to the candidate ring, and swaps of a sample with itself, which must
change nothing."""

from __future__ import annotations

import copy
import importlib
import json
from dataclasses import dataclass, replace
from types import SimpleNamespace

import pytest
import torch

from engine.errors import GANliftError
from engine.evaluation.styleganr import (
    ViewAxes,
    azimuth_ring,
    camera_control_errors,
    content_spread,
    cross_view_silhouettes,
    known_camera_errors,
    known_camera_renders,
    load_view_axes,
    mask_iou,
    mean_colour,
    read_azimuths,
    reprojected_silhouettes,
    swap_scores,
    turned_views,
    view_axis_errors,
)
from engine.styleganr import PARTS, InverseGraphicsNet, StyleGANR, sample, sample_view_codes
from engine.styleganr.camera import axis_difference
from engine.styleganr.view_codes import compose, sample_w
from tests.tiny import tiny_styleganr


@pytest.fixture(scope="module")
def model() -> StyleGANR:
    return tiny_styleganr()


def test_mask_iou_of_overlapping_halves_and_of_empty_masks() -> None:
    left = torch.zeros(1, 1, 4, 4)
    left[..., :2] = 1
    middle = torch.zeros(1, 1, 4, 4)
    middle[..., 1:3] = 0.9
    empty = torch.zeros(1, 1, 4, 4)
    assert mask_iou(left, middle).item() == pytest.approx(4 / 12)
    assert mask_iou(left, left).item() == 1
    assert mask_iou(empty, empty).item() == 1
    assert mask_iou(left, empty).item() == 0


def test_mean_colour_counts_only_the_masked_pixels() -> None:
    images = torch.zeros(1, 3, 2, 2)
    images[0, :, 0, 0] = torch.tensor([1.0, -1.0, 0.5])
    mask = torch.zeros(1, 1, 2, 2)
    mask[0, 0, 0, 0] = 1
    assert mean_colour(images, mask)[0].tolist() == [1.0, -1.0, 0.5]


def test_azimuth_errors_wrap_around_the_seam(model: StyleGANR) -> None:
    def always_ten(_network, images: torch.Tensor, _candidates) -> torch.Tensor:
        return torch.full((len(images),), 10.0)

    errors = camera_control_errors(
        model, sample(model, 2, seed=0), [0.0, 180.0, 350.0], read=always_ten
    )
    assert errors.shape == (3, 2)
    assert errors[:, 0].tolist() == [10.0, 170.0, 20.0]


def test_known_camera_errors_score_a_reader_against_the_true_azimuths(model: StyleGANR) -> None:
    images, cameras = known_camera_renders(4, size=32)
    assert images.shape == (4, 3, 32, 32) and cameras.shape == (4, 3)
    assert images.min() >= -1 and images.max() <= 1
    assert ((cameras[:, 0] >= 0) & (cameras[:, 0] < 360)).all()

    def exact(_network, _images, candidates: torch.Tensor) -> torch.Tensor:
        assert torch.allclose(candidates[:, 1], cameras[:, 1].mean())
        return cameras[:, 0].clone()

    def twenty_less(_network, _images, _candidates) -> torch.Tensor:
        return (cameras[:, 0] - 20) % 360

    network = model.inverse_graphics
    assert known_camera_errors(network, images, cameras, read=exact).abs().max() < 1e-4
    errors = known_camera_errors(network, images, cameras, read=twenty_less)
    assert torch.allclose(errors, torch.full((4,), 20.0), atol=1e-3)


def test_readings_are_candidates_when_the_network_corrects_nothing(model: StyleGANR) -> None:
    config = replace(model.inverse_graphics.config, max_camera_correction=(0.0, 0.0, 0.0))
    network = InverseGraphicsNet(config).eval()
    network.load_state_dict(model.inverse_graphics.state_dict())
    ring = azimuth_ring(45.0, elevation=10.0)
    assert ring[:, 0].tolist() == [0, 45, 90, 135, 180, 225, 270, 315]
    images = sample(model, 3, seed=1).image
    masks = torch.ones(3, 1, *images.shape[-2:])
    for readings in (
        read_azimuths(network, images, ring),
        read_azimuths(network, images, ring, masks),
    ):
        assert all(any(abs(r - c) < 1e-4 for c in ring[:, 0].tolist()) for r in readings.tolist())


@pytest.mark.parametrize("part", PARTS)
def test_swapping_a_sample_with_itself_keeps_everything(model: StyleGANR, part: str) -> None:
    targets = sample(model, 2, seed=2)

    def segment(images: torch.Tensor) -> torch.Tensor:
        return (images.mean(1, keepdim=True) > 0).float()

    scores = swap_scores(model, targets, targets, part, segment)
    assert scores.silhouette_kept.tolist() == [1.0, 1.0]
    assert scores.silhouette_moved.abs().max() < 1e-6
    assert scores.colour_moved.abs().max() < 1e-4


def test_a_different_source_gives_finite_scores(model: StyleGANR) -> None:
    targets, sources = sample(model, 2, seed=3), sample(model, 2, seed=4)

    def segment(images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(4 * images.mean(1, keepdim=True))

    scores = swap_scores(model, targets, sources, "texture", segment)
    for values in (scores.silhouette_kept, scores.silhouette_moved, scores.colour_moved):
        assert values.shape == (2,) and torch.isfinite(values).all()
    assert ((scores.silhouette_kept >= 0) & (scores.silhouette_kept <= 1)).all()


def _painted(colour: tuple[float, float, float], rows: slice, columns: slice) -> torch.Tensor:
    """An image ``[1, 3, 4, 4]`` of background -1 with one rectangle of `colour`."""
    image = torch.full((1, 3, 4, 4), -1.0)
    image[0, :, rows, columns] = torch.tensor(colour)[:, None, None]
    return image


@dataclass
class _Codes:
    camera: torch.Tensor


def test_swap_scores_of_hand_drawn_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """Target: the left half in (1, 0, 0.5); source: (0, 1, 0.5), seen from the target's
    camera as the top half; result: the left three quarters in the colours' midpoint. Kept
    8 / 12 of the result is the target's; moved 3/7 (result vs. source) - 1/3 (target vs.
    source); colour moved halfway."""
    module = importlib.import_module("engine.evaluation.styleganr")
    left, top, all_rows = slice(0, 2), slice(0, 2), slice(0, 4)
    target_colour, source_colour = (1.0, 0.0, 0.5), (0.0, 1.0, 0.5)
    targets = SimpleNamespace(
        codes=_Codes(torch.zeros(1, 3)), image=_painted(target_colour, all_rows, left)
    )
    sources = SimpleNamespace(
        codes=_Codes(torch.ones(1, 3)), image=_painted(source_colour, all_rows, slice(2, 4))
    )
    result = _painted((0.5, 0.5, 0.5), all_rows, slice(0, 3))
    seen = _painted(source_colour, top, all_rows)

    def swapped(
        _model: object, swap_targets: object, swap_sources: object, *, part: str
    ) -> SimpleNamespace:
        assert swap_targets is targets and swap_sources is sources and part == "texture"
        return SimpleNamespace(image=result)

    def rendered(_model: object, codes: _Codes) -> SimpleNamespace:
        assert torch.equal(codes.camera, targets.codes.camera)  # the source in the target's view
        return SimpleNamespace(image=seen)

    def segment(images: torch.Tensor) -> torch.Tensor:
        return (images.mean(1, keepdim=True) > -1).float()

    monkeypatch.setattr(module, "swap", swapped)
    monkeypatch.setattr(module, "render_codes", rendered)
    scores = swap_scores(None, targets, sources, "texture", segment)  # type: ignore[arg-type]
    assert scores.silhouette_kept.tolist() == pytest.approx([8 / 12])
    assert scores.silhouette_moved.tolist() == pytest.approx([3 / 7 - 1 / 3])
    assert scores.colour_moved.tolist() == pytest.approx([0.5])


def test_known_camera_renders_from_an_offset_continue_the_run() -> None:
    """Renders from offset 5 are renders 5 and 6 of the run from offset 0."""
    images, cameras = known_camera_renders(7, size=16)
    later_images, later_cameras = known_camera_renders(2, size=16, offset=5)
    torch.testing.assert_close(later_cameras, cameras[5:])
    torch.testing.assert_close(later_images, images[5:])


def test_view_axis_errors_read_the_contents_of_their_seed(model: StyleGANR) -> None:
    """The reader sees the view code composed with the `seed`'s contents."""
    generator = model.generator
    codes = sample_view_codes(generator, 1, num_view_layers=1, seed=3).codes
    seen: list[torch.Tensor] = []

    def recording(images: torch.Tensor) -> torch.Tensor:
        seen.append(images)
        return torch.zeros(len(images))

    view_axis_errors(generator, codes, torch.zeros(1), recording, samples_per_view=2, seed=7)
    content = sample_w(generator, 2, seed=7)
    wplus = compose(codes[0][None].expand(2, -1, -1), content, generator.num_ws)
    torch.testing.assert_close(seen[0], generator.synthesis(wplus))


def test_axis_difference_ignores_which_end_faces_the_camera() -> None:
    first = torch.tensor([10.0, 0.0, 170.0, 350.0, 45.0])
    second = torch.tensor([190.0, 90.0, 10.0, 100.0, 315.0])
    assert axis_difference(first, second).tolist() == [0.0, 90.0, 20.0, 70.0, 90.0]


def test_view_axes_pick_their_codes_and_score_a_reader(model: StyleGANR, tmp_path) -> None:
    generator = model.generator
    path = tmp_path / "axes.json"
    path.write_text(
        json.dumps({"checkpoint": "tiny", "view_layers": 1, "seed": 3, "axes": {"4": 90, "1": 0}})
    )
    axes = load_view_axes(path)
    codes, truth = axes.view_codes(generator)
    every = sample_view_codes(generator, 5, num_view_layers=1, seed=3).codes
    assert torch.equal(codes, every[[1, 4]])
    assert truth.tolist() == [0.0, 90.0]

    def reads_210(images: torch.Tensor) -> torch.Tensor:
        return torch.full((len(images),), 210.0)

    errors = view_axis_errors(generator, codes, truth, reads_210, samples_per_view=3)
    assert errors.tolist() == [[30.0] * 3, [60.0] * 3]


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({}, "at least one"),
        ({"0": 180}, "bad entries: \\[0\\]"),
        ({"x": 1}, "indices"),
        ({"0": 10**400}, "indices to degrees"),  # float() raised OverflowError
    ],
)
def test_bad_view_axes_are_refused(axes: dict, message: str) -> None:
    with pytest.raises(GANliftError, match=message):
        ViewAxes(checkpoint="tiny", view_layers=1, seed=0, axes=axes)


def test_a_missing_view_axes_file_is_named(tmp_path) -> None:
    with pytest.raises(GANliftError, match=r"missing\.json"):
        load_view_axes(tmp_path / "missing.json")


def test_content_spread_of_a_fixed_and_of_a_changing_view_code() -> None:
    masks = torch.zeros(2, 2, 1, 8, 8)
    masks[:, 0, :, :, :4] = 1  # view 0: the same left half under both contents
    masks[0, 1, :, :, :4] = 1  # view 1: the left half, then the left quarter
    masks[1, 1, :, :, :2] = 1
    images = torch.full((2, 2, 3, 8, 8), -1.0)
    images[:, :, 0] = 1.0  # red under every content ...
    images[1, 1] = torch.tensor([-1.0, -1.0, 1.0])[:, None, None]  # ... but blue at view 1
    iou, colour = content_spread(images, masks)
    assert torch.allclose(iou, torch.tensor([1.0, 0.5]))
    # red (1, -1, -1) vs blue (-1, -1, 1): std sqrt(2) in two channels, 0 in one
    assert torch.allclose(colour, torch.tensor([0.0, 2 * 2**0.5 / 3]))
    with pytest.raises(GANliftError, match="at least 2 contents"):
        content_spread(images[:1], masks[:1])


def test_turned_views_pick_the_nearest_other_view_a_quarter_turn_on() -> None:
    azimuths = torch.tensor([0.0, 90.0, 180.0, 270.0, 100.0])
    assert turned_views(azimuths).tolist() == [1, 2, 3, 0, 2]
    assert turned_views(torch.tensor([0.0, 10.0])).tolist() == [1, 0]  # never the view itself


def test_cross_view_silhouettes_take_the_mesh_from_the_shown_image(model: StyleGANR) -> None:
    network = copy.deepcopy(model.inverse_graphics)
    with torch.no_grad():  # no camera correction or shift: only the given cameras place the mesh
        network.to_codes.weight[-5:] = 0
        network.to_codes.bias[-5:] = 0
        network.shape_decoder[-1].weight[:3] *= 30  # the mesh's extent follows its image
    shown, seen = sample(model, 2, seed=3).image, sample(model, 2, seed=4).image
    cameras = model.views.labelled()[:2]
    crossed = cross_view_silhouettes(network, shown, seen, cameras)
    assert torch.equal(crossed, reprojected_silhouettes(network, shown, cameras))
    assert not torch.equal(crossed, reprojected_silhouettes(network, seen, cameras))
