"""Two gloo processes on the CPU train exactly what one process does with the same global batch."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from engine.stylegan2.safe_pickle import load_torch_file
from engine.stylegan2.training import train_gan
from tests.gloo import gloo_group
from tests.tiny import tiny_train_config, write_random_images

CONFIG = tiny_train_config(batch=8, kimg=0.024, snapshot_kimg=1.0, sample_count=2)
"""3 steps: R1 and path length at steps 0 and 2."""


def _train_in_process(rank: int, world_size: int, rendezvous: str, data: str, out: str) -> None:
    """One of the spawned training processes."""
    torch.set_num_threads(1)
    with gloo_group(rank, world_size, rendezvous):
        train_gan(data, out, config=CONFIG, device=torch.device("cpu"))


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    data = write_random_images(tmp_path / "images")
    mp.spawn(
        _train_in_process,
        args=(2, str(tmp_path / "rendezvous"), str(data), str(tmp_path / "two")),
        nprocs=2,
        join=True,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train_gan(data, tmp_path / "one", config=CONFIG, device=torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)
    expected = load_torch_file(single.state_path)
    actual = load_torch_file(tmp_path / "two" / single.state_path.name)
    assert actual["step"] == expected["step"] == 3
    assert torch.equal(actual["rng"]["train"], expected["rng"]["train"])
    for network in ("G", "D", "G_ema"):
        for name, tensor in expected[network].items():
            # Equal up to the order of floating-point sums. Adam divides by |gradient|, so where
            # a gradient is nearly zero rounding can flip a step's sign and move that one weight
            # by up to 2 lr per step; the tensor's RMS difference must still stay under 5% of
            # one lr step (training each half without the all-reduce differs by about one step).
            difference = actual[network][name] - tensor
            rms = difference.square().mean().sqrt().item()
            assert rms < 0.05 * CONFIG.g_lr, (network, name, rms)
            assert difference.abs().max().item() <= 2 * CONFIG.g_lr * 3, (network, name)
    assert torch.allclose(actual["pl_mean"], expected["pl_mean"], rtol=1e-5)


def test_torchrun_on_cuda_binds_each_process_to_its_own_gpu(monkeypatch) -> None:
    """Under torchrun on CUDA a process takes the GPU LOCAL_RANK names and tells NCCL so, and its
    closing barrier runs there (without device_id torch guesses, and warns)."""
    distributed = importlib.import_module("engine.distributed")
    calls = []
    for name, value in (("WORLD_SIZE", "4"), ("RANK", "3"), ("LOCAL_RANK", "3")):
        monkeypatch.setenv(name, value)
    for name, value in (("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")):
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(distributed, "resolve_device", lambda name: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("gpu", device)))
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(
        distributed.dist, "init_process_group", lambda **options: calls.append(("init", options))
    )
    monkeypatch.setattr(distributed.dist, "barrier", lambda: calls.append(("barrier", None)))
    monkeypatch.setattr(
        distributed.dist, "destroy_process_group", lambda: calls.append(("end", None))
    )
    with distributed.process_group_from_environment("cuda") as device:
        assert device == torch.device("cuda", 3)
    assert calls == [
        ("gpu", torch.device("cuda", 3)),
        ("init", {"backend": "nccl", "device_id": torch.device("cuda", 3)}),
        ("barrier", None),
        ("end", None),
    ]
