"""The one exception type that carries a message meant for a person.

Raise `GANliftError("one sentence naming the input and the fix")` for anything a user
can cause (bad file, wrong shape, missing model). The CLI prints it on one line and
exits non-zero; the app turns it into `gr.Error`. Anything else is a bug.
"""


class GANliftError(Exception):
    """A failure caused by the user's input, with a message that says what to do."""


class StoppedEarly(GANliftError):
    """The user stopped a job before it had anything worth keeping (nothing was saved)."""
