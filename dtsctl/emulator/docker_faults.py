"""How the Docker engine's faults become dtsctl errors: where the Docker Engine is expected, why it
cannot be reached (probed without HTTP first, so the message is precise), and the typed error
(:mod:`dtsctl.errors`, :class:`~dtsctl.emulator.model.EmulatorError`) with a hint for an SDK or
transport exception, a failed pull or a failed container start. No docker traceback leaves here.

Importing this module does not import ``docker``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlparse

from dtsctl.dts import EMULATOR_TAGS_URL as MCR_TAGS_URL
from dtsctl.emulator.model import DEFAULT_IMAGE_REPO, EmulatorError, EmulatorExists
from dtsctl.errors import DtsctlError, NotFound, Unauthorized, Unreachable, as_clause

DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"

HINT_ENGINE = "Start Docker, or use the local engine: 'dtsctl emulator up --engine local'."
HINT_REGISTRY = (
    "Use --image with a mirror of the emulator image that you can reach, "
    "or the local engine: 'dtsctl emulator up --engine local'."
)


# --------------------------------------------------------------------------- where the engine is, and why not


def docker_host(environ: Mapping[str, str]) -> tuple[str, str]:
    """(base url, where it came from) as the docker SDK will resolve it; no I/O but config files."""
    host = (environ.get("DOCKER_HOST") or "").strip()
    if host:
        return host, "DOCKER_HOST"
    with contextlib.suppress(Exception):  # the Docker CLI context (~/.docker), as from_env does
        from docker.context import ContextAPI

        url = ContextAPI.kwargs_from_context(environment=environ).get("base_url")
        if url:
            return str(url), "the Docker context"
    return f"unix://{DEFAULT_DOCKER_SOCKET}", ""


def unix_path(url: str) -> str | None:
    for prefix in ("unix://", "http+unix://"):
        if url.startswith(prefix):
            return url[len(prefix):] or DEFAULT_DOCKER_SOCKET
    return None


def display(url: str) -> str:
    path = unix_path(url)
    return path if path is not None else url


def classify_socket_error(exc: BaseException, where: str, *, timeout: float | None = None) -> str:
    """The reason shown when the engine at `where` (a socket path or a URL) cannot be reached."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        secs = f" within {timeout:g}s" if timeout else ""
        return f"the Docker Engine at {where} is not answering (no answer{secs})"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the Docker Engine host of {where}: {exc.strerror or exc}"
    code = getattr(exc, "errno", None)
    if code == errno.ENOENT:
        return f"no Docker Engine socket at {where}"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied on {where}: add your user to the 'docker' group or run with sudo"
    if code == errno.ECONNREFUSED:
        return f"the Docker Engine at {where} is not answering (connection refused)"
    if code == errno.ENOTSOCK:
        return f"the Docker Engine at {where} is not answering (not a socket)"
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNRESET, errno.ETIMEDOUT):
        return f"the Docker Engine at {where} is not answering ({os.strerror(code).lower()})"
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"cannot connect to the Docker Engine at {where}: {detail}"


def probe_transport(url: str, timeout: float) -> str | None:
    """Check the socket under the engine URL without HTTP; None when it accepts a connection."""
    path = unix_path(url)
    if path is not None:
        try:
            st = os.stat(path)
        except OSError as exc:
            return classify_socket_error(exc, path)
        if not stat.S_ISSOCK(st.st_mode):
            return f"the Docker Engine at {path} is not answering (not a socket)"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            s.connect(path)
        except OSError as exc:
            return classify_socket_error(exc, path, timeout=timeout)
        finally:
            s.close()
        return None
    parsed = urlparse(url if "://" in url else f"tcp://{url}")
    if parsed.scheme in ("tcp", "http", "https"):
        host = parsed.hostname or "127.0.0.1"
        try:
            port = parsed.port or (2376 if parsed.scheme == "https" else 2375)
        except ValueError:
            return f"cannot connect to the Docker Engine at {url}: bad port"
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return None
        except OSError as exc:
            return classify_socket_error(exc, url, timeout=timeout)
    return None  # ssh://, npipe://: the SDK will tell


class Unavailable(Unreachable):
    """The Docker Engine cannot be used. `reason` is the clause that says why (`available()` reports
    it inside other sentences); the message is the sentence around it."""

    def __init__(self, *, reason: str, hint: str) -> None:
        super().__init__(f"Cannot use Docker: {reason}.", hint=hint)
        self.reason = reason


def sdk_connect_reason(exc: BaseException, where: str, timeout: float) -> str:
    """Reason for a failed SDK connection (after the transport probe passed)."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    for e in chain:
        if isinstance(e, OSError) and getattr(e, "errno", None):
            return classify_socket_error(e, where, timeout=timeout)
    text = " ".join(str(e) for e in chain)
    low = text.lower()
    if "timed out" in low or "timeout" in low:
        return f"the Docker Engine at {where} is not answering (no answer within {timeout:g}s)"
    if "permission denied" in low:
        return f"permission denied on {where}: add your user to the 'docker' group or run with sudo"
    if "connection refused" in low:
        return f"the Docker Engine at {where} is not answering (connection refused)"
    if "no such file" in low:
        return f"no Docker Engine socket at {where}"
    msg = str(exc).strip() or type(exc).__name__
    return f"cannot connect to the Docker Engine at {where}: {msg}"


# --------------------------------------------------------------------------- SDK and transport exceptions


def translate(exc: BaseException, action: str, name: str | None, host: str) -> DtsctlError:
    """A typed dtsctl error for an SDK / transport exception raised while `action` (on container
    `name`, when there is one) against the engine at `host`."""
    import docker.errors
    import requests.exceptions

    if isinstance(exc, DtsctlError):
        return exc
    if isinstance(exc, docker.errors.NotFound):
        if name:
            return NotFound(f"No emulator container named {name}.", hint="Create one: 'dtsctl emulator up'.")
        return NotFound(f"Not found while {action}: {as_clause(exc.explanation or exc)}.")
    if isinstance(exc, docker.errors.APIError):
        code = exc.status_code
        text = (exc.explanation or str(exc)).strip()
        if code == 409 and name and "already in use" in text:
            return EmulatorExists(
                f"A container named {name} already exists.",
                hint=f"Remove it with 'dtsctl emulator down --name {name}' (or 'docker rm -f {name}'), "
                "or choose another name with --name.",
            )
        if code in (401, 403):
            return Unauthorized(f"The Docker Engine refused {action}: {as_clause(text)}.")
        return EmulatorError(f"The Docker Engine failed {action}: {as_clause(text)}.")
    if isinstance(exc, (requests.exceptions.Timeout, socket.timeout, TimeoutError)):
        return Unreachable(f"The Docker Engine at {host} did not answer in time while {action}.", hint=HINT_ENGINE)
    if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError)):
        return Unreachable(f"Lost the connection to the Docker Engine at {host} while {action}.", hint=HINT_ENGINE)
    if isinstance(exc, docker.errors.DockerException):
        return EmulatorError(f"Docker error while {action}: {as_clause(exc)}.")
    return EmulatorError(f"Docker failed with an unexpected error while {action}: {type(exc).__name__}: {as_clause(exc)}.")


@contextlib.contextmanager
def translated(action: str, name: str | None, host: str) -> Iterator[None]:
    """Every exception in the block leaves as a dtsctl error (see translate)."""
    try:
        yield
    except DtsctlError:
        raise
    except Exception as exc:  # noqa: BLE001 - everything leaves as a dtsctl error
        raise translate(exc, action, name, host) from None


# --------------------------------------------------------------------------- pulls


class PullFailed(Exception):
    """An error event inside a pull stream."""


def registry_of(repo: str) -> str:
    first = repo.split("/", 1)[0]
    if "/" in repo and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def pull_error(image: str, repo: str, text: str) -> DtsctlError:
    """The error for a pull of `image` (from repository `repo`) that failed with `text`."""
    low = text.lower()
    detail = text.rstrip(".")
    default_repo = repo == DEFAULT_IMAGE_REPO
    not_found = (
        "manifest unknown" in low
        or "name unknown" in low
        or "not found" in low
        or "repository does not exist" in low
        or "no such image" in low
    )
    if not_found:
        if default_repo:
            hint = f"See the published tags: {MCR_TAGS_URL}."
        elif "docker login" in low:
            hint = f"Check the image name and tag (--image), or log in with 'docker login {registry_of(repo)}'."
        else:
            hint = "Check the image name and tag (--image)."
        return NotFound(f"The image {image} was not found in its registry: {detail}.", hint=hint)
    if any(s in low for s in ("unauthorized", "denied", "authentication required", "no basic auth",
                              "forbidden")):
        return Unauthorized(
            f"The registry refused access to image {image}: {detail}.",
            hint=f"Log in with 'docker login {registry_of(repo)}', or check the image name (--image).",
        )
    if any(s in low for s in ("connection refused", "no such host", "timeout", "timed out",
                              "i/o timeout", "network is unreachable", "no route to host",
                              "connection reset", "dial tcp", "server misbehaving",
                              "tls handshake", "x509", "eof", "http response to https client")):
        return Unreachable(f"Cannot reach the registry of image {image}: {detail}.", hint=HINT_REGISTRY)
    return EmulatorError(f"Pulling image {image} failed: {detail}.")


# --------------------------------------------------------------------------- container start


_PORT_IN_USE = re.compile(
    r"(?:Bind for (?P<ip1>\S+?):(?P<port1>\d+) failed: port is already allocated"
    r"|listen tcp[46]? (?P<ip2>\S+?):(?P<port2>\d+): bind: address already in use)"
)
_CANNOT_ASSIGN = re.compile(r"listen tcp[46]? (?P<ip>\S+?):(?P<port>\d+): bind: cannot assign requested address")


@dataclass(frozen=True)
class PortFault:
    """Why the engine could not publish a host port when it started a container."""

    kind: Literal["in-use", "not-this-host"]
    ip: str
    port: int


def port_fault(text: str) -> PortFault | None:
    """The port fault in the engine's start error `text`, if that is what it is."""
    m = _PORT_IN_USE.search(text)
    if m:
        return PortFault("in-use", (m.group("ip1") or m.group("ip2")).strip("[]"),
                         int(m.group("port1") or m.group("port2")))
    m = _CANNOT_ASSIGN.search(text)
    if m:
        return PortFault("not-this-host", m.group("ip"), int(m.group("port")))
    return None
