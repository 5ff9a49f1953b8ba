"""`recover` end to end on a tiny generator: progress names stage and step, should_stop stops,
a stopped run saved and resumed ends exactly where an uninterrupted one does, views render
without networks, and meshes are trimmed to the object."""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
import itertools
import math
import re
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.errors import GANliftError, StoppedEarly
from engine.gan2shape import (
    Recovery,
    StepLengths,
    continue_recovery,
    load_state,
    project_view,
    recover,
    render_view,
    save_state,
    write_outputs,
)
from engine.gan2shape.latent_offset import LatentProjector
from engine.gan2shape.meshing import mesh_mask, photo_albedo, recovery_mesh, texture_source
from engine.gan2shape.outputs import MIN_FRAMES, OutputSettings, ViewSpec
from engine.gan2shape.photogeometry import decompose, render_in_views
from engine.gan2shape.recover import latent_projector
from engine.gan2shape.views import check_view_angles
from engine.inversion import SavedLatent, load_latent, save_latent
from engine.metrics import psnr
from engine.perceptual import DiscriminatorFeatureLoss
from engine.stylegan2 import Discriminator, Generator
from tests.polls import stop_after
from tests.tiny import disc_on_noise, tiny_gan, tiny_gan2shape_preset

SIZE = 32
PRESET = tiny_gan2shape_preset(
    SIZE,
    num_stages=2,
    later_stages=StepLengths(1, 1, 2),
    flip_step1=(False, True),
    flip_step3=(True, False),
    prior_steps=2,
    collect_batches=2,
    inversion_steps=2,
)
TOTAL = 2 + 6 + 4


@pytest.fixture(scope="module")
def gan() -> tuple[Generator, Discriminator, torch.Tensor, torch.Tensor]:
    """A tiny G and D, a latent and its image."""
    G, D = tiny_gan(SIZE)
    latent = G.mean_latent(64)
    with torch.no_grad():
        image = G.synthesis(latent).clamp(-1, 1)
    return G, D, latent, image


def run(gan, **kwargs) -> Recovery:
    """`recover` on the tiny case with the discriminator as perceptual loss."""
    G, D, latent, image = gan
    perceptual = DiscriminatorFeatureLoss(D)
    return recover(G, D, image, preset=PRESET, latent=latent, perceptual=perceptual, **kwargs)


@pytest.fixture(scope="module")
def full(gan) -> tuple[Recovery, list[tuple[int, int, str]]]:
    """An uninterrupted run and its progress reports."""
    reports: list[tuple[int, int, str]] = []
    recovery = run(
        gan, progress=lambda done, total, message: reports.append((done, total, message))
    )
    return recovery, reports


def test_progress_names_stage_and_step(full) -> None:
    recovery, reports = full
    assert recovery.finished
    assert all(total == TOTAL for _, total, _ in reports)
    done = [entry[0] for entry in reports]
    assert done == sorted(done) and done[-1] == TOTAL
    messages = [message for _, _, message in reports]
    assert messages[0].startswith("prior fit")
    for stage, step in itertools.product((1, 2), (1, 2, 3)):
        assert any(f"stage {stage}/2, step {step}/3" in message for message in messages)
    assert any("caching projected samples" in message for message in messages)


def test_a_recovery_shows_itself_in_a_few_lines(full) -> None:
    """A notebook cell ending in a Recovery printed 45,000 characters of tensors and networks."""
    recovery, _ = full
    shown = repr(recovery)
    assert len(shown) < 1000 and f"depth=tensor[1, {SIZE}, {SIZE}](float32)" in shown
    assert f"psnr={recovery.psnr:.4g}" in shown and "state=RecoveryState(" in shown
    state = repr(recovery.state)
    assert len(state) < 1000 and "networks=Gan2ShapeNetworks(" in state and " weights)" in state


def test_recovery_ranges(full) -> None:
    recovery, _ = full
    assert recovery.depth.shape == (1, SIZE, SIZE)
    assert recovery.depth.min() >= 0.9 and recovery.depth.max() <= 1.1
    assert recovery.albedo.shape == (1, 3, SIZE, SIZE) and recovery.view.shape == (1, 6)
    assert recovery.light.shape == (1, 4) and recovery.normal.shape == (1, 3, SIZE, SIZE)
    assert recovery.state.cache is not None and recovery.state.cache.images.shape[0] == 4
    assert recovery.mask.shape == (1, 1, SIZE, SIZE) and recovery.mask.max() <= 1


def test_recovery_redraws_its_input_closer_than_its_networks(full) -> None:
    recovery, _ = full
    networks = decompose(recovery.state.networks, recovery.image, recovery.state.preset)

    def redraw_psnr(canonical: torch.Tensor) -> float:
        redrawn, covered = render_in_views(canonical, recovery.depth, recovery.view)
        return float(psnr(redrawn, recovery.image, covered)[0])

    assert torch.equal(networks.depth, recovery.depth)
    assert recovery.redraw_psnr == pytest.approx(redraw_psnr(recovery.canonical_image))
    assert recovery.redraw_psnr > redraw_psnr(networks.image) + 6


def test_a_photo_gives_the_albedo_at_its_resolution(full, monkeypatch) -> None:
    recovery, _ = full
    flat = dataclasses.replace(  # a frontal plane under a frontal light: shading 0.9 everywhere
        recovery,
        depth=torch.ones_like(recovery.depth),
        view=torch.zeros_like(recovery.view),
        light=torch.tensor([[0.4, 0.5, 0.0, 0.0]]),
    )
    photo = torch.rand(1, 3, 4 * SIZE, 4 * SIZE, generator=torch.Generator().manual_seed(0))
    photo = photo * 2 - 1
    fine = photo_albedo(flat, photo)
    expected = ((photo / 2 + 0.5) / 0.9).clamp(0, 1) * 2 - 1
    torch.testing.assert_close(fine, expected, atol=1e-4, rtol=0)
    assert recovery_mesh(flat, photo=photo).texture.shape == (4 * SIZE, 4 * SIZE, 3)
    monkeypatch.setattr("engine.gan2shape.meshing.MAX_TEXTURE_SIDE", 2 * SIZE)
    assert photo_albedo(recovery, photo).shape == (1, 3, 2 * SIZE, 2 * SIZE)
    small = F.interpolate(photo, size=SIZE // 2, mode="area")
    assert photo_albedo(recovery, small).shape[-1] == SIZE  # never below the networks' frame


def test_texture_sources_keep_what_photo_albedo_reads() -> None:
    photo = torch.zeros(1, 3, 1500, 2000)
    assert texture_source(photo, PRESET).shape == (1, 3, 1024, 1024)
    cropped = PRESET.replace(crop=0.5)  # the networks see the middle half of the frame
    assert texture_source(photo, cropped).shape == (1, 3, 1500, 1500)
    assert texture_source(photo[..., :300, :200], PRESET).shape == (1, 3, 200, 200)


def test_stopped_run_saved_and_resumed_matches_the_full_run(gan, full, tmp_path: Path) -> None:
    recovery, _ = full
    stopped = run(gan, should_stop=stop_after(9))  # mid step 3 of stage 1
    assert not stopped.finished
    assert (stopped.state.phase, stopped.state.iteration) == (3, 1)
    assert stopped.state.optimizer is not None and stopped.state.cache is not None

    path = save_state(stopped.state, tmp_path / "run.pt")
    loaded = load_state(path)
    assert_same_state(loaded, stopped.state)

    G, D, _, _ = gan
    resumed = continue_recovery(G, D, loaded, perceptual=DiscriminatorFeatureLoss(D))
    assert resumed.finished
    for key, value in recovery.state.networks.state_dict().items():
        assert torch.allclose(resumed.state.networks.state_dict()[key], value, atol=1e-5), key
    assert torch.allclose(resumed.depth, recovery.depth, atol=1e-5)


@pytest.mark.parametrize(
    ("damage", "message"),
    [  # each was a traceback mid-run, or a NaN run overwriting a finished one's outputs
        (lambda data: data["networks"].update(
            {next(iter(data["networks"])): torch.zeros(3)}), "networks does not fit"),
        (lambda data: [value.fill_(math.nan) for value in data["networks"].values()],
         "networks holds"),
        (lambda data: data["target"]["latent"].fill_(math.inf), "target holds"),
        (lambda data: data["target"].update(latent=torch.zeros(1, 7)), "a latent of shape [1, 7]"),
        (lambda data: data["target"].update(image=torch.zeros(1, 3, 8, 8)), "a target image"),
        (lambda data: data.update(target=[1]), "holds a damaged target"),
        (lambda data: data.update(style_dim="x"), "holds a damaged style_dim"),
        (lambda data: data.update(cache={"images": 1}), "holds a damaged images"),
        (lambda data: data.update(phase=-1), "holds a damaged phase"),
        (lambda data: data["target"].update(psnr="x"), "holds a damaged psnr"),
        (lambda data: data["target"].update(noises=[1]), "noise maps that are no tensors"),
        (lambda data: data["target"].update(gan_image=torch.zeros(1, 3)), "a target gan_image"),
        (lambda data: data["target"].update(latent=torch.zeros(16)), "holds a latent of shape"),
        (lambda data: data["target"].update(mask_given=1), "holds a damaged mask_given"),
        (lambda data: data.update(style_dim=0), "holds style_dim 0"),
        (lambda data: data.update(style_dim=10**9), "holds style_dim 1000000000"),  # no build
        (lambda data: data["target"].update(latent=torch.zeros(1, 1, 1, 32)),
         "holds a latent of shape [1, 1, 1, 32]"),
    ],
)  # fmt: skip
def test_a_damaged_state_file_is_refused_as_it_is_read(full, tmp_path: Path, damage, message):
    recovery, _ = full
    path = save_state(recovery.state, tmp_path / "run.pt")
    data = torch.load(path, weights_only=True)
    damage(data)
    torch.save(data, path)
    with pytest.raises(GANliftError, match=re.escape(message)):
        load_state(path)


def test_stop_during_the_collection_resumes_exactly(gan, full, tmp_path: Path) -> None:
    recovery, _ = full
    checkpoint = tmp_path / "checkpoint.pt"
    # 2 prior + 2 step-1 + 2 step-2 polls, then stop before the collection's second batch
    stopped = run(gan, checkpoint=checkpoint, should_stop=stop_after(7))
    assert (stopped.state.phase, stopped.state.iteration) == (2, 2)
    assert stopped.state.cache is None
    saved = load_state(checkpoint)
    assert (saved.phase, saved.iteration) == (2, 2) and torch.equal(saved.rng, stopped.state.rng)
    G, D, _, _ = gan
    resumed = continue_recovery(G, D, saved, perceptual=DiscriminatorFeatureLoss(D))
    assert resumed.finished
    assert torch.allclose(resumed.depth, recovery.depth, atol=1e-5)


def assert_same_state(first, second) -> None:
    """Two states hold the same counters, tensors, cache and optimiser."""
    assert (first.phase, first.iteration, first.fit_prior) == (
        second.phase,
        second.iteration,
        second.fit_prior,
    )
    assert first.preset == second.preset and torch.equal(first.rng, second.rng)
    assert first.generator == second.generator is not None
    for key, value in second.networks.state_dict().items():
        assert torch.equal(first.networks.state_dict()[key], value), key
    assert torch.equal(first.cache.images, second.cache.images)
    assert first.cache.cursor == second.cache.cursor
    assert torch.equal(first.target.latent, second.target.latent)
    steps = [entry["step"] for entry in first.optimizer["state"].values()]
    assert steps == [entry["step"] for entry in second.optimizer["state"].values()]


def test_should_stop_stops_before_any_work(gan) -> None:
    calls = []
    recovery = run(gan, should_stop=lambda: calls.append(1) or True)
    assert not recovery.finished
    assert (recovery.state.phase, recovery.state.iteration) == (0, 0)
    assert len(calls) == 1  # polled once by the prior fit (the latent was given)


def test_a_stop_during_the_inversion_saves_nothing(gan, tmp_path: Path) -> None:
    """A half-done inversion would become the run's target for good: nothing is kept."""
    G, D, _, image = gan
    checkpoint = tmp_path / "run.pt"
    with pytest.raises(StoppedEarly, match=r"GAN inversion \(step 1 of 2\)"):
        recover(
            G,
            D,
            image,
            preset=PRESET,
            perceptual=DiscriminatorFeatureLoss(D),
            checkpoint=checkpoint,
            should_stop=stop_after(1),
        )
    assert not checkpoint.exists()


def test_each_stage_takes_its_own_symmetry_flags(gan, monkeypatch) -> None:
    """PRESET mirrors in step 1 of the second stage only and in step 3 of the first only."""
    module = importlib.import_module("engine.gan2shape.recover")
    flips: dict[int, list[bool]] = {1: [], 3: []}
    step1, step3 = module.reconstruction_loss, module.shape_loss

    def recorded_step1(context, *, flip: bool):
        flips[1].append(flip)
        return step1(context, flip=flip)

    def recorded_step3(context, cache, *, flip: bool):
        flips[3].append(flip)
        return step3(context, cache, flip=flip)

    monkeypatch.setattr(module, "reconstruction_loss", recorded_step1)
    monkeypatch.setattr(module, "shape_loss", recorded_step3)
    run(gan)
    assert flips[1][0] is False and flips[1][-1] is True
    assert flips[3][0] is True and flips[3][-1] is False


def test_init_weights_are_loaded_and_skip_the_prior_fit(gan, full) -> None:
    weights = full[0].state.networks.state_dict()
    started = run(gan, init=weights, should_stop=lambda: True)
    assert not started.state.fit_prior and started.state.phases[0].step == 1
    assert torch.equal(started.depth, full[0].depth)
    with pytest.raises(GANliftError, match="do not match the preset's networks"):
        run(gan, init={"depth_net.network.0.weight": torch.zeros(1)})


def test_render_view_at_zero_reproduces_the_canonical_image(full) -> None:
    recovery, _ = full
    front = render_view(recovery, azimuth=0, elevation=0)
    assert torch.allclose(front, recovery.canonical_image.clamp(-1, 1), atol=1e-4)
    relit = render_view(recovery, azimuth=0, elevation=0, light=recovery.light[0])
    assert torch.allclose(relit, front, atol=1e-4)
    turned = render_view(recovery, azimuth=20, elevation=5)
    assert (turned - front).abs().mean() > 1e-3


def test_a_light_may_be_any_sequence_and_bad_views_are_refused(gan, full) -> None:
    """A list or array light failed inside torch, NaN angles drew NaN pictures, and an
    elevation of 100° or an azimuth of 180° drew the surface from behind (as a mirrored
    front)."""
    recovery, _ = full
    light = recovery.light[0]
    expected = render_view(recovery, azimuth=10, elevation=5, light=light)
    for form in (light.tolist(), light.numpy(), tuple(light.tolist())):
        assert torch.allclose(render_view(recovery, azimuth=10, elevation=5, light=form), expected)
    refusals = [
        ({"azimuth": math.nan, "elevation": 0}, "A view takes azimuth and elevation in finite"),
        ({"azimuth": "left", "elevation": 0}, "A view takes azimuth and elevation in finite"),
        ({"azimuth": 0, "elevation": 100}, "A view has elevation 100°; use -90 to 90"),
        ({"azimuth": 180, "elevation": 0}, "A view has azimuth 180°, which looks at the back"),
        ({"azimuth": -91, "elevation": 0}, "A view has azimuth -91°, which looks at the back"),
        ({"azimuth": 269, "elevation": 0}, "A view has azimuth 269°, which looks at the back"),
        ({"azimuth": 0, "elevation": 0, "light": [0.5, 0.5, 0.2]}, "A light is 4 finite"),
        ({"azimuth": 0, "elevation": 0, "light": [0.5, 0.5, math.nan, 0]}, "A light is 4 fin"),
    ]
    projected = functools.partial(project_view, G=gan[0])
    for arguments, refusal in refusals:
        for draw in (render_view, projected):
            with pytest.raises(GANliftError, match=refusal):
                draw(recovery, **arguments)
    for edge_on in (90, -90, 270, 330):
        assert torch.isfinite(render_view(recovery, azimuth=edge_on, elevation=0)).all()


def test_views_refuse_a_run_for_a_recovery_and_a_model_for_its_generator(gan, full) -> None:
    """A run for its .recovery, or a GAN2Shape model for its generator (an easy slip: the
    model is what `load_model` returns), failed deep inside on a missing attribute."""
    recovery, _ = full
    run = types.SimpleNamespace(recovery=recovery)
    projected = functools.partial(project_view, G=gan[0])
    for draw, what in ((render_view, "render_view"), (projected, "project_view")):
        with pytest.raises(GANliftError, match=rf"^{what} takes a Recovery .*, got a SimpleNa"):
            draw(run, azimuth=0, elevation=0)
    model = types.SimpleNamespace(generator=gan[0])
    with pytest.raises(GANliftError, match=r"got a SimpleNamespace; pass its \.generator\.$"):
        project_view(recovery, model, azimuth=0, elevation=0)
    with pytest.raises(GANliftError, match=r"got None; pass a StyleGAN2 Generator\.$"):
        project_view(recovery, None, azimuth=0, elevation=0)


def test_positive_angles_look_from_above_and_from_the_right(full) -> None:
    """A flat square turned by perspective: the edge nearer the camera is drawn longer, so
    elevation > 0 (seen from above) lengthens the top edge, azimuth > 0 the right edge."""
    recovery, _ = full
    size = recovery.depth.shape[-1]
    flat = dataclasses.replace(
        recovery,
        depth=torch.ones(1, size, size),
        canonical_image=torch.ones(1, 3, size, size),
    )
    covered = [
        (render_view(flat, azimuth=azimuth, elevation=elevation)[0, 0] > 0).float()
        for azimuth, elevation in ((0, 20), (20, 0))
    ]
    above, right = covered
    assert above[2].sum() > above[-3].sum()  # top row longer than bottom row
    assert right[:, -3].sum() > right[:, 2].sum()  # right column longer than left column


def test_render_view_blanks_what_a_turn_uncovers(full) -> None:
    """Pixels off the turned surface are 0 (the app's grey), not whatever canonical pixel
    their far-depth ray lands on (a sliver of the head showed at the frame's edge)."""
    recovery, _ = full
    turned = render_view(recovery, azimuth=45, elevation=0)
    view = recovery.depth.new_tensor([[0.0, math.radians(45), 0.0, 0.0, 0.0, 0.0]])
    _, covered = render_in_views(recovery.canonical_image, recovery.depth, view)
    assert 0 < covered.mean() < 1
    assert torch.all(turned * (1 - covered) == 0)
    assert turned[covered.expand_as(turned) > 0].abs().sum() > 0


def test_project_view_gives_a_generator_image(gan, full) -> None:
    recovery, _ = full
    G = gan[0]
    image = project_view(recovery, G, azimuth=10, elevation=0)
    assert image.shape == (1, 3, SIZE, SIZE) and image.abs().max() <= 1


def test_project_view_encodes_the_turned_view_unmasked(gan, full, monkeypatch) -> None:
    """The offset encoder sees a turned view as step 2 drew its pseudo samples: what the far
    rays hit where the turn uncovers the surface, not the blank that `render_view` shows."""
    recovery, _ = full
    encoded: list[torch.Tensor] = []
    offsets = LatentProjector.offsets

    def recorded(projector: LatentProjector, encoder, images: torch.Tensor) -> torch.Tensor:
        encoded.append(images)
        return offsets(projector, encoder, images)

    monkeypatch.setattr(LatentProjector, "offsets", recorded)
    project_view(recovery, gan[0], azimuth=45, elevation=0)
    shown = render_view(recovery, azimuth=45, elevation=0)
    uncovered = (shown == 0).all(dim=1, keepdim=True).expand_as(shown)
    (image,) = encoded
    assert uncovered.any() and image[uncovered].abs().sum() > 0
    assert torch.equal(image[~uncovered], shown[~uncovered])


def test_a_run_goes_on_where_its_state_is(gan, full) -> None:
    """A state elsewhere than the device given was run half there: torch's device mismatch."""
    recovery, _ = full
    elsewhere = copy.deepcopy(recovery.state)
    elsewhere.networks.to("meta")
    with pytest.raises(GANliftError, match=r"^The GAN2Shape state is on meta, not cpu; load it"):
        continue_recovery(*gan[:2], elsewhere, device="cpu")


def test_a_callers_no_grad_block_changes_no_run(gan, full) -> None:
    """Under torch.no_grad() (a notebook's "only inference" habit) the inversion's first
    backward pass failed deep in torch; torch.inference_mode() is refused in one sentence."""
    recovery, _ = full
    with torch.no_grad():
        inside = run(gan)
    assert torch.equal(inside.depth, recovery.depth) and torch.equal(inside.albedo, recovery.albedo)
    with (
        torch.inference_mode(),
        pytest.raises(GANliftError, match=r"^GAN2Shape optimises with gradients, which torch"),
    ):
        run(gan)


def test_a_run_refuses_a_generator_other_than_its_own(gan, full, tmp_path: Path) -> None:
    """Another GAN of the same shapes drew its own objects from the run's latent: a face run's
    novel views came out as cars, and a resumed run trained on the other GAN's images."""
    recovery, _ = full
    other, D = tiny_gan(SIZE, seed=1)
    refusal = "This GAN2Shape run was made with another generator than the one given"
    with pytest.raises(GANliftError, match=refusal):
        project_view(recovery, other, azimuth=10, elevation=0)
    with pytest.raises(GANliftError, match=refusal):
        continue_recovery(other, D, recovery.state)
    (tmp_path / "summary.json").write_text("{}")  # an earlier call's outputs stay as they are
    with pytest.raises(GANliftError, match=refusal):
        write_outputs(recovery, other, tmp_path)
    assert [entry.name for entry in tmp_path.iterdir()] == ["summary.json"]
    own = gan[0]
    lowered = copy.deepcopy(own).to(torch.bfloat16)  # other weights, but the run's own GAN
    assert project_view(recovery, lowered, azimuth=10, elevation=0).shape[-1] == SIZE


def test_project_view_crops_the_generator_image_as_the_preset_crops_the_input(gan) -> None:
    """A cat-like preset keeps the centre 3/4 of the GAN's frame: the projected view shows
    that part, at the generator's resolution (it showed the whole frame, zoomed out)."""
    G, D, latent, image = gan
    perceptual = DiscriminatorFeatureLoss(D)
    cropped = PRESET.replace(crop=0.75)
    recovery = recover(G, D, image, preset=cropped, latent=latent, perceptual=perceptual)
    projected = project_view(recovery, G, azimuth=0, elevation=0)
    assert projected.shape == (1, 3, 24, 24)


def test_user_errors(gan, tmp_path: Path) -> None:
    G, D, latent, image = gan
    with pytest.raises(GANliftError, match="Preset 'face' is for 128-px generators"):
        recover(G, D, image, preset="face", latent=latent)
    with pytest.raises(GANliftError, match="one RGB image"):
        recover(G, D, image[0], preset=PRESET, latent=latent)
    with pytest.raises(GANliftError, match="GAN2Shape's mask is 8x8 px but the image is 32x32 px"):
        recover(G, D, image, preset=PRESET, latent=latent, mask=torch.ones(1, 1, 8, 8))
    width = G.style_dim
    given = [  # the latent argument: only the CLI checked latent files before
        (
            torch.zeros(1, width + 1),
            rf"The given latent holds a latent of shape \[1, {width + 1}\]",
        ),
        (torch.full_like(latent, math.nan), "The given latent holds NaN or infinite values"),
        (
            SavedLatent(latent, [], generator="0123abcd"),
            "The given latent was inverted with another",
        ),
    ]
    for wrong, refusal in given:
        with pytest.raises(GANliftError, match=refusal):
            recover(G, D, image, preset=PRESET, latent=wrong)
    saved = load_latent(
        save_latent(tmp_path / "other.pt", latent, generator=tiny_gan(SIZE, seed=1)[0])
    )
    with pytest.raises(GANliftError, match=f"Latent file {tmp_path / 'other.pt'} was inverted"):
        recover(G, D, image, preset=PRESET, latent=saved)
    with pytest.raises(GANliftError, match="does not exist"):
        load_state(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a state")
    with pytest.raises(GANliftError, match="damaged"):
        load_state(tmp_path / "junk.pt")


def test_a_mesh_of_a_whole_frame_recovery_leaves_the_backdrop_out(full) -> None:
    recovery, _ = full
    assert bool((recovery.state.target.mask == 1).all())  # the tiny preset lifts the whole frame
    image, disc = disc_on_noise(SIZE, SIZE, (16, 16), 9)
    frontal = dataclasses.replace(recovery, image=image, view=torch.zeros_like(recovery.view))
    kept = mesh_mask(frontal) > 0.5
    assert float((kept & (disc > 0)).sum() / (kept | (disc > 0)).sum()) > 0.9
    turned_view = torch.tensor([[0.0, math.radians(30), 0.0, 0.0, 0.0, 0.0]])
    turned = dataclasses.replace(frontal, view=turned_view)  # the image's mask, pulled into
    assert not torch.equal(mesh_mask(turned) > 0.5, kept)  # the turned surface's own frame


def test_a_mesh_keeps_the_recovery_s_own_object_mask(full) -> None:
    recovery, _ = full
    image, _ = disc_on_noise(SIZE, SIZE, (16, 16), 9)  # an object trimming would cut out
    frontal = dataclasses.replace(recovery, image=image, view=torch.zeros_like(recovery.view))
    target = dataclasses.replace(recovery.state.target, mask=torch.zeros(1, 1, SIZE, SIZE))
    masked = dataclasses.replace(frontal, state=dataclasses.replace(recovery.state, target=target))
    assert torch.equal(mesh_mask(masked), recovery.mask[0, 0])
    assert not torch.equal(mesh_mask(frontal), recovery.mask[0, 0])  # not what trimming keeps


def test_a_masking_preset_s_mesh_keeps_an_all_white_mask(full) -> None:
    """A car's mesh given an all-white mask was trimmed as if no mask was given (to 16 %)."""
    recovery, _ = full
    image, _ = disc_on_noise(SIZE, SIZE, (16, 16), 9)
    frontal = dataclasses.replace(recovery, image=image, view=torch.zeros_like(recovery.view))
    trimmed = mesh_mask(frontal)  # a preset without masks: the disc found in the image
    masking = dataclasses.replace(recovery.state.preset, use_mask=True)
    car = dataclasses.replace(frontal, state=dataclasses.replace(recovery.state, preset=masking))
    assert torch.equal(mesh_mask(car), recovery.mask[0, 0])
    assert (mesh_mask(car) > 0.5).sum() > (trimmed > 0.5).sum()


def test_a_recovery_kept_for_viewing_views_as_before(gan, full, tmp_path: Path) -> None:
    """An app keeps every visitor's recovery: without the shape networks, cache and optimiser
    it draws the same views, projections, meshes and outputs, and refuses to go on."""
    recovery, _ = full
    G, D = gan[:2]
    viewed = copy.deepcopy(recovery)
    viewed.state.keep_for_viewing()
    kept = {name for name, _ in viewed.state.networks.named_children()}
    assert kept == {"offset_net"} and viewed.state.cache is None and viewed.state.optimizer is None
    for azimuth in (0, 20):
        assert torch.equal(
            render_view(viewed, azimuth=azimuth, elevation=5)[0],
            render_view(recovery, azimuth=azimuth, elevation=5)[0],
        )
        assert torch.equal(
            project_view(viewed, G, azimuth=azimuth, elevation=5),
            project_view(recovery, G, azimuth=azimuth, elevation=5),
        )
    assert np.array_equal(recovery_mesh(viewed).vertices, recovery_mesh(recovery).vertices)
    settings = OutputSettings(views=(ViewSpec(10.0, 0.0),), frames=MIN_FRAMES)
    files = write_outputs(viewed, G, tmp_path / "viewed", settings=settings)
    same = write_outputs(recovery, G, tmp_path / "full", settings=settings)
    for label, path in files.items():
        assert path.read_bytes() == same[label].read_bytes(), label
    refusal = r"^This GAN2Shape state was kept for viewing only \(keep_for_viewing dropped"
    with pytest.raises(GANliftError, match=refusal):
        continue_recovery(G, D, viewed.state)
    with pytest.raises(GANliftError, match=refusal):
        save_state(viewed.state, tmp_path / "state.pt")
    assert not (tmp_path / "state.pt").exists()


def test_a_face_mesh_keeps_a_user_s_all_white_mask(gan, full, tmp_path: Path) -> None:
    """A preset without masks (faces') given an all-white mask trimmed the mesh as if none was
    given: the target records whose mask it is, and the state file keeps that (one written
    before it was recorded reads as no mask given, and keeps a mask covering part of the
    frame, which only a user's could be)."""
    recovery, _ = full
    assert not recovery.state.target.mask_given
    image, _ = disc_on_noise(SIZE, SIZE, (16, 16), 9)
    frontal = dataclasses.replace(recovery, image=image, view=torch.zeros_like(recovery.view))
    trimmed = mesh_mask(frontal)  # no mask given: the disc found in the image
    given = dataclasses.replace(recovery.state.target, mask_given=True)
    users = dataclasses.replace(frontal, state=dataclasses.replace(recovery.state, target=given))
    assert torch.equal(mesh_mask(users), recovery.mask[0, 0])
    assert (mesh_mask(users) > 0.5).sum() > (trimmed > 0.5).sum()
    partial = torch.zeros(1, 1, SIZE, SIZE)
    partial[..., 4:28, 6:30] = 1  # a user's mask in a state from before mask_given
    older_target = dataclasses.replace(recovery.state.target, mask=partial, mask_given=False)
    older = dataclasses.replace(
        frontal, mask=partial, state=dataclasses.replace(recovery.state, target=older_target)
    )
    assert torch.equal(mesh_mask(older), partial[0, 0])
    assert not torch.equal(mesh_mask(older), trimmed)

    stopped = run(gan, mask=torch.ones(1, 1, SIZE, SIZE), should_stop=lambda: True)
    assert stopped.state.target.mask_given
    path = save_state(stopped.state, tmp_path / "given.pt")
    assert load_state(path).target.mask_given
    data = torch.load(path, weights_only=True)
    del data["target"]["mask_given"]
    torch.save(data, path)
    assert not load_state(path).target.mask_given


def test_a_view_may_look_edge_on_from_above_or_below(full) -> None:
    """Elevations run from -90 to 90 inclusive, as the refusal says."""
    recovery, _ = full
    assert check_view_angles(330, 90) == (330.0, 90.0)
    for elevation in (90, -90):
        assert torch.isfinite(render_view(recovery, azimuth=0, elevation=elevation)).all()


def test_a_light_of_more_than_four_values_is_refused(full) -> None:
    recovery, _ = full
    with pytest.raises(GANliftError, match="A light is 4 finite numbers"):
        render_view(recovery, azimuth=0, elevation=0, light=[0.5, 0.5, 0.2, 0.1, 0.3])


def test_a_state_keeps_the_cache_s_position(full, tmp_path: Path) -> None:
    """Step 3 resumed mid-cache goes on from the batch it stopped at."""
    recovery, _ = full
    cache = recovery.state.cache
    moved = dataclasses.replace(
        recovery.state,
        cache=dataclasses.replace(cache, cursor=1),
        networks=copy.deepcopy(recovery.state.networks),
    )
    loaded = load_state(save_state(moved, tmp_path / "run.pt"))
    assert loaded.cache.cursor == 1 and torch.equal(loaded.cache.masks, cache.masks)


def test_each_step_trains_its_own_networks(gan) -> None:
    """The prior fit trains the depth net, step 1 the albedo net, step 2 the offset encoder
    (compared between runs stopped after each)."""
    stopped = []
    for polls in (2, 4, 6):  # after the prior fit, step 1, step 2 (in its collection)
        stopped.append(run(gan, should_stop=stop_after(polls)).state)
    assert [state.phase for state in stopped] == [1, 2, 2]
    networks = ("depth_net", "albedo_net", "view_net", "light_net", "offset_net")
    for before, after, trained in zip(
        stopped[:2], stopped[1:], ("albedo_net", "offset_net"), strict=True
    ):
        for name in networks:
            old = getattr(before.networks, name).state_dict()
            new = getattr(after.networks, name).state_dict()
            same = all(torch.equal(old[key], new[key]) for key in old)
            assert same == (name != trained), name


def test_the_presets_weight_decay_reaches_the_optimiser(gan) -> None:
    """Adam's decay pulls every trained weight towards zero: a strong decay shrinks the albedo
    net in step 1 (by ~lr per weight and step) where no decay leaves its size alone."""
    G, D, latent, image = gan
    perceptual = DiscriminatorFeatureLoss(D)
    norms = []
    for decay in (0.0, 1e3):
        stopped = recover(
            G, D, image, preset=PRESET.replace(weight_decay=decay), latent=latent,
            perceptual=perceptual, should_stop=stop_after(4),
        )  # fmt: skip
        norms.append(sum(p.abs().sum() for p in stopped.state.networks.albedo_net.parameters()))
    parameters = sum(p.numel() for p in stopped.state.networks.albedo_net.parameters())
    assert norms[0] - norms[1] > 0.5 * 2 * PRESET.lr * parameters


def test_offsets_are_relative_to_the_gan_image_only_where_the_preset_says(gan, full) -> None:
    recovery, _ = full
    G, target = gan[0], recovery.state.target
    encoder = recovery.state.networks.offset_net
    image = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        own = encoder(image)
        relative = latent_projector(G, PRESET, target).offsets(encoder, image)
        absolute = latent_projector(G, PRESET.replace(relative_offset=False), target)
        torch.testing.assert_close(relative, own - encoder(target.gan_image))
        torch.testing.assert_close(absolute.offsets(encoder, image), own)


def test_the_target_keeps_the_gan_s_reconstruction_beside_the_input(gan) -> None:
    """Relative offsets are taken from the GAN's image of the latent, not from the input."""
    G, D, latent, image = gan
    darker = image * 0.5
    stopped = recover(
        G, D, darker, preset=PRESET, latent=latent, perceptual=DiscriminatorFeatureLoss(D),
        should_stop=lambda: True,
    )  # fmt: skip
    target = stopped.state.target
    torch.testing.assert_close(target.gan_image, image)
    torch.testing.assert_close(target.image, darker)
    assert target.psnr == pytest.approx(float(psnr(image, darker)[0]), rel=1e-4)


def test_a_finished_run_leaves_its_networks_frozen(full) -> None:
    """No network of a finished recovery still asks for gradients (views and meshes made from
    it build no autograd graphs)."""
    recovery, _ = full
    assert not any(parameter.requires_grad for parameter in recovery.state.networks.parameters())


@pytest.mark.parametrize("polls", [1, 3])  # in the prior fit; in step 1
def test_a_run_stopped_mid_phase_leaves_its_networks_frozen(gan, polls) -> None:
    """A stop inside a phase's iterations freezes the networks as a finished run does (a resumed
    run turns on the gradients of the phase's own networks again)."""
    stopped = run(gan, should_stop=stop_after(polls))
    assert stopped.state.iteration > 0
    assert not any(parameter.requires_grad for parameter in stopped.state.networks.parameters())
