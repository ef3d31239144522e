"""The local engine answers as DTS does where the SDK's in-memory backend would not
(../shared/reference/dts.md section 8), tested with the real Python SDK client and worker."""

from __future__ import annotations

import grpc
import pytest
from support.cli import invoke
from support.sdk import hello_chain, hosted

from dtsctl.emulator.local.fidelity import MAX_ID_LENGTH

HUB = "fidelity"


@pytest.fixture(scope="module")
def engine():
    from support.sdk import greet

    with hosted(HUB, orchestrators=[hello_chain], activities=[greet]) as (address, client):
        yield address, client


def test_an_instance_id_over_100_characters_is_invalid_argument(engine) -> None:
    _, client = engine
    with pytest.raises(grpc.RpcError) as err:
        client.schedule_new_orchestration(hello_chain, input=["a"], instance_id="i" * (MAX_ID_LENGTH + 1))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "101 characters" in err.value.details()
    # Exactly 100 is taken, and runs.
    longest = "j" * MAX_ID_LENGTH
    assert client.schedule_new_orchestration(hello_chain, input=["Lima"], instance_id=longest) == longest
    state = client.wait_for_orchestration_completion(longest, timeout=30)
    assert state is not None and state.runtime_status.name == "COMPLETED"


def test_an_entity_id_over_100_characters_is_invalid_argument(engine) -> None:
    from durabletask.entities import EntityInstanceId

    _, client = engine
    with pytest.raises(grpc.RpcError) as err:
        client.signal_entity(EntityInstanceId("counter", "k" * 100), "add", 1)  # "@counter@" + 100
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "entity id" in err.value.details()
    client.signal_entity(EntityInstanceId("counter", "k" * (MAX_ID_LENGTH - len("@counter@"))), "add", 1)


def test_dtsctl_start_with_a_long_id_is_a_clear_usage_error(engine) -> None:
    address, _ = engine
    cs = f"Endpoint=http://{address};Authentication=None;TaskHub={HUB}"
    r = invoke("instance", "start", "hello_chain", "--id", "x" * 150, "-c", cs)
    assert r.exit_code == 2, r.stderr
    assert "rejected the request" in r.stderr and "150 characters" in r.stderr and r.stdout == ""
