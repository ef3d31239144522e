"""What `--debug` says about talking to a scheduler: the resolved target, each gRPC call (method,
status, duration, attempt), each retry (why, and the backoff), the metadata sent (values through
`redact.header_value`: `authorization: Bearer <redacted>`), and when a stream opens and ends.

Every line goes to the `dtsctl.rpc` logger at DEBUG; callers check `enabled()` first, so with
--debug off a call costs one level check. Stdlib only (grpc objects are read by duck typing).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from dtsctl.redact import header_value

log = logging.getLogger("dtsctl.rpc")


def enabled() -> bool:
    return log.isEnabledFor(logging.DEBUG)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def metadata_text(pairs: Iterable[tuple[str, Any]] | None) -> str:
    """`name: value, ...` with every value redacted as a header value is."""
    shown = [f"{name}: {header_value(name, value)}" for name, value in (pairs or ())]
    return ", ".join(shown) if shown else "(none)"


def status_of(error: Any) -> tuple[str, str]:
    """(status code name, details) of a grpc failure; ("OK", "") for None."""
    if error is None:
        return "OK", ""
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    return (getattr(code, "name", None) or type(error).__name__), (details or "")


def call(method: str, error: Any, seconds: float, attempt: int) -> None:
    """One finished unary call."""
    status, details = status_of(error)
    log.debug("rpc %s %s in %s (attempt %d)%s", method, status, _ms(seconds), attempt,
              f": {details}" if details else "")


def waiting(method: str, timeout: float | None) -> None:
    """A call that waits on purpose (WaitForInstanceCompletion...), before it is sent."""
    limit = f" up to {timeout:.1f} s" if timeout is not None else ""
    log.debug("rpc %s sent: waiting%s for the scheduler's answer", method, limit)


def retrying(method: str, attempt: int, error: Any, backoff: float, left: float) -> None:
    status, _ = status_of(error)
    log.debug("rpc %s: attempt %d in %.2f s (attempt %d: %s; a read is sent again once a server has "
              "answered; %.1f s left of the deadline)", method, attempt + 1, backoff, attempt, status, left)


def not_retried(method: str, why: str) -> None:
    log.debug("rpc %s: not retried: %s", method, why)


def metadata(method: str, text: str) -> None:
    """The metadata `method` was sent with (callers log it once, and again when it changes)."""
    log.debug("rpc metadata sent: %s", text)


def stream_opened(method: str) -> None:
    log.debug("rpc %s: stream opened", method)


def stream_ended(method: str, stream: Any, seconds: float) -> None:
    """`stream` is the grpc call (its code() and details() are known once it ended)."""
    try:
        code = stream.code()
        details = stream.details() or ""
    except Exception:  # noqa: BLE001 - a log line must not break the call
        code, details = None, ""
    status = getattr(code, "name", None) or "ended"
    if status == "CANCELLED":
        details = "closed by dtsctl" if not details or details.lower() == "locally cancelled by application!" else details
    log.debug("rpc %s: stream ended %s after %s%s", method, status, _ms(seconds), f": {details}" if details else "")


def target(t: Any) -> None:
    """The resolved target: endpoint, task hub, authentication and where each came from (never the
    connection string itself: it may hold a secret)."""
    if not enabled():
        return
    fields = t.fields
    auth = (fields.authentication if fields else None) or "(none)"
    hub_source = f" (from {t.task_hub_source})" if t.task_hub_source is not None else ""
    where = f"from {t.connection_source}"
    extra = []
    if fields is not None and getattr(fields, "client_id", None):
        extra.append(f"client id {fields.client_id}")
    if t.profile:
        extra.append(f"profile '{t.profile}'")
    log.debug("target: endpoint %s (%s), task hub %s%s, authentication %s (%s)%s",
              t.endpoint or "(none)", where, f"'{t.task_hub}'" if t.task_hub else "(none)", hub_source,
              auth, where, "; " + ", ".join(extra) if extra else "")
    for what, source in t.overridden:
        log.debug("target: %s from %s overridden", what, source)
    if not t.validation.valid:
        log.debug("target: the connection string has %d error(s): %s", len(t.validation.errors),
                  "; ".join(str(e.code) for e in t.validation.errors))
