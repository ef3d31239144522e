"""Loopback ports and HTTP without proxies (tests talk to 127.0.0.1 only)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
import urllib.error
import urllib.request

from support.wait import wait_until


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (bind to 0, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def held_port(port: int = 0, host: str = "127.0.0.1", *, listen: bool = True) -> Iterator[int]:
    """A TCP port taken for the duration of the block (a free one unless `port` is given), by a
    socket of this process bound to it. Listening (the default), it accepts connections into its
    backlog and never answers; with listen=False a connect is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, port))
        if listen:
            sock.listen(16)
        yield sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Wait until a TCP connect to host:port succeeds.

    Note: for a port published by Docker, docker-proxy accepts connections as soon as
    the container starts, before the service inside listens - use an HTTP/gRPC check
    (e.g. :func:`http_status`) for readiness instead.
    """

    def _connect() -> bool:
        with socket.create_connection((host, port), timeout=1.0):
            return True

    wait_until(_connect, timeout=timeout, desc=f"TCP {host}:{port}")


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    """GET ``url`` without any proxy; return (status, body) also for 4xx/5xx."""
    try:
        with _NO_PROXY_OPENER.open(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_status(url: str, timeout: float = 3.0) -> int:
    return http_get(url, timeout)[0]
