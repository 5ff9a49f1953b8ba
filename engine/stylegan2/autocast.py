"""Optional bfloat16 autocast for fast inference and training, only where the hardware has it.

fp32 stays the default (parity tests need it); bf16 is a choice the caller makes explicitly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def bf16_supported(device: torch.device | str) -> bool:
    """Whether `device` runs bfloat16 matmuls/convs natively (AVX512-BF16/AMX on CPU, compute
    capability 8.0 or above on CUDA; older GPUs only emulate it, slowly)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device) >= (8, 0)
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


@contextlib.contextmanager
def bf16_autocast(device: torch.device | str, *, enabled: bool = True) -> Iterator[bool]:
    """Run the block under bfloat16 autocast when `enabled` and supported; yields whether it is."""
    device = torch.device(device)
    active = enabled and bf16_supported(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=active):
        yield active
