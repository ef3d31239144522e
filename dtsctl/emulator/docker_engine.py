"""The Docker engine of `dtsctl emulator`: the DTS emulator as a container on a Docker Engine.

``DockerEngine(environ=os.environ)`` implements :class:`dtsctl.emulator.model.Engine` (kind
``"docker"``). It talks to the engine through the docker SDK, which is imported lazily (importing
this module does not import ``docker``), and connects on first use with
``docker.DockerClient.from_env(environment=environ)`` (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``,
``DOCKER_CERT_PATH``, else the current Docker CLI context, else ``/var/run/docker.sock``).

Mechanics only: the service decides about idempotency, readiness and clean-up. Split by job:

    docker_faults     where the engine is, why it cannot be reached, SDK errors -> dtsctl errors
    docker_container  what a container is created with, and the EmulatorInfo read back from it
    docker_engine     the SDK calls of the Engine interface (this module)
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from dtsctl.emulator import docker_log
from dtsctl.emulator.docker_container import (
    create_options,
    info_from_attrs,
    liveness,
    looks_like_emulator,
    parse_docker_time,
    publisher_of,
    split_image_ref,
)
from dtsctl.emulator.docker_faults import (
    HINT_ENGINE,
    HINT_REGISTRY,
    MCR_TAGS_URL,
    PullFailed,
    classify_socket_error,
    display,
    docker_host,
    probe_transport,
    pull_error,
    port_fault,
    sdk_connect_reason,
    translate,
    translated,
    Unavailable,
)
from dtsctl.emulator.model import EmulatorError, EmulatorInfo, EmulatorSpec, EngineKind, PullPolicy, PullProgress
from dtsctl.errors import DtsctlError, NotFound, as_clause

DEFAULT_CONNECT_TIMEOUT = 5.0  # connecting + the first version/ping request
DEFAULT_OPERATION_TIMEOUT = 120.0  # any later request (stop adds its grace period on top)


def find_port_process(port: int) -> tuple[int, str] | None:
    """(pid, command name) of a visible process holding TCP `port`, or None."""
    from dtsctl.emulator.ports import port_holders

    holders = port_holders(port, limit=1)
    return (holders[0][0], holders[0][1] or "?") if holders else None


def _decode_line(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")


class DockerEngine:
    """The DTS emulator as a Docker container (see module docstring)."""

    kind: EngineKind = "docker"

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
        return display(docker_host(self._environ)[0])

    def _connect(self) -> tuple[Any, str]:
        """(client, description) or raise Unreachable with the precise reason."""
        if self._docker is not None:
            return self._docker, self._description or ""
        try:
            import docker
        except ImportError:
            raise Unavailable(
                reason="the docker Python package is not installed",
                hint="Install it ('pip install docker'), or use the local engine: 'dtsctl emulator up --engine local'.",
            ) from None
        url, _source = docker_host(self._environ)
        where = display(url)
        reason = probe_transport(url, self._connect_timeout)
        if reason is not None:
            raise Unavailable(reason=reason, hint=HINT_ENGINE)
        # from_env falls back to os.environ for an empty mapping: keep it non-empty.
        env = self._environ or {"DTSCTL_NO_ENVIRONMENT": "1"}
        client = None
        try:
            client = docker.DockerClient.from_env(environment=env, timeout=self._connect_timeout)
            docker_log.attach(client)  # --debug: each Docker API call with its status and duration
            client.ping()
            version = client.version()
        except Exception as exc:  # noqa: BLE001 - classified below
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            raise Unavailable(reason=sdk_connect_reason(exc, where, self._connect_timeout), hint=HINT_ENGINE) from None
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
        except Unavailable as exc:
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

    def _errors(self, action: str, name: str | None = None) -> contextlib.AbstractContextManager[None]:
        return translated(action, name, self.host)

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
        """Every container that looks like a DTS emulator (for `doctor`; see looks_like_emulator)."""
        with self._errors("list containers"):
            return [self._info(c) for c in self._client().containers.list(all=True) if looks_like_emulator(c.attrs or {})]

    def _info(self, c: Any) -> EmulatorInfo:
        return info_from_attrs(c.attrs or {}, name=c.name or "", status=c.status or "", container_id=c.id or "")

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

    def ensure_image(self, image: str, pull: PullPolicy, progress: PullProgress | None = None) -> None:
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
                    raise PullFailed(str(event.get("error") or detail.get("message") or "unknown error"))
                layer = event.get("id")
                if layer and progress is not None:
                    pd = event.get("progressDetail") or {}
                    progress(str(layer), str(event.get("status") or ""), pd.get("current"), pd.get("total"))
        except PullFailed as exc:
            raise pull_error(image, repo, str(exc)) from None
        except docker.errors.APIError as exc:
            if exc.status_code in (401, 403) and not exc.explanation:
                raise pull_error(image, repo, "unauthorized") from None
            raise pull_error(image, repo, (exc.explanation or str(exc)).strip()) from None
        except DtsctlError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, f"pulling {image}", None, self.host) from None
        if not self._image_present(image):
            raise EmulatorError(f"Pulling {image} finished but the image is not present.")

    # ------------------------------------------------------------ lifecycle

    def create(self, spec: EmulatorSpec, progress: PullProgress | None = None, *,
               keep_on_failure: bool = False) -> EmulatorInfo:
        client = self._client()
        self.ensure_image(spec.image, spec.pull, progress)
        with self._errors(f"creating container {spec.name}", spec.name):
            # containers.create never pulls (containers.run would, silently).
            container = client.containers.create(spec.image, detach=True, **create_options(spec))
        try:
            self._start_container(container, spec.name, spec)
        except DtsctlError as exc:
            if not keep_on_failure:
                with contextlib.suppress(Exception):
                    container.remove(force=True, v=True)
                raise
            exc.message += (f" The container was left in place (--keep-on-failure): 'docker logs {spec.name}' shows its "
                            f"output, 'dtsctl emulator down --name {spec.name}' removes it.")
            raise
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
            raise translate(exc, f"starting container {name}", name, self.host) from None

    def _start_error(self, name: str, text: str, spec: EmulatorSpec | None, c: Any) -> DtsctlError:
        fault = port_fault(text)
        if fault is not None and fault.kind == "in-use":
            return self.port_in_use_error(fault.port, fault.ip, spec=spec, own=c)
        if fault is not None:
            return EmulatorError(
                f"Cannot publish port {fault.port} on {fault.ip}: that address does not belong to this host.",
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
        return publisher_of(rows, port, exclude)

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
        return liveness(attrs, name)


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
