"""The PostgreSQL proxy of bench.faults, in a process of its own.

    python -m bench._faults_proxy UPSTREAM_HOST UPSTREAM_PORT

Relays a free loopback port to the upstream server (tests/e2e/tcp_proxy.py's FaultyProxy) and
prints `port N` once it listens. Then it reads commands on stdin, one a line: `cut`, `hang`,
`heal`, `quit`, and answers each with `ok <mode>`. It runs apart from the benchmark's clients
so that their event loop never slows the hubs' PostgreSQL traffic. It stops when stdin closes
(its parent died)."""

from __future__ import annotations

import asyncio
import sys

from tests.e2e.tcp_proxy import FaultyProxy


async def serve(host: str, port: int) -> None:
    proxy = FaultyProxy(host, port)
    await proxy.start()
    print(f"port {proxy.port}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := (await reader.readline()).decode().strip():
            if line == "quit":
                break
            action = {"cut": proxy.cut, "hang": proxy.hang, "heal": proxy.heal}.get(line)
            if action is None:
                print(f"error unknown command {line!r}", flush=True)
                continue
            action()
            print(f"ok {proxy.mode}", flush=True)
    finally:
        await proxy.close()


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    asyncio.run(serve(host, port))


if __name__ == "__main__":
    main()
