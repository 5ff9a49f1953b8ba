"""`launch.py --auth-file`: visitors sign in with a name and password from a file, and a host
who opens the app to others without one is warned."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import launch
from app.sign_in import SignInCheck, read_sign_ins
from bench.load import bounded_predict, running_app
from engine.errors import GANliftError
from tests.e2e.tiny_model import write_tiny_model

gradio_client = pytest.importorskip("gradio_client")
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def test_sign_ins_are_read_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "visitors.txt"
    path.write_text("# lab members\nann:a:b c\n\n  bo:pw  \n")
    assert read_sign_ins(path) == [("ann", "a:b c"), ("bo", "pw")]
    path.write_bytes(b"\xef\xbb\xbfcy :pw1\r\ndee:pw2\r\n")  # Notepad: a BOM, CRLF, a space
    assert read_sign_ins(path) == [("cy", "pw1"), ("dee", "pw2")]  # the BOM locked cy out


def test_a_refused_sign_in_is_logged_by_name_alone(caplog: pytest.LogCaptureFixture) -> None:
    """The log said nothing of failed sign-ins: neither guessing nor a broken entry showed."""
    check = SignInCheck([("ann", "s3cret")])
    with caplog.at_level("WARNING", logger="ganlift.app"):
        assert check("ann", "s3cret")
        assert not check("ann", "guess") and not check("mallory\nforged", "s3cret")
    assert caplog.messages == [
        "sign-in refused for the name 'ann'",
        "sign-in refused for the name 'mallory\\nforged'",
    ]
    assert "guess" not in caplog.text and "s3cret" not in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="ganlift.app"):  # 200 of these wrote 200 MB of log
        assert not check("u" * 1_000_000, "x")
    assert caplog.messages == [
        f"sign-in refused for the name {'u' * 64!r}... (1,000,000 characters)"
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r" cannot be read \(No such file or directory\); name a file"),
        (b"\xff\xfe\x00pw", "is not a text file; write one NAME:PASSWORD per line"),
        (b"ann:pw\nbo\n", r"line 2 is not NAME:PASSWORD \(a name, a colon, then the password\)"),
        (b":pw\n", "line 1 is not NAME:PASSWORD"),
        (b"ann:\n", "line 1 is not NAME:PASSWORD"),
        (b"ann:pw\nann:other\n", r"names 'ann' twice \(line 2\); keep one line"),
        (b"# nobody yet\n\n", "holds no NAME:PASSWORD line; add one per visitor"),
    ],
)
def test_a_bad_sign_in_file_is_one_sentence(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "visitors.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(GANliftError, match=f"^--auth-file {path}.*{message}"):
        read_sign_ins(path)


@pytest.mark.parametrize(
    ("arguments", "warned"),
    [
        ([], None),
        (["--share"], "anyone who reaches its public link can use this app"),
        (["--host", "0.0.0.0"], "anyone who reaches 0.0.0.0:7860 can use this app"),
        (["--host", "0.0.0.0", "--auth-file", "visitors.txt"], None),
    ],
)
def test_an_app_open_to_others_without_sign_in_is_warned_of(
    arguments: list[str], warned: str | None
) -> None:
    warning = launch.open_to_all(launch.build_parser().parse_args(arguments))
    assert warning == warned or (warned is not None and warning.startswith(warned))


@pytest.mark.slow
def test_the_live_app_lets_in_only_those_who_sign_in(tmp_path: Path) -> None:
    """Under --share anyone with the link could use the app (and the machine's CPU)."""
    model, preset = write_tiny_model(tmp_path)
    visitors = tmp_path / "visitors.txt"
    visitors.write_text("ann:s3cret:x\n")
    arguments = ["--auth-file", str(visitors)]
    with running_app(model, str(preset), log=tmp_path / "app.log", extra_args=arguments) as app:
        with pytest.raises(gradio_client.exceptions.AuthenticationError):
            gradio_client.Client(app.url, verbose=False)
        for route, body in (("config", None), ("gradio_api/upload", b"{}"),
                            ("gradio_api/queue/join", b"{}")):  # fmt: skip
            request = urllib.request.Request(app.url + route, data=body)
            with pytest.raises(urllib.error.HTTPError, match="401"):
                DIRECT.open(request, timeout=30)
        with pytest.raises(ValueError, match="Could not login"):
            gradio_client.Client(app.url, auth=("ann", "s3cret"), verbose=False)
        downloads = str(tmp_path / "downloads")
        visitor = gradio_client.Client(
            app.url, auth=("ann", "s3cret:x"), verbose=False, download_files=downloads
        )
        image, status = bounded_predict(visitor, 0, api_name="/sample")
        assert Path(image).is_file() and "seed 0" in status
    log = (tmp_path / "app.log").read_text()
    assert "can use this app" not in log and "sign-in refused for the name 'ann'" in log
    assert "s3cret" not in log
    assert re.search(r"ganlift\.app \[ann [0-9a-z]{6}\]: sample took", log)  # who did what


@pytest.mark.slow
def test_an_app_open_to_the_network_without_sign_in_says_so(tmp_path: Path) -> None:
    model, preset = write_tiny_model(tmp_path)
    arguments = ["--host", "0.0.0.0"]
    with running_app(model, str(preset), log=tmp_path / "app.log", extra_args=arguments) as app:
        visitor = gradio_client.Client(app.url, verbose=False)
        api = visitor.view_api(print_info=False, return_format="dict")
        assert "/sample" in api["named_endpoints"]  # served, with no sign-in asked
    assert "anyone who reaches 0.0.0.0:" in (tmp_path / "app.log").read_text()
