"""Times the engine keeps read back exactly: a range a client draws from instances' own created times
(dtsctl's filter purge narrows to [oldest, newest + 1 µs)) contains every one of them. With times kept
at nanoseconds in floats, one instance in ~300 fell just outside (seen in the bulk purge test)."""

from __future__ import annotations

from datetime import timedelta, timezone

from google.protobuf import timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st

from dtsctl.emulator.local.engine.events import now, seconds, timestamp

MICROS = st.integers(min_value=1_600_000_000 * 10**6, max_value=2_100_000_000 * 10**6)


@given(st.lists(MICROS, min_size=1, max_size=20))
def test_a_range_drawn_from_kept_times_contains_them_all(micros: list[int]) -> None:
    kept = [m / 1e6 for m in micros]
    seen = [timestamp(k).ToDatetime(tzinfo=timezone.utc) for k in kept]  # what a client reads
    low, high = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    low.FromDatetime(min(seen))
    high.FromDatetime(max(seen) + timedelta(microseconds=1))
    assert all(seconds(low) <= k < seconds(high) for k in kept)


def test_now_is_whole_microseconds() -> None:
    t = now()
    assert round(t * 1e6) / 1e6 == t and seconds(timestamp(t)) == t
