"""Handlers of the view-labelling panel (Models tab): StyleGAN-R's labelling by hand in the
browser. View codes of the session's GAN are drawn, each shown as a strip of the same few
contents, and a person gives each strip an azimuth bin; the codes, the labels and the labelled
codes are saved for `python -m engine styleganr train-inverse` (the paper labelled a dozen
views in about a minute). The same files come from `styleganr view-codes` + `hand-label`.
"""

from __future__ import annotations

import numpy as np

from app.display import picture
from app.inputs import numbers, seed_number, typed_whole_number
from app.session import Session
from engine.errors import GANliftError
from engine.images import make_grid
from engine.styleganr import (
    HandLabels,
    labelling_rows,
    sample_view_codes,
    save_hand_labels,
    save_view_codes,
)
from engine.styleganr.labelling import MAX_AZIMUTH_BINS
from engine.wording import counted

MAX_VIEW_CODES = 48
"""Most view codes drawn at once (each is a strip of SAMPLES_PER_VIEW GAN images)."""
SAMPLES_PER_VIEW = 4
"""Contents shown under each view code: enough to see its view, few enough to be quick."""
TABLE_HEADERS = ["view", "azimuth bin"]
"""Columns of the labels table: the view code's index and its bin (blank: not labelled)."""

StripGallery = list[tuple[np.ndarray, str]]


def draw_view_codes(
    session: Session, count: float, layers: float, seed: float
) -> tuple[StripGallery, list[list]]:
    """Draw ``count`` view codes (``layers`` W+ rows) of the session's GAN from ``seed``: one
    captioned strip per code and an empty labels table with a row per code."""
    with session.action("draw view codes"):
        count = typed_whole_number(
            count, "The number of view codes", minimum=1, maximum=MAX_VIEW_CODES
        )
        generator = session.model().generator
        views = sample_view_codes(
            generator,
            count,
            num_view_layers=typed_whole_number(
                layers, "View layers (W+ rows)", minimum=1, maximum=generator.num_ws - 1
            ),
            seed=seed_number(seed),
        )
        rows = labelling_rows(generator, views, samples_per_view=SAMPLES_PER_VIEW)
        session.view_codes = views
        strips = [
            (picture(make_grid(row, SAMPLES_PER_VIEW)), f"view {index}")
            for index, row in enumerate(rows)
        ]
        return strips, [[index, ""] for index in range(count)]


def save_view_labels(
    session: Session, table: list[list], num_bins: float, elevation: float
) -> tuple[list[str], str]:
    """Save the drawn view codes, the table's azimuth bins (of ``num_bins`` around the
    circle, 0 = front) with one ``elevation`` guess, and the labelled codes; returns the three
    files and a Markdown note on what to run next."""
    with session.action("save view labels"):
        views = session.view_codes
        if views is None:
            raise session.missing("There are no view codes to label yet; draw them first.")
        (elevation,) = numbers(elevation=elevation)
        bins = typed_whole_number(
            num_bins, "The number of azimuth bins", minimum=1, maximum=MAX_AZIMUTH_BINS
        )
        labels = HandLabels(
            num_bins=bins,
            bins=_table_bins(table, len(views.codes)),
            elevation=elevation,
            views=views.fingerprint(),
        )
        labelled = labels.cameras(views)
        folder = session.work_dir / "view-labels"
        files = [
            save_view_codes(views, folder / "view-codes.safetensors"),
            save_hand_labels(labels, folder / "labels.json"),
            save_view_codes(labelled, folder / "labelled-views.safetensors"),
        ]
        note = (
            f"Labelled {len(labels.bins)} of {len(views.codes)} view codes; StyleGAN-R trains "
            "on labelled-views.safetensors (the README's StyleGAN-R section: `styleganr "
            "train-inverse`, then `train-mapping`)."
        )
        return [str(path) for path in files], note


def _table_bins(table: list[list], count: int) -> dict[int, int]:
    """View index → azimuth bin from the table's rows, each naming its view code in its first
    column (a table sorted on the page, or rows sent in another order, keep their views);
    blank bins are skipped."""
    if len(table) != count:
        raise GANliftError(
            f"The labels table has {counted(len(table), 'row')} for "
            f"{counted(count, 'view code')}; draw the view codes again."
        )
    bins: dict[int, int] = {}
    listed: set[int] = set()
    for row in table:
        view = typed_whole_number(
            row[0] if row else None, "A view in the labels table", minimum=0, maximum=count - 1
        )
        if view in listed:
            raise GANliftError(
                f"The labels table lists view {view} twice; draw the view codes again."
            )
        listed.add(view)
        value = "" if len(row) < 2 or row[1] is None else str(row[1]).strip()
        if value:
            bins[view] = typed_whole_number(value, f"The azimuth bin of view {view}")
    return bins
