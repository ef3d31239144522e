"""The local engine's state folder: where an emulator's files are, its state record and how it is
read back, and the errors a state folder that cannot be written gives.

    <state_dir()>/local/<name>/state.json   a LocalState: what was started, how, and its pid
                              /ready.json   the server's own ready file (ports actually bound)
                              /server.log   the server's stdout + stderr, appended across restarts
                              /data.sqlite3 the state of a `--persist` emulator (unless --data names
                                            another file), with its -wal and -shm siblings
                              /data.json    after `down` of a persistent emulator: which data file
                                            it kept (a DataRecord), for `down --delete-data` and `up`
    <state_dir()>/local/.locks/<name>.lock  held by `up`/`down`/`restart` of <name>;
                                            outside <name>/, which `remove` deletes

The folder of an emulator is 0700 and its files 0600: state.json holds the `--env` values.
The data file outlives the emulator: removing an emulator keeps it (and data.json) unless asked.

A state file that cannot be read, or that does not hold a whole version-1 record, is damaged
(DamagedStateFile): `status` reports the emulator dead, `up` refuses it, `down` removes it (and
stops a server its ready file still names). The ready file is the server's: read back leniently,
a value of the wrong type counts as absent.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from dtsctl.emulator.model import EmulatorError, StateFolderError
from dtsctl.errors import UsageError
from dtsctl.jsonfile import write_json_atomic
from dtsctl.times import parse_iso

STATE_VERSION = 1
STATE_FILE = "state.json"
READY_FILE = "ready.json"
LOG_FILE = "server.log"
DATA_FILE = "data.sqlite3"
DATA_RECORD = "data.json"
#: What SQLite keeps next to a database file in WAL mode.
DATA_SIBLINGS = ("", "-wal", "-shm")
LOCK_DIR = ".locks"  # a name no emulator can have (names start with a letter or digit)
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
NAME_RE = re.compile(NAME_PATTERN)

#: What dtsctl last did to the server; whether it still runs is the pid's to say.
RecordedState = Literal["running", "stopped"]


def check_name(name: str) -> str:
    """The emulator name, or UsageError: letters, digits, '_', '.', '-'; 1-64 characters."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise UsageError(
            f"Invalid emulator name {name!r}.",
            hint="Use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit.")
    return name


@dataclass(frozen=True)
class StatePaths:
    """The files of one emulator."""

    dir: Path
    state: Path
    ready: Path
    log: Path

    @classmethod
    def of(cls, root: Path, name: str) -> StatePaths:
        folder = root / check_name(name)
        return cls(folder, folder / STATE_FILE, folder / READY_FILE, folder / LOG_FILE)

    @property
    def data(self) -> Path:
        """The data file of `--persist` without `--data`."""
        return self.dir / DATA_FILE

    @property
    def data_record(self) -> Path:
        return self.dir / DATA_RECORD

    def data_entries(self) -> frozenset[str]:
        """Names in the folder that removing the emulator keeps: its default data file and the record."""
        return frozenset({DATA_RECORD, *(DATA_FILE + suffix for suffix in DATA_SIBLINGS)})


def data_files(path: str | Path) -> list[Path]:
    """A data file and the -wal and -shm files SQLite keeps next to it."""
    return [Path(f"{path}{suffix}") for suffix in DATA_SIBLINGS]


def data_bytes(path: str | Path | None) -> int | None:
    """Bytes of a data file on disk (with its write-ahead log); None when there is no file. Only
    stat(2): a running engine holds the file's lock, and reading it is the engine's business."""
    if path is None:
        return None
    total, found = 0, False
    for part in data_files(path)[:2]:
        try:
            total += os.stat(part).st_size
            found = True
        except OSError:
            pass
    return total if found else None


class DamagedStateFile(EmulatorError):
    """A state.json that is unreadable or not a whole record; `why` says what is wrong with it."""

    def __init__(self, path: Path, why: str) -> None:
        name = path.parent.name
        super().__init__(f"The state file {path} of local emulator '{name}' is damaged ({why}).",
                         hint=f"Remove it with 'dtsctl emulator down --name {name}', then run 'dtsctl emulator up' again.")
        self.path = path
        self.why = why


# --------------------------------------------------------------------------- the record

class _Bad(Exception):
    """A field of a state document with the wrong type (carries why, for DamagedStateFile)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_or_none(value: Any) -> int | None:
    return value if _is_int(value) else None


def _is_iso(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_iso(value)
    except ValueError:
        return False
    return True


def _is_str_list(value: Any, *, empty: bool = True) -> bool:
    return isinstance(value, list) and (empty or bool(value)) and all(isinstance(v, str) for v in value)


# key -> (check, what it must be): every key of a version-1 document (all of them were always written).
_CHECKS: dict[str, tuple[Any, str]] = {
    "name": (lambda v: isinstance(v, str) and NAME_RE.fullmatch(v) is not None, "an emulator name"),
    "state": (lambda v: v in get_args(RecordedState), "'running' or 'stopped'"),
    "pid": (lambda v: v is None or (_is_int(v) and v > 0), "a pid or null"),
    "port": (lambda v: _is_int(v) and 0 <= v <= 65535, "a port number"),
    "grpc_port": (lambda v: v is None or (_is_int(v) and 0 < v <= 65535), "a port number or null"),
    "health_port": (lambda v: v is None or (_is_int(v) and 0 < v <= 65535), "a port number or null"),
    "bind": (lambda v: isinstance(v, str), "an address"),
    "task_hubs": (_is_str_list, "a list of task hub names"),
    "dynamic_task_hubs": (lambda v: isinstance(v, bool), "true or false"),
    "settings": (lambda v: isinstance(v, dict), "an object"),
    "environment": (lambda v: isinstance(v, dict) and all(isinstance(x, str) for kv in v.items() for x in kv),
                    "an object of strings"),
    "command": (lambda v: _is_str_list(v, empty=False), "a command line"),
    "python": (lambda v: isinstance(v, str), "a path"),
    "cwd": (lambda v: isinstance(v, str), "a path"),
    "log_path": (lambda v: isinstance(v, str), "a path"),
    "ready_file": (lambda v: isinstance(v, str), "a path"),
    "created_at": (_is_iso, "an ISO 8601 time"),
    "started_at": (lambda v: v is None or _is_iso(v), "an ISO 8601 time or null"),
    "stopped_at": (lambda v: v is None or _is_iso(v), "an ISO 8601 time or null"),
    "exit_code": (lambda v: v is None or _is_int(v), "an exit code or null"),
}
# Keys added to version 1 later: absent in a record an older dtsctl wrote (then their default).
_OPTIONAL: dict[str, tuple[Any, str]] = {
    "data_file": (lambda v: v is None or (isinstance(v, str) and os.path.isabs(v)), "an absolute path or null"),
}


@dataclass(frozen=True)
class LocalState:
    """state.json (version 1): one local emulator as dtsctl started it. Timestamps are ISO 8601
    UTC text ("...Z") as written; `port` is the one asked for (0 = ephemeral), `grpc_port` and
    `health_port` the ones bound (from the ready file); `settings` is EmulatorSpec.settings("local")
    at create, `environment` EmulatorSpec.environment(), given to the server again on each start."""

    name: str
    state: RecordedState
    pid: int | None  # None once stopped
    port: int
    grpc_port: int | None
    health_port: int | None
    bind: str
    task_hubs: tuple[str, ...]
    dynamic_task_hubs: bool
    settings: Mapping[str, Any]
    environment: Mapping[str, str]
    command: tuple[str, ...]
    python: str
    cwd: str
    log_path: str
    ready_file: str
    created_at: str
    started_at: str | None
    stopped_at: str | None
    exit_code: int | None
    data_file: str | None = None  # absolute; None: state in memory only

    def to_json(self) -> dict[str, Any]:
        """The state.json document, keys in the order dtsctl has always written them."""
        doc: dict[str, Any] = {"version": STATE_VERSION, "engine": "local"}
        for f in fields(self):
            value = getattr(self, f.name)
            doc[f.name] = list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, Mapping) else value
        return doc

    @classmethod
    def from_json(cls, doc: Any, path: Path) -> LocalState:
        """The record in a decoded state.json (read from `path`); DamagedStateFile when it is not one."""
        try:
            if not isinstance(doc, dict):
                raise _Bad("not a JSON object")
            if doc.get("version") != STATE_VERSION or doc.get("engine") != "local":
                raise _Bad(f"not a version {STATE_VERSION} local engine record")
            for key, (check, what) in _CHECKS.items():
                if key not in doc:
                    raise _Bad(f"'{key}' is missing")
                if not check(doc[key]):
                    raise _Bad(f"'{key}' is not {what}")
            for key, (check, what) in _OPTIONAL.items():
                if key in doc and not check(doc[key]):
                    raise _Bad(f"'{key}' is not {what}")
        except _Bad as bad:
            raise DamagedStateFile(path, str(bad)) from None
        values = {key: doc[key] for key in (*_CHECKS, *_OPTIONAL) if key in doc}
        return cls(**{**values, "task_hubs": tuple(values["task_hubs"]), "command": tuple(values["command"]),
                      "settings": dict(values["settings"]), "environment": dict(values["environment"])})

    def stopped(self, at: str, exit_code: int | None) -> LocalState:
        return replace(self, state="stopped", pid=None, stopped_at=at, exit_code=exit_code)


@dataclass(frozen=True)
class ReadyFile:
    """The server's ready file as read back (see dtsctl.emulator.local.server). A field of the
    wrong type reads as None; an unreadable file as ReadyFile() (it names no pid)."""

    pid: int | None = None
    grpc_port: int | None = None
    health_port: int | None = None
    dashboard_port: int | None = None
    bind: str | None = None
    task_hubs: tuple[str, ...] | None = None
    dynamic_task_hubs: bool | None = None
    started_at: str | None = None
    data_file: str | None = None

    @classmethod
    def from_json(cls, doc: Any) -> ReadyFile:
        if not isinstance(doc, dict):
            return cls()
        hubs, bind, dynamic = doc.get("task_hubs"), doc.get("bind"), doc.get("dynamic_task_hubs")
        started, data = doc.get("started_at"), doc.get("data_file")
        return cls(
            pid=_int_or_none(doc.get("pid")),
            grpc_port=_int_or_none(doc.get("grpc_port")),
            health_port=_int_or_none(doc.get("health_port")),
            dashboard_port=_int_or_none(doc.get("dashboard_port")),
            bind=bind if isinstance(bind, str) and bind else None,
            task_hubs=tuple(str(h) for h in hubs) if isinstance(hubs, list) else None,
            dynamic_task_hubs=dynamic if isinstance(dynamic, bool) else None,
            started_at=started if _is_iso(started) else None,
            data_file=data if isinstance(data, str) and data else None,
        )


# --------------------------------------------------------------------------- reading and writing

class _Unreadable(Exception):
    pass


def _load(path: Path) -> Any:
    """The decoded JSON in path; None when absent; _Unreadable (a folder, not UTF-8, not JSON)."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise _Unreadable(exc.strerror or "unreadable") from None
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _Unreadable("not UTF-8") from None
    except ValueError:
        raise _Unreadable("not JSON") from None
    if doc is None:
        raise _Unreadable("not a JSON object")
    return doc


def read_state(path: Path) -> LocalState | None:
    """The record in state.json at `path`; None when there is none; DamagedStateFile."""
    try:
        doc = _load(path)
    except _Unreadable as exc:
        raise DamagedStateFile(path, str(exc)) from None
    return None if doc is None else LocalState.from_json(doc, path)


def read_ready(path: Path) -> ReadyFile | None:
    """The ready file at `path`; None when there is none."""
    try:
        doc = _load(path)
    except _Unreadable:
        return ReadyFile()
    return None if doc is None else ReadyFile.from_json(doc)


def read_data_record(path: Path) -> str | None:
    """The data file a removed emulator kept (data.json), or None when there is no usable record."""
    try:
        doc = _load(path)
    except _Unreadable:
        return None
    data = doc.get("data_file") if isinstance(doc, dict) and doc.get("version") == STATE_VERSION else None
    return data if isinstance(data, str) and os.path.isabs(data) else None


def unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        path.unlink()


class StateFolder:
    """Writes under the state folder `home`; an OSError leaves as a StateFolderError naming it."""

    def __init__(self, home: Path) -> None:
        self.home = home

    @contextlib.contextmanager
    def writing(self, path: Path | None = None) -> Iterator[None]:
        """OSError from writing (`path` in) the state folder leaves as a StateFolderError naming it."""
        try:
            yield
        except OSError as exc:
            raise self.error(exc, path) from exc

    def write_state(self, path: Path, state: LocalState) -> None:
        with self.writing(path):
            write_json_atomic(path, state.to_json(), mode=PRIVATE_FILE)

    def write_data_record(self, path: Path, data_file: str) -> None:
        with self.writing(path):
            write_json_atomic(path, {"version": STATE_VERSION, "data_file": data_file}, mode=PRIVATE_FILE)

    def make_dir(self, folder: Path) -> None:
        with self.writing():
            folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
            if os.name != "nt":
                os.chmod(folder, PRIVATE_DIR)  # one made by an older dtsctl may be 0755

    def delete_dir(self, folder: Path, keep: frozenset[str] = frozenset()) -> bool:
        """Delete `folder` with everything in it but the entries named in `keep` (the folder stays
        when one of them is there). True when something was deleted."""
        with self.writing():
            try:
                entries = list(folder.iterdir()) if keep else None
            except (FileNotFoundError, NotADirectoryError):
                return False
            if entries is None or not any(e.name in keep for e in entries):
                try:
                    shutil.rmtree(folder)
                except (FileNotFoundError, NotADirectoryError):
                    return False
                return True
            deleted = False
            for entry in entries:
                if entry.name in keep:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=False)
                else:
                    unlink(entry)
                deleted = True
            return deleted

    def open_log(self, path: Path) -> Any:
        """`path` opened for appending, private (0600) even when it was there before."""
        with self.writing(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), PRIVATE_FILE)
            if hasattr(os, "fchmod"):
                os.fchmod(fd, PRIVATE_FILE)
            return open(fd, "ab")

    def error(self, exc: OSError, path: Path | None = None) -> StateFolderError:
        """The error for a failed write of `path` under the state folder: what, why, what to do."""
        home = self.home
        path = exc.filename or path or home
        code = exc.errno
        elsewhere = "or set DTSCTL_STATE_DIR to another folder"
        if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return StateFolderError(f"Cannot write {path}: the disk of the dtsctl state folder {home} is full.",
                                    hint=f"Free some space there, {elsewhere}.")
        if code == errno.EROFS:
            return StateFolderError(f"Cannot write {path}: the dtsctl state folder {home} is on a read-only file system.",
                                    hint="Set DTSCTL_STATE_DIR to a writable folder.")
        if code in (errno.EACCES, errno.EPERM):
            return StateFolderError(
                f"Cannot write {path}: permission denied; the dtsctl state folder {home} may belong to another user.",
                hint=f"Make {home} writable for this user, {elsewhere} that you own.")
        if code in (errno.ENOTDIR, errno.EEXIST):
            return StateFolderError(f"Cannot create {path}: part of the dtsctl state folder path {home} is a file, "
                                    "not a folder.", hint="Set DTSCTL_STATE_DIR to a folder, or move that file away.")
        if code == errno.ENOENT:
            return StateFolderError(f"Cannot create {path}: the dtsctl state folder {home} cannot be created there.",
                                    hint="Set DTSCTL_STATE_DIR to a writable folder.")
        return StateFolderError(f"Cannot write {path} in the dtsctl state folder {home}: {exc.strerror or exc}.",
                                hint=f"Check that folder, {elsewhere}.")
