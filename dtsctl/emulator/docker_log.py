"""What `--debug` says about the Docker Engine: each Docker API request's method, path, status and
duration, from a `response` hook on the docker SDK's session (docker.api.client.APIClient is a
requests.Session), rather than patching the SDK. Attached only when the `dtsctl.docker` logger is
at DEBUG: without --debug nothing is hooked. Stdlib only.

Headers are not logged: the one that matters, X-Registry-Auth, carries registry credentials.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("dtsctl.docker")


def attach(client: Any) -> None:
    """Log every later request of `client` (a docker.DockerClient or APIClient) when --debug is on.
    (The SDK's own first /version request, made while the client is built, comes before the hook.)"""
    if not log.isEnabledFor(logging.DEBUG):
        return
    api = getattr(client, "api", client)
    hooks = getattr(api, "hooks", None)
    if not isinstance(hooks, dict):
        return
    response_hooks = hooks.setdefault("response", [])
    if _logged not in response_hooks:
        response_hooks.append(_logged)
        log.debug("docker API at %s (API version %s)", getattr(api, "base_url", "?"), getattr(api, "api_version", "?"))


def _logged(response: Any, *args: Any, **kwargs: Any) -> None:
    """requests' response hook: one line per answer (its headers, for a streamed one)."""
    try:
        request = response.request
        seconds = response.elapsed.total_seconds()
        took = f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"
        streamed = " (headers; the body is streamed)" if kwargs.get("stream") else ""
        log.debug("docker %s %s -> %s in %s%s", request.method, request.path_url, response.status_code, took, streamed)
    except Exception:  # noqa: BLE001 - a log line must never break a Docker call
        pass
