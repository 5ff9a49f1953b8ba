"""From a user's photo to GAN2Shape's input: a square crop in the GAN's frame and an object mask.

Faces are found with OpenCV's bundled frontal-face Haar cascade and cropped with the box
enlarged around the detection, so the crop frames the head as GAN2Shape's CelebA crops do
(forehead to chin plus a margin of hair and background). Other categories keep the photo's
whole width, so that a car photographed side-on keeps both ends.
Objects that need a mask get one by GrabCut from a centred rectangle, unless the user supplies
a mask image.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.brief import brief_repr
from engine.errors import GANliftError
from engine.images import (
    CROP_SIDE_LIMIT,
    Box,
    check_not_flat,
    checked_image,
    checked_mask,
    crop_box,
    fit_to_frame,
    load_cutout,
    object_box,
    to_uint8,
)
from engine.limits import Limits, limits_from_environment
from engine.progress import ProgressFn

FACE_CROP_SCALE = 1.7
"""Side of the face crop as a multiple of the detected box's longer side."""
FACE_CROP_SHIFT = 0.05
"""Downward shift of the crop centre as a fraction of the detected box's height (detections
sit high on the face: brows to mouth)."""
FACE_CASCADE = "haarcascade_frontalface_default.xml"
"""The cascade file in `cv2.data.haarcascades`."""
DETECTION_SIDE = 640
"""Faces are looked for in the photo shrunk to this shorter side, so that a 12-megapixel photo
takes no longer than a small one."""
FACE_MIN_FRACTIONS = (1 / 10, 1 / 25)
"""Smallest face looked for, as fractions of the photo's shorter side: a portrait's first, then,
where none is found, a half-body photo's (its face spans about a twelfth). Small windows also
fire on textures, so the smaller faces are looked for only where no larger one is."""
FACE_MIN_SIDE = 16
"""Smallest face looked for in pixels of the shrunk photo, whatever its fraction comes to."""
MIN_MASK_COVER = 0.01
"""Least share of the frame a user's mask must cover: a 2x2-pixel mask ran the whole
reconstruction and then left no surface to mesh."""


@dataclass
class PreparedInput:
    """An image ready for `recover`: square, in the GAN's frame, with its object mask."""

    __repr__ = brief_repr  # shapes and sizes, not every value

    image: torch.Tensor  # [1, 3, S, S] in [-1, 1]
    mask: torch.Tensor | None  # [1, 1, S, S] in {0, 1}, or None where the category needs none
    box: Box
    """The square crop in the original image."""
    framing: str
    """How the crop was chosen, for the user (e.g. 'face detected at ...')."""
    photo: torch.Tensor
    """`[1, 3, B, B]` the same crop at the original's resolution, B at most `CROP_SIDE_LIMIT`
    (what meshes are textured from, `photo_albedo`)."""


def prepare_input(
    image: torch.Tensor,
    *,
    size: int,
    find_face: bool,
    needs_mask: bool,
    mask: torch.Tensor | None = None,
) -> PreparedInput:
    """Crop `image [1, 3, H, W]` to a square of side `size`: around the largest detected face
    when `find_face` (the centre when none is found), else the whole width (`object_box`); a
    square no larger than `size` is taken whole. `mask [1, 1, H, W]` (the user's) is cropped
    with it; without one, GrabCut makes one when `needs_mask`. A picture of one flat colour is
    refused (`check_not_flat`)."""
    image = checked_image(image, "prepare_input")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise GANliftError(
            f"prepare_input's size is the model's frame in pixels (G.config.size), got {size!r}."
        )
    check_not_flat(image)
    height, width = image.shape[-2:]
    if mask is not None:
        mask = checked_mask(mask, height, width, "prepare_input")
    framed = height == width <= size  # already a crop at the model's frame (or smaller)
    face = None if framed or not find_face or not face_detector_available() else detect_face(image)
    if framed:
        box, framing = Box(0, 0, width, height), "whole image (a square crop at the model's size)"
    elif face is not None:
        box = face_crop_box(face)
        framing = f"face detected at x={face.left}, y={face.top}, {face.width}x{face.height} px"
    elif find_face:
        side = min(height, width)
        box = Box((width - side) // 2, (height - side) // 2, side, side)
        why = (
            "no face found"
            if face_detector_available()
            else "this OpenCV build has no face detector"
        )
        advice = (
            "fine for a face that fills it"
            if height == width
            else "if the face is small in the photo, crop the photo to it"
        )
        framing = f"{'whole image' if height == width else 'centre crop'} ({why}; {advice})"
    else:
        box = object_box(height, width)
        framing = _object_framing(height, width)
    photo = crop_box(image, box, longest=CROP_SIDE_LIMIT)  # [1, 3, B, B]
    cropped = fit_to_frame(photo, size)  # [1, 3, S, S]
    if mask is not None:
        mask = crop_box(mask.float(), box, longest=CROP_SIDE_LIMIT)  # [1, 1, B, B]
        mask = (fit_to_frame(mask, size) > 0.5).float()  # [1, 1, S, S]
        if mask.mean() < MIN_MASK_COVER:
            raise GANliftError(
                f"The mask covers {mask.mean():.1%} of the model's {size}x{size} frame, too "
                "little to lift a surface from; paint the whole object white."
            )
    elif needs_mask:
        mask = object_mask(cropped)
    return PreparedInput(image=cropped, mask=mask, box=box, framing=framing, photo=photo)


def _object_framing(height: int, width: int) -> str:
    """How `object_box` frames a photo of `height` x `width` pixels, for the status line."""
    if height == width:
        return "whole image"
    if height > width:
        return "whole width, centre crop"
    return "whole width, top and bottom rows repeated to a square"


@functools.cache
def _face_cascade() -> cv2.CascadeClassifier | None:
    """OpenCV's frontal-face cascade, or None where this OpenCV build ships none (OpenCV 5
    moved the cascades out of the main package)."""
    if not hasattr(cv2, "CascadeClassifier"):
        return None
    path = Path(cv2.data.haarcascades) / FACE_CASCADE
    if not path.is_file():
        return None
    cascade = cv2.CascadeClassifier(str(path))
    return None if cascade.empty() else cascade


def face_detector_available() -> bool:
    """Whether the installed OpenCV has the frontal-face Haar cascade."""
    return _face_cascade() is not None


def detect_face(image: torch.Tensor) -> Box | None:
    """The largest frontal face in `image [1, 3, H, W]`, or None (also where no cascade is
    available; see `face_detector_available`). Small faces are searched for only where no
    portrait-sized one is found (`FACE_MIN_FRACTIONS`)."""
    cascade = _face_cascade()
    if cascade is None:
        return None
    gray = cv2.cvtColor(to_uint8(image), cv2.COLOR_RGB2GRAY)  # [H, W]
    scale = min(1.0, DETECTION_SIDE / min(gray.shape))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    for fraction in FACE_MIN_FRACTIONS:
        smallest = max(FACE_MIN_SIDE, round(min(gray.shape) * fraction))
        faces = cascade.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=3, minSize=(smallest, smallest)
        )
        if len(faces) > 0:
            break
    else:
        return None
    left, top, width, height = (v / scale for v in max(faces, key=lambda face: face[2] * face[3]))
    return Box(round(left), round(top), round(width), round(height))


def face_crop_box(face: Box) -> Box:
    """The square crop around a detected face (see `FACE_CROP_SCALE`, `FACE_CROP_SHIFT`)."""
    side = round(FACE_CROP_SCALE * max(face.width, face.height))
    centre_x = face.left + face.width / 2
    centre_y = face.top + face.height * (0.5 + FACE_CROP_SHIFT)
    return Box(round(centre_x - side / 2), round(centre_y - side / 2), side, side)


def grabcut_mask(image: torch.Tensor, *, margin: float = 0.1, iterations: int = 5) -> torch.Tensor:
    """Object mask `[1, 1, H, W]` in {0, 1} of `image [1, 3, H, W]` by GrabCut, started from a
    centred rectangle `margin` of the side away from each border; the same image always gets
    the same mask."""
    rgb = to_uint8(image)  # [H, W, 3]
    height, width = rgb.shape[:2]
    inset_x, inset_y = max(1, round(margin * width)), max(1, round(margin * height))
    rectangle = (inset_x, inset_y, width - 2 * inset_x, height - 2 * inset_y)
    with ThreadPoolExecutor(max_workers=1) as worker:  # see `_seeded_grabcut`
        labels = worker.submit(_seeded_grabcut, rgb, rectangle, iterations).result()
    kept = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)  # [H, W]
    return torch.from_numpy(kept).float()[None, None].to(image.device)


def _seeded_grabcut(
    rgb: np.ndarray, rectangle: tuple[int, int, int, int], iterations: int
) -> np.ndarray:
    """GrabCut's labels `[H, W]` of `rgb [H, W, 3]` from `rectangle`, its k-means seeded with
    0. OpenCV's generator is per thread: run in a thread of its own, the seeding leaves the
    caller's generator (`cv2.setRNGSeed` in a notebook) as it was."""
    labels = np.zeros(rgb.shape[:2], np.uint8)
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(
        cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
        labels,
        rectangle,
        background,
        foreground,
        iterations,
        cv2.GC_INIT_WITH_RECT,
    )
    return labels


MASK_AREA_RANGE = (0.1, 0.9)
"""Fractions of the frame a believable object mask covers; GrabCut finding less or more than
that has failed (on a backdrop the object's colour), and the whole frame is used instead."""


def object_mask(image: torch.Tensor) -> torch.Tensor:
    """Object mask `[1, 1, H, W]` of `image [1, 3, H, W]` by GrabCut from a near-full-frame
    rectangle, or the whole frame where GrabCut's area is not believable (`MASK_AREA_RANGE`)."""
    mask = grabcut_mask(image, margin=0.02)
    low, high = MASK_AREA_RANGE
    return mask if low <= float(mask.mean()) <= high else torch.ones_like(mask)


CENTRE_COVERAGE = 0.5
"""Fraction of the frame's central ninth that a trimming mask must cover. Inputs are cropped
around their object (faces by the detector, the rest at the centre), so a GrabCut mask that
leaves the centre out has outlined something else (on one held-out face render, the hair)."""


def trimming_mask(image: torch.Tensor) -> torch.Tensor:
    """Mask `[1, 1, H, W]` to trim a mesh of `image [1, 3, H, W]` to when it was lifted whole
    (presets without masks): GrabCut's object (`object_mask`), or the whole frame where that
    leaves the centre uncovered (`CENTRE_COVERAGE`)."""
    mask = object_mask(image)
    height, width = mask.shape[-2:]
    centre = mask[..., height // 3 : height - height // 3, width // 3 : width - width // 3]
    return mask if float(centre.mean()) >= CENTRE_COVERAGE else torch.ones_like(mask)


def default_mask(image: torch.Tensor, use_mask: bool) -> torch.Tensor:
    """The mask `[1, 1, H, W]` of `image [1, 3, H, W]` when none is given: GrabCut's
    (`object_mask`) for presets that use masks, else the whole frame. (The release takes its
    masks from parsing networks, BiSeNet for faces and PSPNet for the rest, which GANlift does
    not ship: so its face and cat priors are fitted in the whole frame's box, where the
    release's fit the parsed head's; with `--release-dir` those runs fit no prior.)"""
    return object_mask(image) if use_mask else torch.ones_like(image[:, :1])


def default_masks(
    images: torch.Tensor, use_mask: bool, progress: ProgressFn | None = None
) -> torch.Tensor:
    """`default_mask` of each of `images [N, 3, H, W]`: `[N, 1, H, W]`. GrabCut takes about a
    minute for 4,096 images, so it reports `progress` while it runs."""
    masks = []
    for done, image in enumerate(images, start=1):
        masks.append(default_mask(image[None], use_mask))
        if progress is not None and use_mask:
            progress(done, len(images), "object masks (GrabCut)")
    return torch.cat(masks)


def load_mask(source: str | os.PathLike, limits: Limits | None = None) -> torch.Tensor:
    """A mask image file as `[1, 1, H, W]` in {0, 1}: pixels brighter than mid-grey are in,
    or, for a cut-out with transparency (the object on a clear background), opaque ones. Read
    under the photo caps of `limits` (default: the GANLIFT_* environment's), as the photo is."""
    limits = limits or limits_from_environment()
    try:
        image, alpha = load_cutout(  # alpha: [H, W] in [0, 1], or None
            source, max_bytes=limits.upload_bytes, max_pixels=limits.image_pixels
        )
    except GANliftError as error:
        raise GANliftError(f"The mask could not be read: {error}") from error
    if alpha is not None:
        mask = (alpha > 0.5).float()[None, None]  # [1, 1, H, W]
    else:
        mask = (image.mean(1, keepdim=True) > 0).float()  # [1, 1, H, W]
    if mask.sum() == 0:
        empty = "fully transparent" if alpha is not None else "all black"
        raise GANliftError(
            f"The mask {source} is {empty}; paint the object white on black and try again."
        )
    return mask
