"""Reading interpretable codes off an image with the inverse graphics network: its shape and
texture codes, the camera it was labelled with (refined by the network), and the background
around the object's predicted silhouette; and, for an image with no label, its camera
estimated by analysis by synthesis."""

from __future__ import annotations

import torch

from engine.styleganr.inverse_graphics import InverseGraphicsNet, refine_camera, render_prediction
from engine.styleganr.losses import colour_loss
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


@torch.no_grad()
def estimate_camera(
    network: InverseGraphicsNet,
    image: torch.Tensor,
    candidates: torch.Tensor,
    *,
    refine: bool = False,
) -> torch.Tensor:
    """The camera ``[1, 3]`` among ``candidates [K, 3]`` (e.g. the labelled view cameras) in
    which the network's prediction for ``image [1, 3, H, W]`` best redraws the image.

    The network only corrects a given camera by a few degrees, so an unlabelled image is
    rendered in every candidate (each refined by the network) over itself, and the candidate
    with the smallest colour error wins; pass it to `encode_image` to refine it, or ask for
    it `refine`d here (the network's camera reading of the image, from its one prediction).
    """
    count, size = len(candidates), image.shape[-1]
    prediction = network(image)
    rendered = render_prediction(
        prediction.vertices.expand(count, -1, -1),
        prediction.texture.expand(count, -1, -1, -1),
        network.template,
        refine_camera(candidates, prediction.camera_correction.expand(count, -1)),
        size=size,
        shift=prediction.shift.expand(count, -1),
        background=image.expand(count, -1, -1, -1),
    ).image  # [K, 3, H, W]
    error = colour_loss(rendered, image.expand(count, -1, -1, -1))  # [K]
    chosen = candidates[error.argmin()][None]  # [1, 3]
    return refine_camera(chosen, prediction.camera_correction) if refine else chosen
