"""What a model card says about training, read from the run folder of `train-gan`.

A run folder holds ``config.json`` (the `TrainConfig`), ``log.jsonl`` (one JSON object per
line: ``start`` and ``snapshot`` events and periodic loss records, each with a ``time``) and
the snapshot ``model.safetensors`` + ``model.json``, whose ``extra`` gives its step and kimg.
The data set a run trained on is found from the ``start`` event's ``data`` folder, whose
parent holds the ``synth.json`` of `engine.synth.dataset`. Once a run folder is cleaned up,
the facts an earlier ``evaluation.json`` recorded for the same snapshot stand in for it
(`recorded_training_run`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from engine.config import config_from_dict, finite_number, is_whole
from engine.errors import GANliftError
from engine.stylegan2.training.command import train_command
from engine.stylegan2.training.config import TrainConfig
from engine.stylegan2.training.log import read_log
from engine.synth import DatasetInfo, read_info


@dataclass
class TrainingRun:
    """Training facts of one snapshot; fields are None where the run folder lacks them."""

    run_dir: Path | None
    snapshot_step: int | None
    snapshot_kimg: float | None
    target_kimg: float | None
    """The run's planned length (``config.json``)."""
    latest_kimg: float | None
    """The furthest kimg in ``log.jsonl`` (beyond the snapshot while the run goes on)."""
    wall_time_s: float | None
    """Seconds of training up to the snapshot, summed over the run's sessions (resumes)."""
    sessions: int
    data_dir: str | None
    data_images: int | None
    dataset: DatasetInfo | None
    device: str | None
    precision: str | None
    train_command: str | None

    @property
    def still_training(self) -> bool:
        """True when the run's log has gone past the snapshot (a newer model is coming)."""
        if self.snapshot_kimg is None:
            return False
        return self.latest_kimg is not None and self.latest_kimg > self.snapshot_kimg

    @property
    def stopped_early(self) -> bool:
        """True when the run stopped at this snapshot, short of its planned length."""
        if self.snapshot_kimg is None or self.still_training:
            return False
        return self.target_kimg is not None and self.snapshot_kimg < self.target_kimg


def read_training_run(extra: dict[str, Any], run_dir: str | Path | None) -> TrainingRun:
    """Training facts of a snapshot with metadata `extra` (the checkpoint's ``extra``), from
    `run_dir` (None or a folder without a log: only what `extra` holds)."""
    step, kimg = extra.get("step"), extra.get("kimg")  # unknown where edited to a non-number
    step = int(step) if is_whole(step) else None
    kimg = float(kimg) if finite_number(kimg) else None
    folder = Path(run_dir) if run_dir is not None else None
    records = read_log(folder / "log.jsonl") if folder is not None else []
    config_path = folder / "config.json" if folder is not None else None
    config = TrainConfig.load_json(config_path) if config_path and config_path.is_file() else None
    starts = [record for record in records if record.get("event") == "start"]
    data_dir = starts[-1].get("data") if starts else None
    kimgs = [float(record["kimg"]) for record in records if "kimg" in record]
    return TrainingRun(
        run_dir=folder if records or config else None,
        snapshot_step=step,
        snapshot_kimg=kimg,
        target_kimg=config.kimg if config else None,
        latest_kimg=max(kimgs) if kimgs else None,
        wall_time_s=_wall_time(records, step) if records and step is not None else None,
        sessions=len(starts),
        data_dir=data_dir,
        data_images=starts[-1].get("images") if starts else None,
        dataset=_dataset_info(data_dir),
        device=starts[-1].get("device") if starts else None,
        precision=starts[-1].get("precision") if starts else None,
        train_command=_train_command(config, data_dir, folder),
    )


def recorded_training_run(evaluation_json: str | Path, extra: dict[str, Any]) -> TrainingRun:
    """The training facts an earlier ``evaluation.json`` recorded for the snapshot with
    metadata `extra`, so a model card can be measured again after its run folder is gone."""
    path = Path(evaluation_json)
    if not path.is_file():
        state = "is a folder" if path.is_dir() else "does not exist"
        raise GANliftError(f"{path} {state}; pass an evaluation.json written by evaluate-gan.")
    recorded = _read_json(path).get("training")
    if not isinstance(recorded, dict):
        raise GANliftError(
            f"{path} holds no training facts; pass an evaluation.json written by evaluate-gan."
        )
    if extra.get("step") is None:
        raise GANliftError(
            "This checkpoint records no training step, so it cannot be matched with the "
            f"snapshot {path} describes; pass a snapshot written by train-gan."
        )
    if (recorded.get("snapshot_step"), recorded.get("snapshot_kimg")) != (
        extra.get("step"),
        extra.get("kimg"),
    ):
        raise GANliftError(
            f"{path} describes the snapshot at step {recorded.get('snapshot_step')}, not this "
            f"checkpoint's step {extra.get('step')}; pass the evaluation of this snapshot."
        )
    values = {field.name: recorded.get(field.name) for field in fields(TrainingRun)}
    for name, value in values.items():
        kind = _RECORDED_KINDS.get(name)
        if value is not None and kind is not None and not _is_kind(value, kind):
            raise GANliftError(
                f"{path} records training.{name} {str(value)[:40]!r}, which is not {kind}; "
                "evaluate the snapshot with its run folder (--run-dir) instead."
            )
    values["run_dir"] = Path(values["run_dir"]) if values["run_dir"] else None
    values["sessions"] = int(values["sessions"] or 0)
    dataset = values["dataset"]
    values["dataset"] = (
        config_from_dict(DatasetInfo, dataset, f"{path}'s training.dataset") if dataset else None
    )
    return TrainingRun(**values)


_RECORDED_KINDS = {
    "run_dir": "a text", "data_dir": "a text", "device": "a text", "precision": "a text",
    "train_command": "a text", "snapshot_step": "a whole number", "sessions": "a whole number",
    "data_images": "a whole number", "snapshot_kimg": "a number", "target_kimg": "a number",
    "latest_kimg": "a number", "wall_time_s": "a number",
}  # fmt: skip
"""What each recorded training fact must be (the data set is checked as a `DatasetInfo`)."""


def _is_kind(value: Any, kind: str) -> bool:
    """Whether `value` is of a `_RECORDED_KINDS` kind."""
    if kind == "a text":
        return isinstance(value, str)
    return is_whole(value) if kind == "a whole number" else finite_number(value)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as error:
        raise GANliftError(f"{path} is not valid JSON; restore it from the run.") from error
    return data if isinstance(data, dict) else {}


def _wall_time(records: list[dict[str, Any]], snapshot_step: int) -> float:
    """Training seconds up to `snapshot_step`: per session, from its start to its last
    record at or before that step, summed."""
    total, session_start, session_end = 0.0, None, None
    for record in records:
        if record.get("event") == "start":
            if session_start is not None and session_end is not None:
                total += session_end - session_start
            session_start, session_end = record["time"], None
        elif session_start is not None and record.get("step", 0) <= snapshot_step:
            session_end = record["time"]
    if session_start is not None and session_end is not None:
        total += session_end - session_start
    return total


def check_category(category: str, data_dir: str | Path | None) -> None:
    """Refuse `category` for a synth data set that records another one: its labels would be
    read as the wrong object's, and a card would give the wrong recipe."""
    info = _dataset_info(data_dir)
    if info is not None and info.category != category:
        raise GANliftError(
            f"--category {category} does not fit {data_dir}: it is a synthetic {info.category} "
            f"set (its synth.json says so); pass --category {info.category}."
        )


def _dataset_info(data_dir: str | Path | None) -> DatasetInfo | None:
    """The `DatasetInfo` beside a run's image folder, when it is a synth data set."""
    if data_dir is None:
        return None
    for folder in (Path(data_dir).parent, Path(data_dir)):
        if (folder / "synth.json").is_file():
            return read_info(folder)
    return None


def _train_command(
    config: TrainConfig | None, data_dir: str | None, run_dir: Path | None
) -> str | None:
    """The `train-gan` command line that reproduces (or resumes) the run."""
    if config is None or data_dir is None or run_dir is None:
        return None
    return train_command(config, data_dir, run_dir)
