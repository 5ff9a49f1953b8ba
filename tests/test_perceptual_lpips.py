"""LPIPS without torchvision: official key layouts load strictly, the distance behaves, and
nothing is downloaded when GANLIFT_OFFLINE=1."""

from __future__ import annotations

import copy
import errno
import math
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from engine import perceptual
from engine.errors import GANliftError
from engine.perceptual import (
    LPIPS,
    LPIPS_VGG_WEIGHTS,
    VGG16_WEIGHTS,
    DiscriminatorFeatureLoss,
    downloads_allowed,
    load_lpips,
    perceptual_loss,
)
from tests.tiny import random_image_pair, tiny_discriminator

VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
VGG16_CONV_CHANNELS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
LPIPS_CHANNELS = (64, 128, 256, 512, 512)


def official_vgg16_state(seed: int) -> dict[str, torch.Tensor]:
    """Random He-initialised weights in torchvision's vgg16 key layout (classifier shrunk)."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    in_channels = 3
    for index, channels in zip(VGG16_CONV_INDICES, VGG16_CONV_CHANNELS, strict=True):
        std = math.sqrt(2.0 / (in_channels * 9))
        shape = (channels, in_channels, 3, 3)
        state[f"features.{index}.weight"] = torch.randn(shape, generator=generator) * std
        state[f"features.{index}.bias"] = torch.zeros(channels)
        in_channels = channels
    state["classifier.0.weight"] = torch.zeros(2, 2)  # stands in for the unused classifier
    return state


def official_lpips_state(seed: int, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """Random non-negative head weights in the lpips package's v0.1 key layout."""
    generator = torch.Generator().manual_seed(seed)
    return {
        f"lin{k}.model.1.weight": torch.rand(1, channels, 1, 1, generator=generator) * scale
        for k, channels in enumerate(LPIPS_CHANNELS)
    }


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub directory holding both weight files in the official layouts."""
    hub = tmp_path_factory.mktemp("hub")
    (hub / "checkpoints").mkdir()
    torch.save(official_vgg16_state(0), hub / "checkpoints" / VGG16_WEIGHTS.file_name)
    torch.save(official_lpips_state(1), hub / "checkpoints" / LPIPS_VGG_WEIGHTS.file_name)
    return hub


@pytest.fixture
def hub_dir(weight_files: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(weight_files))
    return weight_files


@pytest.fixture(scope="module")
def loaded(weight_files: Path) -> LPIPS:
    """One LPIPS loaded from the official layouts, shared by the read-only tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.hub, "get_dir", lambda: str(weight_files))
        return load_lpips()


@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    return tmp_path


@pytest.fixture
def no_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, torch.Tensor]:
    return random_image_pair(seed=2)


def test_state_dict_keys_match_the_official_layouts() -> None:
    model = LPIPS()
    expected_vgg = {key for key in official_vgg16_state(0) if key.startswith("features.")}
    assert set(model.vgg.state_dict()) == expected_vgg
    assert set(model.heads.state_dict()) == set(official_lpips_state(0))


def test_official_layouts_load_strictly_and_frozen(hub_dir: Path, no_downloads: None) -> None:
    model = load_lpips()
    expected = official_lpips_state(1)["lin3.model.1.weight"]
    assert torch.equal(model.heads["lin3"].model[1].weight, expected)
    assert not model.training
    assert not any(parameter.requires_grad for parameter in model.parameters())


def test_the_weight_files_are_read_once_until_they_change(
    tmp_path: Path, no_downloads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app builds LPIPS for every reconstruction and read the 528 MB VGG16 file each time."""
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    vgg = hub / "checkpoints" / VGG16_WEIGHTS.file_name
    torch.save(official_vgg16_state(0), vgg)
    torch.save(official_lpips_state(1), hub / "checkpoints" / LPIPS_VGG_WEIGHTS.file_name)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    reads: list[Path] = []
    read = perceptual.read_torch_file
    monkeypatch.setattr(
        perceptual, "read_torch_file", lambda path, **kw: reads.append(path) or read(path, **kw)
    )
    first, second = load_lpips(), load_lpips()
    assert len(reads) == 2 and first is not second  # each caller gets a model of its own
    assert torch.equal(first.vgg.features[0].weight, second.vgg.features[0].weight)
    torch.save(official_vgg16_state(5), vgg)  # rewritten in place: read again
    os.utime(vgg, ns=(vgg.stat().st_atime_ns, vgg.stat().st_mtime_ns + 10**9))  # coarse clocks
    changed = load_lpips().vgg.features[0].weight
    assert len(reads) == 4 and not torch.equal(changed, first.vgg.features[0].weight)


def test_distance_is_zero_for_identity_symmetric_and_positive(
    loaded: LPIPS, images: tuple[torch.Tensor, torch.Tensor]
) -> None:
    model = loaded
    first, second = images
    with torch.no_grad():
        assert torch.allclose(model(first, first), torch.zeros(2), atol=1e-6)
        forward, backward = model(first, second), model(second, first)
    assert forward.shape == (2,)
    assert torch.allclose(forward, backward, rtol=1e-5)
    assert torch.all(forward > 0)


def test_distance_is_linear_in_the_head_weights(
    loaded: LPIPS, images: tuple[torch.Tensor, torch.Tensor]
) -> None:
    model = copy.deepcopy(loaded)
    with torch.no_grad():
        before = model(*images)
        for head in model.heads.values():
            head.model[1].weight.mul_(3.0)
        assert torch.allclose(model(*images), 3.0 * before, rtol=1e-5)


def reference_vgg_taps(state: dict[str, torch.Tensor], image: torch.Tensor) -> list[torch.Tensor]:
    """relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 of torchvision-layout VGG16 weights,
    after LPIPS's input scaling (the lpips package's constants), written out independently."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    x = (image - shift) / scale
    taps, convs = [], iter(VGG16_CONV_INDICES)
    for block, count in enumerate((2, 2, 3, 3, 3)):
        if block:
            x = F.max_pool2d(x, 2)
        for _ in range(count):
            index = next(convs)
            x = F.relu(
                F.conv2d(
                    x, state[f"features.{index}.weight"], state[f"features.{index}.bias"], padding=1
                )
            )
        taps.append(x)
    return taps


def test_unit_head_weights_give_mean_squared_chordal_distance(
    loaded: LPIPS, images: tuple[torch.Tensor, torch.Tensor]
) -> None:
    """With all head weights 1, each layer adds the mean of |a/|a| - b/|b||^2 = 2 - 2 cos,
    a and b the VGG16 activations of a reference written out here."""
    model = copy.deepcopy(loaded)
    first, second = images
    state = official_vgg16_state(0)  # what `loaded` read
    with torch.no_grad():
        for head in model.heads.values():
            head.model[1].weight.fill_(1.0)
        expected = sum(
            (2 - 2 * torch.cosine_similarity(a, b, dim=1, eps=1e-20)).mean(dim=(1, 2))
            for a, b in zip(
                reference_vgg_taps(state, first), reference_vgg_taps(state, second), strict=True
            )
        )
        assert torch.allclose(model(first, second), expected, rtol=1e-4)


def test_gradient_flows_to_the_image(loaded: LPIPS, images: tuple[torch.Tensor, ...]) -> None:
    first = images[0].clone().requires_grad_(True)
    loaded(first, images[1]).sum().backward()
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_wrong_layout_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_downloads: None
) -> None:
    (tmp_path / "checkpoints").mkdir()
    vgg_state = official_vgg16_state(0)
    del vgg_state["features.28.bias"]
    torch.save(vgg_state, tmp_path / "checkpoints" / VGG16_WEIGHTS.file_name)
    torch.save(official_lpips_state(1), tmp_path / "checkpoints" / LPIPS_VGG_WEIGHTS.file_name)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(GANliftError, match=r"does not match vgg16-397923af\.pth's layout"):
        load_lpips()


@pytest.mark.parametrize(
    "damaged",
    [b"not a checkpoint", b"\x80\x02}q\x00(X\x01\x00\x00\x00\xffq", b"\x80\x02K\x01K\x02\x86t."],
)  # the unpickler's own error, a UnicodeDecodeError, an IndexError (these two were tracebacks)
def test_damaged_file_is_a_clear_error(empty_hub: Path, no_downloads: None, damaged: bytes) -> None:
    (empty_hub / "checkpoints").mkdir()
    (empty_hub / "checkpoints" / VGG16_WEIGHTS.file_name).write_bytes(damaged)
    (empty_hub / "checkpoints" / LPIPS_VGG_WEIGHTS.file_name).write_bytes(b"")
    with pytest.raises(GANliftError, match="is damaged or not a PyTorch state dict"):
        load_lpips()
    with pytest.raises(GANliftError, match="is damaged or not a PyTorch state dict"):
        perceptual_loss("auto")  # no discriminator to fall back on: the file's own fault


def test_offline_without_weights_refuses_lpips_without_downloading(
    empty_hub: Path, no_downloads: None
) -> None:
    with pytest.raises(GANliftError, match=r"downloads are off \(GANLIFT_OFFLINE is set\)"):
        perceptual_loss("lpips")


def test_auto_without_weights_or_discriminator_says_what_to_do(
    empty_hub: Path, no_downloads: None
) -> None:
    with pytest.raises(GANliftError, match="No perceptual loss is available") as caught:
        perceptual_loss("auto")
    assert str(empty_hub / "checkpoints") in str(caught.value)


def test_auto_picks_lpips_when_weights_are_on_disk(hub_dir: Path, no_downloads: None) -> None:
    assert isinstance(perceptual_loss("auto"), LPIPS)


def test_missing_weights_are_downloaded_when_allowed(
    empty_hub: Path, weight_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []

    def fake_download(url: str, destination: str, hash_prefix: str | None = None) -> None:
        fetched.append(url)
        source = weight_files / "checkpoints" / Path(destination).name
        Path(destination).write_bytes(source.read_bytes())

    monkeypatch.setenv("GANLIFT_OFFLINE", "0")
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    assert isinstance(perceptual_loss("lpips"), LPIPS)
    assert fetched == [VGG16_WEIGHTS.url, LPIPS_VGG_WEIGHTS.url]
    assert (empty_hub / "checkpoints" / LPIPS_VGG_WEIGHTS.file_name).is_file()
    assert isinstance(perceptual_loss("auto"), LPIPS)  # now on disk


def test_auto_never_downloads_even_when_allowed(
    empty_hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_download(url: str, destination: str, hash_prefix: str | None = None) -> None:
        raise AssertionError(f"auto downloaded {url}")

    monkeypatch.setenv("GANLIFT_OFFLINE", "0")
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    auto = perceptual_loss("auto", discriminator=tiny_discriminator(16))
    assert isinstance(auto, DiscriminatorFeatureLoss)


def test_failed_download_is_a_clear_error(empty_hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(url: str, destination: str, hash_prefix: str | None = None) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setenv("GANLIFT_OFFLINE", "0")
    monkeypatch.setattr(torch.hub, "download_url_to_file", unreachable)
    with pytest.raises(GANliftError, match=r"Could not download .*network is unreachable"):
        perceptual_loss("lpips")


def test_a_hub_cache_under_a_file_names_the_cache_and_torch_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_the_way = tmp_path / "hub"
    in_the_way.write_text("not a folder")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(in_the_way))
    monkeypatch.setenv("GANLIFT_OFFLINE", "0")
    with pytest.raises(GANliftError, match=r"cannot store its weights in .*hub.*TORCH_HOME"):
        perceptual_loss("lpips")


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.ENOSPC])
def test_an_unwritable_hub_cache_is_not_called_a_failed_download(
    empty_hub: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def refused(url: str, destination: str, hash_prefix: str | None = None) -> None:
        raise OSError(code, os.strerror(code), destination)

    monkeypatch.setenv("GANLIFT_OFFLINE", "0")
    monkeypatch.setattr(torch.hub, "download_url_to_file", refused)
    with pytest.raises(GANliftError, match=rf"{os.strerror(code)}.*TORCH_HOME") as caught:
        perceptual_loss("lpips")
    assert "Could not download" not in str(caught.value)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(GANliftError, match="Unknown perceptual loss 'vgg'"):
        perceptual_loss("vgg")  # type: ignore[arg-type]


def test_every_way_of_saying_offline_is_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """GANLIFT_OFFLINE=true, yes or TRUE downloaded all the same: only 1 was read."""
    for value in ("1", "true", "TRUE", "yes", "on", " 1 ", "anything"):
        monkeypatch.setenv("GANLIFT_OFFLINE", value)
        assert not downloads_allowed(), value
    for value in ("", "0", "false", "No", "off"):
        monkeypatch.setenv("GANLIFT_OFFLINE", value)
        assert downloads_allowed(), value
