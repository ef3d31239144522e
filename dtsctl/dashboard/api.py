"""The dashboard's HTTP JSON API (docs/dashboard-api.md) over a Backend: a method and a path to one
backend call, the body parsed and checked (dtsctl.dashboard.bodies), dtsctl's errors as the
contract's codes. No HTTP here beyond status numbers: dtsctl.dashboard.server does the rest.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from dtsctl.dashboard import bodies
from dtsctl.dashboard.backend import Backend
from dtsctl.errors import DtsctlError, InvalidInput, NotFound, Unreachable, UsageError, as_clause

log = logging.getLogger("dtsctl.dashboard")

PREFIX = "/v1/taskhubs"
HUB_HEADER = "x-taskhub"
MAX_HUB_NAME = 256


@dataclass
class Answer:
    status: int
    doc: Any
    allow: str | None = None  # for a 405: the methods the path takes


def error(status: int, code: str, message: str, hint: str | None = None) -> Answer:
    return Answer(status, {"error": message, "code": code, "hint": hint})


def _conflict_types() -> tuple[type[BaseException], ...]:
    from dtsctl.dashboard.jobs import Busy
    from dtsctl.instances.service import InstanceExists, NotApplicable

    return NotApplicable, InstanceExists, Busy


def from_exception(exc: BaseException) -> Answer:
    """dtsctl's error kinds -> the contract's codes (a traceback never leaves the process)."""
    if isinstance(exc, DtsctlError):
        if isinstance(exc, NotFound):
            return error(404, "not-found", exc.message, exc.hint)
        if isinstance(exc, UsageError):  # InvalidInput too
            return error(400, "bad-request", exc.message, exc.hint)
        if isinstance(exc, _conflict_types()):
            return error(409, "conflict", exc.message, exc.hint)
        if isinstance(exc, Unreachable):
            return error(503, "unavailable", exc.message, exc.hint)
        # OperationFailed, Unauthorized (the scheduler refused this process's credential), the rest.
        return error(502, "failed", exc.message, exc.hint)
    log.debug("the dashboard's backend failed", exc_info=exc)
    return error(500, "failed", f"The dashboard failed with an unexpected {type(exc).__name__}: {as_clause(exc)}.",
                 "This is a bug in dtsctl; run 'dtsctl dashboard --debug' for the traceback and report it.")


def _segments(path: str) -> list[str] | None:
    """The path's segments after /v1/taskhubs, each percent-decoded (an instance id may hold '/'
    as %2F); None when the path is not under it."""
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        return None
    rest = path[len(PREFIX):].strip("/")
    return [unquote(s) for s in rest.split("/")] if rest else []


def _body(raw: bytes | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput("The request body is not UTF-8 text.") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"The request body is not JSON: {as_clause(exc)}.") from None


class Api:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def hub(self, header: str | None) -> str:
        name = (header or "").strip()
        if not name:
            return self.backend.default_hub
        if len(name) > MAX_HUB_NAME or any(ord(c) < 32 for c in name):
            raise InvalidInput("The x-taskhub header is not a task hub name.")
        return name

    def handle(self, method: str, path: str, *, hub_header: str | None = None, body: bytes | None = None) -> Answer:
        """One request (`path` without its query string). Never raises."""
        try:
            segments = _segments(path)
            if segments is None:
                return error(404, "not-found", f"There is no API route {path}.")
            route = self._route(method, segments)
            if isinstance(route, Answer):
                return route
            call, needs_hub = route
            doc = call(self.hub(hub_header) if needs_hub else None, _body(body))
            if (method, segments) == ("POST", ["orchestrations"]):
                return Answer(201, doc)
            if segments == ["orchestrations", "bulk"] and isinstance(doc, dict) and "job" in doc:
                return Answer(202, doc)  # a run started: its progress is at GET bulk/{job}
            return Answer(200, doc)
        except Exception as exc:  # noqa: BLE001 - every failure is an answer
            return from_exception(exc)

    def _route(self, method: str, s: list[str]) -> Any:
        """(call(hub, body) -> doc, whether it needs the hub), or an Answer (404, 405)."""
        b = self.backend
        n = len(s)
        routes: dict[str, Any] = {}
        if n == 0:
            routes["GET"] = lambda hub, body: b.task_hubs()
            return self._pick(method, routes, needs_hub=False)
        if s[0] == "bulk" and n in (2, 3) and s[1].strip():
            job = s[1]
            if n == 2:
                routes["GET"] = lambda hub, body: b.bulk_job(job)
            elif s[2] == "cancel":
                routes["POST"] = lambda hub, body: b.bulk_cancel(job)
            if routes:
                return self._pick(method, routes, needs_hub=False)  # a job is the server's, not a hub's
        if s == ["ping"]:
            routes["GET"] = lambda hub, body: b.ping(hub)
        elif s == ["workers"]:
            routes["GET"] = lambda hub, body: b.workers(hub)
        elif s == ["entities", "query"]:
            routes["POST"] = lambda hub, body: b.entities(hub, bodies.parse_entity_query(body))
        elif s == ["orchestrations"]:
            routes["POST"] = lambda hub, body: b.create(hub, bodies.parse_create(body))
        elif s[0] == "orchestrations" and n >= 2:
            iid = s[1]
            if not iid.strip():
                return error(400, "bad-request", "The instance id in the path is empty.")
            if n == 2:
                if iid == "query":
                    routes["POST"] = lambda hub, body: b.query(hub, bodies.parse_query(body))
                if iid == "bulk":
                    routes["POST"] = lambda hub, body: b.bulk(hub, bodies.parse_bulk(body))
                routes["GET"] = lambda hub, body: b.get(hub, iid)
            elif n == 3:
                tail = s[2]
                if tail == "payloads":
                    routes["GET"] = lambda hub, body: b.payloads(hub, iid)
                elif tail == "history":
                    routes["GET"] = lambda hub, body: b.history(hub, iid)
                    routes["POST"] = lambda hub, body: b.act(hub, iid, bodies.parse_action(body))
                elif tail == "pending":
                    routes["GET"] = lambda hub, body: b.pending(hub, iid)
                elif tail == "timeline":
                    routes["GET"] = lambda hub, body: b.timeline(hub, iid)
                elif tail == "children":
                    routes["GET"] = lambda hub, body: b.children(hub, iid)
                elif tail == "restart":
                    routes["POST"] = lambda hub, body: b.restart(hub, iid, bodies.parse_restart(body))
                elif tail == "purge":
                    routes["POST"] = lambda hub, body: b.purge(hub, iid, bodies.parse_purge(body))
            elif n == 5 and s[2] == "executions" and s[4] == "history":
                eid = s[3]
                routes["GET"] = lambda hub, body: b.history(hub, iid, eid)
        if not routes:
            return error(404, "not-found", f"There is no API route {PREFIX}/{'/'.join(s)}.")
        return self._pick(method, routes, needs_hub=True)

    @staticmethod
    def _pick(method: str, routes: dict[str, Any], *, needs_hub: bool) -> Any:
        if method == "HEAD" and "GET" in routes:
            method = "GET"
        if method not in routes:
            allowed = ", ".join(sorted(routes))
            answer = error(405, "bad-request", f"This route takes {allowed}, not {method}.")
            answer.allow = allowed
            return answer
        return routes[method], needs_hub
