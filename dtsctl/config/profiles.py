"""Named profiles in one TOML file.

    current_profile = "prod"

    [profiles.prod]
    connection_string = "Endpoint=https://...;Authentication=ManagedIdentity"
    task_hub = "orders"
    subscription = "00000000-0000-0000-0000-000000000000"   # optional: the Azure commands' subscription

Reads never modify the file. Writes go to a temporary file in the same folder and are renamed
over the old one, so a crash leaves either the old or the new file. A file that cannot be read is
an error naming the file and line, and is never overwritten.

Every read-modify-write (`edit`) holds an exclusive lock on a lock file beside the file and reads
the file inside it, so parallel `dtsctl config` commands never lose each other's changes. The path
must be a regular file or missing: anything else (a FIFO, a device such as /dev/null, a folder) is
refused without being opened. A symlink is followed, and its target is what gets replaced.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dtsctl.errors import ConfigFileError, InvalidInput, NotFound

PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PROFILE_KEYS = ("connection_string", "task_hub", "subscription")
UTF8_BOM = b"\xef\xbb\xbf"
LOCK_TIMEOUT = 10.0  # seconds; other writers hold the lock for milliseconds
# Which key of a profile gives the task hub it uses.
TaskHubKey = Literal["task_hub", "connection_string"]
NOT_A_FILE_HINT = ("Replace it with a regular file, or point DTSCTL_CONFIG at one (a path that does not "
                   "exist yet is fine too).")


@dataclass(frozen=True)
class Profile:
    name: str
    connection_string: str | None = None
    task_hub: str | None = None
    subscription: str | None = None  # an Azure subscription id, for the Azure commands (session.py)

    def to_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "connection_string": self.connection_string, "task_hub": self.task_hub,
                "subscription": self.subscription}

    def task_hub_in_use(self) -> tuple[str | None, TaskHubKey | None]:
        """The task hub this profile gives and the key it comes from: its task_hub setting wins over
        TaskHub in its own connection string, as when the profile is used (config.target.resolve)."""
        if self.task_hub and self.task_hub.strip():
            return self.task_hub.strip(), "task_hub"
        from dtsctl.connection import ConnectionStringError, parse

        try:
            embedded = parse(self.connection_string or "").get("TaskHub")
        except ConnectionStringError:
            return None, None
        return (embedded, "connection_string") if embedded else (None, None)


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


def check_subscription(value: str) -> str:
    """An Azure subscription id (a GUID), stripped; InvalidInput otherwise."""
    from dtsctl.connection.model import GUID

    text = value.strip()
    if not GUID.fullmatch(text):
        raise InvalidInput(f"'{value}' is not an Azure subscription id: it is a GUID such as "
                           "00000000-0000-0000-0000-000000000000.",
                           hint="'az account list -o table' lists the subscriptions you can use, with their ids.")
    return text


def _bad(path: Path, why: str) -> ConfigFileError:
    """`why`: the rest of the sentence, with its full stop."""
    return ConfigFileError(
        f"The configuration file {path} is not valid: {why}",
        hint="Fix or move the file by hand (dtsctl will not overwrite it); 'DTSCTL_CONFIG' can point to another file.",
    )


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"


def _not_a_file(path: Path, mode: int) -> ConfigFileError:
    return ConfigFileError(f"Cannot read the configuration file {path}: it is {_kind(mode)}, not a regular file.",
                           hint=NOT_A_FILE_HINT)


def check_file_kind(path: Path) -> os.stat_result | None:
    """The status of `path` (symlinks followed) when it is a regular file, None when nothing is there.

    Anything else raises ConfigFileError, decided from stat alone: opening a FIFO blocks until a
    writer comes, and replacing a device (/dev/null) with a regular file breaks the machine.
    """
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None  # also a symlink whose target does not exist yet: writing creates the target
    except OSError as exc:
        raise ConfigFileError(f"Cannot read the configuration file {path}: {exc.strerror or exc}.",
                              hint=NOT_A_FILE_HINT) from exc
    if not stat.S_ISREG(status.st_mode):
        raise _not_a_file(path, status.st_mode)
    return status


def _read_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    if check_file_kind(path) is None:
        return None
    # O_NONBLOCK: should a FIFO be swapped in after the check, opening it still cannot block.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigFileError(f"Cannot read the configuration file {path}: {exc.strerror or exc}.") from exc
    try:
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise _not_a_file(path, mode)
            return handle.read()
    except OSError as exc:
        raise ConfigFileError(f"Cannot read the configuration file {path}: {exc.strerror or exc}.") from exc


def _parse(path: Path, raw: bytes) -> dict:
    import tomllib

    skipped = len(UTF8_BOM) if raw.startswith(UTF8_BOM) else 0  # Windows editors write one; TOML has none
    try:
        text = raw[skipped:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(path, f"it is not UTF-8 text (byte {exc.start + skipped}).") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)".
        raise _bad(path, f"{exc}.") from exc
    except RecursionError as exc:
        raise _bad(path, "it is nested too deeply to read (arrays or tables inside each other).") from exc
    except Exception as exc:  # noqa: BLE001 - hostile text can break the parser itself (a 5,000-digit number)
        raise _bad(path, f"a value cannot be read ({type(exc).__name__}: {exc}).") from exc


def load(path: Path) -> ConfigFile:
    raw = _read_bytes(path)
    if raw is None:
        return ConfigFile(path=path)
    doc = _parse(path, raw)

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
        if "subscription" in values:
            try:
                values["subscription"] = check_subscription(values["subscription"])
            except InvalidInput as exc:
                raise _bad(path, f"'subscription' in [profiles.{name}]: {exc.message}") from None
        profiles[name] = Profile(name=name, **values)
    return ConfigFile(path=path, current=current, profiles=profiles, exists=True)


def _writable_target(path: Path) -> Path:
    """The path a write replaces: the final target of a symlink (so the link stays a link), once it
    is known to be a regular file that may be written, or missing."""
    status = check_file_kind(path)
    real = Path(os.path.realpath(path))
    # Root may write any file, but a file without its owner's write bit was made read-only on purpose.
    if status is not None and not (status.st_mode & stat.S_IWUSR and os.access(real, os.W_OK)):
        shown = f"{path}" if real == Path(os.path.abspath(path)) else f"{path} (a link to {real})"
        raise ConfigFileError(
            f"The configuration file {shown} is read-only, so dtsctl will not replace it; nothing was changed.",
            hint=f"Make it writable ('chmod u+w {real}') if the change is wanted, or point DTSCTL_CONFIG at another file.",
        )
    return real


def lock_file(real: Path) -> Path:
    return real.with_name(real.name + ".lock")


@contextlib.contextmanager
def edit(path: Path) -> Iterator[ConfigFile]:
    """Read-modify-write: yields the file as it is now, read under its lock, and writes it back
    (still under the lock) when the block ends without an exception."""
    from dtsctl.filelock import exclusive

    real = _writable_target(path)
    with exclusive(lock_file(real), timeout=LOCK_TIMEOUT, what=f"the configuration file {path}"):
        real = _writable_target(path)  # again: another process may have changed it while we waited
        config = load(path)
        yield config
        _write(config, real)


def _dump(config: ConfigFile) -> str:
    import tomli_w

    doc: dict[str, object] = {}
    if config.current:
        doc["current_profile"] = config.current
    doc["profiles"] = {
        name: {k: v for k, v in (("connection_string", p.connection_string), ("task_hub", p.task_hub),
                                 ("subscription", p.subscription)) if v}
        for name, p in sorted(config.profiles.items())
    }
    return "# dtsctl profiles; edit with 'dtsctl config ...'\n" + tomli_w.dumps(doc)


def save(config: ConfigFile) -> None:
    """Replace the file with `config`, checked like `edit` but without its lock: a change to what is
    in the file goes through `edit`, or another process's change made meanwhile is lost."""
    _write(config, _writable_target(config.path))


def _write(config: ConfigFile, real: Path) -> None:
    """Replace `real` atomically (0600); its folder is created (0700) when missing."""
    from dtsctl.jsonfile import write_text_atomic

    path = config.path
    text = _dump(config)
    try:
        write_text_atomic(real, text, mode=0o600, folder_mode=0o700)
    except OSError as exc:
        raise ConfigFileError(f"Cannot write the configuration file {path}: {exc.strerror or exc}.") from exc
