"""StyleGAN-R geometry: the icosphere template, the camera, the losses and the inverse
graphics network overfitting one synthetic car."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
import torch

from engine.errors import GANliftError
from engine.render import render_mesh
from engine.styleganr import (
    InverseGraphicsConfig,
    InverseGraphicsNet,
    InverseGraphicsTrainConfig,
    ViewPairs,
    camera_from_view,
    flatten_loss,
    icosphere,
    iou_loss,
    laplacian_loss,
    load_inverse_graphics,
    mesh_topology,
    move_loss,
    object_to_camera,
    render_prediction,
    synthetic_view_pairs,
    train_inverse,
    train_inverse_graphics,
)
from engine.styleganr.camera import OBJECT_RADIUS, projection
from engine.styleganr.config_io import check_not_past_steps, load_config, read_state, save_config
from engine.styleganr.inverse_graphics import refine_camera
from engine.styleganr.train_inverse import (
    STATE_FORMAT,
    SYNTHETIC_PAIRS,
    LossWeights,
    inverse_graphics_losses,
)
from engine.synth.generate import render_scene, sample_scene
from engine.synth.scene import CAR_VIEW_RANGES

TINY_NETWORK = InverseGraphicsConfig(
    image_size=32, width=8, shape_dim=16, texture_dim=16, texture_size=16
)


def test_icosphere_has_642_vertices_and_is_closed() -> None:
    sphere = icosphere(3)
    assert sphere.vertices.shape == (642, 3)
    assert sphere.faces.shape == (1280, 3)
    assert torch.allclose(sphere.vertices.norm(dim=1), torch.ones(642))
    topology = sphere.topology
    assert topology.boundary_edges == 0
    assert len(topology.edge_faces) == len(topology.edges) == 1920
    # Euler characteristic of a sphere; every directed edge once = consistent winding.
    assert 642 - 1920 + 1280 == 2
    directed = sphere.faces.long()[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    assert len(torch.unique(directed, dim=0)) == len(directed)
    corners = sphere.vertices[sphere.faces.long()]
    normal = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    assert bool(((normal * corners.mean(1)).sum(1) > 0).all())


def test_icosphere_uvs_do_not_smear_across_the_seam() -> None:
    sphere = icosphere(3)
    corner_u = sphere.uv[sphere.uv_faces.long()][..., 0]  # [F, 3]
    assert float((corner_u.amax(1) - corner_u.amin(1)).max()) < 0.25
    assert float(sphere.uv.min()) >= 0 and float(sphere.uv[:, 1].max()) <= 1


def test_icosphere_uvs_are_longitude_and_latitude() -> None:
    """v runs from 0 at y = +1 to 1 at y = -1; u is 0.5 towards -z (the object's front) and
    grows towards +x, away from the seam at +z."""
    sphere = icosphere(3)
    corners = sphere.vertices[sphere.faces.long()]  # [F, 3, 3]
    uv = sphere.uv[sphere.uv_faces.long()]  # [F, 3, 2]
    torch.testing.assert_close(uv[..., 1], torch.acos(corners[..., 1].clamp(-1, 1)) / torch.pi)
    away = (corners[..., 1].abs() < 0.9) & (corners[..., 2] < 0)  # off the poles, front half
    longitude = torch.atan2(corners[..., 0], -corners[..., 2])[away]
    torch.testing.assert_close(uv[..., 0][away], 0.5 + longitude / (2 * torch.pi))


def test_refine_camera_adds_angles_and_multiplies_scale() -> None:
    camera = torch.tensor([[10.0, 5.0, 1.0]])
    correction = torch.tensor([[2.0, 1.0, math.log(2)]])
    torch.testing.assert_close(refine_camera(camera, correction), torch.tensor([[12.0, 6.0, 2.0]]))


def test_regularisers_are_zero_on_rest_shapes_and_positive_when_perturbed() -> None:
    sphere = icosphere(2)
    topology = sphere.topology
    rest = torch.zeros(1, len(sphere.vertices), 3)
    assert float(laplacian_loss(rest, topology)) == 0
    assert float(laplacian_loss(rest + 0.3, topology)) == pytest.approx(0, abs=1e-12)
    assert float(move_loss(rest)) == 0
    bump = rest.clone()
    bump[0, 5] = torch.tensor([0.0, 0.2, 0.0])
    assert float(laplacian_loss(bump, topology)) > 0
    assert float(move_loss(bump)) == pytest.approx(0.04 / len(sphere.vertices))

    rows, cols = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij")
    plane = torch.stack([cols, rows, torch.zeros_like(rows)], -1).reshape(1, 25, 3)
    quads = torch.tensor(
        [[r * 5 + c, r * 5 + c + 1, (r + 1) * 5 + c] for r in range(4) for c in range(4)]
        + [
            [r * 5 + c + 1, (r + 1) * 5 + c + 1, (r + 1) * 5 + c]
            for r in range(4)
            for c in range(4)
        ]
    )
    grid = mesh_topology(quads)
    assert grid.boundary_edges == 16
    assert float(flatten_loss(plane, grid)) == pytest.approx(0, abs=1e-10)
    lifted = plane.clone()
    lifted[0, 12, 2] = 0.5
    assert float(flatten_loss(lifted, grid)) > 1e-3


def test_flatten_loss_grows_with_the_fold_angle() -> None:
    """(1 - cos)² of the shared edge: 1 for a right angle, 4 for two faces folded flat onto
    each other (their normals opposite), the worst crease there is."""
    pair = mesh_topology(torch.tensor([[0, 1, 2], [1, 3, 2]]))
    square = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]])
    right_angle, folded = square.clone(), square.clone()
    right_angle[3] = torch.tensor([0.5, 0.5, 0.0]) + torch.tensor([0.0, 0.0, 0.5**0.5])
    folded[3] = torch.tensor([0.0, 0.0, 0.0])  # the second face turned over onto the first
    assert float(flatten_loss(square[None], pair)) == pytest.approx(0, abs=1e-10)
    assert float(flatten_loss(right_angle[None], pair)) == pytest.approx(1, abs=1e-5)
    assert float(flatten_loss(folded[None], pair)) == pytest.approx(4, abs=1e-5)


def test_camera_reproduces_the_synthetic_worlds_views() -> None:
    scene = sample_scene("car", [3, 4, 5, 6], size=48)
    batch = render_scene(scene)
    camera = camera_from_view(batch.view)
    assert bool(((camera[:, 1] >= 0) & (camera[:, 1] <= 30)).all())
    objects = (scene.mesh.vertices - torch.tensor([0.0, 0.0, 1.0])) / OBJECT_RADIUS
    points = object_to_camera(objects, camera)
    points = points + torch.nn.functional.pad(batch.view[:, None, 3:5], (0, 1))
    mask = render_mesh(points, scene.mesh.faces, (48, 48), projection=projection(48)).mask
    assert float((1 - iou_loss(mask[:, 0], batch.mask)).min()) > 0.97


@pytest.mark.parametrize(("azimuth", "nose_to_the_left"), [(90.0, True), (270.0, False)])
def test_azimuth_90_shows_the_cars_left_flank_nose_to_the_image_left(
    azimuth: float, nose_to_the_left: bool
) -> None:
    """As the docs and the hand-labelling instructions say (they called it the right side)."""
    nose_tail_and_left = torch.tensor([[[0.0, 0.0, -1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]])
    points = object_to_camera(nose_tail_and_left, torch.tensor([[azimuth, 0.0, 1.0]]))
    clip = torch.nn.functional.pad(points, (0, 1), value=1.0) @ projection(64).T  # [1, 3, 4]
    column = clip[0, :, 0] / clip[0, :, 3]  # NDC x: the image's columns, left to right
    assert bool(column[0] < column[1]) is nose_to_the_left
    left_flank_depth, centre_depth = points[0, 2, 2], points[0, :2, 2].mean()
    assert bool(left_flank_depth < centre_depth) is nose_to_the_left  # +x faces the camera


def test_the_template_mesh_moves_with_the_network() -> None:
    """Its faces and UVs were no buffers: each loader moved them by hand after `.to`."""
    network = InverseGraphicsNet(TINY_NETWORK).to("meta")
    template = network.template
    tensors = (template.vertices, template.faces, template.uv, template.topology.edges)
    assert all(tensor.device.type == "meta" for tensor in tensors)
    assert network.to_codes.weight.device.type == "meta"


def test_the_template_mesh_is_one_copy_cast_with_the_network() -> None:
    """The deformation is added to the template's vertices: after `.double()` both must be
    float64, and the template the renderer gets is the network's own buffers, not a copy."""
    network = InverseGraphicsNet(TINY_NETWORK).double()
    template = network.template
    assert template.vertices.dtype == template.uv.dtype == torch.float64
    assert template.faces.dtype == template.topology.faces.dtype == torch.int32
    assert template.vertices.data_ptr() == network.template_vertices.data_ptr()
    assert not any(key.startswith("template") for key in network.state_dict())
    vertices, _ = network.decode_shape(torch.zeros(1, TINY_NETWORK.shape_dim, dtype=torch.float64))
    assert vertices.dtype == torch.float64


def test_an_object_unit_is_half_a_synthetic_car_and_depth_sets_the_scale() -> None:
    """The camera above cancels OBJECT_RADIUS and drifts little with tz; these pin both: the
    icosphere template (radius 1) must cover a synthetic car, and scale = 1 / (1 + tz)."""
    scene = sample_scene("car", [3, 4, 5, 6], size=48)
    objects = (scene.mesh.vertices - torch.tensor([0.0, 0.0, 1.0])) / OBJECT_RADIUS
    assert 0.9 <= float(objects.abs().amax()) <= 1.1
    view = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.25], [0.0, 0.0, 0.0, 0.0, 0.0, -0.2]])
    torch.testing.assert_close(camera_from_view(view)[:, 2], torch.tensor([0.8, 1.25]))


def test_the_iou_loss_is_0_where_masks_agree_and_1_where_they_do_not_meet() -> None:
    """Two empty masks agree: their loss was 1, as if they were disjoint."""
    empty, full = torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8)
    left = torch.zeros(2, 1, 8, 8)
    left[..., :4] = 1
    torch.testing.assert_close(iou_loss(empty, empty), torch.zeros(2))
    torch.testing.assert_close(iou_loss(full, full), torch.zeros(2))
    torch.testing.assert_close(iou_loss(left, left.flip(-1)), torch.ones(2))
    torch.testing.assert_close(iou_loss(left, full), torch.full((2,), 0.5))


def test_iou_gradients_reach_vertices_through_antialias() -> None:
    sphere = icosphere(2)
    camera = torch.tensor([[30.0, 10.0, 1.0]])
    target = render_prediction(
        sphere.vertices[None] * torch.tensor([1.0, 0.5, 0.7]),
        torch.zeros(1, 3, 8, 16),
        sphere,
        camera,
        size=32,
    ).mask.detach()
    vertices = (sphere.vertices[None] * 0.8).requires_grad_(True)
    optimiser = torch.optim.Adam([vertices], lr=0.02)
    losses = []
    for _ in range(15):
        mask = render_prediction(vertices, torch.zeros(1, 3, 8, 16), sphere, camera, size=32).mask
        loss = iou_loss(mask, target).mean()
        optimiser.zero_grad()
        loss.backward()
        assert vertices.grad is not None and float(vertices.grad.abs().sum()) > 0
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0]


def test_inverse_graphics_overfits_one_synthetic_car(tmp_path) -> None:
    pairs = synthetic_view_pairs([11], size=32, generator=torch.Generator().manual_seed(0))
    config = InverseGraphicsTrainConfig(
        network=TINY_NETWORK,
        steps=40,
        batch_size=1,
        learning_rate=1e-3,
        multiview=False,
        checkpoint_every=1000,
    )
    state = tmp_path / "inverse.pt"
    result = train_inverse_graphics(lambda count, rng: pairs, config, state_path=state)
    ious = [1 - h["iou"] / config.weights.iou for h in result.history]
    assert ious[-1] > ious[0] + 0.2
    assert result.history[-1]["colour"] < 0.5 * result.history[0]["colour"]
    reloaded = load_inverse_graphics(state)
    image = pairs.images[:, 0]
    with torch.no_grad():
        assert torch.allclose(reloaded(image).vertices, result.network(image).vertices)


def test_training_resumes_from_its_state_file(tmp_path) -> None:
    def source(count: int, rng: torch.Generator) -> ViewPairs:
        return synthetic_view_pairs([1, 2], size=32, generator=rng)

    config = InverseGraphicsTrainConfig(
        network=TINY_NETWORK, steps=2, batch_size=2, checkpoint_every=1
    )
    state = tmp_path / "inverse.pt"
    first = train_inverse_graphics(source, config, state_path=state)
    assert first.step == 2 and len(first.history) == 2
    longer = InverseGraphicsTrainConfig(
        network=TINY_NETWORK, steps=3, batch_size=2, checkpoint_every=1
    )
    resumed = train_inverse_graphics(source, longer, state_path=state)
    assert resumed.step == 3 and len(resumed.history) == 1
    continuous = train_inverse_graphics(source, longer, state_path=tmp_path / "straight.pt")
    assert resumed.history == continuous.history[2:]  # the same data ...
    after = continuous.network.state_dict()
    for name, value in resumed.network.state_dict().items():  # ... and optimiser state
        assert torch.equal(value, after[name]), name
    saved = state.read_bytes()
    finished = train_inverse_graphics(source, longer, state_path=state)
    assert finished.step == 3 and finished.history == []
    with pytest.raises(GANliftError, match=r"already holds 3 training steps, more than the 2"):
        train_inverse_graphics(source, config, state_path=state)
    assert state.read_bytes() == saved
    assert {"iou", "colour", "laplacian", "flatten", "move", "total"} <= set(resumed.history[0])


def test_a_run_resumes_only_on_the_pairs_it_was_trained_on(tmp_path) -> None:
    """The recorded source of the pairs (synthetic renders, or a GAN's fingerprint) must match;
    a run that names none is not checked and keeps the state's record."""

    def source(count: int, rng: torch.Generator) -> ViewPairs:
        return synthetic_view_pairs([1, 2], size=32, generator=rng)

    config = InverseGraphicsTrainConfig(network=TINY_NETWORK, steps=1, batch_size=2)
    longer = dataclasses.replace(config, steps=2)
    state = tmp_path / "inverse.pt"
    train_inverse_graphics(source, config, state_path=state, pairs_from="0123abcd")
    with pytest.raises(GANliftError) as refused:
        train_inverse_graphics(source, longer, state_path=state, pairs_from=SYNTHETIC_PAIRS)
    assert str(refused.value) == (
        f"{state} was trained on the pairs of the StyleGAN2 with weight fingerprint 0123abcd, "
        "not synthetic renders; pass the same pairs to resume it, or choose a new --out for these."
    )
    assert train_inverse_graphics(source, longer, state_path=state).step == 2
    longest = dataclasses.replace(config, steps=3)
    with pytest.raises(GANliftError, match="not synthetic renders"):
        train_inverse_graphics(source, longest, state_path=state, pairs_from=SYNTHETIC_PAIRS)
    resumed = train_inverse_graphics(source, longest, state_path=state, pairs_from="0123abcd")
    assert resumed.step == 3


def test_a_synthetic_run_goes_on_to_a_gans_pairs_but_not_back(tmp_path) -> None:
    """The synthetic stage is where a GAN's run starts (scripts/train_styleganr_car.sh trains
    both into one state file): it continues on a GAN's pairs, records that GAN, and is then
    held to it."""

    def source(count: int, rng: torch.Generator) -> ViewPairs:
        return synthetic_view_pairs([1, 2], size=32, generator=rng)

    config = InverseGraphicsTrainConfig(network=TINY_NETWORK, steps=1, batch_size=2)
    state = tmp_path / "inverse.pt"
    train_inverse_graphics(source, config, state_path=state, pairs_from=SYNTHETIC_PAIRS)
    longer = dataclasses.replace(config, steps=2)
    assert train_inverse_graphics(source, longer, state_path=state, pairs_from="0123abcd").step == 2
    assert read_state(state, STATE_FORMAT)["pairs_from"] == "0123abcd"
    longest = dataclasses.replace(config, steps=3)
    for other in (SYNTHETIC_PAIRS, "4567cdef"):
        with pytest.raises(GANliftError, match="weight fingerprint 0123abcd, not"):
            train_inverse_graphics(source, longest, state_path=state, pairs_from=other)


def test_second_views_turn_all_the_way_round_within_the_elevation_range() -> None:
    """The multi-view partner of a synthetic car is a view from any side: drawn from half the
    circle, the network would never see the other half."""
    pairs = synthetic_view_pairs(
        list(range(24)), size=16, generator=torch.Generator().manual_seed(0)
    )
    azimuth, elevation = pairs.cameras[:, 1, 0], pairs.cameras[:, 1, 1]  # degrees
    assert (azimuth < 90).any() and (azimuth > 270).any()
    assert azimuth.max() - azimuth.min() > 270
    low, high = CAR_VIEW_RANGES["elevation"]
    assert ((low - 1e-3 <= elevation) & (elevation <= high + 1e-3)).all()


def test_the_multiview_term_renders_each_car_in_its_partners_view(monkeypatch) -> None:
    """With multiview, each prediction is drawn in its own view and then in its partner's
    (images 2k and 2k+1 of a batch are one car); without it only in its own."""
    pairs = synthetic_view_pairs([3, 4], size=32, generator=torch.Generator().manual_seed(2))
    network = InverseGraphicsNet(TINY_NETWORK)
    weights = InverseGraphicsTrainConfig(network=TINY_NETWORK).weights
    drawn: list[torch.Tensor] = []
    render = train_inverse.render_prediction

    def recorded(vertices, texture, template, cameras, **options):
        drawn.append(cameras)
        return render(vertices, texture, template, cameras, **options)

    monkeypatch.setattr(train_inverse, "render_prediction", recorded)
    with torch.no_grad():
        prediction = network(pairs.images.flatten(0, 1))
        own = refine_camera(pairs.cameras.flatten(0, 1), prediction.camera_correction)  # [4, 3]
        inverse_graphics_losses(network, pairs, weights, multiview=False)
        inverse_graphics_losses(network, pairs, weights, multiview=True)
    torch.testing.assert_close(drawn[0], own)
    torch.testing.assert_close(drawn[1], torch.cat([own, own[[1, 0, 3, 2]]]))


def test_the_multiview_term_scores_each_render_against_its_partners_image(monkeypatch) -> None:
    """Multiview is on by default; a prediction drawn in its partner's view is drawn over,
    shifted as, and scored against the partner's image and mask."""
    assert InverseGraphicsTrainConfig().multiview
    pairs = synthetic_view_pairs([3, 4], size=32, generator=torch.Generator().manual_seed(2))
    network = InverseGraphicsNet(TINY_NETWORK)
    weights = InverseGraphicsTrainConfig(network=TINY_NETWORK).weights
    calls: list[tuple[dict, object]] = []
    render = train_inverse.render_prediction

    def recorded(*args, **options):
        calls.append((options, render(*args, **options)))
        return calls[-1][1]

    targets: list[torch.Tensor] = []

    def perceptual(rendered: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        targets.append(target)
        return (rendered - target).abs().mean((1, 2, 3))

    monkeypatch.setattr(train_inverse, "render_prediction", recorded)
    with torch.no_grad():
        prediction = network(pairs.images.flatten(0, 1))
        terms = inverse_graphics_losses(network, pairs, weights, perceptual=perceptual)
    [(options, rendered)] = calls
    partner = torch.tensor([0, 1, 2, 3, 1, 0, 3, 2])  # own views, then the partners'
    images, masks = pairs.images.flatten(0, 1)[partner], pairs.masks.flatten(0, 1)[partner]
    torch.testing.assert_close(options["background"], images)
    torch.testing.assert_close(options["shift"], prediction.shift[partner])
    torch.testing.assert_close(terms["iou"], weights.iou * iou_loss(rendered.mask, masks).mean())
    colour = (rendered.image - images).abs().mean()
    torch.testing.assert_close(terms["colour"], weights.colour * colour)
    torch.testing.assert_close(targets[0], images)


def test_each_mesh_regulariser_takes_its_own_weight() -> None:
    """The Laplacian, flatten and move terms scale with their own weights only."""
    pairs = synthetic_view_pairs([3], size=32, generator=torch.Generator().manual_seed(1))
    network = InverseGraphicsNet(TINY_NETWORK)
    changed = LossWeights(laplacian=1.0, flatten=2.0, move=4.0)
    with torch.no_grad():
        base = inverse_graphics_losses(network, pairs, LossWeights(), multiview=False)
        other = inverse_graphics_losses(network, pairs, changed, multiview=False)
    for name in ("laplacian", "flatten", "move"):
        assert base[name] > 0
        ratio = getattr(changed, name) / getattr(LossWeights(), name)
        torch.testing.assert_close(other[name], base[name] * ratio, rtol=1e-4, atol=0)


def test_a_run_that_fails_midway_keeps_its_last_periodic_state(tmp_path) -> None:
    """The state is saved every checkpoint_every steps, so a crash loses at most that many;
    checkpoint_every must be at least 1."""
    pairs = synthetic_view_pairs([1], size=32, generator=torch.Generator().manual_seed(0))
    calls: list[int] = []

    def source(count: int, rng: torch.Generator) -> ViewPairs:
        calls.append(count)
        if len(calls) == 4:
            raise RuntimeError("the data went away")
        return pairs

    config = InverseGraphicsTrainConfig(
        network=TINY_NETWORK, steps=5, batch_size=1, checkpoint_every=2
    )
    state = tmp_path / "inverse.pt"
    with pytest.raises(RuntimeError, match="went away"):
        train_inverse_graphics(source, config, state_path=state)
    assert read_state(state, STATE_FORMAT)["step"] == 2
    with pytest.raises(GANliftError, match="checkpoint_every must be at least 1"):
        InverseGraphicsTrainConfig(checkpoint_every=0)


def test_the_perceptual_term_starts_after_its_step(tmp_path) -> None:
    calls: list[int] = []

    def perceptual(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        calls.append(len(first))
        return (first - second).abs().mean((1, 2, 3))

    config = InverseGraphicsTrainConfig(
        network=TINY_NETWORK, steps=3, batch_size=1, perceptual_after=2, checkpoint_every=10
    )
    pairs = synthetic_view_pairs([5], size=32, generator=torch.Generator().manual_seed(0))
    result = train_inverse_graphics(
        lambda count, rng: pairs, config, state_path=tmp_path / "p.pt", perceptual=perceptual
    )
    with_term = ["perceptual" in step and step["perceptual"] > 0 for step in result.history]
    assert with_term == [False, False, True] and len(calls) >= 1


def test_view_pairs_show_each_car_in_its_own_view_then_in_a_random_one() -> None:
    seeds = list(range(20, 36))
    pairs = synthetic_view_pairs(seeds, size=16, generator=torch.Generator().manual_seed(0))
    own = camera_from_view(sample_scene("car", seeds, size=16).view)  # [B, 3]
    torch.testing.assert_close(pairs.cameras[:, 0], own)
    low, high = CAR_VIEW_RANGES["elevation"]
    other = pairs.cameras[:, 1]
    assert (other[:, 1] >= low - 1e-4).all() and (other[:, 1] <= high + 1e-4).all()
    assert not torch.allclose(other, own)


def test_a_camera_space_shift_moves_the_render_sideways() -> None:
    """shift (dx, 0) moves the silhouette along x in the image, keeping its size."""
    sphere = icosphere(2)
    vertices = sphere.vertices[None] * 0.5  # [1, V, 3]
    texture = torch.zeros(1, 3, 8, 16)
    camera = torch.tensor([[0.0, 10.0, 1.0]])
    columns = torch.arange(48.0)
    centres, areas = [], []
    for dx in (0.0, 0.01):  # camera space: the object spans about 0.08
        mask = render_prediction(
            vertices, texture, sphere, camera, size=48, shift=torch.tensor([[dx, 0.0]])
        ).mask[0, 0]  # [48, 48]
        centres.append(float((mask.sum(0) * columns).sum() / mask.sum()))
        areas.append(float(mask.sum()))
    assert abs(centres[1] - centres[0]) > 1  # moved sideways ...
    assert areas[1] == pytest.approx(areas[0], rel=0.05)  # ... not nearer or further


def test_shape_and_texture_codes_of_different_lengths_keep_their_own_lengths() -> None:
    """The encoder's bottleneck splits into a shape code of shape_dim and a texture code of
    texture_dim even when the two differ, and each decoder takes its own."""
    config = InverseGraphicsConfig(
        image_size=16, width=4, shape_dim=6, texture_dim=10, texture_size=8, subdivisions=1
    )
    network = InverseGraphicsNet(config).eval()
    with torch.no_grad():
        prediction = network(torch.zeros(2, 3, 16, 16))
    assert prediction.shape_code.shape == (2, 6)
    assert prediction.texture_code.shape == (2, 10)
    assert prediction.texture.shape == (2, 3, 8, 16)
    assert prediction.camera_correction.shape == (2, 3) and prediction.shift.shape == (2, 2)


def test_the_shape_decoder_scales_the_template_by_exp_and_bounds_the_displacement() -> None:
    """decoded[:3] are log axis scales; the rest pass through tanh times max_offset."""
    network = InverseGraphicsNet(TINY_NETWORK)
    last = network.shape_decoder[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        last.bias[:3] = torch.tensor([math.log(2.0), 0.0, math.log(0.5)])
        last.bias[3:6] = torch.tensor([math.atanh(0.5), -10.0, 0.0])  # vertex 0's offsets
        vertices, deformation = network.decode_shape(torch.randn(2, TINY_NETWORK.shape_dim))
    template = network.template_vertices
    offset = TINY_NETWORK.max_offset
    expected = torch.zeros_like(template)
    expected[0] = torch.tensor([0.5 * offset, -offset, 0.0])
    torch.testing.assert_close(deformation, expected.expand(2, -1, -1))
    scaled = template * torch.tensor([2.0, 1.0, 0.5])
    torch.testing.assert_close(vertices, (scaled + expected).expand(2, -1, -1))


def test_an_edge_of_three_faces_is_refused_as_no_manifold() -> None:
    """An edge shared by three faces is refused; two faces on an edge are a manifold."""
    fan = torch.tensor([[0, 1, 2], [1, 0, 3], [0, 1, 4]])  # edge 0-1 in all three
    with pytest.raises(ValueError, match="not a manifold: some edge has more than two faces"):
        mesh_topology(fan)
    assert mesh_topology(fan[:2]).boundary_edges == 4  # two faces on it are fine


def test_a_zero_or_negative_scale_leaves_the_object_far_in_front_of_the_camera() -> None:
    """Scales of 0 or below put the object far in front of the camera at a finite depth (an
    object too small to see), never behind it or at infinity."""
    points = torch.zeros(3, 1, 3)
    cameras = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 0.0, 2.0]])
    depth = object_to_camera(points, cameras)[:, 0, 2]
    assert torch.isfinite(depth).all() and (depth[:2] >= 100).all()
    assert float(depth[2]) == pytest.approx(0.5)


@pytest.mark.parametrize("shape", [(1, 5), (1, 7), (6,)])
def test_camera_from_view_refuses_views_of_other_than_six_numbers(shape: tuple) -> None:
    """A view that is not [B, 6] (rotation, translation) is refused, not misread."""
    with pytest.raises(ValueError, match=re.escape(f"view must be [B, 6], got {list(shape)}")):
        camera_from_view(torch.zeros(shape))


def test_icosphere_refuses_a_negative_subdivision_count() -> None:
    """-1 subdivisions is refused rather than read as 0 (the bare icosahedron)."""
    assert icosphere(0).vertices.shape == (12, 3)
    with pytest.raises(ValueError, match="subdivisions must be >= 0, got -1"):
        icosphere(-1)


@pytest.mark.parametrize(
    ("field", "value"),
    [("image_size", 48), ("image_size", 8), ("texture_size", 24), ("texture_size", 4),
     ("subdivisions", 7)],
)  # fmt: skip
def test_inverse_graphics_sizes_off_their_powers_of_two_are_refused(field: str, value) -> None:
    """Image and texture sizes must be powers of two of at least 16 and 8, subdivisions <= 6."""
    with pytest.raises(ValueError, match=f"{field} must be"):
        dataclasses.replace(TINY_NETWORK, **{field: value})


def test_configs_are_written_with_sorted_keys_and_read_back_equal(tmp_path) -> None:
    """`save_config` writes a config's keys in sorted order; `load_config` reads it back."""
    path = save_config(TINY_NETWORK, tmp_path / "network.json")
    keys = list(json.loads(path.read_text()))
    assert keys == sorted(keys) != [field.name for field in dataclasses.fields(TINY_NETWORK)]
    assert load_config(InverseGraphicsConfig, path, "The network config") == TINY_NETWORK


@pytest.mark.parametrize("columns", [2, 4])
def test_cameras_of_other_than_three_numbers_are_refused(columns: int) -> None:
    """A camera must be [B, 3]; a fourth number is refused, not ignored."""
    with pytest.raises(ValueError, match=re.escape("camera must be [B, 3] (azimuth°, elevation°")):
        object_to_camera(torch.zeros(1, 1, 3), torch.ones(1, columns))


def test_a_list_camera_correction_is_kept_as_a_tuple_of_floats(tmp_path) -> None:
    """`max_camera_correction` given as a list of ints equals its JSON round trip."""
    config = dataclasses.replace(TINY_NETWORK, max_camera_correction=[15, 10, 1])
    assert config.max_camera_correction == (15.0, 10.0, 1.0)
    path = save_config(config, tmp_path / "network.json")
    assert load_config(InverseGraphicsConfig, path, "The network config") == config


def test_a_state_past_the_asked_steps_names_the_steps_to_ask_for(tmp_path) -> None:
    """A state holding 5 steps refuses a 3-step run and suggests --steps 5; 5 itself is fine."""
    check_not_past_steps(tmp_path / "run.pt", 5, 5)
    expected = "holds 5 training steps, more than the 3 asked for; pass --steps 5 or more"
    with pytest.raises(GANliftError, match=expected):
        check_not_past_steps(tmp_path / "run.pt", 5, 3)


def test_the_multiview_term_draws_each_cars_own_mesh_in_its_partners_view(monkeypatch) -> None:
    """With multiview, renders 4..7 draw the meshes and textures predicted from images 0..3
    (not the partner's own prediction again) in the partners' views."""
    pairs = synthetic_view_pairs([3, 4], size=32, generator=torch.Generator().manual_seed(2))
    network = InverseGraphicsNet(TINY_NETWORK)
    weights = InverseGraphicsTrainConfig(network=TINY_NETWORK).weights
    drawn: list[tuple[torch.Tensor, torch.Tensor]] = []
    render = train_inverse.render_prediction

    def recorded(vertices, texture, *args, **options):
        drawn.append((vertices, texture))
        return render(vertices, texture, *args, **options)

    monkeypatch.setattr(train_inverse, "render_prediction", recorded)
    with torch.no_grad():
        prediction = network(pairs.images.flatten(0, 1))
        inverse_graphics_losses(network, pairs, weights, multiview=True)
    [(vertices, texture)] = drawn
    twice = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    torch.testing.assert_close(vertices, prediction.vertices[twice])
    torch.testing.assert_close(texture, prediction.texture[twice])


def test_the_perceptual_term_takes_its_weight_and_counts_in_the_total() -> None:
    """The perceptual term is its weight times the mean distance, and the total is the sum of
    every term, the perceptual one included."""
    pairs = synthetic_view_pairs([3], size=32, generator=torch.Generator().manual_seed(1))
    network = InverseGraphicsNet(TINY_NETWORK)

    def perceptual(rendered: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.full((len(rendered),), 2.0)

    with torch.no_grad():
        terms = inverse_graphics_losses(
            network, pairs, LossWeights(perceptual=0.25), multiview=False, perceptual=perceptual
        )
    assert float(terms["perceptual"]) == pytest.approx(0.5)
    others = sum(float(value) for name, value in terms.items() if name != "total")
    assert float(terms["total"]) == pytest.approx(others, rel=1e-6)
    assert float(terms["total"]) - 0.5 == pytest.approx(
        sum(float(terms[name]) for name in ("iou", "colour", "laplacian", "flatten", "move")),
        rel=1e-6,
    )


def test_each_mesh_regulariser_scores_its_own_mesh() -> None:
    """The Laplacian and move terms score the predicted deformation, the flatten term the
    deformed mesh, each times its weight (scored on the other mesh, each would differ)."""
    pairs = synthetic_view_pairs([3], size=32, generator=torch.Generator().manual_seed(1))
    network = InverseGraphicsNet(TINY_NETWORK)
    weights = LossWeights()
    topology = network.template.topology
    with torch.no_grad():
        prediction = network(pairs.images.flatten(0, 1))
        terms = inverse_graphics_losses(network, pairs, weights, multiview=False)
        expected = {
            "laplacian": weights.laplacian
            * laplacian_loss(prediction.deformation, topology).mean(),
            "flatten": weights.flatten * flatten_loss(prediction.vertices, topology).mean(),
            "move": weights.move * move_loss(prediction.deformation).mean(),
        }
        for loss in (laplacian_loss, flatten_loss):
            on_vertices = loss(prediction.vertices, topology).mean()
            assert not torch.allclose(on_vertices, loss(prediction.deformation, topology).mean())
        assert not torch.allclose(move_loss(prediction.vertices), move_loss(prediction.deformation))
    for name, value in expected.items():
        torch.testing.assert_close(terms[name], value, rtol=1e-5, atol=0)


def test_the_seed_sets_the_initial_network_and_the_data_stream(tmp_path) -> None:
    """A run's network starts from torch's global generator seeded with `seed`, and its data
    stream is a generator seeded with `seed`: two seeds give two different starts."""
    draws: list[torch.Tensor] = []
    pairs = synthetic_view_pairs([1], size=32, generator=torch.Generator().manual_seed(0))

    def source(count: int, rng: torch.Generator) -> ViewPairs:
        draws.append(torch.rand(4, generator=rng))
        return pairs

    starts = []
    for seed in (3, 4):
        config = InverseGraphicsTrainConfig(network=TINY_NETWORK, steps=1, batch_size=1, seed=seed)
        stopped = train_inverse_graphics(
            source, config, state_path=tmp_path / f"stopped-{seed}.pt", should_stop=lambda: True
        )
        assert stopped.step == 0
        torch.manual_seed(seed)
        expected = InverseGraphicsNet(TINY_NETWORK).state_dict()
        for name, value in stopped.network.state_dict().items():
            assert torch.equal(value, expected[name]), name
        starts.append(stopped.network.state_dict())
        train_inverse_graphics(source, config, state_path=tmp_path / f"run-{seed}.pt")
        assert torch.equal(draws[-1], torch.rand(4, generator=torch.Generator().manual_seed(seed)))
    assert not all(torch.equal(starts[0][name], starts[1][name]) for name in starts[0])


def test_the_loss_weights_and_warm_up_default_to_the_papers_values() -> None:
    """The DIB-R loss weights of the paper (IoU 3, colour 20, Laplacian 5, flatten 5, move 2.5,
    perceptual 0.5), the perceptual term after 2,000 steps."""
    assert LossWeights() == LossWeights(
        iou=3.0, colour=20.0, laplacian=5.0, flatten=5.0, move=2.5, perceptual=0.5
    )
    assert InverseGraphicsTrainConfig().perceptual_after == 2_000
