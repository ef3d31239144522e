"""What the kit's HTTP servers (the managed identity endpoint, ARM) share: serving on 127.0.0.1
from a daemon thread, and a thread-safe record of the requests they answered."""

from __future__ import annotations

import threading
from http.server import HTTPServer
from typing import Generic, TypeVar

R = TypeVar("R")


class RecordingServer(Generic[R]):
    """`requests` holds what was answered, in order; `record` and `clear` may be called from any thread."""

    port: int

    def __init__(self) -> None:
        self.requests: list[R] = []
        self._lock = threading.Lock()

    def _serve(self, httpd: HTTPServer, thread_name: str) -> None:
        """Serve `httpd` (bound to 127.0.0.1:0) once `start` is called; sets `port`."""
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=thread_name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def record(self, req: R) -> None:
        with self._lock:
            self.requests.append(req)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
