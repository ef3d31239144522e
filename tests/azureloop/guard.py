"""Network guard: while installed, any attempt to resolve or connect to a host that is not loopback
raises :class:`NetworkGuardError` and is recorded.

Patched (Python level): ``socket.getaddrinfo``, ``socket.create_connection``,
``socket.socket.connect``/``connect_ex`` (AF_INET/AF_INET6; AF_UNIX passes), and
``grpc.secure_channel``/``grpc.insecure_channel`` (+ ``grpc.aio``) - gRPC's C core resolves and
connects outside Python's socket module, so its channel targets are checked when created. When grpc
is not imported yet, a one-shot import hook patches it once it is.

Allowed: ``localhost``, 127.0.0.0/8, ::1, the unspecified addresses (bind), IPv4-mapped loopback,
AF_UNIX paths, ``getaddrinfo(None, ...)`` (passive).

Standalone on purpose (stdlib only, no package imports): ``_site/sitecustomize.py`` loads this file
by path into every Python subprocess started with the kit's ``env()`` (``AZURELOOP_GUARD=1``), and
appends each blocked attempt as a JSON line to ``$AZURELOOP_GUARD_LOG`` so the parent test sees it.
"""

from __future__ import annotations

import errno
import importlib.abc
import importlib.util
import ipaddress
import json
import os
import socket
import sys
import threading
import time
import traceback
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})
ENV_FLAG = "AZURELOOP_GUARD"
ENV_LOG = "AZURELOOP_GUARD_LOG"


class NetworkGuardError(OSError):
    """A non-loopback resolution or connection attempt under the azureloop network guard."""


def is_loopback_host(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("ascii", "replace")
    h = str(host).strip().lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if h == "":
        return True
    if h in LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def grpc_target_hosts(target: str) -> list[str] | None:
    """Hosts of a gRPC channel target; None for unix sockets (always allowed)."""
    t = str(target).strip()
    low = t.lower()
    if low.startswith(("unix:", "unix-abstract:", "vsock:")):
        return None
    if low.startswith(("ipv4:", "ipv6:")):
        return [_host_of(a) for a in t.split(":", 1)[1].split(",") if a]
    if low.startswith("dns:"):
        t = t[4:]
        if t.startswith("//"):
            t = t[2:]
            t = t.split("/", 1)[1] if "/" in t else t  # dns://authority/host:port
    return [_host_of(t)]


def _host_of(hostport: str) -> str:
    hp = hostport.strip()
    if hp.startswith("["):
        return hp[1:hp.index("]")] if "]" in hp else hp
    if hp.count(":") == 1:
        return hp.split(":", 1)[0]
    return hp  # a bare name, or a bare IPv6 address


class NetworkGuard:
    """Install / uninstall the patches in this process; ``blocked`` lists what was refused."""

    def __init__(self, log_path: str | None = None):
        self.log_path = log_path
        self.blocked: list[dict[str, Any]] = []
        self._saved: list[tuple[Any, str, Any]] = []
        self._lock = threading.Lock()
        self._hook: _GrpcImportHook | None = None
        self.installed = False

    # -- bookkeeping -------------------------------------------------------------------------
    def _refuse(self, kind: str, host: Any, port: Any = None) -> NetworkGuardError:
        entry = {"kind": kind, "host": str(host), "port": port, "pid": os.getpid(), "at": time.time(),
                 "stack": "".join(traceback.format_stack(limit=8)[:-2])}
        with self._lock:
            self.blocked.append(entry)
        if self.log_path:
            try:
                with open(self.log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry) + "\n")
            except OSError:
                pass
        return NetworkGuardError(errno.EACCES, f"azureloop network guard: {kind} to {host!s}"
                                 f"{'' if port is None else ':' + str(port)} blocked (only loopback is allowed)")

    def take(self) -> list[dict[str, Any]]:
        """The blocked attempts so far; the list is emptied."""
        with self._lock:
            out, self.blocked = self.blocked, []
        return out

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    # -- install -----------------------------------------------------------------------------
    def install(self) -> NetworkGuard:
        if self.installed:
            return self
        guard = self
        real_getaddrinfo = socket.getaddrinfo
        real_create_connection = socket.create_connection
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex

        def getaddrinfo(host, port, *args, **kwargs):
            if not is_loopback_host(host):
                raise guard._refuse("getaddrinfo", host, port)
            return real_getaddrinfo(host, port, *args, **kwargs)

        def create_connection(address, *args, **kwargs):
            host, port = address[0], address[1]
            if not is_loopback_host(host):
                raise guard._refuse("create_connection", host, port)
            return real_create_connection(address, *args, **kwargs)

        def _check(sock, address, kind):
            if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) \
                    and not is_loopback_host(address[0]):
                raise guard._refuse(kind, address[0], address[1] if len(address) > 1 else None)

        def connect(self_sock, address):
            _check(self_sock, address, "connect")
            return real_connect(self_sock, address)

        def connect_ex(self_sock, address):
            _check(self_sock, address, "connect")
            return real_connect_ex(self_sock, address)

        self._patch(socket, "getaddrinfo", getaddrinfo)
        self._patch(socket, "create_connection", create_connection)
        self._patch(socket.socket, "connect", connect)
        self._patch(socket.socket, "connect_ex", connect_ex)
        if "grpc" in sys.modules:
            self._patch_grpc(sys.modules["grpc"])
        else:
            self._hook = _GrpcImportHook(self)
            sys.meta_path.insert(0, self._hook)
        self.installed = True
        return self

    def _patch_grpc(self, grpc_module: Any) -> None:
        guard = self

        def wrap(fn, kind):
            def checked(target, *args, **kwargs):
                hosts = grpc_target_hosts(target)
                for host in hosts or ():
                    if not is_loopback_host(host):
                        raise guard._refuse(kind, target)
                return fn(target, *args, **kwargs)
            checked.__wrapped__ = fn  # type: ignore[attr-defined]
            return checked

        for name in ("secure_channel", "insecure_channel"):
            self._patch(grpc_module, name, wrap(getattr(grpc_module, name), f"grpc.{name}"))
        aio = getattr(grpc_module, "aio", None)
        if aio is not None:
            for name in ("secure_channel", "insecure_channel"):
                if hasattr(aio, name):
                    self._patch(aio, name, wrap(getattr(aio, name), f"grpc.aio.{name}"))

    def uninstall(self) -> None:
        if self._hook is not None:
            try:
                sys.meta_path.remove(self._hook)
            except ValueError:
                pass
            self._hook = None
        while self._saved:
            owner, name, value = self._saved.pop()
            setattr(owner, name, value)
        self.installed = False

    def __enter__(self) -> NetworkGuard:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


class _GrpcImportHook(importlib.abc.MetaPathFinder):
    """Patches grpc right after its first import, then removes itself."""

    def __init__(self, guard: NetworkGuard):
        self.guard = guard

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "grpc":
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:
            return None
        self.guard._hook = None
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        real_exec = loader.exec_module
        guard = self.guard

        class _Loader(importlib.abc.Loader):
            def __getattr__(self, name):  # get_resource_reader, get_data... of the real loader
                return getattr(loader, name)

            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                real_exec(module)
                if guard.installed:
                    guard._patch_grpc(module)

        spec.loader = _Loader()
        return spec


def install_from_env() -> NetworkGuard | None:
    """For ``sitecustomize``: install when ``AZURELOOP_GUARD=1``, logging to ``$AZURELOOP_GUARD_LOG``."""
    if os.environ.get(ENV_FLAG) != "1":
        return None
    return NetworkGuard(os.environ.get(ENV_LOG) or None).install()


def read_log(path: str | None) -> list[dict[str, Any]]:
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
