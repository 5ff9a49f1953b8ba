"""Checkpoint loading: format detection, model names, the common .pt layouts, and refusals
(code-carrying pickles, truncated files, wrong architectures) as one-sentence GANliftErrors."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import zipfile
from pathlib import Path

import pytest
import safetensors.torch
import torch

from engine.errors import GANliftError
from engine.stylegan2 import (
    Discriminator,
    Generator,
    generator_fingerprint,
    load_checkpoint,
    save_checkpoint,
    save_pt_checkpoint,
)
from engine.stylegan2.checkpoint import MODELS_DIR, check_float32
from engine.stylegan2.config import GeneratorConfig, multiplier_channels, standard_multiplier
from engine.stylegan2.safe_pickle import error_summary, load_torch_file
from tests.tiny import tiny_checkpoint, tiny_gan


class RunsCommand:
    """Pickles as a call to os.system: what a malicious checkpoint would carry."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.fixture(scope="module")
def networks() -> tuple[Generator, Discriminator]:
    G, D = tiny_gan(16, channels={4: 16, 8: 16, 16: 8}, style_dim=16, n_mlp=2)
    return G.eval(), D.eval()


def test_bare_name_resolves_in_the_models_folder(networks, tmp_path: Path) -> None:
    G, D = networks
    save_checkpoint(tmp_path / "mini-face", G, discriminator=D, extra={"step": 3})
    # Other networks, whose JSON names the GAN they were made for by its fingerprint: not offered.
    (tmp_path / "mini-face-gan2shape.safetensors").write_bytes(b"")
    (tmp_path / "mini-face-gan2shape.json").write_text('{"networks": {}, "generator": "ab12"}')
    checkpoint = load_checkpoint("mini-face", models_dir=tmp_path)
    assert checkpoint.format == "GANlift safetensors"
    assert checkpoint.extra == {"step": 3}
    assert checkpoint.latent_avg is None
    with pytest.raises(GANliftError) as error:
        load_checkpoint("default-face", models_dir=tmp_path)
    message = str(error.value)
    assert "No model named 'default-face'" in message
    assert str(tmp_path / "default-face.safetensors") in message
    assert "(available: mini-face)" in message
    with pytest.raises(GANliftError, match="The checkpoint is empty text"):  # not "Checkpoint ."
        load_checkpoint("", models_dir=tmp_path)


def test_missing_file_and_missing_config(networks, tmp_path: Path) -> None:
    with pytest.raises(GANliftError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere" / "model.pt")
    path = save_checkpoint(tmp_path / "lonely", networks[0])
    path.with_suffix(".json").unlink()
    with pytest.raises(GANliftError, match="has no GANlift config beside it"):
        load_checkpoint(path)


def test_gan2shape_networks_are_named_as_such_not_as_a_broken_config(tmp_path: Path) -> None:
    """The models folder holds GAN2Shape networks beside the GANs; `info` or `sample` on one
    must say what it is, not list its config's 'unknown keys'."""
    safetensors.torch.save_file({"depth_net.weight": torch.zeros(1)}, tmp_path / "nets.safetensors")
    (tmp_path / "nets.json").write_text('{"networks": {}, "preset": {}, "iteration": 3}')
    with pytest.raises(GANliftError, match=r"holds GAN2Shape networks .* not a StyleGAN2"):
        load_checkpoint(tmp_path / "nets.safetensors")
    shipped = MODELS_DIR / "default-face-gan2shape.safetensors"  # its "generator" is the GAN's
    with pytest.raises(GANliftError, match=r"holds GAN2Shape networks .* not a StyleGAN2"):
        load_checkpoint(shipped)  # fingerprint, which hid what the file is


def test_training_layout_with_optimizers_and_bare_state_dict(networks, tmp_path: Path) -> None:
    G, D = networks
    raw = copy.deepcopy(G)  # the training generator, not the EMA one a checkpoint loads
    with torch.no_grad():
        for parameter in raw.parameters():
            parameter.add_(1.0)
    optimizer = torch.optim.Adam(G.parameters())
    path = save_pt_checkpoint(
        tmp_path / "train.pt",
        G,
        discriminator=D,
        generator=raw,
        optimizers={"g_optim": optimizer.state_dict(), "d_optim": optimizer.state_dict()},
    )
    checkpoint = load_checkpoint(path)
    for key, value in checkpoint.generator.state_dict().items():
        assert torch.equal(value, G.state_dict()[key]), key
    assert checkpoint.format == "StyleGAN2 PyTorch training checkpoint"
    assert checkpoint.extra == {"size": 16, "latent": 16, "n_mlp": 2}
    assert "discriminator: 0." in checkpoint.describe()

    converted = load_checkpoint(save_pt_checkpoint(tmp_path / "converted.pt", G, discriminator=D))
    assert converted.format == "StyleGAN2 PyTorch checkpoint"  # g_ema and d, as converters write

    torch.save(G.state_dict(), tmp_path / "bare.pt")
    bare = load_checkpoint(tmp_path / "bare.pt")
    assert bare.discriminator is None
    assert bare.generator.config == G.config

    torch.save({"g": raw.state_dict(), "d": D.state_dict()}, tmp_path / "no_ema.pt")
    no_ema = load_checkpoint(tmp_path / "no_ema.pt")  # was "not a StyleGAN2 checkpoint"
    for key, value in no_ema.generator.state_dict().items():
        assert torch.equal(value, raw.state_dict()[key]), key
    assert no_ema.format.endswith("without g_ema (its training generator g)")
    assert no_ema.discriminator is not None


def test_a_discriminator_with_two_stddev_channels_round_trips(networks, tmp_path: Path) -> None:
    """The .pt layout stores no config: the minibatch-stddev channels are read off the final
    convolution's inputs (as in the StyleGAN2 port's channel_multiplier models)."""
    G, D = networks
    wide = Discriminator(dataclasses.replace(D.config, mbstd_channels=2))
    loaded = load_checkpoint(save_pt_checkpoint(tmp_path / "wide.pt", G, discriminator=wide))
    assert loaded.discriminator.config.mbstd_channels == 2
    for key, value in wide.state_dict().items():
        assert torch.equal(loaded.discriminator.state_dict()[key], value), key


def test_a_fingerprint_is_kept_until_a_weight_changes(networks) -> None:
    """The app asks for it on every GAN-view slider move: it is kept, not recomputed, until
    the weights change in place, are loaded over, or belong to a copy."""
    G = copy.deepcopy(networks[0])
    first = generator_fingerprint(G)
    assert generator_fingerprint(G) == first
    with torch.no_grad():
        G.style[1].weight.add_(0.5)
    changed = generator_fingerprint(G)
    assert changed != first
    G.load_state_dict(networks[0].state_dict())
    assert generator_fingerprint(G) == first
    twin = copy.deepcopy(G)
    with torch.no_grad():
        next(twin.parameters()).mul_(2)
    assert generator_fingerprint(twin) != first and generator_fingerprint(G) == first
    for parameter in G.parameters():  # an EMA step as the StyleGAN2 port's `accumulate`
        parameter.data.mul_(0.9)  # leaves each weight's version as it was
    assert generator_fingerprint(G) not in (first, changed)


def test_pickle_carrying_a_command_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    for name, writer in (
        ("evil.pt", lambda path, obj: torch.save(obj, path)),
        (
            "evil_legacy.pt",
            lambda path, obj: torch.save(obj, path, _use_new_zipfile_serialization=False),
        ),
    ):
        path = tmp_path / name
        writer(path, {"g_ema": RunsCommand(f"touch {marker}")})
        with pytest.raises(GANliftError, match=r"Refusing to load .*system"):
            load_checkpoint(path)
    assert not marker.exists()


def test_wrong_architecture_and_foreign_files(networks, tmp_path: Path) -> None:
    G, D = networks
    state = dict(G.state_dict())
    state["convs.1.conv.weight"] = torch.zeros(1, 16, 15, 3, 3)
    torch.save({"g_ema": state}, tmp_path / "mismatch.pt")
    with pytest.raises(GANliftError, match="does not match the Generator architecture"):
        load_checkpoint(tmp_path / "mismatch.pt")

    torch.save({"model": state}, tmp_path / "other.pt")
    with pytest.raises(GANliftError, match="without 'g_ema' or generator weights"):
        load_checkpoint(tmp_path / "other.pt")
    torch.save({"format": "ganlift-styleganr", "networks": {}}, tmp_path / "styleganr.pt")
    with pytest.raises(GANliftError, match=r"holds a StyleGAN-R model, not a StyleGAN2 checkpoint"):
        load_checkpoint(tmp_path / "styleganr.pt")  # said "without 'g_ema'", as any file
    (tmp_path / "notes.pt").write_text("hello there")
    with pytest.raises(GANliftError) as refused:  # ended "(101)": the unpickler's KeyError
        load_torch_file(tmp_path / "notes.pt")  # as compact-state reads a training state
    assert str(refused.value).endswith("PyTorch checkpoint; pass the .pt or .pkl file itself.")

    torch.save({"g_ema": {"input.input": torch.zeros(1, 4, 4, 4)}}, tmp_path / "partial.pt")
    with pytest.raises(GANliftError, match="not a StyleGAN2 generator in the common layout"):
        load_checkpoint(tmp_path / "partial.pt")
    for g_ema in (state | {5: torch.zeros(1)}, None):  # TypeErrors before
        torch.save({"g_ema": g_ema}, tmp_path / "odd.pt")
        with pytest.raises(GANliftError, match=r"(common layout|not a state dict of tensors)"):
            load_checkpoint(tmp_path / "odd.pt")
    save_pt_checkpoint(tmp_path / "args.pt", G, discriminator=D)
    stored = load_torch_file(tmp_path / "args.pt")
    stored["args"].mbstd_group_size = "x"
    torch.save(stored, tmp_path / "args.pt")
    with pytest.raises(GANliftError, match="Discriminator mbstd_group_size must be a whole number"):
        load_checkpoint(tmp_path / "args.pt")

    ada = {"mapping.fc0.weight": torch.zeros(4, 4), "synthesis.b4.const": torch.zeros(4, 4, 4),
           "synthesis.b8.conv0.weight": torch.zeros(4, 4, 3, 3)}  # fmt: skip
    torch.save(ada, tmp_path / "G_ema_state.pth")  # torch.save(G_ema.state_dict())
    with pytest.raises(GANliftError, match="StyleGAN2-ADA generator's weights without its arch"):
        load_checkpoint(tmp_path / "G_ema_state.pth")

    (tmp_path / "notes.pt").write_text("not a checkpoint at all")
    with pytest.raises(GANliftError, match="is not a StyleGAN2 checkpoint"):
        load_checkpoint(tmp_path / "notes.pt")


def test_files_that_would_take_gigabytes_to_refuse_are_refused_first(networks, tmp_path) -> None:
    """A small file declaring 2048-channel layers in tensors expanded from one value took
    2.5 GB to refuse, a JSON config declaring more channels than its weights allocated the
    larger network first, and a .pt with compressed zip entries unpacked them whole."""
    with torch.device("meta"):
        big = Generator(GeneratorConfig(size=16, channels=dict.fromkeys((4, 8, 16), 2048)))
    expanded = {key: torch.zeros(1).expand(value.shape) for key, value in big.state_dict().items()}
    torch.save({"g_ema": expanded}, tmp_path / "bomb.pt")
    assert (tmp_path / "bomb.pt").stat().st_size < 100_000
    with pytest.raises(GANliftError, match=r"declares .* but stores fewer values"):
        load_checkpoint(tmp_path / "bomb.pt")

    G, D = networks
    config_path = save_checkpoint(tmp_path / "g", G, discriminator=D).with_suffix(".json")
    config = json.loads(config_path.read_text())
    config["generator"]["channels"] = dict.fromkeys(config["generator"]["channels"], 2048)
    config_path.write_text(json.dumps(config))
    with pytest.raises(GANliftError, match=r"Generator architecture .*: input.input is \[1, 16"):
        load_checkpoint(config_path.with_suffix(".safetensors"))

    save_pt_checkpoint(tmp_path / "plain.pt", G, discriminator=D)
    with (
        zipfile.ZipFile(tmp_path / "plain.pt") as plain,
        zipfile.ZipFile(tmp_path / "packed.pt", "w", zipfile.ZIP_DEFLATED) as packed,
    ):
        for entry in plain.infolist():
            packed.writestr(entry.filename, plain.read(entry))
    with pytest.raises(GANliftError, match=r"its archive compresses .*torch.save never does"):
        load_checkpoint(tmp_path / "packed.pt")
    assert load_checkpoint(tmp_path / "plain.pt").generator.config == G.config


def test_truncated_files_are_reported(networks, tmp_path: Path) -> None:
    G, D = networks
    for path in (
        save_pt_checkpoint(tmp_path / "full.pt", G, discriminator=D),
        save_checkpoint(tmp_path / "full", G, discriminator=D),
    ):
        data = path.read_bytes()
        cut = tmp_path / f"cut{path.suffix}"
        cut.write_bytes(data[: len(data) // 2])
        if path.suffix == ".safetensors":
            cut.with_suffix(".json").write_text(path.with_suffix(".json").read_text())
        with pytest.raises(GANliftError, match="truncated"):
            load_checkpoint(cut)


def test_half_precision_file_gives_a_float32_mean_w(networks, tmp_path: Path) -> None:
    """Files saved in half precision store the mean w so too; truncation must still work."""
    G, _ = networks
    half = {key: value.half() for key, value in G.state_dict().items()}
    torch.save({"g_ema": half, "latent_avg": torch.randn(16).half()}, tmp_path / "half.pt")
    checkpoint = load_checkpoint(tmp_path / "half.pt")
    assert checkpoint.latent_avg.dtype == torch.float32 and checkpoint.latent_avg.shape == (16,)
    image = checkpoint.generator(torch.randn(1, 16), truncation=0.5)
    assert image.dtype == torch.float32 and torch.isfinite(image).all()


def test_mean_w_and_networks_that_do_not_fit_are_refused(networks, tmp_path: Path) -> None:
    G, _ = networks
    cases = {
        "of shape [6, 16]": {"g_ema": G.state_dict(), "latent_avg": torch.zeros(6, 16)},
        "as a list": {"g_ema": G.state_dict(), "latent_avg": [0.0] * 16},
        "NaN or infinite": {"g_ema": G.state_dict(), "latent_avg": torch.full((16,), torch.nan)},
        "'g_ema' as a list": {"g_ema": [torch.zeros(1)]},
    }
    for fragment, data in cases.items():
        torch.save(data, tmp_path / "odd.pt")
        with pytest.raises(GANliftError, match=re.escape(fragment)):
            load_checkpoint(tmp_path / "odd.pt")


def test_damaged_legacy_files_are_one_sentence_at_any_cut(networks, tmp_path: Path) -> None:
    """Pre-1.6 torch.save files (GAN2Shape's era) cut anywhere, or with a flipped byte."""
    G, _ = networks
    whole = tmp_path / "legacy.pt"
    torch.save({"g_ema": G.state_dict()}, whole, _use_new_zipfile_serialization=False)
    data = whole.read_bytes()
    damaged = tmp_path / "damaged.pt"
    for cut in range(20, 4000, 37):
        damaged.write_bytes(data[:cut])
        with pytest.raises(GANliftError, match=r"truncated or not a PyTorch checkpoint"):
            load_checkpoint(damaged)
    damaged.write_bytes(data[:48] + bytes([data[48] ^ 1]) + data[49:])
    with pytest.raises(GANliftError) as error:
        load_checkpoint(damaged)
    assert "could run code" not in str(error.value) and "()" not in str(error.value)


def test_names_with_dots_are_names(networks, tmp_path: Path) -> None:
    G, _ = networks
    path = save_checkpoint(tmp_path / "ffhq-v1.2", G)
    assert path.name == "ffhq-v1.2.safetensors"
    assert (tmp_path / "ffhq-v1.2.json").is_file()
    assert load_checkpoint("ffhq-v1.2", models_dir=tmp_path).generator.config == G.config
    assert save_checkpoint(tmp_path / "other.safetensors", G).name == "other.safetensors"
    assert save_checkpoint(tmp_path / "third.pt", G).name == "third.safetensors"
    for saved_as in ("third.pt", "fourth"):  # a load of the path a save was given finds it
        save_checkpoint(tmp_path / saved_as, G)
        assert load_checkpoint(tmp_path / saved_as).generator.config == G.config
    with pytest.raises(GANliftError, match=r"mine\.ckpt does not exist; check the path"):
        load_checkpoint("mine.ckpt", models_dir=tmp_path)
    with pytest.raises(GANliftError, match="is a folder; give the path of the checkpoint file"):
        load_checkpoint(tmp_path, models_dir=tmp_path)
    (tmp_path / "runs").mkdir()  # a bare folder name was looked up as a model's name
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        with pytest.raises(GANliftError, match="Checkpoint runs is a folder; give the path"):
            load_checkpoint("runs", models_dir=tmp_path)


def test_running_out_of_memory_is_not_blamed_on_the_file(
    networks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_pt_checkpoint(tmp_path / "fine.pt", networks[0])

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(torch, "load", out_of_memory)
    with pytest.raises(MemoryError):
        load_checkpoint(path)


def test_a_training_state_is_named_and_the_model_beside_it_pointed_to(tmp_path: Path) -> None:
    state = tmp_path / "training-state.pt"
    torch.save({"G": {}, "G_ema": {}, "D": {}, "step": 3}, state)
    with pytest.raises(GANliftError, match="is a train-gan training state; load the model"):
        load_checkpoint(state)


def test_a_damaged_model_config_says_to_restore_it(tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "tiny.safetensors", 16, style_dim=16, n_mlp=2)
    config = weights.with_suffix(".json")
    for text, said in (("{\n", "is not valid JSON"), ("[1, 2]", "holds no JSON object")):
        config.write_text(text)
        with pytest.raises(GANliftError, match=f"{said}.*; restore the .json written with the"):
            load_checkpoint(weights)


def test_a_mapping_learning_rate_the_pt_layout_cannot_record_is_folded_into_its_weights(
    tmp_path: Path,
) -> None:
    """The `.pt` layout's readers assume StyleGAN2's lr_mlp of 0.01 for the mapping layers,
    whose parameters are stored divided by it: a generator with another multiplier (an
    ADA snapshot may carry one) must come back drawing the same images."""
    torch.manual_seed(0)
    config = GeneratorConfig(16, {4: 16, 8: 16, 16: 8}, style_dim=16, n_mlp=2, lr_mlp=1.0)
    G = Generator(config).eval()
    with torch.no_grad():
        for parameter in G.style.parameters():  # biases off zero, so they are checked too
            parameter.add_(0.1 * torch.randn_like(parameter))
    loaded = load_checkpoint(save_pt_checkpoint(tmp_path / "fast-mapping.pt", G)).generator
    z = torch.randn(4, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(z), G(z), rtol=1e-5, atol=1e-5)
    assert loaded.config.lr_mlp == 0.01  # the layout's, with the weights scaled to it
    path = save_pt_checkpoint(tmp_path / "training.pt", G, generator=G)
    data = torch.load(path, weights_only=False)
    del data["g_ema"]  # read through its training generator g, scaled alike
    torch.save(data, path)
    with torch.no_grad():
        torch.testing.assert_close(load_checkpoint(path).generator(z), G(z), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_lowered_precision_generator_is_refused_where_float32_is_needed(
    networks, dtype: torch.dtype
) -> None:
    G, _ = networks
    check_float32(G, "Training")
    with pytest.raises(GANliftError, match="Training"):
        check_float32(copy.deepcopy(G).to(dtype), "Training")


def test_the_pt_layout_records_the_multiplier_of_a_standard_channel_table() -> None:
    """Other StyleGAN2 tools build the networks of a `.pt` from `args.channel_multiplier`
    (2 when it is missing), so each standard table must name its own."""
    for multiplier in (1, 2, 4):
        assert standard_multiplier(64, multiplier_channels(64, multiplier)) == multiplier
    assert standard_multiplier(32, multiplier_channels(32, 4)) == 2  # every one fits: the default
    assert standard_multiplier(16, {4: 16, 8: 16, 16: 8}) is None


def test_a_generator_and_its_pt_copy_share_a_fingerprint(tmp_path: Path) -> None:
    """Models built on a GAN record its fingerprint; the `.pt` copy of a generator whose
    mapping multiplier the layout cannot record stores rescaled weights, and must still match."""
    torch.manual_seed(0)
    config = GeneratorConfig(16, {4: 16, 8: 16, 16: 8}, style_dim=16, n_mlp=2, lr_mlp=1.0)
    G = Generator(config).eval()
    copy_of_G = load_checkpoint(save_pt_checkpoint(tmp_path / "fast-mapping.pt", G)).generator
    assert generator_fingerprint(copy_of_G) == generator_fingerprint(G)
    other = Generator(config).eval()
    assert generator_fingerprint(other) != generator_fingerprint(G)


def test_an_error_is_summed_up_in_its_first_sentence() -> None:
    """torch's C++ checks open with their source line and go on for sentences."""
    error = RuntimeError(
        "[enforce fail at inline_container.cc:180] . file not found: archive/data.pkl. "
        "Check the file."
    )
    assert error_summary(error) == "file not found: archive/data.pkl"
    assert error_summary(ValueError("one sentence.")) == "one sentence"
