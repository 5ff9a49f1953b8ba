"""Latent files: plain dicts of tensors, written atomically, validated when read back."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.errors import GANliftError
from engine.inversion import check_latent_fits, load_latent, save_latent
from tests.tiny import tiny_generator


def test_round_trip_keeps_latent_and_noises(tmp_path: Path) -> None:
    latent = torch.randn(1, 6, 16)
    noises = [torch.randn(1, 1, 4, 4), torch.randn(1, 1, 8, 8)]
    path = save_latent(tmp_path / "out" / "latent.pt", latent, noises)
    saved = load_latent(path, style_dim=16, num_ws=6)
    assert torch.equal(saved.latent, latent)
    assert all(torch.equal(a, b) for a, b in zip(saved.noises, noises, strict=True))
    assert [p.name for p in path.parent.iterdir()] == ["latent.pt"]  # no temp file left


def test_file_is_a_plain_dict_readable_with_weights_only(tmp_path: Path) -> None:
    latent = torch.randn(1, 16, requires_grad=True)
    path = save_latent(tmp_path / "latent.pt", latent)
    data = torch.load(path, weights_only=True)
    assert list(data) == ["latent"] and torch.equal(data["latent"], latent.detach())


def test_noise_order_follows_the_layer_index_past_nine(tmp_path: Path) -> None:
    noises = [torch.full((1, 1, 2, 2), float(i)) for i in range(12)]
    saved = load_latent(save_latent(tmp_path / "latent.pt", torch.zeros(1, 4), noises))
    assert [int(noise[0, 0, 0, 0]) for noise in saved.noises] == list(range(12))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"latent": torch.tensor([[0.0, float("nan")]])}, "NaN or infinite"),
        ({"latent": torch.zeros(1, 2), "noise_0": torch.full((1, 1, 2, 2), float("inf"))}, "NaN"),
        ({"latent": torch.zeros(2, 16)}, r"shape \[2, 16\]; expected \[1, 16\]"),
        ({"latent": torch.zeros(1, 16), "noise_0": torch.zeros(4, 4)}, r"not shaped \[1, 1"),
        ({"w": torch.zeros(1, 16)}, "holds no 'latent' tensor"),
        ([torch.zeros(1, 16)], "holds no 'latent' tensor"),
        ({"latent": torch.zeros(1, 16, dtype=torch.int64)}, "not floating-point tensors"),
        ({"latent": torch.zeros(1, 16, dtype=torch.complex64)}, "not floating-point tensors"),
    ],
    ids=["nan", "inf-noise", "batch", "noise-shape", "no-key", "not-a-dict", "int", "complex"],
)
def test_invalid_content_is_refused(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "bad.pt"
    torch.save(content, path)
    with pytest.raises(GANliftError, match=message):
        load_latent(path)


def test_keys_other_than_the_noises_are_not_read_as_names(tmp_path: Path) -> None:
    """An int key beside the latent was matched as a noise name: TypeError."""
    torch.save({"latent": torch.zeros(1, 16), 5: torch.zeros(1)}, tmp_path / "latent.pt")
    assert load_latent(tmp_path / "latent.pt").noises == []


def test_latent_must_fit_the_generator(tmp_path: Path) -> None:
    path = save_latent(tmp_path / "latent.pt", torch.zeros(1, 8, 16))
    with pytest.raises(GANliftError, match=r"expected \[1, 16\] or \[1, 6, 16\]"):
        load_latent(path, style_dim=16, num_ws=6)
    with pytest.raises(GANliftError, match=r"expected \[1, 32\] or \[1, 8, 32\]"):
        load_latent(path, style_dim=32)


def test_pickled_code_is_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"latent": torch.zeros(1, 4), "payload": Path("x")}, path)
    with pytest.raises(GANliftError, match="damaged or not a latent file"):
        load_latent(path)


def test_missing_and_damaged_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(GANliftError, match=r"nothing\.pt does not exist"):
        load_latent(tmp_path / "nothing.pt")
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"\x00garbage")
    with pytest.raises(GANliftError, match="damaged or not a latent file"):
        load_latent(damaged)


def test_a_latent_fits_its_own_framing_within_a_few_levels_and_no_other(tmp_path: Path) -> None:
    """A file keeps a thumbnail of the framed image it inverted: the same image re-encoded
    (two 8-bit levels off) passes, one eight levels brighter, as another crop of a photo
    would differ, is refused (the check's limit is four levels)."""
    G = tiny_generator(16, style_dim=16)
    image = 0.5 * torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) - 0.25
    path = save_latent(tmp_path / "latent.pt", torch.zeros(1, 16), target=image, generator=G)
    latent = load_latent(path, style_dim=16)
    check_latent_fits(latent, G, image + 2 * 2 / 255)
    with pytest.raises(GANliftError, match="inverts another crop of this image"):
        check_latent_fits(latent, G, image + 8 * 2 / 255)
