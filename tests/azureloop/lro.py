"""ARM long-running operations in the kit: one :class:`Operation` per accepted write, polled through
its ``Azure-AsyncOperation`` (``.../operationStatuses/{id}``) or ``Location``
(``.../operationResults/{id}``) URL.

An operation is ``InProgress`` until it is *due*, then it finishes once (``Succeeded``, or the
:class:`LroFailure` it was started with) and applies its effect to the model (``on_success`` /
``on_failure``, called under ``model.lock``). When it is due, from the model's knobs at its start:

- ``model.arm_lro_seconds`` set: that many seconds after the start (settled on every ARM request,
  so a ``--no-wait`` caller that only GETs the resource sees it finish too);
- otherwise after ``model.arm_lro_polls`` polls of its URL answered ``InProgress`` (default 1: the
  first poll says InProgress, the second finishes it);
- never while ``model.arm_lro_hold`` is true (read live: a test releases it to let it finish).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

TERMINAL = ("Succeeded", "Failed", "Canceled")


@dataclass
class LroFailure:
    """How the next operation (of ``resource_type`` when given: "schedulers", "taskHubs",
    "retentionPolicies", case-insensitive) ends: ``status`` "Failed" or "Canceled" with ``code`` and
    ``message``. ``http_status``: what its ``Location`` URL answers (ARM: the failure's 4xx/5xx)."""

    code: str = "InternalServerError"
    message: str = "An internal error occurred while processing the request."
    status: str = "Failed"
    resource_type: str | None = None
    http_status: int = 400


@dataclass
class Operation:
    resource_id: str
    resource_type: str  # schedulers | taskHubs | retentionPolicies
    action: str  # create | replace | update | delete
    location: str
    polls_needed: int
    seconds_needed: float | None
    failure: LroFailure | None = None
    on_success: Callable[[], None] = lambda: None
    on_failure: Callable[[], None] = lambda: None
    final: Callable[[], Any] | None = None  # the body a finished Location poll answers (PATCH: the resource)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.time)
    ended: float | None = None
    polls: int = 0
    status: str = "InProgress"

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def due(self, hold: bool, now: float | None = None) -> bool:
        if hold or self.done:
            return False
        if self.seconds_needed is not None:
            return (now or time.time()) - self.started >= self.seconds_needed
        return self.polls > self.polls_needed

    def finish(self) -> None:
        self.ended = time.time()
        if self.failure is None:
            self.status = "Succeeded"
            self.on_success()
        else:
            self.status = self.failure.status
            self.on_failure()

    def settle(self, hold: bool) -> None:
        if self.due(hold):
            self.finish()

    def poll(self, hold: bool) -> None:
        """One GET of its URL: counts, then finishes it when that makes it due."""
        if not self.done:
            self.polls += 1
            self.settle(hold)

    def status_json(self, status_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {"id": status_id, "name": self.id, "resourceId": self.resource_id,
                                "status": self.status, "startTime": _iso(self.started)}
        if self.ended is not None:
            body["endTime"] = _iso(self.ended)
            body["percentComplete"] = 100.0
        if self.failure is not None and self.done:
            body["error"] = {"code": self.failure.code, "message": self.failure.message}
        return body


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
