"""What each GANlift state file is, by its format tag: refusals of a wrong file name what it
holds and which command writes the file that was asked for."""

from __future__ import annotations

STATE_KINDS = {
    "ganlift-styleganr": ("a StyleGAN-R model", "styleganr train-mapping or export"),
    "ganlift-styleganr-view-labeller": ("a view labeller", "styleganr train-labeller"),
    "ganlift-styleganr-inverse-graphics": (
        "an inverse graphics network",
        "styleganr train-inverse",
    ),
    "ganlift-stylegan2-training": ("a train-gan training state", "train-gan"),
}
"""(what it is, which command writes it), by format tag."""


def state_kind(format_tag: str) -> str:
    """What a GANlift file of `format_tag` is: "a view labeller", or "a '<tag>' file"."""
    return STATE_KINDS.get(format_tag, (f"a '{format_tag}' file",))[0]
