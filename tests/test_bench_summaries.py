"""The benchmarks' summary lines say what they name: a median of an even count is the mean of
its middle pair (the StyleGAN-R camera goal is a median of 288 errors)."""

from __future__ import annotations

import torch

from bench.styleganr import summary


def test_the_camera_summary_s_median_of_an_even_count_is_the_middle_pair_s_mean() -> None:
    line = summary(torch.tensor([[1.0, 9.0], [3.0, 5.0]]))
    assert line.startswith("median  4.000  mean  4.500  p90 ")
