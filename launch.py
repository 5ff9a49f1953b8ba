"""Start the GANlift app: `python launch.py [--model default-face|default-car|PATH] [--desktop]`.

With no arguments it serves the embedded default face model on http://127.0.0.1:7860 (and says
in the page when that model is not installed yet).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from app import SERVER_PORT_SETTING, SERVER_PORT_VARIABLE  # first: gradio reads what it sets
from app.expiry import page_states
from app.folders import remove_orphaned_folders, use_private_gradio_cache
from app.models import DEFAULT_MODELS, ModelStore, resolve_model, resolve_preset
from app.request_guards import request_guards
from app.session import AppContext
from app.settings import AppSettings
from app.sign_in import SIGN_IN_MESSAGE, SignInCheck, read_sign_ins
from app.ui import PAGE_CSS, PAGE_JS, build_app
from app.viewer import PendingProbe, create_viewer
from app.visitors import VisitorField
from engine.cli.arguments import (
    INTERRUPTED,
    ArgumentParser,
    add_device_option,
    escape_unencodable_output,
    expand_home,
    report_error,
)
from engine.device import resolve_device
from engine.errors import GANliftError
from engine.gan2shape.presets import PRESETS
from engine.gan2shape.release import RELEASE_FILES, release_folder
from engine.limits import (
    add_limit_arguments,
    cap_allocator_arenas,
    limits_from_arguments,
    raise_open_file_limit,
)
from engine.progress import sigterm_as_ctrl_c
from engine.render.rasterizer import resolve_backend
from engine.styleganr.model import resolve_model_path
from engine.wording import shown

# isort: split
import gradio as gr

logger = logging.getLogger("ganlift.app")
SHUTDOWN_SECONDS = 10.0
"""How long a shutdown waits for running actions to stop at their next step."""
DEFAULT_PORT = 7860
"""Where the app listens unless --port or GRADIO_SERVER_PORT says otherwise (Gradio's own)."""
QUEUE_SIZE = 64
"""Events that may wait in the queue before new ones are refused."""


def build_parser() -> argparse.ArgumentParser:
    """The command line of `launch.py`."""
    parser = ArgumentParser(prog="launch.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default=DEFAULT_MODELS[0],
        help=f"{' or '.join(DEFAULT_MODELS)}, or a StyleGAN2 checkpoint (.pt, .pkl, .safetensors)",
    )
    parser.add_argument(
        "--category",
        default=None,
        help=f"GAN2Shape preset ({', '.join(PRESETS)}) or a preset JSON file; default: the "
        "model's own, else inferred from its image size when only one preset fits it",
    )
    parser.add_argument(
        "--cars-model",
        default=AppSettings.cars_model,
        help="StyleGAN-R model of the Cars tab: a shipped model's name or a file written by "
        "`python -m engine styleganr` (%(default)s)",
    )
    parser.add_argument(
        "--release-dir",
        metavar="DIR",
        help="the GAN2Shape release's checkpoints/ folder: its checkpoints, loaded with their "
        f"category ({', '.join(RELEASE_FILES)}), then sample views and lights and start as the "
        "release does",
    )
    add_device_option(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument(
        "--port", type=int, help=f"port to listen on ({SERVER_PORT_VARIABLE}, else {DEFAULT_PORT})"
    )
    parser.add_argument("--share", action="store_true", help="also serve a public Gradio link")
    parser.add_argument(
        "--auth-file",
        metavar="FILE",
        help="ask visitors to sign in with a NAME:PASSWORD line of FILE (one per visitor; a "
        "file keeps the passwords out of the process list)",
    )
    parser.add_argument(
        "--allow-model-paths",
        action="store_true",
        help="let visitors load checkpoints by server path even where others can reach the "
        "app (--share, or a --host other than loopback)",
    )
    parser.add_argument(
        "--desktop",
        action="store_true",
        help="also show the 3D viewer tab's mesh in Open3D's native window",
    )
    parser.add_argument(
        "--viewer",
        choices=("auto", "open3d", "torch"),
        default="auto",
        help="mesh renderer of the 3D viewer tab (auto: Open3D offscreen on a graphics device, "
        "engine.render where Open3D works but would run on a software one, or not at all)",
    )
    add_limit_arguments(parser)
    return parser


def has_display() -> bool:
    """Whether native windows can open here (always on macOS and Windows; X11 or Wayland on
    Linux and the BSDs)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def bare_address(host: str) -> str:
    """`--host` without the brackets of an IPv6 address written as in a URL (`[::1]`), as
    Gradio, the socket module and NO_PROXY take it."""
    return host.removeprefix("[").removesuffix("]")


def serves_this_machine_only(args: argparse.Namespace) -> bool:
    """Whether only this machine can reach the app: a loopback --host and no public link. Only
    then may visitors load checkpoints by server path unasked (with --host 0.0.0.0 anyone on
    the network could load any file and read from the refusals which paths exist)."""
    if args.share:
        return False
    address = bare_address(args.host)
    try:
        return address == "localhost" or ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def open_to_all(args: argparse.Namespace) -> str | None:
    """A warning where others can reach the app and no sign-in is asked for, else None."""
    if args.auth_file is not None or serves_this_machine_only(args):
        return None
    reach = "its public link" if args.share else f"{args.host}:{listening_port(args.port)}"
    return f"anyone who reaches {reach} can use this app; --auth-file FILE asks for a password"


def listening_port(port: int | None) -> int:
    """`port` (--port) where given, else GRADIO_SERVER_PORT's, else `DEFAULT_PORT`; one outside
    1-65535 is refused naming where it came from."""
    if port is not None:
        if not 1 <= port <= 65535:
            raise GANliftError(f"--port must be from 1 to 65535, got {port}.")
        return port
    if SERVER_PORT_SETTING is None:
        return DEFAULT_PORT
    text = SERVER_PORT_SETTING.strip()
    if not text.isdecimal() or not 1 <= int(text) <= 65535:
        raise GANliftError(
            f"{SERVER_PORT_VARIABLE} is {shown(SERVER_PORT_SETTING, quoted=True)}, not a port "
            f"number; set it to one from 1 to 65535, or unset it and pass --port N."
        )
    return int(text)


def check_address(host: str, port: int) -> None:
    """Refuse, before the models load, an address this machine cannot listen on now: a host
    that is not its own, or a `listening_port` another server holds (Gradio's own refusals
    came as tracebacks after the models had loaded)."""
    address = bare_address(host)
    try:
        family = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
            probe.bind((address, port))
    except OSError as error:
        raise GANliftError(
            f"Cannot listen on {host}:{port} ({error.strerror or error}); another server may "
            "hold the port (pass --port N or stop it), or --host is not this machine's."
        ) from error


def keep_local_requests_direct(host: str) -> None:
    """Add this machine's addresses and `host` to NO_PROXY: Gradio asks for its own page over
    httpx as it starts, which follows a proxy set in the shell (`http_proxy`), and one that
    cannot reach this machine's loopback stopped the app with a traceback."""
    local = ["127.0.0.1", "localhost", "::1", bare_address(host)]
    for name in ("NO_PROXY", "no_proxy"):
        named = [entry.strip() for entry in os.environ.get(name, "").split(",") if entry.strip()]
        os.environ[name] = ",".join(dict.fromkeys([*named, *local]))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, build the app and serve it until interrupted."""
    escape_unencodable_output()
    args = build_parser().parse_args(expand_home(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s%(visitor)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(VisitorField())  # names the visitor of each request's lines
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own requests at each start
    try:
        with sigterm_as_ctrl_c():  # from the start: a stop while loading runs the exit hooks too
            return serve(args)
    except KeyboardInterrupt:  # before the server ran (it ends its own on Ctrl-C or SIGTERM)
        print("interrupted", file=sys.stderr)
        return INTERRUPTED


def serve(args: argparse.Namespace) -> int:
    """Load the models `args` name, then serve the app until Ctrl-C or SIGTERM. `--viewer
    auto`'s Open3D probe runs meanwhile (a child process; stopped if the start fails)."""
    with PendingProbe() if args.viewer == "auto" else contextlib.nullcontext() as probe:
        return _serve(args, probe)


def _serve(args: argparse.Namespace, probe: PendingProbe | None) -> int:
    """`serve`, its probe started (None where `--viewer` names a viewer outright)."""
    try:
        args.port = listening_port(args.port)
        check_address(args.host, args.port)
        device = resolve_device(args.device)
        settings = AppSettings(
            model=args.model,
            category=args.category,
            cars_model=args.cars_model,
            allow_model_paths=args.allow_model_paths or serves_this_machine_only(args),
            desktop=args.desktop,
            limits=limits_from_arguments(args),
        )
        choice = resolve_model(settings.model, settings.category, models_dir=settings.models_dir)
        if not choice.installed and choice.name not in DEFAULT_MODELS:
            raise GANliftError(choice.missing_message)
        if settings.category is not None:
            resolve_preset(settings.category, gan_size=0)  # a bad name or file, refused now
        cars = resolve_model_path(settings.cars_model, models_dir=settings.models_dir)
        if not cars.is_file():  # a typo is told now, not on the Cars tab's first use
            raise GANliftError(
                f"--cars-model {settings.cars_model}: there is no StyleGAN-R model at {cars}; "
                "pass a file written by `python -m engine styleganr` or leave it out."
            )
        sign_ins = None if args.auth_file is None else read_sign_ins(Path(args.auth_file))
        release_dir = None if args.release_dir is None else release_folder(args.release_dir)
        models = ModelStore(device, release_dir=release_dir)
        if choice.installed:  # a preset that does not fit the GAN is refused now, not per request
            models.load(choice)
        models.load_cars(cars)  # as is a file of another kind (about a second)
        if args.desktop and not has_display():
            raise GANliftError(
                "--desktop opens Open3D windows on this machine's screen, but it has none "
                "(DISPLAY is not set); leave out --desktop or start the app on a desktop."
            )
        resolve_backend(None, device)  # a bad GANLIFT_RASTERIZER, told now, not on each 3D click
        if orphans := remove_orphaned_folders():  # before this process's own folder is made
            logger.info(
                "removed %d temporary folders of app processes that were killed", len(orphans)
            )
        use_private_gradio_cache()
    except Exception as error:
        return report_error(error)
    if (warning := open_to_all(args)) is not None:
        logger.warning(warning)
    cap_allocator_arenas()
    raise_open_file_limit()
    keep_local_requests_direct(args.host)
    os.environ.pop("GRADIO_DEBUG", None)  # it blocks in launch(): a stop left the process up
    viewer = create_viewer(args.viewer, None if probe is None else probe.result())
    context = AppContext(settings, models, viewer)
    demo = build_app(context)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        auth=None if sign_ins is None else SignInCheck(sign_ins),
        auth_message=SIGN_IN_MESSAGE,
        allowed_paths=[str(settings.examples_dir)],
        max_file_size=settings.limits.upload_bytes,
        state_session_capacity=page_states(settings.limits.sessions),
        app_kwargs={"middleware": request_guards()},
        theme=gr.themes.Soft(),
        css=PAGE_CSS,
        js=PAGE_JS,
        quiet=True,  # Gradio's own lines tell a script's author to "set `share=True` in launch()"
        ssr_mode=False,  # GRADIO_SSR_MODE put a Node server on --port, before the body cap
        mcp_server=False,  # GRADIO_MCP_SERVER would open the actions as tools to anyone
        prevent_thread_lock=True,
    )
    hint = "" if args.share else " (pass --share for a public link as well)"
    print(f"* Running on local URL:  {demo.local_url}{hint}", flush=True)
    demo.block_thread()
    if not context.sessions.stop_running(SHUTDOWN_SECONDS):  # Gradio closed on Ctrl-C/SIGTERM
        logger.warning("an action did not stop within %g s of the shutdown", SHUTDOWN_SECONDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
