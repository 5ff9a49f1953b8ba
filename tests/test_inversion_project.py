"""project(): a tiny generator's own images are recovered, in W and W+, with callbacks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.errors import GANliftError
from engine.inversion import (
    InversionResult,
    _learning_rate_ramp,
    _perceptual_input,
    noise_autocorrelation,
    project,
)
from engine.perceptual import DiscriminatorFeatureLoss
from engine.stylegan2 import Generator
from tests.test_perceptual_shared_target import count_encodings
from tests.tiny import tiny_discriminator, tiny_generator

FAST = {"w_avg_samples": 500}


@pytest.fixture(scope="module")
def generator() -> Generator:
    """A 16x16 generator whose output stays inside [-1, 1] (ToRGB weights scaled down)."""
    G = tiny_generator(16, style_dim=16, n_mlp=2)
    with torch.no_grad():
        for key, tensor in G.state_dict().items():
            if key.startswith("to_rgb") and key.endswith("conv.weight"):
                tensor.mul_(0.4)
    return G.eval()


@pytest.fixture(scope="module")
def true_latent(generator: Generator) -> torch.Tensor:
    with torch.no_grad():
        w_avg = generator.mean_latent(500)
        return torch.lerp(w_avg, generator.mapping(torch.randn(1, 16)), 0.7)  # [1, 16]


@pytest.fixture(scope="module")
def target(generator: Generator, true_latent: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return generator.synthesis(true_latent).clamp(-1, 1)  # [1, 3, 16, 16]


@pytest.fixture(scope="module")
def short_and_long(
    generator: Generator, target: torch.Tensor
) -> tuple[InversionResult, InversionResult]:
    return (
        project(generator, target, num_steps=20, **FAST),
        project(generator, target, num_steps=60, **FAST),
    )


def test_own_image_is_recovered_and_psnr_rises_with_steps(
    short_and_long: tuple[InversionResult, InversionResult],
) -> None:
    short, long = short_and_long
    assert long.psnr > 30.0
    assert long.psnr > short.psnr + 5.0
    assert long.psnr == pytest.approx(
        float(10 * torch.log10(4 / (long.image - long.target).square().mean()))
    )


def test_result_shapes_in_w(
    generator: Generator, short_and_long: tuple[InversionResult, InversionResult]
) -> None:
    result = short_and_long[0]
    assert result.latent.shape == (1, 16)
    assert result.image.shape == result.target.shape == (1, 3, 16, 16)
    assert [tuple(noise.shape) for noise in result.noises] == generator.noise_shapes()
    assert len(result.losses) == 20
    assert not result.latent.requires_grad


def test_result_image_is_the_generators_rendering_of_the_result(
    generator: Generator, short_and_long: tuple[InversionResult, InversionResult]
) -> None:
    result = short_and_long[1]
    with torch.no_grad():
        rendered = generator.synthesis(result.latent, noise=result.noises or "const").clamp(-1, 1)
    assert torch.allclose(rendered, result.image, atol=1e-5)


def test_noise_maps_stay_normalised(
    short_and_long: tuple[InversionResult, InversionResult],
) -> None:
    for noise in short_and_long[1].noises:
        assert noise.mean().item() == pytest.approx(0.0, abs=1e-5)
        assert noise.square().mean().item() == pytest.approx(1.0, abs=1e-4)


def test_w_plus_gives_one_w_per_layer(generator: Generator, target: torch.Tensor) -> None:
    result = project(generator, target, num_steps=5, w_plus=True, **FAST)
    assert result.latent.shape == (1, generator.num_ws, 16)
    assert not torch.allclose(result.latent[0, 0], result.latent[0, -1])


def test_encoder_initialisation_starts_near_the_answer(
    generator: Generator, target: torch.Tensor, true_latent: torch.Tensor
) -> None:
    guess = true_latent + 0.05 * torch.randn(1, 16, generator=torch.Generator().manual_seed(3))
    guess_copy = guess.clone()
    from_guess = project(generator, target, num_steps=5, initial_latent=guess, **FAST)
    from_mean = project(generator, target, num_steps=5, **FAST)
    assert from_guess.psnr > from_mean.psnr + 5.0
    assert torch.equal(guess, guess_copy)


def test_w_initial_latent_is_broadcast_for_w_plus(
    generator: Generator, true_latent: torch.Tensor, target: torch.Tensor
) -> None:
    result = project(
        generator, target, num_steps=1, w_plus=True, initial_latent=true_latent, lr=0.0, **FAST
    )
    assert torch.allclose(result.latent, true_latent[:, None].expand(1, generator.num_ws, 16))


def test_same_seed_gives_the_same_result(generator: Generator, target: torch.Tensor) -> None:
    first = project(generator, target, num_steps=3, seed=7, **FAST)
    second = project(generator, target, num_steps=3, seed=7, **FAST)
    assert torch.equal(first.latent, second.latent)
    assert first.losses == second.losses


def test_a_callers_no_grad_block_changes_nothing(
    generator: Generator, target: torch.Tensor
) -> None:
    """Under torch.no_grad() the first backward pass failed with torch's "element 0 of tensors
    does not require grad"; torch.inference_mode() is refused in one sentence."""
    expected = project(generator, target, num_steps=2, **FAST)
    with torch.no_grad():
        inside = project(generator, target, num_steps=2, **FAST)
    assert torch.equal(inside.latent, expected.latent) and inside.losses == expected.losses
    with (
        torch.inference_mode(),
        pytest.raises(GANliftError, match=r"^The inversion optimises with gradients, which "),
    ):
        project(generator, target, num_steps=2, **FAST)


def test_the_first_step_has_no_learning_rate(
    generator: Generator, target: torch.Tensor, true_latent: torch.Tensor
) -> None:
    """The learning rate ramps up from 0, so a run stopped after its first step is still at its
    start."""
    start = torch.lerp(true_latent, generator.mean_latent(64), 0.5)  # [1, 16], off the target
    steps: list[tuple[int, int, str]] = []
    result = project(
        generator, target, num_steps=20, initial_latent=start, should_stop=lambda: bool(steps),
        progress=lambda *call: steps.append(call), **FAST,
    )  # fmt: skip
    assert len(result.losses) == 1 and torch.equal(result.latent, start)


def test_latent_noise_fades_quadratically_from_a_share_of_ws_spread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The latent is drawn with Gaussian noise of w_std·initial_noise_factor·(1 − t/noise_ramp)²
    at progress t, w_std the root of the total variance of the w of the seed's first
    `w_avg_samples` z (a wide w, so that the noise of one step shows its scale)."""
    G = tiny_generator(8, style_dim=256, n_mlp=1).eval()
    with torch.no_grad():
        G.style[1].bias.fill_(10 / G.style[1].lr_mul)  # w far from 0: the spread is about w's mean
        w = G.mapping(torch.randn(1000, 256, generator=torch.Generator().manual_seed(0)))
    w_std = float((w - w.mean(0)).square().sum(1).mean().sqrt())
    seen: list[torch.Tensor] = []
    synthesis = Generator.synthesis

    def recorded(self: Generator, ws: torch.Tensor, noise: object = "const") -> torch.Tensor:
        seen.append(ws.detach())
        return synthesis(self, ws, noise)

    monkeypatch.setattr(Generator, "synthesis", recorded)
    project(
        G, torch.zeros(1, 3, 8, 8), num_steps=4, w_plus=True, initial_latent=torch.zeros(1, 256),
        lr=0.0, noise_ramp=0.75, initial_noise_factor=0.05, optimize_noise=False,
        w_avg_samples=1000, seed=0,
    )  # fmt: skip
    spread = [float(ws.std(correction=0)) for ws in seen[:3]]  # the latent stays at 0
    fade = [(1 - t / 0.75) ** 2 for t in (0.0, 0.25, 0.5)]
    assert spread == pytest.approx([w_std * 0.05 * f for f in fade], rel=0.1)


def test_any_size_and_aspect_is_fitted_to_the_frame(generator: Generator) -> None:
    wide = torch.rand(1, 3, 30, 50) * 2 - 1
    result = project(generator, wide, num_steps=2, pixel_loss="l1", **FAST)
    assert result.target.shape == (1, 3, 16, 16)


def test_progress_is_reported_every_step(generator: Generator, target: torch.Tensor) -> None:
    calls: list[tuple[int, int, str]] = []
    project(generator, target, num_steps=4, progress=lambda *call: calls.append(call), **FAST)
    assert [(done, total) for done, total, _ in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(message.startswith("loss ") for _, _, message in calls)


def test_should_stop_ends_the_optimisation_early(
    generator: Generator, target: torch.Tensor
) -> None:
    steps_done: list[int] = []
    result = project(
        generator,
        target,
        num_steps=50,
        progress=lambda done, total, message: steps_done.append(done),
        should_stop=lambda: len(steps_done) >= 3,
        **FAST,
    )
    assert len(result.losses) == 3 and steps_done == [1, 2, 3]
    assert result.image.shape == (1, 3, 16, 16)


def test_perceptual_loss_alone_drives_the_latent(
    generator: Generator, target: torch.Tensor
) -> None:
    discriminator = tiny_discriminator(16, seed=1)
    perceptual = DiscriminatorFeatureLoss(discriminator, num_blocks=3)
    result = project(
        generator, target, num_steps=10, pixel_weight=0.0, perceptual=perceptual, **FAST
    )
    assert result.losses[-1] < result.losses[0]


def test_the_loss_is_the_weighted_sum_of_its_terms(
    generator: Generator, target: torch.Tensor, true_latent: torch.Tensor
) -> None:
    """The first step's loss, from a given latent with no latent noise: pixel_weight x MSE or
    L1 + perceptual_weight x the perceptual distance + noise_regularize x autocorrelation."""
    start = torch.lerp(true_latent, generator.mean_latent(64), 0.5)  # [1, 16], off the target
    perceptual = DiscriminatorFeatureLoss(tiny_discriminator(16, seed=1), num_blocks=2)

    def first_loss(**options: object) -> float:
        return project(
            generator, target, num_steps=1, initial_latent=start, initial_noise_factor=0.0,
            w_avg_samples=16, **options,
        ).losses[0]  # fmt: skip

    with torch.no_grad():
        image = generator.synthesis(start)
        distance = float(perceptual(image, target).sum())
    plain = {"optimize_noise": False}
    mse, l1 = float((image - target).square().mean()), float((image - target).abs().mean())
    assert first_loss(**plain, pixel_weight=3.0) == pytest.approx(3 * mse, rel=1e-4)
    assert first_loss(**plain, pixel_loss="l1") == pytest.approx(l1, rel=1e-4)
    with_features = first_loss(**plain, pixel_weight=0.0, perceptual=perceptual,
                               perceptual_weight=2.0)  # fmt: skip
    assert with_features == pytest.approx(2 * distance, rel=1e-4)
    regularised = [first_loss(noise_regularize=weight) for weight in (0.0, 1e3, 2e3)]
    assert regularised[1] > regularised[0]  # the noise maps' autocorrelation, linear in its weight
    assert regularised[2] - regularised[1] == pytest.approx(
        regularised[1] - regularised[0], rel=1e-3
    )


def test_discriminator_features_see_a_generator_larger_than_the_perceptual_cap(
    generator: Generator, target: torch.Tensor
) -> None:
    """LPIPS works on images shrunk to `perceptual_resolution`, but the discriminator takes
    only its own size: a 512-px GAN (here 16 px against a cap of 8) must still invert."""
    perceptual = DiscriminatorFeatureLoss(tiny_discriminator(16, seed=1), num_blocks=2)
    result = project(
        generator, target, num_steps=3, perceptual=perceptual, perceptual_resolution=8, **FAST
    )
    assert len(result.losses) == 3


def test_images_above_the_perceptual_cap_are_area_averaged_down_to_it() -> None:
    """Shrinking to the cap averages every pixel: a checkerboard becomes flat grey (sampling
    would keep its contrast) and a 4× shrink weighs all 16 pixels of a block (bilinear reads
    the middle 4); images within the cap pass unchanged."""
    checker = (torch.arange(16)[:, None] + torch.arange(16)) % 2 * 2.0 - 1.0
    image = checker.expand(1, 3, 16, 16)
    assert torch.equal(_perceptual_input(image, 8), torch.zeros(1, 3, 8, 8))
    wide = torch.rand(1, 3, 16, 32)  # shrunk 4 times: every pixel of each 4×4 block counts
    torch.testing.assert_close(_perceptual_input(wide, 8), F.avg_pool2d(wide, 4))
    assert _perceptual_input(image, 16) is image


def test_callers_generator_is_not_changed(generator: Generator, target: torch.Tensor) -> None:
    before = {key: value.clone() for key, value in generator.state_dict().items()}
    project(generator, target, num_steps=2, **FAST)
    assert all(parameter.grad is None for parameter in generator.parameters())
    assert all(torch.equal(before[key], value) for key, value in generator.state_dict().items())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_steps": 0}, "at least 1"),
        ({"num_steps": 2.0}, r"^The number of inversion steps must be a whole number, got 2\.0"),
        ({"num_steps": "2"}, r"^The number of inversion steps must be a whole number, got '2'"),
        ({"lr": math.nan}, r"^The inversion's lr must be a finite number of 0 or more, got nan\.$"),
        ({"lr": -1}, r"^The inversion's lr must be a finite number of 0 or more, got -1\.$"),
        ({"seed": 1.5}, r"^The inversion's seed must be a whole number from 0 to "),
        ({"perceptual": "auto"}, r"perceptual is a loss module or None, got 'auto'; for GAN2"),
        ({"initial_latent": torch.zeros(1, 7)}, r"initial latent has shape \[1, 7\]"),
        ({"initial_latent": torch.zeros(1, 6, 16)}, "is W\\+ but the inversion is in W"),
        ({"pixel_loss": "l3"}, "Unknown pixel loss 'l3'"),
    ],
)
def test_bad_arguments_raise_clear_errors(
    generator: Generator, target: torch.Tensor, options: dict, message: str
) -> None:
    with pytest.raises(GANliftError, match=message):
        project(generator, target, **({"num_steps": 1, **FAST} | options))


def test_bad_target_shape_is_refused(generator: Generator) -> None:
    with pytest.raises(GANliftError, match=r"one RGB image \[1, 3, H, W\]"):
        project(generator, torch.zeros(3, 16, 16), num_steps=1, **FAST)


def test_noise_autocorrelation_analytic_cases() -> None:
    ones = torch.ones(1, 1, 16, 16)
    checker = ((torch.arange(16)[:, None] + torch.arange(16)) % 2 * 2.0 - 1.0).view(1, 1, 16, 16)
    # constant: correlation 1 along x and y at the 16 and 8 levels; checkerboard: -1 at 16,
    # then its 2x2 average is 0 at 8.
    assert noise_autocorrelation([ones]).item() == pytest.approx(4.0)
    assert noise_autocorrelation([checker]).item() == pytest.approx(2.0)
    assert noise_autocorrelation([ones, checker]).item() == pytest.approx(6.0)
    stripes = torch.tensor([1.0, 1.0, -1.0, -1.0]).repeat(4).view(1, 1, 16, 1).expand(1, 1, 16, 16)
    # Along x 1 at both levels; along y 0 at 16 (pairs of rows), then -1 at 8.
    assert noise_autocorrelation([stripes]).item() == pytest.approx(3.0)
    assert noise_autocorrelation([stripes.transpose(2, 3)]).item() == pytest.approx(3.0)
    white = torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    assert noise_autocorrelation([white]).item() < 0.01


def test_learning_rate_ramps_up_linearly_and_down_along_a_cosine() -> None:
    """The StyleGAN2 projector's schedule: from 0 to 1 over the first `rampup` of the run,
    1 in the middle, back to 0 along half a cosine over the last `rampdown`."""
    expected = {0.0: 0.0, 0.025: 0.5, 0.05: 1.0, 0.5: 1.0, 0.875: 0.5, 1.0: 0.0}
    for t, factor in expected.items():
        assert _learning_rate_ramp(t, rampup=0.05, rampdown=0.25) == pytest.approx(factor), t
    assert _learning_rate_ramp(0.95, rampup=0.05, rampdown=0.25) == pytest.approx(
        0.5 - 0.5 * math.cos(0.2 * math.pi)
    )


def test_the_target_is_encoded_once_for_every_step(
    generator: Generator, target: torch.Tensor
) -> None:
    """Its features do not change from step to step: one encoding of the target, one of each
    step's image, and the same result as a distance that encodes both every time."""
    perceptual = DiscriminatorFeatureLoss(tiny_discriminator(16, seed=1), num_blocks=2)
    options = {"num_steps": 4, "pixel_weight": 0.0, "optimize_noise": False, **FAST}
    every_time = project(generator, target, perceptual=lambda a, b: perceptual(a, b), **options)
    encoded = count_encodings(perceptual)
    once = project(generator, target, perceptual=perceptual, **options)
    assert len(encoded) == 1 + 4
    assert sum(torch.equal(images, target) for images in encoded) == 1
    assert torch.equal(once.latent, every_time.latent) and once.losses == every_time.losses
