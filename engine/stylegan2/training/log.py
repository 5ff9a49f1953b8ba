"""The JSON-lines training log: one object per line, appended and flushed as it happens, so a
run under nohup can be followed with `tail -f` and plotted while it trains."""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from engine.atomic import write_text
from engine.config import finite_number, is_whole


class JsonlLog:
    """Appends records `{"time": unix seconds, **fields}` to a file (or nowhere when disabled)."""

    def __init__(self, path: Path, *, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled

    def write(self, **fields: Any) -> None:
        """Append one record."""
        if not self.enabled:
            return
        try:
            with self.path.open("a") as file:
                file.write(json.dumps({"time": round(time.time(), 3), **fields}) + "\n")
        except OSError as error:  # a full disk fails the flush, whose error names no file
            raise OSError(error.errno, error.strerror, str(self.path)) from error


def drop_records_after(path: Path, step: int) -> None:
    """Remove the records of steps after `step` from a log (and a torn last line): a run
    killed past its last snapshot does those steps again when resumed, and they were logged
    twice. A session's time then ends at its last record up to `step`."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines()
    kept = [line for line in lines if _record_step(line) <= step]
    if len(kept) != len(lines):
        write_text(path, "".join(f"{line}\n" for line in kept))


def _record_step(line: str) -> float:
    """The step a log line records (-inf for one without, +inf for a line that is no record)."""
    try:
        record = json.loads(line)
    except ValueError:
        return math.inf
    if not isinstance(record, dict):
        return math.inf
    step = record.get("step")
    return step if isinstance(step, int | float) else -math.inf


_RECORD_TYPES = {"time": float, "step": int, "kimg": float, "event": str, "data": str,
                 "images": int}  # fmt: skip
"""The fields readers of a log use, and their types (an int is a float too)."""


def read_log(path: Path) -> list[dict[str, Any]]:
    """The records of a ``log.jsonl`` (empty when missing); a torn last line and a record whose
    time, step, kimg, event, data or images has another type (an edited log) are skipped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "time" in record and _well_typed(record):
            records.append(record)
    return records


def _well_typed(record: dict[str, Any]) -> bool:
    """Whether the `_RECORD_TYPES` fields that `record` has are of their types."""
    for name, kind in _RECORD_TYPES.items():
        if name not in record:
            continue
        value = record[name]
        if kind is str and not isinstance(value, str):
            return False
        if kind is not str and not (is_whole(value) if kind is int else finite_number(value)):
            return False
    return True


class RunningMeans:
    """Sums of named scalars since the last `pop`, for averaged log lines.

    Values may be 0-d tensors; they are summed on their device and read only in `pop`, so a
    CUDA step is not synchronised just to log.
    """

    def __init__(self) -> None:
        self._sums: dict[str, float | torch.Tensor] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def add(self, **values: float | torch.Tensor) -> None:
        """Accumulate one value per name."""
        for name, value in values.items():
            self._sums[name] = self._sums[name] + (
                value.detach().float() if isinstance(value, torch.Tensor) else value
            )
            self._counts[name] += 1

    def pop(self) -> dict[str, float]:
        """The mean of each name since the last call, and start over."""
        means = {name: float(self._sums[name]) / self._counts[name] for name in self._sums}
        self._sums.clear()
        self._counts.clear()
        return means
