"""Values the shell completes for options and arguments (Typer's `autocompletion=`).

A completer runs inside the user's shell on every Tab: it reads no network, never prints, and
answers nothing rather than fail (a broken config file completes no profile names; the command
itself then says what is wrong). Heavy or file-reading imports stay inside the functions.
"""

from __future__ import annotations


def statuses(incomplete: str) -> list[str]:
    """Runtime status names, lower case, for --status (also after a comma: running,fa<Tab>)."""
    from dtsctl.instances.records import STATUSES

    head, comma, part = incomplete.rpartition(",")
    prefix = head + comma
    return [prefix + s.lower() for s in STATUSES if s.lower().startswith(part.lower())]


def profile_names(incomplete: str) -> list[str]:
    """The profiles in the configuration file, for --profile and 'config use|show|set|delete NAME'."""
    from dtsctl.config import paths, profiles

    try:
        config = profiles.load(paths.config_file())
    except Exception:  # noqa: BLE001 - a completion never breaks the shell; the command reports it
        return []
    return sorted(name for name in config.profiles if name.startswith(incomplete))
