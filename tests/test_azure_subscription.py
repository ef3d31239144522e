"""Which subscription the Azure commands work in: --subscription, else AZURE_SUBSCRIPTION_ID, else the
subscription of the profile in use (--profile, DTSCTL_PROFILE, the current profile), else the only one
the operator sees. The kit serves one subscription, so a profile naming another one shows that the
profile outranks "the only one": the command goes there and gets ARM's SubscriptionNotFound."""

from __future__ import annotations

import json

import pytest

from support.azure import GROUP, dts, ip_echo_server
from support.cli import invoke

pytestmark = pytest.mark.timeout(120)

ELSEWHERE = "11111111-2222-3333-4444-555555555555"  # a subscription the kit does not know
LOCAL = "Endpoint=http://localhost:8080;Authentication=None;TaskHub=default"


def run(kit, *args: str, **env: str):
    """dtsctl as the operator, and the paths of the ARM requests it made."""
    before = len(kit.arm_requests)
    r = dts(kit, *args, **env)
    return r, [req.path for req in kit.arm_requests[before:]]


def profile(name: str, subscription: str, *more: str) -> None:
    r = invoke("config", "set", name, "-c", LOCAL, "--subscription", subscription, *more)
    assert r.exit_code == 0, r.stderr


def test_the_current_profiles_subscription_comes_before_the_only_one(azure_loop, config_file) -> None:
    profile("elsewhere", ELSEWHERE)  # the first profile becomes the current one
    r, paths = run(azure_loop, "scheduler", "list")
    assert r.returncode == 3, r.stderr
    assert "SubscriptionNotFound" in r.stderr and ELSEWHERE in r.stderr and "profile's 'subscription'" in r.stderr
    assert "/subscriptions" not in paths and all(p.startswith(f"/subscriptions/{ELSEWHERE}/") for p in paths)

    # AZURE_SUBSCRIPTION_ID wins over the profile (and --subscription over both).
    sub = azure_loop.model.subscription_id
    r, paths = run(azure_loop, "scheduler", "list", "-o", "json", AZURE_SUBSCRIPTION_ID=sub)
    assert r.returncode == 0, r.stderr
    assert [s["name"] for s in json.loads(r.stdout)] == ["dts-loop"] and ELSEWHERE not in "".join(paths)
    r, paths = run(azure_loop, "scheduler", "show", "dts-loop", "-g", GROUP, "--subscription", sub,
                   AZURE_SUBSCRIPTION_ID=ELSEWHERE)
    assert r.returncode == 0, r.stderr
    assert ELSEWHERE not in "".join(paths)


def test_the_profile_the_target_picks_gives_the_subscription(azure_loop, config_file) -> None:
    sub = azure_loop.model.subscription_id
    profile("home", sub)
    profile("elsewhere", ELSEWHERE, "--use")
    # --profile outranks DTSCTL_PROFILE, which outranks the current profile: exactly as for the target.
    r, paths = run(azure_loop, "scheduler", "show", "dts-loop", "-g", GROUP, "--profile", "home",
                   DTSCTL_PROFILE="elsewhere")
    assert r.returncode == 0, r.stderr
    assert paths and all(p.startswith(f"/subscriptions/{sub}/") for p in paths)
    r, _ = run(azure_loop, "scheduler", "show", "dts-loop", "-g", GROUP, DTSCTL_PROFILE="home")
    assert r.returncode == 0, r.stderr
    r, _ = run(azure_loop, "taskhub", "list", "--scheduler", "dts-loop", "-g", GROUP)  # the current: elsewhere
    assert r.returncode == 3 and "SubscriptionNotFound" in r.stderr
    # -c without --profile reads no profile, so the only subscription the operator sees is used.
    r, paths = run(azure_loop, "scheduler", "show", "dts-loop", "-g", GROUP, "-c", LOCAL)
    assert r.returncode == 0, r.stderr
    assert "/subscriptions" in paths


def test_a_profile_without_a_subscription_falls_back_to_the_only_one(azure_loop, config_file) -> None:
    assert invoke("config", "set", "plain", "-c", LOCAL).exit_code == 0
    r, paths = run(azure_loop, "scheduler", "list", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert paths[0] == "/subscriptions" and len(json.loads(r.stdout)) == 1


def test_azure_up_saves_the_subscription_for_later_commands(azure_loop, config_file) -> None:
    kit, sub = azure_loop, azure_loop.model.subscription_id
    kit.model.clear_resources()
    with ip_echo_server(kit, "127.0.0.1") as echo:
        r, _ = run(kit, "azure", "up", "dts-up", "-g", "rg-up", "-l", "westus2", "--profile", "made", "--no-wait",
                   "-o", "json", DTSCTL_IP_ECHO_URL=echo, AZURE_SUBSCRIPTION_ID=sub)
    assert r.returncode == 0, r.stderr
    steps = {s["name"]: s for s in json.loads(r.stdout)["steps"]}
    assert steps["profile"]["action"] == "created" and steps["profile"]["resource"]["subscription"] == sub
    assert f'subscription = "{sub}"' in config_file.read_text()

    # Later: no --subscription, no AZURE_SUBSCRIPTION_ID, no subscription listing; the profile's is used.
    r, paths = run(kit, "scheduler", "show", "dts-up", "-g", "rg-up", "--profile", "made", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "dts-up" and "/subscriptions" not in paths
    # Running it again changes nothing, the profile included.
    with ip_echo_server(kit, "127.0.0.1") as echo:
        r, _ = run(kit, "azure", "up", "dts-up", "-g", "rg-up", "-l", "westus2", "--profile", "made", "--no-wait",
                   "-o", "json", DTSCTL_IP_ECHO_URL=echo)
    assert r.returncode == 0, r.stderr
    assert {s["name"]: s["action"] for s in json.loads(r.stdout)["steps"]}["profile"] == "exists"
