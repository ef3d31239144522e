"""gRPC checks: `Hello`, then a cheap call that carries the task hub (list one instance id)."""

from __future__ import annotations

import difflib
import time

from dtsctl.config.target import Layer
from dtsctl.doctor.context import Context
from dtsctl.doctor.model import Outcome, failed, passed
from dtsctl.dts import DATA_CONTRIBUTOR_ROLE_ID, TASK_HUB_METADATA_KEY
from dtsctl.sdk import channel
from dtsctl.sdk.errors import RpcStatus

PROPAGATION = "RBAC role assignments can take up to 10 minutes to apply."
RBAC_FIX = (f"Assign 'Durable Task Data Contributor' ({DATA_CONTRIBUTOR_ROLE_ID}) to the app's identity at "
            "the scheduler: az role assignment create --role \"Durable Task Data Contributor\" --assignee <principal id> "
            "--scope <scheduler resource id>. For a user-assigned identity the connection string also needs ClientID.")
ALLOWLIST_FIX = ("Add this machine's address to the scheduler's IP allowlist: az durabletask scheduler update "
                 "--resource-group <group> --name <scheduler> --ip-allowlist <address or CIDR> (an empty list denies everyone).")


def _channel(ctx: Context):
    address = f"[{ctx.host}]:{ctx.port}" if ":" in ctx.host else f"{ctx.host}:{ctx.port}"
    return channel.open_channel(address, tls=ctx.tls, roots=channel.roots_from(ctx.env) if ctx.tls else None,
                                proxy=not ctx.loopback)


def _metadata(ctx: Context) -> list[tuple[str, str]]:
    md = [(TASK_HUB_METADATA_KEY, ctx.target.task_hub or ""), ("x-user-agent", "dtsctl-doctor")]
    token = ctx.fact("credential", "token")
    if token:
        md.append(("authorization", f"Bearer {token}"))
    return md


def _call(ctx: Context, method: str, request: bytes) -> tuple[RpcStatus | None, float]:
    """(None, seconds) when the call succeeded, else (its failure, seconds)."""
    chan = _channel(ctx)
    try:
        start = time.monotonic()
        failure = channel.call(chan, method, request, metadata=_metadata(ctx), timeout=ctx.options.timeout)
        return failure, time.monotonic() - start
    finally:
        chan.close()


def _explain(ctx: Context, failure: RpcStatus) -> Outcome:
    code, details = failure.code, failure.details.strip()
    text = f"{code}: {details}"
    if code == "UNAVAILABLE":
        if ctx.tls and ctx.emulator_like:
            return failed(text, cause="The emulator speaks plaintext, but the endpoint says https.",
                          fix=f"Use Endpoint=http://{ctx.host}:{ctx.port}")
        return failed(text, cause="The endpoint does not answer gRPC (not a scheduler, or a TLS/plaintext mismatch).",
                      fix="Use the scheduler endpoint over https (Azure) or http://localhost:8080 (emulator).")
    if code == "DEADLINE_EXCEEDED":
        return failed(text, cause="The endpoint accepted the connection but did not answer in time.",
                      fix="Check that it is the scheduler's gRPC endpoint; raise --timeout on slow networks.")
    if code == "UNAUTHENTICATED":
        claims = ctx.fact("credential", "claims") or {}
        if not ctx.fact("credential", "token"):
            cause = "The call carried no token: Authentication=None only works with the emulator."
            fix = "Use Authentication=ManagedIdentity (Azure) or DefaultAzure (developer machine)."
        elif claims.get("exp") and claims["exp"] < time.time():
            cause, fix = "The token has expired.", "Get a new token (restart the app; check the machine's clock)."
        else:
            cause = (f"The scheduler rejected the token (audience {claims.get('aud')}, tenant {claims.get('tid')}): "
                     "a wrong audience or a tenant other than the scheduler's.")
            fix = "Use an identity from the scheduler's tenant; the token audience must be https://durabletask.io."
        return failed(text, cause=cause, fix=fix)
    if code == "PERMISSION_DENIED":
        # Refined after the ARM checks ran (see refine()); without them both causes stand.
        return failed(text, cause="Either the identity has no Durable Task role on the scheduler, or the scheduler's "
                                  "IP allowlist does not let this machine in (both answer 403). " + PROPAGATION,
                      fix=RBAC_FIX + " Or: " + ALLOWLIST_FIX, permission_denied=True)
    return failed(text)


def check_hello(ctx: Context) -> Outcome:
    failure, seconds = _call(ctx, channel.HELLO, b"")
    if failure is not None:
        if failure.code == "NOT_FOUND":  # the scheduler answered; the hub is the next check's business
            return passed(f"the scheduler answers ({failure.details})")
        return _explain(ctx, failure)
    return passed(f"Hello answered in {seconds * 1000:.0f} ms")


def known_task_hubs(ctx: Context) -> list[str]:
    hubs = set(ctx.fact("emulator", "task_hubs") or [])
    hubs.update(ctx.fact("arm.scheduler", "task_hubs") or [])
    return sorted(hubs)


def hub_setting(ctx: Context, hub: str) -> str:
    """How to use task hub `hub`, said where the current one comes from: a --task-hub flag or a
    task-hub variable overrides the connection string's TaskHub, so editing the string would change
    nothing, and a profile's values are changed with 'dtsctl config set'."""
    t = ctx.target
    src = t.task_hub_source
    conn = t.connection_source
    if src is None or t.task_hub_in_string:
        if conn.layer == Layer.DEFAULT:
            return f"Use --task-hub {hub}"
        if conn.profile is not None:
            return f"Set it in profile '{conn.profile}': dtsctl config set {conn.profile} --task-hub {hub}"
        where = "the --connection-string value" if conn.layer == Layer.FLAG else str(conn)
        return f"Use TaskHub={hub} in {where} (or --task-hub {hub})"
    if src.profile is not None:
        return f"Set it in profile '{src.profile}': dtsctl config set {src.profile} --task-hub {hub}"
    if src.layer == Layer.FLAG:
        return f"Use --task-hub {hub}"
    return f"Set {src.name}={hub} (or use --task-hub {hub})"


def _serve_hub(ctx: Context, hub: str) -> str:
    """The emulator commands that serve `hub`: the emulator's own (name, port, hubs) when the
    emulator check found the one on this port."""
    from dtsctl.doctor.emulator_check import loses_state, up_command

    emulator = ctx.facts.get("emulator") or {}
    if not emulator.get("name") or emulator.get("port") != ctx.port:
        return (f"serve it: dtsctl emulator up --port {ctx.port} --task-hub {hub} --recreate "
                "(add --dynamic-task-hubs to create task hubs on first use)")
    served = [h for h in emulator.get("task_hubs") or () if h != hub]
    text = (f"serve it{loses_state(emulator)}: {up_command(emulator, task_hubs=[*served, hub])}; or let it "
            f"create task hubs on first use: {up_command(emulator, dynamic=True)}")
    if emulator.get("engine") == "local":
        text += "; or create it in the running local engine until it restarts: run this dtsctl doctor again with --fix"
    return text


def task_hub_not_found(ctx: Context, text: str) -> Outcome:
    hub = ctx.target.task_hub or ""
    hubs = known_task_hubs(ctx)
    close = difflib.get_close_matches(hub, hubs, n=1, cutoff=0.5) or difflib.get_close_matches(hub.lower(), [h.lower() for h in hubs], n=1)
    listing = f" Task hubs that exist: {', '.join(hubs)}." if hubs else ""
    suggestion = close[0] if close else ("<one of the hubs that exist>" if hubs else "<a provisioned hub>")
    source = ctx.target.task_hub_source
    given = f" (from {source})" if source is not None else ""
    where = "this emulator" if ctx.emulator_like else "this scheduler"
    cause = f"TaskHub name mismatch or not provisioned: '{hub}'{given} does not exist on {where}.{listing}"
    use = hub_setting(ctx, suggestion)
    if not ctx.emulator_like:
        cause += " If the hub was just created or access just granted, an RBAC change may still be propagating."
        fix = f"{use}, or create it: az durabletask taskhub create --resource-group <group> --scheduler-name <scheduler> --name {hub}"
    elif hub:
        fix = f"{use}; or {_serve_hub(ctx, hub)}"
    else:
        fix = use
    return failed(text, cause=cause, fix=fix, not_found=True)


def check_task_hub(ctx: Context) -> Outcome:
    failure, seconds = _call(ctx, channel.LIST_INSTANCE_IDS, channel.LIST_ONE_INSTANCE_ID)
    if failure is not None:
        if failure.code == "NOT_FOUND":
            return task_hub_not_found(ctx, str(failure))
        return _explain(ctx, failure)
    return passed(f"task hub '{ctx.target.task_hub}' answers (listed instance ids in {seconds * 1000:.0f} ms)")
