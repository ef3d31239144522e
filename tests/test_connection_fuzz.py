"""Property tests: parse and validate hold their contracts for any text."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dtsctl.connection import AUTH_VALUES, CANONICAL_KEYS, ConnectionStringError, parse, validate

# DTSCTL_FUZZ_EXAMPLES raises the example count for a longer local run.
FUZZ = settings(
    max_examples=int(os.environ.get("DTSCTL_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

KEYS = st.sampled_from(
    [
        *CANONICAL_KEYS,
        *(k.lower() for k in CANONICAL_KEYS),
        *(k.upper() for k in CANONICAL_KEYS),
        "Taskhub Name", "Task_Hub", "Hub", "Url", "Host", "Auth", "Tenant", "ClientId", "Client_Id",
        "AccountKey", "AccountName", "DefaultEndpointsProtocol", "UseDevelopmentStorage", "EntityPath",
        "SharedAccessKey", "Password", "Key", "ResourceId", "Ünïcødé", "", " ",
    ]
)  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(
        [
            *AUTH_VALUES,
            "DefaultAzureCredential", "Managed Identity", "MSI", "VisualStudio", "IntelliJ", "none ", "",
            "http://localhost:8080", "http://localhost", "https://localhost:8080", "localhost:8080",
            "http://127.0.0.1:8082", "http://[::1]:8080", "http://[::1", "http://0.0.0.0:8080",
            "https://myscheduler-b6fbdmcmhcfr.westus2.durabletask.io", "https://dashboard.durabletask.io/?taskhub=x",
            "https://a-bcd.westus.durabletask.io/taskhubs/orders", "sb://ns.servicebus.windows.net/",
            "grpc://x:1", "http://host.docker.internal:8080", "http://dts-emulator", "http://x:99999",
            "http://u:p@h:1", "/subscriptions/s/taskHubs/h", "default", "my_hub", "ab",
            "6f1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b", "contoso.onmicrosoft.com", "*,foo", "/var/token",
        ]
    ),
    st.text(max_size=20),
)  # fmt: skip
QUOTES = st.sampled_from(["", "'", '"'])


@st.composite
def segments(draw: st.DrawFn) -> str:
    key = draw(KEYS)
    if draw(st.integers(0, 9)) == 0:
        return key  # no '='
    q = draw(QUOTES)
    spaces = draw(st.sampled_from(["", " ", "\t"]))
    return f"{spaces}{key}{spaces}={spaces}{q}{draw(VALUES)}{q}"


@st.composite
def plausible(draw: st.DrawFn) -> str:
    parts = draw(st.lists(segments(), max_size=8))
    separator = draw(st.sampled_from([";", ";;", "; ", ";\n"]))
    text = separator.join(parts) + draw(st.sampled_from(["", ";", ";;"]))
    q = draw(QUOTES)
    prefix = draw(st.sampled_from(["", "DTS_CONNECTION=", "export X="]))
    return f"{prefix}{q}{text}{q}"


TEXTS = st.one_of(st.text(), plausible())


def _check_contracts(text: str) -> None:
    try:
        parsed = parse(text)
    except ConnectionStringError as err:
        parsed = None
        assert err.findings and err.findings[0].severity == "error"
    else:
        assert isinstance(parsed, dict)
        assert set(parsed) <= set(CANONICAL_KEYS)
        assert all(isinstance(v, str) for v in parsed.values())

    task_hub = "orders" if len(text) % 3 == 0 else None
    v = validate(text, task_hub=task_hub, task_hub_source="--task-hub", env={"AZURE_CLIENT_ID": "x"})
    assert v.valid == (not any(f.severity == "error" for f in v.findings))
    assert (v.fields is None) == (parsed is None)
    order = {"error": 0, "warning": 1, "info": 2}
    ranks = [order[f.severity] for f in v.findings]
    assert ranks == sorted(ranks)
    for f in v.findings:
        assert f.code and f.code == f.code.lower() and " " not in f.code
        assert f.message
    json.dumps(v.to_dict())


@FUZZ
@given(TEXTS)
def test_parse_and_validate_contracts(text: str) -> None:
    _check_contracts(text)


SECRET = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", min_size=24, max_size=64).filter(
    lambda s: any(c.isdigit() for c in s) and any(c.isupper() for c in s) and any(c.islower() for c in s)
)


@FUZZ
@given(before=plausible(), secret=SECRET, padding=st.sampled_from(["", "=", "=="]), after=st.lists(segments(), max_size=3), q=QUOTES)
def test_account_key_value_never_in_output(before: str, secret: str, padding: str, after: list[str], q: str) -> None:
    others = before + ";" + ";".join(after)
    assume(secret not in others and secret.lower() not in others.lower())
    text = f"{before};AccountKey={q}{secret}{padding}{q};" + ";".join(after)
    v = validate(text)
    dumped = json.dumps(v.to_dict())
    assert secret not in dumped
    assert "secret-key" in [f.code for f in v.findings]


CLI_FUZZ = settings(max_examples=int(os.environ.get("DTSCTL_FUZZ_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@CLI_FUZZ
@given(st.one_of(st.text(), plausible()), st.sampled_from(["text", "json", "jsonl"]))
def test_validate_command_exits_0_or_2_without_traceback(text: str, fmt: str) -> None:
    from support.cli import invoke

    assume("\x00" not in text)  # a NUL cannot be passed in a real argv
    r = invoke("connection", "validate", "-o", fmt, "--", text)
    assert r.exit_code in (0, 2), (r.exit_code, r.stderr)
    assert "Traceback" not in r.stderr and "unexpected" not in r.stderr
    if fmt == "json":
        assert json.loads(r.stdout)["valid"] == (r.exit_code == 0)
    elif fmt == "jsonl":
        assert len(r.stdout.splitlines()) == 1
