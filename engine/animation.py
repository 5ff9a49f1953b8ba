"""Turntable and relighting animations: render one frame per camera angle or light through a
caller's renderer, and write the frames as a looping GIF or an MP4 (H.264 through
imageio-ffmpeg).

Frames are engine images ``[N, 3, H, W]`` in [-1, 1]; angles are radians, as everywhere in
`engine.render`. The renderer is any callable, so one loop serves GAN2Shape's depth warps,
exported meshes and StyleGAN-R alike.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from engine.atomic import atomic_path, file_path
from engine.errors import GANliftError
from engine.images import to_uint8
from engine.progress import ProgressFn, StopFn

ANIMATION_FORMATS = (".gif", ".mp4")
"""File suffixes `save_animation` writes."""

RotationRenderFn = Callable[[float, float], torch.Tensor]
"""``render(azimuth, elevation)`` in radians → one image ``[1, 3, H, W]`` or ``[3, H, W]``."""

LightRenderFn = Callable[[torch.Tensor], torch.Tensor]
"""``render(light [1, 4])`` → one image ``[1, 3, H, W]`` or ``[3, H, W]``."""


def swing_angles(amplitude: float, count: int) -> list[float]:
    """``count`` angles ``amplitude · sin(2πk / count)``: a swing from the centre to either side
    and back that loops without a jump (the first frame follows the last)."""
    return [amplitude * math.sin(2 * math.pi * k / count) for k in range(count)]


def circling_lights(
    count: int, *, ambient: float = 0.5, diffuse: float = 0.6, radius: float = 0.8
) -> torch.Tensor:
    """``count`` GAN2Shape lights ``[count, 4]`` = (ambient, diffuse, dx, dy) whose direction
    ``(dx, dy, 1)`` circles the view axis at ``radius``, looping without a jump."""
    phase = torch.arange(count, dtype=torch.float32) * (2 * math.pi / count)  # [count]
    return torch.stack(
        [
            torch.full_like(phase, ambient),
            torch.full_like(phase, diffuse),
            radius * phase.cos(),
            radius * phase.sin(),
        ],
        1,
    )


def rotation_frames(
    render_fn: RotationRenderFn,
    *,
    azimuths: Sequence[float],
    elevation: float = 0.0,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> torch.Tensor:
    """Frames ``[N, 3, H, W]`` of ``render_fn(azimuth, elevation)`` for each azimuth (radians).

    Stopping early (``should_stop()``) returns the frames rendered so far.
    """
    calls = [partial(render_fn, azimuth, elevation) for azimuth in azimuths]
    return _render_sequence(calls, "rotating", progress, should_stop)


def relight_frames(
    render_fn: LightRenderFn,
    lights: torch.Tensor,
    *,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> torch.Tensor:
    """Frames ``[N, 3, H, W]`` of ``render_fn(light [1, 4])`` for each row of ``lights [N, 4]``.

    Stopping early (``should_stop()``) returns the frames rendered so far.
    """
    if lights.dim() != 2 or lights.shape[1] != 4:
        raise ValueError(
            f"lights must be [N, 4] (ambient, diffuse, dx, dy), got {list(lights.shape)}"
        )
    calls = [partial(render_fn, light[None]) for light in lights]
    return _render_sequence(calls, "relighting", progress, should_stop)


def save_animation(frames: torch.Tensor, path: str | os.PathLike, *, fps: float = 15.0) -> Path:
    """Write ``frames [N, 3, H, W]`` in [-1, 1] as a looping GIF or an H.264 MP4, atomically.

    The format follows the suffix (see `ANIMATION_FORMATS`). MP4 needs even sides, so odd
    frames gain one replicated row or column. GIF frame times are whole centiseconds (browsers
    slow down anything above 50 fps), and Pillow merges identical consecutive GIF frames into
    one longer frame. The file is written beside ``path`` and renamed into place.
    """
    path = file_path(path)
    suffix = path.suffix.lower()
    if suffix not in ANIMATION_FORMATS:
        raise GANliftError(
            f"Cannot save an animation as '{path.name}'; use one of {', '.join(ANIMATION_FORMATS)}."
        )
    if frames.dim() != 4 or frames.shape[1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"frames must be [N, 3, H, W] with N >= 1, got {list(frames.shape)}")
    check_fps(fps)
    with atomic_path(path) as temporary:
        if suffix == ".gif":
            _write_gif(temporary, _to_uint8(frames), fps)
        else:
            _write_mp4(temporary, _to_uint8(_pad_to_even(frames)), fps)
            if not _plays_back(temporary):
                raise GANliftError(
                    f"ffmpeg could not write the video '{path}' whole; check the disk has free "
                    "space."
                )
    return path


FPS_RANGE = (0.01, 100.0)
"""Frame rates an animation takes: a GIF stores each frame's time in whole centiseconds (a
faster one showed its frames at no delay at all, a slower one overflowed the field)."""


def check_fps(fps: object, what: str = "The animation frame rate") -> float:
    """`fps` as a float, or a GANliftError naming `what` unless it lies in `FPS_RANGE`."""
    low, high = FPS_RANGE
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not low <= fps <= high:
        raise GANliftError(f"{what} must be a number from {low:g} to {high:g} fps, got {fps!r}.")
    return float(fps)


def _render_sequence(
    calls: Sequence[Callable[[], torch.Tensor]],
    label: str,
    progress: ProgressFn | None,
    should_stop: StopFn | None,
) -> torch.Tensor:
    """Call each renderer in turn and stack the images into ``[N, 3, H, W]``."""
    frames: list[torch.Tensor] = []
    for index, call in enumerate(calls):
        if should_stop is not None and should_stop():
            break
        frame = call().detach()
        frame = frame[0] if frame.dim() == 4 and frame.shape[0] == 1 else frame  # [3, H, W]
        if frame.dim() != 3 or frame.shape[0] != 3:
            raise ValueError(
                f"render_fn must return [1, 3, H, W] or [3, H, W], got {list(frame.shape)}"
            )
        if frames and frame.shape != frames[0].shape:
            raise ValueError(
                f"render_fn returned frames of different sizes: {list(frames[0].shape)} "
                f"then {list(frame.shape)}"
            )
        frames.append(frame)
        if progress is not None:
            progress(index + 1, len(calls), label)
    if not frames:
        return torch.empty(0, 3, 0, 0)
    return torch.stack(frames)


def _to_uint8(frames: torch.Tensor) -> np.ndarray:
    """``[N, 3, H, W]`` in [-1, 1] → uint8 ``[N, H, W, 3]``."""
    return np.stack([to_uint8(frame) for frame in frames])


def _pad_to_even(frames: torch.Tensor) -> torch.Tensor:
    """Replicate the last row / column where ``frames [N, 3, H, W]`` has an odd side."""
    height, width = frames.shape[-2:]
    return F.pad(frames, (0, width % 2, 0, height % 2), mode="replicate")


def _write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    """A looping GIF through Pillow (imageio's wrapper of it, failing on a full disk, tried the
    write again when collected and printed that second failure's traceback)."""
    first, *rest = (Image.fromarray(frame) for frame in frames)
    first.save(path, format="GIF", save_all=True, append_images=rest, duration=1000 / fps, loop=0)


def _plays_back(path: Path) -> bool:
    """Whether ffmpeg reads the video `path` (it returns without an error when a full disk
    stops it before the index that makes an MP4 playable)."""
    try:
        iio.improps(path, plugin="FFMPEG")
    except OSError:
        return False
    return True


def _write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    """H.264 (yuv420p, plays everywhere) through imageio's FFMPEG plugin."""
    if importlib.util.find_spec("imageio_ffmpeg") is None:
        raise GANliftError(
            f"Saving '{path.name}' as MP4 needs imageio-ffmpeg; install it "
            "(pip install imageio-ffmpeg) or save a .gif instead."
        )
    iio.imwrite(
        path,
        frames,
        plugin="FFMPEG",
        extension=".mp4",
        fps=fps,
        codec="libx264",
        pixelformat="yuv420p",
        macro_block_size=1,
    )
