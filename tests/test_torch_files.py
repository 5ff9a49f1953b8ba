"""The weights-only reader of GANlift's own PyTorch files: round trip, and one-sentence errors
for a missing file, a damaged one and one carrying code."""

from __future__ import annotations

import os
import pickle
import re

import pytest
import torch

from engine.errors import GANliftError
from engine.torch_files import load_weights, read_torch_file

MESSAGES = {"missing": "no file; check the path.", "damaged": "bad file; write it again."}


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("true",))


def test_a_saved_dict_reads_back(tmp_path) -> None:
    torch.save({"step": 3, "weights": torch.arange(4.0)}, tmp_path / "state.pt")
    state = read_torch_file(tmp_path / "state.pt", **MESSAGES)
    assert state["step"] == 3 and state["weights"].tolist() == [0, 1, 2, 3]


def test_missing_damaged_and_code_carrying_files_raise_the_given_sentences(tmp_path) -> None:
    with pytest.raises(GANliftError, match=f"^{re.escape(MESSAGES['missing'])}$"):
        read_torch_file(tmp_path / "absent.pt", **MESSAGES)
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(GANliftError, match=f"^{re.escape(MESSAGES['damaged'])}$"):
        read_torch_file(tmp_path / "cut.pt", **MESSAGES)
    (tmp_path / "code.pt").write_bytes(pickle.dumps(_RunsCode(), protocol=2))
    with pytest.raises(GANliftError, match=f"^{re.escape(MESSAGES['damaged'])}$"):
        read_torch_file(tmp_path / "code.pt", **MESSAGES)
    (tmp_path / "text.pt").write_text("hello world")  # the legacy unpickler raised KeyError: 101
    with pytest.raises(GANliftError, match=f"^{re.escape(MESSAGES['damaged'])}$"):
        read_torch_file(tmp_path / "text.pt", **MESSAGES)


def test_weights_that_do_not_fit_the_network_are_one_sentence() -> None:
    network = torch.nn.Linear(2, 1)
    good = network.state_dict()
    for state, refusal in (
        (good | {"step": torch.tensor(3)}, r"does not fit the Linear .*Unexpected key.*step"),
        (good | {"weight": good["weight"].long()}, r"holds weight as torch\.int64, not floating"),
        (good | {"bias": torch.tensor([float("nan")])}, r"1 value in bias that is not finite"),
    ):
        with pytest.raises(GANliftError, match=refusal):
            load_weights(network, state, "w.pt", "write it again")
    load_weights(network, good, "w.pt", "write it again")
