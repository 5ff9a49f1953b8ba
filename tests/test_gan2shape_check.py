"""The check of pretrained GAN2Shape networks on held-out renders: its figures on tiny
networks, its refusals, and the `gan2shape-check` command."""

from __future__ import annotations

import importlib
import json
import math
from dataclasses import astuple
from pathlib import Path
from types import SimpleNamespace

import pytest
import safetensors.torch
import torch

from engine.cli import main
from engine.errors import GANliftError
from engine.evaluation.gan2shape_check import NetworkCheck, check_networks, correlation
from engine.gan2shape import Gan2ShapeNetworks, StepLengths
from engine.stylegan2 import save_checkpoint
from engine.synth.generate import SynthBatch
from tests.tiny import tiny_gan, tiny_gan2shape_preset

SIZE = 32
PRESET = tiny_gan2shape_preset(SIZE, steps=StepLengths(1, 1, 1), prior_steps=1, collect_batches=1)


@pytest.fixture(scope="module")
def networks() -> Gan2ShapeNetworks:
    """Freshly initialised tiny networks."""
    torch.manual_seed(0)
    return Gan2ShapeNetworks(PRESET.networks, style_dim=32)


def test_correlation_of_analytic_series() -> None:
    series = torch.linspace(-1, 1, 9)
    assert correlation(series, 2 * series + 1) == pytest.approx(1.0)
    assert correlation(series, -series) == pytest.approx(-1.0)
    assert correlation(series, torch.ones(9)) == 0.0


def test_check_reads_every_render_against_its_truth(networks) -> None:
    networks.train()
    check = check_networks(networks, PRESET, "face", n=5, batch_size=2)
    assert networks.training  # read in eval mode, then handed back as it came
    assert check.count == 5 and check.category == "face"
    figures = [
        check.yaw_correlation, check.pitch_correlation, check.light_x_correlation,
        check.yaw_spread, check.reconstruction_psnr, check.object_psnr, check.relief_ratio,
    ]  # fmt: skip
    assert all(torch.isfinite(torch.tensor(figures)))
    assert all(-1 <= value <= 1 for value in figures[:3])
    assert check.yaw_spread >= 0 and check.relief_ratio >= 0
    one_batch = check_networks(networks, PRESET, "face", n=5, batch_size=5)
    assert astuple(one_batch)[3:] == pytest.approx(astuple(check)[3:], abs=1e-5)
    assert NetworkCheck(**json.loads(check.to_json())) == check
    assert "relief ratio" in check.table() and "5 held-out face renders" in check.table()


def test_networks_that_read_the_truth_score_perfectly(networks, monkeypatch) -> None:
    """With a decomposition that returns each render's true view, light and depth, the
    correlations and the relief ratio are 1 (the relief scored over the object the surface
    covers); the object's PSNR is its own, not the frame's."""
    module = importlib.import_module("engine.evaluation.gan2shape_check")
    rendered: list[SynthBatch] = []
    render = module.render_samples

    def recorded(*args, **options) -> SynthBatch:
        rendered.append(render(*args, **options))
        return rendered[-1]

    def truth(networks, images, preset) -> SimpleNamespace:
        batch = rendered[-1]
        depth = torch.where(batch.canonical_mask > 0, batch.canonical_depth, 1.1)  # far behind
        return SimpleNamespace(image=batch.image, depth=depth, view=batch.view, light=batch.light)

    monkeypatch.setattr(module, "render_samples", recorded)
    monkeypatch.setattr(module, "decompose", truth)
    check = check_networks(networks, PRESET, "face", n=6, batch_size=3)
    correlations = (check.yaw_correlation, check.pitch_correlation, check.light_x_correlation)
    assert correlations == pytest.approx((1.0, 1.0, 1.0)) and check.yaw_spread == pytest.approx(1)
    assert check.object_psnr != pytest.approx(check.reconstruction_psnr)
    assert check.relief_ratio == pytest.approx(1, abs=0.1)


def test_networks_that_read_a_known_distortion_of_the_truth_score_it(
    networks: Gan2ShapeNetworks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Yaw read at half its size (plus a shift), pitch mirrored and light y mirrored: the yaw
    spread is 0.5 and the pitch correlation -1, while yaw and light x still correlate fully;
    the renders are the `seed` run asked for."""
    module = importlib.import_module("engine.evaluation.gan2shape_check")
    rendered: list[SynthBatch] = []
    seeds: list[int] = []
    render = module.render_samples

    def recorded(category: str, chunk: list[int], **options: object) -> SynthBatch:
        seeds.extend(chunk)
        rendered.append(render(category, chunk, **options))
        return rendered[-1]

    def distorted(_networks: object, _images: object, _preset: object) -> SimpleNamespace:
        batch = rendered[-1]
        view, light = batch.view.clone(), batch.light.clone()
        view[:, 1] = 0.5 * view[:, 1] + 0.1
        view[:, 0] = -view[:, 0]
        light[:, 3] = -light[:, 3]
        depth = torch.where(batch.canonical_mask > 0, batch.canonical_depth, 1.1)
        return SimpleNamespace(image=batch.image, depth=depth, view=view, light=light)

    monkeypatch.setattr(module, "render_samples", recorded)
    monkeypatch.setattr(module, "decompose", distorted)
    first = module.SEED_RANGES["test"].start + 100
    check = check_networks(networks, PRESET, "face", n=6, seed=first, batch_size=3)
    assert seeds == list(range(first, first + 6)) and check.first_seed == first
    assert check.yaw_spread == pytest.approx(0.5)
    assert check.yaw_correlation == pytest.approx(1.0)
    assert check.pitch_correlation == pytest.approx(-1.0)
    assert check.light_x_correlation == pytest.approx(1.0)


def test_the_check_reads_as_many_as_max_renders(
    networks: Gan2ShapeNetworks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """n = MAX_RENDERS is accepted (rendering is where this stub stops it)."""
    module = importlib.import_module("engine.evaluation.gan2shape_check")

    class Rendering(Exception):
        pass

    def stop(category: str, chunk: list[int], **options: object) -> SynthBatch:
        raise Rendering

    monkeypatch.setattr(module, "render_samples", stop)
    with pytest.raises(Rendering):
        check_networks(networks, PRESET, "face", n=module.MAX_RENDERS)


def test_check_refuses_what_it_cannot_compare(networks) -> None:
    for n in (1, 10_001):  # 100,000,000 rendered for hours before running out of memory
        expected = rf"from 2 renders \(to correlate\) to 10000, got --n {n}"
        with pytest.raises(GANliftError, match=expected):
            check_networks(networks, PRESET, "face", n=n)
    with pytest.raises(GANliftError, match="Unknown category 'cat'"):
        check_networks(networks, PRESET, "cat", n=4)
    with pytest.raises(GANliftError, match="crops the GAN frame"):
        check_networks(networks, PRESET.replace(crop=0.5), "face", n=4)


def test_check_command_reads_the_networks_fast_mode_uses(tmp_path: Path, capsys) -> None:
    G, D = tiny_gan(SIZE)
    checkpoint = save_checkpoint(tmp_path / "tiny", G, discriminator=D)
    preset = tmp_path / "preset.json"
    preset.write_text(PRESET.to_json())
    model = ["--ckpt", str(checkpoint), "--preset", str(preset), "--device", "cpu"]
    check = ["gan2shape-check", *model, "--n", "3", "--json", str(tmp_path / "check.json")]
    assert main(check) == 2
    assert "No pretrained networks" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("")  # named as given, and the file looked up beside it
    assert main([*check, "--weights", str(notes)]) == 2
    said = f"--weights {notes} holds no pretrained networks (there is no notes.txt.safetensors);"
    assert said in capsys.readouterr().err
    pretrain = [
        "gan2shape-pretrain", *model, "--out", str(tmp_path / "tiny-gan2shape.safetensors"),
        "--images", "2", "--steps", "1", "--fp32",
    ]  # fmt: skip
    assert main(pretrain) == 0
    assert main(check) == 0
    assert "yaw: correlation with the truth" in capsys.readouterr().out
    assert json.loads((tmp_path / "check.json").read_text())["count"] == 3
    weights = tmp_path / "tiny-gan2shape.safetensors"
    config = weights.with_suffix(".json").read_text()  # read unnamed: the check's default
    assert main([*check[:-1], str(weights.with_suffix(".json"))]) == 2
    assert "is a file of the pretrained networks the command reads" in capsys.readouterr().err
    assert weights.with_suffix(".json").read_text() == config
    state = safetensors.torch.load_file(str(weights))
    first = next(iter(state))
    safetensors.torch.save_file(state | {first: state[first] * math.nan}, str(weights))
    assert main(check) == 2  # fast mode ran to NaN outputs before
    assert "that are not finite (NaN or infinite); pretrain them again" in capsys.readouterr().err
    safetensors.torch.save_file(dict(list(state.items())[1:]), str(weights))  # one tensor lost
    assert main(check) == 2  # was load_state_dict's RuntimeError
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "does not fit the Gan2ShapeNetworks it holds" in error
    weights.with_suffix(".json").write_text("[1]")
    assert main(check) == 2  # was an AttributeError
    assert "holds no JSON object; copy the one gan2shape-pretrain" in capsys.readouterr().err


def test_the_check_offers_no_precision_it_would_ignore(capsys) -> None:
    """It reads the networks in float32; its --fp32 was accepted and never read."""
    with pytest.raises(SystemExit):
        main(["gan2shape-check", "--fp32"])
    assert "unrecognized arguments: --fp32" in capsys.readouterr().err
