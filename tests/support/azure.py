"""Running dtsctl's Azure commands against "Azure on loopback" (tests/azureloop) as the kit's operator.

- `dts(kit, *args, **env)`: the console script signed in as `kit.model.operator` (not as the app),
  polling ARM's operations fast; asserts no traceback reached stderr.
- `writes(kit)`: the ARM requests that were writes (not GET or HEAD).
- `ip_echo_server(kit, address)`: an IP echo service over HTTPS on loopback (the kit's certificate),
  answering `address`; the `ip_echo` fixture answers 203.0.113.7 (import it into a test module).
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

GROUP = "rg-dtsctl-loop"  # the kit's resource group
FAST = {"DTSCTL_ARM_POLL_SECONDS": "0.05"}  # the kit's operations finish in a poll or two
ECHOED = "203.0.113.7"  # what the `ip_echo` fixture says this machine's address is


def dts(kit, *args: str, **env: str):
    """dtsctl signed in as the operator (the kit's `model.operator`), not as the app."""
    r = kit.run_dtsctl(*args, **{**FAST, **kit.operator_env(), **env})
    assert "Traceback" not in r.stderr, r.stderr
    return r


def writes(kit) -> list:
    return [r for r in kit.arm_requests if r.method not in ("GET", "HEAD")]


@contextlib.contextmanager
def ip_echo_server(kit, address: str = ECHOED) -> Iterator[str]:
    """Serves `address` as text over HTTPS on 127.0.0.1; yields the URL for DTSCTL_IP_ECHO_URL."""
    body = f"{address}\n".encode()

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    kit.cert.configure_cert(ctx)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ip_echo(azure_loop) -> Iterator[str]:
    """An IP echo service on loopback answering 203.0.113.7."""
    with ip_echo_server(azure_loop) as url:
        yield url
