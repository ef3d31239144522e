"""The emulator's container as dtsctl writes and reads it: what it is created with (ports,
environment, the labels that mark it dtsctl's), and an EmulatorInfo read back from what the
Docker Engine reports about it (inspect attributes, list rows). Plain data in and out; no SDK
calls, and importing this module does not import ``docker``."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from dtsctl.emulator.model import (
    CONTAINER_DASHBOARD_PORT,
    CONTAINER_GRPC_PORT,
    DEFAULT_TASK_HUB,
    ENV_DYNAMIC_TASK_HUBS,
    ENV_TASK_HUB_NAMES,
    LABEL_MANAGED,
    LABEL_SETTINGS,
    EmulatorInfo,
    EmulatorSpec,
    EmulatorState,
)
from dtsctl.times import parse_iso

GRPC_KEY = f"{CONTAINER_GRPC_PORT}/tcp"
DASHBOARD_KEY = f"{CONTAINER_DASHBOARD_PORT}/tcp"


# --------------------------------------------------------------------------- small parsers


def parse_docker_time(value: str | None) -> datetime | None:
    """RFC 3339 with up to nanoseconds (Docker's State.StartedAt) -> aware UTC; zero time -> None."""
    if not value or value.startswith("0001-"):
        return None
    text = value.strip()
    # RFC 3339's shape only, not every ISO 8601 form; parse_iso keeps the microseconds of nanoseconds.
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|z|[+-]\d{2}:?\d{2})?$", text):
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None


def split_image_ref(image: str) -> tuple[str, str]:
    """(repository, tag or digest) for a pull; the tag defaults to 'latest'."""
    if "@" in image:
        repo, digest = image.rsplit("@", 1)
        return repo, digest
    head, sep, tail = image.rpartition(":")
    if sep and "/" not in tail:
        return head, tail
    return image, "latest"


def _env_list_to_dict(env: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _first_binding(bindings: Any) -> tuple[str | None, int | None]:
    """(host ip, host port) of the first binding in a PortBindings / Ports list."""
    if not bindings:
        return None, None
    b = bindings[0] or {}
    ip = b.get("HostIp") or None
    try:
        port = int(b.get("HostPort") or 0) or None
    except (TypeError, ValueError):
        port = None
    return ip, port


# --------------------------------------------------------------------------- writing


def create_options(spec: EmulatorSpec) -> dict[str, Any]:
    """Keyword arguments of containers.create for `spec` (besides the image): its name, published
    ports, environment, and labels that mark it dtsctl's and record its settings for a later `up`."""
    return {
        "name": spec.name,
        "ports": {
            GRPC_KEY: (spec.bind, spec.port),
            DASHBOARD_KEY: (spec.bind, spec.dashboard_port),
        },
        "environment": spec.environment(),
        "labels": {
            LABEL_MANAGED: "true",
            LABEL_SETTINGS: json.dumps(spec.settings("docker"), sort_keys=True),
        },
    }


# --------------------------------------------------------------------------- reading


def looks_like_emulator(attrs: Mapping[str, Any]) -> bool:
    """A container created by dtsctl, run from a dts-emulator image, or exposing the emulator's
    gRPC port 8080 (what `doctor` looks for)."""
    config = attrs.get("Config") or {}
    labels = config.get("Labels") or {}
    exposed = config.get("ExposedPorts") or {}
    return LABEL_MANAGED in labels or "dts-emulator" in (config.get("Image") or "") or GRPC_KEY in exposed


def info_from_attrs(attrs: Mapping[str, Any], *, name: str = "", status: str = "", container_id: str = "") -> EmulatorInfo:
    """The emulator a container's inspect attributes describe (`name`, `status`, `container_id`:
    the SDK object's own, used where the attributes lack them)."""
    config = attrs.get("Config") or {}
    state = attrs.get("State") or {}
    host_config = attrs.get("HostConfig") or {}
    bindings = host_config.get("PortBindings") or {}
    live = (attrs.get("NetworkSettings") or {}).get("Ports") or {}

    bind, port = _first_binding(bindings.get(GRPC_KEY))
    live_bind, live_port = _first_binding(live.get(GRPC_KEY))
    port = port or live_port
    bind = bind or live_bind or ("0.0.0.0" if port else None)
    _, dash = _first_binding(bindings.get(DASHBOARD_KEY))
    dash = dash or _first_binding(live.get(DASHBOARD_KEY))[1]

    env = _env_list_to_dict(config.get("Env"))
    hubs = tuple(h.strip() for h in (env.get(ENV_TASK_HUB_NAMES) or "").split(",") if h.strip())
    dynamic = (env.get(ENV_DYNAMIC_TASK_HUBS) or "").strip().lower() in ("true", "1", "yes")

    labels = config.get("Labels") or {}
    settings: dict[str, Any] = {}
    with contextlib.suppress(ValueError, TypeError):
        doc = json.loads(labels.get(LABEL_SETTINGS) or "{}")
        if isinstance(doc, dict):
            settings = doc

    # Passed on as Docker says it (one of EmulatorState's Docker states): `status` shows it as is.
    state_name = cast(EmulatorState, state.get("Status") or status or "unknown")
    pid = state.get("Pid") or None
    return EmulatorInfo(
        engine="docker",
        name=(attrs.get("Name") or name or "").lstrip("/"),
        state=state_name,
        port=port,
        bind=bind,
        task_hubs=hubs or (DEFAULT_TASK_HUB,),
        dynamic_task_hubs=dynamic,
        image=config.get("Image") or None,
        dashboard_port=dash,
        started_at=parse_docker_time(state.get("StartedAt")),
        pid=pid if state_name == "running" else None,
        container_id=(container_id or "")[:12] or None,
        settings=settings,
        managed=LABEL_MANAGED in labels,
    )


def publisher_of(rows: list[Mapping[str, Any]], port: int, exclude: str | None = None) -> tuple[str, str, bool] | None:
    """(name, image, managed by dtsctl) of the container in `rows` (GET /containers/json) that
    publishes TCP host `port`, other than the one with id `exclude`."""
    for row in rows:
        if exclude and row.get("Id") == exclude:
            continue
        for p in row.get("Ports") or []:
            if p.get("PublicPort") == port and (p.get("Type") or "tcp") == "tcp":
                names = row.get("Names") or ["?"]
                labels = row.get("Labels") or {}
                return names[0].lstrip("/"), row.get("Image") or "?", LABEL_MANAGED in labels
    return None


def liveness(attrs: Mapping[str, Any], name: str) -> tuple[bool, str | None]:
    """(running, why not) from the inspect attributes of the container looked up as `name`."""
    if (attrs.get("Name") or "").lstrip("/") != name:
        return False, f"container {name} was removed"
    state = attrs.get("State") or {}
    status = state.get("Status") or "unknown"
    if status == "running" and not state.get("Paused"):
        return True, None
    if status in ("exited", "dead"):
        detail = f"exited with code {state.get('ExitCode')}"
        if state.get("OOMKilled"):
            detail += " (out of memory)"
        if state.get("Error"):
            detail += f": {state['Error']}"
        return False, detail
    return False, f"container is {status}"
