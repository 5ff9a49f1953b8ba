"""Reading interpretable codes off an image with the inverse graphics network: its shape and
texture codes, the camera it was labelled with (refined by the network), and the background
around the object's predicted silhouette."""

from __future__ import annotations

import torch

from engine.styleganr.inverse_graphics import InverseGraphicsNet, refine_camera, render_prediction
from engine.styleganr.mapping import StyleCodes, background_code


def encode_image(
    network: InverseGraphicsNet, images: torch.Tensor, cameras: torch.Tensor
) -> StyleCodes:
    """`StyleCodes` of ``images [N, 3, H, W]`` seen from (approximately) ``cameras [N, 3]``.

    Differentiable w.r.t. ``images``, so the mapping network's cycle loss can pass through it.
    """
    prediction = network(images)
    camera = refine_camera(cameras, prediction.camera_correction)
    silhouette = render_prediction(
        prediction.vertices,
        prediction.texture,
        network.template,
        camera,
        size=images.shape[-1],
        shift=prediction.shift,
    ).mask  # [N, 1, H, W]
    return StyleCodes(
        camera=camera,
        shape=prediction.shape_code,
        texture=prediction.texture_code,
        background=background_code(images, silhouette),
    )
