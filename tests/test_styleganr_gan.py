"""StyleGAN-R on a tiny random StyleGAN2: view layers, view codes and their labels, the
mapping network's disentanglement by construction, the editing operations and the CLI."""

from __future__ import annotations

import copy
import importlib
import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
import safetensors.torch
import torch

from engine.cli import main
from engine.cli import styleganr as styleganr_cli
from engine.errors import GANliftError
from engine.gan2shape.presets import Gan2ShapePreset, get_preset
from engine.images import fit_to_frame, frame_object, load_image, make_grid, save_image
from engine.mesh import save_mesh
from engine.perceptual import DiscriminatorFeatureLoss
from engine.stylegan2 import Generator, generator_fingerprint, load_checkpoint, save_checkpoint
from engine.stylegan2.checkpoint import MODELS_DIR
from engine.styleganr import (
    PARTS,
    CameraRange,
    HandLabels,
    InverseGraphicsConfig,
    InverseGraphicsNet,
    InverseGraphicsTrainConfig,
    LabellerConfig,
    MappingTrainConfig,
    Sample,
    StyleCodes,
    StyleGANR,
    ViewCodes,
    ViewLabeller,
    analyse_view_layers,
    auto_label,
    balanced_selection,
    camera_range,
    car_to_mesh,
    compose,
    encode_image,
    encode_photo,
    estimate_camera,
    gan_view_pairs,
    inverse_graphics_of,
    inverse_graphics_weights,
    labelling_rows,
    labelling_sheet,
    load_hand_labels,
    load_model_views,
    load_styleganr,
    load_view_codes,
    load_view_labeller,
    mask_entropy,
    predict_views,
    render_multiview,
    render_prediction,
    sample,
    sample_view_codes,
    save_hand_labels,
    save_styleganr,
    save_view_codes,
    set_camera,
    swap,
    train_inverse_graphics,
    train_mapping,
    train_view_labeller,
)
from engine.styleganr.config_io import read_state, write_state
from engine.styleganr.encoding import redraw_errors
from engine.styleganr.inverse_graphics import MeshImage, refine_camera
from engine.styleganr.labelling import ELEVATION_RANGE, decode_camera, labeller_losses
from engine.styleganr.mapping import (
    BACKGROUND_GRID,
    MappingConfig,
    MappingNetwork,
    background_code,
    camera_features,
)
from engine.styleganr.model import MODEL_FORMAT, resolve_model_path
from engine.styleganr.train_mapping import fit_view_layers, mapping_losses
from tests.polls import stop_on_signals_after
from tests.tiny import (
    STYLEGANR_STYLE_DIM,
    STYLEGANR_VIEW_LAYERS,
    tiny_gan,
    tiny_generator,
    tiny_styleganr,
)

STYLE_DIM = STYLEGANR_STYLE_DIM
VIEW_LAYERS = STYLEGANR_VIEW_LAYERS


@pytest.fixture(scope="module")
def model() -> StyleGANR:
    return tiny_styleganr()


@pytest.fixture(scope="module")
def generator(model: StyleGANR) -> Generator:
    return model.generator


def _saved_with_its_gan(model: StyleGANR, path: Path, **options: object) -> Path:
    """`model` saved at `path` with its generator saved beside it, as the file records."""
    checkpoint = save_checkpoint(path.parent / "gan", model.generator)
    return save_styleganr(replace(model, generator_path=str(checkpoint)), path, **options)


def _tiny_labeller_file(folder: Path) -> Path:
    """A view labeller trained one step on plain 16-px renders, saved in `folder`."""
    config = LabellerConfig(image_size=16, width=4, steps=1, batch_size=2, augment=False)
    train_view_labeller(config, state_path=folder / "labeller.pt", image_size=16)
    return folder / "labeller.pt"


def _codes(count: int, seed: int) -> StyleCodes:
    rng = torch.Generator().manual_seed(seed)
    return StyleCodes(
        camera=torch.tensor([[40.0, 15.0, 1.0]]).repeat(count, 1),
        shape=torch.randn(count, 8, generator=rng),
        texture=torch.randn(count, 8, generator=rng),
        background=torch.rand(count, 48, generator=rng) * 2 - 1,
    )


def test_view_layer_analysis_scores_every_prefix(generator: Generator) -> None:
    reports = []
    analysis = analyse_view_layers(
        generator, num_pairs=3, figure_rows=2, progress=lambda *report: reports.append(report)
    )
    assert analysis.prefix_lengths == list(range(1, generator.num_ws))
    assert [(done, total) for done, total, _ in reports] == [
        (length, generator.num_ws - 1) for length in analysis.prefix_lengths
    ]
    assert all(0 <= v <= 1 for v in analysis.view_transfer + analysis.appearance_kept)
    # Swapping every layer but the last hands over (almost) all structure.
    assert analysis.view_transfer[-1] > analysis.view_transfer[0]
    assert analysis.num_view_layers in analysis.prefix_lengths
    columns = generator.num_ws + 1  # a, b and num_ws - 1 mixes
    assert analysis.figure.shape == (1, 3, 2 * 18 + 2, columns * 18 + 2)


def test_a_view_reader_that_sees_only_colour_scores_transfer_as_lost_appearance(
    generator: Generator,
) -> None:
    def colour_statistics(images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(2)
        return torch.cat([flat.mean(2), flat.std(2)], 1)

    analysis = analyse_view_layers(generator, num_pairs=3, view_fn=colour_statistics)
    for moved, kept in zip(analysis.view_transfer, analysis.appearance_kept, strict=True):
        assert moved + kept == pytest.approx(1.0, abs=1e-5)


def test_view_codes_fix_the_first_layers_and_round_trip(generator, tmp_path) -> None:
    views = sample_view_codes(generator, 3, num_view_layers=VIEW_LAYERS, seed=1)
    content = torch.randn(2, STYLE_DIM)
    wplus = compose(views.codes[:2], content, generator.num_ws)
    assert torch.equal(wplus[:, :VIEW_LAYERS], views.codes[:2])
    assert torch.equal(wplus[:, VIEW_LAYERS:], content[:, None].expand(-1, 4, -1))
    images = render_multiview(generator, views, content, batch_size=4)
    assert images.shape == (2, 3, 3, 16, 16)
    loaded = load_view_codes(save_view_codes(views, tmp_path / "views.safetensors"))
    assert torch.equal(loaded.codes, views.codes) and loaded.cameras is None
    with pytest.raises(GANliftError, match="no cameras"):
        loaded.labelled()
    with pytest.raises(GANliftError, match=r"The view layers .* must be from 1 to"):
        sample_view_codes(generator, 1, num_view_layers=generator.num_ws)
    nan = views.codes.clone()
    nan[0, 0, 0] = math.nan  # auto-label wrote NaN cameras for such codes
    damaged = [
        ({"codes": nan}, "View codes hold 1 value that is not finite"),
        ({"codes": views.codes[:, :0].contiguous()}, "none of them 0, got [3, 0,"),
        ({"codes": views.codes.long()}, "must be floating-point numbers, got torch.int64"),
        ({"codes": views.codes, "cameras": torch.full((3, 3), math.inf)}, "cameras hold 9 values"),
    ]
    for tensors, message in damaged:
        path = tmp_path / "bad.safetensors"
        safetensors.torch.save_file(tensors, str(path))
        with pytest.raises(GANliftError, match=re.escape(message)):
            load_view_codes(path)


def test_hand_labels_round_trip_through_json(generator, tmp_path) -> None:
    views = sample_view_codes(generator, 12, num_view_layers=VIEW_LAYERS)
    labels = HandLabels(num_bins=8, bins={0: 0, 3: 2, 11: 7}, elevation=12.5)
    path = save_hand_labels(labels, tmp_path / "labels.json")
    assert json.loads(path.read_text())["bins"] == {"0": 0, "3": 2, "11": 7}
    loaded = load_hand_labels(path)
    assert loaded == labels
    labelled = loaded.cameras(views)
    assert torch.equal(labelled.codes, views.codes[[0, 3, 11]])
    assert labelled.labelled().tolist() == [[0, 12.5, 1], [90, 12.5, 1], [315, 12.5, 1]]
    with pytest.raises(GANliftError, match=r"Azimuth bins must be from 0 to 7, got "):
        HandLabels(num_bins=8, bins={1: 8})
    with pytest.raises(GANliftError, match=r"only 12; label codes 0 to 11\.$"):
        HandLabels(bins={12: 1}).cameras(views)
    for count in (0, 100_000_000_000):  # the huge count was accepted
        with pytest.raises(GANliftError, match=f"\\(--bins\\) must be from 1 to 360, got {count}"):
            HandLabels(num_bins=count)
    for elevation, scale, wrong in ((math.nan, 1.0, "an elevation from -90 to 90 degrees, got nan"),
                                    (95.0, 1.0, "an elevation from -90 to 90 degrees, got 95.0"),
                                    (10.0, 0.0, "a positive finite scale, got 0.0"),
                                    (10.0, math.inf, "a positive finite scale, got inf"),
                                    ):  # fmt: skip
        with pytest.raises(GANliftError, match=f"^Hand labels need {re.escape(wrong)}\\.$"):
            HandLabels(bins={0: 1}, elevation=elevation, scale=scale)
    with pytest.raises(GANliftError, match="elevation and scale of hand labels must be numbers"):
        HandLabels(bins={0: 1}, elevation=None)
    (tmp_path / "bad.json").write_text('{"bins": {}, "colour": 1}')
    with pytest.raises(GANliftError, match=r"^In the hand labels file .*bad\.json: .*unknown keys"):
        load_hand_labels(tmp_path / "bad.json")
    sheet = labelling_sheet(generator, views, samples_per_view=2)
    assert sheet.shape == (1, 3, 12 * 18 + 2, 2 * 18 + 2)


def test_labeller_trains_resumes_and_labels_view_codes(generator, tmp_path) -> None:
    config = LabellerConfig(image_size=16, width=4, steps=2, batch_size=2, checkpoint_every=1)
    state = tmp_path / "labeller.pt"
    train_view_labeller(config, state_path=state, image_size=16)
    labeller = train_view_labeller(
        LabellerConfig(image_size=16, width=4, steps=3, batch_size=2, checkpoint_every=1),
        state_path=state,
        image_size=16,
    )
    saved = state.read_bytes()
    with pytest.raises(GANliftError, match="already holds 3 training steps, more than the 2"):
        train_view_labeller(config, state_path=state, image_size=16)
    assert state.read_bytes() == saved
    views = auto_label(
        generator, sample_view_codes(generator, 3, num_view_layers=2), labeller, samples_per_view=2
    )
    cameras = views.labelled()
    assert cameras.shape == (3, 3)
    assert bool(((cameras[:, 0] >= 0) & (cameras[:, 0] < 360)).all())
    assert bool(((cameras[:, 1] >= 0) & (cameras[:, 1] <= 30) & (cameras[:, 2] > 0)).all())
    kept = auto_label(
        generator,
        sample_view_codes(generator, 3, num_view_layers=2),
        labeller,
        samples_per_view=2,
        keep=2,
    )
    assert len(kept.codes) == 2
    assert all(any(torch.equal(code, other) for other in views.codes) for code in kept.codes)
    assert all(any(torch.equal(camera, other) for other in cameras) for camera in kept.labelled())
    checkpoint = save_checkpoint(tmp_path / "gan", generator)
    save_view_codes(views, tmp_path / "candidates.safetensors")
    labelled = tmp_path / "labelled.safetensors"
    arguments = ["--checkpoint", str(checkpoint), "--labeller", str(state), "--out", str(labelled)]
    views_argument = ["--views", str(tmp_path / "candidates.safetensors")]
    assert main(["styleganr", "auto-label", *arguments, *views_argument, "--keep", "2"]) == 0
    assert load_view_codes(labelled).labelled().shape == (2, 3)
    assert main(["styleganr", "auto-label", *arguments, *views_argument, "--keep", "4"]) == 2
    figure = tmp_path / "layers.png"
    arguments = ["--checkpoint", str(checkpoint), "--out", str(figure), "--pairs", "2"]
    assert main(["styleganr", "view-layers", *arguments, "--labeller", str(state)]) == 0
    assert figure.is_file()


def test_balanced_selection_keeps_the_most_agreed_code_of_each_arc() -> None:
    azimuth = torch.tensor([10.0, 20.0, 30.0, 100.0, 200.0, 350.0, 355.0])
    agreement = torch.tensor([0.5, 0.9, 0.8, 0.3, 0.6, 0.7, 0.95])
    # Four 90° arcs: [0, 90) holds codes 0-2, [90, 180) code 3, [180, 270) code 4,
    # [270, 360) codes 5-6.
    assert balanced_selection(azimuth, agreement, 4).tolist() == [1, 3, 4, 6]
    # Six 60° arcs, two of them empty: the two most agreed codes left make up the number.
    assert balanced_selection(azimuth, agreement, 6).tolist() == [1, 2, 3, 4, 5, 6]
    assert balanced_selection(azimuth, agreement, 7).tolist() == list(range(7))
    with pytest.raises(GANliftError, match="Cannot keep 8 of 7 view codes"):
        balanced_selection(azimuth, agreement, 8)
    with pytest.raises(GANliftError, match="--keep must be at least 1, got 0"):
        balanced_selection(azimuth, agreement, 0)


def test_camera_changes_only_view_layers_and_codes_only_content_layers(model) -> None:
    codes = _codes(2, seed=0)
    with torch.no_grad():
        base = model.mapping(codes)
        moved = model.mapping(replace(codes, camera=torch.tensor([[200.0, 5, 1.2]] * 2)))
        assert not torch.allclose(moved[:, :VIEW_LAYERS], base[:, :VIEW_LAYERS])
        assert torch.equal(moved[:, VIEW_LAYERS:], base[:, VIEW_LAYERS:])
        other = _codes(2, seed=1)
        recoded = model.mapping(replace(other, camera=codes.camera))
        assert torch.equal(recoded[:, :VIEW_LAYERS], base[:, :VIEW_LAYERS])
        assert not torch.allclose(recoded[:, VIEW_LAYERS:], base[:, VIEW_LAYERS:])


def test_soft_masks_bound_what_each_part_can_move(model) -> None:
    masks = model.mapping.masks()
    assert torch.allclose(masks.sum(0), torch.ones_like(masks[0]))
    codes, other = _codes(2, seed=0), _codes(2, seed=1)
    with torch.no_grad():
        base = model.mapping(codes)[:, VIEW_LAYERS:]
        for index, part in enumerate(PARTS):
            changed = replace(codes, **{part: other.part(part)})
            delta = model.mapping(changed)[:, VIEW_LAYERS:] - base  # [2, Lc, D]
            net = model.mapping.part_nets[part]
            change = (net(other.part(part)) - net(codes.part(part))).reshape(delta.shape)
            assert torch.allclose(delta, masks[index] * change, atol=1e-6)
            unassigned = masks[index] < 1e-3  # [Lc, D]
            assert bool(unassigned.any())
            assert float(delta[:, unassigned].abs().max()) < 1e-3 * float(change.abs().max())
    uniform = torch.full((3, 2, 4), 1 / 3)
    assert float(mask_entropy(uniform)) == pytest.approx(math.log(3))
    assert float(mask_entropy(torch.eye(3)[:, :, None].expand(3, 3, 4))) == pytest.approx(0)


def test_set_camera_is_deterministic_and_swap_keeps_the_other_parts(model) -> None:
    first = sample(model, 2, seed=0)
    donor = sample(model, 1, seed=5)
    one = set_camera(model, first, azimuth=120, elevation=20, scale=1.1)
    two = set_camera(model, first, azimuth=120, elevation=20, scale=1.1)
    assert torch.equal(one.image, two.image)
    assert torch.equal(one.codes.shape, first.codes.shape)
    assert one.codes.camera.tolist() == [[120, 20, 1.1000000238418579]] * 2
    for part in PARTS:
        swapped = swap(model, first, donor, part=part)
        for name in ("camera", *PARTS):
            expected = (
                donor.codes.part(part).expand(2, -1) if name == part else first.codes.part(name)
            )
            assert torch.equal(swapped.codes.part(name), expected)
    back = swap(model, swap(model, first, donor, part="shape"), first, part="shape")
    assert torch.equal(back.image, first.image)
    with pytest.raises(GANliftError, match="Unknown part"):
        swap(model, first, donor, part="wheels")
    three = sample(model, 3, seed=1)
    with pytest.raises(GANliftError, match=r"source has 3 samples; give one or as many as the"):
        swap(model, first, three, part="texture")
    with pytest.raises(GANliftError, match="positive"):
        set_camera(model, first, azimuth=0, elevation=0, scale=0)
    for camera, message in (  # each used to draw a black or meaningless image
        ({"azimuth": math.nan, "elevation": 0, "scale": 1}, "must be finite numbers"),
        ({"azimuth": 0, "elevation": 0, "scale": math.inf}, "must be finite numbers"),
        ({"azimuth": "x", "elevation": 0, "scale": 1}, "got azimuth 'x', elevation 0"),  # TypeError
        ({"azimuth": None, "elevation": 0, "scale": 1}, "got azimuth None, elevation 0"),
        ({"azimuth": 0, "elevation": 1000, "scale": 1}, "elevation must be in -90 to 90"),
        ({"azimuth": 0, "elevation": 40, "scale": 1}, r"elevations from 5° to 20° .*, got 40°"),
        ({"azimuth": 0, "elevation": 10, "scale": 1.6}, r"scales from 0\.9 to 1\.2 .*, got 1\.6"),
    ):
        with pytest.raises(GANliftError, match=message):
            set_camera(model, first, **camera)
    outside = replace(first.codes, camera=torch.tensor([[0.0, 25.63, 1.0], [0.0, 25.63, 1.0]]))
    kept = set_camera(model, Sample(outside, first.image), azimuth=90, elevation=25.6, scale=1.0)
    assert kept.codes.camera[:, 1].tolist() == [pytest.approx(25.6)] * 2  # its own: kept


def test_decode_camera_reads_the_targets_the_labeller_learns() -> None:
    """The labeller's raw outputs are (sin, cos) of the azimuth, the elevation's logit over its
    range and the log scale; decoding the targets of known cameras gives the cameras back."""
    cameras = torch.tensor([[30.0, 10.0, 1.2], [300.0, 25.0, 0.8]])
    azimuth = torch.deg2rad(cameras[:, 0])
    raw = torch.stack(
        [
            azimuth.sin(),
            azimuth.cos(),
            torch.logit(cameras[:, 1] / ELEVATION_RANGE),
            cameras[:, 2].log(),
        ],
        1,
    )
    torch.testing.assert_close(decode_camera(raw), cameras, rtol=1e-5, atol=1e-4)


def test_camera_features_are_sin_cos_azimuth_radian_elevation_and_log_scale() -> None:
    features = camera_features(torch.tensor([[90.0, 30.0, math.e], [-270.0, 0.0, 1.0]]))
    expected = torch.tensor([[1.0, 0.0, math.pi / 6, 1.0], [1.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(features, expected, atol=1e-6)  # -270° is 90°


def test_background_code_fills_covered_cells_with_the_mean_background() -> None:
    """Cells with background pixels average them; a cell the object covers takes the image's
    mean background colour, not black."""
    grid = BACKGROUND_GRID
    image = torch.zeros(1, 3, 4 * grid, 4 * grid)
    image[:, 0] = torch.linspace(-1, 1, 4 * grid)[None, :]  # red changes along x
    mask = torch.zeros(1, 1, 4 * grid, 4 * grid)
    mask[..., :4, :4] = 1  # the object covers the top-left cell
    image = image * (1 - mask) + 0.9 * mask  # the object's own colour never counts
    cells = background_code(image, mask).reshape(3, grid, grid)
    background = (image * (1 - mask)).sum((2, 3)) / (1 - mask).sum()  # [1, 3]
    assert torch.allclose(cells[:, 0, 0], background[0], atol=1e-4)
    own = image[0, :, 4:8, :4].mean((1, 2))  # the cell below is all background: mostly its own
    assert (cells[:, 1, 0] - own).norm() < 0.1 * (background[0] - own).norm()


def test_background_code_keeps_the_colour_of_a_cell_the_object_half_covers() -> None:
    """A cell's background pixels are averaged alone: half covered, a plain backdrop's cell
    came out half as bright."""
    grid = BACKGROUND_GRID
    backdrop = torch.tensor([0.3, -0.2, 0.5]).view(1, 3, 1, 1).expand(1, 3, 4 * grid, 4 * grid)
    mask = torch.zeros(1, 1, 4 * grid, 4 * grid)
    mask[..., :2, 4:8] = 1  # the top half of the second cell
    image = backdrop * (1 - mask) + 0.9 * mask
    cells = background_code(image, mask).reshape(3, grid, grid)
    torch.testing.assert_close(cells, backdrop[0, :, :grid, :grid])


def test_the_view_rows_start_around_the_gans_mean_w_as_the_content_rows_do() -> None:
    config = MappingConfig(num_ws=6, style_dim=8, num_view_layers=2, shape_dim=4, texture_dim=4)
    mean_w = torch.full((8,), 2.0)
    mapping = MappingNetwork(config, mean_w=mean_w)
    with torch.no_grad():
        view_rows = mapping.view_layers(torch.tensor([[30.0, 10.0, 1.0], [200.0, 5.0, 0.9]]))
    assert (view_rows - mean_w).abs().max() < 0.5  # a fresh net adds small offsets to mean w


def test_encode_photo_reads_a_gan_image_back_as_a_sample(model) -> None:
    own = sample(model, 1, seed=2)
    photo = torch.nn.functional.interpolate(own.image, size=(24, 40), mode="bilinear")
    uploaded = encode_photo(model, photo)
    assert uploaded.image.shape == (1, 3, 16, 16)
    camera = uploaded.codes.camera  # [1, 3]
    assert camera.shape == (1, 3) and torch.isfinite(camera).all()
    limits = model.inverse_graphics.config.max_camera_correction  # (azimuth°, elevation°, log)
    labelled = model.views.labelled()
    nearest = labelled[(labelled[:, 0] - camera[0, 0]).abs().argmin()]
    assert abs(camera[0, 0] - nearest[0]) <= limits[0]
    assert abs(camera[0, 1] - nearest[1]) <= limits[1]
    assert abs(math.log(camera[0, 2] / nearest[2])) <= limits[2] + 1e-6
    assert torch.isfinite(uploaded.codes.background).all()
    assert torch.equal(encode_photo(model, photo).image, uploaded.image)
    with pytest.raises(GANliftError, match="one RGB image"):
        encode_photo(model, torch.rand(1, 1, 16, 16))
    with pytest.raises(GANliftError, match=r"floats in \[-1, 1\], got torch.uint8"):
        encode_photo(model, torch.zeros(1, 3, 16, 16, dtype=torch.uint8))


def test_estimate_camera_picks_one_of_the_candidates(model) -> None:
    image = sample(model, 1, seed=3).image
    candidates = model.views.labelled()
    chosen = estimate_camera(model.inverse_graphics, image, candidates)
    assert chosen.shape == (1, 3) and (candidates == chosen).all(1).any()
    only = candidates[2:3]
    assert torch.equal(estimate_camera(model.inverse_graphics, image, only), only)
    correction = model.inverse_graphics(image).camera_correction
    refined = estimate_camera(model.inverse_graphics, image, candidates, refine=True)
    assert torch.allclose(refined, refine_camera(chosen, correction))


def test_estimate_camera_takes_the_candidate_that_redraws_best(model, monkeypatch) -> None:
    module = importlib.import_module("engine.styleganr.encoding")
    errors = torch.tensor([0.7, 0.2, 0.5])
    monkeypatch.setattr(module, "redraw_errors", lambda rendered, image, mask=None: errors)
    candidates = model.views.labelled()[:3]
    chosen = estimate_camera(model.inverse_graphics, sample(model, 1, seed=3).image, candidates)
    assert torch.equal(chosen, candidates[1:2])


def test_the_silhouette_term_stops_a_sliver_render_from_winning() -> None:
    # A 4x8 image: a car (value 1) fills the middle 4x4 on a background of 0. Candidate 0 has
    # the car's footprint, 0.1 off in colour; candidate 1 covers a 1-pixel-wide sliver of the
    # car in the right colour (a car seen end-on), over the image itself like every render.
    image = torch.zeros(1, 3, 4, 8)
    car = torch.zeros(1, 1, 4, 8)
    car[..., 2:6] = 1
    image[:, :, :, 2:6] = 1
    sliver = torch.zeros(1, 1, 4, 8)
    sliver[..., 3] = 1
    masks = torch.cat([car, sliver])
    exact = image.clone()
    slightly_off = image + 0.1 * car  # the exact footprint, 0.1 off in colour
    rendered = MeshImage(image=torch.cat([slightly_off, exact]), mask=masks)
    colour_only = redraw_errors(rendered, image)
    assert colour_only.argmin() == 1  # the sliver: no colour error anywhere
    with_silhouette = redraw_errors(rendered, image, car)
    assert with_silhouette.argmin() == 0
    assert with_silhouette[1] == pytest.approx(colour_only[1] + 0.75)  # IoU 1/4


def test_car_to_mesh_exports_a_textured_icosphere(model, tmp_path) -> None:
    mesh = car_to_mesh(model, torch.rand(1, 3, 24, 24) * 2 - 1)
    assert mesh.vertices.shape == (642, 3) and mesh.faces.shape == (1280, 3)
    assert mesh.texture.shape == (8, 16, 3)
    low, high = mesh.vertices.min(0), mesh.vertices.max(0)  # engine.mesh's frame
    np.testing.assert_allclose((low + high) / 2, 0, atol=1e-6)
    assert (high - low).max() == pytest.approx(1)
    assert save_mesh(mesh, tmp_path / "car.obj").is_file()
    ply = o3d.io.read_triangle_mesh(str(save_mesh(mesh, tmp_path / "car.ply")))
    assert ply.has_vertex_colors()  # the texture, sampled at the vertices
    with pytest.raises(GANliftError, match="one RGB image"):
        car_to_mesh(model, torch.rand(2, 3, 16, 16))


def test_car_meshes_leave_with_the_roof_up_and_the_front_forward(model) -> None:
    """Object coordinates have y down and the front at -z; exported meshes y up, front +z."""
    template = model.inverse_graphics.template.vertices  # the unit sphere before deformation
    mesh = car_to_mesh(model, torch.rand(1, 3, 24, 24) * 2 - 1)
    lowest, foremost = template[:, 1].argmax(), template[:, 2].argmin()
    assert mesh.vertices[lowest, 1] == mesh.vertices[:, 1].min()
    assert mesh.vertices[foremost, 2] == mesh.vertices[:, 2].max()


def test_photos_are_read_by_their_whole_width(model) -> None:
    """A car photographed side-on fills a landscape frame; a centre crop cut off both ends."""
    size = model.generator.config.size
    wide = torch.rand(1, 3, size, 2 * size) * 2 - 1  # [1, 3, S, 2S]
    above, below = (
        row.expand(-1, -1, size // 2, -1) for row in (wide[..., :1, :], wide[..., -1:, :])
    )
    square = torch.cat([above, wide, below], 2)  # [1, 3, 2S, 2S]: top and bottom rows repeated
    assert np.array_equal(car_to_mesh(model, wide).vertices, car_to_mesh(model, square).vertices)
    assert torch.equal(encode_photo(model, wide).image, encode_photo(model, square).image)
    centre = wide[..., size // 2 : size // 2 + size]
    assert not np.array_equal(
        car_to_mesh(model, wide).vertices, car_to_mesh(model, centre).vertices
    )


def test_mapping_losses_are_the_latent_error_the_mask_entropy_and_the_cycle(model) -> None:
    config = MappingTrainConfig(hidden=32, entropy_weight=0.5)
    codes = sample(model, 2, seed=3).codes
    with torch.no_grad():
        wplus = model.mapping(codes) + 0.1  # every entry 0.1 off
        warm = mapping_losses(model, wplus, codes, config, cycle=False)
        cycled = mapping_losses(model, wplus, codes, config, cycle=True)
        entropy = 0.5 * mask_entropy(model.mapping.masks())
    assert float(warm["latent"]) == pytest.approx(0.01, rel=1e-4)
    assert float(warm["entropy"]) == pytest.approx(float(entropy)) and float(entropy) > 0
    assert "cycle" not in warm and float(cycled["cycle"]) >= 0
    assert float(cycled["total"]) == pytest.approx(
        sum(float(cycled[k]) for k in cycled if k != "total")
    )


def test_mapping_training_fits_the_view_layers_first_then_cycles_after_warm_up(
    model, tmp_path, monkeypatch
) -> None:
    module = importlib.import_module("engine.styleganr.train_mapping")  # not the function
    cycles: list[bool] = []
    fits: list[int] = []
    losses, fit = module.mapping_losses, module.fit_view_layers

    def recorded_losses(*args, cycle: bool):
        cycles.append(cycle)
        return losses(*args, cycle=cycle)

    def recorded_fit(*args, **options):
        fits.append(1)
        return fit(*args, **options)

    monkeypatch.setattr(module, "mapping_losses", recorded_losses)
    monkeypatch.setattr(module, "fit_view_layers", recorded_fit)
    config = MappingTrainConfig(hidden=32, warmup_steps=2, steps=3, batch_size=2)
    state = tmp_path / "model.pt"
    train_mapping(model.generator, model.inverse_graphics, model.views, config, state_path=state)
    assert cycles == [False, False, True] and fits == [1]
    longer = MappingTrainConfig(hidden=32, warmup_steps=2, steps=4, batch_size=2)
    train_mapping(model.generator, model.inverse_graphics, model.views, longer, state_path=state)
    assert cycles[3:] == [True] and fits == [1]  # a resumed run keeps its fitted view layers


def test_the_soft_masks_learn_at_their_own_rate(model, tmp_path) -> None:
    """At the networks' rate (1e-4) Adam moved a mask logit by about 1e-4 a step, and the
    shipped 900-step run left every content dimension shared equally by the three parts."""
    steps = 3
    config = MappingTrainConfig(hidden=32, warmup_steps=steps, steps=steps, batch_size=2)
    trained = train_mapping(
        model.generator, model.inverse_graphics, model.views, config, state_path=tmp_path / "m.pt"
    )
    moved = float(trained.mapping.mask_logits.detach().abs().max())
    assert 10 * steps * config.learning_rate < moved <= steps * config.mask_learning_rate * 1.01
    groups = read_state(tmp_path / "m.pt", MODEL_FORMAT)["training"]["optimiser"]["param_groups"]
    assert [group["lr"] for group in groups] == [config.learning_rate, config.mask_learning_rate]
    trained_count = sum(len(group["params"]) for group in groups)  # each weight once
    assert trained_count == len(list(trained.mapping.parameters()))


def test_mapping_training_warms_up_cycles_and_resumes(model, tmp_path) -> None:
    config = MappingTrainConfig(hidden=32, warmup_steps=1, steps=2, batch_size=2)
    state = tmp_path / "model.pt"
    trained = train_mapping(
        model.generator, model.inverse_graphics, model.views, config, state_path=state
    )
    reloaded = load_styleganr(state, generator=model.generator)
    assert torch.equal(reloaded.mapping.mask_logits, trained.mapping.mask_logits)
    resumed = train_mapping(
        model.generator,
        model.inverse_graphics,
        model.views,
        MappingTrainConfig(hidden=32, warmup_steps=1, steps=3, batch_size=2),
        state_path=state,
    )
    assert not torch.equal(resumed.mapping.mask_logits, trained.mapping.mask_logits)
    saved = state.read_bytes()
    finished = replace(config, steps=3)
    again = train_mapping(  # asks for the 3 steps the state holds: nothing to do
        model.generator, model.inverse_graphics, model.views, finished, state_path=state
    )
    assert torch.equal(again.mapping.mask_logits, resumed.mapping.mask_logits)
    with pytest.raises(GANliftError, match="already holds 3 training steps, more than the 2"):
        train_mapping(
            model.generator, model.inverse_graphics, model.views, config, state_path=state
        )
    assert state.read_bytes() == saved
    with pytest.raises(GANliftError, match=r"different config \(batch_size 2 -> 4\)"):
        train_mapping(
            model.generator,
            model.inverse_graphics,
            model.views,
            MappingTrainConfig(hidden=32, warmup_steps=1, steps=3, batch_size=4),
            state_path=state,
        )
    other_network = copy.deepcopy(model.inverse_graphics)
    with torch.no_grad():
        next(other_network.parameters()).add_(0.01)
    other_views = replace(model.views, codes=model.views.codes.flip(0))
    for network, views in ((other_network, model.views), (model.inverse_graphics, other_views)):
        with pytest.raises(GANliftError, match="another inverse graphics network or other view"):
            train_mapping(
                model.generator, network, views,
                MappingTrainConfig(hidden=32, warmup_steps=1, steps=4, batch_size=2),
                state_path=state,
            )  # fmt: skip


def test_training_commands_write_their_config_only_for_a_run_they_accept(
    model, tmp_path, capsys
) -> None:
    """The config goes beside --out as .json, after the trainer accepted the run: never over
    a GAN's model.json, never claiming a setting a refused resume did not take."""
    save_checkpoint(tmp_path / "model", model.generator)
    gan_config = (tmp_path / "model.json").read_bytes()
    labeller = ["styleganr", "train-labeller", "--size", "16", "--steps", "1"]
    assert main([*labeller, "--out", str(tmp_path / "model.pt")]) == 2
    assert (tmp_path / "model.json").read_bytes() == gan_config
    assert not (tmp_path / "model.pt").exists()

    inverse = tmp_path / "inverse.pt"
    command = ["styleganr", "train-inverse", "--synthetic", "--size", "16", "--out", str(inverse)]
    assert main([*command, "--steps", "1", "--batch-size", "2"]) == 0
    assert main([*command, "--steps", "2", "--batch-size", "3"]) == 2  # another config
    capsys.readouterr()
    assert main([*command, "--steps", "1", "--batch-size", "2", "--views", "v.safetensors"]) == 2
    assert "--views and --labeller belong with --checkpoint" in capsys.readouterr().err
    assert json.loads(inverse.with_suffix(".json").read_text())["batch_size"] == 2


def test_training_settings_that_cannot_train_are_refused() -> None:
    """--learning-rate 1e300 overflowed in Adam and 1e30 saved nan weights; --warmup -1 was
    saved as given."""
    for rate in (0.0, 1.5, 1e300):
        with pytest.raises(GANliftError, match="learning rate above 0 and at most 1"):
            LabellerConfig(learning_rate=rate)
    with pytest.raises(GANliftError, match="warmup_steps must be 0 or more, got -1"):
        MappingTrainConfig(warmup_steps=-1)
    assert MappingTrainConfig(warmup_steps=0, steps=1).warmup_steps == 0
    counts = "steps, batch size and checkpoint_every must be at least 1, got "
    too_small = r"image_size must be at least 16 .*, got 8; give 16 or more"
    with pytest.raises(GANliftError, match=too_small):
        LabellerConfig(image_size=8)
    for config in (LabellerConfig, InverseGraphicsTrainConfig, MappingTrainConfig):
        with pytest.raises(GANliftError, match=f"{counts}4, 0 and 500"):
            config(steps=4, batch_size=0, checkpoint_every=500)


@pytest.mark.parametrize(
    ("arguments", "refusal"),
    [
        (["train-labeller", "--steps", "0"], "--steps: expected a whole number from 1 to"),
        (["train-labeller", "--steps", "1" + "0" * 23], "--steps: expected a whole number"),
        (["train-labeller", "--size", "100000"], "--size: expected a whole number from 16 to"),
        (["train-inverse", "--synthetic", "--batch-size", "100000000"], "--batch-size: expected"),
        (["train-inverse", "--synthetic", "--steps", "0"], "--steps: expected a whole number"),
        (["train-inverse", "--synthetic", "--size", "100000"], "--size: expected a whole number"),
        (["train-mapping", "--steps", "0"], "--steps: expected a whole number from 1 to"),
        (["train-mapping", "--warmup", "-3"], "--warmup: expected a whole number from 0 to"),
        (["view-layers", "--pairs", "100000000"], "--pairs: expected a whole number from 2 to"),
        (["view-codes", "--layers", "0"], "--layers: expected a whole number of at least 1"),
        (["hand-label", "--bins", "361"], "--bins: expected a whole number from 1 to 360"),
        (["auto-label", "--keep", "0"], "--keep: expected a whole number of at least 1"),
    ],
)
def test_styleganr_numbers_are_bounded_as_they_are_parsed(
    arguments, refusal, tmp_path, capsys
) -> None:
    """They were plain integers: `train-labeller --steps 10**23` trained on (for ever),
    `train-inverse --batch-size 10**8` ran until the time limit, and `train-labeller --steps
    0` wrote a config and nothing else."""
    out = tmp_path / "never-written.pt"
    with pytest.raises(SystemExit) as exit_status:
        main(["styleganr", *arguments, "--out", str(out)])
    assert exit_status.value.code == 2
    assert refusal in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_saves_a_training_commands_state(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr("engine.cli.styleganr.stop_on_signals", stop_on_signals_after(1))
    out = tmp_path / "labeller.pt"
    command = ["styleganr", "train-labeller", "--size", "16", "--steps", "5", "--out", str(out)]
    assert main(command) == 130
    assert "run the same command to continue" in capsys.readouterr().out
    assert read_state(out, "ganlift-styleganr-view-labeller")["step"] == 1
    assert json.loads(out.with_suffix(".json").read_text())["steps"] == 5


def test_labeller_cli_fine_tunes_a_resumed_state_augmented_at_its_own_rate(
    tmp_path, capsys
) -> None:
    out = tmp_path / "labeller.pt"
    command = ["styleganr", "train-labeller", "--out", str(out), "--size", "16"]
    assert main([*command, "--steps", "1", "--no-augment"]) == 0
    assert f"-> {out} (its config: {out.with_suffix('.json')})" in capsys.readouterr().out
    assert json.loads(out.with_suffix(".json").read_text())["augment"] is False
    assert main([*command, "--steps", "2", "--learning-rate", "1e-4"]) == 0
    config = json.loads(out.with_suffix(".json").read_text())
    assert config["augment"] is True and config["learning_rate"] == 1e-4
    state = read_state(out, "ganlift-styleganr-view-labeller")
    assert state["step"] == 2
    assert state["optimiser"]["param_groups"][0]["lr"] == 1e-4
    assert main([*command, "--steps", "3", "--learning-rate", "-1"]) == 2
    assert read_state(out, "ganlift-styleganr-view-labeller")["step"] == 2


def test_a_state_file_of_another_kind_is_named_by_what_it_holds(tmp_path) -> None:
    other = write_state(tmp_path / "other.pt", {"format": "ganlift-styleganr-mapping"})
    with pytest.raises(GANliftError, match="holds a 'ganlift-styleganr-mapping' file"):
        read_state(other, "ganlift-styleganr-view-labeller")
    weights = tmp_path / "weights.safetensors"
    safetensors.torch.save_file({"x": torch.zeros(1)}, str(weights))
    with pytest.raises(GANliftError, match=r"holds plain weights, not a view labeller; pass the"):
        read_state(weights, "ganlift-styleganr-view-labeller")
    model = write_state(tmp_path / "model.pt", {"format": "ganlift-styleganr"})
    refusal = "holds a StyleGAN-R model, not a view labeller; pass the file styleganr "
    with pytest.raises(GANliftError, match=f"{refusal}train-labeller wrote."):
        read_state(model, "ganlift-styleganr-view-labeller")


def test_view_layer_fit_moves_only_the_camera_branch_onto_the_labelled_codes(model) -> None:
    mapping = copy.deepcopy(model.mapping)
    cameras, codes = model.views.labelled(), model.views.codes
    spread = (codes - mapping.mean_w).square().mean()
    untouched = {k: v.clone() for k, v in mapping.state_dict().items() if "camera_net" not in k}
    error = fit_view_layers(mapping, cameras, codes, steps=300, learning_rate=1e-2)
    assert error < 0.01 * float(spread)
    with torch.no_grad():
        fitted = (mapping.view_layers(cameras) - codes).square().mean()
    assert error == pytest.approx(float(fitted))
    for name, value in mapping.state_dict().items():
        if name in untouched:
            assert torch.equal(value, untouched[name]), name


def test_gan_view_pairs_share_content_across_two_views(model) -> None:
    source = gan_view_pairs(
        model.generator, model.views, lambda images: torch.ones_like(images[:, :1])
    )
    pairs = source(3, torch.Generator().manual_seed(0))
    assert pairs.images.shape == (3, 2, 3, 16, 16) and pairs.masks.shape == (3, 2, 1, 16, 16)
    assert bool((pairs.cameras[:, 0] != pairs.cameras[:, 1]).any(1).all())


def test_cli_runs_end_to_end_and_errors_are_one_line(model, tmp_path, capsys) -> None:
    checkpoint = str(save_checkpoint(tmp_path / "gan", model.generator))
    model.generator_path = checkpoint
    model_file = str(save_styleganr(model, tmp_path / "model.pt"))
    views, labels = str(tmp_path / "views.safetensors"), str(tmp_path / "labels.json")

    def styleganr(*arguments: str | Path) -> int:
        return main(["styleganr", *map(str, arguments)])

    def hand_label(*settings: str, out: Path) -> int:
        return styleganr("hand-label", "--views", views, "--labels", labels, "--set", *settings,
                         "--out", out)  # fmt: skip

    layers = tmp_path / "layers.png"
    assert styleganr("--device", "cpu", "view-layers", "--checkpoint", checkpoint,
                     "--out", layers, "--pairs", "2") == 0  # fmt: skip
    assert layers.is_file()
    assert styleganr("view-codes", "--checkpoint", checkpoint, "--count", "3", "--layers", "2",
                     "--out", views, "--sheet", tmp_path / "sheet.png") == 0  # fmt: skip
    assert hand_label("0=1", "2=6", out=tmp_path / "labelled.safetensors") == 0
    assert load_view_codes(tmp_path / "labelled.safetensors").labelled()[:, 0].tolist() == [
        30,
        180,
    ]  # 12 bins
    codes = Path(views).read_bytes()
    (tmp_path / "taken.png").mkdir()  # a sheet it cannot write: refused before the codes are
    assert styleganr("view-codes", "--checkpoint", checkpoint, "--count", "2", "--layers", "2",
                     "--out", views, "--sheet", tmp_path / "taken.png") == 2  # fmt: skip
    assert "Output file" in capsys.readouterr().err and Path(views).read_bytes() == codes
    (tmp_path / "codes-folder.safetensors").mkdir()  # checked before the (missing) GAN is opened
    assert styleganr("view-codes", "--checkpoint", tmp_path / "missing.pt",
                     "--out", tmp_path / "codes-folder.safetensors") == 2  # fmt: skip
    assert "Output file" in capsys.readouterr().err
    camera, swap = tmp_path / "camera.png", tmp_path / "swap.png"
    assert styleganr("set-camera", "--model", model_file, "--azimuth", "90", "--count", "2",
                     "--out", camera) == 0  # fmt: skip
    assert styleganr("swap", "--model", model_file, "--source-seed", "3", "--part", "texture",
                     "--out", swap) == 0  # fmt: skip
    assert camera.is_file() and swap.is_file()
    capsys.readouterr()
    with pytest.raises(SystemExit):  # the engine's refusal named no option
        styleganr("set-camera", "--model", model_file, "--azimuth", "9", "--scale", "0",
                  "--out", tmp_path / "zero.png")  # fmt: skip
    assert "argument --scale: expected a number above 0, got '0'" in capsys.readouterr().err
    assert hand_label("zero=1", out=tmp_path / "x.safetensors") == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and "INDEX=BIN" in error
    Path(labels).write_bytes(b"\x89PNG\xff\xfe")  # a picture saved under the labels' name
    assert hand_label("0=1", out=tmp_path / "x.safetensors") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "The hand labels file" in error
    assert "is not JSON text; pass the JSON file" in error
    with pytest.raises(SystemExit):
        styleganr("view-layers", "--pairs", "1", "--checkpoint", checkpoint, "--out", "x.png")
    assert "--pairs: expected a whole number from 2 to 256, got '1'" in capsys.readouterr().err
    assert styleganr("mesh", "--model", tmp_path / "missing.pt", "--image", "x.png",
                     "--out", tmp_path / "m.glb") == 2  # fmt: skip
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "missing.pt" in error
    dot = save_image(torch.zeros(1, 3, 1, 1), tmp_path / "dot.png")
    assert (
        styleganr("mesh", "--model", model_file, "--image", dot, "--out", tmp_path / "m.glb") == 2
    )
    error = capsys.readouterr().err  # as reconstruct and the Cars tab refuse it
    assert error.count("\n") == 1 and "is only 1x1 pixels; use an image at least 16" in error
    assert not (tmp_path / "m.glb").exists()
    car = save_image(torch.rand(1, 3, 24, 24) * 2 - 1, tmp_path / "car.png")
    assert styleganr("mesh", "--model", model_file, "--image", car, "--out", tmp_path / "m.glb",
                     "--min-image-side", "30") == 2  # fmt: skip
    assert "is only 24x24 pixels; use an image at least 30" in capsys.readouterr().err
    unicode = tmp_path / "é.glb"
    assert styleganr("mesh", "--model", model_file, "--image", car, "--out", unicode) == 0
    printed = capsys.readouterr().out  # a path to copy back, not "\u00e9.glb"
    assert json.loads(printed) == {"mesh": str(unicode)} and "é.glb" in printed
    assert styleganr("view-layers", "--checkpoint", tmp_path / "missing.pt",
                     "--out", tmp_path / "layers.txt") == 2  # fmt: skip
    error = capsys.readouterr().err  # refused before the (missing) checkpoint is opened
    assert error.count("\n") == 1 and "Cannot save an image as 'layers.txt'" in error
    (tmp_path / "taken.obj").mkdir()  # a traceback, after the work, and the MTL left beside it
    for command in (["--model", tmp_path / "missing.pt"], ["--model", model_file]):
        code = styleganr("mesh", *command, "--image", dot, "--out", tmp_path / "taken.obj")
        assert code == 2 and "Output file" in capsys.readouterr().err
        assert not (tmp_path / "taken.mtl").exists()
    fresh = tmp_path / "fresh.json"  # --out a folder: refused before the labels are written
    (tmp_path / "folder.safetensors").mkdir()
    code = styleganr("hand-label", "--views", views, "--labels", fresh, "--set", "0=3",
                     "--out", tmp_path / "folder.safetensors")  # fmt: skip
    assert code == 2 and "is a folder; choose a file name" in capsys.readouterr().err
    assert not fresh.exists()
    for action, source in (("view-codes", "--checkpoint"), ("export-views", "--model")):
        with pytest.raises(SystemExit):  # safetensors under a picture's name
            source_file = checkpoint if source == "--checkpoint" else model_file
            styleganr(action, source, source_file, "--out", tmp_path / "views.png")
        assert "give a name ending in .safetensors, got" in capsys.readouterr().err
    assert not (tmp_path / "views.png").exists()


def test_a_shipped_models_views_and_inverse_network_start_a_retraining(model, tmp_path) -> None:
    shipped = _saved_with_its_gan(model, tmp_path / "m.pt", half=True)
    views = tmp_path / "views.safetensors"
    assert main(["styleganr", "export-views", "--model", str(shipped), "--out", str(views)]) == 0
    assert torch.equal(load_view_codes(views).codes, model.views.codes)
    assert torch.equal(load_view_codes(views).labelled(), model.views.labelled())

    network = model.inverse_graphics
    weights = inverse_graphics_weights(shipped, network.config)
    read_back = inverse_graphics_of(shipped)  # train-mapping --inverse takes a model too
    with pytest.raises(GANliftError, match="is a StyleGAN2 model, not a StyleGAN-R one"):
        inverse_graphics_of("default-car")
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(shipped.read_bytes()[:1000])
    with pytest.raises(GANliftError, match=r"damaged\.pt cannot be read as a StyleGAN-R model"):
        inverse_graphics_of(damaged)
    assert not read_back.training and read_back.template.vertices.device.type == "cpu"
    for name, value in read_back.state_dict().items():
        assert torch.equal(value, weights[name].float()), name
    pairs = gan_view_pairs(model.generator, model.views, lambda images: images[:, :1] > 0)
    config = InverseGraphicsTrainConfig(
        network=network.config, steps=1, batch_size=2, learning_rate=1e-9, checkpoint_every=1
    )
    started = train_inverse_graphics(
        pairs, config, state_path=tmp_path / "inverse.pt", initial_weights=weights
    ).network
    assert weights["to_codes.weight"].dtype == torch.float16
    for name, value in started.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.allclose(value, weights[name].float(), atol=1e-6), name
    with pytest.raises(GANliftError, match=r"different config \(perceptual_after 2000 -> 0\)"):
        train_inverse_graphics(
            pairs, replace(config, perceptual_after=0), state_path=tmp_path / "inverse.pt"
        )
    fresh = train_inverse_graphics(pairs, config, state_path=tmp_path / "fresh.pt").network
    assert not torch.allclose(fresh.to_codes.weight, network.to_codes.weight)
    state = torch.load(tmp_path / "fresh.pt", weights_only=True)
    torch.save(state | {"rng": [1]}, tmp_path / "fresh.pt")  # a TypeError before
    with pytest.raises(GANliftError, match="holds a damaged random generator state"):
        train_inverse_graphics(pairs, replace(config, steps=2), state_path=tmp_path / "fresh.pt")

    other = replace(network.config, shape_dim=16)
    with pytest.raises(GANliftError, match="another architecture"):
        inverse_graphics_weights(shipped, other)
    damaged = torch.load(shipped, weights_only=True)
    first = next(iter(damaged["inverse_graphics"]["state"]))
    damaged["inverse_graphics"]["state"][first] = (
        damaged["inverse_graphics"]["state"][first] * math.nan
    )
    torch.save(damaged, tmp_path / "nan.pt")  # its file was not named ("The initial weights")
    with pytest.raises(GANliftError, match=r"nan\.pt's inverse_graphics network holds"):
        inverse_graphics_weights(tmp_path / "nan.pt", network.config)
    # The CLI trains the full-size network, which this tiny model's cannot start.
    command = ["styleganr", "train-inverse", "--synthetic", "--init-from", str(shipped)]
    assert main([*command, "--steps", "1", "--out", str(tmp_path / "cli.pt")]) == 2
    assert not (tmp_path / "cli.pt").exists()


def test_the_shipped_model_starts_a_run_by_name_and_the_run_resumes_without_it(tmp_path) -> None:
    out = tmp_path / "inverse.pt"
    command = ["styleganr", "train-inverse", "--synthetic", "--size", "16", "--batch-size", "2"]
    begun = [*command, "--init-from", "default-car-styleganr", "--steps", "1", "--out", str(out)]
    assert main(begun) == 0
    assert main([*command, "--steps", "2", "--out", str(out)]) == 0  # the run's own warm-up
    assert read_state(out, "ganlift-styleganr-inverse-graphics")["step"] == 2


def test_a_bundled_model_is_found_by_name_and_a_path_is_taken_as_given(
    model, tmp_path, monkeypatch
) -> None:
    """`--model default-car-styleganr` (the Cars tab's model, by the name the README uses)
    loads like its file; a path, even one without a suffix, stays a path."""
    bundled = tmp_path / "models"
    assert resolve_model_path("shipped", models_dir=bundled) == bundled / "shipped.pt"
    save_checkpoint(bundled / "a-gan", model.generator)
    with pytest.raises(GANliftError, match="'a-gan' is a StyleGAN2 model, not a StyleGAN-R one"):
        resolve_model_path("a-gan", models_dir=bundled)
    with pytest.raises(GANliftError, match="models is a folder; pass a file"):
        load_styleganr(bundled)
    monkeypatch.chdir(tmp_path)
    save_styleganr(model, tmp_path / "local")  # a file here wins over the bundled name
    assert resolve_model_path("local", models_dir=bundled) == Path("local")
    assert resolve_model_path("other.pt", models_dir=bundled) == Path("other.pt")
    assert main(["styleganr", "export-views", "--model", "default-car-styleganr",
                 "--out", str(tmp_path / "views.safetensors")]) == 0  # fmt: skip
    assert len(load_view_codes(tmp_path / "views.safetensors").codes) > 0


def test_a_half_precision_export_reads_back_and_draws_nearly_the_same(model, tmp_path) -> None:
    full = save_styleganr(model, tmp_path / "full.pt")
    half = save_styleganr(model, tmp_path / "half.pt", half=True)
    assert half.stat().st_size < 0.7 * full.stat().st_size
    shipped = load_styleganr(half, generator=model.generator)
    assert shipped.mapping.mask_logits.dtype == torch.float32
    codes = _codes(2, seed=5)
    with torch.no_grad():
        difference = (shipped.mapping(codes) - model.mapping(codes)).abs().max()
    assert difference < 1e-2


def test_export_bundles_the_segmenter_and_photos_are_then_read_by_outline(model, tmp_path) -> None:
    labeller_file = tmp_path / "labeller.pt"
    config = LabellerConfig(image_size=16, width=4, steps=1, batch_size=2, checkpoint_every=1)
    segmenter = train_view_labeller(config, state_path=labeller_file, image_size=16)
    _saved_with_its_gan(model, tmp_path / "model.pt")
    arguments = ["--model", str(tmp_path / "model.pt"), "--segmenter", str(labeller_file)]
    shipped_file = tmp_path / "shipped.pt"
    assert main(["styleganr", "export", *arguments, "--out", str(shipped_file)]) == 0
    assert load_styleganr(tmp_path / "model.pt").segmenter is None
    shipped = load_styleganr(shipped_file)
    photo = fit_to_frame(sample(model, 1, seed=2).image, model.generator.config.size)
    mask = predict_views(shipped.segmenter, photo)[1]
    assert (mask - predict_views(segmenter, photo)[1]).abs().max() < 1e-2  # float16 weights
    network = shipped.inverse_graphics
    camera = estimate_camera(network, photo, shipped.views.labelled(), mask=mask)
    expected = encode_image(network, photo, camera).camera
    assert torch.equal(encode_photo(shipped, photo).codes.camera, expected)


def test_export_with_a_checkpoint_records_where_the_gan_is_now(model, tmp_path) -> None:
    old_place = save_checkpoint(tmp_path / "old" / "gan", model.generator)
    save_styleganr(replace(model, generator_path=str(old_place)), tmp_path / "model.pt")
    new_place = tmp_path / "new"
    new_place.mkdir()
    for suffix in (".safetensors", ".json"):
        old_place.with_suffix(suffix).rename(new_place / f"gan{suffix}")
    exported = tmp_path / "exported.pt"
    arguments = ["--model", str(tmp_path / "model.pt"), "--out", str(exported)]
    checkpoint = str(new_place / "gan.safetensors")
    assert main(["styleganr", "--device", "cpu", "export", "--checkpoint", checkpoint,
                 *arguments]) == 0  # fmt: skip
    assert load_styleganr(exported).generator_path == str(Path(checkpoint).resolve())


def test_export_replaces_an_exported_model_but_never_a_training_run(
    model, tmp_path, capsys
) -> None:
    """`export --out inv.pt` silently replaced a train-inverse state with networks alone."""
    checkpoint = save_checkpoint(tmp_path / "gan", model.generator)
    model = replace(model, generator_path=str(checkpoint))
    source = save_styleganr(model, tmp_path / "model.pt")
    runs = [
        save_styleganr(model, tmp_path / "mapping-run.pt", training={"step": 3}),
        write_state(tmp_path / "inverse.pt", {"format": "ganlift-styleganr-inverse-graphics"}),
    ]
    for run in runs:
        before = run.read_bytes()
        assert main(["styleganr", "export", "--model", str(source), "--out", str(run)]) == 2
        assert "and its training state, which export" in capsys.readouterr().err
        assert run.read_bytes() == before
    exported = tmp_path / "exported.pt"
    for _ in range(2):  # an export is replaced by the next
        assert main(["styleganr", "export", "--model", str(source), "--out", str(exported)]) == 0
    assert load_styleganr(exported).generator_path == str(checkpoint)


def test_a_model_refuses_another_gan_of_the_same_shapes(model, tmp_path) -> None:
    model_file = save_styleganr(model, tmp_path / "model.pt")
    assert load_styleganr(model_file, generator=model.generator).views.codes.shape[0] == 4
    other = copy.deepcopy(model.generator)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    with pytest.raises(GANliftError, match="another StyleGAN2"):
        load_styleganr(model_file, generator=other)


def test_view_codes_serve_only_the_gan_they_were_drawn_from(model, tmp_path) -> None:
    """Labelled or saved, view codes keep their GAN's fingerprint; every use with another GAN
    of the same shapes is refused, and codes of unknown origin are taken as they are."""
    generator = model.generator
    views = sample_view_codes(generator, 3, num_view_layers=VIEW_LAYERS, seed=1)
    labelled = HandLabels(bins={0: 0, 1: 2, 2: 4}).cameras(views)
    loaded = load_view_codes(save_view_codes(labelled, tmp_path / "views.safetensors"))
    assert loaded.generator == generator_fingerprint(generator) == views.generator
    other = copy.deepcopy(generator)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    readings = _FixedReadings(_raw_targets(torch.tensor([[0.0, 10.0, 1.0]])))
    uses = {
        "pairs": lambda gan: gan_view_pairs(gan, loaded, lambda images: images[:, :1]),
        "sheet": lambda gan: labelling_sheet(gan, loaded, samples_per_view=1),
        "auto-label": lambda gan: auto_label(gan, loaded, readings, samples_per_view=1),
        "mapping": lambda gan: train_mapping(
            gan, model.inverse_graphics, loaded, MappingTrainConfig(
                hidden=32, steps=1, warmup_steps=1, batch_size=1, view_fit_steps=1
            ),
            state_path=tmp_path / f"mapping-{id(gan)}.pt",
        ),
    }  # fmt: skip
    for use in uses.values():
        use(generator)
        with pytest.raises(GANliftError, match="drawn from another StyleGAN2"):
            use(other)
    unknown = tmp_path / "unknown.safetensors"
    safetensors.torch.save_file({"codes": views.codes, "cameras": labelled.cameras}, unknown)
    assert load_view_codes(unknown).generator is None
    gan_view_pairs(other, load_view_codes(unknown), lambda images: images[:, :1])
    model_file = save_styleganr(model, tmp_path / "model.pt")
    assert load_model_views(model_file).generator == generator_fingerprint(generator)


def test_a_model_whose_gan_was_moved_says_where_it_looked(model, tmp_path) -> None:
    place = save_checkpoint(tmp_path / "gan", model.generator)
    model_file = save_styleganr(replace(model, generator_path=str(place)), tmp_path / "model.pt")
    place.rename(tmp_path / "elsewhere.safetensors")
    with pytest.raises(GANliftError) as refused:
        load_styleganr(model_file)
    assert str(refused.value) == (
        f"{model_file} records its StyleGAN2 as {place}, which is no longer there; pass the "
        "GAN's checkpoint where it is now (--checkpoint, or generator= in Python)."
    )


def test_a_bundled_gan_that_fails_to_load_says_why(model, tmp_path, monkeypatch) -> None:
    """Any error loading a GAN recorded by name read "which is no longer there"."""
    model_file = save_styleganr(replace(model, generator_path="default-car"), tmp_path / "m.pt")

    def damaged(*args, **kwargs):
        raise GANliftError("Cannot read default-car.safetensors: the file is truncated.")

    monkeypatch.setattr(
        importlib.import_module("engine.styleganr.model"), "load_checkpoint", damaged
    )
    with pytest.raises(GANliftError, match=r"^Cannot read default-car\.safetensors"):
        load_styleganr(model_file)


def test_each_sample_is_read_from_its_own_view_codes_camera(model, monkeypatch) -> None:
    """`sample` draws each image under a random labelled view code and hands the inverse
    graphics network that code's camera for that image, not another sample's."""
    edit = importlib.import_module("engine.styleganr.edit")
    drawn, hinted = [], []

    def recording_compose(view_codes, content, num_ws):
        drawn.append(view_codes)
        return compose(view_codes, content, num_ws)

    def recording_encode(network, images, cameras):
        hinted.append(cameras)
        return encode_image(network, images, cameras)

    monkeypatch.setattr(edit, "compose", recording_compose)
    monkeypatch.setattr(edit, "encode_image", recording_encode)
    sample(model, 6, seed=4)
    codes, cameras = model.views.codes, model.views.labelled()
    chosen = [next(k for k in range(len(codes)) if torch.equal(codes[k], row)) for row in drawn[0]]
    assert len(set(chosen)) > 1  # several view codes, so a misaligned hint would show
    assert torch.equal(hinted[0], cameras[chosen])


class _FixedReadings(torch.nn.Module):
    """A stand-in view labeller: fixed raw camera outputs, one row per image."""

    def __init__(self, raw: torch.Tensor) -> None:
        super().__init__()
        self.raw = raw

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.raw, torch.zeros(len(images), 1, 4, 4)


def _raw_targets(cameras: torch.Tensor) -> torch.Tensor:
    """The labeller's raw outputs ``[N, 4]`` that decode to ``cameras [N, 3]``."""
    azimuth = torch.deg2rad(cameras[:, 0])
    return torch.stack(
        [
            azimuth.sin(),
            azimuth.cos(),
            torch.logit(cameras[:, 1] / ELEVATION_RANGE),
            cameras[:, 2].log(),
        ],
        1,
    )


def test_labeller_losses_vanish_on_the_exact_targets_of_known_cameras() -> None:
    """The camera terms are zero when the raw outputs encode the true cameras, so training
    pulls the labeller towards what `decode_camera` reads back."""
    cameras = torch.tensor([[30.0, 10.0, 1.2], [300.0, 25.0, 0.8]])
    labeller = _FixedReadings(_raw_targets(cameras))
    terms = labeller_losses(labeller, torch.zeros(2, 3, 16, 16), cameras, torch.zeros(2, 16, 16))
    for name in ("azimuth", "elevation", "scale"):
        assert float(terms[name]) == pytest.approx(0.0, abs=1e-5), name


def test_auto_label_averages_each_codes_readings_azimuth_on_the_circle(generator) -> None:
    """A code's label is the circular mean of its samples' azimuths (350° and 30° give 10°)
    and the plain means of their elevations and scales."""
    readings = torch.tensor([[350.0, 10.0, 0.8], [30.0, 20.0, 1.2]])
    views = sample_view_codes(generator, 2, num_view_layers=VIEW_LAYERS, seed=3)
    labelled = auto_label(
        generator, views, _FixedReadings(_raw_targets(readings)), samples_per_view=2
    )
    expected = torch.tensor([[10.0, 15.0, 1.0]]).expand(2, -1)
    torch.testing.assert_close(labelled.labelled(), expected, rtol=1e-4, atol=1e-3)


def test_the_view_layer_figure_underlines_the_chosen_mix(generator: Generator) -> None:
    """The green bar sits under the mix of the chosen number of layers (column 2 + k - 1, after
    the content and the donor) and under no other column."""
    analysis = analyse_view_layers(generator, num_pairs=2, figure_rows=1)
    size, padding = generator.config.size, 2
    bar = analysis.figure[0, :, padding + size - 1]  # the last pixel row of the first row of cells
    green = torch.tensor([-1.0, 1.0, -1.0])[:, None]
    marked = [
        column
        for column in range(generator.num_ws + 1)
        if torch.equal(
            bar[:, padding + column * (size + padding) :][:, :size], green.expand(3, size)
        )
    ]
    assert marked == [analysis.num_view_layers + 1]


def test_encode_image_reads_the_background_outside_the_predicted_silhouette() -> None:
    """Pixels the predicted silhouette fully covers do not move the background code."""
    network = InverseGraphicsNet(
        InverseGraphicsConfig(image_size=16, width=4, shape_dim=8, texture_dim=8, texture_size=8)
    ).eval()
    with torch.no_grad():
        network.to_codes.weight.zero_()  # the prediction no longer depends on the image
    camera = torch.tensor([[30.0, 10.0, 1.0]])
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        prediction = network(image)
        silhouette = render_prediction(
            prediction.vertices,
            prediction.texture,
            network.template,
            refine_camera(camera, prediction.camera_correction),
            size=16,
            shift=prediction.shift,
        ).mask
        covered = (silhouette == 1).float()
        assert 0 < int(covered.sum()) < 200
        before = encode_image(network, image, camera).background
        after = encode_image(network, torch.where(covered > 0, -image, image), camera).background
    torch.testing.assert_close(after, before)


def test_synthetic_pairs_are_rendered_on_the_training_device(tmp_path, monkeypatch) -> None:
    """train-inverse --synthetic draws its pairs on --device (they were always drawn on the
    CPU, then copied to the GPU at every step)."""
    devices: list[object] = []
    real = styleganr_cli.synthetic_view_pairs

    def recorded(*args, device="cpu", **kwargs):
        devices.append(torch.device(device))
        return real(*args, device=device, **kwargs)

    monkeypatch.setattr(styleganr_cli, "synthetic_view_pairs", recorded)
    training_device = torch.device("cpu", 0)  # a device that is not the default "cpu"
    monkeypatch.setattr(styleganr_cli, "resolve_device", lambda name: training_device)
    command = ["styleganr", "train-inverse", "--synthetic", "--size", "16", "--steps", "1",
               "--batch-size", "2", "--out", str(tmp_path / "inverse.pt")]  # fmt: skip
    assert main(command) == 0
    assert devices and set(devices) == {training_device}


def _damage(state: dict, where: str) -> dict:
    """A copy of a StyleGAN-R model state with the part `where` damaged."""
    state = copy.deepcopy(state)
    weights = state["inverse_graphics"]["state"]
    first = next(iter(weights))
    if where == "nan weight":
        weights[first] = torch.full_like(weights[first], math.nan)
    elif where == "wrong shape":
        weights[first] = torch.zeros(3)
    elif where == "no mapping config":
        del state["mapping"]["config"]
    elif where == "no inverse graphics":
        state["inverse_graphics"] = None
    elif where == "cameras":
        state["views"]["cameras"] = [1]
    else:
        state["generator_path"] = 5
    return state


@pytest.mark.parametrize(
    ("where", "message"),
    [  # a NaN weight wrote a mesh of NaN vertices; the others were tracebacks
        ("nan weight", "'s inverse_graphics network holds 108 values in encoder.0.weight"),
        ("wrong shape", "'s inverse_graphics network does not fit the InverseGraphicsNet"),
        ("no mapping config", "lacks its mapping.config (a damaged or edited file)"),
        ("no inverse graphics", "lacks its inverse_graphics.config (a damaged or edited file)"),
        ("generator path", "records its StyleGAN2 as 5; pass the file GANlift wrote"),
        ("cameras", "holds view codes that are no tensors"),  # an AttributeError
    ],
)
def test_a_damaged_model_file_is_refused_in_a_sentence(model, tmp_path, where, message) -> None:
    path = save_styleganr(model, tmp_path / "model.pt")
    torch.save(_damage(torch.load(path, weights_only=True), where), path)
    with pytest.raises(GANliftError, match=re.escape(message)):
        load_styleganr(path, generator=model.generator)


def test_a_damaged_labeller_state_is_refused_in_a_sentence(tmp_path) -> None:
    config = LabellerConfig(image_size=16, width=4, steps=1, batch_size=2, checkpoint_every=1)
    path = tmp_path / "labeller.pt"
    train_view_labeller(config, state_path=path, image_size=16)
    state = torch.load(path, weights_only=True)
    first = next(iter(state["labeller"]))
    for step in ("x", -5, True):  # int()'s ValueError before, or taken as given
        torch.save(state | {"step": step}, path)
        with pytest.raises(GANliftError, match=f"holds step {step!r}, which is no count of steps"):
            train_view_labeller(replace(config, steps=2), state_path=path, image_size=16)
    nan = state["labeller"] | {first: torch.full_like(state["labeller"][first], math.nan)}
    torch.save(state | {"labeller": nan}, path)
    with pytest.raises(GANliftError, match="that are not finite"):
        load_view_labeller(path)
    torch.save({key: value for key, value in state.items() if key != "labeller"}, path)
    with pytest.raises(GANliftError, match="lacks its labeller"):  # a KeyError before
        load_view_labeller(path)


def test_a_model_file_asking_for_huge_networks_is_refused_before_building_them(
    model, tmp_path
) -> None:
    """A StyleGAN-R file with num_ws 10**7 asked the Cars tab for 2441 GiB; one with 14
    subdivisions ran for minutes; a preset's networks.width 10**6 started the app serving."""
    path = save_styleganr(model, tmp_path / "model.pt")
    state = torch.load(path, weights_only=True)
    for part, key, value, message in (
        ("mapping", "num_ws", 10**7, "num_ws must be a whole number from 1 to 64"),
        ("inverse_graphics", "subdivisions", 14, "subdivisions must be from 0 to 6"),
        ("inverse_graphics", "width", 10**6, "width must be a whole number from 1 to 1024"),
    ):
        damaged = copy.deepcopy(state)
        damaged[part]["config"][key] = value
        torch.save(damaged, path)
        with pytest.raises(GANliftError, match=f"model.pt is not a valid .*{message}"):
            load_styleganr(path, generator=model.generator)
    nan = copy.deepcopy(state)
    nan["views"]["codes"] = nan["views"]["codes"] * math.nan
    torch.save(nan, path)
    with pytest.raises(GANliftError, match=r"model\.pt holds damaged view codes \(View codes hold"):
        load_styleganr(path, generator=model.generator)  # named no file, said to draw new codes
    preset = json.loads(get_preset("default-face").to_json())
    preset["networks"]["width"] = 10**6
    with pytest.raises(GANliftError, match=r"networks\.width must be a whole number from 1 to"):
        Gan2ShapePreset.from_json(json.dumps(preset))


def test_camera_range_rounds_the_labelled_cameras_outward_to_the_slider_steps(model) -> None:
    """Cameras between two slider steps widen the range to the next step out, never in."""
    cameras = torch.tensor([[0.0, 5.04, 0.904], [90, 10, 1], [180, 19.96, 1.196], [270, 10, 1]])
    taught = camera_range(replace(model, views=ViewCodes(model.views.codes, cameras)))
    assert taught == CameraRange(elevation=(5.0, 20.0), scale=(0.9, 1.2))


def test_set_camera_keeps_an_outside_camera_only_within_half_a_step_of_every_samples_own(
    model,
) -> None:
    """A camera outside the labelled range is kept only where it is every sample's own, to
    half a slider step."""
    first = sample(model, 2, seed=0)
    own = torch.tensor([[0.0, 25.63, 1.5], [0.0, 25.63, 1.5]])
    outside = Sample(replace(first.codes, camera=own), first.image)
    kept = set_camera(model, outside, azimuth=90, elevation=25.6, scale=1.504)
    assert kept.codes.camera[:, 2].tolist() == [pytest.approx(1.504)] * 2
    for elevation, scale, message in (
        (25.7, 1.5, r"elevations from 5° to 20° .*, got 25\.7°"),  # 0.07° off its own
        (25.6, 1.51, r"scales from 0\.9 to 1\.2 .*, got 1\.51"),  # 0.01 off its own
    ):
        with pytest.raises(GANliftError, match=message):
            set_camera(model, outside, azimuth=90, elevation=elevation, scale=scale)
    mixed = torch.tensor([[0.0, 25.63, 1.0], [0.0, 12.0, 1.0]])  # one sample's own only
    with pytest.raises(GANliftError, match=r"elevations from 5° to 20° .*, got 25\.6°"):
        set_camera(
            model, Sample(replace(first.codes, camera=mixed), first.image), azimuth=0,
            elevation=25.6, scale=1.0,
        )  # fmt: skip


def test_swap_refuses_the_camera_which_set_camera_moves(model) -> None:
    """The camera is no swappable part: set_camera moves it."""
    first, donor = sample(model, 1, seed=0), sample(model, 1, seed=5)
    with pytest.raises(GANliftError, match="Unknown part 'camera'; use one of shape, texture"):
        swap(model, first, donor, part="camera")


def test_edits_refuse_a_picture_for_a_sample(model) -> None:
    """A sample's .image passed for the sample failed on its missing .codes."""
    first = sample(model, 1, seed=0)
    for edit, what in (
        (lambda: set_camera(model, first.image, azimuth=30, elevation=10), "set_camera's target"),
        (lambda: swap(model, first.image, first, part="shape"), "swap's target"),
        (lambda: swap(model, first, first.image, part="shape"), "swap's source"),
    ):
        with pytest.raises(GANliftError, match=rf"^{what} is a Sample .*, got a Tensor; a Samp"):
            edit()


def test_car_meshes_leave_turned_not_mirrored(model) -> None:
    """The export turns object coordinates half a turn about x: the car's own left (+x) stays
    +x, and the faces still wind outwards (a positive signed volume), as in the template."""
    template = model.inverse_graphics.template.vertices
    mesh = car_to_mesh(model, torch.rand(1, 3, 24, 24) * 2 - 1)
    assert mesh.vertices[template[:, 0].argmax(), 0] == mesh.vertices[:, 0].max()
    corners = torch.as_tensor(mesh.vertices)[torch.as_tensor(mesh.faces).long()]  # [F, 3, 3]
    signed_volume = torch.linalg.det(corners).sum() / 6
    assert float(signed_volume) > 0


def test_estimate_camera_renders_every_candidate_refined_by_the_network(model, monkeypatch) -> None:
    """Every labelled camera is rendered after the network's correction, in one batch."""
    module = importlib.import_module("engine.styleganr.encoding")
    drawn = []

    def recording(*args, **kwargs):
        drawn.append(args[3])  # the cameras
        return render_prediction(*args, **kwargs)

    image = sample(model, 1, seed=3).image
    monkeypatch.setattr(module, "render_prediction", recording)
    candidates = model.views.labelled()
    estimate_camera(model.inverse_graphics, image, candidates)
    with torch.no_grad():
        correction = model.inverse_graphics(image).camera_correction  # [1, 3], not all zero
    assert float(correction[:, :2].abs().min()) > 1e-3
    assert len(drawn) == 1
    torch.testing.assert_close(drawn[0], refine_camera(candidates, correction.expand(4, -1)))


def test_encode_photo_estimates_the_camera_with_the_segmenters_silhouette(
    model, monkeypatch
) -> None:
    """A model with a segmenter compares silhouettes of the framed photo; without one, colour
    alone."""
    torch.manual_seed(0)
    segmenter = ViewLabeller(LabellerConfig(image_size=16, width=4)).eval()
    module = importlib.import_module("engine.styleganr.edit")
    masks = []

    def recording(network, image, candidates, *, mask=None, refine=False):
        masks.append(mask)
        return estimate_camera(network, image, candidates, mask=mask, refine=refine)

    monkeypatch.setattr(module, "estimate_camera", recording)
    photo = sample(model, 1, seed=2).image
    encode_photo(replace(model, segmenter=segmenter), photo)
    framed = frame_object(photo, model.generator.config.size)
    assert masks[0] is not None
    torch.testing.assert_close(masks[0], predict_views(segmenter, framed)[1])
    encode_photo(model, photo)
    assert masks[1] is None  # no segmenter: colour alone


def test_the_view_layers_are_the_prefix_of_the_best_transfer_and_kept_sum(generator) -> None:
    """The chosen number of view layers maximises view moved plus appearance kept."""
    analysis = analyse_view_layers(generator, num_pairs=2, figure_rows=1)
    sums = [t + k for t, k in zip(analysis.view_transfer, analysis.appearance_kept, strict=True)]
    assert len(set(sums)) > 1  # not a tie: the choice means something
    assert sums[analysis.prefix_lengths.index(analysis.num_view_layers)] == max(sums)


def test_a_view_reader_is_preferred_to_silhouettes(generator) -> None:
    """Given both a view reader and a silhouette function, the view reader measures the transfer."""

    def colour_statistics(images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(2)
        return torch.cat([flat.mean(2), flat.std(2)], 1)

    def bright(images: torch.Tensor) -> torch.Tensor:
        return (images.mean(1, keepdim=True) > 0).float()

    alone = analyse_view_layers(generator, num_pairs=2, view_fn=colour_statistics)
    both = analyse_view_layers(generator, num_pairs=2, view_fn=colour_statistics, mask_fn=bright)
    by_silhouette = analyse_view_layers(generator, num_pairs=2, mask_fn=bright)
    assert both.view_transfer == alone.view_transfer
    assert both.view_transfer != by_silhouette.view_transfer


def test_the_mapping_network_leaves_at_least_one_content_layer() -> None:
    """The view layers are 1 to num_ws - 1: some layer must carry the content."""
    sizes = {"num_ws": 6, "style_dim": 8, "shape_dim": 4, "texture_dim": 4}
    for layers in (0, 6):
        with pytest.raises(ValueError, match=r"num_view_layers must be in 1\.\.5, got"):
            MappingConfig(**sizes, num_view_layers=layers)
    assert MappingConfig(**sizes, num_view_layers=5).num_view_layers == 5


def test_a_model_refuses_a_gan_of_another_w_width(model, tmp_path) -> None:
    """Same number of W+ rows, another width: named by its shapes, before any fingerprint."""
    model_file = save_styleganr(model, tmp_path / "model.pt")
    wider = tiny_generator(16, channels={4: 16, 8: 16, 16: 8}, style_dim=2 * STYLE_DIM, n_mlp=2)
    assert wider.num_ws == model.generator.num_ws
    expected = rf"W\+ {wider.num_ws} x {STYLE_DIM}, but the given one has {wider.num_ws} x 32"
    with pytest.raises(GANliftError, match=expected):
        load_styleganr(model_file, generator=wider)


def test_sample_refuses_a_count_below_one_or_not_whole(model) -> None:
    """Zero samples are refused by name rather than drawn as an empty batch; 2.0 or "2" failed
    in torch's randint."""
    with pytest.raises(GANliftError, match="number of samples must be at least 1, got 0"):
        sample(model, 0)
    for count in (2.0, "2"):
        with pytest.raises(GANliftError, match=r"^The number of samples must be a whole number"):
            sample(model, count)


def test_style_codes_first_and_detach_keep_every_part() -> None:
    """`first(n)` keeps the first n samples of every code; `detach` keeps the values."""
    codes = _codes(3, seed=4)
    tracked = StyleCodes(*(value.clone().requires_grad_() for value in codes.__dict__.values()))
    first, detached = codes.first(2), tracked.detach()
    for name in ("camera", *PARTS):
        assert torch.equal(first.part(name), codes.part(name)[:2]), name
        assert torch.equal(detached.part(name), codes.part(name)), name
        assert not detached.part(name).requires_grad, name


def test_a_model_file_here_wins_over_a_bundled_stylegan2_of_its_name(tmp_path, monkeypatch) -> None:
    """The StyleGAN2-name refusal applies only where no StyleGAN-R file of that name exists."""
    bundled = tmp_path / "models"
    bundled.mkdir()
    for name in ("a-gan.safetensors", "both.safetensors", "both.pt"):
        (bundled / name).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    Path("a-gan").write_bytes(b"")
    assert resolve_model_path("a-gan", models_dir=bundled) == Path("a-gan")
    assert resolve_model_path("both", models_dir=bundled) == bundled / "both.pt"


def test_a_model_file_without_a_gan_fingerprint_loads_unchecked(model, tmp_path) -> None:
    """Files written before fingerprints were recorded load with any GAN of the right shapes."""
    state = torch.load(save_styleganr(model, tmp_path / "model.pt"), weights_only=True)
    del state["generator_fingerprint"]
    torch.save(state, tmp_path / "old.pt")
    other = copy.deepcopy(model.generator)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    loaded = load_styleganr(tmp_path / "old.pt", generator=other)
    assert loaded.generator is other and loaded.views.generator is None


def test_the_bundled_labeller_is_read_by_name(tmp_path, monkeypatch) -> None:
    """`default-car-labeller` names the shipped labeller where no such file is here."""
    monkeypatch.chdir(tmp_path)
    by_name = load_view_labeller("default-car-labeller")
    by_path = load_view_labeller(MODELS_DIR / "default-car-labeller.pt")
    assert by_name.config == by_path.config
    for (name, value), other in zip(
        by_name.state_dict().items(), by_path.state_dict().values(), strict=True
    ):
        assert torch.equal(value, other), name


def test_a_model_recording_no_gan_asks_for_its_checkpoint(model, tmp_path) -> None:
    """A model file whose GAN path is empty asks for the checkpoint, not for a moved file."""
    model_file = save_styleganr(replace(model, generator_path=""), tmp_path / "model.pt")
    with pytest.raises(GANliftError, match="does not record its StyleGAN2 checkpoint; pass"):
        load_styleganr(model_file)


def test_the_labellers_camera_terms_have_their_weights_and_ignore_the_directions_length() -> None:
    """The azimuth term compares unit directions (a reading 3 times as long costs nothing); 5°
    of elevation off costs 0.5 (mean |error| / 10) and 0.1 of log scale off costs 1 (× 10)."""
    cameras = torch.tensor([[30.0, 10.0, 1.2], [300.0, 25.0, 0.8]])
    raw = _raw_targets(cameras)
    raw[:, :2] *= 3
    raw[:, 2] = torch.logit((cameras[:, 1] + torch.tensor([5.0, -5.0])) / ELEVATION_RANGE)
    raw[:, 3] += 0.1
    images, masks = torch.zeros(2, 3, 16, 16), torch.zeros(2, 16, 16)
    terms = labeller_losses(_FixedReadings(raw), images, cameras, masks)
    assert float(terms["azimuth"]) == pytest.approx(0.0, abs=1e-5)
    assert float(terms["elevation"]) == pytest.approx(0.5, rel=1e-4)
    assert float(terms["scale"]) == pytest.approx(1.0, rel=1e-4)


def test_predicted_silhouettes_are_probabilities_at_the_images_size() -> None:
    """`predict_views` turns the silhouette logits into probabilities, resized to the images."""
    cameras = torch.tensor([[30.0, 10.0, 1.2]])
    _, masks = predict_views(_FixedReadings(_raw_targets(cameras)), torch.zeros(1, 3, 8, 8))
    assert masks.shape == (1, 1, 8, 8)
    torch.testing.assert_close(masks, torch.full_like(masks, 0.5))  # sigmoid(0)


class _ReadingsPerCall(torch.nn.Module):
    """A stand-in view labeller whose k-th call returns the k-th of the given raw outputs."""

    def __init__(self, raws: list[torch.Tensor]) -> None:
        super().__init__()
        self.raws = iter(raws)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return next(self.raws), torch.zeros(len(images), 1, 4, 4)


def test_auto_label_keeps_the_code_whose_readings_agree_best_in_each_arc(generator) -> None:
    """Codes 0 (read at 0° and 40°) and 1 (15° twice) share an arc: code 1's readings agree
    better, so keep=2 keeps codes 1 and 2 (200°), not the first code found."""
    views = sample_view_codes(generator, 3, num_view_layers=VIEW_LAYERS, seed=3)
    readings = [[[0.0, 10.0, 1.0], [40.0, 10.0, 1.0]], [[15.0, 10.0, 1.0]] * 2,
                [[200.0, 10.0, 1.0]] * 2]  # fmt: skip
    labeller = _ReadingsPerCall([_raw_targets(torch.tensor(rows)) for rows in readings])
    kept = auto_label(generator, views, labeller, samples_per_view=2, keep=2)
    assert torch.equal(kept.codes, views.codes[[1, 2]])
    torch.testing.assert_close(kept.labelled()[:, 0], torch.tensor([15.0, 200.0]))


def test_balanced_selection_takes_azimuths_round_the_circle() -> None:
    """An azimuth of -10° is 350°: it falls in the last arc, not the first."""
    azimuth = torch.tensor([-10.0, 100.0, 350.0])
    agreement = torch.tensor([0.9, 0.5, 0.1])
    assert balanced_selection(azimuth, agreement, 2).tolist() == [0, 1]


def test_the_labelling_sheet_shows_the_contents_of_its_seed(generator) -> None:
    """The sheet is `labelling_rows` of the given seed laid out one row per view code."""
    views = sample_view_codes(generator, 2, num_view_layers=VIEW_LAYERS)
    sheets = [labelling_sheet(generator, views, samples_per_view=2, seed=seed) for seed in (0, 4)]
    rows = labelling_rows(generator, views, samples_per_view=2, seed=4)
    torch.testing.assert_close(sheets[1], make_grid(rows.flatten(0, 1), 2))
    assert not torch.allclose(sheets[0], sheets[1])


def test_the_labelling_sheet_reports_each_view_codes_row(generator) -> None:
    """`view-codes --sheet` drew its rows without a bar: 1,024 codes took minutes, silently."""
    views = sample_view_codes(generator, 3, num_view_layers=VIEW_LAYERS)
    reports: list[tuple[int, int, str]] = []
    labelling_sheet(
        generator, views, samples_per_view=1, progress=lambda *report: reports.append(report)
    )
    assert reports == [(done, 3, "labelling sheet") for done in (1, 2, 3)]


def test_labeller_training_draws_new_cars_each_step_augmented_each_its_own_way(
    tmp_path, monkeypatch
) -> None:
    """Step k renders training seeds seed + k·batch_size onwards (no car twice) and, with
    augment, augments them from a generator seeded seed + k; without it, not at all."""
    module = importlib.import_module("engine.styleganr.labelling")
    seeds: list[list[int]] = []
    augmented: list[int] = []
    draw, augment = module.seed_run, module.augment_views

    def recorded_seeds(*args, **options):
        seeds.append(draw(*args, **options))
        return seeds[-1]

    def recorded_augment(images, cameras, masks, rng):
        augmented.append(rng.initial_seed())
        return augment(images, cameras, masks, rng)

    monkeypatch.setattr(module, "seed_run", recorded_seeds)
    monkeypatch.setattr(module, "augment_views", recorded_augment)
    config = LabellerConfig(image_size=16, width=4, steps=3, batch_size=2, seed=5)
    train_view_labeller(config, state_path=tmp_path / "augmented.pt", image_size=16)
    assert seeds == [[5, 6], [7, 8], [9, 10]] and augmented == [5, 6, 7]
    plain = replace(config, augment=False, steps=1)
    train_view_labeller(plain, state_path=tmp_path / "plain.pt", image_size=16)
    assert len(seeds) == 4 and augmented == [5, 6, 7]


def test_a_resumed_labeller_ends_where_an_uninterrupted_one_does(tmp_path) -> None:
    """Resuming keeps Adam's state: 2 + 1 steps give the weights of 3 straight ones."""
    config = LabellerConfig(image_size=16, width=4, steps=3, batch_size=2, augment=False)
    straight = train_view_labeller(config, state_path=tmp_path / "straight.pt", image_size=16)
    resumed_path = tmp_path / "resumed.pt"
    train_view_labeller(replace(config, steps=2), state_path=resumed_path, image_size=16)
    resumed = train_view_labeller(config, state_path=resumed_path, image_size=16)
    for name, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name


@pytest.mark.parametrize(
    ("change", "named"), [({"seed": 1}, "seed 0 -> 1"), ({"batch_size": 3}, "batch_size 2 -> 3")]
)
def test_a_labeller_resumes_only_with_the_cars_it_started_on(tmp_path, change, named) -> None:
    """Seed and batch size choose each step's cars: a resume under others is refused by name,
    and nothing is trained or written; rate, augmentation and save interval may change."""
    config = LabellerConfig(image_size=16, width=4, steps=1, batch_size=2, augment=False)
    state = tmp_path / "labeller.pt"
    train_view_labeller(config, state_path=state, image_size=16)
    before = state.read_bytes()
    with pytest.raises(GANliftError, match=re.escape(named) + r".*only steps, learning_rate"):
        train_view_labeller(replace(config, steps=2, **change), state_path=state, image_size=16)
    assert state.read_bytes() == before
    tuned = replace(config, steps=2, learning_rate=1e-4, augment=True, checkpoint_every=1)
    train_view_labeller(tuned, state_path=state, image_size=16)
    assert state.read_bytes() != before


def test_view_codes_cli_draws_its_layers_and_seed_and_sheets_them(model, tmp_path) -> None:
    """view-codes writes the codes of --layers rows drawn from --seed, and their sheet."""
    checkpoint = save_checkpoint(tmp_path / "gan", model.generator)
    views, sheet = tmp_path / "views.safetensors", tmp_path / "sheet.png"
    command = [
        "styleganr",
        "view-codes",
        "--checkpoint",
        str(checkpoint),
        "--count",
        "2",
        "--layers",
        "3",
        "--seed",
        "5",
        "--out",
        str(views),
        "--sheet",
        str(sheet),
    ]
    assert main(command) == 0
    generator = load_checkpoint(checkpoint).generator
    expected = sample_view_codes(generator, 2, num_view_layers=3, seed=5)
    written = load_view_codes(views)
    assert written.codes.shape[1] == 3 and torch.equal(written.codes, expected.codes)
    drawn = save_image(labelling_sheet(generator, expected, seed=5), tmp_path / "expected.png")
    assert torch.equal(load_image(sheet), load_image(drawn))


def test_hand_label_cli_records_the_bins_and_elevation_given(model, tmp_path) -> None:
    """A new labels file takes --bins and --elevation: bin k is k*360/BINS degrees."""
    views, labels = tmp_path / "views.safetensors", tmp_path / "labels.json"
    save_view_codes(sample_view_codes(model.generator, 2, num_view_layers=2, seed=0), views)
    out = tmp_path / "labelled.safetensors"
    command = [
        "styleganr",
        "hand-label",
        "--views",
        str(views),
        "--labels",
        str(labels),
        "--set",
        "0=1",
        "1=2",
        "--bins",
        "4",
        "--elevation",
        "15",
        "--out",
        str(out),
    ]
    assert main(command) == 0
    assert load_view_codes(out).cameras[:, :2].tolist() == [[90.0, 15.0], [180.0, 15.0]]
    saved = json.loads(labels.read_text())
    assert (saved["num_bins"], saved["elevation"]) == (4, 15)


def test_set_camera_and_swap_cli_draw_what_the_library_draws(model, tmp_path) -> None:
    """Each row is sample | edited sample, with the camera, seeds and part given."""
    model_file = _saved_with_its_gan(model, tmp_path / "m.pt")
    loaded = load_styleganr(model_file)
    common = ["--model", str(model_file), "--seed", "2", "--count", "2"]
    camera, swapped = tmp_path / "camera.png", tmp_path / "swap.png"
    assert main(["styleganr", "set-camera", *common, "--azimuth", "60", "--elevation", "15",
                 "--scale", "1.1", "--out", str(camera)]) == 0  # fmt: skip
    assert main(["styleganr", "swap", *common, "--source-seed", "7", "--part", "shape",
                 "--out", str(swapped)]) == 0  # fmt: skip
    before = sample(loaded, 2, seed=2)
    moved = set_camera(loaded, before, azimuth=60, elevation=15, scale=1.1)
    given = swap(loaded, before, sample(loaded, 1, seed=7), part="shape")
    for path, after in ((camera, moved), (swapped, given)):
        rows = torch.cat([before.image, after.image], -1)  # [N, 3, H, 2W]: before | after
        expected = save_image(torch.cat(list(rows), -2)[None], tmp_path / "expected.png")
        assert torch.equal(load_image(path), load_image(expected)), path


def test_train_labeller_cli_renders_its_cars_at_the_size_given(tmp_path, monkeypatch) -> None:
    """--size is the size of the renders the labeller trains on (the library's image_size)."""
    given = {}
    monkeypatch.setattr(
        "engine.cli.styleganr.train_view_labeller",
        lambda config, **options: given.update(options, config=config),
    )
    out = tmp_path / "labeller.pt"
    assert main(["styleganr", "train-labeller", "--out", str(out), "--size", "32", "--steps", "3",
                 "--learning-rate", "0.002", "--no-augment"]) == 0  # fmt: skip
    assert (given["image_size"], given["state_path"]) == (32, str(out))
    assert given["config"] == LabellerConfig(steps=3, learning_rate=0.002, augment=False)


def test_an_inverse_network_started_from_a_trained_one_has_no_perceptual_warm_up(tmp_path):
    """--init-from starts the perceptual term at step 0 (no warm-up) and is ignored on resume."""
    command = ["styleganr", "train-inverse", "--synthetic", "--size", "16", "--batch-size", "2"]
    begun = tmp_path / "begun.pt"
    started = ["--init-from", "default-car-styleganr", "--steps", "1", "--out", str(begun)]
    assert main([*command, *started]) == 0
    moved = ["--init-from", str(tmp_path / "moved.pt")]  # ignored: --out holds the run
    assert main([*command, *moved, "--steps", "2", "--out", str(begun)]) == 0
    assert json.loads(begun.with_suffix(".json").read_text())["perceptual_after"] == 0
    assert InverseGraphicsTrainConfig.perceptual_after > 0  # what a fresh run warms up for


def test_train_inverse_on_a_gan_passes_its_pairs_and_discriminator_loss_on(tmp_path, monkeypatch):
    """On a GAN, the pairs are the GAN's (its fingerprint recorded) and D's features score them."""
    generator, discriminator = tiny_gan(16, channels={4: 16, 8: 16, 16: 8}, style_dim=16, n_mlp=2)
    checkpoint = save_checkpoint(tmp_path / "gan", generator, discriminator=discriminator)
    views = sample_view_codes(generator, 2, num_view_layers=2, seed=0)
    views.cameras = torch.tensor([[0.0, 10.0, 1.0], [90.0, 10.0, 1.0]])
    save_view_codes(views, tmp_path / "views.safetensors")
    labeller = _tiny_labeller_file(tmp_path)
    given = {}
    monkeypatch.setattr(
        "engine.cli.styleganr.train_inverse_graphics",
        lambda source, config, **options: given.update(options, source=source),
    )
    assert main(["styleganr", "train-inverse", "--checkpoint", str(checkpoint), "--views",
                 str(tmp_path / "views.safetensors"), "--labeller", str(labeller), "--steps", "1",
                 "--out", str(tmp_path / "inverse.pt")]) == 0  # fmt: skip
    assert isinstance(given["perceptual"], DiscriminatorFeatureLoss)
    assert given["pairs_from"] == generator_fingerprint(generator)
    pairs = given["source"](2, torch.Generator().manual_seed(0))
    assert pairs.images.shape == (2, 2, 3, 16, 16)


def test_train_mapping_cli_passes_its_settings_and_records_the_gan_by_absolute_path(
    model, tmp_path, monkeypatch
) -> None:
    """--steps and --warmup reach the trainer; a relative --checkpoint is recorded absolute."""
    save_checkpoint(tmp_path / "gan", model.generator)
    save_view_codes(model.views, tmp_path / "views.safetensors")
    save_styleganr(model, tmp_path / "inverse-from.pt")
    given = {}
    monkeypatch.setattr(
        "engine.cli.styleganr.train_mapping",
        lambda generator, inverse, views, config, **options: given.update(options, config=config),
    )
    monkeypatch.chdir(tmp_path)
    assert main(["styleganr", "train-mapping", "--checkpoint", "gan.safetensors", "--views",
                 "views.safetensors", "--inverse", "inverse-from.pt", "--steps", "5",
                 "--warmup", "3", "--out", "mapping.pt"]) == 0  # fmt: skip
    assert given["config"] == MappingTrainConfig(steps=5, warmup_steps=3)
    assert given["generator_path"] == str((tmp_path / "gan.safetensors").resolve())


def test_export_cli_writes_the_networks_in_float16(model, tmp_path) -> None:
    """export ships half-precision networks that read back as a float32 model."""
    model_file = _saved_with_its_gan(model, tmp_path / "m.pt")
    exported = tmp_path / "exported.pt"
    assert main(["styleganr", "export", "--model", str(model_file), "--out", str(exported)]) == 0
    stored = torch.load(exported, weights_only=True)["inverse_graphics"]["state"]
    assert {value.dtype for value in stored.values() if value.is_floating_point()} == {
        torch.float16
    }
    assert load_styleganr(exported).inverse_graphics.to_codes.weight.dtype == torch.float32


def test_view_layers_cli_measures_its_pairs_and_seed_through_the_labeller(
    model, tmp_path, capsys
) -> None:
    """view-layers prints and draws the analysis of --pairs pairs of --seed, the view read as
    the --labeller's silhouettes."""
    checkpoint = save_checkpoint(tmp_path / "gan", model.generator)
    labeller = _tiny_labeller_file(tmp_path)
    figure = tmp_path / "layers.png"
    assert main(["styleganr", "view-layers", "--checkpoint", str(checkpoint), "--out", str(figure),
                 "--pairs", "3", "--seed", "4", "--labeller", str(labeller)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    reader = load_view_labeller(labeller)
    expected = analyse_view_layers(
        load_checkpoint(checkpoint).generator, num_pairs=3, seed=4,
        mask_fn=lambda images: predict_views(reader, images)[1],
    )  # fmt: skip
    for length, moved, kept in zip(
        expected.prefix_lengths, expected.view_transfer, expected.appearance_kept, strict=True
    ):
        assert f"{length:6d}  {moved:13.3f}  {kept:15.3f}" in printed
    drawn = save_image(expected.figure, tmp_path / "expected.png")
    assert torch.equal(load_image(figure), load_image(drawn))


def test_train_inverse_on_a_gan_without_views_or_labeller_is_one_sentence(
    model, tmp_path, capsys
) -> None:
    """--checkpoint needs both --views and --labeller; either missing is named, nothing written."""
    checkpoint = save_checkpoint(tmp_path / "gan", model.generator)
    out = tmp_path / "inverse.pt"
    command = ["styleganr", "train-inverse", "--checkpoint", str(checkpoint), "--out", str(out)]
    for extra in ([], ["--views", str(tmp_path / "views.safetensors")]):
        assert main([*command, *extra]) == 2
        error = capsys.readouterr().err
        assert "Training on a GAN needs --views (labelled) and --labeller." in error
    assert not out.exists() and not out.with_suffix(".json").exists()
