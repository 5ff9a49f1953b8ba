"""The tqdm bar behind every long command: its rate and ETA count from this sitting only."""

from __future__ import annotations

import io

import pytest
from tqdm import tqdm

import engine.progress
from engine.progress import tqdm_progress


def test_a_phase_resumed_part_way_counts_its_rate_from_its_first_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bars: list[tqdm] = []

    def recording_tqdm(**kwargs: object) -> tqdm:
        bars.append(tqdm(file=io.StringIO(), **kwargs))
        return bars[-1]

    monkeypatch.setattr(engine.progress, "tqdm", recording_tqdm)
    with tqdm_progress("train-gan") as report:
        report(64, 100, "caching images")
        report(5000, 9000, "kimg 80.00")
        report(5010, 9000, "kimg 80.16")
        (bar,) = bars
        meter = bar.format_dict
        assert (meter["initial"], meter["n"], meter["total"]) == (5000, 5010, 9000)
