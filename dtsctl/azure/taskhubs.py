"""Task hubs of a scheduler in ARM: list, show, create (with the app's connection string), delete."""

from __future__ import annotations

from collections.abc import Callable

from dtsctl.azure import lro
from dtsctl.azure.errors import arm_call
from dtsctl.azure.model import SchedulerRef, SchedulerView, TaskHubView, Wait, check_name
from dtsctl.azure.session import ArmSession

Phase = Callable[[str], None]


def app_connection_string(endpoint: str, hub: str) -> str:
    """What an app hosted in Azure with a managed identity uses (reference/dts.md section 1)."""
    return f"Endpoint={endpoint};Authentication=ManagedIdentity;TaskHub={hub}"


def _check(ref: SchedulerRef, hub: str) -> str:
    return f"dtsctl taskhub show {hub} --scheduler {ref.id}"


def get(session: ArmSession, ref: SchedulerRef, name: str) -> TaskHubView:
    with arm_call(f"read task hub '{name}' of scheduler '{ref.name}'"):
        return TaskHubView(session.client(ref.subscription).task_hubs.get(ref.resource_group, ref.name, name).as_dict())


def exists(session: ArmSession, ref: SchedulerRef, name: str) -> TaskHubView | None:
    from dtsctl.errors import NotFound

    try:
        return get(session, ref, name)
    except NotFound:
        return None


def create(session: ArmSession, scheduler: SchedulerView, name: str, wait: Wait,
           phase: Phase) -> tuple[str, TaskHubView | None, lro.Operation | None]:
    """(action: created | exists | started, the hub, the operation)."""
    check_name("task hub", name)
    ref = scheduler.ref
    found = exists(session, ref, name)
    if found is not None:
        return "exists", found, None
    client = session.client(ref.subscription)
    op = lro.run(lambda polling: client.task_hubs.begin_create_or_update(
                     ref.resource_group, ref.name, name, {"properties": {}}, polling=polling),
                 endpoint=session.endpoint, wait=wait, what=f"create task hub '{name}' on scheduler '{ref.name}'",
                 check=_check(ref, name), phase=phase)
    if not op.done:
        return "started", TaskHubView(op.initial) if op.initial else None, op
    hub = TaskHubView(op.resource.as_dict()) if op.resource is not None else get(session, ref, name)
    if not hub.dashboard_url:
        hub = get(session, ref, name)
    return "created", hub, op


def delete(session: ArmSession, ref: SchedulerRef, name: str, wait: Wait, phase: Phase) -> lro.Operation:
    client = session.client(ref.subscription)
    return lro.run(lambda polling: client.task_hubs.begin_delete(ref.resource_group, ref.name, name, polling=polling),
                   endpoint=session.endpoint, wait=wait, what=f"delete task hub '{name}' of scheduler '{ref.name}'",
                   check=_check(ref, name), phase=phase)
