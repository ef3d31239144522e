"""`dtsctl config set|use|list|show|delete|path`: named profiles."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from dtsctl.cli import completers
from dtsctl.cli.common import Cx, command, group
from dtsctl.cli.connection_cmd import write_findings
from dtsctl.config import paths, profiles
from dtsctl.errors import InvalidInput, UsageError
from dtsctl.output.render import TextWriter

app = group(
    "config",
    "Named profiles (a connection string, task hub and Azure subscription each) in the user's config file.",
)

NameArg = Annotated[str, typer.Argument(help="Profile name.", show_default=False, autocompletion=completers.profile_names)]


def _load() -> profiles.ConfigFile:
    return profiles.load(paths.config_file())


def _endpoint(profile: profiles.Profile) -> str | None:
    from dtsctl.connection import ConnectionStringError, parse

    if not profile.connection_string:
        return None
    try:
        return parse(profile.connection_string).get("Endpoint")
    except ConnectionStringError:
        return None


def _register_secrets(profile: profiles.Profile) -> None:
    """Validating a profile registers its secrets, so that no printer shows them (the endpoint's
    password, a key pasted as the task hub...), in any field."""
    from dtsctl.connection import validate

    validate(profile.connection_string or "", task_hub=profile.task_hub)


def _profile_doc(config: profiles.ConfigFile, profile: profiles.Profile) -> dict:
    from dtsctl.redact import redact

    _register_secrets(profile)
    doc = profile.to_dict()
    doc["connection_string"] = redact(doc["connection_string"]) if doc["connection_string"] else None
    hub, key = profile.task_hub_in_use()
    # task_hub stays the stored setting; task_hub_in_use is the hub the profile makes dtsctl use.
    return {**doc, "current": config.current == profile.name, "endpoint": _endpoint(profile),
            "task_hub_in_use": hub, "task_hub_source": key}


# Where a profile's task hub comes from, in words for `show`.
HUB_SOURCES = {"task_hub": "task_hub setting", "connection_string": "TaskHub in the string"}


def _hub_text(profile: profiles.Profile, *, short: bool = False) -> str | None:
    """The task hub in use and where it comes from, for people ('orders (TaskHub in the string)')."""
    hub, key = profile.task_hub_in_use()
    if hub is None or key is None:
        return None
    if short:
        # The `list` table (it must fit 100 columns beside a subscription id): the setting, shown
        # there before, stays plain; a hub from the string says so.
        return f"{hub} (in the string)" if key == "connection_string" else hub
    text = f"{hub} ({HUB_SOURCES[key]}"
    string_hub = profiles.Profile(profile.name, profile.connection_string).task_hub_in_use()[0]
    if key == "task_hub" and string_hub and string_hub != hub:
        text += f", over TaskHub={string_hub} in the string"
    return text + ")"


@command(app, "set")
def set_profile(
    cx: Cx,
    name: NameArg,
    connection_string: Annotated[Optional[str], typer.Option("--connection-string", "-c", help="Connection string for this profile.", show_default=False)] = None,
    task_hub: Annotated[Optional[str], typer.Option(help="Task hub (when the connection string has no TaskHub, or to override it).", show_default=False)] = None,
    subscription: Annotated[Optional[str], typer.Option("--subscription", help="Azure subscription id for the Azure commands "
                                                        "(scheduler, taskhub, ...) using this profile; '' removes it.",
                                                        show_default=False)] = None,
    use: Annotated[bool, typer.Option("--use", help="Also make it the current profile.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Save even if the connection string has errors.")] = False,
) -> None:
    """Create or update a profile. The connection string is validated first.

    Examples:
      dtsctl config set local -c "$(dtsctl connection new --emulator)" --use
      dtsctl config set prod -c "$PROD_CONNECTION_STRING" --task-hub orders
      dtsctl config set prod --subscription 00000000-0000-0000-0000-000000000000
    """
    from dtsctl.connection import validate

    profiles.check_profile_name(name)
    if subscription:
        subscription = profiles.check_subscription(subscription)
    if connection_string is None and task_hub is None and subscription is None:
        raise UsageError("Nothing to set.", hint=f"Give it a connection string: 'dtsctl config set {name} --connection-string \"Endpoint=...;Authentication=...\"' "
                                                "(with --task-hub HUB when the string has no TaskHub).")
    # Read, change and write under the file's lock, so a parallel command's change is not lost.
    with profiles.edit(paths.config_file()) as config:
        existing = config.profiles.get(name)
        if existing is None and connection_string is None:
            raise UsageError(f"Profile '{name}' does not exist yet, so it needs --connection-string.")
        new_conn = connection_string if connection_string is not None else existing.connection_string
        new_hub = task_hub if task_hub is not None else (existing.task_hub if existing else None)
        result = validate(new_conn, task_hub=new_hub or None, task_hub_source=f"profile '{name}' task_hub", env=os.environ)
        if not result.valid and not force:
            for f in result.errors:
                cx.finding(f)
            raise InvalidInput(f"The connection string for profile '{name}' has {len(result.errors)} error(s); nothing was saved.",
                               hint="Correct it ('dtsctl connection validate \"...\"' explains), or save anyway with --force.")
        new_sub = subscription if subscription is not None else (existing.subscription if existing else None)
        profile = profiles.Profile(name=name, connection_string=new_conn, task_hub=new_hub or None,
                                   subscription=new_sub or None)
        config.profiles[name] = profile
        if use or config.current is None:
            config.current = name
    doc = _profile_doc(config, profile)

    def human(w: TextWriter) -> None:
        w.line(f"{'Updated' if existing else 'Created'} profile '{name}' in {config.path}"
               + (" (current)" if config.current == name else ""))
        for f in result.findings:
            cx.finding(f)

    cx.emit(doc, human)


@command(app, "use")
def use_profile(cx: Cx, name: NameArg) -> None:
    """Make a profile the current one (used when no flag or environment variable says otherwise).

    Examples:
      dtsctl config use prod
      dtsctl config use local
    """
    with profiles.edit(paths.config_file()) as config:
        profile = config.get(name)
        config.current = name
    cx.emit(_profile_doc(config, profile), lambda w: w.line(f"Current profile: {name}"))


@command(app, "list")
def list_profiles(cx: Cx) -> None:
    """List the profiles; the current one is marked.

    Examples:
      dtsctl config list
      dtsctl config list -o json | jq -r '.[].name'
    """
    config = _load()
    docs = [_profile_doc(config, p) for _, p in sorted(config.profiles.items())]

    def human(w: TextWriter) -> None:
        if not docs:
            w.line(f"No profiles in {config.path}.")
            w.line("Create one: dtsctl config set NAME --connection-string \"Endpoint=...;Authentication=...;TaskHub=...\"")
            return
        w.table(["", "Name", "Endpoint", "Task hub", "Subscription"],
                [["*" if d["current"] else "", d["name"], d["endpoint"], _hub_text(config.profiles[d["name"]], short=True),
                  d["subscription"]] for d in docs])

    cx.emit(docs, human)


@command(app, "show")
def show_profile(
    cx: Cx,
    name: Annotated[Optional[str], typer.Argument(help="Profile name (default: the current profile).", show_default=False,
                                                  autocompletion=completers.profile_names)] = None,
) -> None:
    """Show one profile and check its connection string.

    Examples:
      dtsctl config show
      dtsctl config show prod -o json
    """
    from dtsctl.connection import validate

    config = _load()
    name = name or config.current
    if not name:
        raise UsageError("There is no current profile.", hint="Name one ('dtsctl config show NAME') or pick one with 'dtsctl config use NAME'.")
    profile = config.get(name)
    result = validate(profile.connection_string or "", task_hub=profile.task_hub, task_hub_source=f"profile '{name}' task_hub", env=os.environ)
    doc = {**_profile_doc(config, profile), "valid": result.valid, "findings": [f.to_dict() for f in result.findings]}

    def human(w: TextWriter) -> None:
        w.kv([("Name", name), ("Current", doc["current"]), ("Connection string", doc["connection_string"]),
              ("Task hub", _hub_text(profile)), ("Subscription", profile.subscription), ("Valid", result.valid), ("File", str(config.path))])
        if result.findings:
            w.line()
            write_findings(w, result.findings)

    cx.emit(doc, human)


@command(app, "delete")
def delete_profile(cx: Cx, name: NameArg) -> None:
    """Delete a profile (if it was current, no profile is current afterwards).

    Examples:
      dtsctl config delete old-prod
      dtsctl config delete old-prod -o json
    """
    with profiles.edit(paths.config_file()) as config:
        profile = config.get(name)
        del config.profiles[name]
        if config.current == name:
            config.current = None
    _register_secrets(profile)
    cx.emit({**profile.to_dict(), "deleted": True, "connection_string": None},
            lambda w: w.line(f"Deleted profile '{name}'."))


@command(app, "path")
def config_path(cx: Cx) -> None:
    """Print the configuration file's path (DTSCTL_CONFIG, else $XDG_CONFIG_HOME/dtsctl/config.toml).

    Examples:
      dtsctl config path
      dtsctl config path -o json
    """
    path = paths.config_file()
    cx.emit({"path": str(path), "exists": path.exists()}, lambda w: w.line(str(path)))
