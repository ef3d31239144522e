"""The samples themselves: orchestrators, activities and an entity written with the durabletask SDK.

Every orchestrator takes a JSON input (null means the defaults), checks it, and fails with a plain
ValueError message when it cannot be used. Timers and waits are input parameters, so tests can keep
them short. Names are stable: `ORCHESTRATORS`, `ACTIVITIES` and `ENTITIES` map them to functions.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from durabletask import task

# -- input checking ----------------------------------------------------------------------------


def _options(sample: str, value: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    if value is None:
        return dict(defaults)
    if not isinstance(value, dict):
        raise ValueError(f"{sample}: the input must be a JSON object like {defaults}, not {value!r}")
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        raise ValueError(f"{sample}: unknown input field(s) {', '.join(unknown)}; known: {', '.join(defaults)}")
    return {**defaults, **value}


def _number(sample: str, options: dict[str, Any], key: str, *, low: float, high: float,
            integer: bool = False) -> Any:
    value = options[key]
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{sample}: '{key}' must be {kind} from {low:g} to {high:g}, not {value!r}")
    return value


# -- function chaining -------------------------------------------------------------------------

CHAIN_DEFAULT = ["Tokyo", "Seattle", "London"]


def say_hello(ctx: task.ActivityContext, name: Any) -> str:
    return f"Hello, {name}!"


def chain(ctx: task.OrchestrationContext, names: Any):
    names = CHAIN_DEFAULT if names is None else names
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"chain: the input must be a list of names like {CHAIN_DEFAULT}, not {names!r}")
    greetings = []
    for name in names:
        greetings.append((yield ctx.call_activity("say_hello", input=name)))
    return greetings


# -- fan-out/fan-in ----------------------------------------------------------------------------


def process_work_item(ctx: task.ActivityContext, item: int) -> int:
    return item * item


def fan_out(ctx: task.OrchestrationContext, value: Any):
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"count": value}
    options = _options("fan_out", value, {"count": 5})
    count = _number("fan_out", options, "count", low=1, high=1000, integer=True)
    results = yield task.when_all([ctx.call_activity("process_work_item", input=i) for i in range(1, count + 1)])
    return {"count": count, "results": results, "total": sum(results)}


# -- human interaction -------------------------------------------------------------------------

APPROVAL_EVENT = "approval"


def notify_approver(ctx: task.ActivityContext, request: Any) -> str:
    # A real app would send an e-mail or a chat message here.
    return f"approval requested for {request!r} (instance {ctx.orchestration_id})"


def _decision(data: Any) -> tuple[bool, Any]:
    """(approved, who) from the event's data: no data or true approves; false or {"approved": false},
    "rejected", "no" reject."""
    if isinstance(data, dict):
        return bool(data.get("approved", True)), data.get("by")
    if isinstance(data, str):
        return data.strip().lower() not in ("rejected", "reject", "no", "false", "denied"), None
    if data is None:
        return True, None
    return bool(data), None


def approval(ctx: task.OrchestrationContext, value: Any):
    options = _options("approval", value, {"request": "an approval", "timeout_seconds": 300})
    timeout = _number("approval", options, "timeout_seconds", low=0.01, high=30 * 86400)
    yield ctx.call_activity("notify_approver", input=options["request"])
    ctx.set_custom_status({"state": "waiting", "event": APPROVAL_EVENT,
                           "timeout_seconds": timeout})
    event = ctx.wait_for_external_event(APPROVAL_EVENT)
    timer = ctx.create_timer(timedelta(seconds=timeout))
    winner = yield task.when_any([event, timer])
    if winner is timer:
        outcome, by = "timed out", None
    else:
        approved, by = _decision(event.get_result())
        outcome = "approved" if approved else "rejected"
        timer.cancel()
    ctx.set_custom_status({"state": outcome})
    return {"request": options["request"], "outcome": outcome, "by": by}


# -- monitor -----------------------------------------------------------------------------------


def check_job_status(ctx: task.ActivityContext, value: dict[str, Any]) -> str:
    # A real monitor would call an API; this job is ready once it has been asked ready_after times.
    return "ready" if value["attempt"] >= value["ready_after"] else "running"


def monitor(ctx: task.OrchestrationContext, value: Any):
    options = _options("monitor", value, {"job": "job-7", "interval_seconds": 2, "timeout_seconds": 30,
                                          "ready_after": 3})
    interval = _number("monitor", options, "interval_seconds", low=0.01, high=86400)
    timeout = _number("monitor", options, "timeout_seconds", low=0.01, high=30 * 86400)
    ready_after = _number("monitor", options, "ready_after", low=1, high=10000, integer=True)
    deadline = ctx.current_utc_datetime + timedelta(seconds=timeout)
    attempt = 0
    while True:
        attempt += 1
        status = yield ctx.call_activity("check_job_status", input={
            "job": options["job"], "attempt": attempt, "ready_after": ready_after})
        ctx.set_custom_status({"job": options["job"], "status": status, "polls": attempt})
        if status == "ready":
            return {"job": options["job"], "status": "ready", "polls": attempt}
        next_poll = ctx.current_utc_datetime + timedelta(seconds=interval)
        if next_poll > deadline:
            return {"job": options["job"], "status": "timed out", "polls": attempt}
        yield ctx.create_timer(next_poll)


# -- saga --------------------------------------------------------------------------------------

SAGA_STEPS = (("reserve_inventory", "release_inventory"), ("charge_payment", "refund_payment"),
              ("ship_order", "cancel_shipment"))


class StepFailed(RuntimeError):
    pass


def _step(name: str):
    def run(ctx: task.ActivityContext, value: dict[str, Any]) -> str:
        if value.get("fail"):
            raise StepFailed(f"{name} failed for {value.get('order')} (asked to with fail_at)")
        return f"{name}: done for {value.get('order')}"

    run.__name__ = name
    return run


def _compensation(name: str):
    def run(ctx: task.ActivityContext, value: dict[str, Any]) -> str:
        return f"{name}: done for {value.get('order')}"

    run.__name__ = name
    return run


def saga(ctx: task.OrchestrationContext, value: Any):
    options = _options("saga", value, {"order": "order-1001", "fail_at": None})
    fail_at = options["fail_at"]
    steps = [s for s, _ in SAGA_STEPS]
    if fail_at is not None and fail_at not in steps:
        raise ValueError(f"saga: 'fail_at' must be one of {', '.join(steps)} or null, not {fail_at!r}")
    done: list[tuple[str, str]] = []
    for step, compensation in SAGA_STEPS:
        try:
            yield ctx.call_activity(step, input={"order": options["order"], "fail": step == fail_at})
        except task.TaskFailedError as exc:
            compensated = []
            for _, undo in reversed(done):
                yield ctx.call_activity(undo, input={"order": options["order"]})
                compensated.append(undo)
            return {"order": options["order"], "status": "compensated", "failed_step": step,
                    "error": exc.details.message, "completed": [s for s, _ in done], "compensated": compensated}
        done.append((step, compensation))
    return {"order": options["order"], "status": "completed", "failed_step": None, "error": None,
            "completed": [s for s, _ in done], "compensated": []}


# -- async HTTP API ----------------------------------------------------------------------------


def run_job_step(ctx: task.ActivityContext, value: dict[str, Any]) -> str:
    time.sleep(value["seconds"])  # the long-running work of one step
    return f"step {value['step']} done"


def async_http(ctx: task.OrchestrationContext, value: Any):
    options = _options("async_http", value, {"steps": 5, "step_seconds": 2})
    steps = _number("async_http", options, "steps", low=1, high=1000, integer=True)
    seconds = _number("async_http", options, "step_seconds", low=0, high=60)
    ctx.set_custom_status({"state": "running", "progress": 0, "step": 0, "steps": steps})
    for step in range(1, steps + 1):
        yield ctx.call_activity("run_job_step", input={"step": step, "seconds": seconds})
        ctx.set_custom_status({"state": "running" if step < steps else "done",
                               "progress": round(100 * step / steps), "step": step, "steps": steps})
    return {"job": ctx.instance_id, "steps": steps, "result": "done"}


# -- durable entity ----------------------------------------------------------------------------

COUNTER_OPERATIONS = ("add", "reset", "get", "delete")


def counter(ctx: Any, value: Any) -> Any:
    """A counter: add (a number, default 1), reset, get, delete."""
    operation = ctx.operation.lower()
    current = ctx.get_state(None, 0)
    if operation == "add":
        amount = 1 if value is None else value
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise ValueError(f"counter add: the input must be a number, not {amount!r}")
        current = (current or 0) + amount
        ctx.set_state(current)
        return current
    if operation == "reset":
        ctx.set_state(0)
        return 0
    if operation == "get":
        return current
    if operation == "delete":
        ctx.set_state(None)
        return None
    raise ValueError(f"counter has no operation '{ctx.operation}' ({', '.join(COUNTER_OPERATIONS)})")


ORCHESTRATORS = {
    "chain": chain,
    "fan_out": fan_out,
    "approval": approval,
    "monitor": monitor,
    "saga": saga,
    "async_http": async_http,
}

ACTIVITIES = {
    "say_hello": say_hello,
    "process_work_item": process_work_item,
    "notify_approver": notify_approver,
    "check_job_status": check_job_status,
    "run_job_step": run_job_step,
    **{name: _step(name) for name, _ in SAGA_STEPS},
    **{undo: _compensation(undo) for _, undo in SAGA_STEPS},
}

ENTITIES = {"counter": counter}
