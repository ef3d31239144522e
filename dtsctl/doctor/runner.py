"""Run checks in dependency order, independent ones in parallel, each within its own timeout.

A check whose prerequisite failed (or was skipped because of a failure) is skipped with the reason. A check that
overruns its timeout is reported as failed and abandoned: it runs in a daemon thread, so the
doctor never hangs on one.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from dtsctl.doctor.model import Check, CheckResult, Outcome, failed


def _run_one(check: Check, ctx: Any, done: queue.Queue) -> None:
    start = time.monotonic()
    try:
        outcome = check.run(ctx)
    except Exception as exc:  # noqa: BLE001 - a broken check is a failed check, not a crash
        from dtsctl.redact import redact

        outcome = failed(f"the check itself failed: {type(exc).__name__}: {redact(str(exc))}")
    done.put((check.id, outcome, time.monotonic() - start))


def run_checks(checks: Sequence[Check], ctx: Any,
               on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Results in the order of `checks`."""
    by_id = {c.id: c for c in checks}
    results: dict[str, CheckResult] = {}
    started: dict[str, float] = {}
    done: queue.Queue = queue.Queue()

    def finish(check: Check, outcome: Outcome, seconds: float) -> None:
        results[check.id] = CheckResult(check.id, check.title, outcome.status, outcome.detail, outcome.cause,
                                        outcome.fix, int(seconds * 1000), outcome.data)
        if on_result is not None:
            on_result(results[check.id])

    def blocked(check: Check) -> str | None | bool:
        """A reason to skip, True to wait, or None to start now."""
        for need in check.needs:
            if need not in by_id:
                continue
            if need not in results:
                return True
            # A failure blocks; so does a skip caused by a failure further up. A check that does not
            # apply (TLS on plaintext, a token with Authentication=None) blocks nothing.
            if results[need].status == "fail" or results[need].data.get("blocked"):
                return f"'{need}' did not pass"
        return None

    while len(results) < len(checks):
        progressed = True
        while progressed:  # start or skip everything that can be, until nothing changes
            progressed = False
            for check in checks:
                if check.id in results or check.id in started:
                    continue
                state = blocked(check)
                if state is None:
                    started[check.id] = time.monotonic()
                    threading.Thread(target=_run_one, args=(check, ctx, done), daemon=True,
                                     name=f"doctor-{check.id}").start()
                    progressed = True
                elif isinstance(state, str):
                    finish(check, Outcome("skip", state, data={"blocked": True}), 0.0)
                    progressed = True
        running = [cid for cid in started if cid not in results]
        if not running:
            continue
        next_deadline = min(started[cid] + by_id[cid].timeout for cid in running)
        try:
            cid, outcome, seconds = done.get(timeout=max(0.0, next_deadline - time.monotonic()))
            if cid not in results:
                finish(by_id[cid], outcome, seconds)
        except queue.Empty:
            pass
        now = time.monotonic()
        for cid in running:
            check = by_id[cid]
            if cid not in results and now >= started[cid] + check.timeout:
                finish(check, failed(
                    f"no answer within {check.timeout:g}s (the check was abandoned)",
                    cause="Something accepted the connection but never answered.",
                    fix="Check that the endpoint is the scheduler's gRPC endpoint; raise --timeout if the network is slow.",
                ), now - started[cid])
    return [results[c.id] for c in checks]
