"""torch's global random generators around library calls: seeded where a call must be
reproducible and restored afterwards, so that a caller's own stream (`torch.manual_seed(0)`,
then our call, then `torch.rand(1)`) draws the same numbers as without the call between."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def global_rng_kept(seed: int | None = None) -> Iterator[None]:
    """Inside the block, torch's global generators seeded with `seed` (left as they are when
    None); after it, back as they were. The CUDA generators are kept where CUDA is in use."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        if seed is not None:
            torch.manual_seed(seed)
        yield
