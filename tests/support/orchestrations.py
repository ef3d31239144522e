"""Small orchestrations and activities the instance and dashboard tests host on a real SDK worker
(each test module adds its own waiters and parents)."""

from __future__ import annotations

from durabletask import task


def greet(ctx: task.ActivityContext, name: str) -> str:
    return f"Hello, {name}!"


def explode(ctx: task.ActivityContext, what: str) -> None:
    raise ValueError(f"boom: {what}")


_flaky_seen: set[str] = set()


def flaky(ctx: task.ActivityContext, key: str) -> str:
    """Fails on its first call for each key (tests use keys of their own), then succeeds."""
    if key not in _flaky_seen:
        _flaky_seen.add(key)
        raise RuntimeError(f"first try of {key} fails")
    return f"ok {key}"


def chain(ctx: task.OrchestrationContext, names: list[str]):
    out = []
    for name in names or []:
        out.append((yield ctx.call_activity(greet, input=name)))
    return out


def failing(ctx: task.OrchestrationContext, what: str):
    yield ctx.call_activity(explode, input=what)


def retry_me(ctx: task.OrchestrationContext, key: str):
    """Fails once (flaky's first call), so a rewind or a restart succeeds."""
    return (yield ctx.call_activity(flaky, input=key))
