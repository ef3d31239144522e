"""`dtsctl dashboard` for a scheduler in Azure, against the Azure stand-in (tests/azureloop: dtsctl's
local engine behind a TLS gRPC front that lets a call through only with a valid Entra token, minted
by a loopback token server for azure-identity's real ManagedIdentityCredential): the dashboard works
as the user's own identity, and no answer it gives the browser carries the token or the token
endpoint's secret."""

from __future__ import annotations

import json

import pytest

from support.dashboard import request
from dtsctl.config.target import TargetArgs, resolve
from dtsctl.dashboard.backend import GrpcBackend
from dtsctl.dashboard.server import DashboardServer

pytestmark = pytest.mark.timeout(60)


def test_the_dashboard_works_as_the_user_and_never_hands_the_browser_a_token(azure_loop) -> None:
    kit = azure_loop
    server = DashboardServer(GrpcBackend(resolve(TargetArgs(connection_string=kit.connection_string())))).start()
    host = f"127.0.0.1:{server.port}"
    answers = []

    def call(method: str, path: str, body=None):
        headers = {"x-dtsctl-token": server.token} if method == "POST" else {}
        answer = request(server.port, method, path, host=host, headers=headers,
                         data=json.dumps(body).encode() if body is not None else None)
        answers.append(answer)
        return answer

    try:
        ping = call("GET", "/v1/taskhubs/ping")
        assert ping.status == 200 and ping.json()["engine"] == "azure" and ping.json()["endpoint"] == kit.endpoint
        made = call("POST", "/v1/taskhubs/orchestrations", {"name": "nothing_hosts_this", "instanceId": "az-1",
                                                             "input": '{"k": 1}'})
        assert made.status == 201, made.raw
        listed = call("POST", "/v1/taskhubs/orchestrations/query", {"filter": {"orchestrationId": "az-"}})
        assert listed.status == 200 and [o["instanceId"] for o in listed.json()["orchestrations"]] == ["az-1"]
        assert call("GET", "/v1/taskhubs/orchestrations/az-1/payloads").json()["input"] == '{"k": 1}'
        page = call("GET", "/")
        assert page.status == 200 and server.token in page.raw.decode()  # the page's own token, nothing else
    finally:
        server.stop()
    # The calls went through the front as the token server's identity (the front refuses any other).
    assert kit.front_calls and all(c.code == "OK" for c in kit.front_calls[-3:])
    assert any(t.status == 200 for t in kit.token_requests)
    jwt_header = kit.issuer.mint({"aud": "x"}).split(".")[0]
    for answer in answers:
        seen = answer.raw.decode(errors="replace") + json.dumps(answer.headers)
        assert "eyJ" not in seen and jwt_header not in seen and kit.identity_header not in seen
        assert "authorization" not in {k.lower() for k in answer.headers}
