"""`dtsctl dashboard`: the dashboard page and its API (docs/dashboard-api.md) for the configured
target, served on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import errno
import os
import sys
import threading
from typing import Annotated

import typer

from dtsctl.cli.common import Cx, command, group
from dtsctl.errors import OperationFailed

app = group(None, None)

# 8080 is the emulator's gRPC port, 8081 its health port and 8082 its own dashboard (the local
# engine's too): 8083 is the next one, so that all of them can run side by side.
DEFAULT_PORT = 8083
HOST = "127.0.0.1"


def _port_in_use(port: int) -> OperationFailed:
    from dtsctl.emulator.ports import port_holders

    holders = port_holders(port)
    by = (" by " + ", ".join(f"pid {pid} ({comm or '?'})" for pid, comm in holders)) if holders else ""
    return OperationFailed(f"Cannot serve the dashboard: port {port} on {HOST} is already in use{by}.",
                           hint="Choose another port with --port N (0 picks a free one), or stop what listens "
                                f"on port {port}.")


def _no_browser() -> bool:
    """No browser to open here: CI, or a Linux session without a display (where webbrowser would
    start a text browser in this terminal)."""
    if os.environ.get("CI"):
        return True
    return sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@command(app, "dashboard", target=True, timeout=10.0)
def dashboard(
    cx: Cx,
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="Port on 127.0.0.1 (0: any free one). 8083 by default: next to the "
                                           "emulator's 8080-8082, so all of them run side by side.")] = DEFAULT_PORT,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
) -> None:
    """Serve the dashboard for the target: a web page (instances, history, timeline, actions, bulk actions, entities) and its JSON API, on 127.0.0.1 only, until Ctrl-C.

    The page talks to the scheduler through this process with your credential, which never reaches the browser. The target must answer first (exit 4 when it does not). Prints the URL.

    Examples:
      dtsctl dashboard
      dtsctl dashboard --profile prod --open
      dtsctl dashboard --task-hub orders --port 0 -o json
    """
    from dtsctl.dashboard.backend import GrpcBackend
    from dtsctl.dashboard.server import DashboardServer
    from dtsctl.sigsafe import handling, set_soon

    target = cx.target()
    args = cx.target_args
    flags = ("--profile", args.profile) if args is not None and args.profile else ()
    backend = GrpcBackend(target, timeout=cx.timeout, command_flags=flags)
    try:
        hub = backend.default_hub
        backend.ping(hub)  # before serving: a page for a scheduler that does not answer helps nobody
        try:
            server = DashboardServer(backend, host=HOST, port=port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise _port_in_use(port) from None
            raise OperationFailed(f"Cannot serve the dashboard on {HOST}:{port}: {exc.strerror or exc}.") from None
    except BaseException:
        backend.close()
        raise

    doc = {"url": server.url, "task_hub": hub, "endpoint": target.endpoint}
    stop = threading.Event()
    import signal

    with handling([signal.SIGTERM], lambda *_: set_soon(stop)):
        server.start()
        try:
            cx.emit(doc, lambda w: w.line(server.url))
            cx.streams.stdout.flush()
            cx.note(f"serving task hub '{hub}' of {target.endpoint}; Ctrl-C stops")
            if open_browser:
                _open(cx, server.url)
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a user stops it: exit 0, quietly
        finally:
            server.stop()


def _open(cx: Cx, url: str) -> None:
    if _no_browser():
        cx.note(f"no browser to open here; open {url} yourself")
        return
    import webbrowser

    if not webbrowser.open(url):
        cx.warn(f"No browser could be opened; open {url} yourself.")
