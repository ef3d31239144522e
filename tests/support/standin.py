"""The offline stand-in emulator image: this interpreter, its venv and the dtsctl source copied
into a rootfs and imported with ``docker import`` (nothing is pulled); its CMD runs dtsctl's local
server on :data:`GRPC_PORT`. Built once per content hash and kept between sessions.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:  # the docker SDK is a project dependency, but keep the module importable without it
    import docker
    import docker.errors
except ImportError:  # pragma: no cover
    docker = None  # type: ignore[assignment]

from support.docker import LABEL_FILTER, TEST_LABEL, remove_image_tags

STANDIN_REPO = "dtsctl-test/dts-emulator"
STANDIN_RECIPE_VERSION = "1"  # bump when the rootfs/import recipe changes
SERVER_MODULE = "dtsctl.emulator.local.server"
GRPC_PORT, HEALTH_PORT, EXTRA_PORT = 8080, 8081, 8082



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
    here = Path(__file__).resolve().parents[2] / "dtsctl"  # tests/support/ -> the checkout
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
