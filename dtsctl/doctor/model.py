"""Records of `dtsctl doctor`: a check's definition and its result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "warn", "fail", "skip"]


@dataclass
class Outcome:
    """What a check function returns (the runner adds id, title and duration)."""

    status: Status
    detail: str
    cause: str | None = None
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # facts for later checks (never printed raw)


def passed(detail: str, **data: Any) -> Outcome:
    return Outcome("pass", detail, data=data)


def warned(detail: str, cause: str | None = None, fix: str | None = None, **data: Any) -> Outcome:
    return Outcome("warn", detail, cause, fix, data=data)


def failed(detail: str, cause: str | None = None, fix: str | None = None, **data: Any) -> Outcome:
    return Outcome("fail", detail, cause, fix, data=data)


def skipped(detail: str, **data: Any) -> Outcome:
    return Outcome("skip", detail, data=data)


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    run: Callable[[Any], Outcome]  # receives the Context
    needs: tuple[str, ...] = ()  # checks that must pass (or warn) first
    timeout: float = 5.0


@dataclass
class CheckResult:
    id: str
    title: str
    status: Status
    detail: str
    cause: str | None
    fix: str | None
    duration_ms: int
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "cause": self.cause,
            "fix": self.fix,
            "duration_ms": self.duration_ms,
        }
