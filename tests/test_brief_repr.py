"""The engine's results show themselves briefly (engine.brief): in a notebook, a cell ending in
a model, a sample or an inversion printed thousands of lines of network layers and tensors."""

from __future__ import annotations

import torch
from torch import nn

from engine.brief import brief
from engine.gan2shape import PRESETS, load_model, sample_input
from engine.images import Box
from engine.inversion import project
from engine.stylegan2 import load_checkpoint
from engine.styleganr import load_styleganr, sample


def test_brief_names_shapes_sizes_and_cuts_the_rest() -> None:
    assert brief(torch.zeros(1, 3, 8, 8)) == "tensor[1, 3, 8, 8](float32)"
    assert brief(torch.zeros(2, device="meta")) == "tensor[2](float32, meta)"  # cuda:0 likewise
    assert brief(Box(1, 2, 3, 4)) == "Box(left=1, top=2, width=3, height=4)"
    assert brief(PRESETS["face"]) == "Gan2ShapePreset(...)"  # a long one: its class alone
    assert brief(nn.Linear(3, 2)) == "Linear(8 weights)"
    assert brief([torch.zeros(2), torch.ones(1)]) == "2 tensors"
    assert brief(1 / 3) == "0.3333" and brief("short") == "'short'"
    assert brief("x" * 200) == "'" + "x" * 56 + "..."


def test_results_of_the_engine_show_in_a_few_lines() -> None:
    model = load_model("default-face")
    prepared, _ = sample_input(model.generator, 1)
    cars = load_styleganr("default-car-styleganr")
    shown = {
        "model": repr(model),
        "prepared": repr(prepared),
        "checkpoint": repr(load_checkpoint("default-face")),
        "inversion": repr(project(model.generator, prepared.image, num_steps=1)),
        "cars": repr(cars),
        "sample": repr(sample(cars, seed=1)),
    }
    for name, text in shown.items():
        assert len(text) < 500 and "\n" not in text, (name, len(text))
    assert shown["model"].startswith("Gan2ShapeModel(generator=Generator(3,246,872 weights)")
    assert "image=tensor[1, 3, 64, 64](float32)" in shown["prepared"]
    assert "box=Box(left=0, top=0, width=64, height=64)" in shown["prepared"]
    assert "noises=9 tensors" in shown["inversion"]
