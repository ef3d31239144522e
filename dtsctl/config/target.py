"""Resolve the scheduler a command talks to, and remember where every value came from.

Precedence, per value: flag > environment > profile > the Python samples' variables > default.

- Connection string: `-c/--connection-string`; the profile named by `--profile` (a flag, so it
  outranks the environment); `DTSCTL_CONNECTION_STRING`, `DURABLE_TASK_SCHEDULER_CONNECTION_STRING`,
  `DURABLE_TASK_CONNECTION_STRING`; the profile named by `DTSCTL_PROFILE` or `current_profile`;
  `ENDPOINT` (only when none of those is set); the local emulator.
- Task hub: a dedicated task-hub setting (`--task-hub`; `DTSCTL_TASK_HUB`, `TASKHUB_NAME`; a
  profile's `task_hub`; `TASKHUB`) wins over the `TaskHub` key of a connection string that came
  from the same or a lower layer; a connection string from a higher layer keeps its own TaskHub.
  Functions apps rely on this: their connection string has no TaskHub and `TASKHUB_NAME` gives it.
- The profile itself (`Target.profile`, and its `subscription` for the Azure commands): `--profile`,
  else `DTSCTL_PROFILE`, else `current_profile`; none when -c is given without --profile (the file
  is not read then).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal
from pathlib import Path
from urllib.parse import urlsplit

from dtsctl.config import paths, profiles
from dtsctl.connection import EMULATOR_CONNECTION_STRING, ConnectionStringError, Validation, parse, validate
from dtsctl.dts import DEFAULT_TASK_HUB

CONNECTION_ENV = ("DTSCTL_CONNECTION_STRING", "DURABLE_TASK_SCHEDULER_CONNECTION_STRING", "DURABLE_TASK_CONNECTION_STRING")
TASK_HUB_ENV = ("DTSCTL_TASK_HUB", "TASKHUB_NAME")
SAMPLES_ENDPOINT_ENV = "ENDPOINT"
SAMPLES_TASK_HUB_ENV = "TASKHUB"
PROFILE_ENV = "DTSCTL_PROFILE"


# Where a value came from, as `connection show -o json` names it.
SourceKind = Literal["flag", "environment", "profile", "default"]


class Layer(IntEnum):
    DEFAULT = 0
    SAMPLES = 1  # ENDPOINT / TASKHUB, the names the Python samples read
    PROFILE = 2
    ENV = 3
    FLAG = 4


@dataclass(frozen=True)
class Source:
    layer: Layer
    name: str  # "--connection-string", "DURABLE_TASK_SCHEDULER_CONNECTION_STRING", "profile 'prod'", ...
    profile: str | None = None  # set when the value came from a profile

    @property
    def kind(self) -> SourceKind:
        kinds: dict[Layer, SourceKind] = {
            Layer.FLAG: "flag",
            Layer.ENV: "environment",
            Layer.PROFILE: "profile",
            Layer.SAMPLES: "environment",
            Layer.DEFAULT: "default",
        }
        return kinds[self.layer]

    def to_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "name": self.name, "profile": self.profile}

    def __str__(self) -> str:
        if self.layer in (Layer.ENV, Layer.SAMPLES):
            return f"environment variable {self.name}"
        return self.name


@dataclass(frozen=True)
class TargetArgs:
    """The target flags of one command line."""

    connection_string: str | None = None
    task_hub: str | None = None
    profile: str | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class Candidate:
    value: str
    source: Source


@dataclass(frozen=True)
class Target:
    connection_string: str
    task_hub: str | None
    validation: Validation
    connection_source: Source
    task_hub_source: Source | None
    profile: str | None
    config_path: Path
    # The selected profile's Azure subscription: the Azure commands' default after AZURE_SUBSCRIPTION_ID.
    subscription: str | None = None
    # Values that were set but lost to a higher-precedence one: (what, source).
    overridden: tuple[tuple[str, Source], ...] = field(default_factory=tuple)
    # The task hub is the TaskHub key of the connection string (not a task-hub setting): the place
    # to change it. A profile's string and its task_hub share one Source, so the Source cannot say.
    task_hub_in_string: bool = False

    @property
    def supplying_profile(self) -> str | None:
        """The profile that gave the connection string or the task hub; None when flags and the
        environment gave both, though a profile is selected (`profile`, for its subscription)."""
        for source in (self.connection_source, self.task_hub_source):
            if source is not None and source.profile is not None:
                return source.profile
        return None

    @property
    def fields(self):
        return self.validation.fields

    @property
    def endpoint(self) -> str | None:
        return self.fields.endpoint if self.fields else None

    @property
    def address(self) -> str | None:
        """host:port for gRPC."""
        f = self.fields
        if not f or f.host is None or f.port is None:
            return None
        host = f"[{f.host}]" if ":" in f.host else f.host
        return f"{host}:{f.port}"


def _is_loopback_url(url: str) -> bool:
    from dtsctl.connection.endpoint import is_loopback_host

    try:
        return is_loopback_host(urlsplit(url if "://" in url else f"http://{url}").hostname or "")
    except ValueError:
        return False


def _embedded_task_hub(text: str) -> str | None:
    try:
        return parse(text).get("TaskHub") or None
    except ConnectionStringError:
        return None


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value and value.strip() else None


def _select_profile(args: TargetArgs, env: Mapping[str, str], config: profiles.ConfigFile):
    """The profile in play and the layer it counts at (a --profile flag outranks the environment)."""
    if args.profile:
        return config.get(args.profile), Source(Layer.FLAG, f"profile '{args.profile}' (--profile)", args.profile)
    name = _env(env, PROFILE_ENV)
    if name:
        return config.get(name), Source(Layer.PROFILE, f"profile '{name}' ({PROFILE_ENV})", name)
    if config.current:
        return config.get(config.current), Source(Layer.PROFILE, f"profile '{config.current}' (current profile)", config.current)
    return None, None


def _needs_profiles(args: TargetArgs) -> bool:
    """Whether the profiles file can contribute anything.

    With -c and no --profile it cannot: the flag's connection string outranks every profile, and a
    profile selected by DTSCTL_PROFILE or current_profile sits at Layer.PROFILE, below the flag,
    so its task_hub is never a dedicated setting for the flag's endpoint and is kept out of the
    fallback (a profile's task hub is not attached to another endpoint). Not reading the file
    then means a broken, hanging (FIFO) or missing file cannot break a fully specified command.
    """
    return args.connection_string is None or bool(args.profile)


def resolve(args: TargetArgs, env: Mapping[str, str] | None = None) -> Target:
    """Build the Target. Raises NotFound for an unknown profile and ConfigFileError for a bad file."""
    env = os.environ if env is None else env
    config_path = paths.config_file(env)
    profile, profile_source = None, None
    if _needs_profiles(args):
        profile, profile_source = _select_profile(args, env, profiles.load(config_path))

    # Every place a connection string may come from, highest precedence first.
    conn: list[Candidate] = []
    hubs: list[Candidate] = []

    def add_profile_at(layer: Layer) -> None:
        if profile is None or profile_source.layer != layer:
            return
        if profile.connection_string:
            conn.append(Candidate(profile.connection_string, profile_source))
        if profile.task_hub and profile.task_hub.strip():
            hubs.append(Candidate(profile.task_hub.strip(), profile_source))

    if args.connection_string is not None:
        conn.append(Candidate(args.connection_string, Source(Layer.FLAG, "--connection-string")))
    # Stripped like the variables below: the value sent is then the value the validator checked.
    if args.task_hub and args.task_hub.strip():
        hubs.append(Candidate(args.task_hub.strip(), Source(Layer.FLAG, "--task-hub")))
    add_profile_at(Layer.FLAG)
    for name in CONNECTION_ENV:
        if value := _env(env, name):
            conn.append(Candidate(value, Source(Layer.ENV, name)))
    for name in TASK_HUB_ENV:
        if value := _env(env, name):
            hubs.append(Candidate(value.strip(), Source(Layer.ENV, name)))
    add_profile_at(Layer.PROFILE)
    if endpoint := _env(env, SAMPLES_ENDPOINT_ENV):
        auth = "None" if _is_loopback_url(endpoint.strip()) else "DefaultAzure"
        source = Source(Layer.SAMPLES, SAMPLES_ENDPOINT_ENV)
        conn.append(Candidate(f"Endpoint={endpoint.strip()};Authentication={auth}", source))
    if value := _env(env, SAMPLES_TASK_HUB_ENV):
        hubs.append(Candidate(value.strip(), Source(Layer.SAMPLES, SAMPLES_TASK_HUB_ENV)))
    conn.append(Candidate(EMULATOR_CONNECTION_STRING, Source(Layer.DEFAULT, "built-in default (local emulator)")))

    chosen = conn[0]
    overridden = [("connection string", c.source) for c in conn[1:] if c.source.layer != Layer.DEFAULT]

    task_hub, task_hub_source, in_string = None, None, False
    embedded = _embedded_task_hub(chosen.value)
    dedicated = [h for h in hubs if h.source.layer >= chosen.source.layer]
    if dedicated:
        task_hub, task_hub_source = dedicated[0].value, dedicated[0].source
    elif embedded:
        task_hub, task_hub_source, in_string = embedded, chosen.source, True
    else:
        # A lower layer may fill a gap (TASKHUB_NAME beside a -c string without TaskHub), but a
        # profile's task hub belongs to that profile's endpoint, not to another one.
        fallback = [h for h in hubs if h.source.profile is None]
        if fallback:
            task_hub, task_hub_source = fallback[0].value, fallback[0].source
    overridden += [("task hub", h.source) for h in hubs if h.source != task_hub_source]

    # A dedicated setting is handed to the validator, which notes when it overrides the string's own.
    outside = task_hub if task_hub_source is not None and task_hub != embedded else None
    validation = validate(
        chosen.value,
        task_hub=outside,
        task_hub_source=str(task_hub_source) if outside else None,
        env=env,
    )
    return Target(
        connection_string=chosen.value,
        task_hub=task_hub,
        validation=validation,
        connection_source=chosen.source,
        task_hub_source=task_hub_source,
        profile=profile.name if profile is not None else None,
        config_path=config_path,
        subscription=profile.subscription if profile is not None else None,
        overridden=tuple(overridden),
        task_hub_in_string=in_string,
    )
