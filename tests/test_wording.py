"""Counts and kinds in messages read as written English ("1 samples", "got a int" did not), and
refused values are repeated short and on one line."""

from __future__ import annotations

import numpy as np
import torch

from engine.wording import counted, shown, type_phrase


def test_a_count_of_one_takes_the_singular() -> None:
    assert counted(1, "sample") == "1 sample" and counted(3, "sample") == "3 samples"
    assert counted(0, "row") == "0 rows"
    assert counted(2, "process", "processes") == "2 processes"
    assert counted(1, "process", "processes") == "1 process"


def test_a_kind_takes_its_article() -> None:
    assert type_phrase(np.zeros(1)) == "an ndarray" and type_phrase(3) == "an int"
    assert type_phrase(torch.zeros(1)) == "a Tensor" and type_phrase(None) == "None"


def test_a_refused_value_is_repeated_short_and_on_one_line() -> None:
    assert shown("12a") == "12a" and shown("12a", quoted=True) == "'12a'"
    assert shown("abc\n2026 ganlift.app: forged") == "'abc\\n2026 ganlift.app: forged'"
    assert shown("1" * 1_000_000) == "1" * 200 + "... (1,000,000 characters)"
    assert shown("1" * 200) == "1" * 200  # as long as may be shown: nothing cut, nothing said
    assert shown("1" * 201) == "1" * 200 + "... (201 characters)"
    assert shown("u" * 100, quoted=True, most=4) == "'uuuu'... (100 characters)"
    assert shown("\n" + "u" * 100, most=4) == "'\\nuuu'... (101 characters)"
    assert shown([1] * 100, most=20) == "[1, 1, 1, 1, 1, 1, ...]"
    assert shown(None) == "None" and shown(7) == "7"
