"""`dtsctl doctor` against "Azure on loopback" (tests/azureloop): a TLS gRPC front enforcing tokens,
RBAC and the IP allowlist, a managed identity endpoint, and ARM — one scenario per row of the
troubleshooting table and per check. dtsctl runs as a subprocess; nothing leaves 127.0.0.1."""

from __future__ import annotations

import json
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

CONTRIBUTOR = "0ad04412-c4d5-4796-b79c-f76d14c8d402"


def doctor(kit, *args: str, **env: str) -> tuple[int, dict]:
    r = kit.run_dtsctl("doctor", "-o", "json", *args, **env)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, json.loads(r.stdout)


def checks(doc: dict) -> dict[str, dict]:
    return {c["id"]: c for c in doc["checks"]}


def no_escape(kit) -> None:
    assert kit.take_blocked() == [], "something tried to leave loopback"


def test_healthy_scheduler_with_system_assigned_identity(azure_loop) -> None:
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(), "--scheduler-id", azure_loop.scheduler_id)
    c = checks(doc)
    assert code == 0, json.dumps(doc, indent=1)
    for cid in ("config", "dns", "tcp", "tls", "credential", "grpc.hello", "grpc.taskhub", "arm.scheduler",
                "arm.ip-allowlist", "arm.rbac"):
        assert c[cid]["status"] == "pass", c[cid]
    assert c["emulator"]["status"] == "skip"
    identity = azure_loop.model.system_identity
    assert "system-assigned managed identity" in c["credential"]["detail"]
    assert identity.principal_id in c["credential"]["detail"]
    assert "Durable Task Data Contributor at the scheduler" in c["arm.rbac"]["detail"]
    # The token itself never appears.
    token = azure_loop.token()
    assert token not in json.dumps(doc)
    no_escape(azure_loop)


def test_scheduler_found_by_its_endpoint_without_flags(azure_loop) -> None:
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(),
                       "--subscription", azure_loop.model.subscription_id)
    assert code == 0 and checks(doc)["arm.scheduler"]["status"] == "pass"
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string())  # lists readable subscriptions
    assert code == 0 and "dts-loop" in checks(doc)["arm.scheduler"]["detail"]


def test_403_missing_rbac(azure_loop) -> None:
    azure_loop.model.remove_role_assignments()
    azure_loop.model.generic_denials = True  # the cause must come from ARM, not from the error text
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(), "--scheduler-id", azure_loop.scheduler_id)
    c = checks(doc)
    assert code == 1
    assert c["grpc.hello"]["status"] == "fail" and "PERMISSION_DENIED" in c["grpc.hello"]["detail"]
    assert c["arm.rbac"]["status"] == "fail"
    assert "az role assignment create" in c["arm.rbac"]["fix"] and CONTRIBUTOR in c["arm.rbac"]["fix"]
    assert azure_loop.scheduler_id in c["arm.rbac"]["fix"]
    assert "no Durable Task role" in c["grpc.hello"]["cause"]
    assert c["arm.ip-allowlist"]["status"] == "pass"


def test_403_empty_ip_allowlist_despite_rbac(azure_loop) -> None:
    azure_loop.model.scheduler.ip_allowlist = []
    azure_loop.model.generic_denials = True
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(), "--scheduler-id", azure_loop.scheduler_id)
    c = checks(doc)
    assert code == 1
    assert c["arm.ip-allowlist"]["status"] == "fail" and "empty" in c["arm.ip-allowlist"]["detail"]
    assert "az durabletask scheduler update" in c["arm.ip-allowlist"]["fix"]
    assert c["arm.rbac"]["status"] == "pass"
    assert "IP allowlist" in c["grpc.hello"]["cause"]


def test_caller_not_in_allowlist_and_open_allowlist(azure_loop) -> None:
    azure_loop.model.scheduler.ip_allowlist = ["10.1.0.0/16"]
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(), "--scheduler-id", azure_loop.scheduler_id)
    allow = checks(doc)["arm.ip-allowlist"]
    assert code == 1 and allow["status"] == "fail" and "127.0.0.1 is not in the allowlist" in allow["detail"]
    azure_loop.model.scheduler.ip_allowlist = ["0.0.0.0/0"]
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(), "--scheduler-id", azure_loop.scheduler_id)
    assert code == 0 and checks(doc)["arm.ip-allowlist"]["status"] == "warn"


def test_both_causes_listed_without_arm_access(azure_loop) -> None:
    model = azure_loop.model
    model.remove_role_assignments()
    model.arm_denied_principals.add(model.system_identity.principal_id)
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(), "--scheduler-id", azure_loop.scheduler_id)
    c = checks(doc)
    assert code == 1
    assert c["arm.scheduler"]["status"] == "skip" and "cannot read Azure Resource Manager" in c["arm.scheduler"]["detail"]
    hello = c["grpc.hello"]
    assert "IP allowlist" in hello["cause"] and "Durable Task role" in hello["cause"]
    assert "az role assignment create" in hello["fix"] and "--ip-allowlist" in hello["fix"]


def test_task_hub_not_found_lists_arm_hubs(azure_loop) -> None:
    azure_loop.model.add_task_hub("orders")
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(task_hub="order"),
                       "--scheduler-id", azure_loop.scheduler_id)
    c = checks(doc)
    hub = c["grpc.taskhub"]
    assert code == 1 and hub["status"] == "fail" and "NOT_FOUND" in hub["detail"]
    assert "TaskHub name mismatch or not provisioned" in hub["cause"] and "default, orders" in hub["cause"]
    assert "may still be propagating" in hub["cause"]
    assert "TaskHub=orders" in hub["fix"] and "az durabletask taskhub create" in hub["fix"]
    assert c["arm.scheduler"]["status"] == "warn"  # the hub is not provisioned


def test_user_assigned_identity_without_client_id(azure_loop) -> None:
    model = azure_loop.model
    worker = model.user_identity("id-dtsctl-worker")
    model.remove_role_assignments()
    model.assign_role(worker.principal_id, CONTRIBUTOR)
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(), "--scheduler-id", azure_loop.scheduler_id,
                       AZURE_CLIENT_ID=worker.client_id)
    cred = checks(doc)["credential"]
    assert code == 1 and cred["status"] == "fail"
    assert f"ClientID={worker.client_id}" in cred["fix"] and "system-assigned" in cred["cause"]
    # With ClientID, the user-assigned identity is used and everything passes.
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(client_id=worker.client_id),
                       "--scheduler-id", azure_loop.scheduler_id, AZURE_CLIENT_ID=worker.client_id)
    c = checks(doc)
    assert code == 0, json.dumps(doc, indent=1)
    assert "user-assigned managed identity 'id-dtsctl-worker'" in c["credential"]["detail"]
    assert any(r.client_id == worker.client_id for r in azure_loop.token_requests)


def test_unknown_client_id_cannot_get_a_token(azure_loop) -> None:
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(client_id="11111111-2222-4333-8444-555555555555"))
    c = checks(doc)
    assert code == 1 and c["credential"]["status"] == "fail"
    assert c["grpc.hello"]["status"] == "skip"


def test_expired_token(azure_loop) -> None:
    azure_loop.model.fault_token(expired=True)
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string())
    cred = checks(doc)["credential"]
    assert code == 1 and cred["status"] == "fail" and "expired" in cred["detail"]


def test_wrong_audience(azure_loop) -> None:
    azure_loop.model.fault_token(audience="https://management.azure.com")
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string())
    cred = checks(doc)["credential"]
    assert code == 1 and cred["status"] == "fail" and "audience" in cred["cause"]


def test_role_assigned_minutes_ago_may_still_be_propagating(azure_loop) -> None:
    model = azure_loop.model
    model.remove_role_assignments()
    model.assign_role(model.system_identity.principal_id, CONTRIBUTOR, age=timedelta(minutes=2), propagated=False)
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(), "--scheduler-id", azure_loop.scheduler_id)
    c = checks(doc)
    assert code == 1
    assert c["arm.rbac"]["status"] == "warn" and "assigned 2 min ago" in c["arm.rbac"]["detail"]
    assert "10 minutes" in c["grpc.hello"]["cause"]


def test_authentication_none_against_a_scheduler(azure_loop) -> None:
    cs = f"Endpoint={azure_loop.endpoint};Authentication=None;TaskHub=default"
    code, doc = doctor(azure_loop, "-c", cs)
    c = checks(doc)
    assert code == 1 and c["grpc.hello"]["status"] == "fail" and "UNAUTHENTICATED" in c["grpc.hello"]["detail"]
    assert "no token" in c["grpc.hello"]["cause"]


def _fake_az(tmp_path: Path, token: str) -> str:
    """An `az` that prints a token as 'az account get-access-token -o json' does (offline)."""
    script = tmp_path / "bin" / "az"
    script.parent.mkdir()
    body = json.dumps({"accessToken": token, "expiresOn": "2099-01-01 00:00:00.000000", "expires_on": 4070908800,
                       "subscription": "s", "tenant": "t", "tokenType": "Bearer"})
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{body}\nEOF\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return f"{script.parent}{os.pathsep}{os.environ.get('PATH', '')}"


def test_dashboard_403_for_the_signed_in_user(azure_loop, tmp_path: Path) -> None:
    model = azure_loop.model
    user = model.add_user_identity("dev-user")
    claims = azure_loop.issuer.claims_for(user, "https://management.azure.com", tenant_id=model.tenant_id)
    claims.update({"idtyp": "user", "upn": "dev@contoso.example"})
    claims.pop("xms_mirid", None)
    path = _fake_az(tmp_path, azure_loop.issuer.mint(claims))
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(), "--scheduler-id", azure_loop.scheduler_id,
                       "--dashboard", PATH=path)
    dash = checks(doc)["dashboard"]
    assert code == 1 and dash["status"] == "fail"
    assert "dev@contoso.example" in dash["detail"] and "az role assignment create" in dash["fix"]
    assert "not only" in dash["cause"] or "not enough" in dash["cause"]
    model.assign_role(user.principal_id, CONTRIBUTOR, principal_type="User")
    code, doc = doctor(azure_loop, "-c", azure_loop.connection_string(), "--scheduler-id", azure_loop.scheduler_id,
                       "--dashboard", PATH=path)
    assert code == 0 and checks(doc)["dashboard"]["status"] == "pass"


def test_untrusted_certificate(azure_loop) -> None:
    env = azure_loop.env()
    for name in ("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        env.pop(name, None)
    r = azure_loop.run_dtsctl("doctor", "-o", "json", "-c", azure_loop.connection_string(), env=env)
    tls = checks(json.loads(r.stdout))["tls"]
    assert r.returncode == 1 and tls["status"] == "fail" and "not trusted" in tls["detail"]
    assert "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH" in tls["fix"]
    assert checks(json.loads(r.stdout))["grpc.hello"]["status"] == "skip"


def test_dns_failure_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that does not resolve (no real DNS query is made: the resolver is replaced)."""
    import socket

    from dtsctl.config.target import TargetArgs, resolve
    from dtsctl.doctor.context import Context, Options
    from dtsctl.doctor.network import check_dns

    def unknown(*_a, **_k):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    target = resolve(TargetArgs(connection_string="Endpoint=https://sched-abcd.westus2.durabletask.io;"
                                                  "Authentication=ManagedIdentity;TaskHub=h"),
                     {"DTSCTL_CONFIG": "/nonexistent/dtsctl-test/config.toml"})
    outcome = check_dns(Context(target=target, options=Options(), env={}))
    assert outcome.status == "fail" and "does not resolve" in outcome.detail
    assert "az durabletask scheduler show" in outcome.fix
