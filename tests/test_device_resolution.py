"""resolve_device at every library entry point that takes a device: 'auto' works everywhere,
and a device this machine lacks is one sentence (it was torch's "Torch not compiled with CUDA
enabled" assertion, or its list of every device type for a typo)."""

from __future__ import annotations

import pytest
import torch

from engine.benchmarks.shape import run_shape_benchmark
from engine.device import cpu_state, module_device, resolve_device, same_device
from engine.errors import GANliftError
from engine.evaluation import write_examples
from engine.evaluation.coverage import render_labelled
from engine.evaluation.gan2shape_check import check_networks
from engine.evaluation.inversion_psnr import evaluate_inversion
from engine.evaluation.regressor import fit_label_regressor
from engine.gan2shape import Gan2ShapeNetworks, load_state, prepare_input, reconstruct, recover
from engine.gan2shape.pipeline import Gan2ShapeModel
from engine.inversion import project
from engine.perceptual import perceptual_loss
from engine.stylegan2 import load_checkpoint
from engine.styleganr import load_styleganr
from engine.styleganr.labelling import load_view_labeller
from engine.styleganr.multiview import synthetic_view_pairs
from engine.styleganr.train_mapping import MappingTrainConfig, train_mapping
from engine.synth import render_samples
from tests.tiny import tiny_checkpoint, tiny_gan, tiny_gan2shape_preset, tiny_styleganr

LABELLER = "default-car-labeller"  # a bundled state by name, as models are named
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def test_names_and_devices_resolve() -> None:
    assert resolve_device("cpu:0") == torch.device("cpu", 0)
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    for name in ("gpu", None, 3.5):
        with pytest.raises(GANliftError, match=f"^Unknown device {name!r}; use 'auto', 'cpu'"):
            resolve_device(name)


def test_auto_picks_cuda_where_there_is_one(monkeypatch) -> None:
    """Read on this machine too, whatever it has: CI's CPU runner took every branch but this."""
    for available, expected in ((True, "cuda"), (False, "cpu")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda available=available: available)
        assert resolve_device("auto") == torch.device(expected)


def test_devices_other_than_cpu_and_cuda_are_refused_in_a_sentence(monkeypatch) -> None:
    """`--device mps` (a Mac user's guess) ended in torch's traceback; on a Mac it would have
    run on a backend nothing here was tried on. 'auto' still takes the CPU there."""
    for name in ("mps", "meta", "xpu:0"):
        with pytest.raises(GANliftError, match=f"^Device '{name}' is not supported: GANlift runs"):
            resolve_device(name)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@NO_CUDA
def test_library_entry_points_refuse_cuda_on_a_machine_without_it(tmp_path) -> None:
    G, D = tiny_gan(16)
    image = torch.rand(1, 3, 16, 16) * 2 - 1
    model = Gan2ShapeModel(G, D, tiny_gan2shape_preset(16), tmp_path / "none.safetensors")
    checkpoint = tiny_checkpoint(tmp_path / "g", 16)
    prepared = prepare_input(image, size=16, find_face=False, needs_mask=False)
    calls = {
        "load_checkpoint": lambda: load_checkpoint(checkpoint, "cuda"),
        "project": lambda: project(G, image, num_steps=1, device="cuda"),
        "recover": lambda: recover(G, D, image, preset=model.preset, device="cuda"),
        "load_state": lambda: load_state(tmp_path / "any.pt", device="cuda"),
        "reconstruct": lambda: reconstruct(
            model, prepared, out_dir=tmp_path / "run", device="cuda"
        ),
    }
    for name, call in calls.items():
        with pytest.raises(
            GANliftError, match=r"^Device 'cuda' .* CUDA is not available; use 'cpu'"
        ):
            call()
        assert name != "reconstruct" or not (tmp_path / "run").exists()
    assert load_checkpoint(checkpoint, "auto").generator.input.input.device.type == "cpu"


def test_every_entry_point_takes_auto_and_names_an_unknown_device(tmp_path) -> None:
    """These passed the name to torch: 'auto' was torch's list of device types."""
    G, D = tiny_gan(16)
    networks = Gan2ShapeNetworks(tiny_gan2shape_preset(16).networks, style_dim=G.style_dim)
    calls = {
        "load_styleganr": lambda device: load_styleganr("default-car-styleganr", device=device),
        "load_view_labeller": lambda device: load_view_labeller(LABELLER, device),
        "render_samples": lambda device: render_samples("car", [1], size=16, device=device),
        "synthetic_view_pairs": lambda device: synthetic_view_pairs([1], size=16, device=device),
        "perceptual_loss": lambda device: perceptual_loss(
            "discriminator", discriminator=D, device=device
        ),
        "write_examples": lambda device: write_examples(
            tmp_path / device, "face", n=1, size=16, device=device
        ),
        "evaluate_inversion": lambda device: evaluate_inversion(
            G, "face", n_images=1, num_steps=1, device=device
        ),
        "run_shape_benchmark": lambda device: run_shape_benchmark(
            "face",
            n=2,
            size=16,
            methods=["const. null depth"],
            train_samples=2,
            batch_size=2,
            device=device,
        ),
        "fit_label_regressor": lambda device: fit_label_regressor(
            torch.zeros(2, 3, 16, 16), torch.zeros(2, 1), steps=1, batch_size=2, device=device
        ),
        "render_labelled": lambda device: render_labelled("face", 0, 2, device=device),
        "check_networks": lambda device: check_networks(
            networks, tiny_gan2shape_preset(16), "face", n=2, device=device
        ),
    }
    for name, call in calls.items():
        call("auto")
        with pytest.raises(GANliftError) as refused:
            call("tpu")
        assert str(refused.value).startswith("Unknown device 'tpu'"), name


def test_devices_of_modules_compare_as_torch_places_them(monkeypatch) -> None:
    assert module_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters
    assert module_device(torch.nn.Linear(2, 2, device="meta")) == torch.device("meta")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert same_device(torch.device("cuda"), torch.device("cuda:1"))
    assert not same_device(torch.device("cuda"), torch.device("cuda:0"))
    assert not same_device(torch.device("cpu"), torch.device("cuda:1"))
    assert same_device(torch.device("cpu"), torch.device("cpu", 0))


def test_functions_given_a_generator_run_where_it_is_unless_told(tmp_path) -> None:
    """`project`, `evaluate_inversion` and `train_mapping` ran on the CPU whatever the
    generator's device (a CUDA G was copied to the CPU), unlike GAN2Shape's functions. A G on
    torch's meta device shows where they now run: they refuse that device by name."""
    model = tiny_styleganr()
    G = tiny_gan(16)[0].to("meta")
    config = MappingTrainConfig(hidden=32, warmup_steps=1, steps=1, batch_size=1)
    calls = {
        "project": lambda: project(G, torch.zeros(1, 3, 16, 16), num_steps=1),
        "evaluate_inversion": lambda: evaluate_inversion(G, "face", n_images=1, num_steps=1),
        "train_mapping": lambda: train_mapping(
            model.generator.to("meta"),
            model.inverse_graphics,
            model.views,
            config,
            state_path=tmp_path / "m.pt",
        ),
    }
    for name, call in calls.items():
        with pytest.raises(GANliftError) as refused:
            call()
        assert str(refused.value).startswith("Device 'meta' is not supported"), name


def test_a_cpu_state_is_a_copy_later_training_leaves_alone() -> None:
    network = torch.nn.Linear(2, 2)
    state = cpu_state(network)
    with torch.no_grad():
        network.weight.add_(1.0)
    assert not torch.equal(state["weight"], network.weight)
