"""Data parallelism across processes (torchrun: NCCL on CUDA, gloo on CPU), shared by GAN
training, GAN2Shape joint pretraining and batch reconstruction.

Every process draws the same seeded global batch and keeps its rows; gradients are averaged
with one all-reduce per optimiser step rather than by wrapping the networks in
DistributedDataParallel: DDP does not support `torch.autograd.grad`, which the GAN trainer's R1
and path-length penalties need, and it would sync at every backward (StyleGAN2's alternating
G/D phases, pretraining's per-sample backward passes). The arithmetic is the same: every
process applies the mean gradient.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from engine.device import resolve_device
from engine.errors import GANliftError

CPU = torch.device("cpu")


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = CPU
    """Where this process's collective tensors live (its GPU under NCCL)."""

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and reports progress."""
        return self.rank == 0

    def shard(self, tensor: torch.Tensor) -> torch.Tensor:
        """This process's share of a global batch: rows rank, rank + world, rank + 2·world, …

        Interleaving (rather than contiguous chunks) keeps each minibatch-stddev group of the
        GAN discriminator the same as in a single-process run of the same global batch.
        """
        return tensor[self.rank :: self.world_size]

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a (small) tensor over all processes."""
        if self.world_size == 1:
            return value
        total = value.detach().clone()
        dist.all_reduce(total)
        return total / self.world_size

    def any(self, flag: bool) -> bool:
        """Whether `flag` is true in any process (so that all processes stop at the same step)."""
        if self.world_size == 1:
            return flag
        vote = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(vote, op=dist.ReduceOp.MAX)
        return bool(vote.item())

    def average_gradients(self, module: nn.Module) -> None:
        """Replace the gradients of `module` by their mean over all processes (one all-reduce)."""
        if self.world_size == 1:
            return
        grads = [param.grad for param in module.parameters() if param.grad is not None]
        flat = torch.cat([grad.flatten() for grad in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        for grad, reduced in zip(grads, flat.split([grad.numel() for grad in grads]), strict=True):
            grad.copy_(reduced.view_as(grad))


def current_process_group(device: torch.device = CPU) -> ProcessGroup:
    """The initialised torch.distributed group (this process on `device`), or a single process."""
    if dist.is_available() and dist.is_initialized():
        return ProcessGroup(dist.get_rank(), dist.get_world_size(), device)
    return ProcessGroup(device=device)


def _world_size() -> int:
    """The process count torchrun sets in WORLD_SIZE (1 where it is unset or empty); a value
    that is no count, or a count without the rest of torchrun's variables, is refused."""
    text = os.environ.get("WORLD_SIZE", "").strip() or "1"
    if not (text.isascii() and text.isdigit()) or int(text) < 1:  # '²' is a digit to isdigit
        raise GANliftError(
            f"WORLD_SIZE is {text[:20]!r}, not a number of processes; unset it, or start the "
            "command with torchrun."
        )
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if int(text) > 1 and missing:
        raise GANliftError(
            f"WORLD_SIZE is {text} but torchrun's other variables are missing "
            f"({', '.join(missing)}); start the command with torchrun --nproc-per-node {text}, "
            "or unset WORLD_SIZE."
        )
    return int(text)


@contextmanager
def process_group_from_environment(device_name: str = "auto") -> Iterator[torch.device]:
    """Join the process group that torchrun describes (WORLD_SIZE, RANK, LOCAL_RANK), if any,
    for the duration of a `with`; yields this process's device (its own GPU under torchrun on
    CUDA, else `resolve_device(device_name)`).
    """
    device = resolve_device(device_name)
    if _world_size() == 1 or dist.is_initialized():
        yield device
        return
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl", device_id=device)  # the GPU its barriers use
    else:
        dist.init_process_group(backend="gloo")
    try:
        yield device
        dist.barrier()  # no rank tears the group down while a peer still closes the last collective
    finally:
        dist.destroy_process_group()
