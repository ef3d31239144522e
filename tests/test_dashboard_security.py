"""The dashboard server's security rules (docs/dashboard-api.md, "Security"), against dtsctl's local
engine in this process with a real SDK worker: only its own Host, no foreign Origin, a token for
every change (and nothing changed without it), no way out of static/, payloads never markup, the
headers on every answer, and no token in its log."""

from __future__ import annotations

import http.client
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from durabletask import task
from durabletask.azuremanaged.client import DurableTaskSchedulerClient
from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

from support.dashboard import Answer, request
from support.wait import wait_until
from dtsctl.config.target import TargetArgs, resolve
from dtsctl.dashboard.backend import Backend, GrpcBackend
from dtsctl.dashboard.server import STATIC_DIR, DashboardServer
from dtsctl.emulator.local.server import LocalServerConfig, serve

pytestmark = pytest.mark.timeout(60)

HUB = "guarded"
SCRIPT = "<script>alert(1)</script>"


def waiter(ctx: task.OrchestrationContext, _):
    return (yield ctx.wait_for_external_event("go"))


@dataclass
class Guarded:
    server: DashboardServer
    client: DurableTaskSchedulerClient

    @property
    def own(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def send(self, method: str, path: str, *, headers: dict[str, str] | None = None, body: Any = None,
             host: str | None = None) -> Answer:
        """A raw request: the path is sent exactly as given (no client-side normalising)."""
        data = json.dumps(body).encode() if body is not None else None
        return request(self.server.port, method, path, host=host if host is not None else self.own,
                       headers=headers, data=data, timeout=20)

    def status(self, instance_id: str) -> str | None:
        state = self.client.get_orchestration_state(instance_id, fetch_payloads=False)
        return state.runtime_status.name if state else None

    def running_waiter(self, **kwargs: Any) -> str:
        iid = f"sec-{uuid.uuid4().hex[:8]}"
        self.client.schedule_new_orchestration(waiter, instance_id=iid, **kwargs)
        wait_until(lambda: self.status(iid) == "RUNNING", timeout=20, interval=0.05, desc="a running waiter")
        return iid


@pytest.fixture(scope="module")
def guarded():
    engine = serve(LocalServerConfig(port=0, health_port=-1, task_hubs=(HUB,)))
    worker = DurableTaskSchedulerWorker(host_address=engine.address, secure_channel=False, taskhub=HUB,
                                        token_credential=None)
    worker.add_orchestrator(waiter)
    client = DurableTaskSchedulerClient(host_address=engine.address, secure_channel=False, taskhub=HUB,
                                        token_credential=None)
    worker.start()
    target = resolve(TargetArgs(connection_string=f"Endpoint=http://{engine.address};Authentication=None;TaskHub={HUB}"),
                     env={})
    server = DashboardServer(GrpcBackend(target), port=0).start()
    try:
        yield Guarded(server, client)
    finally:
        server.stop()
        worker.stop()
        client.close()
        engine.stop(0)


# ----------------------------------------------------------------------------------------- Host

@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1", "127.0.0.1:1",
                                  "localhost:{other}", "127.0.0.2:{port}", "0.0.0.0:{port}", "",
                                  "127.0.0.1:{port}.evil.example", "localhost.:{port}"])
def test_a_foreign_host_is_refused(guarded: Guarded, host: str) -> None:
    port = guarded.server.port
    r = guarded.send("GET", "/v1/taskhubs/ping", host=host.format(port=port, other=port + 1))
    assert r.status == 403, host
    assert r.json()["code"] == "forbidden" and "its own address" in r.json()["error"]
    page = guarded.send("GET", "/", host=host.format(port=port, other=port + 1))
    assert page.status == 403 and guarded.server.token.encode() not in page.raw


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"])
def test_its_own_names_are_answered(guarded: Guarded, host: str) -> None:
    r = guarded.send("GET", "/v1/taskhubs/ping", host=host.format(port=guarded.server.port))
    assert r.status == 200 and r.json()["ok"] is True


def test_more_names_can_be_allowed_for_a_server_bound_wider() -> None:
    server = DashboardServer(Backend(), port=0, allowed_hosts=("devbox",)).start()
    try:
        probe = Guarded(server, None)  # type: ignore[arg-type]
        for host, status in (("devbox:{port}", 404), ("DevBox:{port}", 404), ("devbox", 403), ("other:{port}", 403)):
            r = probe.send("GET", "/nothing", host=host.format(port=server.port))
            assert r.status == status, host
    finally:
        server.stop()


# --------------------------------------------------------------------------------------- Origin

@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost:{port}", "https://127.0.0.1:{port}",
                                    "http://127.0.0.1:{other}"])
def test_a_foreign_origin_is_refused_for_reads_and_writes(guarded: Guarded, origin: str) -> None:
    port = guarded.server.port
    value = origin.format(port=port, other=port + 1)  # localhost:port is foreign to a page of 127.0.0.1:port
    iid = guarded.running_waiter()
    read = guarded.send("GET", f"/v1/taskhubs/orchestrations/{iid}", headers={"Origin": value})
    assert read.status == 403 and read.json()["code"] == "forbidden"
    write = guarded.send("POST", f"/v1/taskhubs/orchestrations/{iid}/history", body={"type": "terminate"},
                         headers={"Origin": value, "x-dtsctl-token": guarded.server.token})
    assert write.status == 403 and guarded.status(iid) == "RUNNING"
    assert "access-control-allow-origin" not in {k for k in write.headers}
    guarded.client.terminate_orchestration(iid)


def test_its_own_origin_is_answered_and_a_cross_site_fetch_is_not(guarded: Guarded) -> None:
    own = f"http://{guarded.own}"
    assert guarded.send("GET", "/v1/taskhubs/ping", headers={"Origin": own}).status == 200
    r = guarded.send("GET", "/v1/taskhubs/ping", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status == 403


# ---------------------------------------------------------------------------------------- token

@pytest.mark.parametrize("token", [None, "", "wrong", "{token}x"])
def test_a_change_without_the_token_is_refused_and_changes_nothing(guarded: Guarded, token: str | None) -> None:
    iid = guarded.running_waiter()
    headers = {} if token is None else {"x-dtsctl-token": token.format(token=guarded.server.token)}
    for path, body in ((f"/v1/taskhubs/orchestrations/{iid}/history", {"type": "terminate"}),
                       (f"/v1/taskhubs/orchestrations/{iid}/history", {"type": "suspend"}),
                       ("/v1/taskhubs/orchestrations/bulk", {"action": "terminate", "instanceIds": [iid], "dryRun": False}),
                       ("/v1/taskhubs/orchestrations", {"name": "waiter", "instanceId": f"{iid}-new"})):
        r = guarded.send("POST", path, headers=headers, body=body)
        assert r.status == 403, path
        assert r.json()["code"] == "forbidden" and "token" in r.json()["error"]
    assert guarded.send("DELETE", f"/v1/taskhubs/orchestrations/{iid}", headers=headers).status == 403
    assert guarded.status(iid) == "RUNNING" and guarded.status(f"{iid}-new") is None
    ok = guarded.send("POST", f"/v1/taskhubs/orchestrations/{iid}/history", body={"type": "terminate"},
                      headers={"x-dtsctl-token": guarded.server.token})
    assert ok.status == 200
    wait_until(lambda: guarded.status(iid) == "TERMINATED", timeout=20, desc="terminated with the token")


def test_the_page_carries_the_token_and_a_strict_policy(guarded: Guarded) -> None:
    r = guarded.send("GET", "/")
    assert r.status == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    page = r.raw.decode()
    assert f'<meta name="dtsctl-token" content="{guarded.server.token}">' in page
    assert page.count("dtsctl-token") == 1
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    other = DashboardServer(Backend(), port=0)  # not started: only its token is read
    try:
        assert other.token != guarded.server.token and len(other.token) >= 32  # one per server run
    finally:
        other.stop()


# ---------------------------------------------------------------------------------- static files

@pytest.mark.parametrize("path", ["/../server.py", "/..%2fserver.py", "/%2e%2e/server.py", "/%2E%2E%2Fapi.py",
                                  "/static/../server.py", "//etc/passwd", "/..\\server.py", "/%5c..%5cserver.py",
                                  "/./../backend.py", "/.hidden", "/%00index.html", "/index.html%00.js",
                                  "/../../../../../../etc/passwd", "/static", "/nothing.js"])
def test_no_path_leaves_the_static_folder(guarded: Guarded, path: str) -> None:
    r = guarded.send("GET", path)
    assert r.status == 404, path
    assert b"import" not in r.raw and b"root:" not in r.raw


def test_static_files_are_served_with_their_types(guarded: Guarded, tmp_path: Path) -> None:
    r = guarded.send("GET", "/app.js")
    assert r.status == 200 and r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.raw == (STATIC_DIR / "app.js").read_bytes()
    (tmp_path / "app.css").write_text("body { color: red; }\n")
    (tmp_path / "index.html").write_text("<html><head><title>x</title></head><body></body></html>\n")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "icon.svg").write_text("<svg/>")
    (tmp_path / "escape.js").symlink_to(Path(__file__))
    other = DashboardServer(Backend(), port=0, static_dir=tmp_path).start()  # only the page is asked for
    try:
        probe = Guarded(other, guarded.client)
        css = probe.send("GET", "/app.css")
        assert (css.status, css.headers["content-type"], css.raw) == (200, "text/css; charset=utf-8",
                                                                      b"body { color: red; }\n")
        assert probe.send("GET", "/blob.bin").headers["content-type"] == "application/octet-stream"
        assert probe.send("GET", "/sub/icon.svg").headers["content-type"] == "image/svg+xml"
        assert probe.send("GET", "/sub").status == 404
        assert probe.send("GET", "/escape.js").status == 404  # a symlink out of the folder
        page = probe.send("GET", "/").raw.decode()  # a page without the meta tag gets one in <head>
        assert page.startswith(f'<html><head><meta name="dtsctl-token" content="{other.token}">')
        assert probe.send("HEAD", "/app.css").raw == b""
        assert probe.send("POST", "/app.css", headers={"x-dtsctl-token": other.token}).status == 405
    finally:
        other.stop()


# ------------------------------------------------------------------------- payloads, headers, log

def test_a_script_payload_comes_back_escaped_json_never_markup(guarded: Guarded) -> None:
    iid = guarded.running_waiter(input=SCRIPT, tags={"note": SCRIPT})
    state = guarded.client.get_orchestration_state(iid, fetch_payloads=True)
    for path in (f"/v1/taskhubs/orchestrations/{iid}/payloads", f"/v1/taskhubs/orchestrations/{iid}"):
        r = guarded.send("GET", path)
        assert r.status == 200
        assert r.headers["content-type"] == "application/json; charset=utf-8"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert b"<" not in r.raw and b">" not in r.raw  # escaped as \u003c, \u003e
    payloads = guarded.send("GET", f"/v1/taskhubs/orchestrations/{iid}/payloads").json()
    assert payloads["input"] == state.serialized_input and json.loads(payloads["input"]) == SCRIPT
    assert guarded.send("GET", f"/v1/taskhubs/orchestrations/{iid}").json()["tags"] == {"note": SCRIPT}
    # An error that echoes what was asked for is JSON as well.
    missing = guarded.send("GET", f"/v1/taskhubs/orchestrations/{SCRIPT.replace('/', '%2F')}")
    assert missing.status == 404 and b"<" not in missing.raw and SCRIPT in missing.json()["error"]
    guarded.client.terminate_orchestration(iid)


@pytest.mark.parametrize("path", ["/v1/taskhubs/ping", "/v1/taskhubs/nothing", "/", "/nothing"])
def test_every_answer_carries_the_headers(guarded: Guarded, path: str) -> None:
    r = guarded.send("GET", path)
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    refused = guarded.send("GET", path, host="evil.example")
    assert refused.headers["cache-control"] == "no-store" and refused.headers["x-content-type-options"] == "nosniff"


def test_requests_are_logged_at_debug_without_the_token(guarded: Guarded, caplog: pytest.LogCaptureFixture) -> None:
    iid = guarded.running_waiter()
    with caplog.at_level(logging.DEBUG, logger="dtsctl.dashboard"):
        guarded.send("GET", "/")
        guarded.send("POST", f"/v1/taskhubs/orchestrations/{iid}/history", body={"type": "suspend"},
                     headers={"x-dtsctl-token": guarded.server.token})
        guarded.send("POST", f"/v1/taskhubs/orchestrations/{iid}/history", body={"type": "resume"},
                     headers={"x-dtsctl-token": "wrong-token"})
    lines = [r.getMessage() for r in caplog.records if r.name == "dtsctl.dashboard"]
    assert any(f"/v1/taskhubs/orchestrations/{iid}/history -> 200" in line for line in lines)
    assert any("-> 403" in line for line in lines)
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == "dtsctl.dashboard")
    assert not any(guarded.server.token in line or "wrong-token" in line for line in lines)
    guarded.client.terminate_orchestration(iid)


def test_an_oversized_or_chunked_body_is_refused(guarded: Guarded) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", guarded.server.port, timeout=20)
    try:
        conn.putrequest("POST", "/v1/taskhubs/orchestrations/query", skip_host=True)
        conn.putheader("Host", guarded.own)
        conn.putheader("x-dtsctl-token", guarded.server.token)
        conn.putheader("Content-Length", str(10**12))
        conn.endheaders()
        r = conn.getresponse()
        assert r.status == 413 and json.loads(r.read())["code"] == "bad-request"
    finally:
        conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", guarded.server.port, timeout=20)
    try:  # the answer comes after the headers; the body is never read
        conn.putrequest("POST", "/v1/taskhubs/orchestrations/query", skip_host=True)
        conn.putheader("Host", guarded.own)
        conn.putheader("x-dtsctl-token", guarded.server.token)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        r = conn.getresponse()
        assert r.status == 411 and r.getheader("Connection") == "close"
    finally:
        conn.close()
