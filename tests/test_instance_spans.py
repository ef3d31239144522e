"""dtsctl.instances.spans and trace.fold on histories built by hand (entity calls and locks, which the
end-to-end tests in test_instance_work.py do not reach), and fuzzed: any sequence of events, in any
order and with ids that point nowhere, reads without an error into spans that keep their invariants."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from dtsctl.instances import spans
from dtsctl.instances.records import HistoryItem
from dtsctl.instances.trace import fold

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def item(event_id: int, kind: str, at: float, **data) -> HistoryItem:
    when = T0 + timedelta(seconds=at)
    return HistoryItem(event_id=event_id, timestamp=when, when=when, type=kind, name=data.get("name"), details=None,
                       data={"event_id": event_id, "type": kind, **data})


def test_entity_calls_and_locks() -> None:
    ex = spans.read([
        item(-1, "ExecutionStarted", 0, name="orch"),
        item(0, "EntityLockRequested", 0.1, critical_section_id="cs1", lock_set=["@counter@a", "@counter@b"]),
        item(-1, "EntityLockGranted", 0.2, critical_section_id="cs1"),
        item(1, "EntityOperationCalled", 0.3, request_id="r1", operation="add", target_instance_id="@counter@a"),
        item(-1, "EntityOperationCompleted", 0.5, request_id="r1", output="1"),
        item(2, "EntityOperationCalled", 0.6, request_id="r2", operation="get", target_instance_id="@counter@b"),
        item(3, "EntityOperationSignaled", 0.6, request_id="r3", operation="reset", target_instance_id="@counter@c"),
    ])
    by_kind = {s.kind: s for s in ex.spans}
    lock = by_kind["lock"]
    assert lock.open and lock.granted_at == T0 + timedelta(seconds=0.2) and lock.target == "@counter@a, @counter@b"
    calls = [s for s in ex.spans if s.kind == "entity_call"]
    assert [(c.name, c.state) for c in calls] == [("add", "completed"), ("get", "open")]
    assert calls[0].seconds() == 0.2
    assert by_kind["entity_signal"].state == "sent"
    assert [s.kind for s in ex.open()] == ["lock", "entity_call"]

    released = spans.read([
        item(0, "EntityLockRequested", 0.1, critical_section_id="cs1", lock_set=["@counter@a"]),
        item(-1, "EntityLockGranted", 0.2, critical_section_id="cs1"),
        item(1, "EntityUnlockSent", 0.4, critical_section_id="cs1", target_instance_id="@counter@a"),
    ])
    assert released.spans[0].state == "released" and not released.open()


def test_retries_fold_into_one_step_and_a_pending_retry_shows_as_retrying() -> None:
    failure = {"error_type": "RuntimeError", "message": "nope"}
    history = [
        item(-1, "OrchestratorStarted", 0),
        item(-1, "ExecutionStarted", 0, name="orch"),
        item(1, "TaskScheduled", 0, name="charge", input='"card"'),
        item(-1, "OrchestratorStarted", 0.1),
        item(-1, "TaskFailed", 0.1, task_scheduled_id=1, failure_details=failure),
        item(2, "TimerCreated", 0.1, fire_at="2026-12-01T12:00:01.000Z"),
    ]
    ex = spans.read(history)
    assert [s.name for s in ex.spans] == ["charge", "retry of charge"]
    (step,) = fold(ex.spans)
    assert step.state == "retrying" and step.attempts == 1 and step.span.failure == "RuntimeError: nope"
    assert step.to_dict()["retry_at"] == "2026-12-01T12:00:01.000Z"

    history += [item(-1, "OrchestratorStarted", 1), item(-1, "TimerFired", 1, timer_id=2),
                item(1, "TaskScheduled", 1, name="charge", input='"card"'),
                item(-1, "OrchestratorStarted", 1.5), item(-1, "TaskCompleted", 1.5, task_scheduled_id=1, result='"ok"'),
                item(3, "TaskScheduled", 1.5, name="charge", input='"other card"')]
    ex = spans.read(history)
    assert [(s.name, s.attempt, s.state) for s in ex.spans if s.kind == "activity"] == [
        ("charge", 1, "failed"), ("charge", 2, "completed"), ("charge", 1, "open")]
    steps = fold(ex.spans)
    assert [(s.span.name, s.attempts, s.state) for s in steps] == [("charge", 2, "completed"), ("charge", 1, "open")]
    assert steps[0].seconds() == 1.5  # from the first attempt to the last one's end


def test_an_ended_execution_leaves_nothing_open() -> None:
    ex = spans.read([
        item(-1, "ExecutionStarted", 0, name="orch"),
        item(1, "TaskScheduled", 0.1, name="slow"),
        item(2, "TimerCreated", 0.1, fire_at="2026-12-01T13:00:00Z"),
        item(-1, "ExecutionTerminated", 2, input='"stop"'),
    ])
    assert [s.state for s in ex.spans] == ["abandoned", "abandoned"] and not ex.open()
    assert ex.ended_at == T0 + timedelta(seconds=2)


KINDS = ["OrchestratorStarted", "OrchestratorCompleted", "ExecutionStarted", "ExecutionCompleted", "ExecutionTerminated",
         "ExecutionSuspended", "ExecutionResumed", "TaskScheduled", "TaskCompleted", "TaskFailed",
         "SubOrchestrationInstanceCreated", "SubOrchestrationInstanceCompleted", "SubOrchestrationInstanceFailed",
         "TimerCreated", "TimerFired", "EventRaised", "EventSent", "EntityOperationCalled", "EntityOperationSignaled",
         "EntityOperationCompleted", "EntityOperationFailed", "EntityLockRequested", "EntityLockGranted",
         "EntityUnlockSent", "ContinueAsNew", "SomethingNew"]
small = st.integers(min_value=-1, max_value=4)
values = st.one_of(st.none(), small, st.text(max_size=5), st.lists(st.text(max_size=3), max_size=2),
                   st.dictionaries(st.sampled_from(["error_type", "message"]), st.text(max_size=4)))
events = st.tuples(st.sampled_from(KINDS), small, st.floats(min_value=0, max_value=100),
                   st.dictionaries(st.sampled_from(["name", "input", "task_scheduled_id", "timer_id", "fire_at",
                                                    "request_id", "critical_section_id", "lock_set", "failure_details",
                                                    "operation", "target_instance_id", "instance_id"]), values,
                                   max_size=4))


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=25))
def test_any_history_reads_into_consistent_spans(raw) -> None:
    ex = spans.read([item(eid, kind, at, **data) for kind, eid, at, data in raw])
    ended = any(kind in ("ExecutionCompleted", "ExecutionTerminated") for kind, *_ in raw)
    for span in ex.spans:
        assert span.state in ("open", "completed", "failed", "fired", "received", "sent", "released", "abandoned")
        assert (span.ended_at is None) == span.open
        assert span.attempt >= 1
        span.to_dict()
        if ended:
            assert not span.open
    steps = fold(ex.spans)
    assert sum(s.attempts for s in steps) <= len(ex.spans)
    for step in steps:
        step.to_dict(T0)
