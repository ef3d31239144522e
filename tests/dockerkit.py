"""Docker test kit for dtsctl: engine probe, offline stand-in emulator image,
a throw-away local registry, container cleanup, and small wait helpers.

Registered as a pytest plugin from ``tests/conftest.py``.

Fixtures
--------
``docker_client``   (session)  ``docker.DockerClient`` that answers ``ping()``;
                               no engine -> ``pytest.fail`` when CI=true, else skip.
``standin_image``   (session)  ref ``dtsctl-test/dts-emulator:<hash>`` of an image built
                               offline from this interpreter + venv + dtsctl source.
``local_registry``  (session)  :class:`LocalRegistry` on ``127.0.0.1:<free port>``.
``docker_cleanup``  (function) :class:`DockerCleanup`; removes registered containers and
                               all ``dtsctl.test=1`` containers after the test.

Safety rules kept here
----------------------
* Nothing asks the engine to pull from anywhere but ``127.0.0.1:PORT``:
  :func:`pull_local` refuses other refs, and :meth:`DockerCleanup.create` uses
  ``containers.create`` (the SDK's ``containers.run`` silently *pulls* an image it
  does not find locally - never use it in tests with a ref that may be missing).
* Every container/image the kit creates carries the label ``dtsctl.test=1``.
* HTTP checks go through an opener with proxies disabled (loopback only).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

try:  # the docker SDK is a project dependency, but keep the module importable without it
    import docker
    import docker.errors
except ImportError:  # pragma: no cover
    docker = None  # type: ignore[assignment]

T = TypeVar("T")

# --------------------------------------------------------------------------- constants

TEST_LABEL = "dtsctl.test"
TEST_LABELS = {TEST_LABEL: "1"}
LABEL_FILTER = f"{TEST_LABEL}=1"

STANDIN_REPO = "dtsctl-test/dts-emulator"
STANDIN_RECIPE_VERSION = "1"  # bump when the rootfs/import recipe changes
SERVER_MODULE = "dtsctl.emulator.local.server"
GRPC_PORT, HEALTH_PORT, EXTRA_PORT = 8080, 8081, 8082

DEFAULT_DOCKER_SOCK = "/var/run/docker.sock"
REGISTRY_BINARY = "docker-registry"  # Debian package docker-registry
LOCAL_REGISTRY_IP = "127.0.0.1"


# --------------------------------------------------------------------------- small helpers


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (bind to 0, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(
    pred: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.1,
    desc: str = "condition",
) -> T:
    """Call ``pred`` until it returns something truthy; return that value.

    Exceptions raised by ``pred`` count as "not yet"; the last one is chained into
    the ``TimeoutError`` raised after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried
            last_exc = exc
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout:.1f}s waiting for {desc}"
            if last_exc is not None:
                msg += f" (last error: {type(last_exc).__name__}: {last_exc})"
            raise TimeoutError(msg) from last_exc
        time.sleep(interval)


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Wait until a TCP connect to host:port succeeds.

    Note: for a port published by Docker, docker-proxy accepts connections as soon as
    the container starts, before the service inside listens - use an HTTP/gRPC check
    (e.g. :func:`http_status`) for readiness instead.
    """

    def _connect() -> bool:
        with socket.create_connection((host, port), timeout=1.0):
            return True

    wait_until(_connect, timeout=timeout, desc=f"TCP {host}:{port}")


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    """GET ``url`` without any proxy; return (status, body) also for 4xx/5xx."""
    try:
        with _NO_PROXY_OPENER.open(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_status(url: str, timeout: float = 3.0) -> int:
    return http_get(url, timeout)[0]


def is_local_registry_ref(ref: str) -> bool:
    return ref.startswith(f"{LOCAL_REGISTRY_IP}:")


# --------------------------------------------------------------------------- engine probe


def is_ci(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("CI", "").strip().lower() in {"true", "1", "yes"}


def probe_engine(
    env: Mapping[str, str] | None = None, timeout: float = 10.0
) -> tuple[Any | None, str | None]:
    """Return ``(client, None)`` if an engine answers ``ping()``, else ``(None, reason)``."""
    env = dict(os.environ if env is None else env)
    if docker is None:
        return None, "no Docker Engine: the docker SDK is not installed"
    host = env.get("DOCKER_HOST", "")
    if not host or host.startswith("unix://"):
        sock = host[len("unix://"):] if host else DEFAULT_DOCKER_SOCK
        if not os.path.exists(sock):
            where = " (from DOCKER_HOST)" if host else ""
            return None, f"no Docker Engine: {sock} missing{where}"
    client = None
    try:
        client = docker.DockerClient.from_env(environment=env, timeout=timeout)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        return None, f"no Docker Engine at {host or DEFAULT_DOCKER_SOCK}: {type(exc).__name__}: {exc}"
    return client, None


def engine_missing_action(env: Mapping[str, str] | None = None) -> str:
    """What to do when a needed Docker piece is missing: ``"fail"`` on CI, else ``"skip"``."""
    return "fail" if is_ci(env) else "skip"


def fail_or_skip(reason: str, env: Mapping[str, str] | None = None) -> None:
    """``pytest.fail`` on CI (CI=true), ``pytest.skip`` elsewhere."""
    if engine_missing_action(env) == "fail":
        pytest.fail(f"{reason} (CI=true: what this test needs must be there)", pytrace=False)
    pytest.skip(reason)


def require_engine(env: Mapping[str, str] | None = None) -> Any:
    """A pinged DockerClient, or fail (CI) / skip (elsewhere) with the reason."""
    client, reason = probe_engine(env)
    if client is None:
        fail_or_skip(reason or "no Docker Engine", env)
    return client


# --------------------------------------------------------------------------- cleanup


def remove_containers(
    client: Any, *, names: Iterable[str] = (), labelled: bool = True
) -> list[str]:
    """Force-remove containers by name and (optionally) all ``dtsctl.test=1`` ones."""
    removed: list[str] = []
    targets: dict[str, Any] = {}
    if labelled:
        for c in client.containers.list(all=True, filters={"label": LABEL_FILTER}):
            targets[c.id] = c
    for name in names:
        try:
            c = client.containers.get(name)
        except docker.errors.NotFound:
            continue
        targets[c.id] = c
    for c in targets.values():
        try:
            c.remove(force=True, v=True)
            removed.append(c.name)
        except docker.errors.NotFound:
            pass
    return removed


def remove_image_tags(client: Any, refs: Iterable[str]) -> None:
    """Untag/remove images by reference; missing ones and in-use ones are ignored."""
    for ref in refs:
        with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.NotFound):
            try:
                client.images.remove(ref, noprune=False)
            except docker.errors.APIError as exc:  # e.g. used by a container
                if getattr(exc, "status_code", None) != 409:
                    raise


@dataclass
class DockerCleanup:
    """Per-test container bookkeeping; see the ``docker_cleanup`` fixture."""

    client: Any
    names: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)

    def register(self, name_or_container: Any) -> str:
        """Remove this container (name or Container) after the test."""
        name = getattr(name_or_container, "name", None) or str(name_or_container)
        self.names.append(name)
        return name

    def register_image(self, ref: str) -> str:
        """Remove this image tag after the test."""
        self.images.append(ref)
        return ref

    def create(
        self,
        image: str,
        command: list[str] | str | None = None,
        *,
        name: str | None = None,
        ports: Mapping[str, Any] | None = None,
        environment: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        start: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Create (and start) a labelled container from a LOCAL image; never pulls."""
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            raise RuntimeError(
                f"image {image!r} is not present locally; refusing to let the engine pull it"
            ) from None
        container = self.client.containers.create(
            image,
            command=command,
            name=name,
            ports=dict(ports or {}),
            environment=dict(environment or {}),
            labels={**TEST_LABELS, **dict(labels or {})},
            detach=True,
            **kwargs,
        )
        self.register(container)
        if start:
            container.start()
        return container

    def cleanup(self) -> None:
        remove_containers(self.client, names=self.names, labelled=True)
        remove_image_tags(self.client, self.images)


# --------------------------------------------------------------------------- stand-in image

# Left out of the interpreter's stdlib (size, or never needed by a gRPC server).
_STDLIB_SKIP_DIRS = {
    "test", "tests", "idle_test", "idlelib", "tkinter", "turtledemo", "ensurepip",
    "lib2to3", "pydoc_data", "__pycache__", "site-packages", "dist-packages",
}
_STDLIB_SKIP_PREFIXES = ("config-",)  # config-3.11-x86_64-linux-gnu: static lib for embedding
_DYNLOAD_SKIP_PREFIXES = ("_tkinter", "_test", "_ctypes_test", "xxlimited", "_xxtestfuzz")
_ALWAYS_SKIP_DIRS = {"__pycache__"}


def _walk_files(root: Path, skip_dir: Callable[[Path, str], bool]) -> Iterator[Path]:
    """Files and symlinks under root (symlinks are not followed)."""
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        keep = []
        for dn in sorted(dirnames):
            p = d / dn
            if skip_dir(d, dn):
                continue
            if p.is_symlink():
                yield p
            else:
                keep.append(dn)
        dirnames[:] = keep
        for fn in sorted(filenames):
            yield d / fn


def find_dtsctl_package() -> Path:
    """Directory of the dtsctl package (works for editable installs and plain checkouts)."""
    spec = importlib.util.find_spec("dtsctl")
    if spec is not None and spec.origin:
        return Path(spec.origin).resolve().parent
    here = Path(__file__).resolve().parent.parent / "dtsctl"
    if (here / "__init__.py").exists():
        return here
    raise RuntimeError("cannot locate the dtsctl package")


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


@dataclass
class StandinPlan:
    """What goes into the stand-in rootfs (absolute host paths, copied to the same paths)."""

    base_prefix: Path
    venv: Path
    python: Path  # the venv's python (CMD)
    entries: list[Path]  # files/symlinks (not following the last component)
    dtsctl_dir: Path | None  # copied separately when outside the venv
    pythonpath: str | None
    digest: str

    @property
    def tag(self) -> str:
        return self.digest[:16]

    @property
    def ref(self) -> str:
        return f"{STANDIN_REPO}:{self.tag}"

    def cmd(self) -> list[str]:
        return [
            str(self.python), "-m", SERVER_MODULE,
            "--bind", "0.0.0.0", "--port", str(GRPC_PORT), "--health-port", str(HEALTH_PORT),
        ]

    def changes(self) -> list[str]:
        env = [
            f"ENV PATH={self.venv}/bin:{self.base_prefix}/bin:/usr/local/bin:/usr/bin:/bin",
            "ENV PYTHONUNBUFFERED=1",
            "ENV HOME=/root",
        ]
        if self.pythonpath:
            env.append(f"ENV PYTHONPATH={self.pythonpath}")
        return env + [
            f"CMD {json.dumps(self.cmd())}",
            f"EXPOSE {GRPC_PORT} {HEALTH_PORT} {EXTRA_PORT}",
            f'LABEL {TEST_LABEL}="1" {TEST_LABEL}.standin="{self.digest}"',
        ]


def plan_standin() -> StandinPlan:
    """Work out the rootfs contents and a hash of everything that matters (no ldd here)."""
    base = Path(sys.base_prefix)
    venv = Path(sys.prefix)
    in_venv = base.resolve() != venv.resolve()
    ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = Path(sysconfig.get_paths(vars={"installed_base": str(base), "base": str(base)})["stdlib"])
    if not _is_within(stdlib, base):
        stdlib = base / "lib" / ver

    entries: list[Path] = []
    # interpreter + links to it
    for name in (ver, f"python{sys.version_info.major}", "python"):
        p = base / "bin" / name
        if p.exists() or p.is_symlink():
            entries.append(p)
    # libpythonX.Y.so* (shared builds)
    entries += sorted(p for p in (base / "lib").glob("libpython*.so*"))

    def skip_stdlib(d: Path, dn: str) -> bool:
        if dn in _STDLIB_SKIP_DIRS and not (dn == "site-packages" and not in_venv):
            return True
        return d == stdlib and dn.startswith(_STDLIB_SKIP_PREFIXES)

    for p in _walk_files(stdlib, skip_stdlib):
        if p.parent.name == "lib-dynload" and p.name.startswith(_DYNLOAD_SKIP_PREFIXES):
            continue
        entries.append(p)

    if in_venv:
        entries.append(venv / "pyvenv.cfg")
        for sub in ("bin", "lib", "lib64"):
            root = venv / sub
            if root.is_symlink():
                entries.append(root)
            elif root.is_dir():
                entries += _walk_files(root, lambda d, dn: dn in _ALWAYS_SKIP_DIRS)
        python = venv / "bin" / "python"
    else:
        python = base / "bin" / ver

    dtsctl_dir = find_dtsctl_package()
    inside = _is_within(dtsctl_dir, venv) or _is_within(dtsctl_dir, base)
    pythonpath = None if inside else str(dtsctl_dir.parent)

    # ---- hash: recipe + stat of copied files + content of dtsctl + system libs state
    h = hashlib.sha256()
    h.update(f"recipe={STANDIN_RECIPE_VERSION}\n".encode())
    h.update(f"python={sys.version}\nbase={base}\nvenv={venv}\npythonpath={pythonpath}\n".encode())
    for p in entries:
        try:
            st = p.lstat()
        except FileNotFoundError:
            continue
        link = os.readlink(p) if p.is_symlink() else ""
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0{link}\n".encode())
    if not inside:
        for p in _walk_files(dtsctl_dir, lambda d, dn: dn in _ALWAYS_SKIP_DIRS or dn.startswith(".")):
            if p.is_file() and not p.name.endswith((".pyc", ".pyo")):
                h.update(str(p).encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    # system shared libs come from Debian packages: any apt change -> rebuild
    for p in (Path("/var/lib/dpkg/status"), Path("/lib64/ld-linux-x86-64.so.2")):
        with contextlib.suppress(OSError):
            st = p.stat()
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())

    return StandinPlan(
        base_prefix=base, venv=venv, python=python, entries=entries,
        dtsctl_dir=None if inside else dtsctl_dir, pythonpath=pythonpath, digest=h.hexdigest(),
    )


def _ldd_paths(files: list[Path]) -> tuple[set[str], list[str]]:
    """Shared libraries (absolute paths) that ldd lists for the files; plus 'not found' notes."""
    libs: set[str] = set()
    missing: list[str] = []
    chunk = 64
    for i in range(0, len(files), chunk):
        group = [str(f) for f in files[i : i + chunk]]
        out = subprocess.run(
            ["ldd", *group], capture_output=True, text=True, check=False
        ).stdout
        current = group[0] if len(group) == 1 else ""
        for line in out.splitlines():
            if not line.startswith(("\t", " ")) and line.endswith(":"):
                current = line[:-1]
                continue
            line = line.strip()
            if "=>" in line:
                name, _, rest = line.partition("=>")
                target = rest.strip().split(" (")[0].strip()
                if target == "not found":
                    missing.append(f"{current}: {name.strip()}")
                elif target.startswith("/"):
                    libs.add(target)
            elif line.startswith("/"):
                libs.add(line.split(" (")[0].strip())
    return libs, missing


def _copy_entry(src: Path, rootfs: Path, done: set[str]) -> None:
    """Copy src to rootfs/<src>, keeping symlinks as symlinks and following their chain."""
    key = str(src)
    if key in done:
        return
    done.add(key)
    dest = rootfs / str(src).lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        target = os.readlink(src)
        if not dest.is_symlink() and not dest.exists():
            os.symlink(target, dest)
        nxt = Path(os.path.normpath(src.parent / target))
        if nxt.exists() and not nxt.is_dir():
            _copy_entry(nxt, rootfs, done)
        return
    if src.is_file() and not dest.exists():
        shutil.copy2(src, dest, follow_symlinks=False)


def assemble_rootfs(plan: StandinPlan, rootfs: Path) -> dict[str, Any]:
    """Fill ``rootfs``; returns a few stats (file count, ldd misses)."""
    done: set[str] = set()
    for p in plan.entries:
        _copy_entry(p, rootfs, done)
    if plan.dtsctl_dir is not None:
        for p in _walk_files(plan.dtsctl_dir, lambda d, dn: dn in _ALWAYS_SKIP_DIRS or dn.startswith(".")):
            _copy_entry(p, rootfs, done)

    # the interpreter and every extension module, as copied
    elf = [Path(os.path.realpath(plan.base_prefix / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"))]
    elf += [p for p in plan.entries if not p.is_symlink() and (p.suffix == ".so" or ".so." in p.name)]
    libs, missing = _ldd_paths(elf)
    libs.add("/lib64/ld-linux-x86-64.so.2")
    for lib in sorted(libs):
        p = Path(lib)
        if p.exists():
            _copy_entry(p, rootfs, done)

    # minimal /etc and /tmp
    etc = rootfs / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (rootfs / "tmp").mkdir(exist_ok=True)
    os.chmod(rootfs / "tmp", 0o1777)
    (rootfs / "root").mkdir(exist_ok=True)
    return {"entries": len(done), "ldd_missing": missing}


def _list_standin_refs(client: Any) -> list[str]:
    refs = []
    for img in client.images.list(name=STANDIN_REPO, filters={"label": LABEL_FILTER}):
        refs += [t for t in img.tags if t.startswith(STANDIN_REPO + ":")]
    return refs


def remove_standin_images(client: Any, keep: str | None = None) -> None:
    """Remove stand-in tags (all, or all but ``keep``); in-use images are left alone."""
    remove_image_tags(client, [r for r in _list_standin_refs(client) if r != keep])


def build_standin_image(client: Any, *, force: bool = False) -> str:
    """Build (or reuse) the stand-in emulator image offline; returns its ref."""
    plan = plan_standin()
    if not force:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.get(plan.ref)
            return plan.ref
    with tempfile.TemporaryDirectory(prefix="dtsctl-standin-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        rootfs.mkdir()
        assemble_rootfs(plan, rootfs)
        tar_path = Path(tmp) / "rootfs.tar"
        subprocess.run(
            ["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tar_path), "."],
            check=True,
        )
        with open(tar_path, "rb") as f:  # file object => fromSrc='-' (never a URL/pull)
            out = client.api.import_image(
                src=f, repository=STANDIN_REPO, tag=plan.tag, changes=plan.changes()
            )
    for line in str(out).splitlines():
        with contextlib.suppress(ValueError):
            msg = json.loads(line)
            if isinstance(msg, dict) and msg.get("error"):
                raise RuntimeError(f"docker import failed: {msg['error']}")
    client.images.get(plan.ref)  # raises if the import did not produce it
    remove_standin_images(client, keep=plan.ref)  # keep only the current one around
    return plan.ref


def make_tiny_image(client: Any, repo: str, tag: str, payload: bytes | None = None) -> str:
    """A one-file labelled image made by ``docker import`` (for fast full pull tests)."""
    import io
    import tarfile

    payload = payload if payload is not None else os.urandom(256 * 1024)  # unique layer
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("payload.bin")
        info.size = len(payload)
        info.mtime = int(time.time())
        tf.addfile(info, io.BytesIO(payload))
    buf.seek(0)
    client.api.import_image(src=buf, repository=repo, tag=tag, changes=[f'LABEL {TEST_LABEL}="1"'])
    ref = f"{repo}:{tag}"
    client.images.get(ref)
    return ref


# --------------------------------------------------------------------------- local registry


def pull_local(client: Any, repo: str, tag: str) -> list[dict[str, Any]]:
    """``api.pull`` with progress events, ONLY from 127.0.0.1:PORT; raises on error events."""
    if not is_local_registry_ref(repo):
        raise ValueError(f"refusing to pull {repo!r}: only {LOCAL_REGISTRY_IP}:PORT/... allowed")
    events = list(client.api.pull(repo, tag, stream=True, decode=True))
    errors = [e for e in events if isinstance(e, dict) and e.get("error")]
    if errors:
        raise RuntimeError(f"pull {repo}:{tag} failed: {errors[-1]['error']}")
    return events


def engine_trusts_plain_http(client: Any, host: str) -> bool:
    """True if the engine talks plain HTTP to ``host`` (insecure registry CIDR / index)."""
    cfg = client.info().get("RegistryConfig") or {}
    index = (cfg.get("IndexConfigs") or {}).get(host)
    if index is not None and index.get("Secure") is False:
        return True
    ip = ipaddress.ip_address(host.rsplit(":", 1)[0])
    return any(ip in ipaddress.ip_network(c, strict=False) for c in cfg.get("InsecureRegistryCIDRs") or [])


@dataclass
class LocalRegistry:
    """A ``docker-registry serve`` process on 127.0.0.1:<port> with its own storage dir."""

    client: Any
    port: int
    workdir: Path
    proc: subprocess.Popen | None = None
    pushed: set[str] = field(default_factory=set)

    @property
    def host(self) -> str:
        return f"{LOCAL_REGISTRY_IP}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    def ref(self, repo: str, tag: str) -> str:
        return f"{self.host}/{repo}:{tag}"

    def start(self, timeout: float = 20.0) -> None:
        binary = shutil.which(REGISTRY_BINARY) or f"/usr/bin/{REGISTRY_BINARY}"
        storage = self.workdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {storage}\n"
            "  delete:\n    enabled: true\n"
            "http:\n"
            f"  addr: {self.host}\n"
            "  secret: dtsctl-test-not-secret\n"
        )
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [binary, "serve", str(config)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()

        def _ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.proc.returncode}: {self.log_tail()}")
            return http_status(f"{self.url}/v2/", timeout=1.0) == 200

        try:
            wait_until(_ready, timeout=timeout, desc=f"registry GET {self.url}/v2/")
        except BaseException:
            self.stop()
            raise

    def log_tail(self, n: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # by pid (Popen), never by name
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def push(self, image: Any, repo: str = "dts/dts-emulator", tag: str = "test") -> str:
        """Tag ``image`` (ref/id/Image) as HOST/repo:tag and push it; returns that ref."""
        image_id = getattr(image, "id", image)
        target = f"{self.host}/{repo}"
        self.client.api.tag(image_id, target, tag)
        ref = f"{target}:{tag}"
        self.pushed.add(ref)
        events = list(self.client.api.push(target, tag, stream=True, decode=True))
        errors = [e for e in events if isinstance(e, dict) and e.get("error")]
        if errors:
            raise RuntimeError(f"push {ref} failed: {errors[-1]['error']}")
        return ref

    def pull(self, repo: str, tag: str) -> list[dict[str, Any]]:
        """Pull HOST/repo:tag back with progress events."""
        ref = self.ref(repo, tag)
        self.pushed.add(ref)
        return pull_local(self.client, f"{self.host}/{repo}", tag)

    def catalog(self) -> list[str]:
        status, body = http_get(f"{self.url}/v2/_catalog")
        assert status == 200, (status, body)
        return json.loads(body).get("repositories", [])

    def tags(self, repo: str) -> list[str]:
        status, body = http_get(f"{self.url}/v2/{repo}/tags/list")
        if status == 404:
            return []
        return json.loads(body).get("tags") or []

    def remove_local_tags(self) -> None:
        """Untag every local image reference under this registry's host."""
        refs = set(self.pushed)
        for img in self.client.images.list():
            refs.update(t for t in img.tags if t.startswith(self.host + "/"))
        remove_image_tags(self.client, sorted(refs))
        self.pushed.clear()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """Session DockerClient that answers ping(); no engine: fail on CI, skip elsewhere."""
    client = require_engine()
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            remove_containers(client, labelled=True)
        client.close()


@pytest.fixture(scope="session")
def standin_image(docker_client: Any) -> str:
    """Ref ``dtsctl-test/dts-emulator:<hash>`` of the offline stand-in emulator image.

    Kept between sessions (one tag; older hashes are removed when a new one is built).
    """
    try:
        return build_standin_image(docker_client)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"building the stand-in emulator image failed: {type(exc).__name__}: {exc}")


@pytest.fixture(scope="session")
def local_registry(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A docker-registry on 127.0.0.1:<free port>, stopped (by pid) after the session."""
    if shutil.which(REGISTRY_BINARY) is None and not os.path.exists(f"/usr/bin/{REGISTRY_BINARY}"):
        fail_or_skip(f"no {REGISTRY_BINARY} binary (Debian package docker-registry; see .ci/docker-setup.sh)")
    reg = LocalRegistry(docker_client, free_port(), tmp_path_factory.mktemp("registry"))
    if not engine_trusts_plain_http(docker_client, reg.host):
        fail_or_skip(f"the Docker Engine does not trust {reg.host} without TLS")
    reg.start()
    try:
        yield reg
    finally:
        try:
            reg.remove_local_tags()
        finally:
            reg.stop()
            shutil.rmtree(reg.workdir / "storage", ignore_errors=True)  # pushed blobs


@pytest.fixture
def docker_cleanup(docker_client: Any) -> Iterator[DockerCleanup]:
    """Register container names/images; all of them plus every ``dtsctl.test=1``
    container are force-removed after the test (pass or fail)."""
    kit = DockerCleanup(docker_client)
    try:
        yield kit
    finally:
        kit.cleanup()
