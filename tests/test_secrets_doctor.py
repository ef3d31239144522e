"""`dtsctl doctor` never prints a token that Azure Resource Manager (or a gateway in front of it)
echoes in an error body (issue 8). ARM is the Azure-on-loopback kit's (tests/azureloop), made to
answer the scheduler lookup with a 500 whose message quotes the request's Authorization header;
dtsctl runs as a real process and gets its token from the kit's managed identity endpoint."""

from __future__ import annotations

import json
import re

import pytest

from azureloop.arm import ArmServer

pytestmark = pytest.mark.timeout(120)

# The kit's tokens are JWTs: three base64url parts, the first starting with eyJ ('{"').
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@pytest.fixture
def echoing_arm(monkeypatch: pytest.MonkeyPatch):
    """ARM answers every scheduler request with a 500 that echoes the caller's bearer token."""
    original = ArmServer.handle

    def handle(self, method, raw_path, headers):
        status, body, extra, rec = original(self, method, raw_path, headers)
        if "/schedulers" in raw_path.lower():
            status = 500
            body = {"error": {"code": "InternalServerError",
                              "message": f"Gateway failed to forward GET {raw_path} with headers "
                                         f"{{'Authorization': '{headers.get('authorization')}'}}"}}
        return status, body, extra, rec

    monkeypatch.setattr(ArmServer, "handle", handle)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_token_echoed_by_arm_is_not_printed(azure_loop, echoing_arm, fmt: str) -> None:
    r = azure_loop.run_dtsctl("doctor", "-o", fmt, "-c", azure_loop.connection_string(),
                              "--scheduler-id", azure_loop.scheduler_id)
    assert "Traceback" not in r.stderr, r.stderr
    assert not JWT.search(r.stdout + r.stderr), r.stdout
    if fmt == "json":
        arm = {c["id"]: c for c in json.loads(r.stdout)["checks"]}["arm.scheduler"]
        assert arm["status"] == "fail"
        assert "500" in arm["detail"] and "Bearer ***" in arm["detail"]  # the error is still told
    else:
        assert "Gateway failed to forward" in r.stdout
