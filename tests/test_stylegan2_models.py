"""Generator / discriminator behaviour on small models: API semantics, fast vs reference ops,
configs, and save/load round trips in both the common .pt layout and our safetensors format."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest
import torch

from engine.errors import GANliftError
from engine.stylegan2 import (
    Discriminator,
    DiscriminatorConfig,
    Generator,
    GeneratorConfig,
    ModelConfig,
    bf16_autocast,
    bf16_supported,
    load_checkpoint,
    save_checkpoint,
    save_pt_checkpoint,
)
from engine.stylegan2.safe_pickle import load_torch_file
from engine.torch_files import check_weights

REDUCED_128 = {4: 32, 8: 32, 16: 32, 32: 16, 64: 16, 128: 8}


def randomized(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Fill every parameter and noise buffer with seeded values so that every path matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if name.endswith("kernel"):
                continue
            values = torch.randn(tensor.shape, generator=generator)
            if name.startswith("style."):
                values *= 100.0 if name.endswith("weight") else 10.0
            elif name.endswith("modulation.bias"):
                values = 1 + 0.2 * values
            elif name.endswith("bias") or name.endswith("noise.weight"):
                values *= 0.2
            tensor.copy_(values)
    return module.eval()


def make_pair(size: int, channels: dict[int, int], style_dim: int, n_mlp: int, seed: int = 0):
    G = randomized(
        Generator(GeneratorConfig(size, channels, style_dim=style_dim, n_mlp=n_mlp)), seed
    )
    D = randomized(Discriminator(DiscriminatorConfig(size, channels)), seed + 1)
    return G, D


@pytest.fixture(scope="module")
def small() -> tuple[Generator, Discriminator]:
    """32x32 with channel multiplier 1 (512 channels at every resolution)."""
    G = randomized(Generator(GeneratorConfig.from_multiplier(32, 1, style_dim=64, n_mlp=2)), 0)
    D = randomized(Discriminator(DiscriminatorConfig.from_multiplier(32, 1)), 1)
    return G, D


@pytest.fixture(scope="module")
def reduced() -> tuple[Generator, Discriminator]:
    """128x128 with a reduced channel table, like the project's own default models."""
    return make_pair(128, REDUCED_128, style_dim=32, n_mlp=3, seed=5)


@pytest.fixture(scope="module")
def tiny() -> tuple[Generator, Discriminator]:
    """16x16 with a handful of channels, for API semantics."""
    return make_pair(16, {4: 16, 8: 16, 16: 8}, style_dim=16, n_mlp=2, seed=7)


def latents(G: Generator, n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, G.style_dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    ("change", "message"),
    [  # each was a traceback, a hang or a model drawing garbage
        ({"channels": None}, "must map each resolution [4, 8, 16, 32] to a whole number"),
        ({"channels": {"4": 8, "8": 8, "16": 8, "32": 1e309}}, "channels from 1 to 65536"),
        ({"channels": {"4": 8, "8": 8, "16": 8, "32": 1e30}}, "channels from 1 to 65536"),
        ({"channels": {"4": 8, "8": 8, "16": 8, "32": 1.7}}, "a whole number of channels"),
        ({"channels": {"4": 8, "8": 8, "16": 8, "32": True}}, "a whole number of channels"),
        ({"n_mlp": 10**7}, "n_mlp must be a whole number from 1 to 64, got 10000000"),
        ({"style_dim": 0}, "style_dim must be a whole number from 1 to 65536, got 0"),
        ({"lr_mlp": 0}, "lr_mlp must be a number above 0"),
        ({"lr_mlp": -5}, "lr_mlp must be a number above 0"),
        ({"conv_clamp": 0}, "conv_clamp must be null (no clamp) or a number above 0"),
        ({"conv_clamp": -1}, "conv_clamp must be null"),
    ],
)
def test_impossible_architectures_are_refused_as_the_config_is_read(
    tmp_path: Path, change: dict, message: str
) -> None:
    config = ModelConfig(generator=GeneratorConfig(32, {4: 8, 8: 8, 16: 8, 32: 8}))
    data = json.loads(config.to_json())
    data["generator"] |= change
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(GANliftError, match=re.escape(message)):
        ModelConfig.from_json_file(path)


def test_config_json_round_trip_and_validation(tmp_path: Path) -> None:
    config = ModelConfig(
        generator=GeneratorConfig(128, REDUCED_128, style_dim=32, n_mlp=3, conv_clamp=256.0),
        discriminator=DiscriminatorConfig(128, REDUCED_128, mbstd_group_size=None),
        extra={"step": 12},
    )
    path = tmp_path / "model.json"
    path.write_text(config.to_json())
    assert ModelConfig.from_json_file(path) == config

    data = json.loads(config.to_json())
    data["generator"]["channel_multiplier"] = 2
    path.write_text(json.dumps(data))
    with pytest.raises(GANliftError, match="unknown keys \\['channel_multiplier'\\]"):
        ModelConfig.from_json_file(path)
    data = json.loads(config.to_json())
    data["generator"]["channels"].pop("128")
    path.write_text(json.dumps(data))
    with pytest.raises(GANliftError) as refused:  # the table's own check named no file
        ModelConfig.from_json_file(path)
    assert str(refused.value).startswith(f"In the model config {path}, the generator channel")
    assert str(refused.value).endswith("for each of [4, 8, 16, 32, 64, 128]; restore the .json "
                                       "written with the weights.")  # one sentence  # fmt: skip
    path.write_text(json.dumps(json.loads(config.to_json()) | {"extra": [1]}))
    with pytest.raises(GANliftError, match="has an 'extra' that is no JSON object; restore"):
        ModelConfig.from_json_file(path)  # was dict([1])'s TypeError
    with pytest.raises(GANliftError, match="expected a count for each of"):
        GeneratorConfig(64, {4: 8, 8: 8, 16: 8})
    with pytest.raises(GANliftError, match="power of two"):
        GeneratorConfig.from_multiplier(48)


def test_common_channel_table() -> None:
    config = GeneratorConfig.from_multiplier(256, 2)
    assert config.channels == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}
    assert (config.num_ws, config.num_noises) == (14, 13)


@pytest.mark.parametrize("pair", ["small", "reduced"])
@torch.no_grad()
def test_fast_and_reference_ops_agree(pair: str, request: pytest.FixtureRequest) -> None:
    G, D = request.getfixturevalue(pair)
    z = latents(G, 2)
    fast_image = G.set_impl("fast")(z)
    reference_image = G.set_impl("reference")(z)
    G.set_impl("fast")
    assert fast_image.shape == (2, 3, G.config.size, G.config.size)
    assert (fast_image - reference_image).abs().max() < 1e-4
    assert fast_image.std() > 0.1  # a degenerate image would make the comparison vacuous
    fast_logits = D.set_impl("fast")(fast_image)
    reference_logits = D.set_impl("reference")(fast_image)
    D.set_impl("fast")
    assert (fast_logits - reference_logits).abs().max() < 1e-4


def test_fast_and_reference_gradients_agree(reduced: tuple[Generator, Discriminator]) -> None:
    G, D = reduced
    z = latents(G, 2, seed=3)
    grads = {}
    for impl in ("fast", "reference"):
        ws = G.mapping(z).detach().requires_grad_(True)
        G.set_impl(impl)
        D.set_impl(impl)
        D(G.synthesis(ws)).sum().backward()
        grads[impl] = ws.grad
    G.set_impl("fast")
    D.set_impl("fast")
    scale = grads["reference"].abs().max()
    assert scale > 0
    assert (grads["fast"] - grads["reference"]).abs().max() < 1e-4 * max(1.0, scale.item())


@pytest.mark.parametrize(
    ("pair", "writer"), [("small", "pt"), ("reduced", "pt"), ("reduced", "safetensors")]
)
@torch.no_grad()
def test_save_and_reload_reproduces_outputs(
    pair: str, writer: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    G, D = request.getfixturevalue(pair)
    latent_avg = G.mean_latent(64, generator=torch.Generator().manual_seed(1))[0]
    if writer == "pt":
        path = save_pt_checkpoint(tmp_path / "model.pt", G, discriminator=D, latent_avg=latent_avg)
    else:
        path = save_checkpoint(tmp_path / "model", G, discriminator=D, latent_avg=latent_avg)
    assert sorted(item.name for item in tmp_path.iterdir() if item.name.startswith(".")) == []
    loaded = load_checkpoint(path)
    assert loaded.generator.config == G.config
    assert loaded.discriminator.config == D.config
    z = latents(G, 2, seed=9)
    assert torch.equal(
        loaded.generator(z, truncation=0.5), G(z, truncation=0.5, truncation_latent=latent_avg)
    )
    image = G(z)
    assert torch.equal(loaded.discriminator(image), D(image))


@torch.no_grad()
def test_random_style_mixing_crosses_over_at_every_layer_between_the_first_and_last(
    tiny: tuple[Generator, Discriminator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Style mixing's crossover index is uniform over 1 .. num_ws - 1 (each image keeps at
    least its first layer's w and takes at least the last from the mixing latent)."""
    G, _ = tiny
    z, mix_z = latents(G, 1, seed=1), latents(G, 1, seed=2)
    w = G.mapping(z)
    crossovers = set()
    monkeypatch.setattr(
        G, "synthesis", lambda wplus, noise=None: crossovers.add(int((wplus[0] == w).all(1).sum()))
    )
    torch.manual_seed(0)
    for _ in range(100):
        G(z, mix_z=mix_z)
    assert crossovers == set(range(1, G.num_ws))


@torch.no_grad()
def test_synthesis_latent_forms_mixing_and_truncation(
    tiny: tuple[Generator, Discriminator],
) -> None:
    G, _ = tiny
    z, mix_z = latents(G, 2, seed=1), latents(G, 2, seed=2)
    w, mix_w = G.mapping(z), G.mapping(mix_z)
    wplus = w[:, None].repeat(1, G.num_ws, 1)
    assert torch.equal(G.synthesis(w), G.synthesis(wplus))
    assert torch.allclose(G(z), G.synthesis(w), atol=1e-6)
    assert torch.allclose(G(z, mix_z=mix_z, mix_index=G.num_ws), G.synthesis(w), atol=1e-6)
    assert torch.allclose(G(z, mix_z=mix_z, mix_index=0), G.synthesis(mix_w), atol=1e-6)
    mixed = torch.cat(
        [w[:, None].expand(-1, 3, -1), mix_w[:, None].expand(-1, G.num_ws - 3, -1)], 1
    )
    assert torch.allclose(G(z, mix_z=mix_z, mix_index=3), G.synthesis(mixed), atol=1e-6)
    centre = w[:1]
    truncated = G(z, truncation=0.0, truncation_latent=centre)
    assert torch.allclose(truncated, G.synthesis(centre.expand(2, -1)), atol=1e-6)


@torch.no_grad()
def test_truncation_to_zero_draws_the_centre_in_every_layer(
    tiny: tuple[Generator, Discriminator],
) -> None:
    """Truncation 0 gives exactly the centre's image, in the mixed layers too, and a given
    centre wins over the checkpoint's latent_avg."""
    G = copy.deepcopy(tiny[0])
    z, mix_z = latents(G, 2, seed=1), latents(G, 2, seed=2)
    stored, given = G.mapping(latents(G, 2, seed=3)).split(1)  # [1, D] each
    G.latent_avg = stored[0]  # as a checkpoint with latent_avg loads
    for centre, options in ((stored, {}), (given, {"truncation_latent": given})):
        expected = G.synthesis(centre.expand(2, -1))
        assert torch.equal(G(z, truncation=0.0, **options), expected)
        mixed = G(z, truncation=0.0, mix_z=mix_z, mix_index=3, **options)
        assert torch.equal(mixed, expected)


@torch.no_grad()
def test_mean_latent_is_the_mean_of_mapped_z(tiny: tuple[Generator, Discriminator]) -> None:
    """The truncation centre is the mean w, not the median or any other average."""
    G, _ = tiny
    z = torch.randn(64, G.style_dim, generator=torch.Generator().manual_seed(4))
    expected = G.mapping(z).mean(dim=0, keepdim=True)
    mean = G.mean_latent(64, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(mean, expected, atol=1e-6)


@torch.no_grad()
def test_noise_modes(tiny: tuple[Generator, Discriminator]) -> None:
    G, _ = tiny
    w = G.mapping(latents(G, 2))
    stored = [getattr(G.noises, f"noise_{i}") for i in range(G.config.num_noises)]
    assert [tuple(t.shape) for t in stored] == G.noise_shapes()
    fresh = G.make_noise(2, generator=torch.Generator().manual_seed(0))
    assert [tuple(t.shape) for t in fresh] == [(2, *shape[1:]) for shape in G.noise_shapes()]
    assert not torch.allclose(G.synthesis(w, noise=fresh), G.synthesis(w))
    assert torch.equal(G.synthesis(w, noise=stored), G.synthesis(w, noise="const"))
    torch.manual_seed(0)
    first = G.synthesis(w, noise="random")
    assert not torch.allclose(first, G.synthesis(w, noise="random"))
    assert not torch.allclose(first, G.synthesis(w))
    same_w = G.synthesis(w[:1].expand(2, -1), noise="random")  # each image its own noise
    assert not torch.allclose(same_w[0], same_w[1])
    one_noise = G.make_noise(2)
    assert not torch.equal(one_noise[0][0], one_noise[0][1])
    with pytest.raises(GANliftError, match=f"list of {G.config.num_noises} tensors"):
        G.synthesis(w, noise=stored[:2])


@torch.no_grad()
def test_discriminator_features(tiny: tuple[Generator, Discriminator]) -> None:
    G, D = tiny
    image = G(latents(G, 2))
    feats = D.features(image, 3)
    assert [tuple(f.shape) for f in feats] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 16, 4, 4)]
    # features() runs channels-last on the fast path; the layout may change the summation order.
    torch.testing.assert_close(feats[0], D.convs[0](image), rtol=0, atol=1e-5)


@torch.no_grad()
def test_dtype_follows_the_input(tiny: tuple[Generator, Discriminator]) -> None:
    G, _ = tiny
    z = latents(G, 1)
    image64 = G.double()(z.double())
    G.float()
    assert image64.dtype == torch.float64
    assert (image64.float() - G(z)).abs().max() < 1e-4


@pytest.mark.skipif(not bf16_supported("cpu"), reason="this CPU has no native bfloat16")
@torch.no_grad()
def test_bf16_autocast_stays_close(tiny: tuple[Generator, Discriminator]) -> None:
    G, _ = tiny
    z = latents(G, 2)
    with bf16_autocast("cpu") as active:
        image = G(z)
    assert active
    assert (image.float() - G(z)).abs().mean() < 0.05 * G(z).abs().mean()


def test_user_errors_are_one_sentence(tiny: tuple[Generator, Discriminator]) -> None:
    G, D = tiny
    with pytest.raises(GANliftError, match=r"z must be \[N, 16\], got \[2, 15\]"):
        G(torch.zeros(2, 15))
    with pytest.raises(GANliftError, match="latent must be"):
        G.synthesis(torch.zeros(2, 3, 16))
    with pytest.raises(GANliftError, match="Truncation needs a centre"):
        G(torch.zeros(1, 16), truncation=0.5)
    with pytest.raises(GANliftError, match=r"takes images \[N, 3, 16, 16\]"):
        D(torch.zeros(2, 3, 32, 32))
    with pytest.raises(GANliftError, match="multiple of 4"):
        D(torch.zeros(6, 3, 16, 16))
    misuse = [  # each failed inside torch ("'numpy.ndarray' object has no attribute 'square'")
        (lambda: G(torch.zeros(2, 16).numpy()), r"z must be a torch tensor \[N, 16\], got an nd"),
        (lambda: G(torch.zeros(2, 16, dtype=torch.long)), "z must be floats, got torch.int64"),
        (lambda: G.synthesis([[0.0] * 16]), "latent must be a torch tensor"),
        (lambda: G(torch.zeros(3, 16), mix_z=torch.zeros(1, 16)), "mix_z must hold one z per z"),
        (
            lambda: G(torch.zeros(1, 16), truncation=0.7, truncation_latent=torch.zeros(3, 16)),
            r"truncation centre must be one w \[1, 16\], got \[3, 16\]",
        ),
        (lambda: D(torch.zeros(4, 3, 16, 16, dtype=torch.uint8)), "floats in \\[-1, 1\\]"),
    ]
    for call, refusal in misuse:
        with pytest.raises(GANliftError, match=refusal):
            call()


def test_bf16_counts_as_native_on_ampere_or_newer_gpus(monkeypatch) -> None:
    """torch.cuda.is_bf16_supported() also says yes where bf16 is only emulated (a V100 or
    T4), where autocast would make training and recovery slower, not faster."""
    capabilities = {0: (7, 0), 1: (8, 0)}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    monkeypatch.setattr(
        torch.cuda, "get_device_capability", lambda device: capabilities[torch.device(device).index]
    )
    assert not bf16_supported("cuda:0")
    assert bf16_supported("cuda:1")


def test_weights_that_are_not_finite_or_not_floats_are_refused(tmp_path: Path) -> None:
    """A NaN weight sampled black grids with exit 0, and int8 or bool weights were cast."""
    G = Generator(GeneratorConfig(16, {4: 8, 8: 8, 16: 8}, style_dim=8, n_mlp=2))
    for writer in (save_checkpoint, save_pt_checkpoint):
        for damage, message in (
            (math.nan, "'s generator holds 1 value in style.1.weight that is"),
            (math.inf, "that is not finite"),
        ):
            broken = copy.deepcopy(G)
            with torch.no_grad():
                broken.style[1].weight.view(-1)[0] = damage
            path = writer(tmp_path / f"nan{writer.__name__}.pt", broken)
            with pytest.raises(GANliftError, match=message):
                load_checkpoint(path)
        D = Discriminator(DiscriminatorConfig(16, {4: 8, 8: 8, 16: 8}))
        with torch.no_grad():
            D.convs[1].conv1[0].weight.view(-1)[0] = math.nan  # the generator has convs.1 too
        path = writer(tmp_path / f"nan-d-{writer.__name__}.pt", G, discriminator=D)
        with pytest.raises(GANliftError, match=r"discriminator holds 1 value in convs\.1\.conv1"):
            load_checkpoint(path)
    path = save_pt_checkpoint(tmp_path / "int8.pt", G)
    stored = load_torch_file(path)
    stored["g_ema"]["input.input"] = stored["g_ema"]["input.input"].to(torch.int8)
    torch.save(stored, path)
    with pytest.raises(GANliftError, match=r"as torch\.int8, not floating-point weights"):
        load_checkpoint(path)
    with pytest.raises(
        GANliftError, match=r"holds w as torch\.complex64, not floating-point weights; fix it"
    ):
        check_weights({"w": torch.zeros(2, dtype=torch.complex64)}, "The file", "fix it")
    check_weights({"count": torch.zeros(2, dtype=torch.int64)}, "The file", "fix it")  # a buffer


def test_architecture_bounds_hold_at_their_edges() -> None:
    """Each bound refuses just past it and takes its edge: 0 channels (allowed before the
    checks were rewritten) and the discriminator's minibatch and clamp settings."""
    table = {4: 8, 8: 8, 16: 8, 32: 8}
    assert GeneratorConfig(32, table | {32: 65536}).channels[32] == 65536
    with pytest.raises(GANliftError, match="channels from 1 to 65536"):
        GeneratorConfig(32, table | {32: 0})
    for change in ({"mbstd_group_size": 0}, {"mbstd_group_size": 10**6}, {"mbstd_channels": 0}):
        with pytest.raises(GANliftError, match="mbstd_group_size and mbstd_channels must be"):
            DiscriminatorConfig(32, table, **change)  # group 0 divided by zero
    with pytest.raises(GANliftError, match="discriminator conv_clamp must be null"):
        DiscriminatorConfig(32, table, conv_clamp=0)  # zeroed every feature
    assert DiscriminatorConfig(32, table, mbstd_group_size=None, conv_clamp=256).conv_clamp == 256
