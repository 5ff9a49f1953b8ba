"""resolve_device at every library entry point that takes a device: 'auto' works everywhere,
and a device this machine lacks is one sentence (it was torch's "Torch not compiled with CUDA
enabled" assertion, or its list of every device type for a typo)."""

from __future__ import annotations

import pytest
import torch

from engine.device import resolve_device
from engine.errors import GANliftError
from engine.gan2shape import load_state, prepare_input, reconstruct, recover
from engine.gan2shape.pipeline import Gan2ShapeModel
from engine.inversion import project
from engine.stylegan2 import load_checkpoint
from tests.tiny import tiny_checkpoint, tiny_gan, tiny_gan2shape_preset

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def test_names_and_devices_resolve() -> None:
    assert resolve_device("cpu:0") == torch.device("cpu", 0)
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    for name in ("gpu", None, 3.5):
        with pytest.raises(GANliftError, match=f"^Unknown device {name!r}; use 'auto', 'cpu'"):
            resolve_device(name)


@NO_CUDA
def test_library_entry_points_refuse_cuda_on_a_machine_without_it(tmp_path) -> None:
    G, D = tiny_gan(16)
    image = torch.zeros(1, 3, 16, 16)
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
