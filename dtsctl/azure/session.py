"""One ARM session: the endpoint, the operator's credential, the subscription, and the clients.

The endpoint: --arm-endpoint, else DTSCTL_ARM_ENDPOINT (as `doctor` reads it), else the public cloud.
The subscription: --subscription, else AZURE_SUBSCRIPTION_ID, else the `subscription` of the profile
in use (the one the target resolution picks: --profile, else DTSCTL_PROFILE, else the current profile;
config/target.py), else the only one the credential sees, else an error listing them. The profile is
read only when the flag and the variable are both missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from dtsctl.azure.errors import arm_call
from dtsctl.azure.model import AzureArgs
from dtsctl.azure.ids import SUBSCRIPTIONS_API, arm_scope
from dtsctl.doctor.context import ARM_ENV
from dtsctl.dts import ARM_ENDPOINT
from dtsctl.errors import UsageError

SUBSCRIPTION_ENV = "AZURE_SUBSCRIPTION_ID"
CHOOSE = (f"--subscription ID, or {SUBSCRIPTION_ENV}, or save it in the profile "
          "('dtsctl config set PROFILE --subscription ID')")
NO_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"  # for calls outside any subscription


def arm_endpoint(args: AzureArgs, env: Mapping[str, str]) -> str:
    url = (args.arm_endpoint or env.get(ARM_ENV) or ARM_ENDPOINT).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise UsageError(f"'{url}' is not an HTTPS address of Azure Resource Manager.",
                         hint=f"Give --arm-endpoint https://... (or {ARM_ENV}); the public cloud's is {ARM_ENDPOINT}.")
    return url


class ArmSession:
    """Built from the Azure flags; creates the credential and clients on first use."""

    def __init__(self, args: AzureArgs, *, env: Mapping[str, str] | None = None,
                 prompt: Callable[[str], None] | None = None,
                 profile_subscription: Callable[[], str | None] | None = None) -> None:
        """`profile_subscription`: the subscription of the profile in use, or None (called at most once)."""
        self.args = args
        self.profile_subscription = profile_subscription
        self.env = dict(os.environ if env is None else env)
        self.endpoint = arm_endpoint(args, self.env)
        self.prompt = prompt
        self._credential: Any = None
        self._clients: dict[str, Any] = {}
        self._subscription: str | None = None

    @property
    def credential(self) -> Any:
        if self._credential is None:
            from dtsctl.azure.auth import operator_credential

            self._credential = operator_credential(self.args.auth, env=self.env, prompt=self.prompt)
        return self._credential

    def client(self, subscription: str | None = None) -> Any:
        """azure-mgmt-durabletask's client for `subscription` (default: the resolved one)."""
        sub = subscription or self.subscription()
        if sub not in self._clients:
            from azure.mgmt.durabletask import DurableTaskMgmtClient

            self._clients[sub] = DurableTaskMgmtClient(self.credential, sub, base_url=self.endpoint,
                                                       credential_scopes=[arm_scope(self.endpoint)])
        return self._clients[sub]

    def get_json(self, path: str, what: str) -> Any:
        """GET an ARM path (with its api-version) through a client's pipeline, as JSON."""
        return self.send_json("GET", path, what)

    def send_json(self, method: str, path: str, what: str, body: Any = None) -> Any:
        """One ARM REST call (`path` with its api-version) through a client's pipeline (the same
        credential, retries and throttling as the SDK's calls); ARM's JSON answer, None when empty.
        For what azure-mgmt-durabletask does not cover: resource groups, role assignments, identities."""
        from azure.core.rest import HttpRequest

        client = self._clients.get(self._subscription or "") or self.client(NO_SUBSCRIPTION)
        with arm_call(what):
            response = client.send_request(HttpRequest(method, f"{self.endpoint}{path}", json=body))
            response.raise_for_status()
            return response.json() if response.content else None

    def subscriptions(self) -> list[dict[str, Any]]:
        doc = self.get_json(f"/subscriptions?api-version={SUBSCRIPTIONS_API}", "list your subscriptions")
        return [s for s in doc.get("value", []) if s.get("subscriptionId")]

    def subscription(self) -> str:
        """The subscription this session works in (see the module's docstring for the order)."""
        if self._subscription is None:
            self._subscription = (self.args.subscription or (self.env.get(SUBSCRIPTION_ENV) or "").strip()
                                  or (self.profile_subscription() if self.profile_subscription else None)
                                  or self._only())
        return self._subscription

    def _only(self) -> str:
        found = self.subscriptions()
        if len(found) == 1:
            return found[0]["subscriptionId"]
        if not found:
            raise UsageError("The signed-in identity sees no Azure subscription.",
                             hint=f"Give the subscription ({CHOOSE}), or sign in as another identity (--auth).")
        listed = "; ".join(f"{s['subscriptionId']} ({s.get('displayName', '')})" for s in found)
        raise UsageError(f"The signed-in identity sees {len(found)} subscriptions: {listed}.",
                         hint=f"Choose one: {CHOOSE}.")
