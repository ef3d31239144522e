"""Error text: dtsctl's sentence that ends with a server's words ends with one full stop, even when
those words bring their own (a real grpc server aborts with details ending in '.')."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Iterator

import grpc
import pytest

from support.cli import invoke
from support.grpc_servers import serving
from dtsctl.errors import sentence, sentences
from dtsctl.sdk.errors import translate


def test_sentence_ends_once() -> None:
    assert sentence("The scheduler rejected the request: bad input.") == "The scheduler rejected the request: bad input."
    assert sentence("Could not: x") == "Could not: x."
    assert sentence("Could not: x.. ") == "Could not: x."
    assert sentence("Is it running?") == "Is it running?"
    assert sentence("It stopped...") == "It stopped..."
    assert sentences("One.", "two", "", None, "Three?") == "One. two. Three?"


@pytest.fixture
def aborting() -> Iterator[callable]:
    """A real grpc server on loopback whose every unary method aborts with the (code, details) set."""
    answer: dict[str, tuple[grpc.StatusCode, str]] = {}

    def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort(*answer["now"])

    server, port = serving(handler)

    def call(code: grpc.StatusCode, details: str) -> grpc.RpcError:
        answer["now"] = (code, details)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.RpcError) as info:
                channel.unary_unary("/TaskHubSidecarService/GetInstance")(b"", timeout=5)
        return info.value

    call.port = port  # type: ignore[attr-defined]
    try:
        yield call
    finally:
        server.stop(0).wait()


CONN = SimpleNamespace(where="http://127.0.0.1:1 (task hub 'default')", task_hub="default",
                       target=SimpleNamespace(endpoint="http://127.0.0.1:1"), timeout=5.0)


@pytest.mark.parametrize("code", [
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INTERNAL,
])
def test_no_doubled_period_after_a_server_detail(aborting, code: grpc.StatusCode) -> None:
    error = translate(aborting(code, "The server says no."), CONN)
    assert "The server says no" in error.message
    assert ".." not in error.message and error.message.endswith("."), error.message


def test_task_hub_not_found_detail_in_parentheses(aborting) -> None:
    error = translate(aborting(grpc.StatusCode.NOT_FOUND, "Task hub not found."), CONN)
    assert error.message == "Task hub 'default' was not found at http://127.0.0.1:1 (Task hub not found)."


def test_the_cli_prints_one_period(aborting) -> None:
    aborting(grpc.StatusCode.INVALID_ARGUMENT, "The instance id is too long.")  # what the server answers from now on
    r = invoke("instance", "show", "abc", "-c", f"Endpoint=http://127.0.0.1:{aborting.port};Authentication=None;TaskHub=default")
    assert r.exit_code == 2
    assert "error: The scheduler rejected the request: The instance id is too long.\n" in r.stderr, r.stderr
