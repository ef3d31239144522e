"""The real durabletask SDK (worker and client) against an endpoint, for end-to-end tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from durabletask import task
from durabletask.azuremanaged.client import DurableTaskSchedulerClient
from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker


def greet(ctx: task.ActivityContext, name: str) -> str:
    return f"Hello, {name}!"


def hello_chain(ctx: task.OrchestrationContext, names: list[str]):
    results = []
    for name in names:
        results.append((yield ctx.call_activity(greet, input=name)))
    return results


def client(address: str, task_hub: str) -> DurableTaskSchedulerClient:
    return DurableTaskSchedulerClient(host_address=address, secure_channel=False, taskhub=task_hub,
                                      token_credential=None)


@contextlib.contextmanager
def worker(address: str, task_hub: str) -> Iterator[DurableTaskSchedulerWorker]:
    w = DurableTaskSchedulerWorker(host_address=address, secure_channel=False, taskhub=task_hub,
                                   token_credential=None)
    w.add_orchestrator(hello_chain)
    w.add_activity(greet)
    w.start()
    try:
        yield w
    finally:
        w.stop()


def run_hello_chain(address: str, task_hub: str, names: list[str], timeout: float = 30) -> list[str]:
    """Run an orchestration end to end through a real worker; returns its output."""
    import json

    c = client(address, task_hub)
    with worker(address, task_hub):
        instance_id = c.schedule_new_orchestration(hello_chain, input=names)
        state = c.wait_for_orchestration_completion(instance_id, timeout=timeout)
    assert state is not None, "no state"
    assert state.runtime_status.name == "COMPLETED", (state.runtime_status, state.failure_details)
    return json.loads(state.serialized_output)


@contextlib.contextmanager
def hosted(task_hub: str, *, orchestrators=(), activities=(),
           max_workers: int = 16) -> Iterator[tuple[str, DurableTaskSchedulerClient]]:
    """dtsctl's local engine in this process serving `task_hub`, a real SDK worker hosting the given
    orchestrators and activities, and a client: yields (address, client); all stopped afterwards."""
    from dtsctl.emulator.local.server import LocalServerConfig, serve

    server = serve(LocalServerConfig(port=0, health_port=-1, task_hubs=(task_hub,), max_workers=max_workers))
    w = DurableTaskSchedulerWorker(host_address=server.address, secure_channel=False, taskhub=task_hub,
                                   token_credential=None)
    for orchestrator in orchestrators:
        w.add_orchestrator(orchestrator)
    for activity in activities:
        w.add_activity(activity)
    c = client(server.address, task_hub)
    w.start()
    try:
        yield server.address, c
    finally:
        w.stop()
        c.close()
        server.stop(0)
