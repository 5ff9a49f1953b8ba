"""The view-labelling panel's handlers on a tiny GAN: strips per view code, the labels table,
the saved files (readable by the CLI's loaders), and one sentence for each bad input."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
import torch

from app import view_labels
from app.session import AppContext, Session
from engine.styleganr import load_hand_labels, load_view_codes, sample_view_codes
from tests.e2e.tiny_model import tiny_app_context, write_tiny_model


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> AppContext:
    return tiny_app_context(*write_tiny_model(tmp_path_factory.mktemp("tiny-views")))


def test_draw_shows_one_captioned_strip_per_view_code_and_an_empty_table(
    context: AppContext,
) -> None:
    session = Session(context)
    strips, table = view_labels.draw_view_codes(session, 3, 2, 5)
    assert [caption for _, caption in strips] == ["view 0", "view 1", "view 2"]
    height, width, channels = strips[0][0].shape
    assert channels == 3 and width > (view_labels.SAMPLES_PER_VIEW - 1) * height  # a strip
    assert not np.array_equal(strips[0][0], strips[1][0])
    assert table == [[0, ""], [1, ""], [2, ""]]
    expected = sample_view_codes(session.model().generator, 3, num_view_layers=2, seed=5)
    assert torch.equal(session.view_codes.codes, expected.codes)
    again, _ = view_labels.draw_view_codes(Session(context), 3, 2, 5)
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(strips, again, strict=True))


def test_saved_labels_give_the_labelled_codes_their_bin_cameras(context: AppContext) -> None:
    session = Session(context)
    view_labels.draw_view_codes(session, 4, 2, 0)
    table = [[0, "2"], [1, ""], [2, 4.0], [3]]  # a blank bin, and a row of one cell as an API
    files, note = view_labels.save_view_labels(session, table, 8, 15)  # client may send it
    codes, labels, labelled = files
    assert "Labelled 2 of 4 view codes; StyleGAN-R trains on labelled-views" in note
    assert torch.equal(load_view_codes(codes).codes, session.view_codes.codes)
    assert load_hand_labels(labels).bins == {0: 2, 2: 4}
    # the codes they label are named, so `styleganr hand-label` refuses them for other codes
    assert load_hand_labels(labels).views == load_view_codes(codes).fingerprint()
    views = load_view_codes(labelled)
    assert torch.equal(views.codes, session.view_codes.codes[[0, 2]])
    assert views.cameras.tolist() == [[90.0, 15.0, 1.0], [180.0, 15.0, 1.0]]


def test_each_row_labels_the_view_it_names_in_whatever_order(context: AppContext) -> None:
    """Rows [[2, 5], [0, 3], [1, 4]] (a table sorted on the page) gave view 0 bin 5."""
    session = Session(context)
    view_labels.draw_view_codes(session, 3, 2, 0)
    files, _ = view_labels.save_view_labels(session, [[2, "5"], [0, "3"], [1, 4]], 8, 15)
    assert load_hand_labels(files[1]).bins == {0: 3, 1: 4, 2: 5}


@pytest.mark.parametrize(
    ("table", "bins", "message"),
    [
        (
            [[0, "front"], [1, ""]],
            8,
            "The azimuth bin of view 0 must be a whole number, got front",
        ),
        ([[0, "1.5"], [1, ""]], 8, "azimuth bin of view 0 must be a whole number"),
        (
            [[0, "9"], [1, ""]],
            8,
            "Azimuth bins must be from 0 to 7, got 9 for view 0; use bins of 45°",
        ),
        ([[0, ""], [1, ""]], 8, "No view code has a hand label yet"),
        ([[0, "1"]], 8, "The labels table has 1 row for 2 view codes; draw the view codes again"),
        ([[0, "1"], [1, ""], [2, ""]], 8, "The labels table has 3 rows for 2 view codes"),
        ([[0, "1"], [0, ""]], 8, "The labels table lists view 0 twice; draw the view codes"),
        ([[0, "1"], [2, ""]], 8, "A view in the labels table must be a whole number from 0 to 1"),
        ([[0, "1"], []], 8, "A view in the labels table is empty"),
        (
            [[0, "1"], [1, ""]],
            0,
            "The number of azimuth bins must be a whole number from 1 to 360, got 0",
        ),
        (
            [[0, "1"], [1, ""]],
            1_000_000,  # was named num_bins
            "The number of azimuth bins must be a whole number from 1 to 360, got 1000000",
        ),
    ],
)
def test_bad_labels_are_refused_in_one_sentence_and_write_nothing(
    context: AppContext, table: list, bins: int, message: str
) -> None:
    session = Session(context)
    view_labels.draw_view_codes(session, 2, 2, 0)
    with pytest.raises(gr.Error, match=message):
        view_labels.save_view_labels(session, table, bins, 10)
    assert not (session.work_dir / "view-labels").exists()


def test_a_blank_or_impossible_elevation_is_refused_in_one_sentence(context: AppContext) -> None:
    session = Session(context)
    view_labels.draw_view_codes(session, 2, 2, 0)
    for elevation in (None, float("nan"), 1e309):  # the messages named a scale, not shown here
        with pytest.raises(gr.Error, match=f"Elevation must be a finite number, got {elevation}"):
            view_labels.save_view_labels(session, [[0, "1"], [1, ""]], 8, elevation)
    with pytest.raises(gr.Error, match=r"Hand labels need an elevation from -90 to 90 degrees"):
        view_labels.save_view_labels(session, [[0, "1"], [1, ""]], 8, -400)
    assert not (session.work_dir / "view-labels").exists()


def test_bad_draws_and_saving_before_drawing_are_refused(context: AppContext) -> None:
    session = Session(context)
    with pytest.raises(gr.Error, match="no view codes to label yet; draw them first"):
        view_labels.save_view_labels(session, [], 8, 10)
    with pytest.raises(
        gr.Error, match="number of view codes must be a whole number from 1 to 48, got 0"
    ):
        view_labels.draw_view_codes(session, 0, 2, 0)
    for layers, said in ((99, "must be a whole number from 1 to "), ("", "is empty; enter a")):
        with pytest.raises(gr.Error, match=rf"View layers \(W\+ rows\) {said}"):  # its box's label
            view_labels.draw_view_codes(session, 2, layers, 0)
    with pytest.raises(gr.Error, match="The seed must be a whole number from 0 to 4294967295"):
        view_labels.draw_view_codes(session, 2, 2, float("nan"))
    assert session.view_codes is None
