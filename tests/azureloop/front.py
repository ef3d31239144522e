"""The TLS gRPC front: the real ``TaskHubSidecarService`` (dtsctl's local engine, in process) behind
a server interceptor that enforces what Azure Durable Task Scheduler enforces.

Checks, in this order, each against the shared :class:`~azureloop.model.AzureModel`:

(a) network   public network access disabled, an empty IP allowlist, or the caller's address
              (``context.peer()``, CIDR match) not in it              -> PERMISSION_DENIED
(b) token     ``authorization: Bearer <jwt>``: present, kit signature, not expired, audience
              https://durabletask.io, the scheduler's tenant           -> else UNAUTHENTICATED
(c) RBAC      the token's ``oid`` holds one of the three Durable Task roles at the task hub, the
              scheduler or an ancestor scope (propagated assignments only); Data Reader may only
              call read methods                                       -> else PERMISSION_DENIED
(d) task hub  the ``taskhub`` metadata names a hub of the scheduler (exact, case-sensitive, as the
              emulator) that is provisioned (not ``Provisioning`` or ``Failed``: see
              ``model.SERVED_STATES``)                                -> else NOT_FOUND "Task hub not found: <name>"

Which scheduler: the front serves one endpoint (``https://localhost:<port>``), and every scheduler
whose endpoint is it (``endpoint=None``: the default one and every one created through the kit's
ARM) shares it; a call goes to the first of those, not being created, that has the call's hub, else
to the first of them (``model.front_scheduler``). None at all (``clear_resources()``, or the only one
still ``Provisioning``): UNAVAILABLE, as an endpoint whose DNS name does not resolve yet. Two
schedulers with a hub of the same name share that hub's instances in the engine.

Then the call goes to ``TaskHubRouter(HubRegistry(dynamic=True))``: every hub that passed (d) exists.

The detail texts are the kit's choice (``MESSAGES``); the real service's texts are UNVERIFIED, only
the status codes and "Task hub not found: <name>" are documented. ``model.generic_denials = True``
gives both PERMISSION_DENIED causes the same text, for code that must not rely on the wording.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import grpc

from dtsctl.emulator.local.hubs import HubRegistry, TaskHubRouter

from .model import DATA_READER, DTS_AUDIENCES, DTS_ROLES, AzureModel, ip_allowed
from .tokens import TokenInvalid, TokenIssuer, bearer

MESSAGES = {
    "public_network_disabled": "Public network access to scheduler '{scheduler}' is disabled.",
    "ip_allowlist_empty": ("Access to scheduler '{scheduler}' is denied: its IP allowlist is empty, "
                           "which blocks all traffic."),
    "ip_not_allowed": "The client IP address '{ip}' is not allowed to access scheduler '{scheduler}'.",
    "generic_denied": "The caller is not authorized to perform this operation.",
    "token_missing": "The request has no 'Authorization: Bearer <token>' header.",
    "token_malformed": "The access token is invalid: {detail}.",
    "token_signature": "The access token signature is invalid.",
    "token_expired": "The access token expired at {exp} (current time {now}).",
    "token_not_yet_valid": "The access token is not valid before {nbf} (current time {now}).",
    "token_audience": "The access token audience '{aud}' is invalid; expected '{expected}'.",
    "token_tenant": "The access token is from tenant '{tid}', but scheduler '{scheduler}' is in tenant '{tenant}'.",
    "rbac_no_role": ("The principal '{oid}' does not have a Durable Task role on scheduler '{scheduler}' "
                     "or task hub '{task_hub}'."),
    "rbac_read_only": ("The principal '{oid}' has only the Durable Task Data Reader role on task hub '{task_hub}'; "
                       "'{method}' needs Durable Task Data Contributor or Durable Task Worker."),
    "hub_not_found": "Task hub not found: {task_hub}",
    "no_scheduler": "failed to connect to all addresses: no scheduler is provisioned at this endpoint",
}

# Methods the Data Reader role may call (everything that changes nothing).
READ_METHODS = frozenset({
    "Hello", "GetInstance", "QueryInstances", "ListInstanceIds", "GetEntity", "QueryEntities",
    "StreamInstanceHistory", "GetOrchestrationHistory", "WaitForInstanceStart", "WaitForInstanceCompletion",
})


def _ts(seconds: Any) -> str:
    try:
        return datetime.fromtimestamp(float(seconds), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, OverflowError):
        return str(seconds)


def peer_ip(peer: str) -> str:
    """``ipv4:127.0.0.1:5000`` -> 127.0.0.1; ``ipv6:[::1]:5000`` -> ::1 (IPv4-mapped -> IPv4)."""
    if peer.startswith("ipv4:"):
        return peer[5:].rsplit(":", 1)[0]
    if peer.startswith("ipv6:"):
        rest = peer[5:]
        host = rest[1:rest.index("]")] if rest.startswith("[") else rest.rsplit(":", 1)[0]
        host = host.replace("%5B", "").replace("%5D", "")
        return host[7:] if host.lower().startswith("::ffff:") and "." in host else host
    return peer


@dataclass
class FrontCall:
    """One call through the front, with the outcome of the checks."""

    at: float
    method: str
    task_hub: str | None
    peer: str
    oid: str | None = None
    appid: str | None = None
    code: str = "OK"  # grpc.StatusCode name of the kit's verdict (OK: passed to the engine)
    details: str = ""


class Denied(Exception):
    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(details)
        self.code = code
        self.details = details


def _metadata(context: grpc.ServicerContext, key: str) -> str | None:
    for item in context.invocation_metadata() or ():
        if item.key == key:
            value = item.value.decode("utf-8", "replace") if isinstance(item.value, bytes) else item.value
            return value.strip() or None
    return None


class Gatekeeper(grpc.ServerInterceptor):
    """Wraps every handler: the checks need ``context.peer()``, which only the handler sees."""

    def __init__(self, get_model: Callable[[], AzureModel], issuer: TokenIssuer, record: Callable[[FrontCall], None]):
        self._get_model = get_model
        self._issuer = issuer
        self._record = record

    def check(self, method: str, context: grpc.ServicerContext) -> FrontCall:
        model = self._get_model()
        hub = _metadata(context, "taskhub")
        call = FrontCall(at=time.time(), method=method, task_hub=hub, peer=context.peer())
        try:
            self._enforce(model, method, hub, bearer(_metadata(context, "authorization")), call)
        except Denied as d:
            call.code, call.details = d.code.name, d.details
            self._record(call)
            context.abort(d.code, d.details)
        self._record(call)
        return call

    def _enforce(self, model: AzureModel, method: str, hub: str | None, token: str | None, call: FrontCall) -> None:
        with model.lock:
            sched = model.front_scheduler(hub or "default")
            if sched is None:  # as a DNS name that does not resolve (yet): nothing listens
                raise Denied(grpc.StatusCode.UNAVAILABLE, MESSAGES["no_scheduler"])
            name, allowlist, public = sched.name, list(sched.ip_allowlist), sched.public_network_access
            generic = model.generic_denials
            scheduler_id, tenant = model.scheduler_id_of(sched), model.tenant_id
            hub_names = sched.served_hub_names()
        denied = grpc.StatusCode.PERMISSION_DENIED

        def deny(key: str, **kw: Any) -> Denied:
            return Denied(denied, MESSAGES["generic_denied"] if generic else MESSAGES[key].format(**kw))

        # (a) network
        ip = peer_ip(call.peer)
        if str(public).lower() == "disabled":
            raise deny("public_network_disabled", scheduler=name)
        if not allowlist:
            raise deny("ip_allowlist_empty", scheduler=name)
        if not ip_allowed(allowlist, ip):
            raise deny("ip_not_allowed", ip=ip, scheduler=name)

        # (b) token
        unauth = grpc.StatusCode.UNAUTHENTICATED
        now = time.time()
        try:
            claims = self._issuer.verify(token, audiences=DTS_AUDIENCES, tenant_id=tenant, now=now)
        except TokenInvalid as bad:
            c = bad.claims
            texts = {
                "missing": MESSAGES["token_missing"],
                "malformed": MESSAGES["token_malformed"].format(detail=bad.message),
                "signature": MESSAGES["token_signature"],
                "expired": MESSAGES["token_expired"].format(exp=_ts(c.get("exp")), now=_ts(now)),
                "not_yet_valid": MESSAGES["token_not_yet_valid"].format(nbf=_ts(c.get("nbf")), now=_ts(now)),
                "audience": MESSAGES["token_audience"].format(aud=c.get("aud"), expected=DTS_AUDIENCES[0]),
                "tenant": MESSAGES["token_tenant"].format(tid=c.get("tid"), scheduler=name, tenant=tenant),
            }
            raise Denied(unauth, texts[bad.reason]) from None
        call.oid, call.appid = claims.get("oid"), claims.get("appid")

        # (c) RBAC (at the task hub scope: assignments at the hub, the scheduler or above apply)
        hub_for_scope = hub or "default"
        roles = {ra.role for ra in model.effective_roles(call.oid or "", f"{scheduler_id}/taskHubs/{hub_for_scope}")}
        roles &= set(DTS_ROLES)
        if not roles:
            raise deny("rbac_no_role", oid=call.oid, scheduler=name, task_hub=hub_for_scope)
        if roles == {DATA_READER} and method not in READ_METHODS:
            raise deny("rbac_read_only", oid=call.oid, task_hub=hub_for_scope, method=method)

        # (d) task hub (Hello without 'taskhub' metadata is the server-level probe, as on the local engine)
        if hub is None and method == "Hello":
            return
        wanted = hub or "default"
        if wanted not in hub_names:
            raise Denied(grpc.StatusCode.NOT_FOUND, MESSAGES["hub_not_found"].format(task_hub=wanted))

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]

        if handler.unary_unary:
            inner = handler.unary_unary

            def unary_unary(request, context):
                self.check(method, context)
                return inner(request, context)

            return grpc.unary_unary_rpc_method_handler(unary_unary, request_deserializer=handler.request_deserializer,
                                                       response_serializer=handler.response_serializer)
        if handler.unary_stream:
            inner_s = handler.unary_stream

            def unary_stream(request, context):
                self.check(method, context)
                yield from inner_s(request, context)

            return grpc.unary_stream_rpc_method_handler(unary_stream, request_deserializer=handler.request_deserializer,
                                                        response_serializer=handler.response_serializer)
        return handler  # no client- or bidi-streaming rpcs in TaskHubSidecarService


class GrpcFront:
    """``grpc.server`` on 127.0.0.1:<ephemeral> with the kit certificate."""

    def __init__(self, get_model: Callable[[], AzureModel], issuer: TokenIssuer, key_pem: bytes, cert_chain_pem: bytes,
                 *, max_workers: int = 32, health_ping_interval: float = 5.0):
        self.calls: list[FrontCall] = []
        self._calls_lock = threading.Lock()
        self.registry = HubRegistry([], dynamic=True)
        self.router = TaskHubRouter(self.registry, health_ping_interval=health_ping_interval)
        self._executor = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="azureloop-grpc")
        self.gatekeeper = Gatekeeper(get_model, issuer, self._record)
        self._server = grpc.server(self._executor, interceptors=[self.gatekeeper],
                                   options=[("grpc.so_reuseport", 0)])
        self.router.add_to_server(self._server)
        creds = grpc.ssl_server_credentials([(key_pem, cert_chain_pem)])
        self.port = self._server.add_secure_port("127.0.0.1:0", creds)
        if not self.port:
            self._executor.shutdown(wait=False)
            raise RuntimeError("the TLS gRPC front could not listen on 127.0.0.1")

    def _record(self, call: FrontCall) -> None:
        with self._calls_lock:
            self.calls.append(call)

    def clear(self) -> None:
        with self._calls_lock:
            self.calls.clear()

    def reset_hubs(self) -> None:
        """Drops every hub's instances (between tests)."""
        for hub in self.registry.hubs():
            hub.backend.reset()

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 0.5) -> None:
        done = self._server.stop(grace)
        self.registry.shutdown()
        done.wait(grace + 5)
        self.registry.release_waiters()
        self._executor.shutdown(wait=False, cancel_futures=True)
