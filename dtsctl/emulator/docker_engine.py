"""The Docker engine of `dtsctl emulator`: the DTS emulator as a container on a Docker Engine.

``DockerEngine(environ=os.environ)`` implements :class:`dtsctl.emulator.model.Engine` (kind
``"docker"``). It talks to the engine through the docker SDK, which is imported lazily (importing
this module does not import ``docker``), and connects on first use with
``docker.DockerClient.from_env(environment=environ)`` (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``,
``DOCKER_CERT_PATH``, else the current Docker CLI context, else ``/var/run/docker.sock``).

Mechanics only: the service decides about idempotency, readiness and clean-up. Every SDK or
transport error leaves here as a typed dtsctl error (:mod:`dtsctl.errors`, or
:class:`~dtsctl.emulator.model.EmulatorError`) with a message and a hint; no docker traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import socket
import stat
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from dtsctl.emulator.model import (
    CONTAINER_DASHBOARD_PORT,
    CONTAINER_GRPC_PORT,
    DEFAULT_IMAGE_REPO,
    DEFAULT_TASK_HUB,
    ENV_DYNAMIC_TASK_HUBS,
    ENV_TASK_HUB_NAMES,
    LABEL_MANAGED,
    LABEL_SETTINGS,
    EmulatorError,
    EmulatorExists,
    EmulatorInfo,
    EmulatorSpec,
    PullProgress,
)
from dtsctl.dts import EMULATOR_TAGS_URL as MCR_TAGS_URL
from dtsctl.errors import DtsctlError, NotFound, Unauthorized, Unreachable, as_clause
from dtsctl.times import parse_iso

DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
DEFAULT_CONNECT_TIMEOUT = 5.0  # connecting + the first version/ping request
DEFAULT_OPERATION_TIMEOUT = 120.0  # any later request (stop adds its grace period on top)

HINT_ENGINE = "Start Docker, or use the built-in engine: 'dtsctl emulator up --engine local'."
HINT_REGISTRY = (
    "Use --image with a mirror of the emulator image that you can reach, "
    "or the built-in engine: 'dtsctl emulator up --engine local'."
)

_GRPC_KEY = f"{CONTAINER_GRPC_PORT}/tcp"
_DASHBOARD_KEY = f"{CONTAINER_DASHBOARD_PORT}/tcp"


# --------------------------------------------------------------------------- engine target


def _docker_host(environ: Mapping[str, str]) -> tuple[str, str]:
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


def _unix_path(url: str) -> str | None:
    for prefix in ("unix://", "http+unix://"):
        if url.startswith(prefix):
            return url[len(prefix):] or DEFAULT_DOCKER_SOCKET
    return None


def _display(url: str) -> str:
    path = _unix_path(url)
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


def _probe_transport(url: str, timeout: float) -> str | None:
    """Check the socket under the engine URL without HTTP; None when it accepts a connection."""
    path = _unix_path(url)
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


def _sdk_connect_reason(exc: BaseException, where: str, timeout: float) -> str:
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


# --------------------------------------------------------------------------- small parsers


def parse_docker_time(value: str | None) -> datetime | None:
    """RFC 3339 with up to nanoseconds (Docker's State.StartedAt) -> aware UTC; zero time -> None."""
    if not value or value.startswith("0001-"):
        return None
    text = value.strip()
    # RFC 3339's shape only, not every ISO 8601 form; parse_iso keeps the microseconds of nanoseconds.
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|z|[+-]\d{2}:?\d{2})?$", text):
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None


def split_image_ref(image: str) -> tuple[str, str]:
    """(repository, tag or digest) for a pull; the tag defaults to 'latest'."""
    if "@" in image:
        repo, digest = image.rsplit("@", 1)
        return repo, digest
    head, sep, tail = image.rpartition(":")
    if sep and "/" not in tail:
        return head, tail
    return image, "latest"


def _env_list_to_dict(env: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _first_binding(bindings: Any) -> tuple[str | None, int | None]:
    """(host ip, host port) of the first binding in a PortBindings / Ports list."""
    if not bindings:
        return None, None
    b = bindings[0] or {}
    ip = b.get("HostIp") or None
    try:
        port = int(b.get("HostPort") or 0) or None
    except (TypeError, ValueError):
        port = None
    return ip, port


def _decode_line(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")


# --------------------------------------------------------------------------- who holds a port


def find_port_process(port: int) -> tuple[int, str] | None:
    """(pid, command name) of a visible process holding TCP `port`, or None."""
    from dtsctl.emulator.ports import port_holders

    holders = port_holders(port, limit=1)
    return (holders[0][0], holders[0][1] or "?") if holders else None


_PORT_IN_USE = re.compile(
    r"(?:Bind for (?P<ip1>\S+?):(?P<port1>\d+) failed: port is already allocated"
    r"|listen tcp[46]? (?P<ip2>\S+?):(?P<port2>\d+): bind: address already in use)"
)
_CANNOT_ASSIGN = re.compile(r"listen tcp[46]? (?P<ip>\S+?):(?P<port>\d+): bind: cannot assign requested address")


# --------------------------------------------------------------------------- the engine


class DockerEngine:
    """The DTS emulator as a Docker container (see module docstring)."""

    kind = "docker"

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        operation_timeout: float = DEFAULT_OPERATION_TIMEOUT,
    ) -> None:
        self._environ = dict(os.environ if environ is None else environ)
        self._connect_timeout = connect_timeout
        self._operation_timeout = operation_timeout
        self._docker: Any = None  # docker.DockerClient once connected
        self._description: str | None = None

    # ------------------------------------------------------------ connection

    @property
    def host(self) -> str:
        """Where the engine is expected (socket path or URL), for messages."""
        return _display(_docker_host(self._environ)[0])

    def _connect(self) -> tuple[Any, str]:
        """(client, description) or raise Unreachable with the precise reason."""
        if self._docker is not None:
            return self._docker, self._description or ""
        try:
            import docker
        except ImportError:
            raise _Unavailable(
                reason="the docker Python package is not installed",
                hint="Install it ('pip install docker'), or use the built-in engine: 'dtsctl emulator up --engine local'.",
            ) from None
        url, _source = _docker_host(self._environ)
        where = _display(url)
        reason = _probe_transport(url, self._connect_timeout)
        if reason is not None:
            raise _Unavailable(reason=reason, hint=HINT_ENGINE)
        # from_env falls back to os.environ for an empty mapping: keep it non-empty.
        env = self._environ or {"DTSCTL_NO_ENVIRONMENT": "1"}
        client = None
        try:
            client = docker.DockerClient.from_env(environment=env, timeout=self._connect_timeout)
            client.ping()
            version = client.version()
        except Exception as exc:  # noqa: BLE001 - classified below
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            raise _Unavailable(reason=_sdk_connect_reason(exc, where, self._connect_timeout), hint=HINT_ENGINE) from None
        client.api.timeout = self._operation_timeout
        self._docker = client
        self._description = (
            f"Docker Engine {version.get('Version', '?')} (API {version.get('ApiVersion', '?')}) at {where}"
        )
        return client, self._description

    def _client(self) -> Any:
        return self._connect()[0]

    def available(self) -> tuple[bool, str]:
        try:
            return True, self._connect()[1]
        except _Unavailable as exc:
            return False, exc.reason
        except DtsctlError as exc:
            return False, exc.message

    def require(self) -> str:
        """The engine's description; raises Unreachable (with the reason) when it cannot be used."""
        return self._connect()[1]

    def close(self) -> None:
        client, self._docker = self._docker, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    # ------------------------------------------------------------ error translation

    def _translate(self, exc: BaseException, action: str, name: str | None = None) -> DtsctlError:
        """A typed dtsctl error for an SDK / transport exception raised while `action`."""
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
            return Unreachable(
                f"The Docker Engine at {self.host} did not answer in time while {action}.", hint=HINT_ENGINE
            )
        if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError)):
            return Unreachable(
                f"Lost the connection to the Docker Engine at {self.host} while {action}.", hint=HINT_ENGINE
            )
        if isinstance(exc, docker.errors.DockerException):
            return EmulatorError(f"Docker error while {action}: {as_clause(exc)}.")
        return EmulatorError(f"Docker failed with an unexpected error while {action}: {type(exc).__name__}: {as_clause(exc)}.")

    @contextlib.contextmanager
    def _errors(self, action: str, name: str | None = None) -> Iterator[None]:
        try:
            yield
        except DtsctlError:
            raise
        except Exception as exc:  # noqa: BLE001 - everything leaves as a dtsctl error
            raise self._translate(exc, action, name) from None

    # ------------------------------------------------------------ lookups

    def _container(self, name: str) -> Any | None:
        """The container with exactly this name, or None."""
        import docker.errors

        client = self._client()
        with self._errors(f"looking up container {name}"):
            try:
                c = client.containers.get(name)
            except docker.errors.NotFound:
                return None
            # GET /containers/{x} also resolves an id prefix: insist on the exact name.
            if c.name != name:
                matches = client.containers.list(all=True, filters={"name": f"^/{re.escape(name)}$"})
                return matches[0] if matches else None
            return c

    def _require_container(self, name: str) -> Any:
        c = self._container(name)
        if c is None:
            raise NotFound(f"No emulator container named {name}.", hint="Create one: 'dtsctl emulator up'.")
        return c

    def find(self, name: str) -> EmulatorInfo | None:
        c = self._container(name)
        return None if c is None else self._info(c)

    def emulators(self) -> list[EmulatorInfo]:
        """Every container that looks like a DTS emulator: created by dtsctl, run from a
        dts-emulator image, or exposing the emulator's gRPC port 8080 (for `doctor`)."""
        found = []
        with self._errors("list containers"):
            for c in self._client().containers.list(all=True):
                config = (c.attrs or {}).get("Config") or {}
                labels = config.get("Labels") or {}
                exposed = config.get("ExposedPorts") or {}
                if LABEL_MANAGED in labels or "dts-emulator" in (config.get("Image") or "") or _GRPC_KEY in exposed:
                    found.append(self._info(c))
        return found

    def _info(self, c: Any) -> EmulatorInfo:
        attrs = c.attrs or {}
        config = attrs.get("Config") or {}
        state = attrs.get("State") or {}
        host_config = attrs.get("HostConfig") or {}
        bindings = host_config.get("PortBindings") or {}
        live = (attrs.get("NetworkSettings") or {}).get("Ports") or {}

        bind, port = _first_binding(bindings.get(_GRPC_KEY))
        live_bind, live_port = _first_binding(live.get(_GRPC_KEY))
        port = port or live_port
        bind = bind or live_bind or ("0.0.0.0" if port else None)
        _, dash = _first_binding(bindings.get(_DASHBOARD_KEY))
        dash = dash or _first_binding(live.get(_DASHBOARD_KEY))[1]

        env = _env_list_to_dict(config.get("Env"))
        hubs = tuple(h.strip() for h in (env.get(ENV_TASK_HUB_NAMES) or "").split(",") if h.strip())
        dynamic = (env.get(ENV_DYNAMIC_TASK_HUBS) or "").strip().lower() in ("true", "1", "yes")

        labels = config.get("Labels") or {}
        settings: dict[str, Any] = {}
        with contextlib.suppress(ValueError, TypeError):
            doc = json.loads(labels.get(LABEL_SETTINGS) or "{}")
            if isinstance(doc, dict):
                settings = doc

        status = state.get("Status") or c.status or "unknown"
        pid = state.get("Pid") or None
        return EmulatorInfo(
            engine="docker",
            name=(attrs.get("Name") or c.name or "").lstrip("/"),
            state=status,
            port=port,
            bind=bind,
            task_hubs=hubs or (DEFAULT_TASK_HUB,),
            dynamic_task_hubs=dynamic,
            image=config.get("Image") or None,
            dashboard_port=dash,
            started_at=parse_docker_time(state.get("StartedAt")),
            pid=pid if status == "running" else None,
            container_id=(c.id or "")[:12] or None,
            settings=settings,
            managed=LABEL_MANAGED in labels,
        )

    # ------------------------------------------------------------ image

    def _image_present(self, image: str) -> bool:
        import docker.errors

        client = self._client()
        with self._errors(f"looking up image {image}"):
            try:
                client.images.get(image)
                return True
            except docker.errors.ImageNotFound:
                return False

    def ensure_image(self, image: str, pull: str, progress: PullProgress | None = None) -> None:
        """Make `image` present per the pull policy (missing | always | never)."""
        if pull == "never":
            if not self._image_present(image):
                raise NotFound(
                    f"The image {image} is not present and --pull never was given.",
                    hint=f"Pull it with 'docker pull {image}', or use --pull missing.",
                )
            return
        if pull == "missing" and self._image_present(image):
            return
        self.pull(image, progress)

    def pull(self, image: str, progress: PullProgress | None = None) -> None:
        """Pull `image`, reporting each layer event to `progress`; typed errors on failure."""
        import docker.errors

        client = self._client()
        repo, tag = split_image_ref(image)
        try:
            for event in client.api.pull(repo, tag, stream=True, decode=True):
                if not isinstance(event, dict):
                    continue
                if event.get("error") or event.get("errorDetail"):
                    detail = event.get("errorDetail") or {}
                    raise _PullFailed(str(event.get("error") or detail.get("message") or "unknown error"))
                layer = event.get("id")
                if layer and progress is not None:
                    pd = event.get("progressDetail") or {}
                    progress(str(layer), str(event.get("status") or ""), pd.get("current"), pd.get("total"))
        except _PullFailed as exc:
            raise self._pull_error(image, repo, str(exc)) from None
        except docker.errors.APIError as exc:
            if exc.status_code in (401, 403) and not exc.explanation:
                raise self._pull_error(image, repo, "unauthorized") from None
            raise self._pull_error(image, repo, (exc.explanation or str(exc)).strip()) from None
        except DtsctlError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._translate(exc, f"pulling {image}") from None
        if not self._image_present(image):
            raise EmulatorError(f"Pulling {image} finished but the image is not present.")

    def _pull_error(self, image: str, repo: str, text: str) -> DtsctlError:
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
                hint = f"Check the image name and tag (--image), or log in with 'docker login {_registry_of(repo)}'."
            else:
                hint = "Check the image name and tag (--image)."
            return NotFound(f"The image {image} was not found in its registry: {detail}.", hint=hint)
        if any(s in low for s in ("unauthorized", "denied", "authentication required", "no basic auth",
                                  "forbidden")):
            return Unauthorized(
                f"The registry refused access to image {image}: {detail}.",
                hint=f"Log in with 'docker login {_registry_of(repo)}', or check the image name (--image).",
            )
        if any(s in low for s in ("connection refused", "no such host", "timeout", "timed out",
                                  "i/o timeout", "network is unreachable", "no route to host",
                                  "connection reset", "dial tcp", "server misbehaving",
                                  "tls handshake", "x509", "eof", "http response to https client")):
            return Unreachable(f"Cannot reach the registry of image {image}: {detail}.", hint=HINT_REGISTRY)
        return EmulatorError(f"Pulling image {image} failed: {detail}.")

    # ------------------------------------------------------------ lifecycle

    def create(self, spec: EmulatorSpec, progress: PullProgress | None = None) -> EmulatorInfo:
        client = self._client()
        self.ensure_image(spec.image, spec.pull, progress)
        labels = {
            LABEL_MANAGED: "true",
            LABEL_SETTINGS: json.dumps(spec.settings("docker"), sort_keys=True),
        }
        ports = {
            _GRPC_KEY: (spec.bind, spec.port),
            _DASHBOARD_KEY: (spec.bind, spec.dashboard_port),
        }
        with self._errors(f"creating container {spec.name}", spec.name):
            # containers.create never pulls (containers.run would, silently).
            container = client.containers.create(
                spec.image,
                name=spec.name,
                ports=ports,
                environment=spec.environment(),
                labels=labels,
                detach=True,
            )
        try:
            self._start_container(container, spec.name, spec)
        except BaseException:
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
            raise
        return self._info_after(container, spec.name)

    def start(self, name: str) -> EmulatorInfo:
        c = self._require_container(name)
        self._start_container(c, name, None)
        return self._info_after(c, name)

    def _info_after(self, c: Any, name: str) -> EmulatorInfo:
        with self._errors(f"inspecting container {name}", name):
            c.reload()
        return self._info(c)

    def _start_container(self, c: Any, name: str, spec: EmulatorSpec | None) -> None:
        import docker.errors

        try:
            c.start()
        except docker.errors.APIError as exc:
            text = (exc.explanation or str(exc)).strip()
            raise self._start_error(name, text, spec, c) from None
        except Exception as exc:  # noqa: BLE001
            raise self._translate(exc, f"starting container {name}", name) from None

    def _start_error(self, name: str, text: str, spec: EmulatorSpec | None, c: Any) -> DtsctlError:
        m = _PORT_IN_USE.search(text)
        if m:
            ip = m.group("ip1") or m.group("ip2")
            port = int(m.group("port1") or m.group("port2"))
            return self.port_in_use_error(port, ip.strip("[]"), spec=spec, own=c)
        m = _CANNOT_ASSIGN.search(text)
        if m:
            return EmulatorError(
                f"Cannot publish port {m.group('port')} on {m.group('ip')}: "
                "that address does not belong to this host.",
                hint="Use --bind 127.0.0.1 (or another address of this host).",
            )
        return EmulatorError(f"The Docker Engine could not start container {name}: {as_clause(text)}.")

    def port_in_use_error(
        self, port: int, ip: str | None = None, *, spec: EmulatorSpec | None = None, own: Any = None
    ) -> EmulatorError:
        """The error for a host port that is taken, naming who holds it when that can be found."""
        where = f"Port {port}" + (f" on {ip}" if ip else "")
        flag = "--port"
        if spec is not None and port == spec.dashboard_port and port != spec.port:
            flag = "--dashboard-port"
        other = f"or choose another port with {flag} N"
        holder = self._container_on_port(port, exclude=getattr(own, "id", None))
        if holder is not None:
            hname, himage, managed = holder
            if managed:
                stop = f"'dtsctl emulator down --name {hname}' (or 'docker stop {hname}')"
            else:
                stop = f"'docker stop {hname}'"
            return EmulatorError(
                f"{where} is already in use by container {hname} (image {himage}).",
                hint=f"Stop it with {stop}, {other}.",
            )
        proc = find_port_process(port)
        if proc is not None:
            pid, comm = proc
            return EmulatorError(
                f"{where} is already in use by pid {pid} ({comm}).",
                hint=f"Stop that program, {other}.",
            )
        return EmulatorError(f"{where} is already in use by another program.", hint=f"Stop it, {other}.")

    def _container_on_port(self, port: int, exclude: str | None = None) -> tuple[str, str, bool] | None:
        """(name, image, managed by dtsctl) of a running container publishing host `port`."""
        try:
            rows = self._client().api.containers()
        except Exception:  # noqa: BLE001 - best effort, only for a message
            return None
        for row in rows:
            if exclude and row.get("Id") == exclude:
                continue
            for p in row.get("Ports") or []:
                if p.get("PublicPort") == port and (p.get("Type") or "tcp") == "tcp":
                    names = row.get("Names") or ["?"]
                    labels = row.get("Labels") or {}
                    return names[0].lstrip("/"), row.get("Image") or "?", LABEL_MANAGED in labels
        return None

    def stop(self, name: str, grace: float = 10.0) -> None:
        c = self._require_container(name)
        with self._errors(f"stopping container {name}", name):
            c.stop(timeout=max(0, int(math.ceil(grace))))

    def remove(self, name: str) -> None:
        import docker.errors

        c = self._container(name)
        if c is None:
            return
        with self._errors(f"removing container {name}", name):
            try:
                c.remove(force=True, v=True)
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as exc:
                if exc.status_code == 409 and "already in progress" in (exc.explanation or ""):
                    return  # another removal is under way
                raise

    # ------------------------------------------------------------ logs and liveness

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> Iterator[str]:
        c = self._require_container(name)
        with self._errors(f"reading the logs of {name}", name):
            stream = c.logs(stream=True, follow=follow, tail="all" if tail is None else max(0, int(tail)))
        return self._lines(stream, name)

    def _lines(self, stream: Any, name: str) -> Iterator[str]:
        buf = b""
        try:
            with self._errors(f"reading the logs of {name}", name):
                for chunk in stream:
                    if not chunk:
                        continue
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for raw in lines:
                        yield _decode_line(raw)
            if buf:
                yield _decode_line(buf)
        finally:
            with contextlib.suppress(Exception):
                stream.close()

    def last_logs(self, name: str, n: int = 20) -> list[str]:
        """The last `n` log lines; [] when they cannot be read (only for error messages)."""
        try:
            return list(self.logs(name, tail=n))[-n:] if n > 0 else []
        except Exception:  # noqa: BLE001
            return []

    def alive(self, name: str) -> tuple[bool, str | None]:
        import docker.errors

        client = self._client()
        with self._errors(f"inspecting container {name}", name):
            try:
                attrs = client.api.inspect_container(name)
            except docker.errors.NotFound:
                return False, f"container {name} was removed"
        if (attrs.get("Name") or "").lstrip("/") != name:
            return False, f"container {name} was removed"
        state = attrs.get("State") or {}
        status = state.get("Status") or "unknown"
        if status == "running" and not state.get("Paused"):
            return True, None
        if status in ("exited", "dead"):
            detail = f"exited with code {state.get('ExitCode')}"
            if state.get("OOMKilled"):
                detail += " (out of memory)"
            if state.get("Error"):
                detail += f": {state['Error']}"
            return False, detail
        return False, f"container is {status}"


class _Unavailable(Unreachable):
    """The Docker Engine cannot be used. `reason` is the clause that says why (`available()` reports
    it inside other sentences); the message is the sentence around it."""

    def __init__(self, *, reason: str, hint: str) -> None:
        super().__init__(f"Cannot use Docker: {reason}.", hint=hint)
        self.reason = reason


class _PullFailed(Exception):
    """An error event inside a pull stream."""


def _registry_of(repo: str) -> str:
    first = repo.split("/", 1)[0]
    if "/" in repo and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


__all__ = [
    "DockerEngine",
    "classify_socket_error",
    "find_port_process",
    "parse_docker_time",
    "split_image_ref",
    "MCR_TAGS_URL",
    "HINT_ENGINE",
    "HINT_REGISTRY",
]
