"""Test-only (see tests/support/hubstore_shim.py): in a child process of the tests (an engine that
dtsctl starts), patch HubRegistry to accept `store=` as soon as its module is imported."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

_TARGET = "dtsctl.emulator.local.hubs"


def patch(module) -> None:
    """Make module.HubRegistry accept (and drop) `store=`; a no-op once it takes it."""
    import functools
    import inspect

    cls = module.HubRegistry
    if "store" in inspect.signature(cls.__init__).parameters:
        return
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self, *args, store=None, **kwargs):  # noqa: N807
        original(self, *args, **kwargs)

    __init__.__signature__ = inspect.signature(original)  # type: ignore[attr-defined]  # still "needed"
    cls.__init__ = __init__


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader)
        return spec


sys.meta_path.insert(0, _Finder())
