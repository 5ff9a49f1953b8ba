"""The app's pictures of engine tensors: depth near = white, normal maps in the usual colours
(red = right, green = up, blue = towards the viewer), small pictures enlarged whole."""

from __future__ import annotations

import pytest
import torch

from app.display import depth_picture, normal_picture, picture
from engine.render import normals_from_depth


def test_depth_pictures_show_near_as_white() -> None:
    depth = torch.tensor([[[0.9, 1.1]]])  # [1, 1, 2]: left near, right far
    picture = depth_picture(depth)  # enlarged, uint8 [H, W, 3]
    assert picture[0, 0].tolist() == [255, 255, 255] and picture[0, -1].tolist() == [0, 0, 0]


def test_normal_pictures_use_the_usual_colours() -> None:
    """On a dome nearer in its middle, the side on the picture's right faces right (red high),
    its top faces up (green high), and its middle faces the viewer (blue high)."""
    rows, cols = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    depth = 1.0 - 0.05 * (1 - rows**2 - cols**2).clamp(min=0).sqrt()  # [32, 32]
    picture = normal_picture(normals_from_depth(depth[None])).astype(int)  # [H', W', 3]
    step = picture.shape[0] // 32  # enlarged whole
    left, right = picture[16 * step, 6 * step], picture[16 * step, 25 * step]
    top, bottom = picture[6 * step, 16 * step], picture[25 * step, 16 * step]
    assert left[0] < 100 < 155 < right[0] and abs(left[1] - 128) < 8
    assert bottom[1] < 100 < 155 < top[1] and abs(top[0] - 128) < 8
    assert picture[16 * step, 16 * step, 2] > 250


@pytest.mark.parametrize(("size", "shown"), [((100, 100), (300, 300)), ((150, 200), (300, 400))])
def test_small_pictures_are_enlarged_at_least_to_the_display_side(
    size: tuple[int, int], shown: tuple[int, int]
) -> None:
    """A whole factor that brings the longer side to DISPLAY_SIDE (256) or past it."""
    assert picture(torch.zeros(1, 3, *size)).shape == (*shown, 3)
