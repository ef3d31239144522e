"""HTTP health endpoint of the local engine (stdlib ``http.server`` in a thread).

Routes (GET; HEAD works too):

- ``/healthz``: ``204 No Content`` while the gRPC server serves (as the real emulator answers on
  port 8081), ``503`` once it is stopping.
- ``/v1/taskhubs``: ``{"dynamic_task_hubs": bool, "task_hubs": [HUB, ...], "data_file": path or null, "data_bytes": int or null}``.
- ``/v1/taskhubs/<name>``: one ``HUB``, or ``404 {"error": "Task hub not found: <name>"}``.
- ``/v1/info``: the ready-file document (pid, ports, bind, hubs, started_at) plus ``uptime_seconds``.

``HUB`` is ``{"name", "origin", "created_at", "instances", "instances_by_status", "entities",
"workers"}``: ``origin`` is ``configured``, ``dynamic`` (created on first use) or ``created``
(CreateTaskHub); ``instances_by_status`` maps ``RUNNING``, ``COMPLETED``, ``PENDING``... to counts;
``workers`` is the number of open ``GetWorkItems`` streams.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from dtsctl.dts import TASK_HUB_NOT_FOUND

log = logging.getLogger("dtsctl.emulator.local.health")

ROUTES = ("/healthz", "/v1/taskhubs", "/v1/taskhubs/<name>", "/v1/info")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: HealthServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "dtsctl-local-engine"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else (json.dumps(body, indent=None) + "\n").encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        app = self.server.app
        path = urlsplit(self.path).path.rstrip("/") or "/"
        try:
            if path == "/healthz":
                self._send(HTTPStatus.NO_CONTENT if app.is_serving() else HTTPStatus.SERVICE_UNAVAILABLE)
            elif path == "/v1/taskhubs":
                self._send(HTTPStatus.OK, {"dynamic_task_hubs": app.registry.dynamic,
                                           "task_hubs": app.registry.snapshot(),
                                           **app.registry.store_info()})
            elif path.startswith("/v1/taskhubs/"):
                name = unquote(path[len("/v1/taskhubs/"):])
                hub = app.registry.get(name)
                if hub is None:
                    self._send(HTTPStatus.NOT_FOUND, {"error": f"{TASK_HUB_NOT_FOUND}: {name}"})
                else:
                    self._send(HTTPStatus.OK, hub.stats())
            elif path == "/v1/info":
                self._send(HTTPStatus.OK, app.info())
            else:
                self._send(HTTPStatus.NOT_FOUND, {"error": f"no route {path}", "routes": list(ROUTES)})
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_HEAD = do_GET

    def _not_allowed(self) -> None:
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed


class HealthServer:
    """The health endpoint; ``port`` is the bound port (useful with port 0)."""

    def __init__(self, bind: str, port: int, registry: Any, *,
                 info: Callable[[], dict[str, Any]], is_serving: Callable[[], bool]):
        self.registry = registry
        self.info = info
        self.is_serving = is_serving
        server_cls = type("_BoundServer", (_Server,), {
            "address_family": socket.AF_INET6 if ":" in bind else socket.AF_INET,
        })
        self._httpd = server_cls((bind, port), _Handler)  # binds now: raises OSError if taken
        self._httpd.app = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="health-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
