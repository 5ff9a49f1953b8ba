"""The CUDA paths against the CPU's results, for a machine with a GPU (skipped without one):
the GAN's passes, a training run on the GPU resumed on the CPU, a GAN2Shape recovery,
StyleGAN-R's camera control and mesh reading, the torch rasterizer, and torch's CUDA random
streams, which library calls must leave as they were. TF32 is off, so the two devices agree
to float32's rounding; what runs many steps is compared more loosely, as kernels sum in
another order."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.gan2shape import recover
from engine.perceptual import DiscriminatorFeatureLoss
from engine.randomness import global_rng_kept
from engine.render import apply_transform, orbit_camera, perspective, rasterize
from engine.stylegan2 import Generator, load_checkpoint
from engine.stylegan2.training import train_gan
from engine.styleganr import load_styleganr, sample, set_camera
from engine.styleganr.edit import car_to_mesh
from engine.styleganr.view_codes import sample_w
from tests.tiny import tiny_gan, tiny_gan2shape_preset, tiny_train_config, write_random_images

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def no_tf32() -> Iterator[None]:
    """Full float32 matrix products and convolutions on the GPU, as on the CPU."""
    kept = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = kept


def test_the_gan_draws_and_judges_on_the_gpu_as_on_the_cpu() -> None:
    with global_rng_kept(0):
        G, D = tiny_gan(32)
        z = torch.randn(4, G.style_dim)
    with torch.no_grad():
        images = G(z)
        logits = D(images)
        G, D = G.to(CUDA), D.to(CUDA)
        gpu_images = G(z.to(CUDA))
        gpu_logits = D(gpu_images)
    torch.testing.assert_close(gpu_images.cpu(), images, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gpu_logits.cpu(), logits, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_a_run_trained_on_the_gpu_resumes_on_the_cpu(precision: str, tmp_path: Path) -> None:
    """The files a run writes hold CPU tensors wherever it trained (bfloat16 autocast on a GPU
    that has it), so the run resumes on the CPU."""
    data, out = tmp_path / "images", tmp_path / "run"
    write_random_images(data)
    config = tiny_train_config(batch=4, kimg=0.008, snapshot_kimg=0.004, precision=precision)
    train_gan(data, out, config=config, device=CUDA)
    for name in ("model.pt", "training-state.pt"):  # read as stored, not moved to a device
        with torch.serialization.safe_globals([argparse.Namespace]):  # model.pt's `args`
            stored = _tensors(torch.load(out / name, weights_only=True))
        assert stored and {tensor.device.type for tensor in stored} == {"cpu"}
    resumed = train_gan(data, out, config=replace(config, kimg=0.012), resume=True, device="cpu")
    assert resumed.step == 3
    with torch.no_grad():
        image = load_checkpoint(out / "model.safetensors").generator(torch.zeros(1, 16))
    assert torch.isfinite(image).all()


def _tensors(stored: object) -> list[torch.Tensor]:
    """Every tensor in a loaded file's nested dicts, lists and tuples."""
    if isinstance(stored, torch.Tensor):
        return [stored]
    if isinstance(stored, dict):
        stored = list(stored.values())
    if isinstance(stored, list | tuple):
        return [tensor for item in stored for tensor in _tensors(item)]
    return []


def test_a_recovery_on_the_gpu_ends_where_the_cpus_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """The prior step and two iterations of each phase, both drawn by the torch rasterizer (a
    GPU with nvdiffrast would pick it, which covers edge pixels a little differently): both
    devices end close to each other."""
    monkeypatch.setenv("GANLIFT_RASTERIZER", "torch")
    with global_rng_kept(0):
        G, D = tiny_gan(16)
    latent = G.mean_latent(8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        image = G.synthesis(latent).clamp(-1, 1)  # [1, 3, 16, 16]
    preset = tiny_gan2shape_preset(16, num_stages=1, prior_steps=1, inversion_steps=1)
    runs = {}
    for device in ("cpu", CUDA):
        G_on, D_on = G.to(device), D.to(device)
        runs[str(device)] = recover(
            G_on, D_on, image.to(device), preset=preset, latent=latent.to(device),
            perceptual=DiscriminatorFeatureLoss(D_on), seed=0,
        )  # fmt: skip
    cpu, gpu = runs["cpu"], runs["cuda"]
    assert gpu.depth.device.type == CUDA.type  # a recovery stays where it ran
    for name in ("depth", "albedo", "view", "light"):
        torch.testing.assert_close(
            getattr(gpu, name).cpu(), getattr(cpu, name).cpu(), rtol=1e-2, atol=1e-2
        )


def test_the_shipped_car_model_turns_and_reads_cars_on_the_gpu_as_on_the_cpu() -> None:
    models = {
        device: load_styleganr("default-car-styleganr", device=device) for device in ("cpu", "cuda")
    }
    turned = {}
    for device, model in models.items():
        target = sample(model, 2, seed=1)
        turned[device] = set_camera(model, target, azimuth=90.0, elevation=10.0).image
        assert turned[device].device.type == device
    torch.testing.assert_close(turned["cuda"].cpu(), turned["cpu"], rtol=1e-3, atol=1e-3)
    meshes = {device: car_to_mesh(model, turned["cpu"][:1]) for device, model in models.items()}
    torch.testing.assert_close(
        torch.as_tensor(meshes["cuda"].vertices), torch.as_tensor(meshes["cpu"].vertices),
        rtol=1e-3, atol=1e-3,
    )  # fmt: skip


def test_the_torch_rasterizer_covers_the_same_pixels_on_the_gpu() -> None:
    vertices = torch.tensor([[[-0.5, -0.5, 0.0], [0.5, -0.4, 0.1], [0.0, 0.6, -0.1]]])
    camera = orbit_camera(torch.tensor([0.3]), torch.tensor([0.2]), torch.tensor([3.0]))
    clip = apply_transform(apply_transform(vertices, camera)[..., :3], perspective(40.0))
    faces = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    on_cpu = rasterize(clip, faces, (32, 32), backend="torch")
    on_gpu = rasterize(clip.to(CUDA), faces.to(CUDA), (32, 32), backend="torch")
    assert torch.equal(on_gpu[..., 3].cpu(), on_cpu[..., 3]) and on_cpu[..., 3].any()
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-4, atol=1e-4)


def test_seeded_draws_are_the_same_on_either_device() -> None:
    """A seed names one sample, one truncation centre and one set of noise maps on any device
    (they were drawn with the device's own generator, whose numbers differ from the CPU's)."""
    with global_rng_kept(0):
        G = tiny_gan(16)[0].eval()
    cpu_draws = _seeded_draws(G)
    for got, expected in zip(_seeded_draws(G.to(CUDA)), cpu_draws, strict=True):
        assert got.device.type == CUDA.type
        torch.testing.assert_close(got.cpu(), expected, rtol=1e-4, atol=1e-5)


def _seeded_draws(G: Generator) -> list[torch.Tensor]:
    with torch.no_grad():
        return [
            G.truncation_centre(),
            sample_w(G, 3, seed=5),
            G.mean_latent(8, generator=torch.Generator().manual_seed(2)),
            *G.make_noise(2, generator=torch.Generator().manual_seed(3)),
        ]


def test_a_seeded_recovery_leaves_the_callers_cuda_stream_alone() -> None:
    with global_rng_kept(0):
        G, D = (network.to(CUDA) for network in tiny_gan(16))
    latent = G.mean_latent(8, generator=torch.Generator(CUDA).manual_seed(0))
    with torch.no_grad():
        image = G.synthesis(latent).clamp(-1, 1)
    preset = tiny_gan2shape_preset(16, num_stages=1, prior_steps=1, inversion_steps=1)
    torch.cuda.manual_seed(1234)
    expected = torch.rand(4, device=CUDA)
    torch.cuda.manual_seed(1234)
    recover(G, D, image, preset=preset, latent=latent, perceptual=DiscriminatorFeatureLoss(D))
    assert torch.equal(torch.rand(4, device=CUDA), expected)
