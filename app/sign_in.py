"""Sign-in for the app's visitors (`launch.py --auth-file`): the names and passwords Gradio's
login page asks for, read from a file so that no password shows in the process list."""

from __future__ import annotations

import hmac
import logging
from pathlib import Path

from engine.errors import GANliftError
from engine.wording import shown

logger = logging.getLogger("ganlift.app")
MAX_LOGGED_NAME = 64
"""Most characters of a refused name the log repeats."""
SIGN_IN_MESSAGE = "GANlift: sign in with the name and password the host gave you."
"""What the login page says above its form."""


def read_sign_ins(path: Path) -> list[tuple[str, str]]:
    """The `(name, password)` pairs of the file at `path`: one `NAME:PASSWORD` per line (the
    password may hold colons; blank lines and lines starting with '#' are skipped)."""
    flag = f"--auth-file {path}"
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()  # Notepad's BOM too
    except UnicodeDecodeError:
        raise GANliftError(
            f"{flag} is not a text file; write one NAME:PASSWORD per line."
        ) from None
    except OSError as error:
        raise GANliftError(
            f"{flag} cannot be read ({error.strerror or error}); name a file of NAME:PASSWORD "
            "lines this user may read."
        ) from None
    sign_ins: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, password = line.partition(":")
        name = name.strip()  # as Gradio's login form sends it
        if not (name and colon and password):
            raise GANliftError(
                f"{flag}: line {number} is not NAME:PASSWORD (a name, a colon, then the "
                "password); correct or delete it."
            )
        if name in sign_ins:
            raise GANliftError(f"{flag} names '{name}' twice (line {number}); keep one line.")
        sign_ins[name] = password
    if not sign_ins:
        raise GANliftError(f"{flag} holds no NAME:PASSWORD line; add one per visitor.")
    return list(sign_ins.items())


class SignInCheck:
    """What Gradio's login asks: whether a name and password are one of the file's pairs.
    Each refusal is logged with the name tried (never the password): with a fixed list Gradio
    checks alone, and the log said nothing of guessing or of a colleague's broken entry."""

    def __init__(self, sign_ins: list[tuple[str, str]]) -> None:
        self._passwords = dict(sign_ins)

    def __call__(self, name: str, password: str) -> bool:
        expected = self._passwords.get(name)
        if expected is not None and hmac.compare_digest(expected.encode(), password.encode()):
            return True
        logged_name = shown(name, quoted=True, most=MAX_LOGGED_NAME)  # 1 MB names flooded it
        logger.warning("sign-in refused for the name %s", logged_name)
        return False
