"""A TCP proxy on loopback that adds a fixed one-way delay to every chunk, to stand in for a network.

    python bench/latency_proxy.py --target HOST:PORT [--port 0] [--one-way-ms 1.0]

Prints `listening PORT` on stdout once it accepts connections, then runs until SIGTERM or SIGINT.

Each chunk read from one side is written to the other `--one-way-ms` after it was read (so a
request and its answer cost twice that: the round-trip time). Every direction of every connection
has its own queue, kept in arrival order, and each chunk waits only for its own deadline, never
for the chunks before it: concurrent calls multiplexed on one gRPC (HTTP/2) connection travel in
parallel, as they would on a real link (latency, not a bandwidth limit). asyncio's timers have a
granularity of about a millisecond, so the delay actually added is the one asked for plus up to
~1 ms; bench/instances.py measures and prints the real round-trip time.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import signal
import socket
import sys

CHUNK = 256 * 1024


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy reader -> writer, each chunk `delay` seconds after it arrived, in order."""
    loop = asyncio.get_running_loop()
    queue: collections.deque[tuple[float, bytes]] = collections.deque()
    ready = asyncio.Event()

    async def send() -> None:
        while True:
            while not queue:
                ready.clear()
                await ready.wait()
            due, data = queue[0]
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            queue.popleft()
            if not data:  # end of stream
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            if writer.transport.get_write_buffer_size() > 4 * CHUNK:
                await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while True:
            try:
                data = await reader.read(CHUNK)
            except (ConnectionError, OSError):
                data = b""
            queue.append((loop.time() + delay, data))
            ready.set()
            if not data:
                break
        await sender
    except (ConnectionError, OSError):
        pass
    finally:
        sender.cancel()


async def _handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                  host: str, port: int, delay: float) -> None:
    try:
        server_r, server_w = await asyncio.open_connection(host, port)
    except OSError:
        client_w.close()
        return
    for w in (client_w, server_w):
        sock = w.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        await asyncio.gather(_forward(client_r, server_w, delay), _forward(server_r, client_w, delay))
    except asyncio.CancelledError:
        pass  # shutting down: end quietly (a cancelled connection task is logged as an error otherwise)
    finally:
        for w in (client_w, server_w):
            w.close()


async def serve(target: str, port: int, one_way_ms: float, bind: str = "127.0.0.1") -> None:
    host, _, tport = target.rpartition(":")
    delay = one_way_ms / 1000.0
    server = await asyncio.start_server(lambda r, w: _handle(r, w, host or "127.0.0.1", int(tport), delay),
                                        bind, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: ephemeral)")
    parser.add_argument("--one-way-ms", type=float, default=1.0, help="delay added in each direction (default 1)")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.target, args.port, args.one_way_ms))
    except KeyboardInterrupt:
        pass
    sys.stdout.flush()


if __name__ == "__main__":
    main()
