"""The app's pictures of engine tensors: depth near = white, normal maps in the usual colours
(red = right, green = up, blue = towards the viewer), small pictures enlarged whole."""

from __future__ import annotations

import torch

from app.display import depth_picture, normal_picture


def test_depth_pictures_show_near_as_white() -> None:
    depth = torch.tensor([[[0.9, 1.1]]])  # [1, 1, 2]: left near, right far
    picture = depth_picture(depth)  # enlarged, uint8 [H, W, 3]
    assert picture[0, 0].tolist() == [255, 255, 255] and picture[0, -1].tolist() == [0, 0, 0]


def test_normal_pictures_use_the_usual_colours() -> None:
    """GAN2Shape's normals have y down, so a normal pointing up is (0, -1, 0): green."""
    normals = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])  # right, up, out
    picture = normal_picture(normals.T.reshape(1, 3, 1, 3))  # [1, 3, 1, 3]
    width = picture.shape[1] // 3
    right, up, out = (picture[0, k * width].tolist() for k in range(3))
    assert right == [255, 128, 128] and up == [128, 255, 128] and out == [128, 128, 255]
