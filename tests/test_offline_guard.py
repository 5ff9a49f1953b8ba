"""The test session's network guard: looking up or connecting to another host fails at once with
one sentence, while loopback (the app servers the tests start) still works."""

from __future__ import annotations

import socket

import pytest


@pytest.mark.parametrize("host", ["huggingface.co", "api.gradio.app", "8.8.8.8"])
def test_looking_up_other_hosts_is_refused_at_once(host: str) -> None:
    with pytest.raises(OSError, match=rf"tests never reach the network \(asked for '{host}'\)"):
        socket.getaddrinfo(host, 443)


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888"])
def test_connecting_to_other_addresses_is_refused_at_once(address: str) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as client, pytest.raises(OSError, match="never reach the network"):
        client.connect((address, 443))


def test_loopback_still_connects() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert socket.getaddrinfo("localhost", port)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            accepted, _ = server.accept()
            accepted.close()
