"""Command-line interface: `python -m engine <subcommand> ...`.

Each module in `COMMAND_MODULES` defines `register(subparsers)`, which adds its
subcommands and binds each to a function `run(args) -> int` via `set_defaults(run=...)`.
The functions called here are the same ones the app and the tests call.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import select
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from engine.cli.arguments import (
    INTERRUPTED,
    OUTPUT_CLOSED,
    ArgumentParser,
    escape_unencodable_output,
    expand_home,
    refuse_inputs_as_outputs,
    report_error,
)
from engine.progress import sigterm_as_ctrl_c

COMMAND_MODULES: tuple[str, ...] = (
    "engine.cli.batch",
    "engine.cli.evaluate",
    "engine.cli.gan",
    "engine.cli.reconstruct",
    "engine.cli.styleganr",
    "engine.cli.synth",
    "engine.cli.train",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = ArgumentParser(
        prog="python -m engine",
        description="GANlift engine: StyleGAN2, inversion, 3D recovery, synthetic data.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; failures its user can act on (`report_error`) become one line on
    stderr and exit code 2. The folders a failed command made for --out go again where it left
    them empty (the commands make them first, so that a bad --out costs nothing)."""
    escape_unencodable_output()
    try:
        argv = expand_home(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(argv)  # imports every command: seconds, torch among them
        refuse_inputs_as_outputs(args, argv)
        with sigterm_as_ctrl_c(), _out_folder_removed_if_left_empty(getattr(args, "out", None)):
            return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError as error:
        if not _reader_gone(sys.stdout):  # another pipe (a child process's): a failure
            return report_error(error)
        _discard_output(sys.stdout)  # Python's own flush at exit would raise again
        return OUTPUT_CLOSED
    except Exception as error:
        return report_error(error)


def _reader_gone(stream: TextIO) -> bool:
    """Whether `stream` is a pipe whose reader closed it (`| head` has read its fill): Linux
    reports that as POLLERR, macOS as POLLHUP."""
    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        gone = select.POLLERR | select.POLLHUP
        return any(events & gone for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no descriptor, closed
        return False


def _discard_output(stream: TextIO) -> None:
    """Point `stream`'s descriptor at the null device."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


@contextlib.contextmanager
def _out_folder_removed_if_left_empty(out: str | os.PathLike | None) -> Iterator[None]:
    """Remove the folders the body made on the way to `out` (`out` itself included) when it
    fails, as far as they are empty: `--out new/run` left `new/` behind."""
    made = []
    folder = None if out is None else Path(out)
    while folder is not None and not os.path.lexists(folder) and folder != folder.parent:
        made.append(folder)
        folder = folder.parent
    try:
        yield
    except BaseException:
        for folder in made:  # the deepest first
            try:
                folder.rmdir()
            except FileNotFoundError:  # a file's path, or a folder the body never made
                continue
            except OSError:  # not empty, or not a folder: it and those above it stay
                break
        raise
