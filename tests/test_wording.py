"""Counts and kinds in messages read as written English ("1 samples", "got a int" did not)."""

from __future__ import annotations

import numpy as np
import torch

from engine.wording import counted, type_phrase


def test_a_count_of_one_takes_the_singular() -> None:
    assert counted(1, "sample") == "1 sample" and counted(3, "sample") == "3 samples"
    assert counted(0, "row") == "0 rows"
    assert counted(2, "process", "processes") == "2 processes"
    assert counted(1, "process", "processes") == "1 process"


def test_a_kind_takes_its_article() -> None:
    assert type_phrase(np.zeros(1)) == "an ndarray" and type_phrase(3) == "an int"
    assert type_phrase(torch.zeros(1)) == "a Tensor" and type_phrase(None) == "None"
