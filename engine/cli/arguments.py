"""Argument types and error reporting shared by `python -m engine`, the benchmark scripts
(`python -m bench.NAME`) and the research scripts (`python -m scripts.NAME`): a bad value is
one argparse line and exit status 2, an engine error one `error:` line and exit status 2."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.atomic import torch_file
from engine.errors import GANliftError, out_of_memory, refused_path
from engine.limits import MAX_SEED
from engine.stylegan2.checkpoint import MODELS_DIR, is_model_name, safetensors_path

INTERRUPTED = 130
"""Exit status of a command that Ctrl-C (or a stop signal) ended early, as shells report
SIGINT; what it finished is kept and a rerun continues it."""
OUTPUT_CLOSED = 141
"""Exit status of a command whose standard output was closed by its reader (`| head -1`), as
shells report SIGPIPE; its files were written."""


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout, wrapped between words only: names such as `default-car` or
    `--max-upload-mb` are not split at their hyphens; a number option's help says the range
    its type (`at_least`) takes, unless that is only 'at least 0' or 'at least 1'."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        bounds = getattr(action.type, "bounds", None)
        if bounds is None or bounds in ("at least 0", "at least 1") or bounds in text:
            return text
        default = " (%(default)s)"
        if text.endswith(default):
            return f"{text.removesuffix(default)}, {bounds}{default}"
        return f"{text} ({bounds})"

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(
            " ".join(text.split()), width, initial_indent=indent, subsequent_indent=indent,
            break_on_hyphens=False,
        )  # fmt: skip


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser laid out by `HelpFormatter`, as are the subcommands' parsers it
    makes."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def script_parser(module: str, doc: str | None) -> ArgumentParser:
    """The parser of a benchmark or research script run as `python -m MODULE` (its usage line
    names that command, not the file, which cannot run alone), described by the first
    paragraph of its docstring `doc`."""
    return ArgumentParser(prog=f"python -m {module}", description=(doc or "").split("\n\n")[0])


def seed(text: str) -> int:
    """An argparse type: a seed from 0 to `MAX_SEED`."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"a seed is a whole number from 0 to {MAX_SEED}, got '{text}'"
        )
    return value


def at_least(
    minimum: float, kind: type[int] | type[float] = int, *, maximum: float = math.inf
) -> Callable[[str], float]:
    """An argparse type: a whole number (`kind` int) or a finite number (float) of at least
    `minimum` (and at most `maximum`, for counts that would otherwise run for hours before
    running out of memory)."""
    noun = "a whole number" if kind is int else "a number"
    shown = "{:.0f}".format if kind is int else "{:g}".format
    bounds = f"of at least {shown(minimum)}"
    if maximum < math.inf:
        bounds = f"from {shown(minimum)} to {shown(maximum)}"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not minimum <= value <= maximum or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected {noun} {bounds}, got '{text}'")
        return value

    parse.bounds = bounds.removeprefix("from ").removeprefix("of ")  # for the options' help
    return parse


MAX_STEPS = 10_000_000
"""Most steps of a training run or phase: more is a typo that would run for years."""
MAX_BATCH = 1024
"""Most samples of one training step (each holds its own activations, or its own projection
context in GAN2Shape's pretraining)."""
MAX_THREADS = 1024
"""Most CPU threads a command may ask torch for (a huge count overflowed its setting)."""


def torch_output(text: str) -> str:
    """An --out that `torch.save` writes, its name checked before the work (see
    `engine.atomic.torch_file`)."""
    try:
        torch_file(text)
    except GANliftError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return text


def threads(text: str) -> int:
    """An argparse type: a count of CPU threads, 1 to `MAX_THREADS`."""
    return at_least(1, maximum=MAX_THREADS)(text)


def add_threads_option(parser: argparse.ArgumentParser, default: int) -> None:
    """A `--threads N` option: the CPU threads torch runs on (a benchmark's figures hold for
    the count it names)."""
    parser.add_argument(
        "--threads", type=threads, default=default, help="torch CPU threads (%(default)s)"
    )


def add_device_option(parser: argparse.ArgumentParser, *, after_group: bool = False) -> None:
    """A `--device` option: auto (a GPU where there is one), cpu, cuda or cuda:N. With
    `after_group` it only overrides the `--device` its command group took (default auto)."""
    parser.add_argument(
        "--device",
        default=argparse.SUPPRESS if after_group else "auto",
        help="auto, cpu, cuda or cuda:N (auto)",
    )


def positive(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got '{text}'")
    return value


def numbers(minimum: float, maximum: float) -> Callable[[str], list[float]]:
    """An argparse type: comma-separated numbers from `minimum` to `maximum` (an empty text
    gives none)."""

    def parse(text: str) -> list[float]:
        try:
            values = [float(part) for part in text.split(",") if part.strip()]
        except ValueError:
            values = [math.nan]
        if not all(minimum <= value <= maximum for value in values):
            raise argparse.ArgumentTypeError(
                f"expected comma-separated numbers from {minimum:g} to {maximum:g}, got '{text}'"
            )
        return values

    return parse


def report_error(error: Exception) -> int:
    """Print one `error: ...` line for a failure its user can act on (an engine error, running
    out of memory, a path the system refuses) and return exit status 2; raise any other error
    again, as a bug, with its traceback."""
    if isinstance(error, GANliftError):
        line = str(error)
    elif (sentence := refused_path(error)) is not None:
        line = sentence
    elif (phrase := out_of_memory(error)) is not None:
        line = (
            f"The command {phrase}; ask for less at once (fewer samples, frames or threads, a "
            "smaller batch or image size) or free some memory."
        )
    else:
        raise error
    print(f"error: {line}", file=sys.stderr)
    return 2


def run_script(main: Callable[[], None]) -> None:
    """Call a script's `main`; a failure its user can act on (see `report_error`) becomes one
    `error: ...` line on stderr and exit status 2 instead of a traceback."""
    try:
        main()
    except Exception as error:
        sys.exit(report_error(error))


def escape_unencodable_output() -> None:
    """Write characters that standard output's encoding lacks as escapes (`\\u2248`), as
    Python already does on standard error, rather than fail on them: a Windows console or file
    in cp1252 has no '≈', and a line naming such a file ended the command with
    UnicodeEncodeError after its work was done."""
    with contextlib.suppress(AttributeError, ValueError):  # replaced, or closed
        sys.stdout.reconfigure(errors="backslashreplace")


def expand_home(argv: Sequence[str]) -> list[str]:
    """`argv` with a `~` that starts a path expanded to the home folder, as the shell does for
    a bare word but not after `--out=` nor inside quotes: `--out=~/lifted` made a folder
    named `~` in the current one."""
    expanded = []
    for word in argv:
        option, equals, value = word.partition("=") if word.startswith("--") else ("", "", word)
        if value.startswith("~"):
            word = option + equals + os.path.expanduser(value)
        expanded.append(word)
    return expanded


OUTPUT_OPTIONS = ("out", "recon", "json", "preview")
"""The options through which a command writes files."""


def refuse_inputs_as_outputs(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Refuse a command that would write one of its output options over a file it reads (a
    .safetensors file's .json config beside it included): `invert m.pt face.png --out m.pt`
    replaced the checkpoint by a latent, and `--recon face.png` the photo, unsaid. The
    refusal names each option as `argv` gave it. A checkpoint named without its file's
    suffix, or an installed model by its name, is read from its files (`invert default-face
    ... --out assets/models/default-face.json` replaced the shipped model's config)."""
    inputs = {}
    for name, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if name in OUTPUT_OPTIONS or not isinstance(item, str):
                continue
            for path in _files_read(item):
                inputs.setdefault(os.path.realpath(path), _as_given(name, argv))
    for name in OUTPUT_OPTIONS:
        value = getattr(args, name, None)
        if isinstance(value, str) and os.path.realpath(value) in inputs:
            raise GANliftError(
                f"--{name} {value} is a file the command reads ({inputs[os.path.realpath(value)]});"
                " write to another name so that it is kept."
            )


def _files_read(item: str) -> list[Path]:
    """The files an argument `item` names: the file itself, the weights file of a checkpoint
    named without its suffix (`runs/mine`) and an installed model's files (`default-face.*`);
    with each .safetensors file its .json config."""
    path = Path(item)
    guesses = [path]
    if path.name.strip() and not path.suffix:
        guesses.append(safetensors_path(path))
    if is_model_name(item) and MODELS_DIR.is_dir():
        guesses += [file for file in MODELS_DIR.iterdir() if file.name.startswith(f"{item}.")]
    found = [file for file in guesses if _is_file(file)]
    return found + [file.with_suffix(".json") for file in found if file.suffix == ".safetensors"]


def _is_file(path: Path) -> bool:
    """Whether `path` is a file; a name the system cannot look up (too long) is none."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def refuse_networks_as_output(option: str, value: str | None, networks: Path) -> None:
    """Refuse `--option value` naming the pretrained GAN2Shape networks a command reads
    (`networks` or the .json beside it): a model's default networks are read unnamed."""
    if value and Path(value).resolve() in (
        networks.resolve(),
        networks.with_suffix(".json").resolve(),
    ):
        raise GANliftError(
            f"--{option} {value} is a file of the pretrained networks the command reads; write "
            "to another name so that it is kept."
        )


def _as_given(name: str, argv: Sequence[str]) -> str:
    """Argument `name` as the command line gave it: its option, or the positional's name."""
    option = "--" + name.replace("_", "-")
    given = any(word == option or word.startswith(option + "=") for word in argv)
    return option if given else name.replace("_", " ")
