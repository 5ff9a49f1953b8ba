"""The training loop's generator inputs and optimisers: style mixing switches from one w to the
other at the drawn layer, as often as asked; Adam carries StyleGAN2's lazy-regularisation
correction."""

from __future__ import annotations

import pytest
import torch

from engine.stylegan2.training.latents import LatentDraw, generate
from engine.stylegan2.training.state import TrainingState
from tests.tiny import tiny_generator, tiny_train_config


def test_mixing_takes_the_second_w_from_the_cutoff_layer_on() -> None:
    generator = tiny_generator(16, style_dim=16)
    draw = LatentDraw.draw(torch.Generator().manual_seed(0), batch=3, generator=generator,
                           mixing_prob=0.0)  # fmt: skip
    draw.cutoff = torch.tensor([2, 5, generator.num_ws])  # the last one does not mix
    with torch.no_grad():
        _, ws = generate(generator, draw)  # [3, L, D]
        main, mixed = generator.mapping(draw.z), generator.mapping(draw.mix_z)  # [3, D] each
    for index, cutoff in enumerate(draw.cutoff.tolist()):
        assert torch.allclose(ws[index, :cutoff], main[index].expand(cutoff, -1), atol=1e-5)
        rest = len(ws[0]) - cutoff
        assert torch.allclose(ws[index, cutoff:], mixed[index].expand(rest, -1), atol=1e-5)


@pytest.mark.parametrize("probability", [0.2, 0.9])
def test_styles_mix_as_often_as_asked(probability: float) -> None:
    generator = tiny_generator(16, style_dim=16)
    draw = LatentDraw.draw(torch.Generator().manual_seed(1), batch=4000, generator=generator,
                           mixing_prob=probability)  # fmt: skip
    mixed = (draw.cutoff < generator.num_ws).float()
    assert mixed.mean().item() == pytest.approx(probability, abs=0.03)
    assert draw.cutoff[mixed.bool()].min() >= 1  # a mixed image keeps at least its first w


def test_adam_is_corrected_for_lazy_regularisation() -> None:
    """With a penalty every k steps, lr and both betas shrink by k / (k + 1) as in StyleGAN2."""
    config = tiny_train_config(g_reg_every=4, d_reg_every=16, adam_betas=(0.5, 0.99), d_lr=0.003)
    state = TrainingState.create(config, torch.device("cpu"))
    for optimizer, lr, every in ((state.g_optim, 0.002, 4), (state.d_optim, 0.003, 16)):
        ratio = every / (every + 1)
        group = optimizer.param_groups[0]
        assert group["lr"] == pytest.approx(lr * ratio)
        assert group["betas"] == pytest.approx((0.5**ratio, 0.99**ratio))
