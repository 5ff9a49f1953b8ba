"""Caps read in one place: built-in defaults, GANLIFT_* variables over them, launch.py flags
over both, one-line errors for nonsense values; the job guard stops long loops at the time and
memory caps; the app applies the upload, pixel and job caps it is given."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from app import reconstruct
from app.session import Session
from engine.errors import GANliftError
from engine.limits import (
    DEFAULT_LIMITS,
    MIB,
    JobGuard,
    Limits,
    add_limit_arguments,
    cap_allocator_arenas,
    check_image_size,
    check_seed,
    limits_from_arguments,
    limits_from_environment,
    resident_memory_bytes,
)
from launch import build_parser
from tests.e2e.tiny_model import tiny_app_context, write_tiny_model
from tests.tiny import write_random_images

REPO = Path(__file__).resolve().parents[1]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_limit_arguments(parser)
    return parser.parse_args(argv)


def test_environment_overrides_defaults_and_flags_override_the_environment() -> None:
    assert limits_from_environment({}) == DEFAULT_LIMITS == Limits()
    environ = {"GANLIFT_MAX_UPLOAD_MB": "2", "GANLIFT_JOB_SECONDS": "30", "GANLIFT_MEMORY_MB": ""}
    from_env = limits_from_environment(environ)
    assert from_env.upload_bytes == 2 * MIB and from_env.job_seconds == 30.0
    assert from_env.memory_bytes == DEFAULT_LIMITS.memory_bytes
    flagged = limits_from_arguments(parse("--job-seconds", "5", "--max-pixels", "1000"), environ)
    assert (flagged.job_seconds, flagged.image_pixels, flagged.upload_bytes) == (5.0, 1000, 2 * MIB)


def test_the_readme_s_defaults_are_the_defaults() -> None:
    """Setting each variable to the default the README's table gives changes nothing, and the
    table names every limit."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    rows = re.findall(r"^\| `(--[a-z-]+)` \| `(GANLIFT_[A-Z_]+)` \| ([\d,]+)", readme, re.M)
    parser = argparse.ArgumentParser()
    add_limit_arguments(parser)
    flags = {option for action in parser._actions for option in action.option_strings}
    assert {flag for flag, _, _ in rows} >= flags - {"-h", "--help"}
    for _, variable, default in rows:
        environment = {variable: default.replace(",", "")}
        assert limits_from_environment(environment) == DEFAULT_LIMITS, variable


@pytest.mark.parametrize("seed", [True, False, -1, 2**32, 1.0, "3", None])
def test_seeds_are_whole_numbers_of_32_bits(seed: object) -> None:
    with pytest.raises(GANliftError, match=r"The seed must be a whole number from 0 to 4294967295"):
        check_seed(seed)


def test_the_seed_range_holds_its_ends() -> None:
    assert check_seed(0) == 0 and check_seed(2**32 - 1) == 2**32 - 1
    assert check_seed(np.int64(7)) == 7


def test_launch_takes_every_limit_flag() -> None:
    args = build_parser().parse_args(["--max-upload-mb", "3", "--max-sessions", "4"])
    limits = limits_from_arguments(args, {})
    assert limits.upload_bytes == 3 * MIB and limits.sessions == 4


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf", "1e400"])  # inf: OverflowError
def test_nonsense_values_are_one_line_errors(value: str) -> None:
    with pytest.raises(GANliftError, match=f"GANLIFT_MAX_PIXELS must be a number.*'{value}'"):
        limits_from_environment({"GANLIFT_MAX_PIXELS": value})
    with pytest.raises(GANliftError, match="--job-seconds must be a number"):
        limits_from_arguments(parse("--job-seconds", value), {})


def test_zero_turns_off_only_the_time_and_memory_caps() -> None:
    off = limits_from_arguments(
        parse("--job-seconds", "0", "--memory-mb", "0", "--session-seconds", "0"), {}
    )
    assert (off.job_seconds, off.memory_bytes, off.session_seconds) == (0, 0, 0)
    assert limits_from_environment({"GANLIFT_MEMORY_MB": "2"}).memory_bytes == 2 * MIB
    assert limits_from_arguments(parse("--memory-mb", "1.5"), {}).memory_bytes == int(1.5 * MIB)
    for flag in ("--max-sessions", "--max-upload-mb", "--max-pixels", "--min-image-side"):
        with pytest.raises(GANliftError, match=f"{flag} must be a number above 0, got '0'"):
            limits_from_arguments(parse(flag, "0"), {})
    with pytest.raises(GANliftError, match="GANLIFT_MAX_SESSIONS must be a number above 0"):
        limits_from_environment({"GANLIFT_MAX_SESSIONS": "0"})


def test_a_value_that_rounds_down_to_0_is_refused() -> None:
    """--max-sessions 0.5 kept no session at all, and --memory-mb 1e-9 turned the cap off."""
    for flag, value in (("--max-sessions", "0.5"), ("--min-image-side", "0.9"),
                        ("--max-upload-mb", "1e-9"), ("--memory-mb", "1e-9")):  # fmt: skip
        with pytest.raises(GANliftError, match=f"{flag} '{value}' rounds down to 0; give a"):
            limits_from_arguments(parse(flag, value), {})
    with pytest.raises(GANliftError, match=r"GANLIFT_MAX_PIXELS '0\.5' rounds down to 0"):
        limits_from_environment({"GANLIFT_MAX_PIXELS": "0.5"})
    assert limits_from_arguments(parse("--max-sessions", "2.7"), {}).sessions == 2


def test_small_images_are_refused_with_their_size() -> None:
    check_image_size(torch.zeros(1, 3, 16, 20), "Image 'ok.png'")
    check_image_size(torch.zeros(1, 3, 20, 16), "Image 'ok.png'")  # 16 wide: at the least
    with pytest.raises(GANliftError, match=r"'dot.png' is only 3 pixels high \(20x3\).*least 16"):
        check_image_size(torch.zeros(1, 3, 3, 20), "Image 'dot.png'")
    with pytest.raises(GANliftError, match=r"'bar.png' is only 3 pixels wide \(3x9000\); use"):
        check_image_size(torch.zeros(1, 3, 9000, 3), "Image 'bar.png'")  # 9000 is not 'only'
    with pytest.raises(GANliftError, match=r"'dot.png' is only 8x15 pixels; use an image at"):
        check_image_size(torch.zeros(1, 3, 15, 8), "Image 'dot.png'")


def test_job_guard_stops_at_the_time_cap_and_says_why() -> None:
    now = [0.0]
    guard = JobGuard(Limits(job_seconds=10), clock=lambda: now[0], memory=lambda: 0)
    assert not guard.should_stop() and guard.reason is None
    now[0] = 10.5
    assert guard.should_stop() and "time limit of 10 s" in guard.reason


def test_job_guard_stops_at_the_memory_cap_and_follows_the_user() -> None:
    memory = [100 * MIB]
    limits = Limits(job_seconds=0, memory_bytes=200 * MIB)
    guard = JobGuard(limits, memory=lambda: memory[0])
    assert not guard.should_stop()
    memory[0] = 300 * MIB
    assert guard.should_stop() and "memory limit of 200 MiB" in guard.reason
    memory[0] = 100 * MIB  # a job stopped for its memory stays stopped when the memory falls
    assert guard.should_stop() and "memory limit of 200 MiB" in guard.reason
    asked = JobGuard(Limits(job_seconds=0), should_stop=lambda: True)
    assert asked.should_stop() and asked.reason is None


def test_memory_probes_work_here() -> None:
    assert resident_memory_bytes() > 10 * MIB
    assert cap_allocator_arenas() in (True, False)


def test_memory_is_read_in_each_system_s_unit(monkeypatch) -> None:
    """Without /proc the peak is read from getrusage, which macOS gives in bytes and Linux in
    KiB: a 218 MiB process on a Mac counted as 218 GiB and every job stopped at once."""
    import resource  # Unix only, as in the code under test

    def no_proc(*args, **kwargs):
        raise FileNotFoundError("/proc/self/statm")

    monkeypatch.setattr("builtins.open", no_proc)
    monkeypatch.setattr("sys.platform", "darwin")
    monkeypatch.setattr(resource, "getrusage", lambda who: SimpleNamespace(ru_maxrss=218 * MIB))
    assert resident_memory_bytes() == 218 * MIB
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setattr(resource, "getrusage", lambda who: SimpleNamespace(ru_maxrss=218 * 1024))
    assert resident_memory_bytes() == 218 * MIB
    monkeypatch.setitem(sys.modules, "resource", None)  # Windows: neither /proc nor resource
    assert resident_memory_bytes() == 0  # the cap never trips, rather than every job failing


def test_every_entry_point_starts_without_unix_only_modules() -> None:
    """Windows has no `resource` module, which engine.limits imported at its top: neither the
    app nor the command line nor the library could be imported there."""
    for entry in ("runpy.run_path('launch.py', run_name='__main__')", "engine.cli.main()"):
        code = (
            "import sys, runpy; sys.modules['resource'] = None; sys.argv = ['x', '--help']\n"
            f"import engine.cli\n{entry}"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0 and "usage:" in result.stdout, result.stderr[-2000:]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_tiny_model(tmp_path_factory.mktemp("limits"))


def session_with(tiny: tuple[Path, Path], **limits: float) -> Session:
    return Session(tiny_app_context(*tiny, limits=dataclasses.replace(DEFAULT_LIMITS, **limits)))


def test_app_applies_its_upload_and_pixel_caps(tiny, tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    Image.new("RGB", (40, 30)).save(path)
    reconstruct.load_input(session_with(tiny), path)
    with pytest.raises(gr.Error, match="more than 1,000 pixels"):
        reconstruct.load_input(session_with(tiny, image_pixels=1000), path)
    noise = tmp_path / "noise.png"  # incompressible: about 1.5 MiB
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (700, 700, 3), np.uint8)).save(noise)
    with pytest.raises(gr.Error, match="larger than 1 MiB"):
        reconstruct.load_input(session_with(tiny, upload_bytes=MIB), noise)


def test_app_jobs_stop_at_the_time_cap(tiny) -> None:
    session = session_with(tiny, job_seconds=1e-9)
    reconstruct.sample(session, 1)
    with pytest.warns(UserWarning, match="time limit"):
        outputs = reconstruct.reconstruct(session, "fast")
    assert "stopped early" in outputs.status


def test_a_job_the_cap_stops_before_it_has_anything_says_which_cap(tiny, tmp_path) -> None:
    """An inversion or a video cut off by the cap before any result said "Stopped during the
    GAN inversion ... start again" or "start it again": a Stop the visitor never pressed."""
    session = session_with(tiny, job_seconds=1e-9)
    reconstruct.sample(session, 1)
    with pytest.warns(UserWarning, match="time limit"):
        reconstruct.reconstruct(session, "fast")  # a sample needs no inversion: kept, cut short
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the refusal alone: no toast saying it again
        with pytest.raises(gr.Error, match=r"stopped at the time limit of 1e-09 s; use the fast"):
            reconstruct.rotation_video(session, 0, 0, 0, 0.5, 0.5, False)
    photo = write_random_images(tmp_path, ["photo.png"], height=30, width=40) / "photo.png"
    reconstruct.load_input(session, photo)  # an upload is inverted first
    with pytest.raises(gr.Error, match=r"stopped at the time limit of 1e-09 s; use the fast"):
        reconstruct.reconstruct(session, "fast")


def test_a_video_the_cap_cuts_short_is_kept_and_says_which_cap(tiny, monkeypatch) -> None:
    """A rotation video stopped by the time cap after some frames keeps them, with a toast
    saying the cap stopped it (not the visitor)."""
    session = session_with(tiny, job_seconds=60)
    reconstruct.sample(session, 1)
    reconstruct.reconstruct(session, "fast")
    times = iter([0.0] * 4)  # the guard's start, then three frames within the cap

    def clock() -> float:
        return next(times, 1e6)

    monkeypatch.setattr(reconstruct, "JobGuard", functools.partial(JobGuard, clock=clock))
    with pytest.warns(UserWarning, match="stopped at the time limit of 60 s"):
        path = reconstruct.rotation_video(session, 0, 0, 0, 0.5, 0.5, False)
    assert 1 <= iio.imread(path).shape[0] < reconstruct.VIDEO_FRAMES


@pytest.mark.skipif(sys.platform == "win32", reason="Windows has no open-file limit to raise")
def test_the_app_raises_its_open_file_limit_to_the_most_it_may() -> None:
    """At the common limit of 1024, a thousand idle connections stopped the app answering and
    filled its log with accept() failures."""
    script = (
        "import resource\n"
        "from engine.limits import raise_open_file_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))\n"
        "limit = raise_open_file_limit()\n"
        "now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
        "print(limit == now, now == (hard if hard != resource.RLIM_INFINITY else min(256, hard)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.split() == ["True", "True"], result.stderr
