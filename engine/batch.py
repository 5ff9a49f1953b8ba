"""GAN2Shape on every image of a folder: one output folder per image, resumable, one failure
never stops the rest, and a summary report; under torchrun the images are sharded by rank.

Image `DIR/face.jpg` goes to `OUT/face.jpg/` (the folder `python -m engine reconstruct` would
write); with subfolders read, `DIR/set/face.jpg` goes to `OUT/set/face.jpg/`. An image whose
`summary.json` records the same output settings is finished and skipped (with other --views
or --frames its outputs are written again from the saved run); one with a saved state
continues where it stopped. The report (`OUT/batch-report.json`) lists every image's outcome.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.distributed as dist

from engine.atomic import write_json
from engine.distributed import current_process_group
from engine.errors import GANliftError, StoppedEarly, out_of_memory, refused_path
from engine.gan2shape.outputs import OutputSettings, write_outputs
from engine.gan2shape.pipeline import Gan2ShapeModel, Quality, check_run_of, reconstruct
from engine.image_files import IMAGE_SUFFIXES, image_files, is_image, visible_files
from engine.images import load_photo
from engine.limits import DEFAULT_LIMITS, Limits
from engine.metrics import psnr_text
from engine.perceptual import PerceptualLoss
from engine.progress import ProgressFn, StopFn
from engine.wording import counted

REPORT_FILE = "batch-report.json"
FINISHED_MARKER = "summary.json"
"""The last file a finished reconstruction writes."""

logger = logging.getLogger("ganlift.batch")

Status = Literal["done", "skipped", "failed", "stopped", "pending"]
"""What happened to an image; "pending": not reached before the batch was stopped or the disk
filled."""


@dataclass(frozen=True)
class ImageOutcome:
    """What happened to one image."""

    image: str
    """The image's path relative to the input folder, with '/' (also its output folder's)."""
    status: Status
    seconds: float
    message: str = ""
    """The error for 'failed'; empty otherwise."""
    psnr: float | None = None
    """Inversion PSNR (dB) of a reconstruction done in this run."""
    rank: int = 0


@dataclass
class BatchReport:
    """Every image's outcome (all ranks), and where the report was written."""

    outcomes: list[ImageOutcome]
    path: Path | None

    def count(self, status: Status) -> int:
        """How many images ended with `status`."""
        return sum(outcome.status == status for outcome in self.outcomes)

    def table(self) -> str:
        """A printable table, one row per image, then the totals."""
        width = max([len("image"), *(len(outcome.image) for outcome in self.outcomes)])
        lines = [f"{'image':<{width}}  {'status':<7}  {'seconds':>7}  note"]
        for outcome in self.outcomes:
            inversion = f"inversion PSNR {psnr_text(outcome.psnr, 2)}" if outcome.psnr else ""
            note = outcome.message or inversion
            lines.append(
                f"{outcome.image:<{width}}  {outcome.status:<7}  {outcome.seconds:>7.1f}  {note}"
            )
        totals = ", ".join(
            f"{self.count(status)} {status}"
            for status in ("done", "skipped", "failed", "stopped", "pending")
        )
        return "\n".join([*lines, f"{counted(len(self.outcomes), 'image')}: {totals}"])


def find_images(
    folder: str | os.PathLike, *, recursive: bool = False, leaving_out: Path | None = None
) -> list[Path]:
    """The image files in `folder` (`engine.image_files.image_files`), refused in one sentence
    when the folder is missing or holds none."""
    folder = Path(folder)
    if folder.is_file():
        raise GANliftError(
            f"{folder} is a file, not a folder of images; pass its folder (or run "
            "`python -m engine reconstruct` on the one image)."
        )
    if not folder.is_dir():
        raise GANliftError(f"Image folder {folder} does not exist; check the path.")
    images = image_files(folder, recursive=recursive, leaving_out=leaving_out)
    if not images:
        raise GANliftError(
            f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); choose another folder."
        )
    return images


def images_in_subfolders(folder: str | os.PathLike, *, leaving_out: Path | None = None) -> int:
    """How many image files lie in `folder`'s subfolders (which `find_images` reads only when
    asked to), outside the folder `leaving_out` (results written inside `folder`)."""
    folder = Path(folder)
    return sum(
        path.parent != folder and is_image(path)
        for path in visible_files(folder, leaving_out=leaving_out)
    )


def reconstruct_batch(
    model: Gan2ShapeModel,
    images: Sequence[Path],
    out_dir: str | os.PathLike,
    *,
    image_folder: str | os.PathLike | None = None,
    quality: Quality = "full",
    settings: OutputSettings | None = None,
    limits: Limits = DEFAULT_LIMITS,
    perceptual: PerceptualLoss | None = None,
    device: torch.device | str | None = None,
    bf16: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> BatchReport:
    """Reconstruct this process's share of `images` (all of them unless torch.distributed is
    initialised: then every `world_size`-th from `rank`) into `out_dir/<image name>/`, where
    an image's name is its path relative to `image_folder` (its file name when None).

    Failures caused by an image are recorded and the batch goes on; a full disk ends it (every
    later image would fail to save too), and `should_stop` ends it after saving the current
    image's state. Rank 0 writes the merged report.
    """
    out_dir = Path(out_dir)
    group = current_process_group()
    mine = list(images)[group.rank :: group.world_size]
    names = [
        path.name if image_folder is None else path.relative_to(image_folder).as_posix()
        for path in mine
    ]
    outcomes: list[ImageOutcome] = []
    for index, (path, name) in enumerate(zip(mine, names, strict=True)):
        within = None
        if progress is not None:
            progress(index, len(mine), name)
            within = _within_image(progress, index, len(mine), name)
        try:
            outcome = _reconstruct_one(
                model, path, name, out_dir, quality=quality,
                settings=settings or OutputSettings(), limits=limits, perceptual=perceptual,
                device=device, bf16=bf16, progress=within, should_stop=should_stop,
            )  # fmt: skip
        except _DiskFull as full:  # every later image would fail to save as well
            outcome, ended_early = full.outcome, True
        else:
            ended_early = outcome.status == "stopped"
        outcomes.append(ImageOutcome(**(asdict(outcome) | {"rank": group.rank})))
        if ended_early:
            break
    else:
        ended_early = False
    outcomes += [
        ImageOutcome(name, "pending", 0.0, rank=group.rank) for name in names[len(outcomes) :]
    ]
    if progress is not None and not ended_early:
        progress(len(mine), len(mine), "batch finished")
    merged = _gather(outcomes, group.world_size)
    report_path = _write_report(merged, out_dir / REPORT_FILE) if group.is_main else None
    return BatchReport(merged, report_path)


class _DiskFull(Exception):
    """An image failed for want of disk space, which every image after it would meet too."""

    def __init__(self, outcome: ImageOutcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def _reconstruct_one(
    model: Gan2ShapeModel,
    path: Path,
    name: str,
    out_dir: Path,
    *,
    quality: Quality,
    settings: OutputSettings,
    limits: Limits,
    perceptual: PerceptualLoss | None,
    device: torch.device | str | None,
    bf16: bool,
    progress: ProgressFn | None,
    should_stop: StopFn | None,
) -> ImageOutcome:
    """One image, from file to written outputs in `out_dir/name`, reported as `name`; its own
    errors become a 'failed' outcome. An image finished by an earlier run of this model and
    quality is skipped, with the PSNR its summary recorded, unless its outputs were written with
    other settings or by an older GANlift (they are written again from the saved run); one
    finished by another model or quality fails, as `reconstruct` refuses the folder."""
    start = time.perf_counter()
    target = out_dir / name
    finished = _finished_summary(target)
    try:
        image = load_photo(path, limits)  # [1, 3, H, W]
        prepared = model.prepare(image)
        if finished is not None and finished.get("outputs") == settings.recorded():
            check_run_of(model, prepared, quality, target)  # not another photo's, model's, ...
            seconds = time.perf_counter() - start
            return ImageOutcome(name, "skipped", seconds, psnr=_recorded_psnr(finished))
        run = reconstruct(
            model, prepared, out_dir=target, quality=quality, perceptual=perceptual,
            device=device, bf16=bf16, progress=progress, should_stop=should_stop,
        )  # fmt: skip
        if not run.recovery.finished:
            return ImageOutcome(name, "stopped", time.perf_counter() - start)
        write_outputs(
            run.recovery, model.generator, target, settings=settings, photo=prepared.photo
        )
    except StoppedEarly:
        return ImageOutcome(name, "stopped", time.perf_counter() - start)
    except GANliftError as error:
        return ImageOutcome(name, "failed", time.perf_counter() - start, str(error))
    except Exception as error:  # a batch outlives one image's failure, bugs included
        message = out_of_memory(error) or refused_path(error)
        if message is None:  # a bug: its traceback goes to the log
            logger.exception("reconstructing %s failed", path)
        message = message or f"unexpected {type(error).__name__}: {error}"
        outcome = ImageOutcome(name, "failed", time.perf_counter() - start, message.splitlines()[0])
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _DiskFull(outcome) from error
        return outcome
    seconds = time.perf_counter() - start
    return ImageOutcome(name, "done", seconds, psnr=round(run.recovery.psnr, 3))


def _within_image(progress: ProgressFn, index: int, count: int, name: str) -> ProgressFn:
    """Report a step inside image `index` of `count` on the batch's own bar."""
    return lambda done, total, message: progress(index, count, f"{name} {done}/{total}: {message}")


def _finished_summary(folder: Path) -> dict | None:
    """The summary.json of an image finished earlier, or None. It is skipped when the summary
    records the same output settings and format; otherwise (other settings, or outputs an
    older GANlift wrote) its outputs are written again from the saved run."""
    try:
        summary = json.loads((folder / FINISHED_MARKER).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def _recorded_psnr(summary: dict) -> float | None:
    """The inversion PSNR a finished image's summary recorded (None for an exact one)."""
    value = summary.get("inversion_psnr_db")
    return round(value, 3) if isinstance(value, int | float) else None


def _gather(outcomes: list[ImageOutcome], world_size: int) -> list[ImageOutcome]:
    """Every rank's outcomes, sorted by image name (just these when not distributed)."""
    if world_size > 1:
        gathered: list[list[ImageOutcome] | None] = [None] * world_size
        dist.all_gather_object(gathered, outcomes)
        outcomes = [outcome for part in gathered for outcome in part or []]
    return sorted(outcomes, key=lambda outcome: outcome.image)


def _write_report(outcomes: list[ImageOutcome], path: Path) -> Path:
    """The report as JSON, atomically."""
    return write_json(path, {"images": [asdict(outcome) for outcome in outcomes]})
