"""The dashboard's HTTP server (stdlib ThreadingHTTPServer): the API under /v1/taskhubs and the page
from `static/`, with the contract's security rules (docs/dashboard-api.md):

- it answers only requests whose Host is its own address (127.0.0.1, localhost, [::1] or the
  address it is bound to, with its port), so that a foreign site cannot reach it by DNS rebinding;
- a request whose Origin is not its own origin is refused, as is one a browser marks cross-site;
- a request that changes something (POST, DELETE, ...) needs the per-run token the page carries in
  its HTML, which another site cannot read;
- every answer is no-store and nosniff, the page has a Content-Security-Policy of 'self' only, and
  JSON escapes <, > and & so that no payload can ever read as markup.

Requests are logged at debug level only (the dtsctl.dashboard logger), never a header's value.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import re
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from dtsctl.dashboard.api import HUB_HEADER, Answer, Api, error
from dtsctl.dashboard.backend import Backend

log = logging.getLogger("dtsctl.dashboard")

STATIC_DIR = Path(__file__).parent / "static"
TOKEN_HEADER = "x-dtsctl-token"
MAX_BODY = 32 * 1024 * 1024  # payloads reach a scheduler in one gRPC message (16 MiB at most here)
SAFE_METHODS = frozenset({"GET", "HEAD"})
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".json": "application/json; charset=utf-8", ".svg": "image/svg+xml",
    ".png": "image/png", ".ico": "image/x-icon", ".jpg": "image/jpeg", ".woff2": "font/woff2", ".txt": "text/plain; charset=utf-8",
    ".map": "application/json; charset=utf-8",
}
_TOKEN_META = re.compile(r"""<meta\s+name=["']dtsctl-token["'][^>]*>""", re.IGNORECASE)
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def to_json(doc: Any) -> bytes:
    """JSON with <, > and & escaped (\\u003c ...): still the same JSON, but never markup to any reader."""
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n").encode("utf-8")


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # a port in use is refused, not shared
    app: DashboardServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback to stderr; a dropped connection is not the user's business.
        log.debug("a dashboard request failed", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    server_version = "dtsctl-dashboard"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle's algorithm on, the body waited for the
    # client's delayed ACK: 44 ms on every answer of a kept-alive connection (bench/dashboard.py).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # `_finish` logs each request once, at debug level

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s", format % args)

    # ---- answers

    def _send(self, status: int, data: bytes, content_type: str | None, *, extra: dict[str, str] | None = None,
              close: bool = False) -> None:
        # Logged before the answer goes out: a client that has its answer finds the line written.
        log.debug("%s %s -> %d", self.command, urlsplit(self.path).path, status)
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _answer(self, answer: Answer, *, close: bool = False) -> None:
        extra = {"Allow": answer.allow} if answer.allow else None
        self._send(answer.status, to_json(answer.doc), "application/json; charset=utf-8", extra=extra, close=close)

    # ---- checks

    def _refusal(self) -> Answer | None:
        app = self.server.app
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in app.hosts:
            return error(403, "forbidden", f"This dashboard answers only requests for its own address ({app.url}); "
                                           "the request was for another host.")
        origin = self.headers.get("Origin")
        if origin is not None and origin.strip().lower() != f"http://{host}":
            return error(403, "forbidden", "This dashboard refuses requests from another site's page.")
        if (self.headers.get("Sec-Fetch-Site") or "").lower() == "cross-site":
            return error(403, "forbidden", "This dashboard refuses requests from another site's page.")
        if self.command not in SAFE_METHODS:
            given = self.headers.get(TOKEN_HEADER) or ""
            if not hmac.compare_digest(given.encode(), app.token.encode()):
                return error(403, "forbidden", "A request that changes something needs the dashboard's token "
                                               f"({TOKEN_HEADER}, from the page this server serves).")
        return None

    def _read_body(self) -> bytes | Answer:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return error(411, "bad-request", "Send the request body with a Content-Length, not chunked.")
        length_text = self.headers.get("Content-Length") or "0"
        try:
            length = int(length_text)
        except ValueError:
            return error(400, "bad-request", "The Content-Length header is not a number.")
        if length < 0 or length > MAX_BODY:
            return error(413, "bad-request", f"The request body is larger than the dashboard takes ({MAX_BODY} bytes).")
        return self.rfile.read(length) if length else b""

    # ---- methods

    def _handle(self) -> None:
        try:
            refusal = self._refusal()
            if refusal is not None:
                self._answer(refusal, close=self.command not in SAFE_METHODS)
                return
            path = urlsplit(self.path).path
            if path == "/v1" or path.startswith("/v1/"):
                body: bytes | None = None
                if self.command not in SAFE_METHODS:
                    read = self._read_body()
                    if isinstance(read, Answer):
                        self._answer(read, close=True)
                        return
                    body = read
                answer = self.server.app.api.handle(self.command, path, hub_header=self.headers.get(HUB_HEADER),
                                                    body=body)
                self._answer(answer)
                return
            if self.command not in SAFE_METHODS:
                answer = error(405, "bad-request", f"The page takes GET, not {self.command}.")
                answer.allow = "GET, HEAD"
                self._answer(answer, close=True)
                return
            self._static(path)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = _handle

    def _static(self, path: str) -> None:
        app = self.server.app
        found = app.static_file(path)
        if found is None:
            self._answer(error(404, "not-found", f"There is no page {path}."))
            return
        if found.name == "index.html":
            self._send(200, app.page(found), CONTENT_TYPES[".html"], extra={"Content-Security-Policy": CSP})
            return
        data = found.read_bytes()
        self._send(200, data, CONTENT_TYPES.get(found.suffix.lower(), "application/octet-stream"),
                   extra={"Content-Security-Policy": CSP})


class DashboardServer:
    """The dashboard on `host:port` (port 0: a free one) for `backend`; `start()` serves in a thread,
    `stop()` ends it and closes the backend (also when it was never started). Binding happens in
    the constructor, so a port in use raises OSError there. `allowed_hosts`: more host names (without
    the port) whose Host header it answers, for a server bound to more than loopback."""

    def __init__(self, backend: Backend, *, host: str = "127.0.0.1", port: int = 0,
                 static_dir: Path | str = STATIC_DIR, token: str | None = None,
                 allowed_hosts: tuple[str, ...] = ()) -> None:
        self.backend = backend
        self.allowed_hosts = tuple(h.strip().lower() for h in allowed_hosts if h.strip())
        self.api = Api(backend)
        self.token = token or secrets.token_urlsafe(32)
        self.static_dir = Path(static_dir).resolve()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_cls = type("_BoundServer", (_HttpServer,), {"address_family": family})
        self._httpd = server_cls((host.strip("[]"), port), _Handler)
        self._httpd.app = self
        self.host = host
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def hosts(self) -> frozenset[str]:
        """The Host values this server answers: its loopback names, its bind address and the names in
        `allowed_hosts` (for a server bound to all addresses: the machine's own names), with its port."""
        bound = self.host.strip("[]").lower()
        names = {*_LOOPBACK_NAMES, *self.allowed_hosts}
        if bound not in ("", "0.0.0.0", "::"):
            names.add(f"[{bound}]" if ":" in bound else bound)
        return frozenset(f"{name}:{self.port}" for name in names)

    @property
    def url(self) -> str:
        bound = self.host.strip("[]")
        if bound in ("", "0.0.0.0", "::", "127.0.0.1"):
            name = "127.0.0.1"
        else:
            name = f"[{bound}]" if ":" in bound else bound
        return f"http://{name}:{self.port}/"

    def start(self) -> DashboardServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="dtsctl-dashboard", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        self.backend.close()

    def serve_forever(self) -> None:
        """Serve on the calling thread until `stop()` (from another thread) or KeyboardInterrupt."""
        self._httpd.serve_forever(poll_interval=0.2)

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the page

    def static_file(self, path: str) -> Path | None:
        """The file under static_dir that `path` names ("/" is index.html), or None: nothing outside
        static_dir (no '..', no absolute or hidden parts, no symlink out), no directories."""
        text = unquote(path)
        if "\x00" in text or "\\" in text:
            return None
        parts = [p for p in text.split("/") if p]
        if not parts:
            parts = ["index.html"]
        if any(p in (".", "..") or p.startswith(".") for p in parts):
            return None
        candidate = self.static_dir.joinpath(*parts)
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self.static_dir) or not resolved.is_file():
            return None
        return resolved

    def page(self, index: Path) -> bytes:
        """index.html with this run's token in its <meta name="dtsctl-token"> (added to <head> when
        the file has none)."""
        meta = f'<meta name="dtsctl-token" content="{html.escape(self.token, quote=True)}">'
        text = index.read_text(encoding="utf-8")
        if _TOKEN_META.search(text):
            text = _TOKEN_META.sub(lambda _m: meta, text, count=1)
        else:
            text = re.sub(r"<head[^>]*>", lambda m: m.group(0) + meta, text, count=1, flags=re.IGNORECASE)
        return text.encode("utf-8")
