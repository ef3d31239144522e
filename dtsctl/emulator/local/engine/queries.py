"""WHERE clauses of the engine's queries, built from a request's optional filter fields."""

from __future__ import annotations

import json
from typing import Any

from dtsctl.emulator.local.engine.events import optional, seconds


class BadToken(ValueError):
    """A continuation token this engine did not give."""


class Where:
    """``hub=? AND ...`` with its parameters, one filter field at a time."""

    def __init__(self, hub: str, *always: str):
        self.parts = ["hub=?", *always]
        self.params: list[Any] = [hub]

    def add(self, sql: str, *params: Any) -> Where:
        self.parts.append(sql)
        self.params.extend(params)
        return self

    def among(self, column: str, values: list[int]) -> Where:
        return self.add(f"{column} IN ({', '.join('?' * len(values))})", *values) if values else self

    def between(self, column: str, message: Any, low: str, high: str) -> Where:
        """`column` from the Timestamp field `low` (inclusive) to `high` (exclusive), each if set."""
        if message.HasField(low):
            self.add(f"{column}>=?", seconds(getattr(message, low)))
        if message.HasField(high):
            self.add(f"{column}<?", seconds(getattr(message, high)))
        return self

    def prefix(self, column: str, message: Any, field: str) -> Where:
        value = optional(message, field)
        return self.add(f"substr({column}, 1, ?)=?", len(value), value) if value else self

    def after(self, column: str, token: str | None) -> Where:
        """Keyset paging on (`column`, id) from a token made by `token_of`."""
        if not token:
            return self
        try:
            value, last_id = json.loads(token)
            value, last_id = float(value), str(last_id)
        except (ValueError, TypeError) as exc:
            raise BadToken(token) from exc
        return self.add(f"({column}>? OR ({column}=? AND id>?))", value, value, last_id)

    @property
    def sql(self) -> str:
        return " AND ".join(self.parts)


def token_of(value: float, last_id: str) -> str:
    return json.dumps([value, last_id])
