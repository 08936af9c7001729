"""A TCP proxy on loopback that a test can cut or hang, to play a PostgreSQL (or any server)
that goes down or stops answering, without touching the real server other tests share."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from tests.conftest import free_port


@dataclass
class FaultyProxy:
    """Relays 127.0.0.1:`port` to `upstream_host`:`upstream_port`.

    `cut()`: every open connection is closed and new ones are closed at once (a server that
    is down). `hang()`: connections stay open but nothing goes through, in either direction,
    and new ones are accepted and never answered (a server that stopped). `heal()`: back to
    relaying; connections that were cut stay closed, hung ones go on."""

    upstream_host: str
    upstream_port: int
    port: int = field(default_factory=free_port)
    mode: str = "pass"
    _server: asyncio.Server | None = None
    _pipes: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _flowing: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def close(self) -> None:
        self.mode = "pass"
        self._flowing.set()
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        for w in list(self._writers):
            w.close()

    def cut(self) -> None:
        self.mode = "cut"
        self._flowing.set()
        for w in list(self._writers):
            w.close()

    def hang(self) -> None:
        self.mode = "hang"
        self._flowing.clear()

    def heal(self) -> None:
        self.mode = "pass"
        self._flowing.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            writer.close()
            return
        self._writers.add(writer)
        try:
            await self._flowing.wait()
            if self.mode == "cut":
                return
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        a = asyncio.create_task(self._pipe(reader, up_writer))
        b = asyncio.create_task(self._pipe(up_reader, writer))
        self._pipes |= {a, b}
        await asyncio.wait({a, b}, return_when=asyncio.FIRST_COMPLETED)
        for task in (a, b):
            task.cancel()
        for w in (writer, up_writer):
            w.close()
            self._writers.discard(w)
        self._pipes -= {a, b}

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                data = await src.read(65536)
                if not data:
                    return
                await self._flowing.wait()
                if self.mode == "cut":
                    return
                dst.write(data)
                await dst.drain()
