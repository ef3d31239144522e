"""Named profiles in one TOML file.

    current_profile = "prod"

    [profiles.prod]
    connection_string = "Endpoint=https://...;Authentication=ManagedIdentity"
    task_hub = "orders"

Reads never modify the file. Writes go to a temporary file in the same folder and are renamed
over the old one, so a crash leaves either the old or the new file. A file that cannot be read is
an error naming the file and line, and is never overwritten.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from dtsctl.errors import ConfigFileError, InvalidInput, NotFound

PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PROFILE_KEYS = ("connection_string", "task_hub")


@dataclass(frozen=True)
class Profile:
    name: str
    connection_string: str | None = None
    task_hub: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "connection_string": self.connection_string, "task_hub": self.task_hub}


@dataclass
class ConfigFile:
    path: Path
    current: str | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)
    exists: bool = False

    def get(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none yet"
            raise NotFound(
                f"No profile named '{name}' in {self.path} (profiles: {known}).",
                hint="List them with 'dtsctl config list'; create one with "
                f"'dtsctl config set {name} --connection-string \"...\"'.",
            ) from None


def check_profile_name(name: str) -> str:
    if not PROFILE_NAME.match(name):
        raise InvalidInput(
            f"'{name}' is not a usable profile name.",
            hint="Use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit.",
        )
    return name


def _bad(path: Path, what: str) -> ConfigFileError:
    return ConfigFileError(
        f"The configuration file {path} is not valid: {what}",
        hint="Fix or move the file by hand (dtsctl will not overwrite it); 'DTSCTL_CONFIG' can point to another file.",
    )


def load(path: Path) -> ConfigFile:
    import tomllib

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return ConfigFile(path=path)
    except OSError as exc:
        raise ConfigFileError(f"Cannot read the configuration file {path}: {exc.strerror}.") from exc
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _bad(path, f"it is not UTF-8 text (byte {exc.start}).") from exc
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)".
        raise _bad(path, f"{exc}.") from exc

    current = doc.get("current_profile")
    if current is not None and not isinstance(current, str):
        raise _bad(path, "'current_profile' must be a string.")
    tables = doc.get("profiles", {})
    if not isinstance(tables, dict):
        raise _bad(path, "'profiles' must be a table ([profiles.NAME]).")
    profiles: dict[str, Profile] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise _bad(path, f"[profiles.{name}] must be a table.")
        values = {}
        for key, value in table.items():
            if key not in PROFILE_KEYS:
                raise _bad(path, f"unknown key '{key}' in [profiles.{name}] (known: {', '.join(PROFILE_KEYS)}).")
            if not isinstance(value, str):
                raise _bad(path, f"'{key}' in [profiles.{name}] must be a string.")
            values[key] = value
        profiles[name] = Profile(name=name, **values)
    return ConfigFile(path=path, current=current, profiles=profiles, exists=True)


def _dump(config: ConfigFile) -> str:
    import tomli_w

    doc: dict[str, object] = {}
    if config.current:
        doc["current_profile"] = config.current
    doc["profiles"] = {
        name: {k: v for k, v in (("connection_string", p.connection_string), ("task_hub", p.task_hub)) if v}
        for name, p in sorted(config.profiles.items())
    }
    return "# dtsctl profiles; edit with 'dtsctl config ...'\n" + tomli_w.dumps(doc)


def save(config: ConfigFile) -> None:
    """Replace the file atomically; its folder is created (0700) when missing."""
    import tempfile

    path = config.path
    text = _dump(config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigFileError(f"Cannot write the configuration file {path}: {exc.strerror or exc}.") from exc
