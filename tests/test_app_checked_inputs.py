"""The app's checked inputs: API values a control cannot take are one sentence naming it, and a
picture's redraw refused for a slider out of range is drawn again from the range's end."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr
import pytest

from app.checked_inputs import one_of, redraw_after_refusal, slider
from app.inputs import seed_number
from engine.errors import GANliftError


def test_a_number_too_large_for_a_float_is_one_sentence() -> None:
    azimuth = slider(-60, 60, label="Azimuth (°)")
    with pytest.raises(gr.Error, match=r"Azimuth \(°\) must be a number from -60 to 60"):
        azimuth.preprocess(10**400)  # float() raises OverflowError


def test_a_choice_passes_none_through_and_refuses_other_values() -> None:
    quality = one_of(gr.Radio(["fast", "full"], label="Quality"))
    assert quality.preprocess(None) is None and quality.preprocess("full") == "full"
    with pytest.raises(gr.Error, match="Quality must be one of fast, full, got 'slow'"):
        quality.preprocess("slow")


def refused_redraw(draw: Callable[[float], str]) -> Callable[..., list]:
    """The redraw `redraw_after_refusal` adds to a slider's picture event drawn by `draw`."""
    with gr.Blocks() as demo:
        azimuth = slider(-60, 60, value=0, label="Azimuth (°)")
        picture, quiet = gr.Image(), gr.Markdown()
        event = azimuth.input(draw, [azimuth], picture)
        redraw_after_refusal(event, draw, [azimuth], picture, quiet)
    (handler,) = [
        fn.fn for fn in demo.fns.values() if fn.fn.__name__ == draw.__name__ and fn.fn is not draw
    ]
    return handler


def test_a_refused_slider_value_is_drawn_again_from_the_range_s_end() -> None:
    drawn: list[float] = []

    def draw(azimuth: float) -> str:
        drawn.append(azimuth)
        return f"view at {azimuth:g}"

    redraw = refused_redraw(draw)
    assert redraw(500) == ["view at 60", 60.0]  # the picture, and the slider moved to the end
    assert drawn == [60.0]


def test_a_redraw_refused_in_turn_changes_nothing() -> None:
    def draw(azimuth: float) -> str:
        raise gr.Error("Nothing is reconstructed yet.")

    redraw = refused_redraw(draw)
    skipped = redraw(500)
    assert len(skipped) == 2 and all(value == gr.skip() for value in skipped)


@pytest.mark.parametrize("typed", [None, "", "  "])
def test_an_empty_seed_box_says_it_is_empty(typed: str | None) -> None:
    with pytest.raises(GANliftError, match=r"^Seed A is empty; enter a whole number from 0 to"):
        seed_number(typed, "Seed A")
