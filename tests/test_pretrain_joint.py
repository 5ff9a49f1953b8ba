"""Joint pretraining on a tiny GAN: files and schedule, learning rates by phase, truncated
samples with their own masks, exact resume, refusals, the fast quality mode starting from the
pretrained networks, and the `gan2shape-pretrain` command."""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.cli import main
from engine.errors import GANliftError
from engine.gan2shape import (
    Gan2ShapeModel,
    Gan2ShapeNetworks,
    NetworkConfig,
    PretrainConfig,
    StepLengths,
    fast_preset,
    get_preset,
    load_pretrained,
    pretrain,
    quality_schedule,
    reconstruct,
    sample_input,
)
from engine.gan2shape.pretrain import (
    OFFSET_LR_SCALE,
    WARMUP_VIEW_LR_SCALE,
    _backward_mean_loss,
    _Samples,
    sample_context,
    sample_latents,
)
from engine.images import save_image
from engine.perceptual import DiscriminatorFeatureLoss
from engine.stylegan2 import (
    Discriminator,
    Generator,
    generator_fingerprint,
    load_checkpoint,
    save_checkpoint,
)
from engine.stylegan2.checkpoint import MODELS_DIR
from engine.stylegan2.safe_pickle import load_torch_file
from engine.versions import software_versions
from tests.polls import stop_after
from tests.tiny import tiny_gan, tiny_gan2shape_preset, tiny_generator

SIZE = 32
PRESET = tiny_gan2shape_preset(
    SIZE,
    steps=StepLengths(4, 4, 4),
    num_stages=2,
    flip_step1=(False, False),
    flip_step3=(True, False),
    prior_steps=2,
    collect_batches=4,
)
CONFIG = PretrainConfig(
    images=3, steps=3, save_every=2, warmup_steps=2, warmup_batch=2, offset_warmup_steps=2
)
TOTAL = 2 + 2 + 2 + 3


@pytest.fixture(scope="module")
def gan() -> tuple[Generator, Discriminator]:
    """A tiny generator and discriminator."""
    return tiny_gan(SIZE)


def train(gan, out: Path, config: PretrainConfig = CONFIG, **kwargs):
    """`pretrain` on the tiny GAN with discriminator features as the perceptual loss."""
    G, D = gan
    return pretrain(
        G, D, preset=PRESET, out=out, config=config,
        perceptual=DiscriminatorFeatureLoss(D), **kwargs,
    )  # fmt: skip


@pytest.fixture
def recorded_rates(monkeypatch: pytest.MonkeyPatch) -> list[list[float]]:
    """The learning rates of the optimiser's groups at every step pretraining takes."""
    rates: list[list[float]] = []

    class RecordingAdam(torch.optim.Adam):
        def step(self, closure=None):
            rates.append([group["lr"] for group in self.param_groups])
            return super().step(closure)

    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    return rates


@pytest.fixture(scope="module")
def trained(gan, tmp_path_factory: pytest.TempPathFactory):
    """An uninterrupted pretraining run and its progress messages."""
    messages: list[tuple[int, str]] = []
    out = tmp_path_factory.mktemp("pretrain") / "tiny-gan2shape.safetensors"
    result = train(gan, out, progress=lambda done, total, text: messages.append((done, text)))
    return result, messages


def test_pretraining_writes_weights_description_and_state(trained) -> None:
    result, messages = trained
    assert result.finished and result.iteration == result.total == TOTAL
    assert [done for done, _ in messages] == list(range(1, TOTAL + 1))
    assert all(text.startswith("prior fit") for _, text in messages[:2])
    assert all(text.startswith("warm-up") for _, text in messages[2:4])
    assert all(text.startswith("encoder warm-up") for _, text in messages[4:6])
    assert all(text.startswith("joint steps 2+3") for _, text in messages[6:])
    info = json.loads(result.path.with_suffix(".json").read_text())
    assert info["iteration"] == info["total"] == TOTAL and info["preset"] == PRESET.name
    assert info["config"]["images"] == CONFIG.images
    assert info["software"] == software_versions()
    assert result.path.with_suffix(".resume.pt").is_file()
    weights = load_pretrained(result.path, PRESET)
    assert weights.keys() == result.weights.keys()
    for key, value in result.weights.items():
        assert torch.equal(weights[key], value), key


def test_pretrained_networks_are_refused_for_another_generator(trained, gan) -> None:
    result, _ = trained
    G, _ = gan
    info = json.loads(result.path.with_suffix(".json").read_text())
    assert info["generator"] == generator_fingerprint(G)
    assert load_pretrained(result.path, PRESET, G).keys() == result.weights.keys()
    other = tiny_gan(SIZE, seed=9)[0]
    with pytest.raises(GANliftError, match="pretrained on another StyleGAN2 than this one") as no:
        load_pretrained(result.path, PRESET, other)
    assert "--quality" not in str(no.value)  # gan2shape-check and the app have no such option
    with pytest.raises(GANliftError, match="pretrained on another StyleGAN2"):
        quality_schedule(PRESET, "fast", result.path, other)


def test_the_shipped_pretrained_networks_belong_to_their_gans() -> None:
    for name in ("default-face", "default-car"):
        G = load_checkpoint(name).generator
        load_pretrained(MODELS_DIR / f"{name}-gan2shape", get_preset(name), G)
    with pytest.raises(GANliftError, match="pretrained on another StyleGAN2"):
        load_pretrained(MODELS_DIR / "default-face-gan2shape", get_preset("default-face"), G)


def test_pretraining_changes_every_network(trained, gan) -> None:
    torch.manual_seed(CONFIG.seed)  # the initial weights pretraining starts from
    untrained = Gan2ShapeNetworks(PRESET.networks, style_dim=gan[0].style_dim)
    weights = trained[0].weights
    for name in ("depth_net", "albedo_net", "view_net", "light_net", "offset_net"):
        moved = [
            not torch.equal(weights[key], value)
            for key, value in untrained.state_dict().items()
            if key.startswith(name) and value.is_floating_point()
        ]
        assert any(moved), name


def test_masked_pretraining_reports_its_grabcut_masks_before_the_steps(gan, tmp_path) -> None:
    """GrabCut over thousands of samples takes a minute, so it has its own progress phase."""
    G, D = gan
    reports: list[tuple[int, int, str]] = []
    pretrain(
        G, D, preset=PRESET.replace(use_mask=True), out=tmp_path / "masked.safetensors",
        config=PretrainConfig(images=3, steps=1), perceptual=DiscriminatorFeatureLoss(D),
        progress=lambda done, total, text: reports.append((done, total, text)),
    )  # fmt: skip
    assert reports[:3] == [(k, 3, "object masks (GrabCut)") for k in (1, 2, 3)]
    assert [(done, total) for done, total, _ in reports[3:]] == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("symmetric", [True, False])
def test_the_warm_up_uses_symmetry_where_the_joint_steps_do(
    gan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, symmetric: bool
) -> None:
    """Cars are not mirror images in the release's sense, so their warm-up must not flip."""
    module = importlib.import_module("engine.gan2shape.pretrain")
    flips: list[bool] = []
    original = module.autoencoder_loss

    def recording_loss(*args, flip: bool, **kwargs):
        flips.append(flip)
        return original(*args, flip=flip, **kwargs)

    monkeypatch.setattr(module, "autoencoder_loss", recording_loss)
    G, D = gan
    pretrain(
        G, D, preset=PRESET.replace(flip_step3=(symmetric, False)),
        out=tmp_path / "warm.safetensors", config=replace(CONFIG, steps=0),
        perceptual=DiscriminatorFeatureLoss(D),
    )  # fmt: skip
    assert flips == [symmetric] * CONFIG.warmup_steps


def test_the_encoder_warm_up_trains_the_offset_encoder_alone_at_its_own_rate(
    gan, tmp_path: Path, recorded_rates: list[list[float]]
) -> None:
    """Step 2's loss reaches only the encoder; at the preset's rate it learnt nothing in a
    CPU schedule, so from its warm-up on it trains OFFSET_LR_SCALE times faster."""
    prior_only = replace(CONFIG, warmup_steps=0, offset_warmup_steps=0, steps=0)
    before = train(gan, tmp_path / "prior.safetensors", config=prior_only).weights
    after = train(
        gan, tmp_path / "encoder.safetensors", config=replace(prior_only, offset_warmup_steps=2)
    ).weights
    changed = {key.split(".")[0] for key in before if not torch.equal(before[key], after[key])}
    assert changed == {"offset_net"}
    lr, scale = PRESET.lr, OFFSET_LR_SCALE
    assert (
        recorded_rates[PRESET.prior_steps :]
        == [[lr, lr, lr]] * PRESET.prior_steps + [[lr, scale * lr, lr]] * 2
    )
    for offset_warmup_steps, joint_rate in ((1, scale * lr), (0, lr)):  # without: as before
        recorded_rates.clear()
        config = replace(prior_only, offset_warmup_steps=offset_warmup_steps, steps=1)
        train(gan, tmp_path / f"joint-{offset_warmup_steps}.safetensors", config=config)
        assert recorded_rates[-1] == [lr, joint_rate, lr]


def test_the_warm_up_trains_the_view_and_light_nets_at_their_own_rate(
    gan, tmp_path: Path, recorded_rates: list[list[float]]
) -> None:
    """As unsup3d, the view and light nets learn WARMUP_VIEW_LR_SCALE times faster in the
    warm-up alone."""
    config = replace(CONFIG, offset_warmup_steps=1, steps=0)
    train(gan, tmp_path / "warm.safetensors", config=config)
    lr = PRESET.lr
    warm, offset = WARMUP_VIEW_LR_SCALE * lr, OFFSET_LR_SCALE * lr
    assert recorded_rates == (
        [[lr, lr, lr]] * PRESET.prior_steps
        + [[warm, lr, lr]] * config.warmup_steps
        + [[lr, offset, lr]] * config.offset_warmup_steps
    )


def test_truncation_pulls_each_sample_towards_the_mean_w() -> None:
    """Truncation t leaves each sample's w at t times its distance from the mean w, on the
    line between them (1: where the mapping puts it)."""
    G = tiny_generator(SIZE).requires_grad_(False)
    centre = G.mean_latent(64) + 0.5  # [1, 32] a mean w far from the samples
    G.latent_avg = centre
    z = torch.randn(4, G.style_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        w = G.mapping(z)  # [4, 32]
    for truncation in (0.0, 0.7, 1.0):
        pulled = sample_latents(G, 4, seed=3, truncation=truncation)
        ratios = (pulled - centre).norm(dim=1) / (w - centre).norm(dim=1)
        assert ratios.tolist() == pytest.approx([truncation] * 4, abs=1e-5)
        torch.testing.assert_close(pulled, centre + truncation * (w - centre))


def test_each_sample_keeps_its_own_latent_image_and_mask() -> None:
    """A sample's row carries its own latent, image and object mask."""
    ids = torch.arange(3.0)
    samples = _Samples(
        ids.view(3, 1),
        ids.view(3, 1, 1, 1).expand(3, 3, 4, 4),
        ids.view(3, 1, 1, 1).expand(3, 1, 4, 4),
    )
    for index in range(3):
        latent, image, mask = samples.row(index)
        assert (latent.shape, image.shape, mask.shape) == ((1, 1), (1, 3, 4, 4), (1, 1, 4, 4))
        assert all(bool((part == index).all()) for part in (latent, image, mask))


def test_global_batches_must_split_over_the_processes() -> None:
    PretrainConfig(batch=4, warmup_batch=3).check_split(2)  # no warm-up, so its batch is unused
    with pytest.raises(GANliftError, match="--batch 3 does not split into 2 processes"):
        PretrainConfig(batch=3).check_split(2)
    with pytest.raises(GANliftError, match="--warmup-batch 3 does not split into 2 processes"):
        PretrainConfig(batch=4, warmup_steps=1, warmup_batch=3).check_split(2)


def test_a_stopped_pretraining_resumes_exactly(gan, trained, tmp_path: Path) -> None:
    out = tmp_path / "weights.safetensors"
    stopped = train(gan, out, should_stop=stop_after(3))
    assert not stopped.finished and stopped.iteration == 3
    reports: list[int] = []
    resumed = train(gan, out, resume=True, progress=lambda done, total, text: reports.append(done))
    assert resumed.finished and reports == list(range(4, TOTAL + 1))  # from inside the warm-up
    for key, value in trained[0].weights.items():
        assert torch.allclose(resumed.weights[key], value, atol=1e-5), key


def test_a_run_killed_while_saving_resumes(gan, tmp_path: Path, monkeypatch) -> None:
    """The weights and .json were written before the state: killed in between, the run was
    refused both without --resume (weights exist) and with it (no state)."""
    pretrain_module = importlib.import_module("engine.gan2shape.pretrained_files")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pretrain_module.safetensors.torch, "save_file", killed)
    out = tmp_path / "weights.safetensors"
    with pytest.raises(KeyboardInterrupt):  # the first save, after 2 iterations
        train(gan, out, should_stop=stop_after(2))
    monkeypatch.undo()
    assert not out.exists() and out.with_suffix(".resume.pt").is_file()
    with pytest.raises(GANliftError, match=r"\(or its run's weights\.resume\.pt\); pass --res"):
        train(gan, out)  # a fresh run would overwrite the state
    assert train(gan, out, resume=True).finished


def test_pretraining_refusals(gan, trained, tmp_path: Path) -> None:
    with pytest.raises(GANliftError, match=r"already exists \(or its run's .*pass --resume"):
        train(gan, trained[0].path)
    with pytest.raises(GANliftError, match="no pretraining state"):
        train(gan, tmp_path / "new.safetensors", resume=True)
    with pytest.raises(GANliftError, match=r"trained with --batch 1; resume with the same sett"):
        train(gan, trained[0].path, config=replace(CONFIG, batch=2), resume=True)
    with pytest.raises(GANliftError, match=r"trained with --truncation 0.7; resume with the"):
        train(gan, trained[0].path, config=replace(CONFIG, truncation=1.0), resume=True)
    with pytest.raises(GANliftError, match=r"with --warmup-steps 2; resume with the same"):
        train(gan, trained[0].path, config=replace(CONFIG, warmup_steps=3), resume=True)
    with pytest.raises(GANliftError, match=r"with bfloat16 off \(--fp32\); resume with the"):
        train(gan, trained[0].path, resume=True, bf16=True)  # another precision's numbers
    other = tiny_gan(SIZE, seed=1)
    with pytest.raises(GANliftError, match="trained on another StyleGAN2 than the one given"):
        train(other, trained[0].path, resume=True)  # its JSON would name the other GAN
    with pytest.raises(GANliftError, match=f"already holds {TOTAL} iterations, more than the 7"):
        train(gan, trained[0].path, config=replace(CONFIG, steps=1), resume=True)
    with pytest.raises(GANliftError, match=r"truncation 1.5 is outside \[0, 1\]; pass --trunc"):
        PretrainConfig(truncation=1.5)
    for negative in ("warmup_steps", "offset_warmup_steps"):
        with pytest.raises(GANliftError, match="0 or more steps and warm-up steps"):
            PretrainConfig(**{negative: -1})
    other = PRESET.replace(networks=NetworkConfig(SIZE, 16, 2, bottleneck=16, offset_width=8))
    with pytest.raises(GANliftError, match="other network sizes"):
        load_pretrained(trained[0].path, other)
    copied = tmp_path / "copied.safetensors"
    copied.write_bytes(trained[0].path.read_bytes())
    copied.with_suffix(".json").write_bytes(b"\x89PNG\xff\xfe")  # not text: was a traceback
    with pytest.raises(GANliftError, match="cannot be read; pretrain them again"):
        load_pretrained(copied, PRESET)
    copied.with_suffix(".json").unlink()  # the weights copied alone: no need to retrain
    with pytest.raises(GANliftError, match=r"have no copied\.json beside them; copy it along"):
        load_pretrained(copied, PRESET)


def test_fast_preset_is_one_short_stage() -> None:
    fast = fast_preset(get_preset("default-face"))
    assert fast.num_stages == 1 and fast.first_stage == StepLengths(23, 23, 15)
    assert fast.flip_step3 == (True,) and fast.collect_batches == 3
    assert fast.inversion_steps == 30


def test_fast_mode_refines_the_pretrained_networks(gan, trained, tmp_path: Path) -> None:
    G, D = gan
    model = Gan2ShapeModel(G, D, PRESET, trained[0].path)
    prepared, latent = sample_input(G, 5)
    run = reconstruct(
        model, prepared, out_dir=tmp_path, quality="fast", latent=latent,
        perceptual=DiscriminatorFeatureLoss(D),
    )  # fmt: skip
    state = run.recovery.state
    assert run.recovery.finished and not state.fit_prior
    assert [phase.length for phase in state.phases] == [1, 1, 1]  # ceil(4 / 4) each
    assert json.loads((tmp_path / "run.json").read_text())["quality"] == "fast"


def test_pretrain_command_trains_and_resumes(gan, tmp_path: Path, capsys) -> None:
    G, D = gan
    checkpoint = save_checkpoint(tmp_path / "tiny", G, discriminator=D)
    preset = tmp_path / "preset.json"
    preset.write_text(PRESET.to_json())
    out = tmp_path / "tiny-gan2shape.safetensors"
    arguments = [
        "gan2shape-pretrain", "--ckpt", str(checkpoint), "--preset", str(preset), "--out",
        str(out), "--images", "2", "--steps", "1", "--warmup-steps", "1", "--warmup-batch", "2",
        "--offset-warmup-steps", "1", "--truncation", "1", "--device", "cpu", "--fp32",
    ]  # fmt: skip
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert f"pretrained networks saved to {out}" in printed
    assert "note:" not in printed  # where fast mode looks
    elsewhere = tmp_path / "elsewhere" / "networks.safetensors"
    short = [
        *arguments[: arguments.index("--out") + 1],
        str(elsewhere),
        *arguments[arguments.index("--out") + 2 :],
    ]
    assert main(short) == 0
    assert f"fast looks for them at {out}" in capsys.readouterr().err
    with torch.no_grad():
        image = save_image(G(torch.randn(1, G.style_dim)), tmp_path / "face.png")
    info = json.loads(out.with_suffix(".json").read_text())
    out.with_suffix(".json").write_text(json.dumps(info | {"iteration": 2}))  # stopped early
    fast = ["reconstruct", str(image), "--ckpt", str(checkpoint), "--preset", str(preset),
            "--quality", "fast", "--out", str(tmp_path / "run"), "--frames", "3", "--views",
            "10,5", "--device", "cpu", "--fp32"]  # fmt: skip
    assert main(fast) == 0  # with a note, not silently
    assert f"the pretraining of {out} stopped at iteration 2 of 5" in capsys.readouterr().err
    assert main(arguments) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*arguments, "--resume"]) == 0
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["iteration"] == 5 and info["config"]["truncation"] == 1
    assert info["config"]["warmup_steps"] == info["config"]["offset_warmup_steps"] == 1


def test_the_warm_up_trains_without_the_perceptual_loss(gan, tmp_path) -> None:
    """The photo-geometric warm-up is L1 alone (the perceptual term made each iteration five
    times slower and taught the view net no better): adding warm-up iterations adds no
    perceptual calls, while the joint steps make them."""
    G, D = gan
    features = DiscriminatorFeatureLoss(D)
    calls: list[int] = []

    def perceptual(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        calls.append(len(first))
        return features(first, second)

    counts = []
    for warmup_steps in (0, 3):
        calls.clear()
        config = PretrainConfig(images=3, steps=1, warmup_steps=warmup_steps, warmup_batch=2)
        pretrain(G, D, preset=PRESET, out=tmp_path / f"{warmup_steps}.safetensors",
                 config=config, perceptual=perceptual)  # fmt: skip
        counts.append(len(calls))
    assert counts[0] > 0 and counts[1] == counts[0]


@pytest.mark.parametrize(
    ("change", "message"),
    [  # tracebacks before, or a run resumed at a negative iteration
        ({"iteration": -1}, "holds iteration -1, which is no count"),
        ({"rng": "x"}, "holds a damaged random generator state"),
        ({"config": None}, "is damaged (it holds no settings)"),
        ({"networks": [1]}, "'s networks holds no network weights"),
        ({"optimizer": None}, "holds an optimiser state for other networks"),
    ],
)
def test_a_damaged_pretraining_state_is_refused_on_resume(
    gan, tmp_path: Path, change: dict, message: str
) -> None:
    out = tmp_path / "weights.safetensors"
    train(gan, out, should_stop=stop_after(2))
    state_path = out.with_suffix(".resume.pt")
    state = torch.load(state_path, weights_only=True)
    torch.save(state | change, state_path)
    with pytest.raises(GANliftError, match=re.escape(message)):
        train(gan, out, resume=True)
    torch.save([1], state_path)
    with pytest.raises(GANliftError, match="was written by another version of GANlift"):
        train(gan, out, resume=True)


def test_a_resume_with_another_seed_is_refused(gan, trained) -> None:
    """The seed draws the images pretraining learns from: a resume with another would train on
    other images than those it started on."""
    with pytest.raises(GANliftError, match=r"trained with --seed 0; resume with the same"):
        train(gan, trained[0].path, config=replace(CONFIG, seed=1), resume=True)


def test_the_joint_steps_take_one_fresh_batch_flipped_as_the_first_stage(
    gan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step 3 of each joint iteration collects one batch (not the preset's collect_batches)
    and flips as the first stage does."""
    module = importlib.import_module("engine.gan2shape.pretrain")
    batches: list[int] = []
    flips: list[bool] = []
    collect, shape = module.collect_projected, module.shape_loss

    def recorded_collect(context, snapshot, **options):
        batches.append(context.preset.collect_batches)
        return collect(context, snapshot, **options)

    def recorded_shape(context, cache, *, flip):
        flips.append(flip)
        return shape(context, cache, flip=flip)

    monkeypatch.setattr(module, "collect_projected", recorded_collect)
    monkeypatch.setattr(module, "shape_loss", recorded_shape)
    joint = replace(CONFIG, warmup_steps=0, offset_warmup_steps=0, steps=1)
    train(gan, tmp_path / "joint.safetensors", config=joint)
    assert PRESET.collect_batches > 1 and batches == [1]
    assert flips == [PRESET.flip_step3[0]] and PRESET.flip_step3[0] != PRESET.flip_step3[-1]


def test_the_joint_loss_is_the_projection_loss_plus_the_shape_loss(
    gan, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A joint iteration's loss for a sample is step 2's projection loss plus step 3's shape
    loss, both counted in full."""
    module = importlib.import_module("engine.gan2shape.pretrain")
    parts: list[torch.Tensor] = []
    project, shape = module.projection_loss, module.shape_loss

    def recorded_projection(*args, **options):
        parts.append(project(*args, **options))
        return parts[-1]

    def recorded_shape(*args, **options):
        parts.append(shape(*args, **options))
        return parts[-1]

    monkeypatch.setattr(module, "projection_loss", recorded_projection)
    monkeypatch.setattr(module, "shape_loss", recorded_shape)
    context = _tiny_context(gan, seed=5)
    with torch.no_grad():
        loss = module._joint_loss(context, torch.zeros(1, SIZE, SIZE))
    [projection, shape_part] = parts
    assert float(projection) > 0 and float(shape_part) > 0
    assert float(loss) == pytest.approx(float(projection) + float(shape_part), rel=1e-6)


def _tiny_context(gan, *, seed: int):
    """The step context of one GAN sample of the tiny GAN (a blank image, no mask)."""
    G, D = gan
    networks = Gan2ShapeNetworks(PRESET.networks, style_dim=G.style_dim)
    latent = sample_latents(G, 1, seed=0, truncation=0.7)
    size = PRESET.networks.image_size
    image, mask = torch.zeros(1, 3, size, size), torch.ones(1, 1, size, size)
    preset = PRESET.replace(collect_batches=1)
    return sample_context(
        G, D, networks, preset, DiscriminatorFeatureLoss(D), latent, image, mask, seed=seed
    )


def test_the_warm_up_autoencodes_batches_of_its_own_size(
    gan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each warm-up iteration autoencodes warmup_batch samples, not the joint steps' batch."""
    module = importlib.import_module("engine.gan2shape.pretrain")
    sizes: list[int] = []
    original = module.autoencoder_loss

    def recording_loss(networks, preset, perceptual, images, *args, **kwargs):
        sizes.append(len(images))
        return original(networks, preset, perceptual, images, *args, **kwargs)

    monkeypatch.setattr(module, "autoencoder_loss", recording_loss)
    config = replace(CONFIG, steps=0, offset_warmup_steps=0, batch=1, warmup_batch=3)
    train(gan, tmp_path / "warm.safetensors", config=config)
    assert sizes == [3] * config.warmup_steps


def test_the_optimiser_decays_every_group_by_the_presets_weight_decay(trained) -> None:
    """Adam's three groups (view and light nets, offset encoder, the rest) all carry the
    preset's weight decay and betas, and hold every weight once."""
    state = load_torch_file(trained[0].path.with_suffix(".resume.pt"))
    groups = state["optimizer"]["param_groups"]
    assert PRESET.weight_decay > 0 and len(groups) == 3
    assert [group["weight_decay"] for group in groups] == [PRESET.weight_decay] * 3
    assert all(tuple(group["betas"]) == (0.9, 0.999) for group in groups)
    indices = [index for group in groups for index in group["params"]]
    assert sorted(indices) == list(range(len(indices)))
    assert len(indices) == len([v for v in trained[0].weights.values() if v.is_floating_point()])


def test_a_batchs_loss_and_gradient_are_the_mean_over_its_samples() -> None:
    """`_backward_mean_loss` accumulates the gradient of the samples' mean loss (not their
    sum) and returns that mean, detached."""
    weight = torch.ones((), requires_grad=True)
    contexts = [1.0, 2.0, 6.0]  # stand-ins: each sample's loss is its factor times the weight
    total = _backward_mean_loss(contexts, lambda factor, prior: factor * weight, torch.zeros(1))
    assert float(total) == pytest.approx(3.0) and not total.requires_grad
    assert float(weight.grad) == pytest.approx(3.0)


def test_each_samples_random_stream_starts_from_its_own_seed(gan) -> None:
    """A sample's context draws from a generator seeded with the seed it was given, so two
    samples with different seeds draw different numbers."""
    draws = [torch.rand(3, generator=_tiny_context(gan, seed=s).rng) for s in (5, 6)]
    assert torch.equal(draws[0], torch.rand(3, generator=torch.Generator().manual_seed(5)))
    assert not torch.equal(draws[0], draws[1])


def test_the_networks_start_from_the_runs_seed(gan, tmp_path: Path) -> None:
    """A run stopped before its first iteration holds the networks torch's generator seeded
    with the config's seed builds."""
    config = replace(CONFIG, seed=3)
    stopped = train(gan, tmp_path / "seed-3.safetensors", config=config, should_stop=lambda: True)
    assert stopped.iteration == 0
    torch.manual_seed(3)
    expected = Gan2ShapeNetworks(PRESET.networks, style_dim=gan[0].style_dim).state_dict()
    for key, value in stopped.weights.items():
        assert torch.equal(value, expected[key]), key


def test_the_smallest_settings_are_accepted_and_smaller_ones_refused() -> None:
    """One image, no steps and saving every iteration are allowed; no images or save_every 0
    (a division by zero at the first save) are refused."""
    PretrainConfig(images=1, steps=0, save_every=1)
    for change in ({"images": 0}, {"save_every": 0}):
        with pytest.raises(GANliftError, match="at least 1 image, 0 or more steps"):
            PretrainConfig(**change)


def test_pretraining_saves_every_save_every_iterations_and_at_the_end(
    gan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With save_every 2, a run of 5 iterations saves after iterations 2 and 4 and at its end."""
    module = importlib.import_module("engine.gan2shape.pretrain")
    saved: list[int] = []
    save = module.save_pretraining

    def recorded_save(path, run, iteration):
        saved.append(iteration)
        return save(path, run, iteration)

    monkeypatch.setattr(module, "save_pretraining", recorded_save)
    config = replace(CONFIG, warmup_steps=0, offset_warmup_steps=3, steps=0, save_every=2)
    result = train(gan, tmp_path / "saved.safetensors", config=config)
    assert result.total == 5 and saved == [2, 4, 5]
