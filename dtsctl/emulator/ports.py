"""Who holds a TCP port on this machine (Linux /proc), for "port already in use" messages."""

from __future__ import annotations

import contextlib
import os
import sys

HAS_PROC = sys.platform.startswith("linux") and os.path.isdir("/proc/self")


def _socket_inodes(port: int) -> set[str]:
    """Inodes of TCP sockets listening on `port`, or bound to it without a peer (Linux /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii", errors="replace") as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) < 10:
                        continue
                    local, remote, state, inode = parts[1], parts[2], parts[3], parts[9]
                    try:
                        lport = int(local.rsplit(":", 1)[1], 16)
                        rport = int(remote.rsplit(":", 1)[1], 16)
                    except (IndexError, ValueError):
                        continue
                    # 0A = LISTEN; 07 = CLOSE with no peer (bound, not listening)
                    if lport == port and inode != "0" and (state == "0A" or (state == "07" and rport == 0)):
                        inodes.add(inode)
        except OSError:
            continue
    return inodes


def process_name(pid: int) -> str | None:
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip() or None
    return None


def port_holders(port: int, limit: int = 3) -> list[tuple[int, str | None]]:
    """(pid, command name) of the processes holding TCP `port`, as far as /proc tells (only processes
    whose descriptors this user may read). Empty when unknown."""
    if not HAS_PROC:
        return []
    wanted = {f"socket:[{inode}]" for inode in _socket_inodes(port)}
    if not wanted:
        return []
    found: list[tuple[int, str | None]] = []
    try:
        pids = sorted(int(entry) for entry in os.listdir("/proc") if entry.isdigit())
    except OSError:
        return []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target in wanted:
                found.append((pid, process_name(pid)))
                break
        if len(found) >= limit:
            break
    return found
