"""Reading interpretable codes off an image with the inverse graphics network: its shape and
texture codes, the camera it was labelled with (refined by the network), and the background
around the object's predicted silhouette; and, for an image with no label, its camera
estimated by analysis by synthesis (colour, and the silhouette when a segmenter gives one)."""

from __future__ import annotations

import torch

from engine.styleganr.inverse_graphics import (
    InverseGraphicsNet,
    MeshImage,
    refine_camera,
    render_prediction,
)
from engine.styleganr.losses import colour_loss, iou_loss
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
    mask: torch.Tensor | None = None,
    refine: bool = False,
) -> torch.Tensor:
    """The camera ``[1, 3]`` among ``candidates [K, 3]`` (e.g. the labelled view cameras) in
    which the network's prediction for ``image [1, 3, H, W]`` best redraws the image.

    The network only corrects a given camera by a few degrees, so an unlabelled image is
    rendered in every candidate (each refined by the network) over itself and scored by
    `redraw_errors`; give the object's silhouette ``mask [1, 1, H, W]`` (a segmenter's)
    wherever there is one, since colour alone favours the smallest footprint. Pass the
    result to `encode_image` to refine it, or ask for it `refine`d here (the network's camera
    reading of the image, from its one prediction).
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
    )
    chosen = candidates[redraw_errors(rendered, image, mask).argmin()][None]  # [1, 3]
    return refine_camera(chosen, prediction.camera_correction) if refine else chosen


def redraw_errors(
    rendered: MeshImage, image: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """How badly each of K renders ``[K, 3, H, W]`` over ``image [1, 3, H, W]`` redraws it:
    the colour error ``[K]``, plus 1 − silhouette IoU with ``mask [1, 1, H, W]`` if given.

    Colour is compared over the image itself outside each render, so a render that covers
    only a sliver of the object (a car seen end-on) is barely penalised; the silhouette term
    charges it for the object it leaves uncovered.
    """
    count = len(rendered.image)
    errors = colour_loss(rendered.image, image.expand(count, -1, -1, -1))
    if mask is not None:
        errors = errors + iou_loss(rendered.mask, mask.expand(count, -1, -1, -1))
    return errors
