"""What the dashboard API asks of a scheduler: `Backend`, one method per route, and `GrpcBackend`,
which answers every one for any target dtsctl can reach through its core (the SDK client, the
instance service, the bulk core, entities), one cached connection per task hub.

Each method takes the task hub first and a typed body (dtsctl.dashboard.bodies) where the route has
one, and returns the JSON-ready answer (built with dtsctl.dashboard.shapes), or raises dtsctl's
typed errors (NotFound, InvalidInput, NotApplicable, Unreachable, ...), which dtsctl.dashboard.api
maps to the contract's codes. Methods may run on several threads at once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from typing import Any

from dtsctl.config.target import Layer, Source, Target
from dtsctl.dashboard import bodies, jobs, shapes
from dtsctl.dts import DEFAULT_TASK_HUB
from dtsctl.errors import NotFound

log = logging.getLogger("dtsctl.dashboard")

QUERY_PAGE = 1000  # instances per QueryInstances call when the dashboard reads every match
MAX_CHILDREN = 500  # sub-orchestrations the children route reads
MAX_CONNECTIONS = 8  # task hubs with an open connection at once (the header names any hub)
BULK_CONCURRENCY = 32  # as `dtsctl instance ... --status` by default
LOCAL_CACHE_SECONDS = 5.0


class Backend:
    """The interface. `default_hub` is the task hub of a request without `x-taskhub`."""

    default_hub: str = DEFAULT_TASK_HUB

    def task_hubs(self) -> dict[str, Any]:
        """{"taskHubs": [...], "current": default_hub, "dynamic": bool}."""
        raise NotImplementedError

    def ping(self, hub: str) -> dict[str, Any]:
        """{"ok": true, "taskHub", "endpoint", "engine": "local" | "emulator" | "azure"}; raises when
        the scheduler or the hub does not answer."""
        raise NotImplementedError

    def query(self, hub: str, body: bodies.Query) -> dict[str, Any]:
        """{"orchestrations": [ORCHESTRATION], "totalCount", "trivia"}: the page of the matches in the
        body's order; totalCount counts every match, trivia every match of the filter without its
        status part, by status."""
        raise NotImplementedError

    def get(self, hub: str, instance_id: str) -> dict[str, Any]:
        """ORCHESTRATION; NotFound when there is no such instance."""
        raise NotImplementedError

    def payloads(self, hub: str, instance_id: str) -> dict[str, Any]:
        """PAYLOADS (shapes.payloads)."""
        raise NotImplementedError

    def history(self, hub: str, instance_id: str, execution_id: str | None = None) -> dict[str, Any]:
        """{"events": [...]}: each event as `dtsctl instance history -o json` prints it."""
        raise NotImplementedError

    def pending(self, hub: str, instance_id: str) -> dict[str, Any] | None:
        """`dtsctl instance show -o json`'s `pending`: None once the instance has ended."""
        raise NotImplementedError

    def timeline(self, hub: str, instance_id: str) -> dict[str, Any]:
        """`dtsctl instance history --timeline -o json`."""
        raise NotImplementedError

    def children(self, hub: str, instance_id: str) -> dict[str, Any]:
        """{"children": [ORCHESTRATION]}: the sub-orchestrations its history created (those still there)."""
        raise NotImplementedError

    def create(self, hub: str, body: bodies.Create) -> dict[str, Any]:
        """ORCHESTRATION of the new instance plus "command"; InstanceExists for a taken id."""
        raise NotImplementedError

    def act(self, hub: str, instance_id: str, body: bodies.Action) -> dict[str, Any]:
        """shapes.action_answer; NotApplicable when the action cannot apply in its state."""
        raise NotImplementedError

    def restart(self, hub: str, instance_id: str, body: bodies.Restart) -> dict[str, Any]:
        raise NotImplementedError

    def purge(self, hub: str, instance_id: str, body: bodies.Purge) -> dict[str, Any]:
        raise NotImplementedError

    def bulk(self, hub: str, body: bodies.Bulk) -> dict[str, Any]:
        """A dry run: the bulk report (dtsctl.instances.batch.Report.to_dict) plus "command", "notes",
        "error". A run: the job's first progress document (jobs.Job.doc, status running) plus
        "command"; it goes on on a thread of its own."""
        raise NotImplementedError

    def bulk_job(self, job_id: str) -> dict[str, Any]:
        """The job's progress document (jobs.Job.doc); NotFound for a job this server does not keep."""
        raise NotImplementedError

    def bulk_cancel(self, job_id: str) -> dict[str, Any]:
        """Stop the job after the calls in flight (nothing for one that has ended); its progress document."""
        raise NotImplementedError

    def entities(self, hub: str, body: bodies.EntityQuery) -> dict[str, Any]:
        """{"entities": [shapes.entity], "totalCount"}."""
        raise NotImplementedError

    def workers(self, hub: str) -> dict[str, Any]:
        """{"workers": [...] | None, "connected": n | None} (None: the target does not say)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections; the server calls it once it has stopped."""


class GrpcBackend(Backend):
    """Every route through dtsctl's core over gRPC, for any Target (the local engine, the DTS
    emulator, a scheduler in Azure with the user's own credential, which stays in this process).

    `task_hubs`: the hubs to offer when the target cannot list them (a local engine registered with
    `dtsctl emulator up` lists its own). `command_flags`: what selects this target on dtsctl's
    command line, for the `command` of each answer (`("--profile", "prod")`); a task hub given by
    flag (or -c's TaskHub) is named in each command."""

    def __init__(self, target: Target, *, timeout: float | None = None, task_hubs: tuple[str, ...] | None = None,
                 command_flags: tuple[str, ...] = ()) -> None:
        self.target = target
        self.timeout = timeout
        self.default_hub = target.task_hub or DEFAULT_TASK_HUB
        hub_by_flag = target.task_hub_source is not None and target.task_hub_source.layer == Layer.FLAG
        self.commands = shapes.Commands(self.default_hub, command_flags, name_hub=hub_by_flag)
        self._hubs = task_hubs
        self._conns: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.jobs = jobs.Jobs()  # bulk runs; close() cancels the running ones
        self._local: tuple[float, Any] | None = None

    # ---- connections

    def _target_for(self, hub: str) -> Target:
        if hub == self.target.task_hub:
            return self.target
        from dtsctl.connection import validate

        source = Source(Layer.FLAG, "the x-taskhub header")
        validation = validate(self.target.connection_string, task_hub=hub, task_hub_source=str(source),
                              env=os.environ)
        return replace(self.target, task_hub=hub, task_hub_source=source, validation=validation,
                       task_hub_in_string=False)

    def _connection(self, hub: str) -> Any:
        from dtsctl import scheduler

        with self._lock:
            conn = self._conns.get(hub)
            if conn is not None:
                self._conns.move_to_end(hub)
                return conn
            conn = scheduler.open_client(self._target_for(hub), self.timeout)
            self._conns[hub] = conn
            while len(self._conns) > MAX_CONNECTIONS:
                _, oldest = self._conns.popitem(last=False)
                oldest.close()
            return conn

    @contextmanager
    def _calling(self, hub: str, action: str, instance_id: str | None = None) -> Iterator[Any]:
        """The hub's connection; gRPC and credential failures in the block become dtsctl's errors."""
        conn = self._connection(hub)
        with self._translating(conn, action, instance_id):
            yield conn

    @contextmanager
    def _translating(self, conn: Any, action: str, instance_id: str | None = None) -> Iterator[None]:
        """gRPC and credential failures in the block become dtsctl's errors (for `conn`'s target)."""
        from dtsctl.scheduler import translating

        with translating(conn, action, instance_id):
            yield

    def close(self) -> None:
        self.jobs.close()  # before the connections close: the calls in flight end first
        with self._lock:
            conns, self._conns = list(self._conns.values()), OrderedDict()
        for conn in conns:
            conn.close()

    # ---- the local engine serving the endpoint, when there is one

    def _local_engine(self) -> dict[str, Any] | None:
        """The GET /v1/taskhubs document of the local engine (`dtsctl emulator up --engine local`)
        serving this endpoint, or None; read at most every few seconds."""
        now = time.monotonic()
        if self._local is not None and now - self._local[0] < LOCAL_CACHE_SECONDS:
            return self._local[1]
        from dtsctl.instances.workers import serving_emulator

        found = serving_emulator(self.target)
        doc = found[1] if found is not None else None
        self._local = (now, doc)
        return doc

    def _engine(self) -> str:
        from dtsctl.connection.endpoint import is_loopback_host

        fields = self.target.fields
        # A local TLS endpoint with a credential is a tunnel or a stand-in of a scheduler, not an
        # emulator (which speaks plaintext without one), as doctor reads it too.
        credential = fields is not None and fields.tls and fields.authentication not in (None, "None")
        if fields is None or not is_loopback_host(fields.host or "") or credential:
            return "azure"
        return "local" if self._local_engine() is not None else "emulator"

    # ---- reading

    def task_hubs(self) -> dict[str, Any]:
        names: list[str] = list(self._hubs or ())
        dynamic = False
        doc = None if self._hubs else self._local_engine()
        if doc:
            names = [str(h.get("name")) for h in doc.get("task_hubs") or () if isinstance(h, dict) and h.get("name")]
            dynamic = bool(doc.get("dynamic_task_hubs"))
        if self.default_hub not in names:
            names.insert(0, self.default_hub)
        return {"taskHubs": names, "current": self.default_hub, "dynamic": dynamic}

    def ping(self, hub: str) -> dict[str, Any]:
        from google.protobuf import empty_pb2

        from dtsctl.sdk.client import stub

        with self._calling(hub, "reach the scheduler") as conn:
            stub(conn.client).Hello(empty_pb2.Empty())
        return {"ok": True, "taskHub": hub, "endpoint": self.target.endpoint, "engine": self._engine()}

    def query(self, hub: str, body: bodies.Query) -> dict[str, Any]:
        from dtsctl.instances import service
        from dtsctl.instances.stats import ordered

        flt = body.filter
        counts: Counter = Counter()
        total = 0

        def matching(records: Iterator[Any]) -> Iterator[Any]:
            nonlocal total
            for record in records:
                if not flt.matches(record, statuses=False):
                    continue
                counts[record.runtime_status] += 1
                if flt.statuses and record.runtime_status not in flt.statuses:
                    continue
                total += 1
                yield record

        with self._calling(hub, "list instances") as conn:
            # The status part is applied here, not in the query: trivia counts every status.
            records = service.iter_instances(conn, flt.instance_filter(statuses=False), payloads=False,
                                             page_size=QUERY_PAGE)
            picked = ordered(matching(records), body.sort, reverse=body.reverse, limit=body.start + body.count)
        return shapes.query_answer(picked[body.start:], total, counts)

    def _record(self, conn: Any, instance_id: str) -> Any:
        from dtsctl.instances import service

        return service.get(conn, instance_id, payloads=False, enrich=True)

    def get(self, hub: str, instance_id: str) -> dict[str, Any]:
        with self._calling(hub, "read the instance", instance_id) as conn:
            return shapes.orchestration(self._record(conn, instance_id))

    def payloads(self, hub: str, instance_id: str) -> dict[str, Any]:
        from dtsctl import scheduler
        from dtsctl.sdk import errors as rpc_errors
        from dtsctl.sdk.client import stub
        from dtsctl.sdk.protos import failure_info, messages, read_string

        pb = messages()
        omitted = None
        with self._calling(hub, "read the instance", instance_id) as conn:
            try:
                res = stub(conn.client).GetInstance(pb.GetInstanceRequest(instanceId=instance_id,
                                                                          getInputsAndOutputs=True))
            except Exception as exc:
                if not rpc_errors.too_large(exc):
                    raise
                omitted = rpc_errors.omitted(exc)
                res = stub(conn.client).GetInstance(pb.GetInstanceRequest(instanceId=instance_id,
                                                                          getInputsAndOutputs=False))
            if not res.exists:
                raise scheduler.instance_not_found(instance_id, conn)
        state = res.orchestrationState
        texts = (None, None, None) if omitted else (read_string(state, "input"), read_string(state, "output"),
                                                    read_string(state, "customStatus"))
        fail = failure_info(state.failureDetails) if state.HasField("failureDetails") else None
        return shapes.payloads(*texts, fail, omitted)

    def _history(self, conn: Any, instance_id: str) -> tuple[Any, list[Any]]:
        from dtsctl.instances import service

        record = self._record(conn, instance_id)
        return record, service.history(conn, instance_id)

    def history(self, hub: str, instance_id: str, execution_id: str | None = None) -> dict[str, Any]:
        with self._calling(hub, "read the history", instance_id) as conn:
            record, items = self._history(conn, instance_id)
        if execution_id is not None and record.execution_id and execution_id != record.execution_id:
            raise NotFound(f"Instance '{instance_id}' keeps only the history of its current execution "
                           f"({record.execution_id}), not of '{execution_id}'.",
                           hint=f"'dtsctl instance history {shapes.word(instance_id)}' shows the current one.")
        return {"events": [i.data for i in items]}

    def pending(self, hub: str, instance_id: str) -> dict[str, Any] | None:
        from dtsctl.instances import service

        with self._calling(hub, "read the instance", instance_id) as conn:
            record = self._record(conn, instance_id)
            items = None if record.terminal else service.history(conn, instance_id)
            waiting = service.pending(conn, record, items)
        return waiting.to_dict() if waiting is not None else None

    def timeline(self, hub: str, instance_id: str) -> dict[str, Any]:
        from dtsctl.instances import spans
        from dtsctl.times import iso

        with self._calling(hub, "read the history", instance_id) as conn:
            _, items = self._history(conn, instance_id)
        execution = spans.read(items)
        return {"instance_id": instance_id, "started_at": iso(execution.started_at),
                "ended_at": iso(execution.ended_at), "spans": [s.to_dict() for s in execution.spans]}

    def children(self, hub: str, instance_id: str) -> dict[str, Any]:
        from dtsctl.instances import service
        from dtsctl.sdk import rpc

        out = []
        with self._calling(hub, "read the instance", instance_id) as conn:
            service.get(conn, instance_id, payloads=False)
            for child in rpc.sub_orchestrations(conn.client, instance_id)[:MAX_CHILDREN]:
                state = service.get_state(conn, child, payloads=False)
                if state is not None:
                    out.append(shapes.orchestration(state))
        return {"children": out}

    # ---- acting on one instance

    def create(self, hub: str, body: bodies.Create) -> dict[str, Any]:
        from dtsctl.instances import service

        with self._calling(hub, "start the orchestration") as conn:
            record = service.start(conn, body.name, input_json=body.input, instance_id=body.instance_id,
                                   version=body.version, start_at=body.scheduled_start_at, tags=body.tags)
        return {**shapes.orchestration(record), "command": self.commands.start(hub, body)}

    def act(self, hub: str, instance_id: str, body: bodies.Action) -> dict[str, Any]:
        from dtsctl.instances import service

        with self._calling(hub, f"{body.type} the instance", instance_id) as conn:
            if body.type == "suspend":
                result = service.suspend(conn, instance_id, reason=body.reason)
            elif body.type == "resume":
                result = service.resume(conn, instance_id, reason=body.reason)
            elif body.type == "terminate":
                result = service.terminate(conn, instance_id, reason=body.reason, recursive=body.recursive)
            elif body.type == "rewind":
                result = service.rewind(conn, instance_id, reason=body.reason)
            else:
                result = service.raise_event(conn, instance_id, body.event_name or "", body.event_data)
        command = self.commands.action(hub, instance_id, body.type, reason=body.reason, recursive=body.recursive,
                                       event_name=body.event_name, event_data=body.event_data)
        return shapes.action_answer(result, command)

    def restart(self, hub: str, instance_id: str, body: bodies.Restart) -> dict[str, Any]:
        from dtsctl.instances import service

        with self._calling(hub, "restart the instance", instance_id) as conn:
            result = service.restart(conn, instance_id, new_id=body.new_instance_id)
        return shapes.action_answer(result, self.commands.restart(hub, instance_id, new_id=body.new_instance_id))

    def purge(self, hub: str, instance_id: str, body: bodies.Purge) -> dict[str, Any]:
        from dtsctl.instances import service

        with self._calling(hub, "purge the instance", instance_id) as conn:
            result = service.purge(conn, instance_id, recursive=body.recursive)
        return shapes.action_answer(result, self.commands.purge(hub, instance_id, recursive=body.recursive))

    # ---- acting on many

    def _per_item(self, body: bodies.Bulk) -> Any:
        from dtsctl.instances import service

        if body.action == "terminate":
            return lambda conn, i, s: service.terminate(conn, i, reason=body.reason, status=s)
        if body.action == "suspend":
            return lambda conn, i, s: service.suspend(conn, i, reason=body.reason, status=s)
        if body.action == "resume":
            return lambda conn, i, s: service.resume(conn, i, reason=body.reason, status=s)
        if body.action == "raise-event":
            return lambda conn, i, s: service.raise_event(conn, i, body.event_name or "", body.event_data, status=s)
        return lambda conn, i, s: service.purge(conn, i, status=s)

    def bulk(self, hub: str, body: bodies.Bulk) -> dict[str, Any]:
        """As `dtsctl instance <action> --status ...` does it (dtsctl.instances.batch): the plan lists
        every match and decides from each status whether the action applies; the run acts on exactly
        those. A purge whose filter the scheduler's own filter call can express uses that call when it
        reaches only the listed instances. A dry run answers the report; a run is a job (jobs.Job):
        the plan is made here, the calls on the job's thread, and this answers its first progress."""
        from dtsctl.instances import batch, service
        from dtsctl.instances.records import InstanceFilter

        missing = 0
        with self._calling(hub, f"{body.action} instances") as conn:
            if body.instance_ids is not None:
                flt = InstanceFilter()
                matches = []
                for instance_id in body.instance_ids:
                    state = service.get_state(conn, instance_id, payloads=False)
                    if state is None:
                        missing += 1
                    else:
                        matches.append(batch.Match(state.instance_id, state.runtime_status, state.created_at))
            else:
                assert body.filter is not None
                wanted = body.filter
                flt = wanted.instance_filter()
                matches = [batch.Match(r.instance_id, r.runtime_status, r.created_at)
                           for r in service.iter_instances(conn, flt, payloads=False, page_size=QUERY_PAGE)
                           if wanted.matches(r)]
            plan = _plan(body.action, flt, conn.task_hub, matches)
        by_filter = (body.action == "purge" and body.filter is not None and body.filter.beyond_instance_filter == ()
                     and flt.server_side_purge)
        purge_statuses = list(flt.statuses) if by_filter else None

        def doc_of(report: Any, notes: list[str]) -> dict[str, Any]:
            doc = report.to_dict()
            if body.instance_ids is not None:
                doc["not_found"] = missing
            doc["notes"] = notes
            doc["error"] = getattr(report.error, "message", None) or (str(report.error) if report.error else None)
            doc["command"] = self.commands.bulk(hub, body)
            return doc

        if body.dry_run:
            return doc_of(batch.report(plan, dry_run=True, server_side=purge_statuses is not None), [])

        def run(job: Any) -> dict[str, Any]:
            notes: list[str] = []
            if not plan.act:
                return doc_of(batch.report(plan, dry_run=False, server_side=purge_statuses is not None), notes)
            with self._translating(conn, f"{body.action} instances"):
                report = batch.execute(conn, plan, self._per_item(body), concurrency=BULK_CONCURRENCY, rps=None,
                                       cancel=job.cancel, progress=lambda _total: nullcontext(job.progress),
                                       on_note=notes.append, purge_statuses=purge_statuses)
            return doc_of(report, notes)

        started = self.jobs.start(body.action, len(plan.matches), plan.skipped, run)
        if body.instance_ids is not None:
            started["not_found"] = missing
        started["command"] = self.commands.bulk(hub, body)
        return started

    def bulk_job(self, job_id: str) -> dict[str, Any]:
        return self.jobs.get(job_id).doc()

    def bulk_cancel(self, job_id: str) -> dict[str, Any]:
        return self.jobs.cancel(job_id)

    # ---- entities, workers

    def entities(self, hub: str, body: bodies.EntityQuery) -> dict[str, Any]:
        from dtsctl import entities

        name = body.name.lower() if body.name else None
        found = []
        with self._calling(hub, "list entities") as conn:
            for record in entities.list_entities(conn, prefix=body.id_prefix, include_state=True):
                if name is None or record.name == name:
                    found.append(record)
        page = found[body.start:body.start + body.count]
        return {"entities": [shapes.entity(r, json.dumps(r.state) if r.state is not None else None) for r in page],
                "totalCount": len(found)}

    def workers(self, hub: str) -> dict[str, Any]:
        from dtsctl.instances import workers

        found = workers.connected(self._target_for(hub))
        return {"workers": None, "connected": found.count if found is not None else None}


def _plan(action: Any, flt: Any, task_hub: str, matches: list[Any]) -> Any:
    """dtsctl.instances.batch.Plan of matches listed here (batch.plan lists them itself, by an
    InstanceFilter alone; the dashboard's filter says more)."""
    from dtsctl.instances import batch

    return batch.plan_of(action, flt, task_hub, matches)
