"""Gloo process groups for the multi-process CPU tests: on the loopback interface (a machine
whose host name resolves to an unreachable address cannot stall the rendezvous) and with a
short timeout, so a stuck peer fails the test in minutes instead of gloo's default 30."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import torch.distributed as dist

LOOPBACK = {"GLOO_SOCKET_IFNAME": "lo"}
"""Environment that keeps gloo (torchrun's processes included) on 127.0.0.1."""
TIMEOUT = timedelta(seconds=120)


@contextmanager
def gloo_group(rank: int, world_size: int, rendezvous: str) -> Iterator[None]:
    """Be one process of the CPU group whose rendezvous file is ``rendezvous`` for a `with`. On a
    clean exit the ranks meet at a barrier before tearing the group down: a rank that left while
    its peer was still closing the last collective's connections once aborted it (SIGABRT)."""
    os.environ.update(LOOPBACK)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{rendezvous}",
        rank=rank,
        world_size=world_size,
        timeout=TIMEOUT,
    )
    try:
        yield
        dist.barrier()
    finally:
        dist.destroy_process_group()
