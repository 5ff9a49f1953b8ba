"""Argument types and error reporting shared by the engine, benchmark and research scripts:
bad input is one `error:` line on stderr and exit status 2, before any work."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from bench.gan2shape import check_shape_rows
from engine.benchmarks.gan2shape_rows import synthetic_category
from engine.cli import build_parser
from engine.cli import main as engine_main
from engine.cli.arguments import (
    OUTPUT_CLOSED,
    at_least,
    expand_home,
    numbers,
    positive,
    refuse_inputs_as_outputs,
    refuse_networks_as_output,
    run_script,
    seed,
)
from engine.cli.arguments import (
    ArgumentParser as SharedParser,
)
from engine.errors import GANliftError, out_of_memory, refused_path
from engine.gan2shape import Gan2ShapeModel
from engine.gan2shape.presets import PRESETS
from engine.styleganr import load_view_codes, sample_view_codes, save_view_codes
from engine.wording import shown
from launch import build_parser as build_launch_parser
from tests.e2e.tiny_model import write_tiny_model
from tests.tiny import tiny_gan, tiny_gan2shape_preset

REPO = Path(__file__).resolve().parents[1]


def test_counts_and_positive_numbers() -> None:
    assert at_least(2)("3") == 3 and at_least(0)("0") == 0
    for text in ("1", "-4", "2.5", "many"):
        with pytest.raises(argparse.ArgumentTypeError, match="a whole number of at least 2"):
            at_least(2)(text)
    assert at_least(0, float)("0.5") == 0.5
    for text in ("-0.1", "nan", "inf", "soon"):
        with pytest.raises(argparse.ArgumentTypeError, match="a number of at least 0"):
            at_least(0, float)(text)
    assert at_least(1, maximum=8)("8") == 8
    for text in ("0", "9", "1e300"):
        with pytest.raises(argparse.ArgumentTypeError, match="a whole number from 1 to 8"):
            at_least(1, maximum=8)(text)
    assert positive("0.5") == 0.5
    for text in ("0", "-1", "inf", "nan", "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="a number above 0"):
            positive(text)


def test_seeds_span_32_bits() -> None:
    assert seed("0") == 0 and seed("4294967295") == 2**32 - 1
    for text in ("-1", "4294967296", "1.5", "seven"):
        with pytest.raises(argparse.ArgumentTypeError, match="a seed is a whole number from 0"):
            seed(text)


def test_number_lists() -> None:
    lights = numbers(-1, 1)
    assert lights("-0.7, 0.7,") == [-0.7, 0.7] and lights("") == []
    for text in ("left", "0,,x", "0.5,nan", "inf", "1.5", "1e300"):  # 1e300 overflowed float32
        with pytest.raises(argparse.ArgumentTypeError, match="numbers from -1 to 1, got"):
            lights(text)


def test_engine_errors_become_one_line_and_exit_2(capsys) -> None:
    def main() -> None:
        raise GANliftError("No model named 'nope'; pass a checkpoint file path instead.")

    with pytest.raises(SystemExit) as exited:
        run_script(main)
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "error: No model named 'nope'; pass a checkpoint file path instead.\n"
    )


CPU_FAILURE = RuntimeError(
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
    "memory: you tried to allocate 102400000000 bytes. Error code 12 (Cannot allocate memory)"
)
CUDA_FAILURE = torch.OutOfMemoryError(
    "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.1 GiB"
)


def test_out_of_memory_is_told_from_other_errors() -> None:
    assert out_of_memory(CPU_FAILURE) == "ran out of memory (95.4 GiB were asked for at once)"
    assert out_of_memory(CUDA_FAILURE) == "ran out of memory (20.00 GiB were asked for at once)"
    assert out_of_memory(MemoryError()) == "ran out of memory"
    small = RuntimeError(
        "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1024 bytes"
    )
    assert out_of_memory(small) == "ran out of memory (1.0 KiB were asked for at once)"
    assert out_of_memory(RuntimeError("shape mismatch: allocate 4 bytes")) is None
    assert out_of_memory(ValueError("out of memory")) is None


@pytest.mark.parametrize("failure", [CPU_FAILURE, CUDA_FAILURE, MemoryError()])
def test_running_out_of_memory_is_one_line_and_exit_2(failure, monkeypatch, capsys) -> None:
    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(importlib.import_module("engine.cli.gan"), "load_checkpoint", fail)
    assert engine_main(["sample", "default-face", "--out", "grid.png"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The command ran out of memory") and err.count("\n") == 1
    assert "ask for less at once" in err
    with pytest.raises(SystemExit) as exited:
        run_script(fail)
    assert exited.value.code == 2 and capsys.readouterr().err == err


def test_paths_the_system_refuses_are_told_from_other_errors(tmp_path: Path, capsys) -> None:
    long = OSError(errno.ENAMETOOLONG, "File name too long", "/tmp/" + "a" * 5000)
    assert refused_path(long) == (
        f"File name too long ({'/tmp/' + 'a' * 195}... (5,005 characters)); give a shorter name."
    )  # an app's visitor sent 5,000 characters and had them all back
    full = OSError(errno.ENOSPC, "No space left on device")
    assert (
        refused_path(full)
        == "No space left on device; free some disk space or choose another disk."
    )
    unreadable = OSError(errno.EIO, "Input/output error", "/proc/self/mem")  # a device's
    assert refused_path(unreadable) == (
        "Input/output error (/proc/self/mem); a disk or device failed to read or write it, so "
        "choose another path."
    )
    assert refused_path(FileNotFoundError(errno.ENOENT, "No such file", "x")) is None  # a bug's
    assert refused_path(PermissionError(errno.EPERM, "Operation not permitted")) is None
    assert refused_path(ValueError("File name too long")) is None
    checkpoint = tmp_path / ("a" * 300 + ".pt")  # stat() raised it from deep in the loader
    assert engine_main(["sample", str(checkpoint), "--out", str(tmp_path / "grid.png")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: File name too long ({shown(str(checkpoint))}); give a shorter name.\n"


def test_bugs_keep_their_traceback(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(importlib.import_module("engine.cli.gan"), "load_checkpoint", fail)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        engine_main(["sample", "default-face", "--out", "grid.png"])
    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_script(fail)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["bench.upload", "--model", "nope"], "error: No model named 'nope'"),
        (["bench.styleganr", "--figures", "README.md"], "error: Output folder README.md is a file"),
        (["bench.render", "--repeats", "0"], "expected a whole number of at least 1, got '0'"),
        (["bench.coverage", "--seeds", "-1"], "a seed is a whole number from 0 to"),
        (["bench.styleganr", "--view-axes", "missing-axes.json"], "missing-axes.json"),
        (["scripts.probe_relighting", "--seed", "-1"], "a seed is a whole number from 0 to"),
        (["bench.styleganr", "--azimuth-step", "1e-300"], "a number from 1 to 360"),  # overflow
        (["scripts.probe_shape_signal", "--yaws", "1e300"], "numbers from -90 to 90"),
        (["bench.gan2shape", "--category", "car"], "--category and --preset name a --ckpt"),
        (["bench.gan2shape", "--shape-quality", "full"], "chooses the rows of --shape-rows N"),
        (["bench.render", "--threads", "99999999999999999999"], "from 1 to 1024, got"),
        (["bench.gan2shape", "--model", "x", "--ckpt", "y.pt"], "not allowed with argument"),
        (["bench.load", "--category", "car"], "--category names the preset of --model"),
    ],
)
def test_scripts_refuse_bad_input(arguments: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *arguments], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["invert", "default-face", "x.png", "--out", "l.pt", "--steps", "100000000"],
         "argument --steps: expected a whole number from 1 to 100000, got"),
        (["coverage-weights", "default-car", "--category", "car", "--data", ".", "--out",
          "w.json", "--samples", "100000000000"], "argument --samples: expected a whole number "
         "from 2 to 100000, got"),
        (["coverage-weights", "default-car", "--category", "car", "--data", ".", "--out",
          "w.json", "--bins", "1"], "argument --bins: expected a whole number from 2 to 1000, got"),
        (["gan2shape-pretrain", "--out", "w", "--batch", "100000000"],
         "argument --batch: expected a whole number from 1 to 1024, got"),
        (["gan2shape-pretrain", "--out", "w", "--steps", "100000000000"],
         "argument --steps: expected a whole number from 0 to 10000000, got"),
        (["gan2shape-pretrain", "--out", "w", "--images", "100000000"],
         "argument --images: expected a whole number from 1 to 65536, got"),
        (["gan2shape-pretrain", "--out", "w", "--truncation", "1.5"],
         "argument --truncation: expected a number from 0 to 1, got '1.5'"),
        (["synth", "--category", "face", "--n", "100000000", "--out", "s"],
         "argument --n: expected a whole number from 1 to 1000000, got"),
        (["styleganr", "swap", "--model", "m.pt", "--count", "100000000", "--out", "s.png"],
         "argument --count: expected a whole number from 1 to 256, got"),
        (["styleganr", "view-codes", "--checkpoint", "c.pt", "--count", "100000000", "--out",
          "v.safetensors"], "argument --count: expected a whole number from 1 to 1024, got"),
        (["styleganr", "view-codes", "--checkpoint", "c.pt", "--count", "0", "--out",
          "v.safetensors"], "argument --count: expected a whole number from 1 to 1024, got '0'"),
        (["examples", "--category", "car", "--size", "100000"],  # ran out of memory (37 GiB)
         "argument --size: expected a whole number from 16 to 1024, got '100000'"),
        (["examples", "--category", "car", "--n", "0"],
         "argument --n: expected a whole number from 1 to 1000, got '0'"),
    ],
)  # fmt: skip
def test_counts_that_would_run_for_days_are_refused_at_once(
    arguments: list[str], message: str, capsys
) -> None:
    with pytest.raises(SystemExit) as stopped:
        engine_main(arguments)
    assert stopped.value.code == 2 and message in capsys.readouterr().err


def test_count_refusals_name_the_command_s_own_option(tmp_path: Path, capsys) -> None:
    """synth said --batch and bench shape --n: options neither has."""
    out = str(tmp_path / "samples")
    assert engine_main(["synth", "--category", "face", "--n", "2", "--out", out,
                        "--batch-size", "0"]) == 2  # fmt: skip
    assert "The batch size (--batch-size) must be at least 1, got 0." in capsys.readouterr().err
    assert engine_main(["bench", "shape", "--n", "2", "--train-samples", "0"]) == 2
    error = capsys.readouterr().err
    assert "The number of samples (--train-samples) must be at least 1, got 0." in error


def test_pretraining_into_a_folder_asks_for_a_file_name(tmp_path: Path, capsys) -> None:
    out = ["--out", str(tmp_path)]
    assert engine_main(["gan2shape-pretrain", "--model", "default-face", *out]) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path} is a folder; give the weights file's name (for example "
        f"{tmp_path / 'gan2shape.safetensors'}).\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_bench_gan2shape_times_a_checkpoint_with_its_own_preset_file(tmp_path: Path) -> None:
    """A checkpoint of a size no preset has is timed with a preset JSON of its own."""
    write_tiny_model(tmp_path)
    command = ["bench.gan2shape", "--ckpt", str(tmp_path / "tiny.pt"), "--threads", "1"]
    result = subprocess.run(
        [sys.executable, "-m", *command, "--preset", str(tmp_path / "tiny-preset.json")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("GAN2Shape fast mode, tiny-face, 32px")
    assert "total (goal <= 30 s)" in result.stdout
    both = [*command, "--preset", "p.json", "--category", "face"]
    result = subprocess.run(
        [sys.executable, "-m", *both], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert (
        result.stderr == "error: --category and --preset both name the preset; give one of them.\n"
    )


def test_bench_gan2shape_refuses_rows_it_cannot_score_before_timing(tmp_path: Path) -> None:
    G, D = tiny_gan(32)
    model = Gan2ShapeModel(G, D, tiny_gan2shape_preset(32), tmp_path / "none.safetensors")
    assert synthetic_category(model) == "face"
    check_shape_rows(model, ("full",))
    with pytest.raises(GANliftError, match="missing; use --shape-quality full or pretrain"):
        check_shape_rows(model, ("fast", "full"))
    church = replace(model, preset=model.preset.replace(prior_box="church"))
    assert synthetic_category(church) is None
    with pytest.raises(GANliftError, match=r"renders faces and cars; preset .* is for neither"):
        check_shape_rows(church, ("full",))


class _Built(Exception):
    """Raised in place of parsing, carrying the parser a script built."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


def script_parsers() -> Iterator[argparse.ArgumentParser]:
    """The parser of every benchmark and research script (each builds it in its `main`, which
    is stopped as it parses)."""

    def built(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Built(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SharedParser, "parse_args", built)
        for path in sorted([*(REPO / "bench").glob("*.py"), *(REPO / "scripts").glob("*.py")]):
            module = importlib.import_module(f"{path.parent.name}.{path.stem}")
            if hasattr(module, "main"):
                with pytest.raises(_Built) as parsing:
                    module.main()
                yield parsing.value.parser


def every_parser() -> list[argparse.ArgumentParser]:
    """The parsers of every engine command and subcommand, launch.py's, and those of the
    benchmarks and research scripts the README names."""

    def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for command in action.choices.values():
                    yield from parsers(command)

    scripts = list(script_parsers())
    assert len(scripts) >= 16
    every = [*parsers(build_parser()), build_launch_parser(), *scripts]
    assert len(every) > 40
    return every


def test_every_option_says_what_it_is() -> None:
    """`hand-label --elevation`, `set-camera --scale` and 18 more showed no help at all, and
    28 options of the benchmarks and research scripts (`bench.gan2shape --model`)."""
    for parser in every_parser():
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, (parser.prog, action.option_strings or action.dest)


def test_each_script_s_usage_is_a_command_that_runs_and_says_a_whole_sentence() -> None:
    """Their usage lines said `synth.py`, which cannot run alone (no module named 'engine'),
    and two descriptions stopped at a colon, the list after it cut off."""
    scripts = list(script_parsers())
    for parser in scripts:
        module = parser.prog.removeprefix("python -m ")
        assert importlib.util.find_spec(module) is not None, parser.prog
        assert parser.description.rstrip().endswith((".", "?", ")")), parser.prog
    assert {parser.prog for parser in scripts} >= {"python -m bench.synth", "python -m bench.load"}


def test_every_default_is_shown_in_the_help() -> None:
    """32 options (`synth --size`, `launch.py --port`, `reconstruct --frames`, ...) took a
    default their help did not show."""
    flags = (argparse._StoreConstAction, argparse._HelpAction, argparse._SubParsersAction)
    for parser in every_parser():
        for action in parser._actions:
            default = action.default
            if isinstance(action, flags) or default in (None, argparse.SUPPRESS):
                continue
            values = default if isinstance(default, list) else [default]
            shown = all(str(value) in action.help for value in values)
            assert shown or "%(default)" in action.help or "default:" in action.help, (
                parser.prog,
                action.option_strings,
            )


def test_every_number_option_s_help_says_its_range() -> None:
    """`sample --n` took 1 to 1024 and `examples --size` 16 to 1024 without saying so, as did
    30 other options; the help formatter now adds what the option's type takes."""
    ranged = 0
    for parser in every_parser():
        for action in parser._actions:
            bounds = getattr(action.type, "bounds", "at least 0")
            if bounds in ("at least 0", "at least 1"):
                continue
            ranged += 1
            shown = parser._get_formatter()._expand_help(action)  # the text --help prints
            assert bounds in shown, (parser.prog, action.option_strings, shown)
    assert ranged > 30
    helps = {
        (parser.prog, action.dest): parser._get_formatter()._expand_help(action)
        for parser in every_parser()
        for action in parser._actions
        if action.help
    }
    assert helps["python -m engine sample", "n"] == "number of samples, 1 to 1024 (16)"
    assert helps["python -m engine gan2shape-pretrain", "truncation"].count("0 to 1") == 1
    assert helps["python -m bench.render", "repeats"] == "timed runs of each case (20)"
    assert at_least(1, maximum=1024).bounds == "1 to 1024"
    assert at_least(0.5, float).bounds == "at least 0.5"


def test_every_command_s_help_fits_an_80_column_terminal(monkeypatch) -> None:
    """Usage lines listing six categories ran to 102 columns and wrapped mid-word; names such
    as `default-car` were split at their hyphen ("default-" at a line's end)."""
    monkeypatch.setenv("COLUMNS", "80")
    for parser in every_parser():
        lines = parser.format_help().splitlines()
        assert not [line for line in lines if len(line) > 80], parser.prog
        assert not [line for line in lines if re.search(r"\w-$", line)], parser.prog


def test_output_closed_by_its_reader_ends_quietly_with_sigpipe_s_status() -> None:
    """`| head -1` read its line and left: the command printed a traceback and exited 1."""
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "info", "default-face"], cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    process.stdout.close()  # before the command has printed anything
    _, errors = process.communicate(timeout=120)
    assert process.returncode == OUTPUT_CLOSED and errors == ""


def test_a_broken_pipe_of_the_command_s_own_is_still_a_bug(monkeypatch) -> None:
    """Only a closed standard output ends quietly: a pipe to a child process (ffmpeg's) that
    breaks is a failure to show."""

    def broken(args: argparse.Namespace) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("engine.cli.gan.run_info", broken)
    with pytest.raises(BrokenPipeError):
        engine_main(["info", "default-face"])


def test_output_the_console_cannot_encode_is_escaped_not_fatal(tmp_path: Path) -> None:
    """A Windows console's cp1252 has no Cyrillic: `sample --out модель.png` wrote the file,
    then failed with UnicodeEncodeError (status 1) on the line naming it."""
    out = tmp_path / "модель.png"
    result = subprocess.run(
        [sys.executable, "-m", "engine", "sample", "default-face", "--n", "1", "--out", str(out)],
        cwd=REPO, env=os.environ | {"PYTHONIOENCODING": "cp1252"}, capture_output=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()[-1000:]
    assert b"\\u043c\\u043e" in result.stdout and out.is_file()


def test_a_reader_gone_as_macos_reports_it_also_ends_quietly(monkeypatch, tmp_path: Path) -> None:
    """macOS reports a pipe whose reader left by POLLHUP alone (Linux by POLLERR): `| head`
    ended there in a traceback and status 1."""

    class MacPoll:
        def register(self, descriptor: int, events: int) -> None:
            self.descriptor = descriptor

        def poll(self, timeout: float) -> list[tuple[int, int]]:
            return [(self.descriptor, select.POLLOUT | select.POLLHUP)]

    def broken(args: argparse.Namespace) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(select, "poll", MacPoll)
    monkeypatch.setattr("engine.cli.gan.run_info", broken)
    with (tmp_path / "stdout").open("w") as stdout:
        monkeypatch.setattr(sys, "stdout", stdout)
        assert engine_main(["info", "default-face"]) == OUTPUT_CLOSED


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux's /proc")
def test_ctrl_c_while_the_commands_load_is_one_line() -> None:
    """torch and the command modules load for seconds; Ctrl-C then printed a traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "info", "default-face"], cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as from a terminal
    )  # fmt: skip
    maps = Path(f"/proc/{process.pid}/maps")
    deadline = time.monotonic() + 60
    while "libtorch" not in maps.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)  # until torch loads: Python's own Ctrl-C handler is in place by then
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err, out) == (130, "interrupted\n", "")


def test_sigterm_stops_any_command_as_ctrl_c_does(monkeypatch, capsys) -> None:
    """The README promises exit status 130 for Ctrl-C or SIGTERM; commands that take no stop
    request (sample, info, bench, styleganr mesh ...) died of the signal (143), their
    `finally` blocks unrun."""
    cleaned: list[bool] = []

    def terminated(args: argparse.Namespace) -> int:
        try:
            signal.raise_signal(signal.SIGTERM)
        finally:
            cleaned.append(True)
        return 0

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr("engine.cli.gan.run_info", terminated)
    assert engine_main(["info", "default-face"]) == 130
    assert capsys.readouterr().err == "interrupted\n" and cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_failed_command_leaves_no_empty_out_folder_it_made(tmp_path: Path, capsys) -> None:
    """Commands make --out first (a bad one costs nothing); when they then fail, the empty
    folder they made goes again, and a folder that was there before stays."""
    refused = [
        ["synth", "--category", "face", "--n", "1", "--shard-size", "0", "--out"],
        ["train-gan", "--data", str(tmp_path / "missing"), "--size", "16", "--out"],
        ["evaluate-gan", "default-face", "--category", "face",
         "--training-from", str(tmp_path / "bad.json"), "--out"],
    ]  # fmt: skip
    for index, command in enumerate(refused):
        out = tmp_path / f"out{index}"
        assert engine_main([*command, str(out)]) == 2
        assert not out.exists(), command
        out.mkdir()
        assert engine_main([*command, str(out)]) == 2
        assert out.is_dir(), command
    capsys.readouterr()


def test_a_failed_command_removes_the_empty_folders_it_made_on_the_way(
    tmp_path: Path, capsys
) -> None:
    """`--out new/run` left `new/` behind; a folder holding anything stays."""
    command = ["synth", "--category", "face", "--n", "1", "--shard-size", "0", "--out"]
    assert engine_main([*command, str(tmp_path / "new" / "deeper" / "run")]) == 2
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    assert engine_main([*command, str(tmp_path / "kept" / "run")]) == 2
    assert [path.name for path in (tmp_path / "kept").iterdir()] == ["notes.txt"]
    junk = tmp_path / "kept" / "junk.pt"
    junk.write_bytes(b"no checkpoint")
    codes = tmp_path / "made" / "v.safetensors"  # an --out file: its folder goes
    assert engine_main(["styleganr", "view-codes", "--checkpoint", str(junk), "--out", str(codes)])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kept"]
    capsys.readouterr()


def test_a_tilde_the_shell_left_is_the_home_folder(tmp_path: Path, monkeypatch) -> None:
    """Bash does not expand `--out=~/x` nor a quoted "~/x": a folder named `~` appeared."""
    monkeypatch.setenv("HOME", str(tmp_path))
    given = ["--out=~/run", "~/photo.png", "--model", "~", "--views=330,5", "-~"]
    expanded = [f"--out={tmp_path}/run", f"{tmp_path}/photo.png", "--model", str(tmp_path)]
    assert expand_home(given) == [*expanded, "--views=330,5", "-~"]
    monkeypatch.chdir(tmp_path)
    assert engine_main(["synth", "--category", "face", "--n", "1", "--out=~/run"]) == 0
    assert (tmp_path / "run").is_dir() and not (tmp_path / "~").exists()


def test_outputs_that_are_the_commands_own_inputs_are_refused(tmp_path: Path, capsys) -> None:
    """invert replaced its checkpoint by a latent (--out) and its photo by the recon, and
    gan2shape-check --json the config beside the weights it read."""
    checkpoint, photo = tmp_path / "m.pt", tmp_path / "face.png"
    checkpoint.write_bytes(b"weights")
    Image.new("RGB", (32, 32)).save(photo)
    before = {path: path.read_bytes() for path in (checkpoint, photo)}
    for arguments, message in [
        (["--out", str(checkpoint)], f"--out {checkpoint} is a file the command reads (checkp"),
        (["--recon", str(photo)], f"--recon {photo} is a file the command reads (image)"),
    ]:
        code = engine_main(["invert", str(checkpoint), str(photo), *arguments, "--steps", "1"])
        assert code == 2 and message in capsys.readouterr().err
    assert before == {path: path.read_bytes() for path in (checkpoint, photo)}
    views = tmp_path / "views.safetensors"
    views.write_bytes(b"view codes")
    code = engine_main(["styleganr", "hand-label", "--views", str(views), "--labels",
                        str(tmp_path / "labels.json"), "--out", str(views)])  # fmt: skip
    assert code == 2 and "is a file the command reads (--views)" in capsys.readouterr().err
    assert views.read_bytes() == b"view codes"
    weights, config = tmp_path / "w.safetensors", tmp_path / "w.json"
    weights.write_bytes(b"networks")
    config.write_text("{}")
    code = engine_main(["gan2shape-check", "--model", "default-face", "--weights", str(weights),
                        "--json", str(config)])  # fmt: skip
    assert code == 2 and "is a file the command reads (--weights)" in capsys.readouterr().err
    assert config.read_text() == "{}"


def test_a_checkpoint_named_without_its_file_is_an_input_too(tmp_path, monkeypatch, capsys):
    """`invert default-face ... --out assets/models/default-face.json` replaced the shipped
    model's config by a latent, as `invert runs/mine ... --out runs/mine.json` did its own;
    the files beside them (pretrained networks, StyleGAN-R models) stay outputs."""
    monkeypatch.setattr("engine.cli.arguments.MODELS_DIR", tmp_path / "models")
    installed, run = tmp_path / "models" / "mine.json", tmp_path / "runs" / "mine.json"
    for config in (installed, run):
        config.parent.mkdir()
        config.write_text("{}")
        config.with_suffix(".safetensors").write_text("weights")
    photo = tmp_path / "face.png"
    Image.new("RGB", (32, 32)).save(photo)
    for model, config in (("mine", installed), (str(run.with_suffix("")), run)):
        code = engine_main(["invert", model, str(photo), "--steps", "1", "--out", str(config)])
        assert code == 2 and "is a file the command reads (checkpoint)" in capsys.readouterr().err
        assert config.read_text() == "{}"
    beside = [
        ["gan2shape-pretrain", "--model", "mine", "--resume",
         "--out", str(installed.with_name("mine-gan2shape.safetensors"))],
        ["styleganr", "export", "--model", "m.pt", "--checkpoint", "mine",
         "--out", str(installed.with_name("mine-styleganr.pt"))],
    ]  # fmt: skip
    labels = tmp_path / "labels.json"  # written by hand-label, not a checkpoint's config
    long = tmp_path / ("d" * 248)  # a name that fits, though it would not with .safetensors
    long.mkdir()
    beside += [
        ["styleganr", "hand-label", "--views", "v.safetensors", "--labels", str(labels),
         "--out", str(labels.with_suffix(".safetensors"))],
        ["reconstruct-batch", str(long), "--out", str(tmp_path / "out")],
    ]  # fmt: skip
    labels.with_suffix(".safetensors").write_text("view codes")
    for argv in beside:
        refuse_inputs_as_outputs(build_parser().parse_args(argv), argv)
    default_networks = str(installed.with_name("mine-gan2shape.json"))
    with pytest.raises(GANliftError, match="is a file of the pretrained networks the command"):
        refuse_networks_as_output("json", default_networks, Path(default_networks))
    networks = tmp_path / "nets.safetensors"  # the networks, and the config beside them
    for written in (networks, networks.with_suffix(".json")):
        with pytest.raises(GANliftError, match="is a file of the pretrained networks"):
            refuse_networks_as_output("json", str(written), networks)
    refuse_networks_as_output("json", str(tmp_path / "summary.json"), networks)


def test_the_app_s_help_names_the_presets_there_are(monkeypatch) -> None:
    """launch.py listed six preset names by hand: one added to PRESETS went unnamed."""
    monkeypatch.setitem(PRESETS, "lsun-cat-128", PRESETS["cat"].replace(name="lsun-cat-128"))
    assert "lsun-cat-128" in build_launch_parser().format_help()


def test_styleganr_actions_take_device_after_the_action_too(capsys) -> None:
    """Every other command takes --device after its name; styleganr's only before the action."""
    codes = ["view-codes", "--checkpoint", "c.pt", "--out", "v.safetensors"]
    parse = build_parser().parse_args
    assert parse(["styleganr", *codes]).device == "auto"
    assert parse(["styleganr", *codes, "--device", "cpu"]).device == "cpu"
    assert parse(["styleganr", "--device", "cpu", *codes]).device == "cpu"
    assert parse(["styleganr", "--device", "cuda", *codes, "--device", "cpu"]).device == "cpu"
    with pytest.raises(SystemExit):  # writing labels computes nothing, so it offers no device
        parse(["styleganr", "hand-label", "--views", "v", "--labels", "l", "--out", "o.safetensors",
               "--device", "cpu"])  # fmt: skip
    assert "unrecognized arguments: --device cpu" in capsys.readouterr().err


def test_hand_labels_keep_their_angles_when_other_bins_are_asked_for(tmp_path: Path, capsys):
    """Bin 3 of 12 is 90°; with --bins 24 the saved label silently became 45°."""
    views, labels = tmp_path / "views.safetensors", tmp_path / "labels.json"
    save_view_codes(sample_view_codes(tiny_gan()[0], 3, num_view_layers=2, seed=0), views)
    label = ["styleganr", "hand-label", "--views", str(views), "--labels", str(labels)]
    first = tmp_path / "a.safetensors"
    assert engine_main([*label, "--set", "0=0", "1=3", "--out", str(first)]) == 0
    saved = labels.read_text()
    again = [*label, "--bins", "24", "--set", "2=12", "--out", str(tmp_path / "b.safetensors")]
    assert engine_main(again) == 2
    assert "holds 2 labels in 12 azimuth bins, which --bins 24" in capsys.readouterr().err
    assert labels.read_text() == saved and not (tmp_path / "b.safetensors").exists()
    same = [*label, "--bins", "12", "--set", "2=6", "--out", str(tmp_path / "c.safetensors")]
    assert engine_main(same) == 0
    cameras = load_view_codes(tmp_path / "c.safetensors").cameras
    assert cameras[:, 0].tolist() == [0.0, 90.0, 180.0]


def test_hand_labels_are_refused_for_other_view_codes(tmp_path: Path, capsys) -> None:
    """labels.json names views by index: given codes drawn again (another seed, count or
    --layers), its bins silently labelled other views."""
    generator = tiny_gan()[0]
    views, other, labels = (
        tmp_path / name for name in ("v.safetensors", "w.safetensors", "l.json")
    )
    save_view_codes(sample_view_codes(generator, 3, num_view_layers=2, seed=0), views)
    save_view_codes(sample_view_codes(generator, 3, num_view_layers=2, seed=1), other)

    def hand_label(setting: str, codes: Path, out: str) -> int:
        return engine_main(["styleganr", "hand-label", "--labels", str(labels), "--set", setting,
                            "--views", str(codes), "--out", str(tmp_path / out)])  # fmt: skip

    assert hand_label("0=3", views, "a.safetensors") == 0
    saved = labels.read_text()
    assert hand_label("1=6", other, "b.safetensors") == 2
    assert capsys.readouterr().err == (
        f"error: {labels} labels other view codes than {other}, and its indices would name other "
        "views there; pass the --views file it was made for, or a new --labels file.\n"
    )
    assert labels.read_text() == saved and not (tmp_path / "b.safetensors").exists()
    assert hand_label("1=6", views, "c.safetensors") == 0
    assert load_view_codes(tmp_path / "c.safetensors").cameras[:, 0].tolist() == [90.0, 180.0]


@pytest.mark.parametrize(
    "command",
    [
        ["invert", "default-face", "face.png", "--steps", "1"],
        ["styleganr", "export", "--model", "default-car-styleganr"],
        ["styleganr", "train-labeller", "--steps", "1"],
        ["styleganr", "train-inverse", "--pairs", "p.pt"],
        ["styleganr", "train-mapping", "--views", "v.safetensors"],
    ],
)
def test_torch_files_are_refused_safetensors_names_before_the_work(command, capsys) -> None:
    """Each wrote a torch file that no command could read back (torch.load takes the name for
    safetensors): a labeller run could not be resumed."""
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--out", "state.safetensors"])
    assert "state.safetensors would hold a torch file under a" in capsys.readouterr().err


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommand parsers of `parser`, by name."""
    (choices,) = [a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return choices


def test_every_styleganr_model_option_offers_the_shipped_names() -> None:
    """set-camera, swap and export took a shipped name but said 'model file from train-mapping'."""
    actions = _subcommands(_subcommands(build_parser())["styleganr"])
    helps = {
        name: action.help
        for name, parser in actions.items()
        for action in parser._actions
        if action.dest == "model"
    }
    assert {"export", "set-camera", "swap", "mesh"} <= helps.keys()
    assert set(helps.values()) == {"model file or shipped model's name"}, helps


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["sample", "{missing}"], "grid.png"),
        (["styleganr", "set-camera", "--model", "{missing}", "--azimuth", "30"], "cars.png"),
        (["styleganr", "swap", "--model", "{missing}", "--source-seed", "1", "--part", "shape"],
         "cars.png"),
        (["styleganr", "view-layers", "--checkpoint", "{missing}"], "layers.png"),
        (["styleganr", "auto-label", "--checkpoint", "{missing}", "--views", "{missing}",
          "--labeller", "{missing}"], "labelled.safetensors"),
    ],
)  # fmt: skip
def test_an_out_that_is_a_folder_is_refused_before_the_model_is_opened(
    command: list[str], name: str, tmp_path: Path, capsys
) -> None:
    """Each found it only when saving: `sample --n 1024` drew for 20 s on the default model,
    then refused a folder called grid.png (here the model is missing: refused first, it
    would be named instead)."""
    missing = str(tmp_path / "missing.pt")
    folder = tmp_path / name
    folder.mkdir()
    command = [missing if word == "{missing}" else word for word in command]
    assert engine_main([*command, "--out", str(folder)]) == 2
    assert f"error: Output file {folder} is a folder; choose a file name." in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "command",
    [
        ["set-camera", "--azimuth", "30"],
        ["swap", "--source-seed", "1", "--part", "shape"],
    ],
)
def test_set_camera_and_swap_check_the_picture_s_name_before_drawing(
    command: list[str], tmp_path: Path, capsys
) -> None:
    """`set-camera --count 256 --out cars.txt` drew its cars for 43 s on default-car-styleganr,
    then refused the name."""
    model = str(tmp_path / "missing.pt")
    out = str(tmp_path / "cars.txt")
    assert engine_main(["styleganr", *command, "--model", model, "--out", out]) == 2
    assert "error: Cannot save an image as 'cars.txt'" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1"])
def test_pretraining_s_save_interval_is_refused_naming_its_option(
    value: str, tmp_path: Path, capsys
) -> None:
    """--save-every 0 met the pretraining's refusal of six settings at once, which named no
    option ('... and save_every >= 1')."""
    out = str(tmp_path / "networks")
    with pytest.raises(SystemExit) as stopped:
        engine_main(["gan2shape-pretrain", "--out", out, "--save-every", value])
    assert stopped.value.code == 2
    assert (
        f"argument --save-every: expected a whole number from 1 to 10000000, got '{value}'"
        in capsys.readouterr().err
    )
