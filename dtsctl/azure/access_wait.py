"""Waiting until a new role assignment is effective for the operator on the data plane.

ARM lists a grant at once, but the scheduler honours it only once RBAC has propagated (up to 10
minutes, reference/dts.md section 5): until then a call answers PERMISSION_DENIED (or NOT_FOUND, as
Azure sometimes does for a role not yet propagated, section 4). This makes one cheap read (GetInstance
of an id no one uses) through the scheduler's endpoint and the task hub, as the operator, until it
answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from dtsctl.azure.errors import Interrupted, TimedOut
from dtsctl.azure.model import AuthChoice
from dtsctl.errors import NotFound, Unauthorized, UsageError

PROBE_ID = "dtsctl-access-check"  # an instance id to read: its absence is an answer too
NOT_YET = (Unauthorized, NotFound)


def data_plane_kind(auth: AuthChoice) -> str:
    """The connection string's Authentication that signs in as --auth did for ARM; UsageError when
    there is none (a device code sign-in cannot be repeated without the person)."""
    from dtsctl.azure.retention import DATA_PLANE_AUTH

    kind = DATA_PLANE_AUTH.get(auth)
    if kind is None:
        raise UsageError(f"--wait cannot check the data plane when signed in with --auth {auth}.",
                         hint="Sign in with --auth cli (after 'az login') or --auth default, or leave out --wait.")
    return kind


def operator_target(endpoint: str, hub: str, auth: AuthChoice, env: Mapping[str, str]) -> Any:
    """The data-plane target that signs in as the operator did for ARM, at `endpoint` and `hub`."""
    from dtsctl.config.target import TargetArgs, resolve

    kind = data_plane_kind(auth)
    text = f"Endpoint={endpoint};Authentication={kind};TaskHub={hub}"
    if kind == "ManagedIdentity" and env.get("AZURE_CLIENT_ID"):
        text += f";ClientID={env['AZURE_CLIENT_ID']}"
    return resolve(TargetArgs(connection_string=text), env)


def wait_effective(endpoint: str, hub: str, auth: AuthChoice, env: Mapping[str, str], *, timeout: float,
                   poll: float, phase: Callable[[str], None], check: str) -> float:
    """Seconds until a read of task hub `hub` at `endpoint` stops being refused; TimedOut after
    `timeout` s, Interrupted on Ctrl-C (the grant stays either way). `check` is the command to check
    it later."""
    from dtsctl import scheduler as data_plane
    from dtsctl.instances import service

    target = operator_target(endpoint, hub, auth, env)
    start = time.monotonic()
    deadline = start + timeout
    action = f"read task hub '{hub}'"
    last = ""
    try:
        with data_plane.connected(target, min(data_plane.DEFAULT_TIMEOUT, timeout), action=action) as conn:
            while True:
                waited = time.monotonic() - start
                try:
                    data_plane.call(service.get_state, conn, conn, PROBE_ID, payloads=False, action=action)
                    return waited
                except NOT_YET as exc:
                    last = exc.message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimedOut(
                        f"The role is not effective on task hub '{hub}' after {timeout:g} s: {last.rstrip('.')}. "
                        "The assignment stays; RBAC can take up to 10 minutes to apply.",
                        hint=f"Check again later with '{check}', or wait longer with --timeout; if it never "
                             "applies, the scheduler's IP allowlist may refuse this machine ('dtsctl doctor').")
                phase(f"waiting for the role to take effect on task hub '{hub}': {waited:.0f} s")
                time.sleep(min(poll, left))
    except KeyboardInterrupt:
        raise Interrupted("Stopped waiting: the role assignment stays and takes effect on its own.",
                          hint=f"Check it with '{check}'.") from None
