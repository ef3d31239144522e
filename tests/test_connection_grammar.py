"""Grammar, fields, build and the public shape of dtsctl.connection."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dtsctl.connection import (
    AUTH_VALUES,
    CANONICAL_KEYS,
    EMULATOR_CONNECTION_STRING,
    ConnectionFields,
    ConnectionStringError,
    Finding,
    Validation,
    build,
    parse,
    validate,
)
from dtsctl.errors import ExitCode, InvalidInput

GUID = "6f1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b"
AZURE = f"Endpoint=https://myscheduler-b6fbdmcmhcfr.westus2.durabletask.io;Authentication=ManagedIdentity;ClientID={GUID};TaskHub=orders"


# --- parse ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EMULATOR_CONNECTION_STRING, {"Endpoint": "http://localhost:8080", "Authentication": "None", "TaskHub": "default"}),
        ("endpoint=http://x:8080;AUTHENTICATION=none;taskhub=a", {"Endpoint": "http://x:8080", "Authentication": "none", "TaskHub": "a"}),
        ("  Endpoint = http://x:8080 ;  TaskHub =  a  ", {"Endpoint": "http://x:8080", "TaskHub": "a"}),
        (";;Endpoint=http://x:8080;;TaskHub=a;", {"Endpoint": "http://x:8080", "TaskHub": "a"}),
        ("TaskHub=a=b", {"TaskHub": "a=b"}),  # the first '=' splits key from value
        ("TaskHub=a;taskhub=b", {"TaskHub": "b"}),  # last value wins
        ("TaskHub=a;Foo=bar", {"TaskHub": "a"}),  # unknown keys are not returned
        ("Endpoint=", {"Endpoint": ""}),
        ('TaskHub="quoted"', {"TaskHub": "quoted"}),
        ("'TaskHub=a;Endpoint=b'", {"TaskHub": "a", "Endpoint": "b"}),
        ('X_CONN="TaskHub=a"', {"TaskHub": "a"}),
        (
            f"AdditionallyAllowedTenants=a,b;TokenFilePath=/t;TenantId=t;ClientId={GUID}",
            {"ClientID": GUID, "TenantId": "t", "TokenFilePath": "/t", "AdditionallyAllowedTenants": "a,b"},
        ),
    ],
)
def test_parse(text: str, expected: dict[str, str]) -> None:
    assert parse(text) == expected


def test_parse_returns_keys_in_canonical_order() -> None:
    assert list(parse("TaskHub=a;Authentication=None;Endpoint=http://x:1")) == ["Endpoint", "Authentication", "TaskHub"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ('""', "empty"),
        ("https://x.westus2.durabletask.io", "not-a-connection-string"),
        ("localhost:8080", "not-a-connection-string"),
        ("just some words", "not-a-connection-string"),
        ("a;b;c", "not-a-connection-string"),
        ("https://dashboard.durabletask.io/?endpoint=https%3A%2F%2Fx&taskhub=y", "not-a-connection-string"),
    ],
)
def test_parse_raises_on_unparseable(text: str, code: str) -> None:
    with pytest.raises(ConnectionStringError) as info:
        parse(text)
    err = info.value
    assert isinstance(err, InvalidInput)
    assert err.exit_code == ExitCode.USAGE
    assert [f.code for f in err.findings] == [code]
    assert err.message == err.findings[0].message
    assert err.hint == err.findings[0].fix
    v = validate(text)
    assert v.fields is None and not v.valid and code in [f.code for f in v.findings]


def test_parse_does_not_raise_for_partial_strings() -> None:
    assert parse("oops;TaskHub=a") == {"TaskHub": "a"}


# --- golden cases and JSON shape ---------------------------------------------------------------


def test_emulator_string_is_valid_without_findings() -> None:
    v = validate(EMULATOR_CONNECTION_STRING)
    assert v.valid and v.findings == ()
    assert v.fields == ConnectionFields(
        endpoint="http://localhost:8080",
        host="localhost",
        port=8080,
        tls=False,
        authentication="None",
        task_hub="default",
    )


def test_azure_string_is_valid_and_names_scheduler_and_region() -> None:
    v = validate(AZURE)
    assert v.valid and v.findings == ()
    f = v.fields
    assert f is not None
    assert f.endpoint == "https://myscheduler-b6fbdmcmhcfr.westus2.durabletask.io"
    assert (f.host, f.port, f.tls) == ("myscheduler-b6fbdmcmhcfr.westus2.durabletask.io", 443, True)
    assert (f.scheduler, f.region) == ("myscheduler", "westus2")
    assert (f.authentication, f.client_id, f.task_hub) == ("ManagedIdentity", GUID, "orders")


def test_validation_to_dict_shape() -> None:
    d = validate("Endpoint=http://localhost:8080;Authentication=none;TaskHub=default;Foo=1").to_dict()
    assert set(d) == {"valid", "findings", "parsed"}
    assert d["valid"] is True
    assert set(d["parsed"]) == {
        "endpoint", "host", "port", "tls", "authentication", "task_hub", "client_id", "tenant_id", "scheduler", "region",
    }  # fmt: skip
    assert d["parsed"]["authentication"] == "None"  # canonical spelling
    assert d["findings"] and all(set(f) == {"code", "severity", "key", "message", "fix"} for f in d["findings"])
    json.dumps(d)
    assert validate("").to_dict() == {"valid": False, "findings": [validate("").findings[0].to_dict()], "parsed": None}


def test_findings_are_ordered_errors_warnings_info() -> None:
    v = validate("Endpoint=localhost:8080;Authentication=Foo;Bar=1;Authentication=Baz")
    order = {"error": 0, "warning": 1, "info": 2}
    ranks = [order[f.severity] for f in v.findings]
    assert ranks == sorted(ranks) and set(ranks) == {0, 1, 2}
    assert v.errors and v.warnings and all(f.severity == "error" for f in v.errors)
    assert v.valid is False


def test_finding_and_validation_are_frozen() -> None:
    f = Finding("x", "info", None, "m", None)
    with pytest.raises(AttributeError):
        f.code = "y"  # type: ignore[misc]
    v = Validation(True, (f,), None)
    assert v.to_dict()["findings"] == [{"code": "x", "severity": "info", "key": None, "message": "m", "fix": None}]


# --- fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "normalised", "host", "port", "tls"),
    [
        ("http://localhost:8080", "http://localhost:8080", "localhost", 8080, False),
        ("HTTP://LocalHost:8080/", "http://localhost:8080", "localhost", 8080, False),
        ("http://[::1]:8080", "http://[::1]:8080", "::1", 8080, False),
        ("http://127.0.0.1", "http://127.0.0.1", "127.0.0.1", 443, False),  # gRPC's default port
        ("https://a-b.eastus.durabletask.io", "https://a-b.eastus.durabletask.io", "a-b.eastus.durabletask.io", 443, True),
        ("x-abcd.eastus.durabletask.io", "https://x-abcd.eastus.durabletask.io", "x-abcd.eastus.durabletask.io", 443, True),
        ("https://x-abcd.eastus.durabletask.io:8443", "https://x-abcd.eastus.durabletask.io:8443", "x-abcd.eastus.durabletask.io", 8443, True),
        ("http://localhost:8080/api", None, "localhost", 8080, False),
        ("grpc://localhost:8080", None, "localhost", 8080, None),
        ("http://localhost:99999", None, "localhost", None, None),
    ],
)
def test_endpoint_fields(endpoint: str, normalised: str | None, host: str, port: int | None, tls: bool | None) -> None:
    f = validate(f"Endpoint={endpoint};Authentication=None;TaskHub=default").fields
    assert f is not None
    assert (f.endpoint, f.host, f.port, f.tls) == (normalised, host, port, tls)


@pytest.mark.parametrize(
    ("host", "scheduler", "region"),
    [
        ("myscheduler-b6fbdmcmhcfr.westus2.durabletask.io", "myscheduler", "westus2"),
        ("my-sched-abcd.eastus.durabletask.io", "my-sched", "eastus"),
        ("MY-SCHED-ABCD.EASTUS.DURABLETASK.IO", "my-sched", "eastus"),
        ("myscheduler.westus2.durabletask.io", None, None),
        ("ab-cd.westus2.durabletask.io", None, None),  # scheduler names have 3 to 64 characters
        ("x-y.z.example.com", None, None),
    ],
)
def test_azure_shape(host: str, scheduler: str | None, region: str | None) -> None:
    f = validate(f"Endpoint=https://{host};Authentication=DefaultAzure;TaskHub=a-hub").fields
    assert f is not None and (f.scheduler, f.region) == (scheduler, region)


def test_task_hub_argument_wins_and_is_in_fields() -> None:
    f = validate("Endpoint=http://localhost:8080;Authentication=None;TaskHub=a-hub", task_hub="b-hub").fields
    assert f is not None and f.task_hub == "b-hub"
    f = validate("Endpoint=http://localhost:8080;Authentication=None", task_hub="  b-hub ").fields
    assert f is not None and f.task_hub == "b-hub"


def test_identity_fields() -> None:
    text = (
        f"Endpoint=https://a-bcd.westus.durabletask.io;Authentication=workloadidentity;ClientID={GUID};"
        f"TenantId={GUID};TokenFilePath=/var/token;AdditionallyAllowedTenants= {GUID} , *,"
    )
    f = validate(text).fields
    assert f is not None
    assert f.authentication == "WorkloadIdentity"
    assert (f.client_id, f.tenant_id, f.token_file_path) == (GUID, GUID, "/var/token")
    assert f.additionally_allowed_tenants == (GUID, "*")


# --- build ------------------------------------------------------------------------------------


def test_build_emulator() -> None:
    assert build(endpoint="http://localhost:8080/", authentication="none", task_hub="default") == EMULATOR_CONNECTION_STRING


def test_build_all_keys_in_order_and_round_trips() -> None:
    s = build(
        endpoint=" https://a-bcd.westus.durabletask.io ",
        authentication="WORKLOADIDENTITY",
        task_hub="orders",
        client_id=GUID,
        tenant_id=GUID,
        token_file_path="/var/token",
        additionally_allowed_tenants=[GUID, " * ", ""],
    )
    assert s == (
        f"Endpoint=https://a-bcd.westus.durabletask.io;Authentication=WorkloadIdentity;TaskHub=orders;"
        f"ClientID={GUID};TenantId={GUID};TokenFilePath=/var/token;AdditionallyAllowedTenants={GUID},*"
    )
    assert list(parse(s)) == list(CANONICAL_KEYS)
    assert validate(s, env={}).valid


def test_build_omits_empty_optionals_and_keeps_unknown_auth() -> None:
    assert build(endpoint="http://x:1", authentication="Magic", client_id="", task_hub=None) == "Endpoint=http://x:1;Authentication=Magic"


def test_build_rejects_values_with_separators() -> None:
    with pytest.raises(ConnectionStringError) as info:
        build(endpoint="http://localhost:8080", authentication="None", task_hub="a;b")
    assert info.value.findings[0].code == "value-not-representable"
    assert info.value.findings[0].key == "TaskHub"


@pytest.mark.parametrize("auth", AUTH_VALUES)
def test_build_canonical_auth_spelling(auth: str) -> None:
    assert f"Authentication={auth};" in build(endpoint="http://x:1", authentication=auth.upper(), task_hub="abc")


# --- purity -----------------------------------------------------------------------------------


def test_import_is_light() -> None:
    code = (
        "import sys, dtsctl.connection, dtsctl.redact;"
        "heavy = {'grpc', 'durabletask', 'azure', 'docker', 'rich', 'typer'};"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy);"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
