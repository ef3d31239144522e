"""Which values of a connection string the validator calls secret (`Validation.secrets`), the ones
every printer of dtsctl masks afterwards (issue 8), and the findings that no longer echo them."""

from __future__ import annotations

import json

import pytest

from dtsctl.connection import validate
from dtsctl.redact import forget_secrets

CLIENT_SECRET = "abc8Q~Zk1Yq2Wx3Vu4Ts5Rq6Po7Nm8Lk9Jh0Gf1Ed"
BASE = "Endpoint=http://localhost:8080;Authentication=None"


@pytest.fixture(autouse=True)
def fresh_registry():
    forget_secrets()
    yield
    forget_secrets()


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f'{BASE};TaskHub=h1x;Password="secret pass phrase"', "secret pass phrase"),
        (f"{BASE};TaskHub=h1x;Password=secret pass phrase", "secret pass phrase"),
        ("Endpoint=http://admin:hunter2@localhost:8080;Authentication=None;TaskHub=h1x", "hunter2"),
        ("Endpoint=https://ghp0123456789abcdefghij@host.example;Authentication=None", "ghp0123456789abcdefghij"),
        (f"{BASE};TaskHub={CLIENT_SECRET}", CLIENT_SECRET),
        (f"{BASE};TaskHub=h1x;ClientID={CLIENT_SECRET}", CLIENT_SECRET),
        (f"{BASE};TaskHub=h1x;TenantId={CLIENT_SECRET}", CLIENT_SECRET),
        (f"{BASE};TaskHub=h1x;TokenFilePath={CLIENT_SECRET}", CLIENT_SECRET),
        (f"Endpoint={CLIENT_SECRET};Authentication=None;TaskHub=h1x", CLIENT_SECRET),
        (f"{BASE};TaskHub=h1x;Credential=mycred123", "mycred123"),
        (f"{BASE};TaskHub=h1x;Auth=mycred123", "mycred123"),
        (f"{BASE};TaskHub=h1x;Pass=mycred123", "mycred123"),
        (f"{BASE};TaskHub=h1x;Url=http://u:pw0rd99@host", "pw0rd99"),
        (f"{BASE};TaskHub=h1x;{CLIENT_SECRET}", CLIENT_SECRET),  # pasted without a key
        ("http://admin:hunter2@localhost:8080", "hunter2"),  # a bare URL
    ],
)
def test_secret_found_and_not_echoed(text: str, secret: str) -> None:
    v = validate(text)
    assert secret in v.secrets
    assert secret not in json.dumps(v.to_dict(), ensure_ascii=False)


def test_secret_in_the_task_hub_option() -> None:
    v = validate(BASE, task_hub=CLIENT_SECRET, task_hub_source="--task-hub")
    assert CLIENT_SECRET in v.secrets


@pytest.mark.parametrize(
    "text",
    [
        f"{BASE};TaskHub=OrdersProcessingHub2025",
        "Endpoint=https://myscheduler-b6fbdmcmhcfr.westus2.durabletask.io;Authentication=ManagedIdentity;"
        "TaskHub=orders;ClientID=6f1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b;TenantId=contoso.onmicrosoft.com",
        f"{BASE};Hub=orders;Auth=ManagedIdentity;Url=http://localhost:8080;TokenPath=/var/run/token",
        "Endpoint=https://myscheduler-b6fbdmcmhcfr.westus2.durabletask.io;Authentication=DefaultAzure;Region=westus2",
        f"{BASE};TaskHub=default;Foo=None",
    ],
)
def test_public_values_are_not_secrets(text: str) -> None:
    assert validate(text).secrets == ()


def test_unknown_key_fix_keeps_a_public_value_and_hides_a_secret() -> None:
    fixes = {f.key: f.fix for f in validate(f"{BASE};TaskHub=h1x;Auth=ManagedIdentity").findings if f.code == "unknown-key"}
    assert fixes == {"Authentication": "Rename it: Authentication=ManagedIdentity"}
    forget_secrets()
    fixes = {f.key: f.fix for f in validate(f"{BASE};TaskHub=h1x;Credential=mycred123").findings if f.code == "unknown-key"}
    assert fixes == {"Authentication": "Rename it: Authentication=<redacted>"}
