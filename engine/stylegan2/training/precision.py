"""Numeric precision of the training step, chosen at run time.

bf16 autocast (with the networks' channels-last "fast" ops) is the fast path on CUDA GPUs
and on CPUs with native bf16 units (AVX512-BF16 or AMX); elsewhere oneDNN emulates bf16 and
fp32 is faster. 'auto' picks by that hardware test rather than by timing a probe, because a
probe's timings are noise on a machine shared with other jobs; `python -m bench.train`
measures the actual step times of both.
"""

from __future__ import annotations

from typing import Literal

import torch

from engine.stylegan2 import bf16_supported

PrecisionName = Literal["auto", "fp32", "bf16"]
ResolvedPrecision = Literal["fp32", "bf16"]


def resolve_precision(name: PrecisionName, device: torch.device) -> ResolvedPrecision:
    """'fp32' and 'bf16' are taken as asked; 'auto' is bf16 where `device` computes it natively."""
    if name in ("fp32", "bf16"):
        return name
    return "bf16" if bf16_supported(device) else "fp32"


def autocast(precision: ResolvedPrecision, device: torch.device) -> torch.autocast:
    """The autocast context for the forward passes of a training step."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
