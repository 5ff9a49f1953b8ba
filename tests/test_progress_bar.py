"""The tqdm bar behind every long command: its rate and ETA count from this sitting only."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tqdm import tqdm

import engine.progress
from engine.progress import tqdm_progress

REPO = Path(__file__).resolve().parents[1]


def test_a_phase_resumed_part_way_counts_its_rate_from_its_first_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bars: list[tqdm] = []

    def recording_tqdm(**kwargs: object) -> tqdm:
        bars.append(tqdm(**kwargs | {"file": io.StringIO()}))
        return bars[-1]

    monkeypatch.setattr(engine.progress, "tqdm", recording_tqdm)
    with tqdm_progress("train-gan") as report:
        report(64, 100, "caching images")
        report(5000, 9000, "kimg 80.00")
        report(5010, 9000, "kimg 80.16")
        (bar,) = bars
        meter = bar.format_dict
        assert (meter["initial"], meter["n"], meter["total"]) == (5000, 5010, 9000)


def test_a_log_gets_a_draw_per_interval_not_one_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """One draw per step wrote 1.2 MB on one line of a default train-gan log."""
    log = io.StringIO()  # no terminal
    monkeypatch.setattr(sys, "stderr", log)
    with tqdm_progress("invert") as report:
        for step in range(1, 201):
            report(step, 200, f"loss {1 / step:.4f}")
    drawn = log.getvalue()
    assert drawn.count("\r") <= 3 and "200/200" in drawn and "loss 0.0050" in drawn


class _NotebookStream(io.StringIO):
    """What ipykernel puts in sys.stderr: no terminal, yet the notebook redraws a line."""


_NotebookStream.__module__ = "ipykernel.iostream"


@pytest.mark.parametrize(
    ("stderr", "interval"),
    [(_NotebookStream(), 0.1), (io.StringIO(), engine.progress.LOG_DRAW_SECONDS)],
    ids=["notebook", "log"],
)
def test_a_notebook_s_bar_moves_as_a_terminal_s(
    stderr: io.StringIO, interval: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook's bar was drawn as a log's, every 10 s."""
    intervals: list[float] = []

    def recording_tqdm(**kwargs: object) -> tqdm:
        intervals.append(kwargs["mininterval"])
        return tqdm(**kwargs)

    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(engine.progress, "tqdm", recording_tqdm)
    with tqdm_progress("reconstruct") as report:
        report(1, 5, "step")
    assert intervals == [interval] and "1/5" in stderr.getvalue()


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("stderr", [_ClosedPipe(), None], ids=["closed pipe", "closed stderr"])
def test_a_stream_that_fails_ends_the_drawing_not_the_work(
    stderr: io.StringIO | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`2>&1 | head -1` killed a reconstruction 3.6 s in; `2>&-` failed every command."""
    monkeypatch.setattr(sys, "stderr", stderr)
    with tqdm_progress("reconstruct") as report:
        for step in range(1, 6):
            report(step, 5, "step")


def test_tqdm_disable_turns_the_bars_off() -> None:
    """The README's `TQDM_DISABLE=1` was ignored: the bar passed `disable` itself, and tqdm
    reads its variables only for the arguments left out."""
    code = "from engine.progress import tqdm_progress\nwith tqdm_progress('x') as p: p(3, 3, 'a')"
    for value, drawn in (("1", False), ("", True)):
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env=os.environ | {"TQDM_DISABLE": value},
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert ("3/3" in result.stderr) is drawn, result.stderr
