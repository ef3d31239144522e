"""Raw HTTP to a dashboard server on loopback, for the API and security tests: the path and the
headers go exactly as given (http.client, no normalising), the answer comes back whole."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)


def request(port: int, method: str, path: str, *, host: str, headers: dict[str, str] | None = None,
            data: bytes | None = None, timeout: float = 30) -> Answer:
    """`method path` to 127.0.0.1:port with `Host: host`; a body (JSON, Content-Length) on any
    method but GET and HEAD (empty when `data` is None)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        body = None
        if method not in ("GET", "HEAD"):
            body = data or b""
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        res = conn.getresponse()
        return Answer(res.status, {k.lower(): v for k, v in res.getheaders()}, res.read())
    finally:
        conn.close()
