"""A tiny Docker Engine API on 127.0.0.1 (plain HTTP, as `DOCKER_HOST=tcp://...`), for tests of how
dtsctl talks to Docker without a Docker Engine: `/_ping`, `/version`, `/containers/json` and
`/containers/{id}/json` (one running emulator container) answered in the Engine API's shapes (v1.47), with or without the version
prefix; anything else is a 404 with Docker's `{"message": ...}` body. Every request is recorded."""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_VERSION = "1.47"
CONTAINER_ID = "4f3c2a1b" * 8
CONTAINER_NAME = "dtsctl-fake"

VERSION = {
    "Platform": {"Name": "Docker Engine - Community"}, "Version": "27.3.1", "ApiVersion": API_VERSION,
    "MinAPIVersion": "1.24", "GitCommit": "41ca978", "GoVersion": "go1.22.7", "Os": "linux", "Arch": "amd64",
    "KernelVersion": "6.8.0", "BuildTime": "2024-09-20T11:41:00.000000000+00:00",
}
SUMMARY = {
    "Id": CONTAINER_ID, "Names": [f"/{CONTAINER_NAME}"], "Image": "mcr.microsoft.com/dts/dts-emulator:latest",
    "ImageID": "sha256:" + "ab" * 32, "Command": "/app/DurableTask.Emulator", "Created": 1733000000,
    "Ports": [{"IP": "127.0.0.1", "PrivatePort": 8080, "PublicPort": 8080, "Type": "tcp"}],
    "Labels": {}, "State": "running", "Status": "Up 5 minutes", "HostConfig": {"NetworkMode": "bridge"},
    "NetworkSettings": {"Networks": {}}, "Mounts": [],
}


def inspect(grpc_port: int) -> dict[str, Any]:
    """The container's inspect answer, its gRPC port published on 127.0.0.1:`grpc_port`."""
    binding = [{"HostIp": "127.0.0.1", "HostPort": str(grpc_port)}]
    return {
        "Id": CONTAINER_ID, "Name": f"/{CONTAINER_NAME}", "Created": "2024-12-01T00:00:00.000000000Z",
        "State": {"Status": "running", "Running": True, "Paused": False, "Restarting": False, "OOMKilled": False,
                  "Dead": False, "Pid": 4242, "ExitCode": 0, "Error": "", "StartedAt": "2024-12-01T00:00:01.000000000Z",
                  "FinishedAt": "0001-01-01T00:00:00Z"},
        "Image": "sha256:" + "ab" * 32,
        "Config": {"Image": "mcr.microsoft.com/dts/dts-emulator:latest", "Env": ["DTS_TASK_HUB_NAMES=default"],
                   "Labels": {}, "ExposedPorts": {"8080/tcp": {}}},
        "HostConfig": {"PortBindings": {"8080/tcp": binding}},
        "NetworkSettings": {"Ports": {"8080/tcp": binding}},
    }


@dataclass
class FakeDockerApi:
    url: str  # tcp://127.0.0.1:<port>, for DOCKER_HOST or docker.DockerClient(base_url=...)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path with query)


@contextlib.contextmanager
def fake_docker_api(grpc_port: int = 8080) -> Iterator[FakeDockerApi]:
    """The fake Engine API, serving until the block ends; its one container publishes the emulator's
    gRPC port on 127.0.0.1:`grpc_port`."""
    api: FakeDockerApi

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Api-Version", API_VERSION)
            self.send_header("Server", f"Docker/{VERSION['Version']} (linux)")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            api.requests.append(("GET", self.path))
            path = re.sub(r"^/v\d+\.\d+", "", self.path.split("?", 1)[0])
            if path == "/_ping":
                self._send(200, b"OK", "text/plain; charset=utf-8")
            elif path == "/version":
                self._send(200, VERSION)
            elif path == "/containers/json":
                self._send(200, [SUMMARY])
            elif path in (f"/containers/{CONTAINER_ID}/json", f"/containers/{CONTAINER_NAME}/json"):
                self._send(200, inspect(grpc_port))
            elif path.startswith("/containers/") and path.endswith("/json"):
                self._send(404, {"message": f"No such container: {path.split('/')[2]}"})
            else:
                self._send(404, {"message": "page not found"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api = FakeDockerApi(url=f"tcp://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, name="fake-docker-api", daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
