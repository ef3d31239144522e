"""What the kit's ARM routes share: the error they raise (answered in ARM's shape
``{"error": {"code", "message", "details"?}}``), the request they read and the reply they give."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# (status, body or None for no body, extra headers)
Reply = tuple[int, Any, dict[str, str]]


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}
        self.details = details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid_content(target: str, message: str) -> ArmError:
    """A request body that does not fit the resource's schema (kit's code; the real RP's is UNVERIFIED)."""
    return ArmError(400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: "
                    f"{message}", details=[{"code": "InvalidRequestContent", "target": target, "message": message}])


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, str]
    claims: dict[str, Any] = field(default_factory=dict)
    body: Any = None  # parsed JSON (None: no body)

    @property
    def oid(self) -> str | None:
        return self.claims.get("oid")

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")
