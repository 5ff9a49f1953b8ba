"""The weights-only reader of GANlift's own PyTorch files: round trip, and one-sentence errors
for a missing file, a damaged one and one carrying code."""

from __future__ import annotations

import os
import pickle
import re

import pytest
import torch

from engine.errors import GANliftError
from engine.torch_files import (
    load_optimizer_state,
    load_weights,
    read_torch_file,
    stores_every_value,
)

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
    with pytest.raises(GANliftError, match=r"is a folder; pass a file\.$"):
        read_torch_file(tmp_path, **MESSAGES)
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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.uint8])
def test_an_expanded_tensor_does_not_store_every_value(dtype: torch.dtype) -> None:
    """Counted in bytes: one float32 expanded to 4 values has a 4-byte storage."""
    assert stores_every_value(torch.zeros(4, dtype=dtype))
    assert not stores_every_value(torch.zeros(1, dtype=dtype).expand(4))
    assert not stores_every_value(torch.zeros(2, dtype=dtype).expand(3, 2))
    assert stores_every_value(torch.zeros(8, dtype=dtype)[2:4])  # a view of a larger storage


def test_an_optimiser_state_with_non_finite_moments_is_refused() -> None:
    """Adam moments of NaN would turn the resumed run's weights to NaN at its first step."""
    network = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(network.parameters())
    network(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    state = optimizer.state_dict()
    fresh = torch.optim.Adam(network.parameters())
    load_optimizer_state(fresh, state, "state.pt", "write it again")
    state["state"][0]["exp_avg"][0, 0] = float("nan")
    with pytest.raises(GANliftError, match="holds an optimiser exp_avg that is not finite"):
        load_optimizer_state(torch.optim.Adam(network.parameters()), state, "state.pt", "fix")
