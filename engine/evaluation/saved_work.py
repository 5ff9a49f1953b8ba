"""An evaluation's finished work, kept on disk as it finishes: the inversions scored so far and
the fitted coverage reader, the stages that take nearly all of its hour on a CPU. A stopped
or killed `evaluate-gan` continues from them when the same command runs again."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.atomic import save_torch
from engine.errors import GANliftError
from engine.evaluation.coverage import CoverageReader
from engine.evaluation.inversion_psnr import InversionEvaluation
from engine.torch_files import read_torch_file

WORK_VERSION = 1


@dataclass
class EvaluationWork:
    """What one evaluation has finished; `path` None keeps it in memory only."""

    path: Path | None
    key: dict[str, Any]
    """The generator's fingerprint and the evaluation's settings: work made under another
    key is not taken up."""
    inversion: InversionEvaluation | None = None
    reader: CoverageReader | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time spent on each stage so far."""

    @classmethod
    def load(
        cls, path: str | Path | None, key: dict[str, Any], device: torch.device | str = "cpu"
    ) -> EvaluationWork:
        """The work kept in `path` when it was made under `key`, else none: an evaluation of
        another GAN or with other settings starts afresh and replaces the file as it saves."""
        if path is None or not Path(path).is_file():
            return cls(None if path is None else Path(path), key)
        kept = read_torch_file(
            path,
            missing=f"{path} does not exist.",
            damaged=f"{path} is not an evaluation's saved work; remove it and run again.",
        )
        if not isinstance(kept, dict) or kept.get("version") != WORK_VERSION:
            raise GANliftError(
                f"{path} is not an evaluation's saved work; remove it and run again."
            )
        if kept["key"] != key:
            return cls(Path(path), key)
        inversion = kept["inversion"]
        reader = kept["reader"]
        return cls(
            path=Path(path),
            key=key,
            inversion=InversionEvaluation(**inversion) if inversion is not None else None,
            reader=CoverageReader.from_state(reader, device) if reader is not None else None,
            seconds=kept["seconds"],
        )

    def save(self) -> None:
        """Write the work to `path` atomically (nothing when it has none)."""
        if self.path is None:
            return
        save_torch(
            {
                "version": WORK_VERSION,
                "key": self.key,
                "inversion": asdict(self.inversion) if self.inversion is not None else None,
                "reader": self.reader.state() if self.reader is not None else None,
                "seconds": self.seconds,
            },
            self.path,
        )

    def kept(self) -> str:
        """A clause saying what is kept and where, for a stopped evaluation's message."""
        if self.path is None or (self.inversion is None and self.reader is None):
            return "nothing was written."
        parts = []
        if self.inversion is not None:
            count = len(self.inversion.psnr)
            parts.append(f"{count} scored inversion{'s' if count != 1 else ''}")
        if self.reader is not None:
            parts.append("the fitted coverage reader")
        return (
            f"what it finished is kept in {self.path} ({' and '.join(parts)}); run it again to "
            "go on from there."
        )
