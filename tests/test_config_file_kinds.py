"""What DTSCTL_CONFIG may point at: a regular file or a missing path, nothing else.

A FIFO must never be opened (opening one blocks until a writer comes, so every command would hang),
a device must never be replaced by a regular file (as root that would replace the machine's
/dev/null), a symlink is followed and its target written in place, a read-only file is refused
rather than replaced, and a hostile file (5,000 levels deep, a BOM) is read or refused cleanly.
Commands that do not need the file (a full `-c`, no `--profile`) do not read it at all.
"""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import run_dtsctl
from dtsctl.config import profiles
from dtsctl.errors import ConfigFileError, ExitCode

pytestmark = pytest.mark.timeout(120)

LOCAL = "Endpoint=http://localhost:8080;Authentication=None;TaskHub=default"
PROFILE_FILE = f'current_profile = "a"\n\n[profiles.a]\nconnection_string = "{LOCAL}"\n'
# A hang (a FIFO opened for reading) fails the test instead of stopping the suite.
HANG = 15


def dtsctl(config: Path | str, *args: str, **env: str):
    return run_dtsctl(*args, env={"DTSCTL_CONFIG": str(config), **env}, timeout=HANG)


def assert_refused(result, path: Path | str, *words: str) -> None:
    assert result.returncode == ExitCode.USAGE, (result.args, result.stdout, result.stderr)
    assert str(path) in result.stderr and "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert result.stdout == ""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of its own, so listing it shows only what dtsctl made (tmp_path also holds the test's home)."""
    path = tmp_path / "cfg"
    path.mkdir()
    return path


def names(config: Path) -> list[str]:
    return sorted(profiles.load(config).profiles)


# ------------------------------------------------------------------ not a regular file

READS_AND_WRITES = (["config", "list"], ["config", "show", "a"], ["config", "set", "b", "-c", LOCAL],
                    ["config", "use", "a"], ["config", "delete", "a"], ["connection", "show"])


def test_fifo_is_refused_without_being_opened(folder: Path) -> None:
    fifo = folder / "config.toml"
    os.mkfifo(fifo)
    for args in READS_AND_WRITES:
        assert_refused(dtsctl(fifo, *args), fifo, "FIFO", "not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in folder.iterdir()) == ["config.toml"]  # no temporary or lock file


def test_directory_is_refused(folder: Path) -> None:
    directory = folder / "config.toml"
    directory.mkdir()
    for args in READS_AND_WRITES:
        assert_refused(dtsctl(directory, *args), directory, "directory", "not a regular file")
    assert directory.is_dir() and list(directory.iterdir()) == []


def test_symlink_to_a_fifo_is_refused(folder: Path) -> None:
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    link = folder / "config.toml"
    link.symlink_to(fifo)
    assert_refused(dtsctl(link, "config", "set", "b", "-c", LOCAL), link, "FIFO")
    assert link.is_symlink() and stat.S_ISFIFO(os.stat(link).st_mode)


def test_character_device_is_refused_and_left_alone() -> None:
    devnull = Path("/dev/null")
    # The guard first, directly: if it did not refuse, the CLI below would replace /dev/null.
    with pytest.raises(ConfigFileError, match="character device"):
        profiles.check_file_kind(devnull)
    for args in (["config", "list"], ["config", "show"], ["config", "set", "b", "-c", LOCAL]):
        assert_refused(dtsctl(devnull, *args), devnull, "character device")
    assert stat.S_ISCHR(os.lstat(devnull).st_mode)


# ------------------------------------------------------------------ symlinks

def test_symlink_is_followed_and_its_target_written_in_place(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "dtsctl.toml"
    real.parent.mkdir()
    real.write_text(PROFILE_FILE)
    (tmp_path / "cfg").mkdir()
    link = tmp_path / "cfg" / "config.toml"
    link.symlink_to(Path("..") / "dotfiles" / "dtsctl.toml")  # relative, as dotfile managers make them
    chain = tmp_path / "chain.toml"
    chain.symlink_to(link)

    assert dtsctl(link, "config", "set", "b", "-c", LOCAL).returncode == 0
    assert dtsctl(chain, "config", "set", "c", "-c", LOCAL).returncode == 0
    assert dtsctl(chain, "config", "use", "b").returncode == 0

    assert link.is_symlink() and chain.is_symlink() and os.readlink(link) == "../dotfiles/dtsctl.toml"
    assert names(real) == ["a", "b", "c"] and profiles.load(real).current == "b"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    # The temporary file was made beside the target (a rename cannot cross folders) and is gone.
    assert sorted(p.name for p in real.parent.iterdir()) == ["dtsctl.toml", "dtsctl.toml.lock"]
    assert sorted(p.name for p in link.parent.iterdir()) == ["config.toml"]


def test_dangling_symlink_creates_its_target(folder: Path) -> None:
    link = folder / "config.toml"
    link.symlink_to(folder / "later" / "real.toml")
    assert dtsctl(link, "config", "set", "b", "-c", LOCAL).returncode == 0
    assert link.is_symlink() and names(folder / "later" / "real.toml") == ["b"]


# ------------------------------------------------------------------ read-only

def test_read_only_file_is_refused_not_replaced(folder: Path) -> None:
    config = folder / "config.toml"
    config.write_text(PROFILE_FILE)
    config.chmod(0o400)  # no write bit: refused even as root, who could write or replace it anyway
    for args in (["config", "set", "b", "-c", LOCAL], ["config", "use", "a"], ["config", "delete", "a"]):
        assert_refused(dtsctl(config, *args), config, "read-only")
    assert config.read_text() == PROFILE_FILE and stat.S_IMODE(config.stat().st_mode) == 0o400
    listed = dtsctl(config, "config", "list", "-o", "json")  # reading it is fine
    assert listed.returncode == 0 and "a" in listed.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["config.toml"]


def test_failed_write_leaves_no_temporary_file(folder: Path) -> None:
    config = folder / "config.toml"
    config.write_text(PROFILE_FILE)
    config.chmod(0o600)

    def tiny_files() -> None:  # in the child: any write past 64 bytes fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

    exe = Path(sys.executable).with_name("dtsctl")
    r = subprocess.run([str(exe), "config", "set", "b", "-c", LOCAL], capture_output=True, text=True,
                       env={**os.environ, "DTSCTL_CONFIG": str(config)}, preexec_fn=tiny_files, timeout=HANG)
    assert r.returncode == ExitCode.USAGE and "Cannot write the configuration file" in r.stderr, r.stderr
    assert config.read_text() == PROFILE_FILE
    assert sorted(p.name for p in folder.iterdir()) == ["config.toml", "config.toml.lock"]


# ------------------------------------------------------------------ hostile or odd content

@pytest.mark.parametrize(
    "content",
    [
        "a = " + "[" * 5000 + "]" * 5000 + "\n",
        "a = " + "{b = " * 5000 + "1" + "}" * 5000 + "\n",
        "[profiles.x]\nconnection_string = 1" + "1" * 5000 + "\n",  # int() refuses over 4,300 digits
    ],
    ids=["deep-arrays", "deep-inline-tables", "huge-integer"],
)
def test_hostile_content_is_an_invalid_file_error(folder: Path, content: str) -> None:
    config = folder / "config.toml"
    config.write_text(content)
    for args in (["config", "list"], ["config", "set", "b", "-c", LOCAL], ["connection", "show"]):
        r = dtsctl(config, *args)
        assert_refused(r, config, "is not valid")
        assert "RecursionError" not in r.stderr and "unexpected" not in r.stderr
    assert config.read_text() == content


def test_utf8_bom_is_accepted(folder: Path) -> None:
    config = folder / "config.toml"
    config.write_bytes(b"\xef\xbb\xbf" + PROFILE_FILE.encode())  # as Windows Notepad saves it
    r = dtsctl(config, "config", "list", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert [(p["name"], p["current"]) for p in json.loads(r.stdout)] == [("a", True)]
    assert dtsctl(config, "config", "set", "b", "-c", LOCAL).returncode == 0
    assert names(config) == ["a", "b"] and profiles.load(config).current == "a"


def test_bom_does_not_shift_the_reported_byte(folder: Path) -> None:
    config = folder / "config.toml"
    config.write_bytes(b"\xef\xbb\xbfa = 1\n\xff\n")
    assert_refused(dtsctl(config, "config", "list"), config, "not UTF-8 text (byte 9)")


# ------------------------------------------------------------------ -c does not need the file

@pytest.mark.parametrize("kind", ["fifo", "garbage", "deep"])
def test_full_connection_string_flag_does_not_read_the_file(folder: Path, kind: str) -> None:
    config = folder / "config.toml"
    if kind == "fifo":
        os.mkfifo(config)
    else:
        config.write_text("[profiles.a\n" if kind == "garbage" else "a = " + "[" * 5000 + "]" * 5000)
    r = dtsctl(config, "connection", "show", "-c", LOCAL, "-o", "json", DTSCTL_PROFILE="no-such-profile")
    assert r.returncode == 0, r.stderr
    assert '"profile": null' in r.stdout  # no profile was in play, so none is reported
    # --profile asks for the file, so it is read and its problem reported.
    assert_refused(dtsctl(config, "connection", "show", "-c", LOCAL, "--profile", "a"), config)
