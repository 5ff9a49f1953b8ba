"""scripts/probe_shape_signal.py: its depth variables hold a depth exactly, anti-aliased renders
keep their maps consistent, a held depth stays put, and bad arguments end in one line."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "probe_shape_signal.py"


@pytest.fixture(scope="module")
def probe():
    spec = importlib.util.spec_from_file_location("probe_shape_signal", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while being defined
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_depth_variables_round_trip(probe):
    ranges = probe.HEAD_RANGE
    depth = torch.linspace(0.93, 1.03, 64 * 64).view(1, 64, 64)
    held = probe.depth_in_range(probe.raw_depth(depth, ranges), ranges)
    assert torch.allclose(held, depth, atol=1e-5)


def test_supersampled_renders_match_the_plain_ones(probe):
    plain = probe.render_identities(2, [0.0, 20.0], [], [], 1)
    smooth = probe.render_identities(2, [0.0, 20.0], [], [], 2)
    for sharp, averaged in zip(plain, smooth, strict=True):
        assert averaged.image.shape == sharp.image.shape == (2, 3, 64, 64)
        assert set(averaged.mask.unique().tolist()) <= {0.0, 1.0}
        both = (sharp.mask * averaged.mask) > 0
        assert both.sum() > 0.9 * sharp.mask.sum()
        gap = (averaged.depth[both] - sharp.depth[both]).abs()  # silhouettes differ most
        assert gap.quantile(0.99) < 0.01 and gap.mean() < 0.002
        assert (averaged.image - sharp.image).abs().mean() < 0.05


def test_a_held_depth_is_returned_unchanged_and_lights_differ_per_render(probe):
    renders = probe.render_identities(2, [0.0, 10.0], [-0.5, 0.5], [], 1)
    assert renders[0].light[:, 2].eq(-0.5).all() and renders[1].light[:, 2].eq(0.5).all()
    preset = probe.head_preset()
    truth = torch.where(
        renders[0].canonical_mask > 0, renders[0].canonical_depth, probe.HEAD_RANGE.border_depth
    )
    held = probe.fit(
        renders, preset, truth, steps=3, lr=0.02, depth_free=False, true_albedo=True, flip=True
    )
    assert torch.allclose(held.depth, truth, atol=1e-5)
    assert 0 < held.l1 < 0.5


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--yaws", "0,10", "--light-x=0.5"], "--light-x needs one value per yaw (2)"),
        (["--yaws", "10", "--true-albedo"], "start --yaws at 0"),
        (["--yaws", "zero"], "--yaws: expected comma-separated numbers from -90 to 90, got 'zero'"),
        (["--lr", "nan"], "argument --lr: expected a number above 0, got 'nan'"),
        (["--smooth", "-1"], "argument --smooth: expected a number of at least 0, got '-1'"),
    ],
)
def test_bad_arguments_end_in_one_line(probe, monkeypatch, capsys, argv, message):
    monkeypatch.setattr("sys.argv", ["probe_shape_signal.py", *argv])
    with pytest.raises(SystemExit) as exited:  # a refusal, by argparse or by the script
        probe.run_script(probe.main)
    code = exited.value.code
    captured = capsys.readouterr()
    last = captured.err.strip().splitlines()[-1]
    assert code == 2 and "error: " in last and message in last and captured.out == ""
