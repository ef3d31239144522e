"""dtsctl.redact: secret detection and masking."""

from __future__ import annotations

import pytest

from dtsctl.redact import REDACTED_VALUE, excerpt, looks_secret, mask_if_secret, redact

JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL2R1cmFibGV0YXNrLmlvIn0.c2lnbmF0dXJlLXBhcnQ"
STORAGE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CLIENT_SECRET = "abc8Q~Zk1Yq2Wx3Vu4Ts5Rq6Po7Nm8Lk9Jh0Gf1Ed"


@pytest.mark.parametrize(
    "value",
    [
        JWT,
        f"Bearer {JWT}",
        "Bearer abcdef0123456789",
        STORAGE_KEY,
        CLIENT_SECRET,
        "AccountKey=abc",
        "sv=2022-11-02&ss=b&sig=AbCdEf%2B123",
        "https://user:p4ss@example.com",
        "0123456789abcdef0123456789abcdef01234567",  # 40 hex chars
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
    ],
)
def test_looks_secret(value: str) -> None:
    assert looks_secret(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        None,
        "default",
        "orders",
        "OrdersProcessingHub2025",
        "MyTaskHub2024Orders",
        "00000000-0000-0000-0000-000000000000",
        "{6f1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b}",
        "http://localhost:8080",
        "https://myscheduler-b6fbdmcmhcfr.westus2.durabletask.io",
        "ManagedIdentity",
        "contoso.onmicrosoft.com",
        "/var/run/secrets/azure/tokens/azure-identity-token",
    ],
)
def test_does_not_look_secret(value: str | None) -> None:
    assert not looks_secret(value)


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (f"authorization: Bearer {JWT}", JWT, "authorization: Bearer ***"),
        (f"token={JWT} taskhub=orders", JWT, "taskhub=orders"),
        (f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={STORAGE_KEY}", STORAGE_KEY, "AccountName=a"),
        ("Endpoint=sb://x/;SharedAccessKeyName=Root;SharedAccessKey=s3cr3tValue", "s3cr3tValue", "Endpoint=sb://x/"),
        ('{"client_secret": "hunter2", "client_id": "abc"}', "hunter2", '"client_id": "abc"'),
        ("https://acct.blob.core.windows.net/c?sv=2022&sig=AbCd%2Bef", "AbCd%2Bef", "sv=2022"),
        ("connect to https://admin:pa55word@host:8080/x", "pa55word", "host:8080/x"),
        ("password=hunter2;user=bob", "hunter2", "user=bob"),
    ],
)
def test_redact_masks_secret_and_keeps_rest(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out
    assert kept in out


def test_redact_leaves_plain_text_alone() -> None:
    text = "Endpoint=http://localhost:8080;Authentication=None;TaskHub=default key: Endpoint"
    assert redact(text) == text


def test_redact_private_key_block() -> None:
    text = "before -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY----- after"
    out = redact(text)
    assert "MIIEpAIBAAKCAQEA" not in out
    assert out.startswith("before ") and out.endswith(" after")


def test_excerpt_redacts_escapes_and_truncates() -> None:
    assert excerpt(JWT) == REDACTED_VALUE
    assert excerpt("a\x1b[31mb\n") == "a\\x1b[31mb\\n"
    long = "x" * 200
    shown = excerpt(long, 20)
    assert len(shown) == 20 and shown.endswith("…")


def test_mask_if_secret() -> None:
    assert mask_if_secret(None) is None
    assert mask_if_secret("00000000-0000-0000-0000-000000000000") == "00000000-0000-0000-0000-000000000000"
    assert mask_if_secret(CLIENT_SECRET) == REDACTED_VALUE


# --- issue 8: whole values, known secrets ---------------------------------------------------------


@pytest.fixture
def no_known_secrets():
    from dtsctl.redact import forget_secrets

    forget_secrets()
    yield
    forget_secrets()


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ('Password="secret pass phrase";TaskHub=orders', "pass phrase", "TaskHub=orders"),
        ("Password=secret pass phrase;TaskHub=orders", "pass phrase", "TaskHub=orders"),
        ("Password=secret pass phrase", "phrase", "Password="),
        ("Password=it's quoted;x=1", "quoted", "x=1"),
        ('{"password": "two words", "user": "bob"}', "two words", '"user": "bob"'),
        ("Pwd=123456;TaskHub=orders", "123456", "TaskHub=orders"),
        ("http://admin:p@ss@localhost:8080/x", "ss@", "localhost:8080/x"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "Authorization: Basic"),
    ],
)
def test_redact_masks_the_whole_value(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out, out
    assert kept in out


@pytest.mark.parametrize(
    "text",
    [
        "Remove Password=... (and rotate the secret if the string was shared), then use Authentication=None.",
        "a connection string is key=value pairs separated by ';'",
        "status code=404 from the server",
        "Password=<your password>",
        "a Bearer token, basic authentication",
    ],
)
def test_redact_keeps_advice_and_prose(text: str) -> None:
    assert redact(text) == text


def test_known_secret_is_masked_everywhere_in_every_form(no_known_secrets) -> None:
    from dtsctl.redact import register_secret

    secret = 'hunter2 "quoted" / pass'
    assert register_secret(secret)
    assert secret not in redact(f"task hub '{secret}' not found")
    assert "hunter2" not in redact('{"task_hub": "hunter2 \\"quoted\\" / pass"}')  # JSON-escaped
    assert "hunter2" not in redact("x?hub=hunter2%20%22quoted%22%20%2F%20pass")  # URL-encoded
    assert excerpt(secret) == REDACTED_VALUE and mask_if_secret(secret) == REDACTED_VALUE


def test_short_known_secret_masked_only_as_a_word(no_known_secrets) -> None:
    from dtsctl.redact import register_secret

    assert register_secret("orders")
    assert redact("hub orders, hub ordersprocessing") == "hub ***, hub ordersprocessing"


def test_too_short_or_common_values_are_not_registered(no_known_secrets) -> None:
    from dtsctl.redact import known_secrets, register_secret

    assert not register_secret("abc")
    assert not register_secret("None")
    assert not register_secret("localhost")
    assert known_secrets() == ()
    assert redact("Authentication=None on localhost") == "Authentication=None on localhost"


@pytest.mark.parametrize("name, value, shown", [
    ("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl", "Bearer <redacted>"),
    ("Authorization", "Basic dXNlcjpwYXNzd29yZA==", "Basic <redacted>"),
    ("authorization", "opaque-token-without-a-scheme", "<redacted>"),
    ("proxy-authorization", "Bearer abc", "Bearer <redacted>"),
    ("x-api-key", "short", "<redacted>"),
    ("api-key", "short", "<redacted>"),
    ("SharedAccessKey", "abc", "<redacted>"),
    ("ocp-apim-subscription-key", "abc", "<redacted>"),
    ("x-ms-access-token", "abc", "<redacted>"),
    ("cookie", "session=abc", "<redacted>"),
    ("x-identity-header", "not-a-key-name-but-random-Q8zL2kP9xW4vN7mB3", "<redacted>"),
    ("taskhub", "default", "default"),
    ("x-user-agent", "durabletask-python/1.12.0", "durabletask-python/1.12.0"),
    ("x-ms-client-request-id", "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"),
    ("grpc-trace-bin", b"\x00\x01", "<2 bytes>"),
])
def test_header_value(name: str, value: str | bytes, shown: str) -> None:
    from dtsctl.redact import header_value

    assert header_value(name, value) == shown
