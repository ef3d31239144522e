"""--debug for commands that talk to a scheduler: the resolved target, each RPC (method, status,
duration), retries, streams, and the metadata sent with secrets redacted; stdout unchanged.

Real parts: dtsctl's local engine or a real grpc server on 127.0.0.1, the real CLI through its test
runner, and for tokens the Azure stand-in (azure-identity's real credential against a loopback
token server, a TLS front that checks the bearer token)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from support.cli import invoke
from support.grpc_servers import serving
from support.samples import connection_string, local_server, new_hub

pytestmark = pytest.mark.timeout(120)

RPC_LINE = re.compile(r"rpc (\w+) (OK|[A-Z_]+) in (\d+(?:\.\d+)? (?:ms|s)) \(attempt (\d+)\)")


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    with local_server() as server:
        yield server


def _rpc_lines(stderr: str) -> list[tuple[str, str, int]]:
    return [(m.group(1), m.group(2), int(m.group(4))) for m in RPC_LINE.finditer(stderr)]


def test_debug_shows_the_target_and_each_rpc_and_leaves_stdout_alone(engine: Any) -> None:
    hub = new_hub()
    cs = connection_string(engine, hub)
    plain = invoke("instance", "list", "-c", cs, "-o", "json")
    debug = invoke("instance", "list", "-c", cs, "-o", "json", "--debug")
    assert plain.exit_code == debug.exit_code == 0, debug.stderr
    assert debug.stdout == plain.stdout == "[]\n"
    assert "rpc " not in plain.stderr and "target:" not in plain.stderr
    assert (f"target: endpoint http://{engine.address} (from --connection-string), task hub '{hub}' "
            f"(from --connection-string), authentication None (from --connection-string)") in debug.stderr
    assert ("QueryInstances", "OK", 1) in _rpc_lines(debug.stderr), debug.stderr
    assert f"rpc metadata sent: taskhub: {hub}, x-user-agent: durabletask-python/" in debug.stderr


def test_debug_names_where_the_task_hub_came_from(engine: Any) -> None:
    hub = new_hub()
    cs = f"Endpoint=http://{engine.address};Authentication=None"
    r = invoke("instance", "list", "-c", cs, "--debug", env={"TASKHUB_NAME": hub})
    assert r.exit_code == 0, r.stderr
    assert f"task hub '{hub}' (from environment variable TASKHUB_NAME)" in r.stderr


def test_debug_shows_a_stream_open_and_end_and_a_waiting_call(engine: Any) -> None:
    hub = new_hub()
    cs = connection_string(engine, hub)
    assert invoke("instance", "start", "nobody-hosts-this", "--id", "i1", "-c", cs).exit_code == 0
    plain = invoke("instance", "history", "i1", "-c", cs, "-o", "json")
    debug = invoke("instance", "history", "i1", "-c", cs, "-o", "json", "--debug")
    assert debug.exit_code == 0 and debug.stdout == plain.stdout, debug.stderr
    opened = debug.stderr.index("rpc StreamInstanceHistory: stream opened")
    assert re.search(r"rpc StreamInstanceHistory: stream ended OK after \d", debug.stderr[opened:]), debug.stderr

    r = invoke("instance", "wait", "i1", "--timeout", "0.5", "-c", cs, "--debug")
    assert r.exit_code == 4, r.stderr  # nobody runs it: still pending
    assert "rpc WaitForInstanceCompletion sent: waiting up to 0.5 s" in r.stderr
    assert ("WaitForInstanceCompletion", "DEADLINE_EXCEEDED", 1) in _rpc_lines(r.stderr), r.stderr


def test_debug_shows_the_retry_of_a_read_the_server_refused_once() -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
        with lock:
            calls.append("call")
            first = len(calls) == 1
        if first:
            context.abort(grpc.StatusCode.UNAVAILABLE, "busy, try again")
        return b""  # an empty QueryInstancesResponse: no instances, no continuation

    server, port = serving(handler)
    try:
        cs = f"Endpoint=http://127.0.0.1:{port};Authentication=None;TaskHub=h"
        r = invoke("instance", "list", "-c", cs, "-o", "json", "--debug")
    finally:
        server.stop(0)
    assert r.exit_code == 0 and r.stdout == "[]\n", r.stderr
    lines = _rpc_lines(r.stderr)
    assert lines[:2] == [("QueryInstances", "UNAVAILABLE", 1), ("QueryInstances", "OK", 2)], r.stderr
    assert "rpc QueryInstances UNAVAILABLE in" in r.stderr and ": busy, try again" in r.stderr
    assert re.search(r"rpc QueryInstances: attempt 2 in \d\.\d\d s \(attempt 1: UNAVAILABLE", r.stderr), r.stderr


def test_debug_says_why_a_closed_port_is_not_retried() -> None:
    from support.net import free_port

    cs = f"Endpoint=http://127.0.0.1:{free_port()};Authentication=None;TaskHub=h"
    r = invoke("instance", "list", "-c", cs, "--debug")
    assert r.exit_code == 4
    assert ("QueryInstances", "UNAVAILABLE", 1) in _rpc_lines(r.stderr), r.stderr
    assert "rpc QueryInstances: not retried: no call of this command has reached the server yet" in r.stderr


def test_debug_never_shows_the_token_but_shows_a_redacted_authorization(azure_loop) -> None:
    """azure-identity's ManagedIdentityCredential gets a JWT from the kit's token server; the kit's TLS
    front accepts the call only with it: the call succeeding proves it was sent."""
    kit = azure_loop
    r = kit.run_dtsctl("instance", "list", "-c", kit.connection_string(), "-o", "json", "--debug")
    assert r.returncode == 0, r.stderr
    assert r.stdout == kit.run_dtsctl("instance", "list", "-c", kit.connection_string(), "-o", "json").stdout
    assert [c.code for c in kit.front_calls][-1] == "OK"
    assert any(t.status == 200 for t in kit.token_requests)
    assert "authentication ManagedIdentity (from --connection-string)" in r.stderr
    assert "authorization: Bearer <redacted>" in r.stderr, r.stderr
    assert ("QueryInstances", "OK", 1) in _rpc_lines(r.stderr), r.stderr
    # Every token the kit issues is a JWT ("eyJ..."); its header part is the same for each one.
    jwt_header = kit.issuer.mint({"aud": "x"}).split(".")[0]
    assert "eyJ" not in r.stderr and jwt_header not in r.stderr
    assert kit.identity_header not in r.stderr  # the token endpoint's own secret, sent by azure-identity


def test_debug_shows_the_workers_calls_and_its_work_item_stream(engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    """`samples worker --debug` and `demo --debug`: the worker's interceptor only logs (no deadline, no
    retry: the SDK worker reconnects by itself)."""
    from dtsctl.sdk import client as sdk_client
    from support.wait import wait_until

    def messages() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "dtsctl.rpc"]

    with caplog.at_level("DEBUG", logger="dtsctl.rpc"):
        worker = sdk_client.create_worker(engine.address, tls=False, task_hub=new_hub(), credential=None)
        worker.start()
        try:
            wait_until(lambda: "rpc GetWorkItems: stream opened" in messages(), timeout=20, desc="the work-item stream")
        finally:
            worker.stop()
        wait_until(lambda: any(m.startswith("rpc GetWorkItems: stream ended") for m in messages()), timeout=20,
                   desc="the stream's end")
    assert any(m.startswith("rpc metadata sent: taskhub: ") and "workerid: " in m for m in messages()), messages()


def test_without_debug_the_interceptor_logs_nothing(engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    from dtsctl.sdk import client as sdk_client

    with caplog.at_level("INFO", logger="dtsctl.rpc"):
        client = sdk_client.create_client(engine.address, tls=False, task_hub=new_hub(), credential=None,
                                          timeout=5.0, max_receive_bytes=1 << 20)
        try:
            assert client.get_orchestration_state("nobody") is None
        finally:
            sdk_client.close(client)
    assert [r for r in caplog.records if r.name == "dtsctl.rpc"] == []


def test_doctor_debug_shows_its_raw_calls_with_a_redacted_authorization(azure_loop) -> None:
    """doctor's own gRPC calls (dtsctl.sdk.channel, no SDK) send the token they fetched themselves."""
    kit = azure_loop
    r = kit.run_dtsctl("doctor", "-c", kit.connection_string(), "--debug")
    assert ("Hello", "OK", 1) in _rpc_lines(r.stderr), r.stderr
    assert "authorization: Bearer <redacted>" in r.stderr, r.stderr
    jwt_header = kit.issuer.mint({"aud": "x"}).split(".")[0]
    assert "eyJ" not in r.stderr and jwt_header not in r.stderr
