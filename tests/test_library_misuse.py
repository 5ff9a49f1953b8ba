"""The training, data and evaluation functions as a notebook calls them: numpy scalars and
device names work, the caller's networks are left as they were, and misuse is one sentence."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from engine.errors import GANliftError, StoppedEarly
from engine.evaluation.balance import CoverageReader, coverage_weights
from engine.evaluation.evaluate import EvaluationConfig, evaluate_gan
from engine.evaluation.regressor import LabelRegressor, fit_label_regressor
from engine.evaluation.report import write_evaluation
from engine.gan2shape import PretrainConfig, prepare_input, pretrain, sample_input
from engine.inversion import save_latent
from engine.mesh import depth_to_mesh
from engine.stylegan2 import save_checkpoint, save_pt_checkpoint
from engine.stylegan2.training import train_gan
from engine.styleganr import (
    HandLabels,
    InverseGraphicsTrainConfig,
    LabellerConfig,
    MappingTrainConfig,
    gan_view_pairs,
    sample,
    sample_view_codes,
    set_camera,
    train_inverse_graphics,
    train_mapping,
    train_view_labeller,
)
from engine.synth import read_info, write_dataset
from tests.tiny import (
    tiny_gan,
    tiny_gan2shape_preset,
    tiny_generator,
    tiny_styleganr,
    tiny_train_config,
    write_random_images,
)


def test_set_camera_takes_numpy_angles() -> None:
    model = tiny_styleganr()
    before = sample(model, 1, seed=0)
    after = set_camera(model, before, azimuth=np.float64(30.0), elevation=np.float32(10.0))
    expected = set_camera(model, before, azimuth=30.0, elevation=10.0)
    assert torch.equal(after.image, expected.image)


def test_mapping_training_leaves_the_callers_networks_as_they_were(tmp_path) -> None:
    model = tiny_styleganr()
    generator, inverse = model.generator.train().requires_grad_(True), model.inverse_graphics
    inverse.train().requires_grad_(True)
    config = MappingTrainConfig(hidden=32, warmup_steps=1, steps=1, batch_size=1)
    trained = train_mapping(generator, inverse, model.views, config, state_path=tmp_path / "m.pt")
    for module in (generator, inverse):
        assert module.training and all(p.requires_grad for p in module.parameters())
    assert trained.generator is not generator and not trained.generator.training


def test_a_half_precision_generator_is_refused_in_one_sentence() -> None:
    generator = tiny_generator(16, style_dim=16, n_mlp=2).half()
    with pytest.raises(GANliftError, match="sample_view_codes takes a float32 generator, got "):
        sample_view_codes(generator, 2, num_view_layers=1)


def test_pretraining_refuses_what_reconstruct_would_refuse_before_training(tmp_path) -> None:
    """A preset of another size, no discriminator, a folder as out and a half generator."""
    G, D = tiny_gan(32)
    config = PretrainConfig(images=2, steps=1)
    preset = tiny_gan2shape_preset(32)
    cases = [
        (G, D, "default-face", tmp_path / "w", "is for 64-px generators"),  # a name too
        (G, None, preset, tmp_path / "w", "needs the GAN's discriminator"),
        (G, D, preset, tmp_path, "is a folder; give the weights file's name"),
        (copy.deepcopy(G).half(), D, preset, tmp_path / "w", "Pretraining takes a float32 gen"),
    ]
    for generator, discriminator, chosen, out, message in cases:
        with pytest.raises(GANliftError, match=message):
            pretrain(generator, discriminator, preset=chosen, out=out, config=config)
    assert list(tmp_path.iterdir()) == []


def test_every_training_runs_under_a_callers_no_grad(tmp_path) -> None:
    """Under torch.no_grad() each failed at its first backward pass with torch's "element 0 of
    tensors does not require grad"; torch.inference_mode() is refused naming the function."""
    G, D = tiny_gan(32)
    model = tiny_styleganr()
    pairs = gan_view_pairs(model.generator, model.views, lambda images: images[:, :1] > 0)
    inverse = InverseGraphicsTrainConfig(
        network=model.inverse_graphics.config, steps=1, batch_size=2, checkpoint_every=1
    )
    labeller = LabellerConfig(image_size=16, width=4, steps=1, batch_size=2, augment=False)
    mapping = MappingTrainConfig(hidden=32, warmup_steps=1, steps=1, batch_size=1)
    images = write_random_images(tmp_path / "images")
    gan = tiny_train_config(batch=4, kimg=0.004, snapshot_kimg=0.004, sample_count=4)
    calls = {
        "Pretraining": lambda out: pretrain(
            G,
            D,
            preset=tiny_gan2shape_preset(32),
            out=out,
            config=PretrainConfig(images=2, steps=1),
        ),
        "train_mapping": lambda out: train_mapping(
            model.generator, model.inverse_graphics, model.views, mapping, state_path=out
        ),
        "train_inverse_graphics": lambda out: train_inverse_graphics(
            pairs, inverse, state_path=out
        ),
        "train_view_labeller": lambda out: train_view_labeller(
            labeller, state_path=out, image_size=16
        ),
        "fit_label_regressor": lambda out: fit_label_regressor(
            torch.zeros(2, 3, 16, 16), torch.zeros(2, 1), steps=1, batch_size=2
        ),
        "GAN training": lambda out: train_gan(images, out, config=gan),
    }
    for what, call in calls.items():
        with torch.no_grad():
            call(tmp_path / f"{what}.pt")
        with (
            torch.inference_mode(),
            pytest.raises(GANliftError, match=f"^{what} optimises with gradients, which torch"),
        ):
            call(tmp_path / f"{what}-refused.pt")


def test_synthetic_sets_take_numpy_counts_and_refuse_fractions_and_absent_devices(
    tmp_path,
) -> None:
    info = write_dataset(tmp_path / "a", "face", n=np.int64(2), size=16, seed=np.int64(5))
    assert info == read_info(tmp_path / "a") and info.first_seed == 5
    with pytest.raises(GANliftError, match=r"write_dataset's n must be a whole number, got 2\.5"):
        write_dataset(tmp_path / "b", "face", n=2.5, size=16)
    if not torch.cuda.is_available():
        with pytest.raises(GANliftError, match="CUDA is not available"):
            write_dataset(tmp_path / "c", "face", n=1, size=16, device="cuda")
        assert not (tmp_path / "c").exists()


def test_training_takes_a_device_name(tmp_path) -> None:
    images = write_random_images(tmp_path / "images")
    config = tiny_train_config(batch=4, kimg=0.008, snapshot_kimg=0.008, sample_count=4)
    assert train_gan(images, tmp_path / "run", config=config, device="cpu").step == 2


def test_coverage_weights_take_one_label_name_and_refuse_other_arguments(tmp_path) -> None:
    images = write_random_images(tmp_path / "images")
    generator = tiny_generator(16, style_dim=16, n_mlp=2)
    reader = CoverageReader("car", LabelRegressor(5), torch.zeros(2, 5), torch.zeros(2, 5), 2)
    result = coverage_weights(reader, generator, images, samples=8, bins=2, labels="light_x")
    assert [label.name for label in result.bins] == ["light_x"]
    with pytest.raises(GANliftError, match="takes the generator itself, got str"):
        coverage_weights(reader, "model.safetensors", images, samples=8, bins=2)  # type: ignore[arg-type]
    with pytest.raises(GANliftError, match=r"whole number of bins from 2 \(--bins\), got 2\.5"):
        coverage_weights(reader, generator, images, samples=8, bins=2.5)  # type: ignore[arg-type]


def test_a_stopped_evaluation_writes_no_card(tmp_path) -> None:
    checkpoint = save_checkpoint(tmp_path / "model", tiny_generator(16, style_dim=16, n_mlp=2))
    config = EvaluationConfig(
        "face", n_samples=2, n_invert=1, inversion_steps=1, n_train_renders=2, regressor_steps=1
    )
    with pytest.raises(StoppedEarly, match="stopped during the inversions; nothing was written"):
        evaluate_gan(checkpoint, config, should_stop=lambda: True)


def test_an_evaluation_is_not_written_onto_a_file(tmp_path) -> None:
    (tmp_path / "taken").write_text("")
    with pytest.raises(GANliftError, match="is a file; choose a folder"):
        write_evaluation(None, tmp_path / "taken")  # type: ignore[arg-type]


def test_training_settings_of_the_wrong_kind_are_refused_in_one_sentence() -> None:
    """Fractions for counts, a word for a flag and betas outside [0, 1) failed deep in torch,
    or (xflip="no") trained with mirroring on; numpy counts are counts."""
    assert tiny_train_config(batch=np.int64(4), seed=np.int32(3)).batch == 4
    cases = {
        "seed": 1.5, "style_dim": 16.5, "d_reg_every": 1.5, "size": 16.0, "sample_count": "4",
    }  # fmt: skip
    for name, value in cases.items():
        with pytest.raises(GANliftError, match=f"Training setting {name} must be a whole number"):
            tiny_train_config(**{name: value})
    with pytest.raises(GANliftError, match="xflip must be True or False, got 'no'"):
        tiny_train_config(xflip="no")
    for betas in ((1.5, 2.0), (float("nan"), 0.9)):
        with pytest.raises(GANliftError, match=r"adam_betas must be two numbers in \[0, 1\)"):
            tiny_train_config(adam_betas=betas)


def test_pretraining_and_evaluation_settings_must_be_whole_numbers() -> None:
    """A fraction for a count was accepted, then failed deep in torch or trained oddly."""
    assert PretrainConfig(images=np.int64(2)).images == 2
    for name in ("steps", "images", "seed"):
        with pytest.raises(GANliftError, match=f"The pretraining setting {name} must be a whole"):
            PretrainConfig(**{name: 2.5})
    with pytest.raises(GANliftError, match="The evaluation setting n_samples must be a whole"):
        EvaluationConfig("face", n_samples=4.5)
    with pytest.raises(GANliftError, match="grid_truncation must be a finite number of 0 or more"):
        EvaluationConfig("face", grid_truncation=float("nan"))


def test_samplers_refuse_truncations_and_seeds_they_cannot_draw() -> None:
    """G(z, truncation=nan) drew all-NaN images and -1 mirrored w; StyleGAN-R's sample took
    seed 2**32 and drew seed 0's cars (torch's CPU generator keeps 32 bits)."""
    generator = tiny_generator(16, style_dim=16, n_mlp=2)
    z = torch.randn(1, 16)
    for truncation in (float("nan"), -1.0, float("inf"), "0.7"):
        with pytest.raises(GANliftError, match="truncation must be a finite number of 0 or more"):
            generator(z, truncation=truncation)
    centre = torch.zeros(1, 16)
    assert torch.equal(
        generator(z, truncation=np.float32(0.5), truncation_latent=centre),
        generator(z, truncation=0.5, truncation_latent=centre),
    )
    model = tiny_styleganr()
    for seed in (2**32, -1, 2**64, 2.0):
        with pytest.raises(GANliftError, match=r"seed must be a whole number from 0 to 4294967295"):
            sample(model, 1, seed=seed)
    assert torch.equal(sample(model, 1, seed=np.int64(3)).image, sample(model, 1, seed=3).image)


def test_view_codes_refuse_a_nan_truncation_and_hand_labels_a_half_bin() -> None:
    generator = tiny_generator(16, style_dim=16, n_mlp=2)
    with pytest.raises(GANliftError, match="truncation must be a finite number of 0 or more"):
        sample_view_codes(generator, 2, num_view_layers=1, truncation=float("nan"))
    with pytest.raises(GANliftError, match="azimuth bins, both whole numbers"):
        HandLabels(num_bins=4, bins={0: 0.5})
    assert HandLabels(num_bins=4, bins={np.int64(1): np.int64(2)}).bins == {1: 2}


def test_masks_are_taken_in_each_layout_the_engine_gives_them() -> None:
    """Recovery.mask is [1, 1, H, W], synthetic masks [N, H, W], depth_to_mesh took [H, W]
    alone (so depth_to_mesh(rec.depth, rec.albedo, rec.mask) failed) and prepare_input refused
    [1, H, W] with torch's interpolation error."""
    image, depth = torch.rand(1, 3, 12, 12) * 2 - 1, torch.full((1, 12, 12), 1.0)
    mask = torch.zeros(12, 12)
    mask[2:10, 3:9] = 1
    layouts = (mask, mask[None], mask[None, None])
    meshes = [depth_to_mesh(depth, image, layout) for layout in layouts]
    assert len({len(mesh.vertices) for mesh in meshes}) == 1 and len(meshes[0].vertices) == 48
    for layout in layouts:
        prepared = prepare_input(image, size=12, find_face=False, needs_mask=True, mask=layout)
        torch.testing.assert_close(prepared.mask, mask[None, None])
    for wrong, message in [
        (
            torch.zeros(2, 12, 12),
            r"takes one mask as a tensor \[H, W\], .* got shape \[2, 12, 12\]",
        ),
        (np.zeros((12, 12)), "takes one mask as a tensor .* got ndarray"),
        (torch.zeros(1, 1, 12, 10), "mask is 10x12 px but the image is 12x12 px"),
    ]:
        with pytest.raises(GANliftError, match=message):
            depth_to_mesh(depth, image, wrong)
        with pytest.raises(GANliftError, match=message):
            prepare_input(image, size=12, find_face=False, needs_mask=True, mask=wrong)


def test_writers_that_take_the_path_first_say_so(tmp_path) -> None:
    """save_image(image, path) takes the object first; these met the other order with a bare
    TypeError."""
    G, _ = tiny_gan(16)
    latent = torch.zeros(1, G.style_dim)
    for call, name in [
        (lambda: save_latent(latent, tmp_path / "w.pt"), "save_latent"),
        (lambda: save_checkpoint(G, tmp_path / "g"), "save_checkpoint"),
        (lambda: save_pt_checkpoint(G, tmp_path / "g.pt"), "save_pt_checkpoint"),
    ]:
        with pytest.raises(GANliftError, match=rf"^{name} takes the file's path first, got a "):
            call()
    assert list(tmp_path.iterdir()) == []


def test_a_gan_sample_s_seed_is_checked_as_every_other_seed() -> None:
    """`sample_input(G, np.int64(1))` failed with torch's TypeError, and seed 2**32 lifted
    seed 0's sample under another name."""
    G, _ = tiny_gan(16)
    prepared, latent = sample_input(G, np.int64(1))
    assert torch.equal(latent, sample_input(G, 1)[1]) and "seed 1" in prepared.framing
    for seed in (2**32, -1, 1.5):
        with pytest.raises(GANliftError, match=f"seed must be a whole number .* got {seed!r}"):
            sample_input(G, seed)
