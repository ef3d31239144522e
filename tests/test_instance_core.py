"""The instance core without a scheduler: payload and time parsing (fuzzed), status names, records
from protobuf messages, and the bulk runner's concurrency, rate, cancellation and accounting."""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import durabletask.internal.orchestrator_service_pb2 as pb
from google.protobuf import timestamp_pb2, wrappers_pb2

from dtsctl.errors import InvalidInput, OperationFailed, Unreachable
from dtsctl.instances import bulk
from dtsctl.instances.payload import read_payload
from dtsctl.instances.records import STATUSES, decode_payload, parse_status, parse_statuses
from dtsctl.sdk.history import HistoryReader
from dtsctl.sdk.protos import failure_info, instance_record
from dtsctl.instances.timefilter import parse_time
from dtsctl.times import elapsed, iso, parse_duration, relative

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


# ------------------------------------------------------------------------------------------ payload

@given(json_values, st.sampled_from([None, 0, 2]), st.sampled_from(["", " ", "\n", "\t\n "]))
def test_any_json_value_is_sent_as_given(value, indent, pad) -> None:
    text = json.dumps(value, indent=indent)
    got = read_payload(pad + text + pad, "--input")
    assert got == text.strip()
    assert json.loads(got) == value


@given(st.text(max_size=40))
def test_invalid_json_names_line_and_column_like_the_parser(text) -> None:
    assume(text != "-" and not text.startswith("@"))  # those name a source (stdin, a file)
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.strip():
            with pytest.raises(InvalidInput, match="is empty"):
                read_payload(text, "--input")
            return
        with pytest.raises(InvalidInput) as info:
            read_payload(text, "--input")
        assert f"at line {exc.lineno}, column {exc.colno}" in info.value.message
        assert info.value.exit_code == 2
    except (ValueError, RecursionError):
        pass
    else:
        if text.strip() in ("NaN", "Infinity", "-Infinity") or any(c in text for c in ("NaN", "Infinity")):
            return
        assert json.loads(read_payload(text, "--input")) == json.loads(text)


def test_payload_sources_and_their_errors(tmp_path) -> None:
    f = tmp_path / "in.json"
    f.write_text('\ufeff{\n  "a": [1, 2]\n}\n', encoding="utf-8")  # a BOM is tolerated
    assert json.loads(read_payload(f"@{f}", "--input")) == {"a": [1, 2]}
    assert read_payload("-", "--data", stdin=io.StringIO(' "hi" \n')) == '"hi"'
    assert read_payload(None, "--input") is None

    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "a": 1,\n  "b": \n}\n')
    with pytest.raises(InvalidInput) as info:
        read_payload(f"@{bad}", "--input")
    assert info.value.message == (f"--input from file {bad} is not valid JSON: Expecting value at line 4, column 1.")
    assert "line 4: }" in info.value.hint

    with pytest.raises(InvalidInput, match="no file"):
        read_payload(f"@{tmp_path / 'missing.json'}", "--input")
    with pytest.raises(InvalidInput, match="is a folder"):
        read_payload(f"@{tmp_path}", "--input")
    with pytest.raises(InvalidInput, match="needs a file name"):
        read_payload("@", "--input")
    with pytest.raises(InvalidInput, match="from stdin is empty"):
        read_payload("-", "--data", stdin=io.StringIO(""))
    with pytest.raises(InvalidInput) as info:
        read_payload("hello", "--input")
    assert "column 1" in info.value.message and "'\"hello\"'" in info.value.hint
    with pytest.raises(InvalidInput, match="NaN is not valid JSON"):
        read_payload('{"x": NaN}', "--input")


# ------------------------------------------------------------------------------------------- times

parts = st.lists(st.tuples(st.integers(0, 500), st.sampled_from(["s", "m", "h", "d", "w", "S", "M", "H"])),
                 min_size=1, max_size=4)


@given(parts)
def test_durations_add_up(items) -> None:
    text = "".join(f"{n}{u}" for n, u in items)
    seconds = sum(n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[u.lower()] for n, u in items)
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_time(text, now=NOW) == NOW - timedelta(seconds=seconds)
    assert parse_time(text, now=NOW, future=True) == NOW + timedelta(seconds=seconds)
    assert parse_time(f"+{text}", now=NOW) == NOW + timedelta(seconds=seconds)
    assert parse_time(f"-{text}", now=NOW, future=True) == NOW - timedelta(seconds=seconds)


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)),
                                               timezone(timedelta(hours=-8))])))
def test_iso_round_trips_to_the_millisecond(dt) -> None:
    text = iso(dt)
    assert text.endswith("Z")
    back = parse_time(text, now=NOW)
    assert back.tzinfo is not None
    assert abs(back - dt) < timedelta(milliseconds=1)
    # The same instant written with its own offset parses to the same time.
    assert parse_time(dt.isoformat(), now=NOW) == dt


def test_time_forms() -> None:
    assert parse_time("now", now=NOW) == NOW
    assert parse_time("2h", now=NOW) == NOW - timedelta(hours=2)
    assert parse_time("1h30m", now=NOW) == NOW - timedelta(minutes=90)
    assert parse_time("+10m", now=NOW) == NOW + timedelta(minutes=10)
    assert parse_time("2025-02-28", now=NOW) == datetime(2025, 2, 28, tzinfo=timezone.utc)
    assert parse_time("2025-02-28T10:00", now=NOW) == datetime(2025, 2, 28, 10, tzinfo=timezone.utc)  # UTC
    assert parse_time("2025-02-28T10:00:00+02:00", now=NOW) == datetime(2025, 2, 28, 8, tzinfo=timezone.utc)
    assert parse_time("2025-02-28t10:00:00z", now=NOW) == datetime(2025, 2, 28, 10, tzinfo=timezone.utc)
    for bad in ("yesterday", "+tomorrow", "2h ago", "2025-13-01", "", "10x", "1e3s"):
        with pytest.raises(InvalidInput) as info:
            parse_time(bad, what="--created-after", now=NOW)
        assert info.value.message.startswith("--created-after") and "7d" in info.value.hint
    with pytest.raises(ValueError):
        parse_duration("99999999w")


def test_relative_and_elapsed() -> None:
    assert relative(NOW - timedelta(seconds=0.5), NOW) == "just now"
    assert relative(NOW - timedelta(seconds=45), NOW) == "45s ago"
    assert relative(NOW - timedelta(minutes=3, seconds=20), NOW) == "3m ago"
    assert relative(NOW - timedelta(hours=2, minutes=5), NOW) == "2h 5m ago"
    assert relative(NOW - timedelta(days=3, hours=4), NOW) == "3d 4h ago"
    assert relative(NOW + timedelta(minutes=5), NOW) == "in 5m"
    assert relative(None, NOW) is None
    assert elapsed(0.0123) == "0.012s" and elapsed(12.34) == "12.3s" and elapsed(200) == "3m 20s"
    assert iso(datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)) == "2025-01-02T03:04:05.678Z"


# ---------------------------------------------------------------------------------------- statuses

@given(st.sampled_from(STATUSES), st.data())
def test_status_names_any_case(status, data) -> None:
    mixed = "".join(c.upper() if data.draw(st.booleans()) else c.lower() for c in status)
    assert parse_status(mixed) == status
    assert parse_status(mixed.replace("_", "-")) == status


def test_status_lists_and_unknown_names() -> None:
    assert parse_statuses(["running", "Completed,FAILED", "running"]) == ("RUNNING", "COMPLETED", "FAILED")
    assert parse_status("cancelled") == "CANCELED"
    assert parse_status("ORCHESTRATION_STATUS_PENDING") == "PENDING"
    with pytest.raises(InvalidInput) as info:
        parse_status("done")
    assert info.value.exit_code == 2 and "Unknown status 'done'" in info.value.message
    for name in STATUSES:
        assert name.lower() in info.value.hint


# ----------------------------------------------------------------------------------------- records

def _ts(dt: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(dt)
    return ts


def test_record_from_protobuf_has_exactly_the_documented_fields() -> None:
    state = pb.OrchestrationState(
        instanceId="i1", name="orders", orchestrationStatus=pb.ORCHESTRATION_STATUS_CANCELED,
        createdTimestamp=_ts(NOW), lastUpdatedTimestamp=_ts(NOW + timedelta(seconds=2)),
        input=wrappers_pb2.StringValue(value='{"a": 1}'), output=wrappers_pb2.StringValue(value="not json"),
        customStatus=wrappers_pb2.StringValue(value='"waiting"'),
        failureDetails=pb.TaskFailureDetails(
            errorType="OuterError", errorMessage="outer", stackTrace=wrappers_pb2.StringValue(value="at x"),
            innerFailure=pb.TaskFailureDetails(errorType="ValueError", errorMessage="inner")),
        tags={"team": "a"}, version=wrappers_pb2.StringValue(value="2"),
        parentInstanceId=wrappers_pb2.StringValue(value="p"),
    )
    rec = instance_record(state)
    assert rec.to_dict() == {
        "instance_id": "i1", "name": "orders", "runtime_status": "CANCELED",
        "created_at": "2025-03-01T12:00:00.000Z", "last_updated_at": "2025-03-01T12:00:02.000Z",
        "input": {"a": 1}, "output": "not json", "custom_status": "waiting",
        "failure_details": {"error_type": "OuterError", "message": "outer", "stack_trace": "at x"},
        "tags": {"team": "a"},
    }
    assert rec.terminal and rec.version == "2" and rec.parent_instance_id == "p"
    assert [f.error_type for f in rec.failure_details.chain()] == ["OuterError", "ValueError"]
    empty = instance_record(pb.OrchestrationState(instanceId="i2", name="n"))
    assert empty.runtime_status == "RUNNING" and empty.created_at is None and empty.failure_details is None
    assert empty.to_dict()["tags"] == {} and empty.to_dict()["input"] is None
    assert decode_payload(None) is None and decode_payload("[1]") == [1] and decode_payload("{x") == "{x"
    assert failure_info(pb.TaskFailureDetails()) is None


def test_history_reader_names_completions_after_their_schedule() -> None:
    events = [
        pb.HistoryEvent(eventId=-1, timestamp=_ts(NOW), orchestratorStarted=pb.OrchestratorStartedEvent()),
        pb.HistoryEvent(eventId=-1, executionStarted=pb.ExecutionStartedEvent(
            name="chain", input=wrappers_pb2.StringValue(value='["a"]'), tags={"k": "v"})),
        pb.HistoryEvent(eventId=0, taskScheduled=pb.TaskScheduledEvent(name="greet")),
        pb.HistoryEvent(eventId=-1, timestamp=_ts(NOW + timedelta(seconds=1)), orchestratorStarted=pb.OrchestratorStartedEvent()),
        pb.HistoryEvent(eventId=-1, taskCompleted=pb.TaskCompletedEvent(taskScheduledId=0, result=wrappers_pb2.StringValue(value='"hi"'))),
        pb.HistoryEvent(eventId=-1, executionCompleted=pb.ExecutionCompletedEvent(
            orchestrationStatus=pb.ORCHESTRATION_STATUS_FAILED,
            failureDetails=pb.TaskFailureDetails(errorType="E", errorMessage="m"))),
    ]
    reader = HistoryReader()
    items = [reader.read(e) for e in events]
    assert [i.type for i in items] == ["OrchestratorStarted", "ExecutionStarted", "TaskScheduled",
                                       "OrchestratorStarted", "TaskCompleted", "ExecutionCompleted"]
    assert items[0].data == {"event_id": -1, "timestamp": "2025-03-01T12:00:00.000Z", "type": "OrchestratorStarted"}
    started = items[1].data
    assert started["timestamp"] is None and started["name"] == "chain" and started["input"] == '["a"]'
    assert started["tags"] == {"k": "v"} and items[1].when == NOW  # the episode's time, for text
    assert items[4].name == "greet" and "result=hi" in items[4].details and items[4].when == NOW + timedelta(seconds=1)
    assert items[4].data["task_scheduled_id"] == 0 and items[4].data["result"] == '"hi"'
    assert items[5].name == "FAILED" and "E: m" in items[5].details
    assert items[5].data["failure_details"]["error_type"] == "E"


# -------------------------------------------------------------------------------------------- bulk

def test_bulk_never_exceeds_its_concurrency_and_counts_everything() -> None:
    active, peak, lock = 0, 0, threading.Lock()

    def fn(i: int) -> str:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.005)
        with lock:
            active -= 1
        if i % 10 == 0:
            raise OperationFailed(f"no {i}")
        if i % 10 == 1:
            raise bulk_skip()
        return "skipped" if i % 10 == 2 else "done"

    class bulk_skip(Exception):  # noqa: N801
        pass

    seen = []
    result = bulk.run(list(range(100)), fn, concurrency=4, skip_on=(bulk_skip,), on_progress=seen.append)
    assert peak <= 4
    assert (result.done, result.failed, result.skipped, result.not_attempted) == (70, 10, 20, 0)
    assert result.failures[0][1].startswith("no ") and len(result.failures) == 10
    assert seen[-1].finished == 100 or max(p.finished for p in seen) == 100
    assert not result.interrupted and result.aborted is None


def test_bulk_rate_limit_paces_starts() -> None:
    starts: list[float] = []
    began = time.monotonic()
    result = bulk.run(list(range(11)), lambda i: starts.append(time.monotonic()) or "done", concurrency=8, rps=50)
    assert result.done == 11
    assert time.monotonic() - began >= 0.19  # 10 intervals of 20 ms
    assert starts[-1] - starts[0] >= 0.19


def test_bulk_cancel_stops_new_calls_and_accounts_for_all() -> None:
    cancel = threading.Event()
    done: list[int] = []
    lock = threading.Lock()

    def fn(i: int) -> str:
        time.sleep(0.01)
        with lock:
            done.append(i)
        return "done"

    threading.Timer(0.2, cancel.set).start()
    result = bulk.run(list(range(1000)), fn, concurrency=3, rps=100, cancel=cancel)
    assert result.interrupted
    assert result.done == len(done)  # what ran is exactly what is reported
    assert 5 <= result.done < 100
    assert result.done + result.not_attempted == 1000


def test_bulk_abort_on_unreachable() -> None:
    calls: list[int] = []

    def fn(i: int) -> str:
        calls.append(i)
        if i >= 5:
            raise Unreachable("gone")
        return "done"

    result = bulk.run(list(range(200)), fn, concurrency=1, abort_on=(Unreachable,))
    assert isinstance(result.aborted, Unreachable) and not result.interrupted
    assert result.done == 5 and result.failed == 1 and result.not_attempted == 194 and len(calls) == 6


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 40), st.integers(1, 6))
def test_bulk_accounting_holds_for_any_size(n, concurrency) -> None:
    result = bulk.run(list(range(n)), lambda i: "skipped" if i % 3 == 0 else "done", concurrency=concurrency)
    assert result.done + result.skipped == n and result.failed == 0 and result.not_attempted == 0


# ------------------------------------------------------------------------------- purge by filter

@given(st.integers(0, 50), st.integers(0, 80), st.one_of(st.none(), st.integers(0, 60)), st.booleans())
def test_purge_by_filter_counts_always_add_up(confirmed, deleted, remaining, counted_after) -> None:
    from dtsctl.instances.filter_purge import Outcome

    assume(not counted_after or remaining is not None)  # counting afterwards always yields a number
    counts = Outcome(confirmed=confirmed, deleted=deleted, remaining=remaining, counted_after=counted_after).counts()
    assert counts["done"] + counts["skipped"] + counts["not_attempted"] == confirmed
    assert min(counts.values()) >= 0
    if not counted_after and remaining is None:  # every answer came: the scheduler's own number, split
        assert counts["done"] + counts["deleted_unconfirmed"] == deleted and counts["not_attempted"] == 0
    if remaining is not None:
        assert counts["not_attempted"] == min(remaining, confirmed)


def test_the_span_covers_every_confirmed_instance_and_no_later_one() -> None:
    from dtsctl.instances.filter_purge import Span

    times = [NOW + timedelta(microseconds=d) for d in (5, 0, 17)]
    span = Span.of(times)
    assert span.start == NOW and span.end == NOW + timedelta(microseconds=18)
    flt = span.filter
    assert all(flt.created_after <= t < flt.created_before for t in times)
    assert Span.of([]) is None and Span.of([NOW, None]) is None
    start, end = span.bounds()  # for --created-after/--created-before: rounded outwards
    assert start == "2025-03-01T12:00:00.000Z" and end == "2025-03-01T12:00:00.001Z"
