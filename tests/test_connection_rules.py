"""Every finding code: one text that triggers it, one close text that does not."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from dtsctl.connection import (
    CANONICAL_KEYS,
    EMULATOR_CONNECTION_STRING,
    ConnectionStringError,
    Validation,
    build,
    validate,
)
from dtsctl.connection.findings import Code

GUID = "6f1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b"
AZ_HOST = "myscheduler-b6fbdmcmhcfr.westus2.durabletask.io"
AZ = f"https://{AZ_HOST}"
EMU = EMULATOR_CONNECTION_STRING
MI = f"Endpoint={AZ};Authentication=ManagedIdentity;ClientID={GUID};TaskHub=orders"
WI = f"Endpoint={AZ};Authentication=WorkloadIdentity;TaskHub=orders"
WI_ENV = {"AZURE_CLIENT_ID": GUID, "AZURE_TENANT_ID": GUID, "AZURE_FEDERATED_TOKEN_FILE": "/var/token"}
SP_ENV = {"AZURE_CLIENT_ID": GUID, "AZURE_TENANT_ID": GUID, "AZURE_CLIENT_SECRET": "x"}


def emu(endpoint: str = "http://localhost:8080", auth: str = "None", extra: str = "") -> str:
    return f"Endpoint={endpoint};Authentication={auth};TaskHub=default" + extra


def az(endpoint: str = AZ, auth: str = "DefaultAzure", extra: str = "") -> str:
    return f"Endpoint={endpoint};Authentication={auth};TaskHub=orders" + extra


@dataclass
class Case:
    code: str
    severity: str
    key: str | None
    trigger: str
    no_trigger: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    no_kwargs: dict[str, Any] = field(default_factory=dict)
    says: tuple[str, ...] = ()  # substrings of message + fix


CASES = [
    # --- grammar ---
    Case("empty", "error", None, "  ", EMU),
    Case("not-a-connection-string", "error", None, AZ, f"Endpoint={AZ}", says=(f"Endpoint={AZ};Authentication=",)),
    Case("env-assignment", "warning", None, f'DURABLE_TASK_SCHEDULER_CONNECTION_STRING="{EMU}"', f"Foo=bar;{EMU}"),
    Case("quoted", "warning", None, f'"{EMU}"', f'"{EMU}\''),
    Case("quoted", "warning", "TaskHub", emu(extra="").replace("TaskHub=default", "TaskHub='default'"), emu(extra="").replace("TaskHub=default", "TaskHub=default'")),
    Case("segment-without-equals", "error", None, emu(extra=";oops"), emu(extra=";;"), says=("Segment 4", "'oops'")),
    Case("empty-key", "error", None, emu(extra=";=x"), emu(extra=";x=")),
    Case("duplicate-key", "warning", "TaskHub", emu(extra=";taskhub=other"), emu(extra=";TaskHubs=other"), says=("'other'", "'default' is ignored")),
    Case("unknown-key", "warning", "TaskHub", emu(extra=";TaskHubName=x"), emu(extra=";TASKHUB=default"), says=("did you mean TaskHub",)),
    Case("secret-key", "error", None, emu(extra=";AccountKey=abc"), emu(extra=";AccountName2=abc"), says=("Microsoft Entra ID", "Authentication=ManagedIdentity")),
    Case(
        "storage-connection-string",
        "error",
        None,
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc;EndpointSuffix=core.windows.net",
        "Endpoint=https://acct.blob.core.windows.net;Authentication=DefaultAzure;TaskHub=abc",
        says=("Azure Storage", "Endpoint=...;Authentication=...;TaskHub=..."),
    ),
    Case(
        "service-bus-connection-string",
        "error",
        "Endpoint",
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=abc",
        az(),
    ),
    # --- required keys ---
    Case("missing-endpoint", "error", "Endpoint", "Authentication=None;TaskHub=default", EMU),
    Case("missing-endpoint", "error", "Endpoint", "Endpoint=;Authentication=None;TaskHub=default", EMU),
    Case("missing-authentication", "error", "Authentication", "Endpoint=http://localhost:8080;TaskHub=default", EMU, says=("Authentication=None",)),
    Case("missing-authentication", "error", "Authentication", f"Endpoint={AZ};Authentication= ;TaskHub=x-1", az(), says=("ManagedIdentity", "DefaultAzure")),
    # --- authentication ---
    Case("auth-unknown", "error", "Authentication", az(auth="DefaultAzureCredential"), az(auth="defaultazure"), says=("unsupported authentication type 'DefaultAzureCredential'", "Authentication=DefaultAzure")),
    Case("auth-no-python-credential", "error", "Authentication", az(auth="VisualStudio"), az(auth="VisualStudioCode"), says=("AzureCli",)),
    Case("auth-no-python-credential", "error", "Authentication", az(auth="IntelliJ"), az(auth="AzureCli"), says=("Java",)),
    Case("auth-interactive", "info", "Authentication", az(auth="InteractiveBrowser"), az(auth="AzureCli")),
    # --- endpoint ---
    Case("endpoint-no-scheme", "info", "Endpoint", az(endpoint=AZ_HOST), az(), says=(f"Endpoint={AZ}",)),
    Case("endpoint-bad-scheme", "error", "Endpoint", emu("grpc://localhost:8080"), emu("http://localhost:8080"), says=("'grpc://'",)),
    Case("endpoint-bad-scheme", "error", "Endpoint", az(endpoint=f"tcp://{AZ_HOST}"), az(), says=(f"Endpoint={AZ}",)),
    Case("endpoint-invalid", "error", "Endpoint", emu("http://local host:8080"), emu("http://localhost:8080"), says=("Invalid endpoint URL",)),
    Case("endpoint-invalid", "error", "Endpoint", emu("http://localhost:65536"), emu("http://localhost:65535"), says=("port",)),
    Case("endpoint-invalid", "error", "Endpoint", emu("http://"), emu("http://h")),
    Case("endpoint-invalid", "error", "Endpoint", emu("http://::1:8080"), emu("http://[::1]:8080"), says=("brackets",)),
    Case("endpoint-invalid", "error", "Endpoint", emu("http://bad_host!:8080"), emu("http://dts_emulator:8080")),
    Case("endpoint-path", "error", "Endpoint", emu("http://localhost:8080/api"), emu("http://localhost:8080/"), says=("Endpoint=http://localhost:8080",)),
    Case("endpoint-path", "error", "Endpoint", emu("http://localhost:8080?x=1"), emu("http://localhost:8080")),
    Case("endpoint-trailing-slash", "warning", "Endpoint", emu("http://localhost:8080/"), emu(), says=("Failed to parse port",)),
    Case("endpoint-http-no-port", "warning", "Endpoint", emu("http://localhost"), emu("http://localhost:8080"), says=("443", "Endpoint=http://localhost:8080")),
    Case("endpoint-dashboard-port", "error", "Endpoint", emu("http://localhost:8082"), emu("http://localhost:8080"), says=("Endpoint=http://localhost:8080",)),
    Case("endpoint-health-port", "error", "Endpoint", emu("http://127.0.0.1:8081"), emu("http://127.0.0.1:8080"), says=("Endpoint=http://127.0.0.1:8080",)),
    Case(
        "endpoint-dashboard-url",
        "error",
        "Endpoint",
        az(endpoint="https://dashboard.durabletask.io/?endpoint=https%3A%2F%2Fmy-sched-abcd.eastus.durabletask.io&taskhub=orders"),
        az(endpoint="https://my-sched-abcd.eastus.durabletask.io"),
        says=("Endpoint=https://my-sched-abcd.eastus.durabletask.io;TaskHub=orders",),
    ),
    Case("endpoint-dashboard-url", "error", "Endpoint", az(endpoint="https://dashboard.durabletask.io"), az(), says=("properties.endpoint",)),
    Case(
        "endpoint-taskhub-url",
        "error",
        "Endpoint",
        az(endpoint=f"{AZ}/taskhubs/orders"),
        az(endpoint=f"{AZ}/orders"),
        says=("'orders'", f"Endpoint={AZ};TaskHub=orders"),
    ),
    Case(
        "endpoint-taskhub-url",
        "error",
        "Endpoint",
        "Endpoint=http://localhost:8082/subscriptions/default/schedulers/default/taskhubs/myhub;Authentication=None",
        emu("http://localhost:8082"),
        says=("Endpoint=http://localhost:8080;TaskHub=myhub",),
    ),
    Case("endpoint-plaintext-remote", "error", "Endpoint", emu("http://example.com:8080"), emu("http://dts-emulator:8080"), says=("Endpoint=https://example.com:8080",)),
    Case("endpoint-plaintext-remote", "error", "Endpoint", az(endpoint=f"http://{AZ_HOST}"), az(), says=("Azure needs https", f"Endpoint={AZ}")),
    Case("endpoint-plaintext-container", "info", "Endpoint", emu("http://host.docker.internal:8080"), emu("http://localhost:8080")),
    Case("endpoint-plaintext-container", "info", "Endpoint", emu("http://dts-emulator:8080"), emu("https://dts-emulator:8080")),
    Case("endpoint-tls-loopback", "warning", "Endpoint", emu("https://localhost:8080"), az(), says=("Endpoint=http://localhost:8080",)),
    Case("endpoint-tls-loopback", "warning", "Endpoint", emu("https://[::1]:8080"), emu("http://[::1]:8080")),
    Case("endpoint-azure-shape", "warning", "Endpoint", az(endpoint="https://myscheduler.westus2.durabletask.io"), az()),
    Case("endpoint-unspecified-address", "warning", "Endpoint", emu("http://0.0.0.0:8080"), emu("http://127.0.0.1:8080"), says=("Endpoint=http://localhost:8080",)),
    # --- cross ---
    Case("auth-none-azure", "error", "Authentication", az(auth="None"), az(auth="ManagedIdentity")),
    Case("credential-plaintext", "warning", "Authentication", emu(auth="DefaultAzure"), emu(auth="none"), says=("Authentication=None",)),
    # --- task hub ---
    Case(
        "taskhub-missing",
        "error",
        "TaskHub",
        "Endpoint=http://localhost:8080;Authentication=None",
        "Endpoint=http://localhost:8080;Authentication=None",
        no_kwargs={"task_hub": "default", "task_hub_source": "TASKHUB_NAME"},
        says=("TaskHub=", "--task-hub", "TASKHUB_NAME"),
    ),
    Case("taskhub-name", "warning", "TaskHub", emu().replace("default", "my_hub"), emu().replace("default", "my-hub"), says=("TaskHub=my-hub",)),
    Case("taskhub-name", "warning", "TaskHub", EMU, EMU, kwargs={"task_hub": "ab"}, no_kwargs={"task_hub": "abc"}),
    Case("taskhub-characters", "error", "TaskHub", EMU, EMU, kwargs={"task_hub": "ab\x1bcd", "task_hub_source": "--task-hub"},
         no_kwargs={"task_hub": "ab cd"}, says=("'ab\\x1bcd' (from --task-hub)", "control character", "TaskHub=ab-cd")),
    Case("taskhub-characters", "error", "TaskHub", emu().replace("default", "héllo"), emu().replace("default", "hello"),
         says=("non-ASCII",)),
    Case(
        "taskhub-overridden",
        "info",
        "TaskHub",
        EMU,
        EMU,
        kwargs={"task_hub": "orders", "task_hub_source": "--task-hub"},
        no_kwargs={"task_hub": "default", "task_hub_source": "--task-hub"},
        says=("--task-hub", "'orders'"),
    ),
    # --- identity ---
    Case("managed-identity-system", "info", "ClientID", az(auth="ManagedIdentity"), MI, says=("403", "ClientID=")),
    Case("client-id-format", "warning", "ClientID", MI.replace(GUID, "my-identity"), MI),
    Case("tenant-id-format", "warning", "TenantId", WI + ";TenantId=not a tenant", WI + ";TenantId=contoso.onmicrosoft.com", kwargs={"env": WI_ENV}, no_kwargs={"env": WI_ENV}),
    Case("client-id-ignored", "warning", "ClientID", az(auth="AzureCli", extra=f";ClientID={GUID}"), MI),
    Case("client-id-ignored", "warning", "ClientID", az(auth="DefaultAzure", extra=f";ClientID={GUID}"), az(auth="WorkloadIdentity", extra=f";ClientID={GUID}"), no_kwargs={"env": WI_ENV}, says=("AZURE_CLIENT_ID",)),
    Case("workload-option-ignored", "warning", "TenantId", MI + f";TenantId={GUID}", WI + f";TenantId={GUID}", no_kwargs={"env": WI_ENV}),
    Case("workload-option-ignored", "warning", "TokenFilePath", az(extra=";TokenFilePath=/t"), WI + ";TokenFilePath=/t", no_kwargs={"env": WI_ENV}),
    Case("workload-identity-source", "info", "Authentication", WI, MI, kwargs={"env": WI_ENV}, says=("AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE")),
    Case("workload-identity-missing", "warning", "TokenFilePath", WI, WI + ";TokenFilePath=/var/token", kwargs={"env": {**WI_ENV, "AZURE_FEDERATED_TOKEN_FILE": ""}}, no_kwargs={"env": {**WI_ENV, "AZURE_FEDERATED_TOKEN_FILE": ""}}),
    Case("environment-credential-missing", "warning", "Authentication", az(auth="Environment"), az(auth="Environment"), no_kwargs={"env": SP_ENV}, says=("AZURE_TENANT_ID", "AZURE_CLIENT_SECRET")),
    Case(
        "allowed-tenants-format",
        "warning",
        "AdditionallyAllowedTenants",
        WI + ";AdditionallyAllowedTenants=contoso",
        WI + f";AdditionallyAllowedTenants={GUID},*",
        kwargs={"env": WI_ENV},
        no_kwargs={"env": WI_ENV},
    ),
]


def _codes(v: Validation) -> list[str]:
    return [f.code for f in v.findings]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.code)
def test_rule_triggers(case: Case) -> None:
    v = validate(case.trigger, **case.kwargs)
    hits = [f for f in v.findings if f.code == case.code]
    assert hits, f"{case.code} not in {_codes(v)}"
    assert {f.severity for f in hits} == {case.severity}
    assert case.key in {f.key for f in hits}
    text = " ".join(f"{f.message} {f.fix or ''}" for f in hits)
    for s in case.says:
        assert s in text, (s, text)
    for f in hits:
        assert f.message.endswith((".", "?", ")")), f.message
    assert v.valid == (not v.errors)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.code)
def test_rule_close_case_does_not_trigger(case: Case) -> None:
    v = validate(case.no_trigger, **case.no_kwargs)
    assert case.code not in _codes(v), v.findings


# build() reports the one code no validation can: a value a connection string cannot hold.
BUILD_ONLY = {Code.VALUE_NOT_REPRESENTABLE}


def test_every_registered_code_has_a_case() -> None:
    """Every code of the registry has a trigger and a close non-trigger above (or, for build's own
    code, a test of build), and every case names a registered code."""
    assert {Code(c.code) for c in CASES} == set(Code) - BUILD_ONLY
    with pytest.raises(ConnectionStringError) as info:
        build(endpoint="http://localhost:8080", authentication="None", task_hub="a;b")
    assert {f.code for f in info.value.findings} == {c.value for c in BUILD_ONLY}


def test_every_emitted_finding_matches_the_registry() -> None:
    """A rule can only emit a registered code (Findings.add takes a Code), with its severity and one of
    its keys: checked on every finding the cases above produce."""
    seen = 0
    for case in CASES:
        for text, kwargs in ((case.trigger, case.kwargs), (case.no_trigger, case.no_kwargs)):
            for f in validate(text, **kwargs).findings:
                code = Code(f.code)
                assert (f.severity, f.key in code.keys) == (code.severity, True), (f, code.keys)
                seen += 1
    assert seen > len(CASES)


def test_registry_rows_are_complete() -> None:
    for code in Code:
        assert code.value == code.value.lower() and " " not in code.value
        assert code.severity in ("error", "warning", "info")
        assert code.keys and all(k is None or k in CANONICAL_KEYS for k in code.keys)
        assert code.title and code.title[0].isupper() and not code.title.endswith("."), code
    with pytest.raises(ValueError):
        Code.ENDPOINT_PATH.finding("m", key="TaskHub")  # a key the code never concerns
    with pytest.raises(ValueError):
        Code.QUOTED.finding("m")  # a per-segment code needs the segment's key


@pytest.mark.parametrize(
    ("text", "kwargs"),
    [
        (EMU, {}),
        (f"Endpoint={AZ};Authentication=ManagedIdentity;ClientID={GUID};TaskHub=orders", {}),
        (f"Endpoint={AZ};Authentication=DefaultAzure;TaskHub=orders", {}),
        (f"Endpoint={AZ};Authentication=AzureCli;TaskHub=orders", {}),
        (WI, {"env": WI_ENV}),
        ("Endpoint=http://localhost:8080;Authentication=None", {"task_hub": "default"}),
        ("endpoint=http://127.0.0.1:8080;authentication=NONE;taskhub=default", {}),
        ("Endpoint=http://[::1]:8080;Authentication=None;TaskHub=default", {}),
    ],
)
def test_valid_strings(text: str, kwargs: dict[str, Any]) -> None:
    v = validate(text, **kwargs)
    assert v.valid, v.findings
    assert not v.errors


# --- did-you-mean -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("Taskhub Name", "TaskHub"),
        ("TaskHubName", "TaskHub"),
        ("Task_Hub", "TaskHub"),
        ("Task Hub", "TaskHub"),
        ("Hub", "TaskHub"),
        ("Client_Id", "ClientID"),
        ("ManagedIdentityClientId", "ClientID"),
        ("Url", "Endpoint"),
        ("Address", "Endpoint"),
        ("Host", "Endpoint"),
        ("Endpiont", "Endpoint"),
        ("Auth", "Authentication"),
        ("AuthType", "Authentication"),
        ("Credential", "Authentication"),
        ("Authentcation", "Authentication"),
        ("Tenant", "TenantId"),
        ("Tenant_Id", "TenantId"),
        ("TokenFile", "TokenFilePath"),
        ("AllowedTenants", "AdditionallyAllowedTenants"),
    ],
)
def test_unknown_key_suggestions(key: str, suggestion: str) -> None:
    v = validate(emu(extra=f";{key}=x"))
    hits = [f for f in v.findings if f.code == "unknown-key"]
    assert len(hits) == 1 and hits[0].key == suggestion
    assert f"did you mean {suggestion}?" in hits[0].message


@pytest.mark.parametrize("key", ["ClientId", "clientid", "CLIENTID", "TenantID", "tenantid", "TASKHUB", "endpoint", "tokenfilepath"])
def test_case_insensitive_keys_are_known(key: str) -> None:
    assert "unknown-key" not in _codes(validate(emu(extra=f";{key}=x")))


def test_unknown_key_without_suggestion() -> None:
    v = validate(emu(extra=";Colour=blue"))
    (f,) = [f for f in v.findings if f.code == "unknown-key"]
    assert f.key is None and "Endpoint, Authentication" in (f.fix or "")


def test_other_sdk_keys_are_named() -> None:
    v = validate(az(extra=";ResourceId=https://durabletask.io"))
    (f,) = [f for f in v.findings if f.code == "unknown-key"]
    assert ".NET" in f.message


def test_missing_key_fix_points_to_misspelled_key() -> None:
    v = validate("Url=http://localhost:8080;Authentication=None;TaskHub=default")
    (f,) = [f for f in v.findings if f.code == "missing-endpoint"]
    assert "Rename 'Url' to Endpoint" in (f.fix or "")


@pytest.mark.parametrize(
    ("value", "suggestion"),
    [
        ("DefaultAzureCredential", "DefaultAzure"),
        ("Default", "DefaultAzure"),
        ("Managed Identity", "ManagedIdentity"),
        ("ManagedIdentityCredential", "ManagedIdentity"),
        ("MSI", "ManagedIdentity"),
        ("AzureCLI", None),  # valid: matched case-insensitively
        ("Azure CLI", "AzureCli"),
        ("az", "AzureCli"),
        ("AzureCliCredential", "AzureCli"),
        ("Workload", "WorkloadIdentity"),
        ("WorkloadIdentityCredential", "WorkloadIdentity"),
        ("Anonymous", "None"),
        ("none ", None),  # trimmed, valid
        ("EnvironmentCredential", "Environment"),
        ("vscode", "VisualStudioCode"),
        ("ManagedIdentiy", "ManagedIdentity"),
    ],
)
def test_auth_suggestions(value: str, suggestion: str | None) -> None:
    v = validate(az(auth=value))
    hits = [f for f in v.findings if f.code == "auth-unknown"]
    if suggestion is None:
        assert not hits
        return
    assert len(hits) == 1
    assert f"Did you mean '{suggestion}'?" in hits[0].message
    assert hits[0].fix == f"Authentication={suggestion}"


def test_auth_unknown_without_suggestion_lists_values() -> None:
    (f,) = [f for f in validate(az(auth="Kerberos")).findings if f.code == "auth-unknown"]
    assert "Did you mean" not in f.message
    assert "ManagedIdentity" in (f.fix or "")


def test_auth_canonical_spelling_in_fields() -> None:
    f = validate(az(auth="MANAGEDIDENTITY", extra=f";ClientID={GUID}")).fields
    assert f is not None and f.authentication == "ManagedIdentity"


# --- secrets are never echoed -------------------------------------------------------------------

SECRET = "Zq9sXv3Lk2Jw8Hd5Mn1Pb7Rc4Tf6Yg0UaEoIiQuWeSs="


@pytest.mark.parametrize(
    "text",
    [
        emu(extra=f";AccountKey={SECRET}"),
        emu(extra=f";AccountKey={SECRET};accountkey={SECRET}x"),
        emu(extra=f";ClientSecret='{SECRET}'"),
        emu(extra=f";Password={SECRET}"),
        emu(extra=f";SharedAccessSignature=sv=2022&sig={SECRET}"),
        f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={SECRET};EndpointSuffix=core.windows.net",
        f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={SECRET}",
        emu(extra=f";{SECRET}"),  # a bare secret as a segment
        emu(extra=f";={SECRET}"),  # a secret with no key
        emu(extra=f";Mystery={SECRET}"),  # a secret-looking value under an unknown key
        emu(extra=f";Tenant={SECRET}"),  # ... under a misspelled key
        f"Endpoint=https://user:{SECRET}@{AZ_HOST};Authentication=DefaultAzure;TaskHub=orders",
        f"Endpoint=https://{AZ_HOST}/?sig={SECRET};Authentication=DefaultAzure;TaskHub=orders",
        az(auth=SECRET),
        MI.replace(GUID, SECRET),  # a client secret pasted as ClientID
        az(auth="WorkloadIdentity", extra=f";TenantId={SECRET};AdditionallyAllowedTenants={SECRET}"),
        emu().replace("default", SECRET),
        SECRET,
    ],
)
def test_secret_value_never_echoed(text: str) -> None:
    v = validate(text, env=WI_ENV)
    dumped = json.dumps(v.to_dict())
    assert SECRET not in dumped
    assert SECRET[:20] not in dumped
    for f in v.findings:
        assert SECRET[:12] not in f.message and SECRET[:12] not in (f.fix or "")


def test_secret_key_finding_and_fields() -> None:
    v = validate(emu(extra=f";AccountKey={SECRET}"))
    assert not v.valid
    assert [f.code for f in v.errors] == ["secret-key"]
    assert "AccountKey" in v.errors[0].message


def test_duplicate_secret_key_does_not_show_values() -> None:
    v = validate(emu(extra=";Password=aaa-one;Password=bbb-two"))
    (dup,) = [f for f in v.findings if f.code == "duplicate-key"]
    assert "Password" in dup.message and "aaa-one" not in dup.message and "bbb-two" not in dup.message


def test_segment_without_equals_names_position_and_text() -> None:
    v = validate("Endpoint=http://localhost:8080;Authentication=None;TaskHub: default")
    (f,) = [f for f in v.findings if f.code == "segment-without-equals"]
    assert "Segment 3" in f.message and "'TaskHub: default'" in f.message
    assert f.fix == "Write it as TaskHub=default"


def test_control_characters_are_escaped_in_messages() -> None:
    v = validate(emu("http://local\x1b[2Jhost:8080"))
    assert all("\x1b" not in f.message and "\x1b" not in (f.fix or "") for f in v.findings)


# --- behaviour details ----------------------------------------------------------------------------


def test_storage_string_replaces_unknown_and_missing_findings() -> None:
    v = validate("DefaultEndpointsProtocol=https;AccountName=acct;EndpointSuffix=core.windows.net")
    assert _codes(v) == ["storage-connection-string"]


def test_service_bus_string_replaces_endpoint_findings() -> None:
    v = validate("Endpoint=sb://ns.servicebus.windows.net/;EntityPath=q")
    assert _codes(v) == ["service-bus-connection-string"]


def test_entity_path_without_service_bus_is_unknown() -> None:
    assert "unknown-key" in _codes(validate(emu(extra=";EntityPath=q")))


def test_workload_identity_all_from_string_needs_no_env() -> None:
    v = validate(WI + f";ClientID={GUID};TenantId={GUID};TokenFilePath=/var/token")
    assert v.valid
    (f,) = [f for f in v.findings if f.code == "workload-identity-source"]
    assert "ClientID in the connection string" in f.message


def test_workload_identity_missing_lists_each_key() -> None:
    v = validate(WI)
    assert {f.key for f in v.findings if f.code == "workload-identity-missing"} == {"ClientID", "TenantId", "TokenFilePath"}


def test_workload_identity_without_the_webhook_variables_here_is_valid() -> None:
    """AZURE_FEDERATED_TOKEN_FILE unset on this machine: the pod's webhook sets it, so a warning."""
    v = validate(WI + f";ClientID={GUID};TenantId={GUID}", env={})
    assert v.valid and not v.errors
    [f] = [f for f in v.findings if f.code == "workload-identity-missing"]
    assert (f.severity, f.key) == ("warning", "TokenFilePath")
    assert "webhook sets AZURE_FEDERATED_TOKEN_FILE" in f.message


def test_environment_credential_accepts_certificate_or_user_password() -> None:
    base = {"AZURE_CLIENT_ID": GUID, "AZURE_TENANT_ID": GUID}
    for extra in ({"AZURE_CLIENT_CERTIFICATE_PATH": "/c.pem"}, {"AZURE_USERNAME": "u", "AZURE_PASSWORD": "p"}):
        assert "environment-credential-missing" not in _codes(validate(az(auth="Environment"), env={**base, **extra}))
    v = validate(az(auth="Environment"), env={**base, "AZURE_USERNAME": "u"})
    (f,) = [f for f in v.findings if f.code == "environment-credential-missing"]
    assert "AZURE_CLIENT_ID" not in f.message.split("but")[1].split("is not set")[0]


def test_environment_credential_never_shows_env_values() -> None:
    v = validate(az(auth="Environment"), env={"AZURE_CLIENT_ID": "client-value-123"})
    assert "client-value-123" not in json.dumps(v.to_dict())


def test_validate_does_not_read_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, val in WI_ENV.items():
        monkeypatch.setenv(k, val)
    assert "workload-identity-missing" in _codes(validate(WI))


def test_http_loopback_without_port_is_a_warning_not_an_error() -> None:
    v = validate(emu("http://127.0.0.1"))
    assert v.valid and _codes(v) == ["endpoint-http-no-port"]


def test_trailing_slash_is_normalised() -> None:
    v = validate(emu("http://localhost:8080/"))
    assert v.valid and v.fields is not None and v.fields.endpoint == "http://localhost:8080"


def test_no_scheme_to_loopback_explains_tls() -> None:
    v = validate(emu("localhost:8080"))
    assert {"endpoint-no-scheme", "endpoint-tls-loopback"} <= set(_codes(v))
    assert v.fields is not None and v.fields.tls is True


@pytest.mark.parametrize("host", ["localhost", "app.localhost", "127.0.0.1", "127.1.2.3", "[::1]", "0.0.0.0", "host.docker.internal", "host.containers.internal", "gateway.docker.internal", "dts", "dts-emulator", "durabletask-emulator"])
def test_plaintext_hosts_allowed(host: str) -> None:
    assert "endpoint-plaintext-remote" not in _codes(validate(emu(f"http://{host}:8080")))


@pytest.mark.parametrize("host", ["example.com", "10.0.0.5", "192.168.1.20", "myhost", "dts.example.com", "emulator.contoso.com"])
def test_plaintext_hosts_rejected(host: str) -> None:
    assert "endpoint-plaintext-remote" in _codes(validate(emu(f"http://{host}:8080")))


def test_resource_id_as_endpoint() -> None:
    rid = "/subscriptions/s/resourceGroups/g/providers/Microsoft.DurableTask/schedulers/sch/taskHubs/orders"
    v = validate(f"Endpoint={rid};Authentication=DefaultAzure;TaskHub=orders")
    (f,) = [f for f in v.findings if f.code.startswith("endpoint-")]
    assert f.code == "endpoint-taskhub-url" and "properties.endpoint" in (f.fix or "")


def test_quoted_value_is_used_unquoted() -> None:
    v = validate("Endpoint='http://localhost:8080';Authentication=\"None\";TaskHub=default")
    assert v.valid and v.fields is not None and v.fields.endpoint == "http://localhost:8080"
    assert [f.key for f in v.findings if f.code == "quoted"] == ["Endpoint", "Authentication"]


def test_secret_pasted_as_endpoint_is_not_a_host() -> None:
    secret = "Zq9sXv3Lk2Jw8Hd5Mn1Pb7Rc4Tf6Yg0UaEoIiQuWeSs"
    v = validate(f"Endpoint={secret};Authentication=None;TaskHub=default")
    assert "endpoint-invalid" in _codes(v)
    assert secret.lower() not in json.dumps(v.to_dict()).lower()


def test_every_invalid_endpoint_reason_is_worded() -> None:
    from typing import get_args

    from dtsctl.connection.endpoint import InvalidReason
    from dtsctl.connection.rules.endpoint import _INVALID_REASONS

    assert set(_INVALID_REASONS) == set(get_args(InvalidReason))
