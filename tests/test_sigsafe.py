"""A signal that arrives while the main thread waits on an Event must not deadlock it."""

from __future__ import annotations

import threading
import time

from dtsctl.sigsafe import set_soon
from support.wait import wait_until


def test_set_soon_does_not_block_while_the_events_lock_is_held() -> None:
    # A signal handler runs in the main thread between bytecodes; inside Event.wait that can be while
    # the thread holds the event's condition lock (the deadlock `dtsctl instance terminate` hit on
    # Ctrl-C: the handler's `cancel.set()` waited for a lock its own thread held). Event.set() here
    # would block forever; set_soon must return at once and set the event once the lock is free.
    stop = threading.Event()
    started = time.monotonic()
    with stop._cond:  # noqa: SLF001 - exactly what the interrupted Event.wait holds
        set_soon(stop)
        assert time.monotonic() - started < 1.0
        assert not stop.is_set()
    assert stop.wait(5)


def test_then_runs_after_the_event_is_set() -> None:
    done = threading.Event()
    seen: list[bool] = []
    set_soon(done, lambda: seen.append(done.is_set()))
    assert done.wait(5)
    wait_until(lambda: seen, timeout=5, interval=0.01, desc="the follow-up call")
    assert seen == [True]


def _ctrl_c() -> None:
    import os
    import signal

    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)  # the handler runs in the main thread at the next bytecode


def test_first_ctrl_c_cancels_and_the_second_raises() -> None:
    import pytest

    from dtsctl.sigsafe import first_interrupt_cancels

    cancel = threading.Event()
    noted = threading.Event()
    with pytest.raises(KeyboardInterrupt):
        with first_interrupt_cancels(cancel, noted.set):
            _ctrl_c()
            assert cancel.wait(5) and noted.wait(5)
            _ctrl_c()
            time.sleep(1)
    import signal

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_interrupts_deferred_raise_at_the_end_of_the_block() -> None:
    import pytest

    from dtsctl.sigsafe import interrupts_deferred

    finished: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            _ctrl_c()
            finished.append("the block ran to its end")
    assert finished == ["the block ran to its end"]
    with interrupts_deferred():  # no Ctrl-C: nothing raised
        finished.append("again")
    assert finished[-1] == "again"
