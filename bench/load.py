"""Load test of the live app: simultaneous `gradio_client` sessions, each uploading its own image,
reconstructing it and dragging the sliders, against `python launch.py` on 127.0.0.1.

    python -m bench.load [--sessions 8] [--seconds 180] [--renders 5] [--model PATH --category P]

Prints requests, errors, leaks (a session shown another session's image), p50 / p90 latency per
endpoint and the server's resident memory at the start and the end. Without --model it serves a
tiny 32-px model, so the figures measure the app's overhead rather than the network's cost.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from engine.cli.arguments import at_least, run_script, script_parser
from engine.errors import GANliftError

if TYPE_CHECKING:
    from gradio_client import Client
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # gradio_client asks the Hub on every connect

REPO = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 120.0
IMAGE_SIDE = 32
REQUEST_SECONDS = 300.0
"""One request may take this long before the visitor counts it as an error (a wedged server
fails the run instead of hanging it)."""
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Talks to localhost without any proxy from the environment."""


@dataclass
class AppServer:
    """A running `launch.py` process and its address."""

    url: str
    process: subprocess.Popen

    def rss_bytes(self) -> int:
        """The server's resident memory now."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("VmRSS missing from /proc status")


def free_port() -> int:
    """A localhost port nothing listens on now (7860 may be taken by a running app)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_app(
    model: Path, category: str | None, *, log: Path, extra_args: Sequence[str] = ()
) -> Iterator[AppServer]:
    """`python launch.py --model MODEL [--category CATEGORY]` on a free localhost port, one
    torch thread, nothing downloaded; stopped when the `with` ends."""
    port = free_port()
    env = os.environ | {
        "GANLIFT_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "OMP_NUM_THREADS": "1",
    }
    preset = ["--category", category] if category is not None else []
    command = [
        sys.executable, "launch.py", "--model", str(model), *preset,
        "--port", str(port), "--viewer", "torch", *extra_args,
    ]  # fmt: skip
    with log.open("w") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        server = AppServer(f"http://127.0.0.1:{port}/", process)
        try:
            _wait_until_serving(server, log)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a server that ignores the stop: never left running
                process.kill()
                process.wait()
                raise


def session_colour(index: int) -> np.ndarray:
    """A colour per session, far from every other session's: RGB uint8 `[3]`."""
    hue = (index * 0.618034) % 1.0
    return np.array(Image.new("HSV", (1, 1), (int(hue * 255), 200, 230)).convert("RGB"))[0, 0]


def write_session_image(index: int, folder: Path) -> Path:
    """An image of session `index`'s colour (what that session must get back), checkered by
    ±8 levels about it (a picture of one flat colour has nothing to lift, and is refused)."""
    path = folder / f"session-{index}.png"
    checker = np.indices((IMAGE_SIDE, IMAGE_SIDE)).sum(0)[..., None] % 2 * 16 - 8  # [S, S, 1]
    pixels = session_colour(index).astype(np.int16) + checker  # [S, S, 3], mean the colour
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def nearest_session(picture: Path, sessions: int) -> int:
    """The session whose colour is closest to `picture`'s mean colour."""
    mean = np.asarray(Image.open(picture).convert("RGB"), np.float32).mean(axis=(0, 1))  # [3]
    distances = [np.abs(mean - session_colour(index)).sum() for index in range(sessions)]
    return int(np.argmin(distances))


@dataclass
class SessionLog:
    """What one simulated visitor saw."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    """Seconds per request, by endpoint."""
    errors: list[str] = field(default_factory=list)
    leaks: int = 0
    """Reconstructions that showed another session's image."""

    def timed(self, client: Client, endpoint: str, *args: object) -> Any:
        """`client.predict(*args, api_name=endpoint)`, timed and bounded by `REQUEST_SECONDS`;
        errors (a timeout among them) are recorded, not raised."""
        start = time.perf_counter()
        try:
            return bounded_predict(client, *args, api_name=endpoint)
        except Exception as error:  # the load test counts every failure the client reports
            self.errors.append(f"{endpoint}: {type(error).__name__}: {error}")
            return None
        finally:
            self.latencies.setdefault(endpoint, []).append(time.perf_counter() - start)


def bounded_predict(client: Client, *arguments: object, api_name: str) -> Any:
    """``client.predict``, but a request that takes over `REQUEST_SECONDS` raises TimeoutError
    instead of waiting on a wedged server for ever."""
    return client.submit(*arguments, api_name=api_name).result(timeout=REQUEST_SECONDS)


def run_session(
    url: str, index: int, sessions: int, folder: Path, *, deadline: float, renders: int
) -> SessionLog:
    """One visitor: upload its image, reconstruct (fast), drag the sliders `renders` times;
    again until `deadline` (at least once)."""
    from gradio_client import Client, handle_file

    log = SessionLog()
    image = write_session_image(index, folder)
    client = Client(url, verbose=False, download_files=str(folder / f"downloads-{index}"))
    rng = np.random.default_rng(index)
    while True:
        log.timed(client, "/load_image", handle_file(str(image)))
        outputs = log.timed(client, "/reconstruct", "fast")
        if outputs is not None and nearest_session(Path(outputs[0]), sessions) != index:
            log.leaks += 1
        for _ in range(renders):
            azimuth, elevation = rng.uniform(-60, 60), rng.uniform(-30, 30)
            log.timed(client, "/render_view", azimuth, elevation, 0.2, 0.3, 0.5, 0.6, False)
        if time.monotonic() >= deadline:
            return log


@dataclass
class LoadReport:
    """Totals over every session."""

    sessions: int
    seconds: float
    latencies: dict[str, list[float]]
    errors: list[str]
    leaks: int
    rss_start: int
    rss_end: int

    @property
    def requests(self) -> int:
        return sum(len(times) for times in self.latencies.values())

    def table(self) -> str:
        """The figures as printed by `main`."""
        lines = [
            f"{self.sessions} sessions, {self.seconds:.0f} s: {self.requests} requests, "
            f"{len(self.errors)} errors, {self.leaks} leaks",
            f"server RSS: {self.rss_start / 2**20:.0f} MiB at start, "
            f"{self.rss_end / 2**20:.0f} MiB at end",
            f"{'endpoint':<14} {'count':>6} {'p50 ms':>9} {'p90 ms':>9}",
        ]
        for endpoint, times in sorted(self.latencies.items()):
            p50, p90 = _percentile(times, 50), _percentile(times, 90)
            lines.append(f"{endpoint:<14} {len(times):>6} {p50 * 1e3:>9.1f} {p90 * 1e3:>9.1f}")
        return "\n".join(lines + self.errors[:5])


def run_load(
    server: AppServer, folder: Path, *, sessions: int, seconds: float, renders: int
) -> LoadReport:
    """`sessions` visitors in parallel threads for about `seconds` against `server`."""
    rss_start = server.rss_bytes()
    start = time.monotonic()
    logs: list[SessionLog | None] = [None] * sessions

    def visit(index: int) -> None:
        logs[index] = run_session(
            server.url, index, sessions, folder, deadline=start + seconds, renders=renders
        )

    threads = [threading.Thread(target=visit, args=(index,)) for index in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = [log for log in logs if log is not None]
    latencies: dict[str, list[float]] = {}
    for log in finished:
        for endpoint, times in log.latencies.items():
            latencies.setdefault(endpoint, []).extend(times)
    crashed = [f"session {index} crashed" for index, log in enumerate(logs) if log is None]
    return LoadReport(
        sessions=sessions,
        seconds=time.monotonic() - start,
        latencies=latencies,
        errors=crashed + [error for log in finished for error in log.errors],
        leaks=sum(log.leaks for log in finished),
        rss_start=rss_start,
        rss_end=server.rss_bytes(),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument(
        "--sessions", type=at_least(1), default=8, help="concurrent visitors (%(default)s)"
    )
    parser.add_argument(
        "--seconds",
        type=at_least(0, float),
        default=180.0,
        help="how long they visit (%(default)s)",
    )
    parser.add_argument(
        "--renders",
        type=at_least(0),
        default=5,
        help="slider renders per reconstruction (%(default)s)",
    )
    parser.add_argument("--model", type=Path, help="checkpoint (default: a tiny 32-px model)")
    parser.add_argument("--category", help="preset name or JSON file for --model")
    args = parser.parse_args(argv)
    if args.category is not None and args.model is None:  # the tiny model has its own preset
        raise GANliftError("--category names the preset of --model; give --model too.")
    with tempfile.TemporaryDirectory(prefix="ganlift-load-") as scratch:
        folder = Path(scratch)
        model, category = args.model, args.category
        if model is not None:  # the app runs in the repository: paths as the user meant them
            model = model.resolve()
            if category is not None and category.endswith(".json"):
                category = str(Path(category).resolve())
        else:
            from tests.e2e.tiny_model import write_tiny_model

            model, preset = write_tiny_model(folder)
            category = str(preset)
        with running_app(model, category, log=folder / "app.log") as server:
            report = run_load(
                server, folder, sessions=args.sessions, seconds=args.seconds, renders=args.renders
            )
    print(report.table())


def _percentile(values: list[float], percent: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _wait_until_serving(server: AppServer, log: Path) -> None:
    """Poll the server until it answers, failing early, with the app's reason, if it exits."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            reason = (log.read_text().strip().splitlines() or [""])[-1].removeprefix("error: ")
            raise GANliftError(f"launch.py exited with code {server.process.returncode}: {reason}")
        try:
            with _DIRECT.open(server.url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the app did not answer on {server.url} within {STARTUP_SECONDS:.0f} s")


if __name__ == "__main__":
    run_script(main)
