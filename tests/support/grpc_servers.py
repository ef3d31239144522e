"""Real grpc servers on loopback in this process, answering every unary method with one handler
(request and answer stay bytes), for the tests of dtsctl's client side (deadlines, retries, --debug)."""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc


def serving(handler: Any) -> tuple[grpc.Server, int]:
    """A started grpc server on 127.0.0.1 answering every unary method with
    `handler(request: bytes, context) -> bytes`; (server, port). Stop it with `server.stop(0)`."""

    class Generic(grpc.GenericRpcHandler):
        def service(self, details):
            return grpc.unary_unary_rpc_method_handler(handler)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((Generic(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port
