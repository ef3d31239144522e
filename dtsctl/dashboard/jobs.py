"""Bulk runs the dashboard started, as jobs: each runs on a thread of its own (the HTTP request that
started it has answered), counts its progress from the bulk core's progress callback, can be
cancelled (no new call starts; the ones in flight end), and keeps its final report.

Jobs live in memory, per server: at most MAX_JOBS; when a new one would pass that, the oldest ended
ones are dropped; when every kept job is still running, a new one is refused (Busy).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from dtsctl.errors import DtsctlError, NotFound

log = logging.getLogger("dtsctl.dashboard")

MAX_JOBS = 32
CLOSE_WAIT = 10.0  # seconds close() waits for the calls in flight (each is bounded by its own deadline)

# run(job) -> the final report document. It reads job.cancel and reports progress with job.progress.
Runner = Callable[["Job"], dict[str, Any]]


class Busy(DtsctlError):
    """Every job kept is still running: the dashboard starts no more until one ends."""


class Job:
    def __init__(self, action: str, matched: int, skipped: int) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.action = action
        self.matched = matched
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._began = time.monotonic()
        self._ended: float | None = None
        self._planned_skips = skipped  # matches the action does not apply to: skipped before any call
        self._done = self._failed = self._skipped = 0
        self._status = "running"
        self._report: dict[str, Any] | None = None
        self._error: str | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        with self._lock:
            return self._status == "running"

    def progress(self, snapshot: Any) -> None:
        """The bulk core's progress callback (dtsctl.instances.bulk.Progress: done, failed, skipped);
        called from its worker threads."""
        with self._lock:
            if self._status == "running":
                self._done, self._failed, self._skipped = snapshot.done, snapshot.failed, snapshot.skipped

    def _end(self, report: dict[str, Any] | None, error: str | None) -> None:
        with self._lock:
            self._ended = time.monotonic()
            self._report, self._error = report, error
            if report is not None:  # the report's counts are the final word (a one-call purge has no progress)
                self._done, self._failed = int(report.get("done") or 0), int(report.get("failed") or 0)
                self._skipped = int(report.get("skipped") or 0) - self._planned_skips
            if error is not None:
                self._status = "failed"
            elif report is not None and report.get("interrupted"):
                self._status = "cancelled"
            else:
                self._status = "done"

    def doc(self) -> dict[str, Any]:
        with self._lock:
            seconds = (self._ended if self._ended is not None else time.monotonic()) - self._began
            skipped = self._planned_skips + self._skipped
            return {
                "job": self.id, "action": self.action, "status": self._status, "matched": self.matched,
                "finished": self._done + self._failed + skipped, "done": self._done, "failed": self._failed,
                "skipped": skipped, "seconds": round(seconds, 3), "cancelRequested": self.cancel.is_set(),
                "error": self._error, "report": self._report,
            }


class Jobs:
    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    def start(self, action: str, matched: int, skipped: int, run: Runner) -> dict[str, Any]:
        """A new job running `run` on its own thread; its first progress document (status running:
        taken before the thread starts)."""
        job = Job(action, matched, skipped)
        with self._lock:
            self._make_room()
            self._jobs[job.id] = job
            if self._closed:
                job.cancel.set()
        first = job.doc()

        def body() -> None:
            try:
                report = run(job)
            except DtsctlError as exc:
                job._end(None, exc.message)
            except Exception as exc:  # noqa: BLE001 - a failed run is the job's answer, not a lost thread
                log.debug("a bulk job failed", exc_info=exc)
                job._end(None, f"The run failed with an unexpected {type(exc).__name__}: {exc}. This is a bug in dtsctl.")
            else:
                error = report.get("error")
                job._end(report, error if isinstance(error, str) and error else None)

        job._thread = threading.Thread(target=body, name=f"dtsctl-bulk-job-{job.id}", daemon=True)
        job._thread.start()
        return first

    def _make_room(self) -> None:
        while len(self._jobs) >= MAX_JOBS:
            ended = next((j for j in self._jobs.values() if not j.running), None)
            if ended is None:
                raise Busy(f"The dashboard is already running {len(self._jobs)} bulk runs.",
                           hint="Wait for one to end, or cancel one (POST /v1/taskhubs/bulk/JOB/cancel).")
            del self._jobs[ended.id]

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"There is no bulk run '{job_id}' on this dashboard.",
                           hint="Runs are kept in memory until the server stops, the most recent few dozen of them.")
        return job

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        if job.running:
            job.cancel.set()
        return job.doc()

    def close(self) -> None:
        """Cancel every running job and wait (a while) for the calls they have in flight."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        deadline = time.monotonic() + CLOSE_WAIT
        for job in jobs:
            if job._thread is not None:
                job._thread.join(timeout=max(0.0, deadline - time.monotonic()))
