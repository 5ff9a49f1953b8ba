"""View codes as a multi-view data source: each pair carries the cameras of the two different
views it shows, and `sample_w` pulls w towards the mean w by exactly the truncation."""

from __future__ import annotations

import re

import pytest
import safetensors.torch
import torch

from engine.errors import GANliftError
from engine.stylegan2 import Generator
from engine.styleganr import (
    ViewCodes,
    compose,
    gan_view_pairs,
    load_view_codes,
    render_multiview,
    sample_view_codes,
    save_view_codes,
)
from engine.styleganr.view_codes import sample_w
from tests.tiny import tiny_generator

SIZE = 16
NUM_VIEWS = 3
PAIRS = 64


@pytest.fixture()
def generator() -> Generator:
    return tiny_generator(SIZE, style_dim=16, n_mlp=2).eval()


def test_pairs_carry_the_cameras_of_the_two_different_views_they_show(
    generator: Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each image of a pair is labelled with its own view's camera, and the two views of a
    pair differ."""
    index = torch.arange(NUM_VIEWS, dtype=torch.float32)  # [V]
    codes = index[:, None, None].repeat(1, 2, generator.style_dim)  # view v's code is all v
    cameras = torch.stack([90 * index, torch.zeros(NUM_VIEWS), torch.ones(NUM_VIEWS)], 1)
    drawn: list[torch.Tensor] = []

    def synthesis(wplus: torch.Tensor) -> torch.Tensor:
        drawn.append(wplus[:, 0, 0])  # [2B] the view each image was drawn in
        return torch.zeros(len(wplus), 3, SIZE, SIZE)

    monkeypatch.setattr(generator, "synthesis", synthesis)
    source = gan_view_pairs(generator, ViewCodes(codes, cameras), lambda images: images[:, :1])
    pairs = source(PAIRS, torch.Generator().manual_seed(0))
    (views,) = drawn
    views = views.view(PAIRS, 2)
    assert torch.equal(pairs.cameras[..., 0], 90 * views)
    assert bool((views[:, 0] != views[:, 1]).all())


def test_sample_w_pulls_w_towards_the_mean_by_the_truncation(generator: Generator) -> None:
    """Truncation 0.7 leaves w 0.7 of its way from the mean (with the lerp's ends swapped,
    0.3)."""
    centre = generator.mean_latent(1024, generator=torch.Generator().manual_seed(0))  # [1, D]
    free = sample_w(generator, 8, seed=3, truncation=1.0)  # [8, D]
    truncated = sample_w(generator, 8, seed=3, truncation=0.7)
    ratio = (truncated - centre).norm(dim=1) / (free - centre).norm(dim=1)  # [8]
    assert torch.allclose(ratio, torch.full_like(ratio, 0.7))
    assert torch.allclose(truncated, torch.lerp(centre, free, 0.7), atol=1e-6)


def test_view_codes_take_one_camera_of_three_numbers_per_code(tmp_path) -> None:
    """Cameras are [N, 3] for N view codes, built or loaded."""
    codes = torch.zeros(3, 2, 16)
    for cameras in (torch.zeros(2, 3), torch.zeros(3, 2), torch.zeros(3)):
        shape = list(cameras.shape)
        with pytest.raises(GANliftError, match=re.escape(f"must be [3, 3], got {shape}.")):
            ViewCodes(codes, cameras)
    path = tmp_path / "views.safetensors"
    safetensors.torch.save_file({"codes": codes, "cameras": torch.zeros(4, 3)}, str(path))
    with pytest.raises(GANliftError, match=re.escape("View cameras must be [3, 3], got [4, 3]")):
        load_view_codes(path)


def test_compose_keeps_a_wplus_contents_own_rows_after_the_view_rows(
    generator: Generator,
) -> None:
    """compose puts the view rows first and keeps the W+ content's own later rows."""
    num_ws, width = generator.num_ws, generator.style_dim
    view_codes = torch.randn(2, 2, width)
    content = torch.arange(2 * num_ws, dtype=torch.float32)[:, None].expand(-1, width)
    content = content.reshape(2, num_ws, width)  # every row its own value
    wplus = compose(view_codes, content, num_ws)
    assert torch.equal(wplus[:, :2], view_codes)
    assert torch.equal(wplus[:, 2:], content[:, 2:])


def test_multiview_images_are_indexed_by_content_then_view(generator: Generator) -> None:
    """render_multiview's [content, view] image is that content drawn under that view alone."""
    views = sample_view_codes(generator, 3, num_view_layers=2, seed=1, truncation=1.0)
    content = sample_w(generator, 2, seed=4, truncation=1.0)
    images = render_multiview(generator, views, content, batch_size=4)  # [2, 3, 3, H, W]
    for c, v in ((0, 1), (1, 0), (1, 2)):
        alone = generator.synthesis(
            compose(views.codes[v : v + 1], content[c : c + 1], generator.num_ws)
        )
        torch.testing.assert_close(images[c, v], alone[0], atol=1e-5, rtol=1e-5)


def test_pairs_need_two_labelled_views_before_any_is_drawn(generator: Generator) -> None:
    """One labelled view makes no pair: refused before drawing."""
    one = ViewCodes(torch.zeros(1, 2, generator.style_dim), torch.tensor([[0.0, 10.0, 1.0]]))
    with pytest.raises(GANliftError, match="Multi-view pairs need at least two labelled view"):
        gan_view_pairs(generator, one, lambda images: images[:, :1])


def test_no_view_codes_are_drawn_for_a_count_below_one(generator: Generator) -> None:
    """A count of 0 is refused by name, not as empty [0, L, D] codes."""
    with pytest.raises(GANliftError, match="number of view codes must be at least 1, got 0"):
        sample_view_codes(generator, 0, num_view_layers=2)


def test_a_view_code_file_without_codes_is_refused_in_a_sentence(tmp_path) -> None:
    """A safetensors file lacking the codes tensor is refused as holding no view codes."""
    path = tmp_path / "cameras.safetensors"
    safetensors.torch.save_file({"cameras": torch.zeros(2, 3)}, str(path))
    with pytest.raises(GANliftError, match="holds no view codes"):
        load_view_codes(path)


def test_view_code_files_store_float32_cameras(tmp_path) -> None:
    """Cameras of any float type are written as float32 and read back equal."""
    cameras = torch.tensor([[10.5, 5.0, 1.25], [200.0, -3.0, 0.875]], dtype=torch.float64)
    views = ViewCodes(torch.zeros(2, 2, 16), cameras)
    loaded = load_view_codes(save_view_codes(views, tmp_path / "views.safetensors"))
    assert loaded.labelled().dtype == torch.float32
    assert torch.equal(loaded.labelled(), cameras.float())


def test_view_codes_as_long_as_wplus_are_refused_by_compose(generator: Generator) -> None:
    """View codes must leave at least one content row of W+; all num_ws rows are refused."""
    content = torch.zeros(1, generator.style_dim)
    codes = torch.zeros(1, generator.num_ws, generator.style_dim)
    assert compose(codes[:, :-1], content, generator.num_ws).shape == codes.shape
    with pytest.raises(GANliftError, match="drawn from another GAN than this one"):
        compose(codes, content, generator.num_ws)


def test_multiview_progress_counts_up_to_the_number_of_images(generator: Generator) -> None:
    """Progress reports images done per batch, the last batch ending at exactly C * V."""
    views = sample_view_codes(generator, 3, num_view_layers=2, seed=1)
    content = sample_w(generator, 2, seed=4)
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int, _: str) -> None:
        calls.append((done, total))

    render_multiview(generator, views, content, batch_size=4, progress=progress)
    assert calls == [(4, 6), (6, 6)]
